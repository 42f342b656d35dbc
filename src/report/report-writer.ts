import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { stringify, type Stringifier } from 'csv-stringify';
import type { MailboxOutcome } from '../core/outcome.js';
import { describeForwarding, type RuleSummary } from '../core/rule.js';
import { renderReportHtml } from './html.js';
import type { RunInfo } from './run-info.js';
import { renderHandbook, type HandbookEntry } from './handbook.js';

/** The run section of every report. */
export interface ReportFiles {
  dir: string;
  json: string;
  csv: string;
  html: string;
}

/** Rows kept for report.html; report.json and report.csv always have every row. */
const maxHtmlRows = 10_000;

const csvColumns = [
  'email', 'displayName', 'target', 'sink', 'line', 'outcome', 'ruleIds',
  'beforeEnabled', 'beforeForwardAsAttachmentTo', 'beforeConditions', 'beforeExceptions',
  'afterEnabled', 'afterForwardAsAttachmentTo', 'afterConditions', 'afterExceptions',
  'changes', 'drift', 'otherForwardingRules', 'facts', 'notes',
  'errorCode', 'errorMessage', 'fix', 'instructionsFile', 'attempts', 'durationInMs',
  'canary', 'probeOutcome', 'probeReason', 'probeNdrStatus', 'probeCompletedAt', 'probeDetail',
] as const;

/**
 * Writes report.json, report.csv and report.html. Rows are streamed to disk as mailboxes finish,
 * so memory does not grow with the number of mailboxes (beyond the rows report.html shows).
 */
export class ReportWriter {
  private readonly htmlRows: MailboxOutcome[] = [];
  /** Manual mailboxes for the handbook (their number is small next to the automated ones). */
  private readonly handbook: HandbookEntry[] = [];
  private htmlRowsLeftOut = 0;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly files: ReportFiles,
    private readonly csv: Stringifier,
    private readonly csvDone: Promise<unknown>,
    private readonly rowsFile: string,
    private readonly rows: WriteStream,
  ) {}

  static async open(dir: string): Promise<ReportWriter> {
    await mkdir(dir, { recursive: true });
    const files = { dir, json: path.join(dir, 'report.json'), csv: path.join(dir, 'report.csv'), html: path.join(dir, 'report.html') };
    const csv = stringify({ header: true, columns: [...csvColumns], bom: true });
    const csvFile = createWriteStream(files.csv);
    csv.pipe(csvFile);
    const rowsFile = path.join(dir, '.mailboxes.jsonl');
    return new ReportWriter(files, csv, once(csvFile, 'close'), rowsFile, createWriteStream(rowsFile));
  }

  /** Rows are written one after another, whatever order the workers finish in. */
  add(outcome: MailboxOutcome): Promise<void> {
    this.writing = this.writing.then(() => this.write(outcome));
    return this.writing;
  }

  private async write(outcome: MailboxOutcome): Promise<void> {
    if (outcome.instructions?.markdown !== undefined) outcome = await this.saveInstructions(outcome);
    if (!this.csv.write(csvRow(outcome))) await once(this.csv, 'drain');
    if (!this.rows.write(`${JSON.stringify(outcome)}\n`)) await once(this.rows, 'drain');
    if (this.htmlRows.length < maxHtmlRows) this.htmlRows.push(outcome);
    else this.htmlRowsLeftOut++;
  }

  /** Writes manual/<mailbox>.md and keeps only the reference in the row. */
  private async saveInstructions(outcome: MailboxOutcome): Promise<MailboxOutcome> {
    const { markdown, markdownForHtml, ...reference } = outcome.instructions!;
    const file = `manual/${outcome.email.replace(/[^A-Za-z0-9@._+-]/g, '_')}.md`;
    await mkdir(path.join(this.files.dir, 'manual'), { recursive: true });
    await writeFile(path.join(this.files.dir, file), markdown!);
    this.handbook.push({ email: outcome.email, displayName: outcome.displayName, server: reference.server, outcome: outcome.outcome, confirmed: reference.confirmed, markdownForHtml: markdownForHtml!, file });
    return { ...outcome, instructions: { ...reference, file } };
  }

  async close(run: RunInfo): Promise<ReportFiles> {
    await this.writing;
    const links: Array<{ href: string; label: string }> = [];
    if (this.handbook.length > 0) {
      await writeFile(path.join(this.files.dir, 'manual-instructions.html'), await renderHandbook(this.handbook, run.command));
      links.push({ href: 'manual-instructions.html', label: `Manual instructions for ${this.handbook.length} mailboxes no API reaches (grouped by server)` });
    }
    this.csv.end();
    this.rows.end();
    await Promise.all([this.csvDone, once(this.rows, 'close')]);
    await this.writeJson(run);
    await rm(this.rowsFile, { force: true });
    await writeFile(this.files.html, await renderReportHtml(run, this.htmlRows, this.htmlRowsLeftOut, links));
    return this.files;
  }

  /** report.json = {"run": …, "mailboxes": [ … ]}, assembled from the streamed rows. */
  private async writeJson(run: RunInfo): Promise<void> {
    const out = createWriteStream(this.files.json);
    const write = async (text: string) => {
      if (!out.write(text)) await once(out, 'drain');
    };
    await write(`{\n"run": ${JSON.stringify(run, null, 2)},\n"mailboxes": [\n`);
    let first = true;
    for await (const line of createInterface({ input: createReadStream(this.rowsFile), crlfDelay: Infinity })) {
      if (!line) continue;
      await write(`${first ? '' : ',\n'}${line}`);
      first = false;
    }
    out.end('\n]\n}\n');
    await once(out, 'close');
  }
}

function csvRow(o: MailboxOutcome): Record<(typeof csvColumns)[number], string | number> {
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
    facts: Object.entries(o.facts).map(([k, v]) => `${k}=${v}`).join('; '),
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
  return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' ? neutralizeFormula(v) : v])) as typeof row;
}

function ruleColumns(prefix: 'before' | 'after', rule: RuleSummary | null) {
  return {
    [`${prefix}Enabled`]: rule ? String(rule.enabled) : '',
    [`${prefix}ForwardAsAttachmentTo`]: rule?.forwardAsAttachmentTo.join(' ') ?? '',
    [`${prefix}Conditions`]: rule?.conditions ?? '',
    [`${prefix}Exceptions`]: rule?.exceptions ?? '',
  } as Record<`${typeof prefix}${'Enabled' | 'ForwardAsAttachmentTo' | 'Conditions' | 'Exceptions'}`, string>;
}

/** Spreadsheet programs run cells starting with = + - @ as formulas: prefix them with '. */
function neutralizeFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}
