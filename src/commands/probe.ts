import pLimit from 'p-limit';
import { describeError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import { emptyOutcome } from '../core/outcome.js';
import { ReportWriter } from '../report/report-writer.js';
import type { CliIO } from '../common/io.js';
import { exitCodeFor } from '../common/exit-code.js';
import { Progress } from '../common/progress.js';
import type { RunFlags } from '../common/settings.js';
import { prepare, readRows, sinksOf, type PreparedRun } from './prepare.js';
import { defaultReportDir, printSummary, runInfo } from './run-command.js';
import { probeStep, requireProbeSettings, spread } from './probe-step.js';

/** `sinkrule probe`: the live test for each mailbox (or a sample), one report. */
export async function runProbeCommand(flags: RunFlags, io: CliIO): Promise<number> {
  const run = await prepare('probe', flags, io);
  const settings = requireProbeSettings(run.config, sinksOf(run));
  const rows = await selectForProbe(run, flags.sample);
  if (rows.some((row) => row.target === 'graph')) await run.providers.get('graph').open(io.signal);
  const step = probeStep(run, settings, io);
  const startedAt = new Date(io.clock());
  const report = await ReportWriter.open(run.settings.report ?? defaultReportDir('probe', startedAt));
  const progress = new Progress(io, 'probe', rows.length, run.providers.gates);
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
  const info = runInfo(
    run.settings,
    run,
    { dryRun: false },
    startedAt,
    durationInMs,
    progress.counts,
    progress.mailboxes,
    exitCode,
    stoppedBy,
    io,
  );
  const files = progress.mailboxes > 0 || stoppedBy === undefined ? await report.close(info) : undefined;
  if (stoppedBy !== undefined && exitCode === 1) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  printSummary(
    run.settings,
    run,
    { counts: progress.counts, mailboxes: progress.mailboxes, exitCode, files, durationInMs },
    io,
  );
  return exitCode;
}

/**
 * The rows to probe: every row (non-Graph ones are reported probe-not-run), or with --sample N,
 * N Graph mailboxes spread evenly over the file.
 */
async function selectForProbe(run: PreparedRun, sample: number | undefined): Promise<Mailbox[]> {
  const rows: Mailbox[] = [];
  for await (const mailbox of readRows(run)) {
    if (sample === undefined || mailbox.target === 'graph') rows.push(mailbox);
  }
  return sample === undefined ? rows : spread(rows, sample);
}
