import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, truncate, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { describeError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { MailboxOutcome } from '../core/outcome.js';
import type { RecordJournalEvent } from '../core/migration.js';
import type { RuleChange } from '../core/plan.js';
import type { ApplyResult, WriteJournal } from '../core/provider.js';
import type { Target } from '../core/mailbox.js';
import type { InputInfo, RunIdentity } from './run-info.js';

export const journalFileName = 'journal.jsonl';
/** The `prev` of the first entry. */
export const genesisHash = '0'.repeat(64);

export const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** Every journal line: its number, when, the SHA-256 of the line before, and what happened. */
export interface JournalEntryBase {
  seq: number;
  at: string;
  prev: string;
}
/** The run a `start` (or `resume`) entry records: enough to check a resume and drive a rollback. */
export interface JournalRunRecord {
  command: string;
  dryRun: boolean;
  startedAt: string;
  ruleName: string;
  identity?: RunIdentity;
  /** Where the rows came from (a Dataverse read's rows and SHA-256 are known only at the end: see the report). */
  input: InputInfo;
  rollbackOf?: { dir: string; lastHash: string };
}

export type JournalEvent =
  | { type: 'start' | 'resume'; run: JournalRunRecord }
  | { type: 'write'; email: string; line: number; attempt: number; changes: readonly RuleChange[] }
  | { type: 'written'; email: string; createdRuleIds: string[] }
  | { type: 'write-failed'; email: string; error: string }
  | { type: 'done'; row: MailboxOutcome }
  /** The service paused a back end until `until` (an app-wide Retry-After): a resumed run waits for it too. */
  | { type: 'window'; target: Target; until: string }
  | RecordJournalEvent
  | { type: 'end'; counts: Record<string, number>; exitCode: number; stoppedBy: string | null };
export type JournalEntry = JournalEntryBase & JournalEvent;

/**
 * journal.jsonl: one JSON entry per line, each holding the SHA-256 of the line before (a hash
 * chain), appended as the run goes. `append` resolves once the entry is on disk (fdatasync): the
 * runner waits for it before each write to a mailbox and after its answer, so `kill -9` loses
 * nothing already done. Entries that arrive while a flush is under way are written and synced
 * together with the next one (group commit), so the disk is synced a few hundred times a second
 * at most, not once per entry.
 */
export class Journal implements WriteJournal {
  private queue: Array<{ text: string; done: () => void; failed: (error: unknown) => void }> = [];
  private flushing = false;
  private failure: unknown;

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
    private seq: number,
    private last: string,
    private readonly clock: () => number,
  ) {}

  /** A new journal in `dir`, or the continuation of the chain `previous` (resume). */
  static async open(
    dir: string,
    clock: () => number,
    previous?: { entries: number; lastHash: string },
  ): Promise<Journal> {
    const file = path.join(dir, journalFileName);
    const handle = await open(file, previous ? 'a' : 'w');
    return new Journal(file, handle, previous?.entries ?? 0, previous?.lastHash ?? genesisHash, clock);
  }

  get entries(): number {
    return this.seq;
  }

  get lastHash(): string {
    return this.last;
  }

  /** Adds an entry to the chain now (order = call order) and resolves when it is durable. */
  append(event: JournalEvent): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const text = JSON.stringify({
      seq: ++this.seq,
      at: new Date(this.clock()).toISOString(),
      prev: this.last,
      ...event,
    });
    this.last = sha256(text);
    return new Promise((done, failed) => {
      this.queue.push({ text: `${text}\n`, done, failed });
      if (!this.flushing) void this.flush();
    });
  }

  beforeWrite(mailbox: Mailbox, changes: readonly RuleChange[], attempt: number): Promise<void> {
    return this.append({ type: 'write', email: mailbox.email, line: mailbox.line, attempt, changes });
  }

  afterWrite(mailbox: Mailbox, answer: { result: ApplyResult } | { error: unknown }): Promise<void> {
    return this.append(
      'result' in answer
        ? { type: 'written', email: mailbox.email, createdRuleIds: answer.result.createdRuleIds }
        : { type: 'write-failed', email: mailbox.email, error: describeError(answer.error) },
    );
  }

  /**
   * The run's last entry (its counts, exit code and why it stopped: the error, or a reason such as
   * a failed canary wave), then the file is closed.
   */
  async end(run: { counts: object; exitCode: number; stoppedBy?: unknown; stopReason?: string }): Promise<void> {
    await this.append({
      type: 'end',
      counts: run.counts as Record<string, number>,
      exitCode: run.exitCode,
      stoppedBy: run.stoppedBy === undefined ? (run.stopReason ?? null) : describeError(run.stoppedBy),
    });
    await this.close();
  }

  async close(): Promise<void> {
    while (this.flushing) await new Promise((resolve) => setImmediate(resolve));
    await this.handle.close();
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      try {
        await this.handle.write(batch.map((item) => item.text).join(''));
        await this.handle.datasync();
        for (const item of batch) item.done();
      } catch (error) {
        // A journal that cannot be written must stop the run: no write without its record.
        this.failure = error;
        for (const item of [...batch, ...this.queue]) item.failed(error);
        this.queue = [];
      }
    }
    this.flushing = false;
  }
}

/** One line of a journal file as read back: its text (for hashing) and, if it parses, the entry. */
export interface JournalLine {
  number: number;
  text: string;
  entry?: JournalEntry;
}

/**
 * The journal's lines, streamed (a 100,000-mailbox journal is hundreds of MB). A last line
 * without its newline is not included: see `journalTail`. With `ofType`, only the lines that may
 * hold an entry of that type are parsed and given: an entry is one JSON.stringify line, so its
 * `"type":"done"` is always there verbatim (a string value that contains it would be escaped).
 */
export async function* journalLines(dir: string, ofType?: JournalEntry['type']): AsyncIterable<JournalLine> {
  const marker = ofType && `"type":${JSON.stringify(ofType)}`;
  const file = path.join(dir, journalFileName);
  const { complete } = await journalTail(file);
  if (complete === 0) return;
  let number = 0;
  for await (const text of createInterface({
    input: createReadStream(file, { end: complete - 1 }),
    crlfDelay: Infinity,
  })) {
    number++;
    if (marker && !text.includes(marker)) continue;
    yield { number, text, entry: parseEntry(text) };
  }
}

/**
 * Bytes of the journal up to its last newline. More bytes after it are a torn line: the process
 * died while writing it (it was never synced, so no write to a mailbox depended on it).
 */
export async function journalTail(file: string): Promise<{ complete: number; torn: boolean }> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    let end = size;
    // The last line is one entry (a mailbox row of a few KB): scan back for its newline.
    while (end > 0) {
      const from = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - from, from);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (at >= 0) return { complete: from + at + 1, torn: from + at + 1 < size };
      end = from;
    }
    return { complete: 0, torn: size > 0 };
  } finally {
    await handle.close();
  }
}

/** Cuts a torn last line off before the chain continues. */
export async function dropTornTail(file: string, complete: number): Promise<void> {
  await truncate(file, complete);
}

function parseEntry(text: string): JournalEntry | undefined {
  try {
    const value = JSON.parse(text) as JournalEntry;
    return typeof value === 'object' &&
      value !== null &&
      typeof value.seq === 'number' &&
      typeof value.prev === 'string'
      ? value
      : undefined;
  } catch {
    return undefined;
  }
}
