import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import type { Target } from '../core/mailbox.js';
import type { MailboxOutcome } from '../core/outcome.js';
import { walkChain } from '../report/audit.js';
import { dropTornTail, journalFileName, journalLines, journalTail, type JournalRunRecord } from '../report/journal.js';

/** What an interrupted run finished, read back from its journal. */
export interface ResumePoint {
  dir: string;
  /** Rows the run finished, in journal order (they go into the final report first), streamed. */
  rows(): AsyncIterable<MailboxOutcome>;
  /** Their addresses, lower-cased: these mailboxes are not read or written again. */
  finished: Set<string>;
  /** Where the chain continues. */
  chain: { entries: number; lastHash: string };
  /** When the run started and each earlier resume. */
  resumedAt: string[];
  /** The last window the service gave each back end (epoch ms it ends): still honoured if open. */
  windows: Partial<Record<Target, number>>;
}

interface RunToResume {
  command: string;
  dryRun: boolean;
  report?: string;
  inputSha256: string;
  configSha256: string;
}

/**
 * Reads DIR/journal.jsonl and checks it may be continued by this command: an intact chain, the
 * same command, the same users file and config (by SHA-256). Anything else is refused before any
 * mailbox is touched (exit 1).
 */
export async function loadResume(dir: string, current: RunToResume): Promise<ResumePoint> {
  const refuse = (problem: string) => new InputError([`--resume ${dir}: ${problem}`]);
  if (current.dryRun) throw refuse('a dry run cannot resume a run: drop --dry-run');
  if (current.report && path.resolve(current.report) !== path.resolve(dir))
    throw refuse('a resumed run continues in its own folder: drop --report');
  const file = path.join(dir, journalFileName);
  if (!existsSync(file))
    throw refuse(`no ${journalFileName} in this folder: name the report folder of the interrupted run`);
  let run: JournalRunRecord | undefined;
  const finished = new Set<string>();
  const resumedAt: string[] = [];
  const windows: Partial<Record<Target, number>> = {};
  const walk = await walkChain(dir, ({ entry }) => {
    if (entry?.type === 'start' || entry?.type === 'resume') resumedAt.push(entry.run.startedAt);
    if (entry?.type === 'start') run ??= entry.run;
    if (entry?.type === 'done') finished.add(entry.row.email.toLowerCase());
    if (entry?.type === 'window') windows[entry.target] = Math.max(windows[entry.target] ?? 0, Date.parse(entry.until));
  });
  if (walk.problem)
    throw refuse(
      `the journal was changed (${walk.problem}): it cannot be continued; check it with sinkrule audit verify`,
    );
  if (!run) throw refuse('the journal does not begin with the run it records');
  if (run.command !== current.command) throw refuse(`that folder records a ${run.command} run, not ${current.command}`);
  if (run.dryRun) throw refuse('that folder records a dry run: there is nothing to resume');
  if (run.input.sha256 !== current.inputSha256)
    throw refuse(
      `the users file differs from the run's (SHA-256 ${run.input.sha256}, now ${current.inputSha256}): ` +
        `resume with the same --users file`,
    );
  const configSha256 = run.identity?.config.sha256;
  if (configSha256 !== current.configSha256)
    throw refuse(
      `the config differs from the run's (SHA-256 ${configSha256}, now ${current.configSha256}): resume with ` +
        `the same --config file`,
    );
  // A torn last line was being written when the process died: never synced, nothing depended on it.
  const tail = await journalTail(file);
  if (tail.torn) await dropTornTail(file, tail.complete);
  return {
    dir,
    finished,
    chain: { entries: walk.entries, lastHash: walk.lastHash },
    resumedAt,
    windows,
    rows: () => finishedRows(dir, walk.entries),
  };
}

/** The rows the journal records as finished, streamed again for the final report. */
async function* finishedRows(dir: string, entries: number): AsyncIterable<MailboxOutcome> {
  for await (const { number, entry } of journalLines(dir)) {
    if (number > entries) return;
    if (entry?.type === 'done') yield entry.row;
  }
}
