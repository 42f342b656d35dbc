import path from 'node:path';
import { createRequire } from 'node:module';
import yargs from 'yargs';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mode } from '../core/plan.js';
import { exitCodeFor } from '../common/exit-code.js';
import {
  earlyGlobalFlags,
  flagGroups,
  parseAuditFlags,
  parseFlags,
  parseRollbackFlags,
  parseRunFlags,
  yargsOptions,
  type GlobalFlags,
} from '../common/settings.js';
import type { CliIO } from '../common/io.js';
import { packageRoot, toolVersion } from '../paths.js';
import { socCommands } from './soc-commands.js';

const files = '--users users.csv --config sinkrule.config.json';
const runFolder = 'sinkrule-report-deploy-20261129-1401';

const pipelineExample = 'The same for a pipeline: {"valid": true, …} or {"error": …}';

export async function main(argv: string[], baseIO: CliIO): Promise<number> {
  // Read first, so that even a command line yargs rejects is answered in the format asked for.
  const early = earlyGlobalFlags(argv, baseIO.env);
  const io = withGlobals(baseIO, early);
  let exitCode = 0;
  const handlers = commandHandlers(io, argv, early);
  const parser = yargs(argv)
    .scriptName('sinkrule')
    .usage(
      '$0 <command> [options]\n\nDeploys, verifies and removes the Dynamics 365 forward-mailbox rule ' +
        '("forward as attachment to the sink") in every listed mailbox.',
    )
    .options(yargsOptions('global'))
    .command(
      'init',
      'Write sinkrule.config.json and users.csv, and print the app registration and Exchange RBAC steps for ' +
        'your values',
      (y) =>
        y
          .options(yargsOptions('init'))
          .example('$0 init', 'Ask for each value on the terminal')
          .example(
            '$0 init --tenant-id <tenant GUID> --client-id <app GUID> --sink crm-sink@contoso.com --auth ' +
              'certificate --certificate-path sinkrule.pfx',
            'No questions (scripts)',
          )
          .example(
            '$0 init --auth managed-identity --sink crm-sink@contoso.com --dir /home/site/sinkrule --force',
            'For an Azure Function or Automation account; overwrite existing files',
          ),
    )
    .command('deploy', 'Create or repair the rule in every mailbox (idempotent)', (y) =>
      y
        .options(yargsOptions('deploy'))
        .example(`$0 deploy ${files} --dry-run`, 'Show what would change')
        .example(
          `$0 deploy ${files} --canary 10 --yes`,
          'Deploy to 10 mailboxes, prove the rule with test mail, then to the rest',
        )
        .example(`$0 deploy ${files}`, 'Show the plan, ask, then write')
        .example(`$0 deploy ${files} --yes --quiet`, 'Scheduled task: no question, only errors on stderr')
        .example(`$0 deploy ${files} --yes --resume ${runFolder}`, 'Continue an interrupted run in its folder'),
    )
    .command('verify', 'Report whether every mailbox has the rule, changing nothing', (y) =>
      y
        .options(yargsOptions('verify'))
        .example(`$0 verify ${files}`, 'Compliance check; exit code 2 if any mailbox is not compliant')
        .example(
          '$0 verify --from-dataverse --include-stale --config sinkrule.config.json',
          'Reconcile with Dynamics 365: forward-mailbox users and leftover rules',
        )
        .example(
          `$0 verify ${files} --output json --quiet --report /var/log/sinkrule/verify`,
          'For a scheduler or pipeline: JSON on stdout, report in a fixed folder',
        )
        .example(`$0 verify ${files} --inventory`, 'Also list every forwarding rule (forwarding-inventory.csv)'),
    )
    .command(
      'preflight',
      'Read-only checks before a rollout: credentials, permissions, the sink, RBAC scope, EWS, the probe',
      (y) =>
        y
          .options(yargsOptions('preflight'))
          .example(`$0 preflight ${files}`, 'Check permissions, the sink and the RBAC scope before a rollout'),
    )
    .command(
      'probe',
      'Send a marked test message to each Graph mailbox and look for it in the sink as an attachment',
      (y) =>
        y
          .options(yargsOptions('probe'))
          .example(`$0 probe ${files} --sample 20`, 'Live test mail through 20 mailboxes spread over the file'),
    )
    .command('remove', "Delete sinkrule's rule (and only it) from every mailbox", (y) =>
      y
        .options(yargsOptions('remove'))
        .example(`$0 remove ${files} --dry-run`, 'Show which rules would be removed')
        .example(
          '$0 remove --from-dataverse --stale --config sinkrule.config.json',
          'Remove the rule where Dynamics 365 no longer uses the forward mailbox',
        )
        .example(`$0 remove ${files}`, 'Remove the rule after asking'),
    )
    .command(
      'migrate',
      'Move forward-mailbox users to server-side synchronization in waves: switch, test, then remove the rule',
      (y) =>
        y
          .options(yargsOptions('migrate'))
          .example('$0 migrate --from-dataverse --config sinkrule.config.json --dry-run', 'What would be switched')
          .example(
            '$0 migrate --from-dataverse --config sinkrule.config.json --wave 50 --max-failures 10% --yes',
            'Waves of 50; stop when more than 10 % of a wave fail its test',
          )
          .example(
            `$0 migrate --from-dataverse --config sinkrule.config.json --yes --resume ${runFolder}`,
            'Finish an interrupted run',
          ),
    )
    .command(
      'validate',
      'Check the users file, config, rule template and routes offline (what a deploy checks first)',
      (y) =>
        y
          .options(yargsOptions('validate'))
          .example(
            `$0 validate ${files}`,
            'Check every input offline before a change window; exit 1 lists each problem as file:line',
          )
          .example(`$0 validate ${files} --output json`, pipelineExample),
    )
    .command(
      'export',
      'Write the users CSV from Dynamics 365 (--from-dataverse) for review before deploy --users',
      (y) =>
        y
          .options(yargsOptions('export'))
          .example(
            '$0 export --from-dataverse --config sinkrule.config.json --out users.csv',
            'The users CSV from Dynamics 365, to review before deploy --users',
          )
          .example(
            '$0 export --from-dataverse --config sinkrule.config.json --assign-sinks --out users.csv',
            "Each row's sink from capacity's plan over the active forward mailboxes (too-busy users apart)",
          ),
    )
    .command(
      'capacity',
      'Plan the sinks from measured mail volume: how many the list needs, who goes to which, ' +
        'whether they keep up (read-only)',
      (y) =>
        y
          .options(yargsOptions('capacity'))
          .example(`$0 capacity ${files}`, 'Can the sinks carry the list? Exit 2 says how many more are needed')
          .example(
            `$0 capacity ${files} --sinks crm-sink1@contoso.com,crm-sink2@contoso.com --out users-spread.csv`,
            'Spread the users over these sinks, moving as few as possible',
          ),
    )
    .command(
      'rollback',
      "Bring sinkrule's rules back to what a run's report recorded before it (only where the mailbox still " +
        'holds what the run left)',
      (y) =>
        y
          .options(yargsOptions('rollback'))
          .example(
            `$0 rollback --report ${runFolder} --config sinkrule.config.json --dry-run`,
            'What undoing that run would change',
          )
          .example(`$0 rollback --report ${runFolder} --config sinkrule.config.json`, 'Undo it after asking'),
    )
    .command('audit', 'Check a report folder', (y) =>
      y
        .command(
          'verify <dir>',
          "Recompute the journal's hash chain and check report.json and report.csv against it (exit 0 " +
            'intact, 2 changed)',
          (v) =>
            v
              .positional('dir', { type: 'string', describe: 'The report folder' })
              .options(yargsOptions('audit'))
              .example(`$0 audit verify ${runFolder}`, 'Prove the report folder was not edited')
              .example(
                `$0 audit verify ${runFolder} --expect-hash <SHA-256 from the change ticket>`,
                'Also catch a rewritten chain',
              ),
          async (args) => {
            const { runAuditVerify } = await import('../commands/audit-verify.js');
            exitCode = await runAuditVerify(String(args.dir), parseAuditFlags(args, io.env), io);
          },
        )
        .example(`$0 audit verify ${runFolder}`, 'Prove the report folder was not edited')
        .demandCommand(1, 'Name an audit command: verify'),
    )
    .command('soc', "The security team's pack: watchlist, exclusion query, ARM template, notice", (y) =>
      socCommands(y, io, (code) => (exitCode = code)),
    )
    .command('demo', 'Run deploy and verify against the built-in local simulator', (y) =>
      y
        .option('report', { type: 'string', describe: 'Report folder' })
        .options(yargsOptions('demo'))
        .example('$0 demo', 'Writes ./sinkrule-report-demo/{deploy,verify}/report.html')
        .example('$0 demo --from-dataverse', 'The users and the sink read from the Dataverse simulator'),
    )
    // yargs prints its completion command's script even for --help; under a hidden name it only
    // keeps answering --get-yargs-completions, and `completion` is a command with its own help.
    .completion('completion-script', false)
    .command(
      'completion',
      'Print a shell completion script (bash, zsh): sinkrule completion >> ~/.bashrc',
      (y) =>
        y
          .example('$0 completion >> ~/.bashrc', 'Tab completion for commands and options in every new bash')
          .example('$0 completion >> ~/.zshrc', 'The same in zsh (run it from zsh: the script follows $SHELL)'),
      // yargs 18 takes ($0, command name) for the script's install line; @types/yargs 17 lists neither.
      () =>
        void (parser as unknown as { showCompletionScript($0: string, cmd: string): void }).showCompletionScript(
          'sinkrule',
          'completion',
        ),
    )
    .example('$0 init', 'First run: config, users file and the setup steps for your tenant')
    .example(`$0 validate ${files}`, 'Check every input offline; exit 1 lists each problem as file:line')
    .example(`$0 deploy ${files} --dry-run`, 'Show what would change')
    .example(
      `$0 verify ${files} --output json`,
      'Compliance check as JSON; exit code 2 if any mailbox is not compliant',
    )
    .example(`$0 audit verify ${runFolder}`, 'Prove the report folder was not edited')
    .example(
      `$0 rollback --report ${runFolder} --config sinkrule.config.json --dry-run`,
      'What undoing that run would change',
    )
    .example(
      '$0 export --from-dataverse --config sinkrule.config.json --out users.csv',
      'The users CSV from Dynamics 365, to review before deploy --users',
    )
    .example('$0 <command> --help', 'Options and examples of one command')
    .demandCommand(
      1,
      'Name a command: init, validate, deploy, verify, preflight, probe, capacity, remove, migrate, export, ' +
        'rollback, audit, soc, demo or completion',
    )
    .strict()
    .version(toolVersion)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .fail((message, error) => {
      throw (
        error ??
        new InputError([`command line: ${message}`], { fix: 'See sinkrule --help, or sinkrule <command> --help.' })
      );
    });
  skipHelpCache(parser);
  try {
    const args = await parser.parseAsync();
    // --help and --version were answered by yargs; audit, soc and completion ran their own handlers.
    const handler = args.help || args.version ? undefined : handlers[String(args._[0])];
    if (handler) exitCode = await handler(args);
    return exitCode;
  } catch (error) {
    return reportFailure(error, io, early);
  }
}

