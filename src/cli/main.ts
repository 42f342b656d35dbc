import yargs from 'yargs';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { Mode } from '../core/plan.js';
import { exitCodeFor } from './exit-code.js';
import { parseAuditFlags, parseRollbackFlags, parseRunFlags, yargsOptions } from './settings.js';
import type { CliIO } from './io.js';
import { runCommand } from '../commands/run-command.js';
import { runPreflight } from '../commands/preflight.js';
import { runProbeCommand } from '../commands/probe.js';
import { runValidate } from '../commands/validate.js';
import { toolVersion } from '../paths.js';

export async function main(argv: string[], io: CliIO): Promise<number> {
  let exitCode = 0;
  const run = (command: Mode) => async (args: Record<string, unknown>) => {
    exitCode = await runCommand(command, parseRunFlags(args, io.env), io, argv);
  };
  const parser = yargs(argv)
    .scriptName('sinkrule')
    .usage('$0 <command> [options]\n\nDeploys, verifies and removes the Dynamics 365 forward-mailbox rule ("forward as attachment to the sink") in every listed mailbox.')
    .command('deploy', 'Create or repair the rule in every mailbox (idempotent)', (y) => y.options(yargsOptions('deploy')), run('deploy'))
    .command('verify', 'Report whether every mailbox has the rule, changing nothing', (y) => y.options(yargsOptions('verify')), run('verify'))
    .command('preflight', 'Read-only checks before a rollout: credentials, permissions, the sink, RBAC scope, EWS, the probe', (y) => y.options(yargsOptions('preflight')), async (args) => {
      exitCode = await runPreflight(parseRunFlags(args, io.env), io);
    })
    .command('probe', 'Send a marked test message to each Graph mailbox and look for it in the sink as an attachment', (y) => y.options(yargsOptions('probe')), async (args) => {
      exitCode = await runProbeCommand(parseRunFlags(args, io.env), io);
    })
    .command('remove', "Delete sinkrule's rule (and only it) from every mailbox", (y) => y.options(yargsOptions('remove')), run('remove'))
    .command('validate', 'Check the users file, config, rule template and routes offline (what a deploy checks first)', (y) => y.options(yargsOptions('validate')), async (args) => {
      exitCode = await runValidate(parseRunFlags(args, io.env), io);
    })
    .command('export', 'Write the users CSV from Dynamics 365 (--from-dataverse) for review before deploy --users', (y) => y.options(yargsOptions('export')), async (args) => {
      const { runExport } = await import('../commands/export-command.js');
      exitCode = await runExport(parseRunFlags(args, io.env), io);
    })
    .command('rollback', "Bring sinkrule's rules back to what a run's report recorded before it (only where the mailbox still holds what the run left)", (y) => y.options(yargsOptions('rollback')), async (args) => {
      const { runRollback } = await import('../commands/rollback.js');
      exitCode = await runRollback(parseRollbackFlags(args, io.env), io, argv);
    })
    .command('audit', 'Check a report folder', (y) =>
      y
        .command('verify <dir>', "Recompute the journal's hash chain and check report.json and report.csv against it (exit 0 intact, 2 changed)", (v) => v.positional('dir', { type: 'string', describe: 'The report folder' }).options(yargsOptions('audit')), async (args) => {
          const { runAuditVerify } = await import('../commands/audit-verify.js');
          exitCode = await runAuditVerify(String(args.dir), parseAuditFlags(args, io.env), io);
        })
        .demandCommand(1, 'Name an audit command: verify'),
    )
    .command('demo', 'Run deploy and verify against the built-in local simulator', (y) => y.option('report', { type: 'string', describe: 'Report folder' }).options(yargsOptions('demo')), async (args) => {
      // The simulators (and their certificate library) load only for the demo.
      const demo = { report: args.report as string | undefined };
      if (parseRunFlags({ ...args, config: '-' }, io.env).fromDataverse) exitCode = await (await import('../../simulators/dataverse/demo.js')).runDataverseDemo(demo, io);
      else exitCode = await (await import('../../simulators/demo.js')).runDemo(demo, io);
    })
    .example('$0 deploy --users users.csv --config sinkrule.config.json --dry-run', 'Show what would change')
    .example('$0 deploy --users users.csv --config sinkrule.config.json --yes', 'Deploy without asking (CI, scheduled task)')
    .example('$0 verify --users users.csv --config sinkrule.config.json --output json', 'Compliance check; exit code 2 if any mailbox is not compliant')
    .example('$0 validate --users users.csv --config sinkrule.config.json', 'Check every input offline before a change window; exit 1 lists each problem as file:line')
    .example('$0 remove --users users.csv --config sinkrule.config.json', 'Remove the rule after asking')
    .example('$0 preflight --users users.csv --config sinkrule.config.json', 'Check permissions, the sink and the RBAC scope before a rollout')
    .example('$0 deploy --users users.csv --config sinkrule.config.json --canary 10 --yes', 'Deploy to 10 mailboxes, prove the rule with test mail, then to the rest')
    .example('$0 verify --from-dataverse --include-stale --config sinkrule.config.json', 'Reconcile with Dynamics 365: forward-mailbox users and leftover rules')
    .example('$0 export --from-dataverse --config sinkrule.config.json --out users.csv', 'The users CSV from Dynamics 365, to review before deploy --users')
    .example('$0 deploy --users users.csv --config sinkrule.config.json --yes --resume sinkrule-report-deploy-20261129-1401', 'Continue an interrupted run in its folder')
    .example('$0 audit verify sinkrule-report-deploy-20261129-1401', 'Prove the report folder was not edited')
    .example('$0 rollback --report sinkrule-report-deploy-20261129-1401 --config sinkrule.config.json --dry-run', 'What undoing that run would change')
    .example('$0 verify --users users.csv --config sinkrule.config.json --inventory', 'Also list every forwarding rule (forwarding-inventory.csv)')
    .demandCommand(1, 'Name a command: deploy, verify, remove, validate, export, rollback, audit, preflight, probe or demo')
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
  if (error instanceof InputError) io.stderr.write(`${error.problems.join('\n')}\nNothing was changed.\n`);
  else if (error instanceof AccessError) io.stderr.write(`${error.message}\nThe run stopped.\n`);
  else io.stderr.write(`Unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : describeError(error)}\n`);
  return exitCodeFor({ error });
}
