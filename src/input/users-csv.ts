import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { parse, type CsvError } from 'csv-parse';
import { InputError } from '../core/errors.js';
import { addressProblem } from './address.js';
import { checkInputPath } from './files.js';
import { recordBatches } from './record-batches.js';
import { targets, type Mailbox, type Target } from '../core/mailbox.js';

export interface UsersFileOptions {
  /** Config `sink`, used where a row has no `sink` of its own (optional when every row has one). */
  sink: string | undefined;
  /** The config file `sink` comes from: a row without a sink names it as well as its own line. */
  configFile?: string;
  defaultTarget: Target;
  /** Targets this build can serve; others are reported as input errors. */
  supportedTargets: readonly Target[];
  /** What the row's back end says is wrong with it (e.g. a missing instruction template). */
  checkRow?: (mailbox: Mailbox) => string | undefined;
}

export interface UsersFileSummary {
  file: string;
  sha256: string;
  rows: number;
  byTarget: Partial<Record<Target, number>>;
  /** Every distinct sink the rows send to. */
  sinks: string[];
}

const columns = [
  'email',
  'displayName',
  'target',
  'sink',
  'server',
  'instructions',
  'confirmed',
  'dynamicsMailboxId',
] as const;
type Column = (typeof columns)[number];
const maxProblemsShown = 200;

/**
 * Reads the whole users file and returns its summary, or throws one InputError listing every
 * problem as `file:line: what is wrong: how to fix it`. Runs before any mailbox is touched.
 * Memory grows only with the set of addresses (needed to find duplicates).
 */
export async function validateUsersFile(file: string, options: UsersFileOptions): Promise<UsersFileSummary> {
  checkInputPath(file, { namedBy: '--users', what: 'the users CSV (header line email,displayName,target,sink)' });
  const problems: Array<{ line: number; text: string }> = [];
  const firstLineOf = new Map<string, number>();
  const sinks = new Map<string, string>();
  const byTarget: Partial<Record<Target, number>> = {};
  let rows = 0;
  const routeProblems = new Set<string>();
  for await (const batch of parseUsersFile(file, options, checkBatch))
    for (const row of batch) {
      if ('routeProblems' in row) {
        for (const problem of row.routeProblems) routeProblems.add(problem);
        continue;
      }
      if ('problem' in row) {
        problems.push({ line: row.line, text: row.problem });
        continue;
      }
      const { mailbox } = row;
      const key = mailbox.email.toLowerCase();
      const seen = firstLineOf.get(key);
      if (seen !== undefined) {
        problems.push({
          line: mailbox.line,
          text: `${mailbox.email} is listed twice (first on line ${seen}): keep one row per mailbox`,
        });
        continue;
      }
      firstLineOf.set(key, mailbox.line);
      sinks.set(mailbox.sink.toLowerCase(), mailbox.sink);
      byTarget[mailbox.target] = (byTarget[mailbox.target] ?? 0) + 1;
      rows++;
    }
  for (const sink of sinks.keys()) {
    const line = firstLineOf.get(sink);
    if (line !== undefined)
      problems.push({
        line,
        text:
          `${sinks.get(sink)} is the forward mailbox (sink) itself: remove this row; the sink must not forward ` +
          `to itself`,
      });
  }
  if (rows === 0 && problems.length === 0 && routeProblems.size === 0)
    problems.push({
      line: 1,
      text: 'no users: add one row per mailbox under the header line (email,displayName,target,sink)',
    });
  if (problems.length > 0 || routeProblems.size > 0)
    throw new InputError([...routeProblems, ...(problems.length > 0 ? formatProblems(file, problems) : [])]);
  return { file, sha256: await hashFile(file), rows, byTarget, sinks: [...sinks.values()] };
}

/** The validated rows, streamed with back-pressure. Run validateUsersFile first. */
export async function* readMailboxes(file: string, options: UsersFileOptions): AsyncGenerator<Mailbox> {
  for await (const batch of parseUsersFile(file, options, runBatch))
    for (const row of batch) {
      if ('routeProblems' in row) throw new InputError(row.routeProblems);
      if ('problem' in row)
        throw new InputError([`${file}:${row.line}: ${row.problem} (the file changed after it was validated)`]);
      yield row.mailbox;
    }
}

