import { mkdir } from 'node:fs/promises';
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
import { openMailboxSource, staleSelection, type MailboxSource } from '../input/mailbox-source.js';
import { toolVersion } from '../paths.js';
import { createProviders, supportedTargets, type ProviderSet } from '../providers/index.js';
import { ReportWriter, type ReportFiles } from '../report/report-writer.js';
import type { RunInfo } from '../report/run-info.js';
import type { CliIO } from '../cli/io.js';
import { Progress } from '../cli/progress.js';
import { exitCodeFor } from '../cli/exit-code.js';
import { resolveSettings, type RunFlags, type RunSettings } from '../cli/settings.js';
import { Journal } from '../report/journal.js';
import { ForwardingInventory } from '../report/inventory.js';
import { runIdentity, sha256OfFile } from './identity.js';
import { loadResume, type ResumePoint } from './resume.js';
import { internalDomainsFor } from './domains.js';

/** How late the event loop ran (reported with --output json: a busy client reads 429s late). */
const eventLoopDelay = monitorEventLoopDelay({ resolution: 10 });

/** Everything validated and built before the first request. */
export interface PreparedRun {
  settings: RunSettings;
  /** The config with the flag and environment overrides applied. */
  config: Config;
  template: RuleTemplate;
  source: MailboxSource;
  providers: ProviderSet;
  desiredRuleFor(mailbox: Mailbox): RuleSpec;
  configSha256: string;
  commandLine: string[];
  /** --resume: what the interrupted run finished. */
  resume?: ResumePoint;
}

/** deploy, verify and remove: validate everything, (confirm), run, report. Returns the exit code. */
export async function runCommand(command: Mode, flags: RunFlags, io: CliIO, commandLine: string[] = []): Promise<number> {
  eventLoopDelay.enable();
  const run = await prepare(command, flags, io, commandLine);
  const options = run.settings;
  const mutating = options.command !== 'verify';
  const mustAsk = mutating && !options.dryRun && !options.yes;
  if (mustAsk && !io.stdinIsTTY) {
    throw new InputError([
      `refusing to ${options.command} rules in ${mailboxCount(run)} without confirmation, and there is no terminal to ask on: pass --yes to confirm, or --dry-run to see what would change`,
    ]);
  }
  await Promise.all([...run.providers.providers.values()].map((provider) => provider.open(io.signal)));
  if (mustAsk) {
    const plan = await execute(options, run, io, { dryRun: true, label: 'reading' });
    const pending = (plan.counts['would-create'] ?? 0) + (plan.counts['would-update'] ?? 0) + (plan.counts['would-remove'] ?? 0);
    io.stderr.write(`Plan for ${plan.mailboxes} mailboxes: ${formatCounts(plan.counts)}\n`);
    if (pending > 0 && !(await io.confirm(`Apply these changes to ${pending} mailboxes?`))) {
      io.stderr.write('Cancelled: nothing was changed.\n');
      return 0;
    }
  }
  const result = await execute(options, run, io, { dryRun: options.dryRun, label: options.command, report: true });
  printSummary(options, run, result, io);
  return result.exitCode;
}

/**
 * Every check that runs before the first request (config, rule template, users file, routes,
 * manual instruction placeholders), with no network: `sinkrule validate` runs exactly this.
 */