type Handler = (args: Record<string, unknown>) => Promise<number>;
type Demo = typeof import('../../simulators/demo.js');
type DataverseDemo = typeof import('../../simulators/dataverse/demo.js');

/**
 * A compiled simulator module, by a path from the package root: the CLI also runs as one bundled
 * file (scripts/bundle-cli.mjs) that leaves the simulators out, from another folder than cli/.
 * Required, not imported: the bundle runs from V8's code cache, where Node 20 has no import()
 * (start-bundle.ts); Node >= 20.19 requires ES modules.
 */
const simulator = <T>(file: string): T =>
  createRequire(import.meta.url)(path.join(packageRoot, 'dist', 'simulators', file)) as T;

/**
 * What each top-level command runs, called once yargs has parsed the line: each command's code is
 * loaded only when it runs, so `--help` and `validate` do not load the Graph and EWS clients.
 */
function commandHandlers(io: CliIO, argv: string[], early: GlobalFlags): Record<string, Handler> {
  const run =
    (command: Mode): Handler =>
    async (args) => {
      const { runCommand } = await import('../commands/run-command.js');
      return runCommand(command, parseRunFlags(args, io.env), io, argv);
    };
  return {
    init: async (args) => {
      const { runInit } = await import('../commands/init.js');
      return runInit(parseFlags([...flagGroups.init, ...flagGroups.global], args, io.env), io);
    },
    deploy: run('deploy'),
    verify: run('verify'),
    remove: run('remove'),
    preflight: async (args) => (await import('../commands/preflight.js')).runPreflight(parseRunFlags(args, io.env), io),
    probe: async (args) => (await import('../commands/probe.js')).runProbeCommand(parseRunFlags(args, io.env), io),
    validate: async (args) => (await import('../commands/validate.js')).runValidate(parseRunFlags(args, io.env), io),
    migrate: async (args) => (await import('../commands/migrate.js')).runMigrate(parseRunFlags(args, io.env), io, argv),
    export: async (args) =>
      (await import('../commands/export-command.js')).runExport(
        parseRunFlags(args, io.env),
        io,
        // yargs sets only the flags given: export refuses sink-plan flags it would ignore.
        new Set(Object.keys(args).filter((key) => args[key] !== undefined)),
      ),
    capacity: async (args) =>
      (await import('../commands/capacity.js')).runCapacity(
        parseFlags([...flagGroups.capacity, ...flagGroups.global], args, io.env),
        io,
      ),
    rollback: async (args) =>
      (await import('../commands/rollback.js')).runRollback(parseRollbackFlags(args, io.env), io, argv),
    demo: async (args) => {
      // The simulators (and their certificate library) load only for the demo.
      const demo = { report: args.report as string | undefined, output: early.output };
      if (parseRunFlags({ ...args, config: '-' }, io.env).fromDataverse)
        return simulator<DataverseDemo>('dataverse/demo.js').runDataverseDemo(demo, io);
      return simulator<Demo>('demo.js').runDemo(demo, io);
    },
  };
}

