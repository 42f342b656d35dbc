import { describeError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { Mode } from '../core/plan.js';
import type { RuleSpec } from '../core/rule.js';
import { loadRuleTemplate, type RuleTemplate } from '../input/rule-template.js';
import { loadConfig, type Config } from '../input/config.js';
import { openMailboxSource, staleSelection, type MailboxSource } from '../input/mailbox-source.js';
import { createProviders, supportedTargets, type ProviderSet } from '../providers/index.js';
import { PaceMemory } from '../providers/pace-memory.js';
import type { CliIO } from '../common/io.js';
import { resolveSettings, type CommandName, type RunFlags, type RunSettings } from '../common/settings.js';
import { sha256OfFile } from './identity.js';
import { dataverseAccess } from './dataverse-access.js';
import { loadResume, type ResumePoint } from './resume.js';

// What every command that reads the mailboxes does first (deploy, verify, remove, probe, preflight,
// validate): the run prepared here is what the commands and their steps share.

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

/**
 * Every check that runs before the first request (config, rule template, users file, routes,
 * manual instruction placeholders), with no network: `sinkrule validate` runs exactly this.
 */
export async function prepare(
  command: CommandName,
  flags: RunFlags,
  io: CliIO,
  commandLine: string[] = [],
): Promise<PreparedRun> {
  const settings = resolveSettings(command, flags, await loadConfig(flags.config));
  const configSha256 = await sha256OfFile(flags.config);
  const config = settings.effective;
  const template = await loadRuleTemplate(config.templatePath, `${config.file}: rule.template`);
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
  // probe and preflight only read: manual rows get verify's instructions; migrate removes rules.
  const mode: Mode =
    command === 'probe' || command === 'preflight' ? 'verify' : command === 'migrate' ? 'remove' : command;
  const providers = createProviders({
    config,
    env: io.env,
    clock: io.clock,
    sleep: io.sleep,
    yieldToAnswers: io.yieldToAnswers,
    graphWireThread: io.graphWireThread,
    mode,
    desiredRuleFor,
    paceMemory: PaceMemory.open(io.env, io.clock),
  });
  const source = await openMailboxSource({
    ...dataverseAccess(config, io),
    users: flags.users,
    fromDataverse: flags.fromDataverse,
    stale: staleSelection(flags, command),
    supportedTargets,
    checkRow: (mailbox) => providers.get(mailbox.target).checkMailbox?.(mailbox),
    onRetry: (error, delayInMs) =>
      io.stderr.write(`${describeError(error)}; retrying in ${Math.ceil(delayInMs / 1000)} s\n`),
  });
  for (const warning of source.forwardMailbox?.warnings ?? [])
    io.stderr.write(`Warning: forward mailbox ${source.sink}: ${warning}\n`);
  if (source.byTarget) providers.expectMailboxes(source.byTarget);
  // Each back end is opened (credentials checked) before the first mailbox.
  for (const target of source.targets) providers.get(target);
  // A Dataverse read has no SHA-256 before it is read: a resumed run reads Dynamics 365 again and skips what was
  // finished.
  const resume = flags.resume
    ? await loadResume(flags.resume, {
        command,
        dryRun: flags.dryRun,
        report: flags.report,
        inputSha256: source.describe().sha256,
        configSha256,
      })
    : undefined;
  if (resume) {
    settings.report = resume.dir;
    honourInheritedWindows(resume, providers, io);
  }
  return { settings, config, template, source, providers, desiredRuleFor, configSha256, commandLine, resume };
}

/** The run's mailboxes, read afresh from their source (nothing is kept in memory). */
export function readRows(run: PreparedRun): AsyncIterable<Mailbox> {
  return run.source.read();
}

/** Every forward mailbox of the run, lower case: the config's and the rows' own. */
export function sinksOf(run: PreparedRun): string[] {
  return [
    ...new Set(
      [run.config.sink, ...run.source.sinks()]
        .filter((sink): sink is string => Boolean(sink))
        .map((sink) => sink.toLowerCase()),
    ),
  ];
}

/**
 * A run killed inside a Retry-After window leaves the window open at the service: the resumed
 * run sends nothing to that back end before it ends (exchange-facts.md: requests made while
 * throttled still count, and deepen the hole).
 */
function honourInheritedWindows(resume: ResumePoint, providers: ProviderSet, io: CliIO): void {
  providers.honourWindows(resume.windows);
  for (const [target, until] of Object.entries(resume.windows)) {
    const waitInMs = until - io.clock();
    if (waitInMs > 0)
      io.stderr.write(
        `${target}: the interrupted run was asked to wait until ${new Date(until).toISOString()}; ` +
          `waiting ${Math.ceil(waitInMs / 1000)} s before its first request\n`,
      );
  }
}
