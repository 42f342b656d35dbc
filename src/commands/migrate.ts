import { mkdir } from 'node:fs/promises';
import { dataverseTokens } from '../auth/graph-credential.js';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import { allowedFailures, parseFailureLimit, type FailureLimit } from '../core/migration.js';
import { runWave, type InflightRecord, type WaveOptions } from '../core/migration-wave.js';
import type { MailboxOutcome } from '../core/outcome.js';
import { DataverseReader } from '../input/dataverse.js';
import { ThrottleGate } from '../core/throttle-gate.js';
import type { Config } from '../input/config.js';
import { MailboxRecords } from '../providers/dataverse-records.js';
import { Journal, journalLines } from '../report/journal.js';
import { ReportWriter } from '../report/report-writer.js';
import type { CliIO } from '../common/io.js';
import { Progress } from '../common/progress.js';
import { exitCodeFor } from '../common/exit-code.js';
import type { RunFlags } from '../common/settings.js';
import { runIdentity } from './identity.js';
import { defaultReportDir, formatCounts, printSummary, runInfo, type ExecuteResult } from './run-command.js';
import { prepare, type PreparedRun } from './prepare.js';

/** How long a wave waits for Dynamics 365's mailbox tests by default. */
const defaultTimeoutInS = 600;

interface MigrateContext {
  run: PreparedRun;
  records: MailboxRecords;
  profile?: { id: string; name: string };
  limit: FailureLimit;
  timeoutInMs: number;
  inflight: Map<string, InflightRecord & { mailbox: Mailbox }>;
}

/**
 * `sinkrule migrate`: moves forward-mailbox users to server-side synchronization wave by wave (switch
 * the record, let Dynamics 365 test it, then remove sinkrule's rule or put the record back), with the
 * same confirmation, journal, report and resume as deploy. Returns the exit code.
 */
export async function runMigrate(flags: RunFlags, io: CliIO, commandLine: string[]): Promise<number> {
  const limit = parseFailureLimit(flags.maxFailures);
  const run = await prepare('migrate', flags, io, commandLine);
  const records = openRecords(run.config, io);
  const configured = run.config.dataverse?.emailServerProfile;
  const profile = configured ? await records.resolveProfile(configured, run.config.file, io.signal) : undefined;
  const context: MigrateContext = {
    run,
    records,
    profile,
    limit,
    timeoutInMs: (flags.timeoutS ?? defaultTimeoutInS) * 1000,
    inflight: run.resume ? await readInflight(run.resume.dir) : new Map(),
  };
  const mustAsk = !flags.dryRun && !flags.yes;
  if (mustAsk && !io.stdinIsTTY)
    throw new InputError([
      'refusing to migrate mailboxes without confirmation, and there is no terminal to ask on: ' +
        'pass --yes to confirm, or --dry-run to see what would change',
    ]);
  await Promise.all([...run.providers.providers.values()].map((provider) => provider.open(io.signal)));
  if (mustAsk) {
    const plan = await pass(context, io, true, false);
    const pending = plan.counts['would-migrate'] ?? 0;
    io.stderr.write(`Plan for ${plan.mailboxes} mailboxes: ${formatCounts(plan.counts)}\n`);
    if (pending === 0 || !(await io.confirm(`Migrate ${pending} mailboxes to server-side synchronization?`))) {
      io.stderr.write(pending === 0 ? 'Nothing to migrate.\n' : 'Cancelled: nothing was changed.\n');
      return pending === 0 ? plan.exitCode : 0;
    }
  }
  const result = await pass(context, io, flags.dryRun, true);
  printSummary(run.settings, run, result, io);
  return result.exitCode;
}