type ParsedRow =
  | { line: number; mailbox: Mailbox }
  | { line: number; problem: string }
  | { line: number; routeProblems: readonly string[] };

/**
 * Rows per batch. The check before the run takes each read's rows at once (nothing else is
 * waiting). During the run, rows become mailboxes one at a time, as the workers ask for them, as
 * they always did. Reading them 32 at a time from 8 KB reads was tried: in an interleaved A/B
 * (10,000-mailbox deploys at 500 req/s against a 10 % bucket, 3 pairs) it measured 0.82–0.84
 * against 0.85–0.87, within one cell's noise but not better, so the run kept its old way.
 */
const checkBatch = Number.POSITIVE_INFINITY;
const runBatch = 1;

/** The users file's rows, a parser's buffer at a time (see recordBatches). */
async function* parseUsersFile(file: string, options: UsersFileOptions, maxRows: number): AsyncGenerator<ParsedRow[]> {
  const delimiter = await sniffDelimiter(file);
  const skipped: ParsedRow[] = [];
  const input = createReadStream(file);
  const parser = parse({
    bom: true,
    delimiter,
    info: true,
    trim: true,
    skip_empty_lines: true,
    skip_records_with_empty_values: true,
    skip_records_with_error: true,
    on_skip: (error: CsvError | undefined) => {
      if (error)
        skipped.push({
          line: lineOfCsvError(error),
          problem: `${error.message.replace(/ on line \d+/, '')}: check quotes and the number of columns`,
        });
      return undefined;
    },
  });
  // A read error ends the parse with it; a parse that stops early (a bad header, a reader that
  // stops) closes the file.
  input.on('error', (error: NodeJS.ErrnoException) =>
    parser.destroy(
      new InputError([`${file}: cannot read the users file (${error.code}): check the file and its disk`], {
        cause: error,
      }),
    ),
  );
  parser.on('close', () => input.destroy());
  input.pipe(parser);
  let header: Array<Column | undefined> | undefined;
  for await (const records of recordBatches<{ record: string[]; info: { lines: number } }>(parser, maxRows)) {
    const rows: ParsedRow[] = skipped.splice(0);
    for (const { record, info } of records) {
      if (header) {
        rows.push(toMailbox(record, header, info.lines, options));
        continue;
      }
      const result = readHeader(record);
      if ('problem' in result) {
        yield [...rows, { line: info.lines, problem: result.problem }];
        return; // recordBatches stops the parser
      }
      header = result.header;
    }
    yield rows;
  }
  if (skipped.length > 0) yield skipped.splice(0);
}

function readHeader(record: string[]): { header: Array<Column | undefined> } | { problem: string } {
  const lower = new Map(columns.map((column) => [column.toLowerCase(), column]));
  const header = record.map((name) => lower.get(name.trim().toLowerCase()));
  const unknown = record.filter((_, i) => header[i] === undefined);
  if (unknown.length > 0)
    return {
      problem:
        `unknown column${unknown.length > 1 ? 's' : ''} ${unknown.map((u) => `"${u}"`).join(', ')} in the ` +
        `header: use ${columns.join(', ')}`,
    };
  if (!header.includes('email'))
    return {
      problem:
        `the header has no "email" column: the first line must name the columns, e.g. ` +
        `email,displayName,target,sink`,
    };
  return { header };
}

