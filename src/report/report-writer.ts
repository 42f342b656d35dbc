import { createWriteStream, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { MailboxOutcome } from '../core/outcome.js';
import { describeForwarding, summarizeRule, type MailboxRule } from '../core/rule.js';
import { chunkEnd, chunkStart, renderReportPage, rowHtml, rowsPerChunk, severity, type OutcomeCounts } from './html.js';
import type { RunInfo } from './run-info.js';
import { renderHandbook, type HandbookEntry } from './handbook.js';
import type { Journal } from './journal.js';
import type { ForwardingInventory } from './inventory.js';
import { neutralizeFormula } from './spreadsheet.js';
import { SinkTally } from './sinks.js';
import { lineBatches } from './line-batches.js';

// Pieces of report.json and report.html between the rows, as bytes (the rows are copied as bytes).
const newline = Buffer.from('\n');
const jsonSeparator = Buffer.from(',\n');
const chunkOpening = Buffer.from(chunkStart);
const chunkBoundary = Buffer.from(chunkEnd + chunkStart);

/** The run section of every report. */
export interface ReportFiles {
  dir: string;
  json: string;
  csv: string;
  html: string;
  journal?: string;
  inventory?: string;
}

export const csvHeader = [
  'email',
  'displayName',
  'target',
  'sink',
  'line',
  'outcome',
  'ruleIds',
  'beforeEnabled',
  'beforeForwardAsAttachmentTo',
  'beforeConditions',
  'beforeExceptions',
  'afterEnabled',
  'afterForwardAsAttachmentTo',
  'afterConditions',
  'afterExceptions',
  'changes',
  'drift',
  'otherForwardingRules',
  'facts',
  'notes',
  'errorCode',
  'errorMessage',
  'fix',
  'instructionsFile',
  'attempts',
  'durationInMs',
  'canary',
  'probeOutcome',
  'probeReason',
  'probeNdrStatus',
  'probeCompletedAt',
  'probeDetail',
] as const;

/** How long the row files gather rows before one write (see batchWrites). */
const writeBatchInMs = 25;

export interface ReportWriterOptions {
  /** Every stored row also goes into the run's journal (a `done` entry). */
  journal?: Journal;
  /** verify --inventory: forwarding-inventory.csv. */
  inventory?: ForwardingInventory;
}

/**
 * Writes report.json, report.csv and report.html (and the journal's `done` entries). Rows are
 * streamed to disk as mailboxes finish, so memory does not grow with the number of mailboxes:
 * report.html's rows go to one temporary file per severity (failures first) and are joined at
 * the end.
 */
export class ReportWriter {
  /** Manual mailboxes for the handbook (their number is small next to the automated ones). */
  private readonly handbook: HandbookEntry[] = [];
  private readonly counts: OutcomeCounts = new Map();
  private readonly sinks = new SinkTally();
  private writing: Promise<unknown> = Promise.resolve();
  /** Set while the row files are corked: their rows go to disk together when it fires. */
  private uncorkTimer?: NodeJS.Timeout;

  private constructor(
    readonly files: ReportFiles,
    private readonly csvFile: WriteStream,
    private readonly csvDone: Promise<unknown>,
    private readonly rowsFile: string,
    private readonly rows: WriteStream,
    private readonly htmlParts: WriteStream[],
    private readonly options: ReportWriterOptions,
  ) {}

  static async open(dir: string, options: ReportWriterOptions = {}): Promise<ReportWriter> {
    await mkdir(dir, { recursive: true });
    const files: ReportFiles = {
      dir,
      json: path.join(dir, 'report.json'),
      csv: path.join(dir, 'report.csv'),
      html: path.join(dir, 'report.html'),
      journal: options.journal?.file,
      inventory: options.inventory?.file,
    };
    const csvFile = createWriteStream(files.csv);
    csvFile.write(stringify([], { header: true, columns: csvColumns, bom: true }));
    const rowsFile = path.join(dir, '.mailboxes.jsonl');
    const htmlParts = [0, 1, 2, 3].map((level) => createWriteStream(path.join(dir, `.rows-${level}.html`)));
    return new ReportWriter(
      files,
      csvFile,
      once(csvFile, 'close'),
      rowsFile,
      createWriteStream(rowsFile),
      htmlParts,
      options,
    );
  }

  /**
   * Rows are written one after another, whatever order the workers finish in; resolves with the
   * row as stored once it is in the journal on disk.
   */
  async add(outcome: MailboxOutcome): Promise<MailboxOutcome> {
    const step = this.writing.then(() => this.write(outcome));
    this.writing = step;
    const { row, durable } = await step;
    await durable;
    return row;
  }

  /** A row an interrupted run already finished (--resume): into the report, not the journal again. */
  async replay(row: MailboxOutcome): Promise<void> {
    this.writing = this.writing.then(() => this.write(row, false));
    await this.writing;
  }

  private async write(
    outcome: MailboxOutcome,
    journaled = true,
  ): Promise<{ row: MailboxOutcome; durable: Promise<void> }> {
    if (outcome.instructions?.markdown !== undefined) outcome = await this.saveInstructions(outcome);
    this.batchWrites();
    // The journal entry takes its place in the chain now; its sync is awaited by the worker only.
    const durable = (journaled && this.options.journal?.append({ type: 'done', row: outcome })) || Promise.resolve();
    durable.catch(() => undefined); // awaited by add(); a failed journal stops the run there
    // csv-stringify's synchronous API: its stream (a Transform per row) cost a 5,000-mailbox verify
    // about 0.3 s of the main thread, in a CPU profile.
    await this.put(this.csvFile, stringify([csvRow(outcome)], { columns: csvColumns }));
    await this.put(this.rows, `${JSON.stringify(outcome)}\n`);
    await this.put(this.htmlParts[severity(outcome.outcome)]!, rowHtml(outcome));
    const byRoute = this.counts.get(outcome.target) ?? this.counts.set(outcome.target, new Map()).get(outcome.target)!;
    byRoute.set(outcome.outcome, (byRoute.get(outcome.outcome) ?? 0) + 1);
    this.sinks.add({ sink: outcome.sink, target: outcome.target, stale: outcome.outcome === 'stale' });
    await this.options.inventory?.add(outcome);
    return { row: outcome, durable };
  }

  /**
   * The rows of the next few milliseconds go to each file in one write: one system call per
   * mailbox and file cost a 10,000-mailbox verify 0.4 s of its main thread, in short stalls that
   * delay the requests the pace releases. The journal is what makes a row durable, not these files.
   */
  private batchWrites(): void {
    if (this.uncorkTimer) return;
    for (const stream of this.rowFiles()) stream.cork();
    this.uncorkTimer = setTimeout(() => this.uncorkAll(), writeBatchInMs);
  }

  /** A full buffer is written at once rather than when the timer fires (a --resume replays rows fast). */
  private async put(stream: Writable, chunk: unknown): Promise<void> {
    if (stream.write(chunk)) return;
    this.uncorkAll();
    await once(stream, 'drain');
  }

  private uncorkAll(): void {
    clearTimeout(this.uncorkTimer);
    this.uncorkTimer = undefined;
    for (const stream of this.rowFiles()) while (stream.writableCorked) stream.uncork();
  }

  private rowFiles(): WriteStream[] {
    return [this.csvFile, this.rows, ...this.htmlParts];
  }

  /** Writes manual/<mailbox>.md and keeps only the reference in the row. */
  private async saveInstructions(outcome: MailboxOutcome): Promise<MailboxOutcome> {
    const { markdown, markdownForHtml, ...reference } = outcome.instructions!;
    const file = `manual/${outcome.email.replace(/[^A-Za-z0-9@._+-]/g, '_')}.md`;
    await mkdir(path.join(this.files.dir, 'manual'), { recursive: true });
    await writeFile(path.join(this.files.dir, file), markdown!);
    this.handbook.push({
      email: outcome.email,
      displayName: outcome.displayName,
      server: reference.server,
      outcome: outcome.outcome,
      confirmed: reference.confirmed,
      markdownForHtml: markdownForHtml!,
      file,
    });
    return { ...outcome, instructions: { ...reference, file } };
  }

  async close(run: RunInfo): Promise<ReportFiles> {
    await this.writing;
    const links: Array<{ href: string; label: string }> = [];
    if (this.handbook.length > 0) {
      await writeFile(
        path.join(this.files.dir, 'manual-instructions.html'),
        await renderHandbook(this.handbook, run.command),
      );
      links.push({
        href: 'manual-instructions.html',
        label: `Manual instructions for ${this.handbook.length} mailboxes no API reaches (grouped by server)`,
      });
    }
    if (this.options.inventory) {
      await this.options.inventory.close();
      links.push({
        href: 'forwarding-inventory.csv',
        label:
          `Forwarding inventory: ${this.options.inventory.rows} forwarding targets in every rule that forwards ` +
          `or redirects`,
      });
    }
    this.uncorkAll();
    this.csvFile.end();
    this.rows.end();
    for (const part of this.htmlParts) part.end();
    await Promise.all([this.csvDone, once(this.rows, 'close'), ...this.htmlParts.map((part) => once(part, 'close'))]);
    // Two copies of row files into their pages, independent of each other: their reads and writes
    // overlap on the disk's threads instead of one waiting for the other.
    await Promise.all([this.writeJson(run).then(() => rm(this.rowsFile, { force: true })), this.writeHtml(run, links)]);
    return this.files;
  }

  /** report.html: the page around the row files, failures first. */
  private async writeHtml(run: RunInfo, links: Array<{ href: string; label: string }>): Promise<void> {
    const page = await renderReportPage(run, this.counts, links, this.sinks.summary());
    const out = createWriteStream(this.files.html);
    const write = async (text: string | Buffer) => {
      if (!out.write(text)) await once(out, 'drain');
    };
    await write(page.head);
    let rows = 0;
    for (const part of this.htmlParts) {
      for await (const batch of lineBatches(part.path as string)) {
        const parts: Buffer[] = [];
        for (const row of batch) {
          if (rows % rowsPerChunk === 0) parts.push(rows ? chunkBoundary : chunkOpening);
          parts.push(row, newline);
          rows++;
        }
        await write(Buffer.concat(parts));
      }
      await rm(part.path as string, { force: true });
    }
    out.end(`${rows ? chunkEnd : ''}${page.tail}`);
    await once(out, 'close');
  }

  /** report.json = {"run": …, "sinks": [ … ], "mailboxes": [ … ]}, assembled from the streamed rows. */
  private async writeJson(run: RunInfo): Promise<void> {
    const out = createWriteStream(this.files.json);
    const write = async (text: string | Buffer) => {
      if (!out.write(text)) await once(out, 'drain');
    };
    const sinks = JSON.stringify(this.sinks.summary(), null, 2);
    await write(`{\n"run": ${JSON.stringify(run, null, 2)},\n"sinks": ${sinks},\n"mailboxes": [\n`);
    let first = true;
    for await (const batch of lineBatches(this.rowsFile)) {
      const parts: Buffer[] = [];
      for (const row of batch) {
        if (!first) parts.push(jsonSeparator);
        parts.push(row);
        first = false;
      }
      await write(Buffer.concat(parts));
    }
    out.end('\n]\n}\n');
    await once(out, 'close');
  }
}

const csvColumns = [...csvHeader];

/** One report.csv row: readable summaries of the full rules in report.json. */
export function csvRow(o: MailboxOutcome): Record<(typeof csvHeader)[number], string | number> {
  const row = {
    email: o.email,
    displayName: o.displayName,
    target: o.target,
    sink: o.sink,
    line: o.line,
    outcome: o.outcome,
    ruleIds: o.ruleIds.join(' '),
    ...ruleColumns('before', o.before),
    ...ruleColumns('after', o.after),
    changes: o.changes.join(' | '),
    drift: o.drift.join(' | '),
    otherForwardingRules: o.otherForwardingRules.map(describeForwarding).join(' | '),
    facts: Object.entries(o.facts)
      .map(([k, v]) => `${k}=${v}`)
      .join('; '),
    notes: o.notes.join(' | '),
    errorCode: o.error?.code ?? '',
    errorMessage: [o.error?.message, ...(o.error?.details ?? [])].filter(Boolean).join(' | '),
    fix: o.error?.fix ?? '',
    instructionsFile: o.instructions?.file ?? '',
    attempts: o.attempts,
    durationInMs: o.durationInMs,
    canary: o.canary ? 'yes' : '',
    probeOutcome: o.probe?.outcome ?? '',
    probeReason: o.probe?.reason ?? '',
    probeNdrStatus: o.probe?.ndrStatus ?? '',
    probeCompletedAt: o.probe?.completedAt ?? '',
    probeDetail: o.probe?.detail ?? '',
  };
  return Object.fromEntries(
    Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? neutralizeFormula(v) : v]),
  ) as typeof row;
}

/** The first rule (the one deploy keeps) in words. */
function ruleColumns(prefix: 'before' | 'after', rules: MailboxRule[] | null) {
  const rule = rules?.[0] && summarizeRule(rules[0]);
  return {
    [`${prefix}Enabled`]: rule ? String(rule.enabled) : '',
    [`${prefix}ForwardAsAttachmentTo`]: rule?.forwardAsAttachmentTo.join(' ') ?? '',
    [`${prefix}Conditions`]: rule?.conditions ?? '',
    [`${prefix}Exceptions`]: rule?.exceptions ?? '',
  } as Record<`${typeof prefix}${'Enabled' | 'ForwardAsAttachmentTo' | 'Conditions' | 'Exceptions'}`, string>;
}