/** The Dynamics 365 mailbox records of the config's dataverse section (migrate, and rollback of a migrate). */
export function openRecords(config: Config, io: CliIO): MailboxRecords {
  if (!config.dataverse)
    throw new InputError([
      `${config.file}: dataverse: missing, but migrate switches the users' Dynamics 365 mailbox records: ` +
        'add "dataverse": {"url": "https://<org>.crm.dynamics.com"}',
    ]);
  const retry = { ...config.retry, sleep: io.sleep };
  const reader = new DataverseReader({
    // Service protection allows 6,000 requests per user in 5 minutes (20 a second on average).
    gate: new ThrottleGate({
      clock: io.clock,
      sleep: io.sleep,
      initialRequestsPerSecond: 20,
      minRequestsPerSecond: 10,
    }),
    config: config.dataverse,
    configFile: config.file,
    token: dataverseTokens(config.dataverse, io.env, config.file, io.clock),
    retry,
    clock: io.clock,
    onRetry: (error, delayInMs) =>
      io.stderr.write(`${describeError(error)}; retrying in ${Math.ceil(delayInMs / 1000)} s\n`),
  });
  return new MailboxRecords(reader, retry, io.clock);
}

/** What an interrupted migrate left under way, per mailbox, from its journal. */
export async function readInflight(dir: string): Promise<Map<string, InflightRecord & { mailbox: Mailbox }>> {
  const inflight = new Map<string, InflightRecord & { mailbox: Mailbox }>();
  for await (const { entry } of journalLines(dir)) {
    if (!entry) continue;
    const key = 'email' in entry && typeof entry.email === 'string' ? entry.email.toLowerCase() : '';
    const known = inflight.get(key);
    if (entry.type === 'record-write' && entry.step === 'switch') {
      const bound = entry.patch['emailserverprofile@odata.bind'];
      inflight.set(key, {
        mailbox: entry.mailbox,
        intentAt: entry.at,
        revertStarted: false,
        migration: {
          mailboxId: entry.mailboxId,
          before: known?.migration.before ?? entry.before,
          after: null,
          switchedAt: null,
          profileSet: typeof bound === 'string' ? (/\(([^)]+)\)/.exec(bound)?.[1] ?? null) : null,
        },
      });
    } else if (entry.type === 'record-written' && entry.step === 'switch' && known)
      known.migration.switchedAt = entry.takenAt || known.intentAt;
    else if (entry.type === 'record-write' && entry.step === 'revert' && known) known.revertStarted = true;
    else if (entry.type === 'done') inflight.delete(entry.row.email.toLowerCase());
  }
  return inflight;
}

/** The run's rows in waves: first what an interrupted run left under way, then the source's unfinished rows. */
async function* waves(context: MigrateContext, size: number): AsyncGenerator<Mailbox[]> {
  const { run, inflight } = context;
  let wave: Mailbox[] = [...inflight.values()].map((i) => i.mailbox);
  for await (const mailbox of run.source.read()) {
    const key = mailbox.email.toLowerCase();
    if (run.resume?.finished.has(key) || inflight.has(key)) continue;
    if (wave.length >= size) {
      yield wave;
      wave = [];
    }
    wave.push(mailbox);
  }
  if (wave.length > 0) yield wave;
}

