import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Mailbox } from '../core/mailbox.js';
import type { OutcomeName } from '../core/outcome.js';
import type { Mode } from '../core/plan.js';
import type { RuleSpec } from '../core/rule.js';
import { loadRuleTemplate, type RuleTemplate } from '../input/rule-template.js';
import { loadConfig, type Config } from '../input/config.js';
import { validateUsersFile, type UsersFileOptions, type UsersFileSummary } from '../input/users-csv.js';
import { toolVersion } from '../paths.js';
import { createProviders, supportedTargets, type ProviderSet } from '../providers/index.js';
import type { ReportFiles } from '../report/report-writer.js';
import type { RunInfo } from '../report/run-info.js';
import type { CliIO } from '../cli/io.js';
import { resolveSettings, type CommandName, type RunFlags, type RunSettings } from '../cli/settings.js';

/** How late the event loop ran (reported with --output json: a busy client reads 429s late). */
export const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 });

/** Everything validated and built before the first request. */
export interface PreparedRun {
  settings: RunSettings;
  /** The config with the flag and environment overrides applied. */
  config: Config;
  template: RuleTemplate;
  users: UsersFileSummary;
  usersOptions: UsersFileOptions;
  providers: ProviderSet;
  desiredRuleFor(mailbox: Mailbox): RuleSpec;
}

export async function prepare(command: CommandName, flags: RunFlags, io: CliIO): Promise<PreparedRun> {
  const settings = resolveSettings(command, flags, await loadConfig(flags.config));
  const config = settings.effective;
  const template = await loadRuleTemplate(config.templatePath);
  const rendered = new Map<string, RuleSpec>();
  const desiredRuleFor = (mailbox: Mailbox) => {
    const key = mailbox.sink.toLowerCase();
    let rule = rendered.get(key);
    if (!rule)
      rendered.set(
        key,
        (rule = template.render({
          sink: mailbox.sink,
          sinkName: config.sinkDisplayName,
          ruleName: config.rule.displayName,
        })),
      );
    return rule;
  };
  // probe and preflight only read: manual rows get verify's instructions.
  const mode: Mode = command === 'probe' || command === 'preflight' ? 'verify' : command;
  const providers = createProviders({ config, env: io.env, clock: io.clock, sleep: io.sleep, mode, desiredRuleFor });
  const usersOptions: UsersFileOptions = {
    sink: config.sink,
    defaultTarget: config.defaultTarget,
    supportedTargets,
    checkRow: (mailbox) => providers.get(mailbox.target).checkMailbox?.(mailbox),
  };
  const users = await validateUsersFile(flags.users, usersOptions);
  return { settings, config, template, users, usersOptions, providers, desiredRuleFor };
}

export interface ExecuteResult {
  counts: Partial<Record<OutcomeName, number>>;
  mailboxes: number;
  exitCode: number;
  files?: ReportFiles;
  durationInMs: number;
}

export function runInfo(
  run: PreparedRun,
  pass: { dryRun: boolean },
  startedAt: Date,
  durationInMs: number,
  counts: Partial<Record<OutcomeName, number>>,
  mailboxes: number,
  exitCode: number,
  stoppedBy: string | null,
  io: CliIO,
): RunInfo {
  return {
    command: run.settings.command,
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
    backEnds: Object.fromEntries(
      [...run.providers.providers].map(([target, provider]) => [target, provider.describe()]),
    ),
    mailboxes,
    counts,
    exitCode,
    stoppedBy,
    ...(run.config.probe &&
    (run.settings.command === 'probe' || run.settings.probe || run.settings.canary !== undefined)
      ? { probe: { from: run.config.probe.from, timeoutInS: run.config.probe.timeoutInS } }
      : {}),
    ...(run.settings.command === 'deploy' && run.settings.canary !== undefined ? { canary: run.settings.canary } : {}),
  };
}

export function printSummary(options: RunSettings, run: PreparedRun, result: ExecuteResult, io: CliIO): void {
  if (options.output === 'json') {
    const backEnds = Object.fromEntries(
      [...run.providers.gates].map(([target, gate]) => [
        target,
        { ...gate.stats, finalRequestsPerSecond: Math.round(gate.requestsPerSecond) },
      ]),
    );
    const summary = {
      command: options.command,
      dryRun: options.dryRun,
      exitCode: result.exitCode,
      mailboxes: result.mailboxes,
      counts: result.counts,
      durationInMs: result.durationInMs,
      backEnds,
      peakRssInMb: Math.round(process.resourceUsage().maxRSS / 1024),
      cpuInS: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10,
      eventLoopDelayP99InMs: Math.round(eventLoopDelay.percentile(99) / 1e6),
      report: result.files ?? null,
    };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
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

export function defaultReportDir(command: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return path.resolve(`sinkrule-report-${command}-${stamp}`);
}
