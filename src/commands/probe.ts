import pLimit from 'p-limit';
import { InputError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import { emptyOutcome, type MailboxOutcome } from '../core/outcome.js';
import { planMailbox } from '../core/plan.js';
import { explainFromRules, probeNotRun, Prober, type ProbeSettings } from '../core/probe.js';
import { readMailboxes } from '../input/users-csv.js';
import { ReportWriter } from '../report/report-writer.js';
import type { CliIO } from '../cli/io.js';
import { exitCodeFor } from '../cli/exit-code.js';
import { Progress } from '../cli/progress.js';
import type { RunFlags } from '../cli/settings.js';
import { defaultReportDir, prepare, printSummary, runInfo, type PreparedRun } from './run-command.js';

/** The config's probe section, checked: the run needs it, and test mail must not come from a sink. */
export function requireProbeSettings(run: PreparedRun): ProbeSettings {
  const probe = run.config.probe;
  if (!probe) {
    throw new InputError([
      `${run.config.file}: probe: missing: add "probe": {"from": "sinkrule-probe@contoso.com"} naming a mailbox the app may send as (application permission Mail.Send), not the sink`,
    ]);
  }
  const sinks = new Set([run.config.sink, ...run.users.sinks].map((s) => s.toLowerCase()));
  if (sinks.has(probe.from.toLowerCase())) {
    throw new InputError([`${run.config.file}: probe.from: ${probe.from} is a sink: the rule's exception skips mail from the sink, so every probe would fail: use another mailbox`]);
  }
  return { from: probe.from, timeoutInMs: probe.timeoutInS * 1000, pollIntervalInMs: probe.pollIntervalInMs };
}

/**
 * Returns what runs after a mailbox's outcome to add the live probe to it: Graph mailboxes are
 * probed (their provider has mail access), all others get probe-not-run with how to check by hand.
 */
export function probeStep(run: PreparedRun, io: CliIO): (outcome: MailboxOutcome) => Promise<void> {
  const settings = requireProbeSettings(run);
  let prober: Prober | undefined;
  const proberFor = () => {
    const graph = run.providers.get('graph');
    if (graph.kind !== 'api' || !graph.mail) return undefined;
    return (prober ??= new Prober({
      ...settings,
      mail: graph.mail,
      clock: io.clock,
      sleep: io.sleep,
      retry: run.config.retry,
      signal: io.signal,
      explainMissing: async (mailbox) => {
        const state = await graph.readRules(mailbox, io.signal);
        return explainFromRules(state.rules, planMailbox('verify', state.rules, run.desiredRuleFor(mailbox)));
      },
    }));
  };
  return async (outcome) => {
    const mailbox = mailboxOf(outcome);
    const probe = mailbox.target === 'graph' ? proberFor() : undefined;
    outcome.probe = probe ? await probe.probe(mailbox) : probeNotRun(mailbox, io.clock);
  };
}

function mailboxOf(outcome: MailboxOutcome): Mailbox {
  return { email: outcome.email, displayName: outcome.displayName, target: outcome.target as Mailbox['target'], sink: outcome.sink, line: outcome.line };
}

/** `sinkrule probe`: the live test for each mailbox (or a sample), one report. */
export async function runProbeCommand(flags: RunFlags, io: CliIO): Promise<number> {
  const run = await prepare('probe', flags, io);
  requireProbeSettings(run);
  const rows = await selectForProbe(run, flags.sample);
  if (rows.some((row) => row.target === 'graph')) await run.providers.get('graph').open(io.signal);
  const step = probeStep(run, io);
  const startedAt = new Date(io.clock());
  const report = await ReportWriter.open(run.settings.report ?? defaultReportDir('probe', startedAt));
  const progress = new Progress(io, 'probe', rows.length, run.providers.gates.values());
  const limit = pLimit(run.providers.concurrencyFor('graph'));
  let stoppedBy: unknown;
  try {
    await Promise.all(
      rows.map((mailbox) =>
        limit(async () => {
          if (io.signal?.aborted || stoppedBy !== undefined) return;
          const started = io.clock();
          const outcome = emptyOutcome(mailbox);
          await step(outcome);
          outcome.outcome = outcome.probe!.outcome;
          outcome.durationInMs = Math.round(io.clock() - started);
          progress.record(outcome);
          await report.add(outcome);
        }).catch((error: unknown) => {
          stoppedBy ??= error;
        }),
      ),
    );
  } finally {
    progress.finish();
  }
  const exitCode = exitCodeFor({ counts: progress.counts, error: stoppedBy });
  const durationInMs = Math.round(io.clock() - startedAt.getTime());
  const stopped = stoppedBy === undefined ? null : stoppedBy instanceof Error ? stoppedBy.message : String(stoppedBy);
  const files = progress.mailboxes > 0 || stoppedBy === undefined ? await report.close(runInfo(run, { dryRun: false }, startedAt, durationInMs, progress.counts, progress.mailboxes, exitCode, stopped, io)) : undefined;
  if (stoppedBy !== undefined && exitCode === 1) throw stoppedBy;
  printSummary(run.settings, run, { counts: progress.counts, mailboxes: progress.mailboxes, exitCode, files, durationInMs }, io);
  return exitCode;
}

/**
 * The rows to probe: every row (non-Graph ones are reported probe-not-run), or with --sample N,
 * N Graph mailboxes spread evenly over the file.
 */
async function selectForProbe(run: PreparedRun, sample: number | undefined): Promise<Mailbox[]> {
  const rows: Mailbox[] = [];
  for await (const mailbox of readMailboxes(run.users.file, run.usersOptions)) {
    if (sample === undefined || mailbox.target === 'graph') rows.push(mailbox);
  }
  return sample === undefined ? rows : spread(rows, sample);
}

/** N items spread evenly over the list (the first, then every len/N-th). */
export function spread<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}
