import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import type { MailboxOutcome, OutcomeName } from '../core/outcome.js';
import type { Mode } from '../core/plan.js';
import { runMailboxes } from '../core/runner.js';
import { toolVersion } from '../paths.js';
import { ReportWriter, type ReportFiles } from '../report/report-writer.js';
import type { RunInfo } from '../report/run-info.js';
import type { CliIO } from '../common/io.js';
import { Progress } from '../common/progress.js';
import { exitCodeFor } from '../common/exit-code.js';
import type { RunFlags, RunSettings } from '../common/settings.js';
import { prepare, readRows, sinksOf, type PreparedRun } from './prepare.js';
import { probeStep, requireProbeSettings } from './probe-step.js';
import { Journal } from '../report/journal.js';
import { ForwardingInventory } from '../report/inventory.js';
import { runIdentity } from './identity.js';
import { internalDomainsFor } from './domains.js';
import { alertWatchFor, writePackAfterRun } from './soc-steps.js';
import type { AlertWatch } from '../soc/alert-watch.js';

/** How late the event loop ran (reported with --output json: a busy client reads 429s late). */
const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 });

/** deploy, verify and remove: validate everything, (confirm), run, report. Returns the exit code. */
export async function runCommand(
  command: Mode,
  flags: RunFlags,
  io: CliIO,
  commandLine: string[] = [],
): Promise<number> {
  eventLoopDelay.enable();
  const run = await prepare(command, flags, io, commandLine);
  const options = run.settings;
  const canary = command === 'deploy' ? options.canary : undefined;
  const probing = canary !== undefined || (command === 'verify' && options.probe);
  if (canary !== undefined && options.dryRun)
    throw new InputError([
      'command line: --canary with --dry-run: a dry run writes nothing, so there is nothing to probe: drop one of them',
    ]);
  const probeSettings = probing ? requireProbeSettings(run.config, sinksOf(run)) : undefined;
  const mutating = options.command !== 'verify';
  const mustAsk = mutating && !options.dryRun && !options.yes;
  if (mustAsk && !io.stdinIsTTY) {
    throw new InputError([
      `refusing to ${options.command} rules in ${mailboxCount(run)} without confirmation, and there is no ` +
        `terminal to ask on: pass --yes to confirm, or --dry-run to see what would change`,
    ]);
  }
  await Promise.all([...run.providers.providers.values()].map((provider) => provider.open(io.signal)));
  if (mustAsk) {
    const plan = await execute(options, run, io, { dryRun: true, label: 'reading' });
    const pending =
      (plan.counts['would-create'] ?? 0) + (plan.counts['would-update'] ?? 0) + (plan.counts['would-remove'] ?? 0);
    io.stderr.write(`Plan for ${plan.mailboxes} mailboxes: ${formatCounts(plan.counts)}\n`);
    if (
      pending > 0 &&
      !(await io.confirm(
        `Apply these changes to ${pending} ` +
          `mailboxes${canary ? `, the first ${canary} Graph mailboxes as a canary wave` : ''}?`,
      ))
    ) {
      io.stderr.write('Cancelled: nothing was changed.\n');
      return 0;
    }
  }
  const probe = probeSettings ? probeStep(run, probeSettings, io) : undefined;
  const watch = canary !== undefined ? alertWatchFor(run, io) : undefined;
  const waves = canary !== undefined ? await canaryWaves(run, canary, probe!, watch) : [{ afterEach: probe }];
  const result = await execute(options, run, io, {
    dryRun: options.dryRun,
    label: options.command,
    report: true,
    waves,
  });
  printSummary(options, run, result, io);
  if (result.files) await writePackAfterRun(options, run.config, result.files.dir, result.counts, io);
  return result.exitCode;
}

function mailboxCount(run: PreparedRun): string {
  return run.source.rows === undefined ? 'the mailboxes Dynamics 365 lists' : `${run.source.rows} mailboxes`;
}

