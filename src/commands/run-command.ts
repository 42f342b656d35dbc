import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { MailboxOutcome } from '../core/outcome.js';
import type { Mode } from '../core/plan.js';
import { runMailboxes } from '../core/runner.js';
import { readMailboxes } from '../input/users-csv.js';
import { ReportWriter } from '../report/report-writer.js';
import type { CliIO } from '../cli/io.js';
import { Progress } from '../cli/progress.js';
import { exitCodeFor } from '../cli/exit-code.js';
import type { RunFlags } from '../cli/settings.js';
import { defaultReportDir, eventLoopDelay, formatCounts, prepare, printSummary, runInfo, type ExecuteResult, type PreparedRun } from './prepared-run.js';
import { probeStep, requireProbeSettings } from './probe-step.js';

/** deploy, verify and remove: validate everything, (confirm), run, report. Returns the exit code. */
export async function runCommand(command: Mode, flags: RunFlags, io: CliIO): Promise<number> {
  eventLoopDelay.enable();
  const run = await prepare(command, flags, io);
  const options = run.settings;
  const canary = command === 'deploy' ? options.canary : undefined;
  const probing = canary !== undefined || (command === 'verify' && options.probe);
  if (canary !== undefined && options.dryRun) throw new InputError(['command line: --canary with --dry-run: a dry run writes nothing, so there is nothing to probe: drop one of them']);
  if (probing) requireProbeSettings(run);
  const mutating = options.command !== 'verify';
  const mustAsk = mutating && !options.dryRun && !options.yes;
  if (mustAsk && !io.stdinIsTTY) {
    throw new InputError([
      `refusing to ${options.command} rules in ${run.users.rows} mailboxes without confirmation, and there is no terminal to ask on: pass --yes to confirm, or --dry-run to see what would change`,
    ]);
  }
  await Promise.all([...run.providers.providers.values()].map((provider) => provider.open(io.signal)));
  if (mustAsk) {
    const plan = await execute(run, io, { dryRun: true, label: 'reading' });
    const pending = (plan.counts['would-create'] ?? 0) + (plan.counts['would-update'] ?? 0) + (plan.counts['would-remove'] ?? 0);
    io.stderr.write(`Plan for ${run.users.rows} mailboxes: ${formatCounts(plan.counts)}\n`);
    if (pending > 0 && !(await io.confirm(`Apply these changes to ${pending} mailboxes${canary ? `, the first ${canary} Graph mailboxes as a canary wave` : ''}?`))) {
      io.stderr.write('Cancelled: nothing was changed.\n');
      return 0;
    }
  }
  const probe = probing ? probeStep(run, io) : undefined;
  const waves = canary !== undefined ? await canaryWaves(run, canary, probe!) : [{ label: options.command, afterEach: probe }];
  const result = await execute(run, io, { dryRun: options.dryRun, label: options.command, report: true, waves });
  printSummary(options, run, result, io);
  return result.exitCode;
}

/** A part of the run: the rows it covers, what happens after each mailbox, whether the next wave may start. */
export interface Wave {
  label: string;
  include?: (mailbox: Mailbox) => boolean;
  afterEach?: (outcome: MailboxOutcome) => Promise<void>;
  /** After the wave: undefined to go on, or why the run stops here. */
  verdict?: () => string | undefined;
}

async function execute(run: PreparedRun, io: CliIO, pass: { dryRun: boolean; label: string; report?: boolean; waves?: Wave[] }): Promise<ExecuteResult> {
  const options = run.settings;
  const startedAt = new Date(io.clock());
  const report = pass.report ? await ReportWriter.open(options.report ?? defaultReportDir(options.command, startedAt)) : undefined;
  const progress = new Progress(io, pass.label, run.users.rows, run.providers.gates.values());
  let stoppedBy: unknown;
  let stopReason: string | undefined;
  try {
    for (const wave of pass.waves ?? [{ label: pass.label }]) {
      await runMailboxes(selectMailboxes(run, wave.include), {
        mode: run.settings.command as Mode,
        dryRun: pass.dryRun,
        providerFor: (mailbox) => run.providers.get(mailbox.target),
        concurrencyFor: run.providers.concurrencyFor,
        desiredRuleFor: run.desiredRuleFor,
        retry: { ...run.config.retry, sleep: io.sleep },
        clock: io.clock,
        signal: io.signal,
        onOutcome: async (outcome: MailboxOutcome) => {
          await wave.afterEach?.(outcome);
          progress.record(outcome);
          await report?.add(outcome);
        },
      });
      stopReason = wave.verdict?.();
      if (stopReason) break;
    }
  } catch (error) {
    stoppedBy = error;
  } finally {
    progress.finish();
  }
  const mailboxes = progress.mailboxes;
  const exitCode = exitCodeFor({ counts: progress.counts, error: stoppedBy, stoppedEarly: stopReason !== undefined });
  const durationInMs = Math.round(io.clock() - startedAt.getTime());
  const stopped = stoppedBy === undefined ? (stopReason ?? null) : describeError(stoppedBy);
  if (stopReason) io.stderr.write(`Run stopped: ${stopReason}\n`);
  // Reports are written whenever a mailbox was reached, even when the run stopped early.
  const files = report && (mailboxes > 0 || stoppedBy === undefined) ? await report.close(runInfo(run, pass, startedAt, durationInMs, progress.counts, mailboxes, exitCode, stopped, io)) : undefined;
  if (stoppedBy instanceof AccessError || stoppedBy instanceof InputError) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  return { counts: progress.counts, mailboxes, exitCode, files, durationInMs };
}

/** The users file's rows, or those a wave covers (read again for each wave: nothing is kept in memory). */
async function* selectMailboxes(run: PreparedRun, include?: (mailbox: Mailbox) => boolean): AsyncGenerator<Mailbox> {
  for await (const mailbox of readMailboxes(run.users.file, run.usersOptions)) {
    if (!include || include(mailbox)) yield mailbox;
  }
}

/**
 * deploy --canary N: the first N Graph mailboxes of the file are deployed and probed; the rest
 * follow only when every canary probe succeeded, otherwise nothing else is written.
 */
async function canaryWaves(run: PreparedRun, size: number, probe: (outcome: MailboxOutcome) => Promise<void>): Promise<Wave[]> {
  const lines = new Set<number>();
  for await (const mailbox of readMailboxes(run.users.file, run.usersOptions)) {
    if (mailbox.target !== 'graph') continue;
    lines.add(mailbox.line);
    if (lines.size >= size) break;
  }
  if (lines.size === 0) throw new InputError([`${run.users.file}: --canary: no mailbox with target graph: the canary wave is proved by the live probe, which reaches Exchange Online (Graph) mailboxes only`]);
  const failures: string[] = [];
  const canary: Wave = {
    label: 'canary',
    include: (mailbox) => lines.has(mailbox.line),
    afterEach: async (outcome) => {
      outcome.canary = true;
      await probe(outcome);
      if (outcome.probe?.outcome !== 'probe-success') failures.push(`${outcome.email} (${outcome.outcome === 'failed' ? `deploy failed: ${outcome.error?.code}` : `${outcome.probe?.outcome}: ${outcome.probe?.reason}`})`);
    },
    verdict: () =>
      failures.length === 0
        ? undefined
        : `canary wave: ${failures.length} of ${lines.size} canary mailboxes did not pass the probe (${failures.slice(0, 5).join(', ')}${failures.length > 5 ? ', …' : ''}); the other ${run.users.rows - lines.size} mailboxes were not touched`,
  };
  return [canary, { label: 'rest', include: (mailbox) => !lines.has(mailbox.line) }];
}

