import { isDeepStrictEqual } from 'node:util';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import type { MailboxOutcome } from '../core/outcome.js';
import {
  genesisHash,
  journalFileName,
  journalLines,
  journalTail,
  sha256,
  type JournalEntry,
  type JournalLine,
} from './journal.js';
import { csvHeader, csvRow } from './report-writer.js';

/** What `audit verify` found: intact, or the first place the record was changed. */
export interface AuditResult {
  intact: boolean;
  problem?: string;
  entries: number;
  lastHash: string;
  rows: number;
}

export interface ChainWalk {
  /** The first line that was changed, removed, reordered or added; null when the chain holds. */
  problem: string | null;
  entries: number;
  lastHash: string;
  /** A last line without its newline (a run killed while writing it). */
  torn: boolean;
}

/**
 * Streams the journal, recomputing its hash chain: each entry's `seq` says which line it belongs
 * on, its `prev` the SHA-256 of the line before. `onEntry` sees every line up to the first problem.
 */
export async function walkChain(
  dir: string,
  onEntry?: (line: JournalLine) => void | Promise<void>,
): Promise<ChainWalk> {
  const { torn } = await journalTail(path.join(dir, journalFileName));
  const lines = journalLines(dir)[Symbol.asyncIterator]();
  const seen = new Set<number>();
  let previous = genesisHash;
  let entries = 0;
  const result = (problem: string | null): ChainWalk => ({
    problem: problem && `${journalFileName}: ${problem}`,
    entries,
    lastHash: previous,
    torn,
  });
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const line = next.value;
    const expected = line.number;
    if (!line.entry) return result(`line ${line.number}: not a journal entry any more: the line was changed`);
    const seq = line.entry.seq;
    if (seq > expected) {
      for (let later = await lines.next(); !later.done; later = await lines.next()) {
        if (later.value.entry?.seq === expected)
          return result(
            `line ${line.number}: holds entry ${seq}, but entry ${expected} belongs here (it is now on line ` +
              `${later.value.number}): lines were reordered`,
          );
      }
      return result(
        `line ${line.number}: holds entry ${seq}, but entry ${expected} belongs here and is missing: a line ` +
          `was removed before line ${line.number}`,
      );
    }
    if (seq < expected) {
      return result(
        seen.has(seq)
          ? `line ${line.number}: holds entry ${seq} a second time: a line was added`
          : `line ${line.number}: holds entry ${seq}, which belongs on line ${seq}: lines were reordered or a ` +
              `line was added`,
      );
    }
    if (line.entry.prev !== previous) {
      return result(
        line.number === 1
          ? 'line 1: does not start the chain (its prev is not the genesis hash): the line was changed'
          : `line ${line.number - 1}: was changed: line ${line.number} records SHA-256 ${line.entry.prev} for ` +
              `it, it now hashes to ${previous}`,
      );
    }
    seen.add(seq);
    previous = sha256(line.text);
    entries = line.number;
    await onEntry?.(line);
  }
  return result(null);
}

type DoneEntry = Extract<JournalEntry, { type: 'done' }>;

/**
 * `sinkrule audit verify DIR`: the chain; its end against report.json (and against a hash kept
 * outside the folder, if given); then every row of report.json and report.csv against the
 * journal's mailbox entries, in order, and the counts. Streams every file.
 */
export async function auditReportFolder(dir: string, expectedHash?: string): Promise<AuditResult> {
  const jsonFile = path.join(dir, 'report.json');
  const report = existsSync(jsonFile) ? await openReportJson(jsonFile) : undefined;
  const csv = report ? csvRecords(path.join(dir, 'report.csv')) : undefined;
  const counts: Record<string, number> = {};
  let rows = 0;
  let rowProblem: string | undefined;
  const walk = await walkChain(dir, async (line) => {
    if (line.entry?.type !== 'done' || !report || !csv) return;
    const row = (line.entry as DoneEntry).row;
    rows++;
    counts[row.outcome] = (counts[row.outcome] ?? 0) + 1;
    if (rowProblem) return;
    rowProblem =
      jsonRowProblem(await report.rows.next(), row, rows, line.number) ?? (await csvRowProblem(csv, row, line.number));
  });
  const result = (problem?: string): AuditResult => ({
    intact: !problem,
    problem,
    entries: walk.entries,
    lastHash: walk.lastHash,
    rows,
  });
  if (walk.problem) return result(walk.problem);
  if (walk.torn)
    return result(
      `${journalFileName}: line ${walk.entries + 1}: incomplete (the run was killed while writing it, or ` +
        `text was added without a line end)`,
    );
  if (expectedHash && expectedHash.toLowerCase() !== walk.lastHash) {
    return result(
      `${journalFileName}: the last entry (line ${walk.entries}) hashes to ${walk.lastHash}, not the ` +
        `expected ${expectedHash}: lines were changed, added or removed at the end, or the whole chain was ` +
        `rewritten`,
    );
  }
  if (!report) return result(); // an interrupted run: the journal is the whole record
  const recorded = report.run.journal;
  if (!recorded) return result('report.json: run.journal is missing');
  if (walk.entries > recorded.entries)
    return result(
      `${journalFileName}: line ${recorded.entries + 1}: added after the run ended (report.json records ` +
        `${recorded.entries} entries ending in ${recorded.lastHash})`,
    );
  if (walk.entries < recorded.entries)
    return result(
      `${journalFileName}: line ${walk.entries + 1}: removed (report.json records ${recorded.entries} ` +
        `entries ending in ${recorded.lastHash})`,
    );
  if (recorded.lastHash !== walk.lastHash)
    return result(
      `${journalFileName}: line ${walk.entries}: was changed (report.json records its SHA-256 as ` +
        `${recorded.lastHash}, it now hashes to ${walk.lastHash})`,
    );
  if (rowProblem) return result(rowProblem);
  const extraJson = await report.rows.next();
  if (!extraJson.done)
    return result(
      `report.json: mailbox ${rows + 1} (${extraJson.value.email}) was added: the journal has no entry for it`,
    );
  const extraCsv = await csv!.next();
  if (!extraCsv.done) return result(`report.csv:${extraCsv.value.line}: row added: the journal has no entry for it`);
  if (!isDeepStrictEqual(sortCounts(counts), sortCounts(report.run.counts)))
    return result(
      `report.json: run.counts ${JSON.stringify(report.run.counts)} differ from the journal's ` +
        `${JSON.stringify(counts)}`,
    );
  return result();
}