/**
 * yargs renders the command's whole help text on every run of a command (in case its handler
 * fails, to print it then): 0.1 s of CPU at the start of each run, a whole 1 % of a 10 s verify.
 * sinkrule's `.fail()` throws instead of printing help, so the cache is never read; `--help`
 * renders its text itself. The method is yargs-internal (yargs is pinned): if it is missing,
 * nothing changes but the time.
 */
function skipHelpCache(parser: unknown): void {
  const usage = (
    parser as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }
  )
    .getInternalMethods?.()
    ?.getUsageInstance?.();
  if (usage?.cacheHelpMessage) usage.cacheHelpMessage = () => undefined;
}

/** The io every command gets: --quiet and whether stderr may carry colour (a terminal, no NO_COLOR). */
function withGlobals(io: CliIO, globals: GlobalFlags): CliIO {
  return { ...io, quiet: globals.quiet, color: io.stderrIsTTY && !io.env.NO_COLOR };
}

/**
 * How every command's failure reaches the admin or the script: text on stderr, and with
 * --output json also one `{"error":{"code","message","fix"}}` object on stdout (nothing else
 * there). The exit code comes from exitCodeFor.
 */
export function reportFailure(error: unknown, io: CliIO, globals: GlobalFlags): number {
  const failure = describeFailure(error);
  const heading = io.color ? '\x1b[31merror\x1b[0m' : 'error';
  const text =
    error instanceof InputError || error instanceof AccessError
      ? [
          `${heading}: ${failure.message}`,
          failure.fix,
          error instanceof InputError ? 'Nothing was changed.' : 'The run stopped.',
        ]
      : [
          `${heading}: unexpected: ${error instanceof Error ? (error.stack ?? error.message) : describeError(error)}`,
          failure.fix,
        ];
  io.stderr.write(`${text.filter(Boolean).join('\n')}\n`);
  if (globals.output === 'json') io.stdout.write(`${JSON.stringify({ error: failure }, null, 2)}\n`);
  return exitCodeFor({ error });
}

export interface FailureDescription {
  /** The error class: InputError, AccessError or UnexpectedError. */
  code: string;
  message: string;
  fix: string;
  problems?: readonly string[];
}

function describeFailure(error: unknown): FailureDescription {
  if (error instanceof InputError) {
    return {
      code: 'InputError',
      message: error.message,
      fix: error.fix ?? 'Correct each problem listed (each line names its fix), then run again.',
      problems: error.problems,
    };
  }
  if (error instanceof AccessError)
    return {
      code: 'AccessError',
      message: error.message,
      fix: error.fix ?? 'Correct the access named in the message, then run again.',
    };
  return {
    code: 'UnexpectedError',
    message: describeError(error),
    fix: 'Run again; if it happens again, report it with this message.',
  };
}