/** The source's rows, less the ones a resumed run already finished. */
async function* pendingMailboxes(run: PreparedRun): AsyncIterable<Mailbox> {
  for await (const mailbox of run.source.read()) {
    if (!run.resume?.finished.has(mailbox.email.toLowerCase())) yield mailbox;
  }
}

export interface ExecuteResult {
  counts: Partial<Record<OutcomeName, number>>;
  mailboxes: number;
  exitCode: number;
  files?: ReportFiles;
  durationInMs: number;
  journal?: { entries: number; lastHash: string };
}

/** A part of the run: the rows it covers, what happens after each mailbox, whether the next wave may start. */
export interface Wave {
  include?: (mailbox: Mailbox) => boolean;
  afterEach?: (outcome: MailboxOutcome) => Promise<void>;
  /** After the wave: undefined to go on, or why the run stops here. */
  verdict?: () => string | undefined | Promise<string | undefined>;
  /** What the wave adds to the report's run section (deploy --canary: the Defender alerts seen). */
  runFacts?: () => Partial<RunInfo>;
}

async function execute(
  options: RunSettings,
  run: PreparedRun,
  io: CliIO,
  pass: { dryRun: boolean; label: string; report?: boolean; waves?: Wave[] },
): Promise<ExecuteResult> {
  const startedAt = new Date(io.clock());
  const dir = options.report ?? defaultReportDir(options.command, startedAt);
  const identity = pass.report ? runIdentity(run, io) : undefined;
  let journal: Journal | undefined;
  let inventory: ForwardingInventory | undefined;
  let report: ReportWriter | undefined;
  if (pass.report) {
    await mkdir(dir, { recursive: true });
    journal = await Journal.open(dir, io.clock, run.resume?.chain);
    const runEntry = {
      command: options.command,
      dryRun: pass.dryRun,
      startedAt: startedAt.toISOString(),
      ruleName: run.config.rule.displayName,
      identity,
      input: run.source.describe(),
    };
    await journal.append({ type: run.resume ? 'resume' : 'start', run: runEntry });
    const windows = journal;
    // Not awaited: a window stops every request for a second or more, far longer than the sync;
    // a journal that fails makes the next write's entry fail, which stops the run.
    run.providers.watchWindows((target, until) => {
      windows.append({ type: 'window', target, until: new Date(until).toISOString() }).catch(() => undefined);
    });
    if (options.inventory && options.command === 'verify')
      inventory = new ForwardingInventory(dir, await internalDomainsFor(run.providers, run.config, io));
    report = await ReportWriter.open(dir, { journal, inventory });
  }
  const progress = new Progress(io, pass.label, run.source.rows, run.providers.gates);
  for await (const row of run.resume?.rows() ?? []) {
    progress.record(row);
    await report?.replay(row);
  }
  let stoppedBy: unknown;
  let stopReason: string | undefined;
  try {
    for (const wave of pass.waves ?? [{}]) {
      await runMailboxes(selectMailboxes(run, wave.include), {
        mode: options.command as Mode,
        dryRun: pass.dryRun,
        providerFor: (mailbox) => run.providers.get(mailbox.target),
        concurrencyFor: run.providers.concurrencyFor,
        desiredRuleFor: run.desiredRuleFor,
        retry: { ...run.config.retry, sleep: io.sleep },
        clock: io.clock,
        signal: io.signal,
        journal,
        onOutcome: async (outcome: MailboxOutcome) => {
          await wave.afterEach?.(outcome);
          run.providers.gates.get(outcome.target as Target)?.mailboxFinished();
          progress.record(outcome);
          await report?.add(outcome);
        },
      });
      stopReason = await wave.verdict?.();
      if (stopReason) break;
    }
  } catch (error) {
    stoppedBy = error;
  } finally {
    progress.finish();
  }
  const paceWarning = run.providers.rememberPaces();
  if (paceWarning) io.stderr.write(`${paceWarning}\n`);
  const mailboxes = progress.mailboxes;
  const exitCode = exitCodeFor({ counts: progress.counts, error: stoppedBy, stoppedEarly: stopReason !== undefined });
  const durationInMs = Math.round(io.clock() - startedAt.getTime());
  if (stopReason) io.stderr.write(`Run stopped: ${stopReason}\n`);
  let files: ReportFiles | undefined;
  if (report && journal) {
    await journal.end({ counts: progress.counts, exitCode, stoppedBy, stopReason });
    const info = runInfo(
      options,
      run,
      pass,
      startedAt,
      durationInMs,
      progress.counts,
      mailboxes,
      exitCode,
      stoppedBy ?? stopReason,
      io,
    );
    info.journal = { file: 'journal.jsonl', entries: journal.entries, lastHash: journal.lastHash };
    for (const wave of pass.waves ?? []) Object.assign(info, wave.runFacts?.());
    if (run.resume) info.resumed = [...run.resume.resumedAt, startedAt.toISOString()];
    if (inventory)
      info.inventory = {
        file: inventory.file,
        rows: inventory.rows,
        internalDomains: inventory.domains.domains,
        domainsSource: inventory.domains.source,
      };
    // Reports are written whenever a mailbox was reached, even when the run stopped early.
    if (mailboxes > 0 || stoppedBy === undefined) files = await report.close(info);
  }
  if (stoppedBy instanceof AccessError || stoppedBy instanceof InputError) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  return {
    counts: progress.counts,
    mailboxes,
    exitCode,
    files,
    durationInMs,
    journal: journal && { entries: journal.entries, lastHash: journal.lastHash },
  };
}