function jsonRowProblem(
  next: IteratorResult<MailboxOutcome>,
  row: MailboxOutcome,
  index: number,
  journalLine: number,
): string | undefined {
  if (next.done) return `report.json: mailbox ${index} (${row.email}, journal line ${journalLine}) was removed`;
  if (isDeepStrictEqual(next.value, row)) return undefined;
  const field = Object.keys({ ...next.value, ...row }).find(
    (key) => !isDeepStrictEqual((next.value as never)[key], (row as never)[key]),
  );
  return `report.json: mailbox ${index} (${next.value.email}) differs from journal line ${journalLine} (${field})`;
}

async function csvRowProblem(
  csv: AsyncIterator<{ record: string[]; line: number }>,
  row: MailboxOutcome,
  journalLine: number,
): Promise<string | undefined> {
  const next = await csv.next();
  if (next.done) return `report.csv: the row of ${row.email} (journal line ${journalLine}) was removed`;
  const values = Object.values(csvRow(row)).map(String);
  if (isDeepStrictEqual(next.value.record, values)) return undefined;
  const column = csvHeader[values.findIndex((value, i) => value !== next.value.record[i])] ?? 'the number of columns';
  return `report.csv:${next.value.line}: differs from journal line ${journalLine} (${row.email}, ${column})`;
}

/** report.csv's data records with the line each ends on; a changed header is a record that differs. */
async function* csvRecords(file: string): AsyncGenerator<{ record: string[]; line: number }> {
  if (!existsSync(file)) return;
  const parser = createReadStream(file).pipe(
    parse({ bom: true, info: true, relax_column_count: true, relax_quotes: true }),
  );
  let header = true;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    if (header) {
      header = false;
      if (!isDeepStrictEqual(record, [...csvHeader])) yield { record, line: info.lines };
      continue;
    }
    yield { record, line: info.lines };
  }
}

interface ReportJson {
  run: { journal?: { entries: number; lastHash: string }; counts: Record<string, number> };
  rows: AsyncIterator<MailboxOutcome>;
}

/**
 * report.json as sinkrule writes it: the run section, then one mailbox per line, streamed. A file
 * in another layout (re-indented by an editor) is parsed whole when small enough.
 */
async function openReportJson(file: string): Promise<ReportJson> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity })[Symbol.asyncIterator]();
  const head: string[] = [];
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    if (next.value === '"mailboxes": [') {
      const run = JSON.parse(`${head.join('\n')}\n"mailboxes": []}`).run as ReportJson['run'];
      return { run, rows: streamedRows(lines) };
    }
    head.push(next.value);
  }
  if ((await stat(file)).size > 64 * 1024 * 1024)
    throw new Error(`${file}: not in the layout sinkrule writes (one mailbox per line)`);
  const whole = JSON.parse(await readFile(file, 'utf8')) as { run: ReportJson['run']; mailboxes: MailboxOutcome[] };
  return { run: whole.run, rows: whole.mailboxes[Symbol.iterator]() as unknown as AsyncIterator<MailboxOutcome> };
}

async function* streamedRows(lines: AsyncIterator<string>): AsyncGenerator<MailboxOutcome> {
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    if (next.value === ']') return;
    if (next.value) yield JSON.parse(next.value.replace(/,$/, '')) as MailboxOutcome;
  }
}

const sortCounts = (record: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(record)
      .filter(([, n]) => n)
      .sort(([a], [b]) => a.localeCompare(b)),
  );