export async function prepare(command: Mode, flags: RunFlags, io: CliIO, commandLine: string[]): Promise<PreparedRun> {
  const settings = resolveSettings(command, flags, await loadConfig(flags.config));
  const configSha256 = await sha256OfFile(flags.config);
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
  const source = await openMailboxSource({
    users: flags.users,
    fromDataverse: flags.fromDataverse,
    stale: staleSelection(flags),
    config,
    supportedTargets,
    checkRow: (mailbox) => providers.get(mailbox.target).checkMailbox?.(mailbox),
    env: io.env,
    clock: io.clock,
    sleep: io.sleep,
    signal: io.signal,
    onRetry: (error, delayInMs) => io.stderr.write(`${describeError(error)}; retrying in ${Math.ceil(delayInMs / 1000)} s\n`),
  });
  for (const warning of source.forwardMailbox?.warnings ?? []) io.stderr.write(`Warning: forward mailbox ${source.sink}: ${warning}\n`);
  for (const target of source.targets) providers.get(target); // each is opened (credentials checked) before the first mailbox
  // A Dataverse read has no SHA-256 before it is read: a resumed run reads Dynamics 365 again and skips what was finished.
  const resume = flags.resume ? await loadResume(flags.resume, { command, dryRun: flags.dryRun, report: flags.report, inputSha256: source.describe().sha256, configSha256 }) : undefined;
  if (resume) settings.report = resume.dir;
  return { settings, config, template, source, providers, desiredRuleFor, configSha256, commandLine, resume };
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

interface ExecuteResult {
  counts: Partial<Record<OutcomeName, number>>;
  mailboxes: number;
  exitCode: number;
  files?: ReportFiles;
  durationInMs: number;
  journal?: { entries: number; lastHash: string };
}

async function execute(
  options: RunSettings,
  run: PreparedRun,
  io: CliIO,
  pass: { dryRun: boolean; label: string; report?: boolean },
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
    const runEntry = { command: options.command, dryRun: pass.dryRun, startedAt: startedAt.toISOString(), ruleName: run.config.rule.displayName, identity, input: run.source.describe() };
    await journal.append({ type: run.resume ? 'resume' : 'start', run: runEntry });
    if (options.inventory && options.command === 'verify') inventory = new ForwardingInventory(dir, await internalDomainsFor(run.providers, run.config, io));
    report = await ReportWriter.open(dir, { journal, inventory });
  }
  const progress = new Progress(io, pass.label, run.source.rows, run.providers.gates);
  for await (const row of run.resume?.rows() ?? []) {
    progress.record(row);
    await report?.replay(row);
  }
  let stoppedBy: unknown;
  try {
    await runMailboxes(pendingMailboxes(run), {
      mode: options.command,
      dryRun: pass.dryRun,
      providerFor: (mailbox) => run.providers.get(mailbox.target),
      concurrencyFor: run.providers.concurrencyFor,
      desiredRuleFor: run.desiredRuleFor,
      retry: { ...run.config.retry, sleep: io.sleep },
      clock: io.clock,
      signal: io.signal,
      journal,
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
  let files: ReportFiles | undefined;
  if (report && journal) {
    await journal.append({ type: 'end', counts: progress.counts as Record<string, number>, exitCode, stoppedBy: stoppedBy === undefined ? null : describeError(stoppedBy) });
    await journal.close();
    const info = runInfo(options, run, pass, startedAt, durationInMs, progress.counts, exitCode, stoppedBy, io);
    info.journal = { file: 'journal.jsonl', entries: journal.entries, lastHash: journal.lastHash };
    if (run.resume) info.resumed = [...run.resume.resumedAt, startedAt.toISOString()];
    if (inventory) info.inventory = { file: inventory.file, rows: inventory.rows, internalDomains: inventory.domains.domains, domainsSource: inventory.domains.source };
    // Reports are written whenever a mailbox was reached, even when the run stopped early.
    if (mailboxes > 0 || stoppedBy === undefined) files = await report.close(info);
  }
  if (stoppedBy instanceof AccessError || stoppedBy instanceof InputError) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  return { counts: progress.counts, mailboxes, exitCode, files, durationInMs, journal: journal && { entries: journal.entries, lastHash: journal.lastHash } };
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
    identity: runIdentity(run, io),
    sink: run.source.sink,
    sinks: run.source.sinks(),
    ruleName: run.config.rule.displayName,
    template: { file: run.template.file, sha256: run.template.sha256 },
    input: run.source.describe(),
    ...(run.source.forwardMailbox ? { forwardMailbox: run.source.forwardMailbox } : {}),
    backEnds: Object.fromEntries([...run.providers.providers].map(([target, provider]) => [target, provider.describe()])),
    mailboxes: Object.values(counts).reduce((a, b) => a + b, 0),
    counts,
    exitCode,
    stoppedBy: stoppedBy === undefined ? null : describeError(stoppedBy),
  };
}

function printSummary(options: RunSettings, run: PreparedRun, result: ExecuteResult, io: CliIO): void {
  if (options.output === 'json') {
    const backEnds = Object.fromEntries([...run.providers.gates].map(([target, gate]) => [target, { ...gate.stats, pacing: gate.pacingState, finalRequestsPerSecond: Math.round(gate.requestsPerSecond) }]));
    const summary = { command: options.command, dryRun: options.dryRun, exitCode: result.exitCode, mailboxes: result.mailboxes, counts: result.counts, durationInMs: result.durationInMs, journal: result.journal ?? null, backEnds, peakRssInMb: Math.round(process.resourceUsage().maxRSS / 1024), cpuInS: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10, eventLoopDelayP99InMs: Math.round(eventLoopDelay.percentile(99) / 1e6), report: result.files ?? null };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  if (io.quiet) return;
  const lines = [
    `sinkrule ${options.command}${options.dryRun ? ' (dry run: nothing was changed)' : ''}: ${result.mailboxes}${run.source.rows === undefined ? '' : ` of ${run.source.rows}`} mailboxes in ${(result.durationInMs / 1000).toFixed(1)} s`,
    `  ${formatCounts(result.counts)}`,
    result.files ? `  report: ${result.files.html}` : '',
    result.journal ? `  journal: ${result.journal.entries} entries, last SHA-256 ${result.journal.lastHash} (keep it with the change record; sinkrule audit verify checks the folder against it)` : '',
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
