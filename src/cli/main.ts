import yargs, { type Argv } from 'yargs';
import { z } from 'zod';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mode } from '../core/plan.js';
import { mailAddress } from '../input/address.js';
import { formatIssues } from '../input/issues.js';
import type { CliIO } from './io.js';
import { runCommand, type RunCommandOptions } from '../commands/run-command.js';
import { toolVersion } from '../paths.js';

const runOptionsSchema = z.strictObject({
  command: z.enum(['deploy', 'verify', 'remove']),
  users: z.string().min(1),
  config: z.string().min(1),
  sink: mailAddress('must be the forward mailbox address, e.g. crm-sink@contoso.com').optional(),
  report: z.string().min(1).optional(),
  dryRun: z.boolean().default(false),
  yes: z.boolean().default(false),
  concurrency: z.number().int().min(1).max(256).optional(),
  removeOutlookRuleBlob: z.boolean().default(false),
  output: z.enum(['text', 'json']).default('text'),
});

/** Validates the parsed flags into typed options: the only place CLI input is checked. */
export function toRunOptions(command: Mode, argv: Record<string, unknown>): RunCommandOptions {
  const parsed = runOptionsSchema.safeParse({
    command,
    users: argv.users,
    config: argv.config,
    sink: argv.sink,
    report: argv.report,
    dryRun: argv.dryRun,
    yes: argv.yes,
    concurrency: argv.concurrency,
    removeOutlookRuleBlob: argv.removeOutlookRuleBlob,
    output: argv.output,
  });
  if (!parsed.success) throw new InputError(formatIssues('command line', parsed.error.issues, '--'));
  return parsed.data;
}

function commonOptions(y: Argv) {
  return y
    .option('users', { type: 'string', demandOption: true, describe: 'CSV of mailboxes (columns: email, displayName, target, sink, server, instructions, confirmed)' })
    .option('config', { type: 'string', demandOption: true, describe: 'JSON config (see samples/sinkrule.config.json)' })
    .option('sink', { type: 'string', describe: "Forward mailbox address; overrides the config's sink" })
    .option('report', { type: 'string', describe: 'Report folder (default: sinkrule-report-<command>-<time>)' })
    .option('concurrency', { type: 'number', describe: 'Mailboxes worked on at once per back end' })
    .option('output', { choices: ['text', 'json'] as const, default: 'text' as const, describe: 'Summary format on stdout' });
}

function mutatingOptions(y: Argv) {
  return commonOptions(y)
    .option('dry-run', { type: 'boolean', default: false, describe: 'Read every mailbox and report what would change; write nothing' })
    .option('yes', { type: 'boolean', default: false, describe: 'Do not ask for confirmation (required when there is no terminal)' })
    .option('remove-outlook-rule-blob', {
      type: 'boolean',
      default: false,
      describe: "EWS: write even where Outlook client-only rules exist, which deletes them (default: such mailboxes are reported, not written)",
    });
}

export async function main(argv: string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  const run = (command: Mode) => async (args: Record<string, unknown>) => {
    exitCode = await runCommand(toRunOptions(command, args), io);
  };
  const parser = yargs(argv)
    .scriptName('sinkrule')
    .usage('$0 <command> [options]\n\nDeploys, verifies and removes the Dynamics 365 forward-mailbox rule ("forward as attachment to the sink") in every listed mailbox.')
    .command('deploy', 'Create or repair the rule in every mailbox (idempotent)', mutatingOptions, run('deploy'))
    .command('verify', 'Report whether every mailbox has the rule, changing nothing', commonOptions, run('verify'))
    .command('remove', "Delete sinkrule's rule (and only it) from every mailbox", mutatingOptions, run('remove'))
    .command('demo', 'Run deploy and verify against the built-in local simulator', (y) => y.option('report', { type: 'string', describe: 'Report folder' }), async (args) => {
      // The simulators (and their certificate library) load only for the demo.
      const { runDemo } = await import('../../simulators/demo.js');
      exitCode = await runDemo({ report: args.report as string | undefined }, io);
    })
    .example('$0 deploy --users users.csv --config sinkrule.config.json --dry-run', 'Show what would change')
    .example('$0 deploy --users users.csv --config sinkrule.config.json --yes', 'Deploy without asking (CI, scheduled task)')
    .example('$0 verify --users users.csv --config sinkrule.config.json --output json', 'Compliance check; exit code 2 if any mailbox is not compliant')
    .example('$0 remove --users users.csv --config sinkrule.config.json', 'Remove the rule after asking')
    .demandCommand(1, 'Name a command: deploy, verify, remove or demo')
    .strict()
    .version(toolVersion)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new InputError([`command line: ${message}: see sinkrule --help`]);
    });
  try {
    await parser.parseAsync();
    return exitCode;
  } catch (error) {
    return reportFailure(error, io);
  }
}

function reportFailure(error: unknown, io: CliIO): number {
  if (error instanceof InputError) {
    io.stderr.write(`${error.problems.join('\n')}\nNothing was changed.\n`);
    return 1;
  }
  if (error instanceof AccessError) {
    io.stderr.write(`${error.message}\nThe run stopped.\n`);
    return 1;
  }
  io.stderr.write(`Unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : describeError(error)}\n`);
  return 1;
}
