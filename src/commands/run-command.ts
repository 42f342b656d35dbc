import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { MailboxOutcome, OutcomeName } from '../core/outcome.js';
import type { Mode } from '../core/plan.js';
import type { RuleSpec } from '../core/rule.js';
import { runMailboxes } from '../core/runner.js';
import { loadRuleTemplate, type RuleTemplate } from '../input/rule-template.js';
import { loadConfig, type Config } from '../input/config.js';
import { readMailboxes, validateUsersFile, type UsersFileOptions, type UsersFileSummary } from '../input/users-csv.js';
import { toolVersion } from '../paths.js';
import { createProviders, supportedTargets, type ProviderSet } from '../providers/index.js';
import { ReportWriter, type ReportFiles } from '../report/report-writer.js';
import type { RunInfo } from '../report/run-info.js';
import type { CliIO } from '../cli/io.js';
import { Progress } from '../cli/progress.js';
import { exitCodeFor } from '../cli/exit-code.js';
import { resolveSettings, type RunFlags, type RunSettings } from '../cli/settings.js';

/** How late the event loop ran (reported with --output json: a busy client reads 429s late). */
const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 });

/** Everything validated and built before the first request. */
interface PreparedRun {
  settings: RunSettings;
  /** The config with the flag and environment overrides applied. */
  config: Config;
  template: RuleTemplate;
  users: UsersFileSummary;
  usersOptions: UsersFileOptions;
  providers: ProviderSet;
  desiredRuleFor(mailbox: Mailbox): RuleSpec;
}

/** deploy, verify and remove: validate everything, (confirm), run, report. Returns the exit code. */
export async function runCommand(command: Mode, flags: RunFlags, io: CliIO): Promise<number> {
  eventLoopDelay.enable();
  const run = await prepare(command, flags, io);
  const options = run.settings;
  const mutating = options.command !== 'verify';
  const mustAsk = mutating && !options.dryRun && !options.yes;
  if (mustAsk && !io.stdinIsTTY) {
    throw new InputError([
      `refusing to ${options.command} rules in ${run.users.rows} mailboxes without confirmation, and there is no terminal to ask on: pass --yes to confirm, or --dry-run to see what would change`,
    ]);
  }
  await Promise.all([...run.providers.providers.values()].map((provider) => provider.open(io.signal)));
  if (mustAsk) {
    const plan = await execute(options, run, io, { dryRun: true, label: 'reading' });
    const pending = (plan.counts['would-create'] ?? 0) + (plan.counts['would-update'] ?? 0) + (plan.counts['would-remove'] ?? 0);
    io.stderr.write(`Plan for ${run.users.rows} mailboxes: ${formatCounts(plan.counts)}\n`);
    if (pending > 0 && !(await io.confirm(`Apply these changes to ${pending} mailboxes?`))) {
      io.stderr.write('Cancelled: nothing was changed.\n');
      return 0;
    }
  }
  const result = await execute(options, run, io, { dryRun: options.dryRun, label: options.command, report: true });
  printSummary(options, run, result, io);
  return result.exitCode;
}

async function prepare(command: Mode, flags: RunFlags, io: CliIO): Promise<PreparedRun> {
  const settings = resolveSettings(command, flags, await loadConfig(flags.config));
  const config = settings.effective;
  const template = await loadRuleTemplate(config.templatePath, `${config.file}: rule.template`);
  const rendered = new Map<string, RuleSpec>();
  const desiredRuleFor = (mailbox: Mailbox) => {
    const key = mailbox.sink.toLowerCase();
    let rule = rendered.get(key);
    if (!rule) rendered.set(key, (rule = template.render({ sink: mailbox.sink, sinkName: config.sinkDisplayName, ruleName: config.rule.displayName })));
    return rule;
  };
  const providers = createProviders({ config, env: io.env, clock: io.clock, sleep: io.sleep, mode: command, desiredRuleFor });
  const usersOptions: UsersFileOptions = {
    sink: config.sink,
    defaultTarget: config.defaultTarget,
    supportedTargets,
    checkRow: (mailbox) => providers.get(mailbox.target).checkMailbox?.(mailbox),
  };
  const users = await validateUsersFile(flags.users, usersOptions);
  return { settings, config, template, users, usersOptions, providers, desiredRuleFor };
}

interface ExecuteResult {
  counts: Partial<Record<OutcomeName, number>>;
  mailboxes: number;
  exitCode: number;
  files?: ReportFiles;
  durationInMs: number;
}