function toMailbox(
  record: string[],
  header: Array<Column | undefined>,
  line: number,
  options: UsersFileOptions,
): ParsedRow {
  const row: Partial<Record<Column, string>> = {};
  header.forEach((column, i) => {
    if (column && record[i]) row[column] = record[i];
  });
  const problems: string[] = [];
  if (!row.email) problems.push('email is empty: every row needs the mailbox address');
  else if (addressProblem(row.email))
    problems.push(`"${row.email}" is not a valid email address (${addressProblem(row.email)}): fix the email column`);
  if (row.sink && addressProblem(row.sink))
    problems.push(
      `sink "${row.sink}" is not a valid email address (${addressProblem(row.sink)}): fix it or leave it ` +
        `empty to use the config's sink`,
    );
  if (!row.sink && !options.sink) {
    const config = options.configFile ?? 'the config';
    problems.push(
      `sink is empty and ${config} has no "sink" key: fill in this row's sink column, or add ` +
        `"sink": "<forward mailbox address>" to ${config} (or pass --sink, or set SINKRULE_SINK)`,
    );
  }
  const target = (row.target?.toLowerCase() ?? options.defaultTarget) as Target;
  if (!targets.includes(target))
    problems.push(
      `target "${row.target}" is not one of ${targets.join(', ')}: fix it or leave it empty for the default ` +
        `(${options.defaultTarget})`,
    );
  else if (!options.supportedTargets.includes(target))
    problems.push(`target "${target}" has no back end configured: use ${options.supportedTargets.join(' or ')}`);
  if (row.confirmed && !isConfirmation(row.confirmed))
    problems.push(
      `confirmed "${row.confirmed}" is not a date: write YYYY-MM-DD, optionally followed by who confirmed ` +
        `(e.g. 2026-11-23 j.doe)`,
    );
  if ((row.confirmed || row.instructions) && !manualTargets.has(target))
    problems.push(
      `the confirmed and instructions columns apply to pop3 and manual rows only: clear them for target ${target}`,
    );
  if (problems.length > 0) return { line, problem: problems.join('; ') };
  const mailbox: Mailbox = {
    email: row.email!,
    displayName: row.displayName,
    target,
    sink: (row.sink ?? options.sink)!,
    server: row.server,
    instructions: row.instructions,
    confirmed: row.confirmed,
    line,
    ...(row.dynamicsMailboxId ? { dynamicsMailboxId: row.dynamicsMailboxId } : {}),
  };
  let problem: string | undefined;
  try {
    problem = options.checkRow?.(mailbox);
  } catch (error) {
    // A route that cannot be served (no config section, no password) is not this row's fault:
    // reported once, with the other problems, instead of ending the pass at the first such row.
    if (!(error instanceof InputError)) throw error;
    return { line, routeProblems: error.problems };
  }
  return problem ? { line, problem } : { line, mailbox };
}

const manualTargets: ReadonlySet<Target> = new Set(['pop3', 'manual']);

function isConfirmation(value: string): boolean {
  const date = /^(\d{4}-\d{2}-\d{2})(\s|$)/.exec(value)?.[1];
  return date !== undefined && !Number.isNaN(Date.parse(date));
}

/** csv-parse has no delimiter detection: count `,` and `;` outside quotes in the header line. */
export async function sniffDelimiter(file: string): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new InputError(
      [`${file}: cannot read the users file (${(error as NodeJS.ErrnoException).code}): check the path`],
      { cause: error },
    );
  }
  try {
    const buffer = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const firstLine = buffer.subarray(0, bytesRead).toString('utf8').split(/\r?\n/)[0] ?? '';
    const unquoted = firstLine.replace(/"[^"]*"/g, '');
    const count = (ch: string) => unquoted.split(ch).length - 1;
    return count(';') > count(',') ? ';' : ',';
  } finally {
    await handle.close();
  }
}

function lineOfCsvError(error: CsvError): number {
  const fromMessage = /line (\d+)/.exec(error.message)?.[1];
  return Number(fromMessage ?? (error as unknown as { lines?: number }).lines ?? 0);
}

function formatProblems(file: string, problems: Array<{ line: number; text: string }>): string[] {
  const sorted = problems.sort((a, b) => a.line - b.line).map((p) => `${file}:${p.line}: ${p.text}`);
  if (sorted.length <= maxProblemsShown) return sorted;
  return [...sorted.slice(0, maxProblemsShown), `${file}: … and ${sorted.length - maxProblemsShown} more problems`];
}

async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
