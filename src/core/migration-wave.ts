import pLimit from 'p-limit';
import { AccessError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import {
  alertsLocation,
  deliveryMethod,
  readinessProblem,
  revertPatch,
  switchPatch,
  testStatus,
  testVerdict,
  type MailboxRecordFields,
  type MigrationRecord,
  type RecordJournalEvent,
  type RecordPatch,
  type RecordStep,
} from './migration.js';
import { emptyOutcome, outcomeError, type MailboxOutcome, type OutcomeError } from './outcome.js';
import type { Sleep } from './retry.js';
import { processMailbox, type RunnerOptions } from './runner.js';

/** Dynamics 365's mailbox records, as the wave reads and writes them (providers/dataverse-records.ts). */
export interface RecordStore {
  readonly url: string;
  read(ids: readonly string[], signal?: AbortSignal): Promise<Map<string, MailboxRecordFields>>;
  /** Writes with If-Match; `at` is when Dataverse took it, null when a retry found it already done. */
  update(
    record: MailboxRecordFields,
    patch: RecordPatch,
    applied: (now: MailboxRecordFields) => boolean,
    signal?: AbortSignal,
  ): Promise<{ at: string | null }>;
}

/** What an interrupted run left for one mailbox: switched (or about to be), not finished. */
export interface InflightRecord {
  migration: MigrationRecord;
  /** When the switch was journaled (stands in for its time when its answer was lost). */
  intentAt: string;
  /** The interrupted run had started to put it back on the forward mailbox. */
  revertStarted: boolean;
}

export interface WaveOptions {
  records: RecordStore;
  /** Rule removal exactly as `remove` does it (mode remove, the run's providers, retry and journal). */
  runner: RunnerOptions;
  journal?: { append(event: RecordJournalEvent): Promise<void> };
  /** dataverse.emailServerProfile, resolved. */
  profileId?: string;
  dryRun: boolean;
  timeoutInMs: number;
  pollIntervalInMs: number;
  sleep: Sleep;
  /** Keyed by lower-case address. */
  inflight: Map<string, InflightRecord>;
}

/** One mailbox the wave is working on. */
interface Tracked {
  mailbox: Mailbox;
  outcome: MailboxOutcome;
  migration: MigrationRecord;
  latest: MailboxRecordFields;
  why?: 'failure' | 'timeout';
}

export interface WaveResult {
  outcomes: MailboxOutcome[];
  /** Mailboxes the wave tried to migrate and did not (reverted or failed): the threshold counts these. */
  failures: MailboxOutcome[];
}

/**
 * One wave: read the wave's records in one query, refuse what is not ready, switch the rest to
 * server-side sync ("Test & Enable"), poll the records (one query per round) until each test has an
 * answer or the time is up, then remove sinkrule's rule where the test succeeded and put the record
 * back on the forward mailbox where it did not. The rule goes only after a successful test, and a
 * record goes back before anything else happens to it: no mailbox is left with neither.
 */
export async function runWave(mailboxes: readonly Mailbox[], options: WaveOptions): Promise<WaveResult> {
  const { signal } = options.runner;
  const result: WaveResult = { outcomes: [], failures: [] };
  const ids = mailboxes.flatMap((m) => (m.problem || !m.dynamicsMailboxId ? [] : [m.dynamicsMailboxId.toLowerCase()]));
  const records = ids.length > 0 ? await options.records.read(ids, signal) : new Map<string, MailboxRecordFields>();
  const toSwitch: Tracked[] = [];
  const waiting: Tracked[] = [];
  const succeeded: Tracked[] = [];
  const toRevert: Tracked[] = [];
  for (const mailbox of mailboxes) {
    const outcome = emptyOutcome(mailbox);
    const refuse = (error: OutcomeError) => {
      outcome.outcome = mailbox.problem ? 'failed' : 'not-ready';
      outcome.error = error;
      result.outcomes.push(outcome);
    };
    if (mailbox.problem) refuse({ ...mailbox.problem, details: [] });
    else if (options.runner.providerFor(mailbox).kind !== 'api')
      refuse(
        problem('ManualRoute', `${mailbox.email} is routed to ${mailbox.target}: no API removes its rule`, manualFix),
      );
    else if (!mailbox.dynamicsMailboxId)
      refuse(problem('NoMailboxRecordId', `${mailbox.email} names no Dynamics 365 mailbox record`, idFix));
    else {
      const record = records.get(mailbox.dynamicsMailboxId.toLowerCase());
      if (!record) {
        refuse(
          problem('RecordNotFound', `no active mailbox record ${mailbox.dynamicsMailboxId} in Dynamics 365`, idFix),
        );
        continue;
      }
      const inflight = options.inflight.get(mailbox.email.toLowerCase());
      const migration: MigrationRecord = inflight
        ? { ...inflight.migration, switchedAt: inflight.migration.switchedAt ?? inflight.intentAt }
        : { mailboxId: record.mailboxId, before: record, after: null, switchedAt: null, profileSet: null };
      const tracked: Tracked = { mailbox, outcome, migration, latest: record };
      outcome.record = migration;
      const onSync = record.incomingEmailDeliveryMethod === deliveryMethod.serverSideSync;
      if (inflight && record.incomingEmailDeliveryMethod === deliveryMethod.forwardMailbox && inflight.revertStarted) {
        // The interrupted run put it back and died before saying so.
        toRevert.push(tracked);
      } else if (inflight && onSync) {
        const verdict = testVerdict(record, migration);
        (verdict === 'success' ? succeeded : verdict === 'failure' ? toRevert : waiting).push(tracked);
      } else if (onSync && record.incomingEmailStatus === testStatus.success && !inflight) {
        // Already on server-side sync and working (an earlier run or an admin): only the rule is left to go.
        succeeded.push(tracked);
      } else {
        const refused = readinessProblem(record, options.profileId);
        if (refused) refuse(refused);
        else toSwitch.push({ ...tracked, migration: { ...migration, before: inflight?.migration.before ?? record } });
      }
    }
  }
  if (options.dryRun) {
    for (const tracked of [...toSwitch, ...succeeded, ...waiting, ...toRevert])
      result.outcomes.push(await plan(tracked, options));
    return result;
  }
  const limit = pLimit(8);
  const touched: Tracked[] = [];
  const settling: Array<Promise<void>> = [];
  // Each mailbox is finished as soon as its test answered: the rule goes, or the record goes back.
  const settle = (tracked: Tracked, verdict: 'success' | 'failure' | 'timeout') => {
    touched.push(tracked);
    if (verdict !== 'success') tracked.why = verdict;
    settling.push(limit(() => (verdict === 'success' ? removeRule(tracked, options) : revert(tracked, options))));
  };
  for (const tracked of succeeded) settle(tracked, 'success');
  for (const tracked of toRevert) settle(tracked, tracked.why ?? 'failure');
  await Promise.all(toSwitch.map((tracked) => limit(() => switchRecord(tracked, options, waiting, result))));
  await waitForTests(waiting, settle, options);
  await Promise.all(settling);
  const after =
    touched.length > 0
      ? await options.records.read(
          touched.map((t) => t.migration.mailboxId),
          signal,
        )
      : null;
  for (const tracked of touched) {
    tracked.migration.after = after?.get(tracked.migration.mailboxId) ?? null;
    tracked.outcome.record = tracked.migration;
    result.outcomes.push(tracked.outcome);
    if (tracked.outcome.outcome !== 'migrated') result.failures.push(tracked.outcome);
  }
  return result;
}

const manualFix = 'Remove the rule by hand after switching the record in Dynamics 365 (see sinkrule remove).';
const idFix =
  'Use --from-dataverse, or a users file with the dynamicsMailboxId column ' +
  '(sinkrule export --from-dataverse writes it).';
const problem = (code: string, message: string, fix: string): OutcomeError => ({ code, message, fix, details: [] });

/** A dry run: what the wave would do, with the rule that would go (read, not written). */
async function plan(tracked: Tracked, options: WaveOptions): Promise<MailboxOutcome> {
  const read = await processMailbox(tracked.mailbox, { ...options.runner, mode: 'remove', dryRun: true });
  const outcome = { ...read, record: tracked.migration };
  if (read.outcome === 'failed') return outcome;
  outcome.outcome = 'would-migrate';
  const switching = tracked.latest.incomingEmailDeliveryMethod === deliveryMethod.forwardMailbox;
  outcome.changes = [
    ...(switching ? [describeSwitch(tracked.latest, switchPatch(tracked.latest, options.profileId))] : []),
    ...(switching ? ['wait for the mailbox test; on Failure or timeout, put the record back on Forward Mailbox'] : []),
    ...read.changes.map((change) => `after a successful test: ${change}`),
  ];
  return outcome;
}

function describeSwitch(record: MailboxRecordFields, patch: RecordPatch): string {
  const profile = patch['emailserverprofile@odata.bind'];
  const withProfile = profile ? `, email server profile ${String(profile)}` : '';
  const name = `mailbox record "${record.name}" (${record.mailboxId})`;
  return `switch ${name} to Server-Side Synchronization${withProfile}, Test & Enable`;
}

/** A write to a record, journaled before it is sent and after its answer. */
async function writeRecord(
  tracked: Tracked,
  step: RecordStep,
  patch: RecordPatch,
  applied: (now: MailboxRecordFields) => boolean,
  options: WaveOptions,
): Promise<string | null> {
  const base = { email: tracked.mailbox.email, mailboxId: tracked.migration.mailboxId, step };
  await options.journal?.append({
    type: 'record-write',
    ...base,
    mailbox: tracked.mailbox,
    patch,
    before: tracked.latest,
  });
  try {
    const { at } = await options.records.update(tracked.latest, patch, applied, options.runner.signal);
    await options.journal?.append({ type: 'record-written', ...base, takenAt: at ?? '' });
    return at;
  } catch (error) {
    await options.journal?.append({ type: 'record-write-failed', ...base, error: outcomeError(error).message });
    throw error;
  }
}

async function switchRecord(tracked: Tracked, options: WaveOptions, waiting: Tracked[], result: WaveResult) {
  const patch = switchPatch(tracked.latest, options.profileId);
  const intentAt = new Date(options.runner.clock()).toISOString();
  tracked.outcome.changes.push(describeSwitch(tracked.latest, patch));
  try {
    const at = await writeRecord(
      tracked,
      'switch',
      patch,
      (now) => now.incomingEmailDeliveryMethod === deliveryMethod.serverSideSync,
      options,
    );
    tracked.migration.switchedAt = at ?? intentAt;
    tracked.migration.profileSet = patch['emailserverprofile@odata.bind'] ? (options.profileId ?? null) : null;
    waiting.push(tracked);
  } catch (error) {
    if (error instanceof AccessError || options.runner.signal?.aborted) throw error;
    tracked.outcome.outcome = 'failed';
    tracked.outcome.error = { ...outcomeError(error), fix: `${outcomeError(error).fix} ${keptRule}` };
    tracked.outcome.changes = [];
    result.outcomes.push(tracked.outcome);
    result.failures.push(tracked.outcome);
  }
}

const keptRule = "The record was not switched; sinkrule's rule was kept.";

/** Polls the waiting records, one query per round, until each test answered or the time is up. */
async function waitForTests(
  waiting: Tracked[],
  settle: (tracked: Tracked, verdict: 'success' | 'failure' | 'timeout') => void,
  options: WaveOptions,
) {
  const { clock, signal } = options.runner;
  const deadline = clock() + options.timeoutInMs;
  while (waiting.length > 0 && clock() < deadline) {
    await options.sleep(Math.min(options.pollIntervalInMs, Math.max(0, deadline - clock())), signal);
    const now = await options.records.read(
      waiting.map((t) => t.migration.mailboxId),
      signal,
    );
    for (const tracked of [...waiting]) {
      const record = now.get(tracked.migration.mailboxId);
      if (!record) continue;
      tracked.latest = record;
      const verdict = testVerdict(record, tracked.migration);
      if (verdict === 'pending') continue;
      waiting.splice(waiting.indexOf(tracked), 1);
      settle(tracked, verdict);
    }
  }
  for (const tracked of waiting.splice(0)) settle(tracked, 'timeout');
}

/** The test succeeded: sinkrule's rule goes, exactly as `remove` takes it away. */
async function removeRule(tracked: Tracked, options: WaveOptions): Promise<void> {
  const removal = await processMailbox(tracked.mailbox, { ...options.runner, mode: 'remove', dryRun: false });
  const outcome = Object.assign(tracked.outcome, { ...removal, record: tracked.migration });
  outcome.changes = [...tracked.outcome.changes, ...removal.changes];
  outcome.notes.push(`mailbox test: ${tracked.latest.labels.incomingEmailStatus}`);
  if (removal.outcome === 'removed' || removal.outcome === 'absent') {
    outcome.outcome = 'migrated';
    return;
  }
  outcome.error = {
    ...(removal.error ?? problem('RuleNotRemoved', 'the rule could not be removed', '')),
    message:
      "on server-side sync and tested Success, but sinkrule's rule could not be removed: " + removal.error?.message,
    fix:
      'Run sinkrule migrate again (it removes the rule of a record already on server-side sync), or sinkrule remove ' +
      `--from-dataverse --stale. ${removal.error?.fix ?? ''}`,
  };
}

/** The test failed or never came: the record goes back to the forward mailbox, the rule stays. */
async function revert(tracked: Tracked, options: WaveOptions): Promise<void> {
  const { outcome, latest } = tracked;
  const why =
    tracked.why === 'timeout'
      ? `no test result within ${Math.round(options.timeoutInMs / 1000)} s ` +
        `(Incoming Email Status "${latest.labels.incomingEmailStatus}")`
      : `the mailbox test answered "${latest.labels.incomingEmailStatus}"`;
  const where = `read why in ${alertsLocation(options.records.url, latest)}`;
  try {
    if (latest.incomingEmailDeliveryMethod !== deliveryMethod.forwardMailbox)
      await writeRecord(
        tracked,
        'revert',
        revertPatch(tracked.migration),
        (now) => now.incomingEmailDeliveryMethod === deliveryMethod.forwardMailbox,
        options,
      );
    outcome.outcome = 'reverted';
    outcome.changes.push(`put the record back on Forward Mailbox (${why}); sinkrule's rule kept`);
    outcome.error = problem(
      tracked.why === 'timeout' ? 'TestTimedOut' : 'TestFailed',
      `server-side synchronization of "${latest.name}": ${why}`,
      `The record is back on Forward Mailbox and sinkrule's rule was kept; ${where}, fix it, ` +
        'then run sinkrule migrate again.',
    );
  } catch (error) {
    if (error instanceof AccessError || options.runner.signal?.aborted) throw error;
    outcome.outcome = 'failed';
    outcome.error = problem(
      'RevertFailed',
      `${why}, and putting the record back on Forward Mailbox failed: ${outcomeError(error).message}`,
      "sinkrule's rule was kept, so mail is still tracked; set Incoming Email back to Forward Mailbox on the " +
        `record, or run sinkrule migrate again; ${where}.`,
    );
  }
}