async function execute(
  options: RunSettings,
  run: PreparedRun,
  io: CliIO,
  pass: { dryRun: boolean; label: string; report?: boolean },
): Promise<ExecuteResult> {
  const startedAt = new Date(io.clock());
  const report = pass.report ? await ReportWriter.open(options.report ?? defaultReportDir(options.command, startedAt)) : undefined;
  const progress = new Progress(io, pass.label, run.users.rows, run.providers.gates.values());
  let stoppedBy: unknown;
  try {
    await runMailboxes(readMailboxes(run.users.file, run.usersOptions), {
      mode: options.command,
      dryRun: pass.dryRun,
      providerFor: (mailbox) => run.providers.get(mailbox.target),
      concurrencyFor: run.providers.concurrencyFor,
      desiredRuleFor: run.desiredRuleFor,
      retry: { ...run.config.retry, sleep: io.sleep },
      clock: io.clock,
      signal: io.signal,
      onOutcome: async (outcome: MailboxOutcome) => {
        progress.record(outcome);
        await report?.add(outcome);
      },
    });
  } catch (error) {
    stoppedBy = error;
  } finally {
    progress.finish();
  }
  const mailboxes = Object.values(progress.counts).reduce((a, b) => a + b, 0);
  const exitCode = exitCodeFor({ counts: progress.counts, error: stoppedBy });
  const durationInMs = Math.round(io.clock() - startedAt.getTime());
  // Reports are written whenever a mailbox was reached, even when the run stopped early.
  const files = report && (mailboxes > 0 || stoppedBy === undefined) ? await report.close(runInfo(options, run, pass, startedAt, durationInMs, progress.counts, exitCode, stoppedBy, io)) : undefined;
  if (stoppedBy instanceof AccessError || stoppedBy instanceof InputError) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  return { counts: progress.counts, mailboxes, exitCode, files, durationInMs };
}

function runInfo(
  options: RunSettings,
  run: PreparedRun,
  pass: { dryRun: boolean },
  startedAt: Date,
  durationInMs: number,
  counts: Partial<Record<OutcomeName, number>>,
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
    sink: run.config.sink,
    sinks: run.users.sinks,
    ruleName: run.config.rule.displayName,
    template: { file: run.template.file, sha256: run.template.sha256 },
    input: { file: path.resolve(run.users.file), sha256: run.users.sha256, rows: run.users.rows },
    backEnds: Object.fromEntries([...run.providers.providers].map(([target, provider]) => [target, provider.describe()])),
    mailboxes: Object.values(counts).reduce((a, b) => a + b, 0),
    counts,
    exitCode,
    stoppedBy: stoppedBy === undefined ? null : describeError(stoppedBy),
  };
}

function printSummary(options: RunSettings, run: PreparedRun, result: ExecuteResult, io: CliIO): void {
  if (options.output === 'json') {
    const backEnds = Object.fromEntries([...run.providers.gates].map(([target, gate]) => [target, { ...gate.stats, finalRequestsPerSecond: Math.round(gate.requestsPerSecond) }]));
    const summary = { command: options.command, dryRun: options.dryRun, exitCode: result.exitCode, mailboxes: result.mailboxes, counts: result.counts, durationInMs: result.durationInMs, backEnds, peakRssInMb: Math.round(process.resourceUsage().maxRSS / 1024), cpuInS: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10, eventLoopDelayP99InMs: Math.round(eventLoopDelay.percentile(99) / 1e6), report: result.files ?? null };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  if (io.quiet) return;
  const lines = [
    `sinkrule ${options.command}${options.dryRun ? ' (dry run: nothing was changed)' : ''}: ${result.mailboxes} of ${run.users.rows} mailboxes in ${(result.durationInMs / 1000).toFixed(1)} s`,
    `  ${formatCounts(result.counts)}`,
    result.files ? `  report: ${result.files.html}` : '',
    `  exit code ${result.exitCode}${result.exitCode === 2 ? ' (some mailboxes are not in the desired state: see the report)' : ''}`,
  ];
  io.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}

export function formatCounts(counts: Partial<Record<OutcomeName, number>>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([name, count]) => `${name} ${count}`).join(', ') : 'no mailboxes';
}

function defaultReportDir(command: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.resolve(`sinkrule-report-${command}-${stamp}`);
}
