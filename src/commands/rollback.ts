import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describeError, InputError, AccessError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { MailboxOutcome, OutcomeName } from '../core/outcome.js';
import { emptyOutcome, mailboxOf } from '../core/outcome.js';
import { rollbackMailbox, type RollbackMailbox } from '../core/rollback.js';
import { rollbackMigration, type MigrationRollbackMailbox } from '../core/migration-rollback.js';
import { openRecords } from './migrate.js';
import { runMailboxes } from '../core/runner.js';
import type { RuleSpec } from '../core/rule.js';
import { loadConfig } from '../input/config.js';
import { loadRuleTemplate } from '../input/rule-template.js';
import { createProviders, type ProviderSet } from '../providers/index.js';
import { auditReportFolder } from '../report/audit.js';
import { journalFileName, journalLines, Journal } from '../report/journal.js';
import { ReportWriter } from '../report/report-writer.js';
import type { InputInfo, RunInfo } from '../report/run-info.js';
import { toolVersion } from '../paths.js';
import type { MailboxRecords } from '../providers/dataverse-records.js';
import { effectiveConfig, type RollbackFlags } from '../common/settings.js';
import type { CliIO } from '../common/io.js';
import { Progress } from '../common/progress.js';
import { exitCodeFor } from '../common/exit-code.js';
import { defaultReportDir, formatCounts } from './run-command.js';
import { runIdentity, sha256OfFile } from './identity.js';

interface SourceRun {
  dir: string;
  command: string;
  startedAt: string;
  ruleName: string;
  lastHash: string;
  input: InputInfo;
}

/**
 * `sinkrule rollback --report DIR`: brings every mailbox of that run back to the recorded
 * before-state of sinkrule's rules, only where the mailbox still holds what the run left
 * (otherwise `conflict`, nothing written). Refuses a folder that fails `audit verify`.
 */
export async function runRollback(flags: RollbackFlags, io: CliIO, commandLine: string[]): Promise<number> {
  const source = await readSource(flags.report);
  const config = effectiveConfig(flags, await loadConfig(flags.config));
  const template = await loadRuleTemplate(config.templatePath);
  const desiredRuleFor = (mailbox: Mailbox): RuleSpec =>
    template.render({ sink: mailbox.sink, sinkName: config.sinkDisplayName, ruleName: source.ruleName });
  const providers = createProviders({
    config,
    env: io.env,
    clock: io.clock,
    sleep: io.sleep,
    mode: 'deploy',
    desiredRuleFor,
  });
  for await (const mailbox of recordedMailboxes(source)) providers.get(mailbox.target);
  const mustAsk = !flags.dryRun && !flags.yes;
  if (mustAsk && !io.stdinIsTTY) {
    throw new InputError([
      `refusing to roll back ${source.input.rows} mailboxes without confirmation, and there is no terminal ` +
        `to ask on: pass --yes to confirm, or --dry-run to see what would change`,
    ]);
  }
  await Promise.all([...providers.providers.values()].map((provider) => provider.open(io.signal)));
  // A migrate run also changed Dynamics 365 mailbox records: rollback puts those back too.
  const records = source.command === 'migrate' ? openRecords(config, io) : undefined;
  const context = {
    source,
    flags,
    providers,
    config,
    commandLine,
    configSha256: await sha256OfFile(flags.config),
    records,
  };
  if (mustAsk) {
    const plan = await pass(context, io, true);
    io.stderr.write(`Rollback plan for ${plan.mailboxes} mailboxes: ${formatCounts(plan.counts)}\n`);
    const pending = plan.counts['would-restore'] ?? 0;
    if (pending === 0 || !(await io.confirm(`Restore sinkrule's rules in ${pending} mailboxes?`))) {
      io.stderr.write(pending === 0 ? 'Nothing to restore.\n' : 'Cancelled: nothing was changed.\n');
      return plan.counts.conflict || plan.counts.failed ? 2 : 0;
    }
  }
  const result = await pass(context, io, flags.dryRun, flags.out ?? defaultReportDir('rollback', new Date(io.clock())));
  if (flags.output === 'json')
    io.stdout.write(
      `${JSON.stringify({ command: 'rollback', dryRun: flags.dryRun, of: source.dir, ...result }, null, 2)}\n`,
    );
  else if (!io.quiet) {
    io.stdout.write(
      [
        `sinkrule rollback${flags.dryRun ? ' (dry run: nothing was changed)' : ''} of ${source.dir}: ` +
          `${result.mailboxes} mailboxes`,
        `  ${formatCounts(result.counts)}`,
        result.report ? `  report: ${path.join(result.report, 'report.html')}` : '',
        result.journal ? `  journal: ${result.journal.entries} entries, last SHA-256 ${result.journal.lastHash}` : '',
        `  exit code ${result.exitCode}` +
          (result.exitCode === 2 ? ' (some mailboxes are in conflict or failed: see the report)' : ''),
      ]
        .filter(Boolean)
        .join('\n') + '\n',
    );
  }
  return result.exitCode;
}