/** The rows a wave covers that a resumed run has not finished yet (read again for each wave). */
async function* selectMailboxes(run: PreparedRun, include?: (mailbox: Mailbox) => boolean): AsyncGenerator<Mailbox> {
  for await (const mailbox of pendingMailboxes(run)) {
    if (!include || include(mailbox)) yield mailbox;
  }
}

/**
 * deploy --canary N: the first N Graph mailboxes of the file are deployed and probed; the rest
 * follow only when every canary probe succeeded, otherwise nothing else is written.
 */
async function canaryWaves(
  run: PreparedRun,
  size: number,
  probe: (outcome: MailboxOutcome) => Promise<void>,
  watch?: AlertWatch,
): Promise<Wave[]> {
  const lines = new Set<number>();
  for await (const mailbox of readRows(run)) {
    if (mailbox.target !== 'graph') continue;
    lines.add(mailbox.line);
    if (lines.size >= size) break;
  }
  if (lines.size === 0)
    throw new InputError([
      `--canary: no mailbox with target graph: the canary wave is proved by the live probe, which reaches ` +
        `Exchange Online (Graph) mailboxes only`,
    ]);
  const failures: string[] = [];
  const waveMailboxes = new Set<string>();
  const waveStartedAt = new Date();
  const canary: Wave = {
    include: (mailbox) => lines.has(mailbox.line),
    afterEach: async (outcome) => {
      outcome.canary = true;
      waveMailboxes.add(outcome.email.toLowerCase());
      await probe(outcome);
      if (outcome.probe?.outcome !== 'probe-success')
        failures.push(
          outcome.outcome === 'failed'
            ? `${outcome.email} (deploy failed: ${outcome.error?.code})`
            : `${outcome.email} (${outcome.probe?.outcome}: ${outcome.probe?.reason})`,
        );
    },
    verdict: async () =>
      failures.length === 0
        ? await watch?.afterWave(waveStartedAt, waveMailboxes)
        : `canary wave: ${failures.length} of ${lines.size} canary mailboxes did not pass the probe ` +
          `(${failures.slice(0, 5).join(', ')}${failures.length > 5 ? ', …' : ''}); the other mailboxes were ` +
          `not touched`,
    runFacts: () => (watch ? { alerts: watch.record() } : {}),
  };
  return [canary, { include: (mailbox) => !lines.has(mailbox.line) }];
}