/** One pass: a dry run (for the question, or --dry-run) or the real migration, with report and journal. */
async function pass(context: MigrateContext, io: CliIO, dryRun: boolean, withReport: boolean): Promise<ExecuteResult> {
  const { run } = context;
  const options = run.settings;
  const startedAt = new Date(io.clock());
  const dir = options.report ?? defaultReportDir('migrate', startedAt);
  let journal: Journal | undefined;
  let report: ReportWriter | undefined;
  if (withReport) {
    await mkdir(dir, { recursive: true });
    journal = await Journal.open(dir, io.clock, run.resume?.chain);
    await journal.append({
      type: run.resume ? 'resume' : 'start',
      run: {
        command: 'migrate',
        dryRun,
        startedAt: startedAt.toISOString(),
        ruleName: run.config.rule.displayName,
        identity: runIdentity(run, io),
        input: run.source.describe(),
      },
    });
    report = await ReportWriter.open(dir, { journal });
  }
  const progress = new Progress(io, dryRun ? 'reading' : 'migrate', run.source.rows, run.providers.gates);
  for await (const row of run.resume?.rows() ?? []) {
    progress.record(row);
    await report?.replay(row);
  }
  const waveOptions: WaveOptions = {
    records: context.records,
    runner: {
      mode: 'remove',
      dryRun,
      providerFor: (mailbox) => run.providers.get(mailbox.target),
      concurrencyFor: run.providers.concurrencyFor,
      desiredRuleFor: run.desiredRuleFor,
      retry: { ...run.config.retry, sleep: io.sleep },
      clock: io.clock,
      signal: io.signal,
      journal,
      onOutcome: () => undefined,
    },
    journal,
    profileId: context.profile?.id,
    dryRun,
    timeoutInMs: context.timeoutInMs,
    pollIntervalInMs: Math.min(10_000, Math.max(250, context.timeoutInMs / 10)),
    sleep: io.sleep,
    inflight: new Map([...context.inflight].map(([key, value]) => [key, value])),
  };
  const planLines: string[] = [];
  let stoppedBy: unknown;
  let stopReason: string | undefined;
  let number = 0;
  try {
    for await (const wave of waves(context, options.wave)) {
      number++;
      const result = await runWave(wave, waveOptions);
      for (const outcome of result.outcomes) {
        run.providers.gates.get(outcome.target as Target)?.mailboxFinished();
        progress.record(outcome);
        await report?.add(outcome);
        if (dryRun) planLines.push(planLine(outcome));
      }
      stopReason = verdict(number, result.outcomes, result.failures, context);
      if (stopReason) break;
    }
  } catch (error) {
    stoppedBy = error;
  } finally {
    progress.finish();
  }
  const paceWarning = run.providers.rememberPaces();
  if (paceWarning) io.stderr.write(`${paceWarning}\n`);
  if (stopReason) io.stderr.write(`Run stopped: ${stopReason}\n`);
  if (dryRun && withReport && options.output === 'text' && !io.quiet && planLines.length > 0)
    io.stdout.write(`${planLines.join('\n')}\n`);
  const exitCode = exitCodeFor({ counts: progress.counts, error: stoppedBy, stoppedEarly: stopReason !== undefined });
  const durationInMs = Math.round(io.clock() - startedAt.getTime());
  const result: ExecuteResult = { counts: progress.counts, mailboxes: progress.mailboxes, exitCode, durationInMs };
  if (journal && report) {
    await journal.end({ counts: progress.counts, exitCode, stoppedBy, stopReason });
    const info = runInfo(
      options,
      run,
      { dryRun },
      startedAt,
      durationInMs,
      progress.counts,
      progress.mailboxes,
      exitCode,
      stoppedBy ?? stopReason,
      io,
    );
    info.journal = { file: 'journal.jsonl', entries: journal.entries, lastHash: journal.lastHash };
    info.migration = {
      wave: options.wave,
      maxFailures: context.limit.text,
      timeoutInS: context.timeoutInMs / 1000,
      emailServerProfile: context.profile ? `${context.profile.name} (${context.profile.id})` : null,
    };
    if (run.resume) info.resumed = [...run.resume.resumedAt, startedAt.toISOString()];
    result.files = await report.close(info);
    result.journal = { entries: journal.entries, lastHash: journal.lastHash };
  }
  if (stoppedBy instanceof AccessError || stoppedBy instanceof InputError) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  return result;
}

/** A dry run's line per mailbox: what would happen, or why nothing will. */
function planLine(outcome: MailboxOutcome): string {
  const what = outcome.error
    ? `${outcome.error.code}: ${outcome.error.message}. ${outcome.error.fix}`
    : outcome.changes.join('; ');
  return `${outcome.email || `"${outcome.displayName}"`}: ${outcome.outcome}: ${what}`;
}

/** After a wave: undefined to go on, or why the run stops (each failed mailbox, where to read why). */
function verdict(
  number: number,
  outcomes: readonly MailboxOutcome[],
  failures: readonly MailboxOutcome[],
  context: MigrateContext,
): string | undefined {
  const tried = outcomes.filter((o) => o.outcome !== 'not-ready' && o.record).length;
  const allowed = allowedFailures(context.limit, tried);
  if (failures.length <= allowed) return undefined;
  const lines = failures.map((o) => {
    const status = o.record?.after?.labels.incomingEmailStatus ?? o.record?.before.labels.incomingEmailStatus ?? '?';
    return `  ${o.email}: ${o.error?.code}: Incoming Email Status "${status}": ${o.error?.message}. ${o.error?.fix}`;
  });
  return [
    `wave ${number}: ${failures.length} of ${tried} mailboxes failed, more than --max-failures ` +
      `${context.limit.text} allows (${allowed}); no further wave was started:`,
    ...lines,
  ].join('\n');
}