/** The run to undo, from its journal, after checking the folder was not changed. */
async function readSource(dir: string): Promise<SourceRun> {
  if (!existsSync(path.join(dir, journalFileName)))
    throw new InputError([`--report ${dir}: no ${journalFileName}: name the report folder of the run to undo`]);
  const audit = await auditReportFolder(dir);
  if (!audit.intact)
    throw new InputError([
      `--report ${dir}: the folder was changed after the run (${audit.problem}): rollback acts only on an ` +
        `intact record`,
    ]);
  for await (const { entry } of journalLines(dir)) {
    if (entry?.type !== 'start') break;
    const run = entry.run;
    if (run.dryRun || run.command === 'verify')
      throw new InputError([
        `--report ${dir}: that ${run.command}${run.dryRun ? ' --dry-run' : ''} run changed nothing: there is ` +
          `nothing to roll back`,
      ]);
    if (!run.ruleName) throw new InputError([`--report ${dir}: the journal does not record the rule name`]);
    return {
      dir,
      command: run.command,
      startedAt: run.startedAt,
      ruleName: run.ruleName,
      lastHash: audit.lastHash,
      input: run.input,
    };
  }
  throw new InputError([`--report ${dir}: the journal does not begin with the run it records`]);
}

/** The run's mailbox rows, streamed from its journal, with what it recorded. */
async function* recordedMailboxes(source: SourceRun): AsyncIterable<RollbackMailbox> {
  for await (const { entry } of journalLines(source.dir)) {
    if (entry?.type !== 'done') continue;
    const row = entry.row;
    yield {
      ...mailboxOf(row),
      recorded: { before: row.before, after: row.after },
      ruleName: source.ruleName,
      ...(row.record ? { migration: row.record } : {}),
    };
  }
}

interface PassResult {
  mailboxes: number;
  counts: Partial<Record<OutcomeName, number>>;
  exitCode: number;
  report?: string;
  journal?: { entries: number; lastHash: string };
}

interface RollbackContext {
  source: SourceRun;
  flags: RollbackFlags;
  providers: ProviderSet;
  config: Awaited<ReturnType<typeof loadConfig>>;
  commandLine: string[];
  configSha256: string;
  records?: MailboxRecords;
}

/** One pass over the mailboxes: a dry run for the question, or the real one with report and journal. */
async function pass(context: RollbackContext, io: CliIO, dryRun: boolean, dir?: string): Promise<PassResult> {
  const { source, providers, config } = context;
  const startedAt = new Date(io.clock());
  const identity = runIdentity(
    { providers, commandLine: context.commandLine, configSha256: context.configSha256, config },
    io,
  );
  if (dir) await mkdir(dir, { recursive: true });
  const journal = dir ? await Journal.open(dir, io.clock) : undefined;
  await journal?.append({
    type: 'start',
    run: {
      command: 'rollback',
      dryRun,
      startedAt: startedAt.toISOString(),
      ruleName: source.ruleName,
      identity,
      rollbackOf: { dir: path.resolve(source.dir), lastHash: source.lastHash },
      input: source.input,
    },
  });
  const report = dir ? await ReportWriter.open(dir, { journal }) : undefined;
  const progress = new Progress(io, dryRun ? 'reading' : 'rollback', source.input.rows, providers.gates);
  let stoppedBy: unknown;
  try {
    await runMailboxes(recordedMailboxes(source), {
      mode: 'deploy',
      dryRun,
      providerFor: (mailbox) => providers.get(mailbox.target),
      concurrencyFor: providers.concurrencyFor,
      desiredRuleFor: () => {
        throw new Error('rollback restores recorded rules, never the template');
      },
      retry: { ...config.retry, sleep: io.sleep },
      clock: io.clock,
      signal: io.signal,
      journal,
      processMailbox: async (mailbox, options) => {
        const provider = options.providerFor(mailbox);
        const migrated = mailbox as MigrationRollbackMailbox;
        if (provider.kind === 'api' && context.records && migrated.migration)
          return rollbackMigration(migrated, provider, options, context.records, journal);
        if (provider.kind === 'api') return rollbackMailbox(mailbox as RollbackMailbox, provider, options);
        return manualRow(mailbox);
      },
      onOutcome: async (outcome) => {
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
  if (journal && report) {
    await journal.end({ counts: progress.counts, exitCode, stoppedBy });
    const info: RunInfo = {
      command: 'rollback',
      dryRun,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date(io.clock()).toISOString(),
      durationInMs: Math.round(io.clock() - startedAt.getTime()),
      toolVersion,
      identity,
      sink: config.sink ?? '',
      sinks: [],
      ruleName: source.ruleName,
      template: { file: '(none: rollback restores the recorded rules)', sha256: '' },
      input: source.input,
      backEnds: Object.fromEntries([...providers.providers].map(([target, provider]) => [target, provider.describe()])),
      mailboxes,
      counts: progress.counts,
      exitCode,
      stoppedBy: stoppedBy === undefined ? null : describeError(stoppedBy),
      journal: { file: journalFileName, entries: journal.entries, lastHash: journal.lastHash },
      rollbackOf: {
        dir: path.resolve(source.dir),
        command: source.command,
        startedAt: source.startedAt,
        lastHash: source.lastHash,
      },
    };
    await report.close(info);
  }
  if (stoppedBy instanceof AccessError || stoppedBy instanceof InputError) throw stoppedBy;
  if (stoppedBy !== undefined) io.stderr.write(`Run stopped: ${describeError(stoppedBy)}\n`);
  return {
    mailboxes,
    counts: progress.counts,
    exitCode,
    report: dir,
    journal: journal && { entries: journal.entries, lastHash: journal.lastHash },
  };
}

/** A mailbox no API reaches: the person who made the rule by hand undoes it by hand. */
function manualRow(mailbox: Mailbox): MailboxOutcome {
  const outcome = emptyOutcome(mailbox);
  outcome.outcome = 'manual';
  outcome.notes = ["no API reaches this mailbox: undo the change by hand (the run's instructions say what was done)"];
  return outcome;
}