export function runInfo(
  options: RunSettings,
  run: PreparedRun,
  pass: { dryRun: boolean },
  startedAt: Date,
  durationInMs: number,
  counts: Partial<Record<OutcomeName, number>>,
  mailboxes: number,
  exitCode: number,
  stoppedBy: unknown,
  io: CliIO,
): RunInfo {
  return {
    command: options.command,
    dryRun: pass.dryRun,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date(io.clock()).toISOString(),
    durationInMs,
    toolVersion,
    identity: runIdentity(run, io),
    sink: run.source.sink,
    sinks: run.source.sinks(),
    ruleName: run.config.rule.displayName,
    template: { file: run.template.file, sha256: run.template.sha256 },
    input: run.source.describe(),
    ...(run.source.forwardMailbox ? { forwardMailbox: run.source.forwardMailbox } : {}),
    backEnds: Object.fromEntries(
      [...run.providers.providers].map(([target, provider]) => [target, provider.describe()]),
    ),
    mailboxes,
    counts,
    exitCode,
    stoppedBy: stoppedBy === undefined ? null : describeError(stoppedBy),
    ...probeFacts(options, run),
  };
}

/** The run section's probe settings (probe, verify --probe, deploy --canary) and canary size. */
function probeFacts(options: RunSettings, run: PreparedRun): Pick<RunInfo, 'probe' | 'canary'> {
  const canary = options.command === 'deploy' ? options.canary : undefined;
  const probed = options.command === 'probe' || (options.command === 'verify' && options.probe) || canary !== undefined;
  return {
    ...(probed && run.config.probe
      ? { probe: { from: run.config.probe.from, timeoutInS: run.config.probe.timeoutInS } }
      : {}),
    ...(canary !== undefined ? { canary } : {}),
  };
}

export function printSummary(options: RunSettings, run: PreparedRun, result: ExecuteResult, io: CliIO): void {
  if (options.output === 'json') {
    const backEnds = Object.fromEntries(
      [...run.providers.gates].map(([target, gate]) => [
        target,
        {
          ...gate.stats,
          pacing: gate.pacingState,
          startedFrom: gate.start.from,
          startRequestsPerSecond: gate.start.requestsPerSecond,
          finalRequestsPerSecond: Math.round(gate.requestsPerSecond),
          // What the next run against this service starts from (null: this run learnt nothing).
          keptRequestsPerSecond: gate.learnedPace()?.requestsPerSecond ?? null,
          // The service refused a request sent faster than the pace: one request at a time, kept too.
          smallBurst: gate.smallBurst,
        },
      ]),
    );
    const summary = {
      command: options.command,
      dryRun: options.dryRun,
      exitCode: result.exitCode,
      mailboxes: result.mailboxes,
      counts: result.counts,
      durationInMs: result.durationInMs,
      journal: result.journal ?? null,
      backEnds,
      peakRssInMb: Math.round(process.resourceUsage().maxRSS / 1024),
      cpuInS: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10,
      eventLoopDelayP99InMs: Math.round(eventLoopDelay.percentile(99) / 1e6),
      report: result.files ?? null,
    };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  if (io.quiet) return;
  const lines = [
    `sinkrule ${options.command}${options.dryRun ? ' (dry run: nothing was changed)' : ''}: ` +
      `${result.mailboxes}${run.source.rows === undefined ? '' : ` of ${run.source.rows}`} mailboxes in ` +
      `${(result.durationInMs / 1000).toFixed(1)} s`,
    `  ${formatCounts(result.counts)}`,
    result.files ? `  report: ${result.files.html}` : '',
    result.journal
      ? `  journal: ${result.journal.entries} entries, last SHA-256 ${result.journal.lastHash} (keep it with ` +
        `the change record; sinkrule audit verify checks the folder against it)`
      : '',
    `  exit code ${result.exitCode}` +
      (result.exitCode === 2 ? ' (some mailboxes are not in the desired state: see the report)' : ''),
  ];
  io.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}

export function formatCounts(counts: Partial<Record<OutcomeName, number>>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([name, count]) => `${name} ${count}`).join(', ') : 'no mailboxes';
}

export function defaultReportDir(command: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.resolve(`sinkrule-report-${command}-${stamp}`);
}
