import type { Argv } from 'yargs';
import { parseSocFlags, yargsOptions } from '../common/settings.js';
import type { CliIO } from '../common/io.js';

const runFolder = 'sinkrule-report-deploy-20261129-1401';
const workspace =
  '/subscriptions/<subscription id>/resourceGroups/soc-rg/providers/Microsoft.OperationalInsights/workspaces/soc-ws';

/** `sinkrule soc` (write the pack) and `sinkrule soc upload` (the watchlist into Sentinel). */
export function socCommands(y: Argv, io: CliIO, done: (exitCode: number) => void): Argv {
  return y
    .command(
      '$0',
      "Write the SOC pack into the report folder's soc/ (deploy and remove write it themselves)",
      (c) =>
        c
          .options(yargsOptions('soc'))
          .example(`$0 soc --report ${runFolder} --config sinkrule.config.json`, 'Write or rewrite soc/ for that run')
          .example(
            `$0 deploy --users users.csv --config sinkrule.config.json --dry-run --report plan && ` +
              '$0 soc --report plan --config sinkrule.config.json',
            'notice.md for the SOC before the rollout',
          ),
      async (args) => {
        const { runSocPack } = await import('../commands/soc.js');
        done(await runSocPack(parseSocFlags('soc', args, io.env), io));
      },
    )
    .command(
      'upload',
      "Create or update the run's Sentinel watchlist(s) through Azure Resource Manager " +
        '(role Microsoft Sentinel Contributor)',
      (c) =>
        c
          .options(yargsOptions('socUpload'))
          .example(
            `$0 soc upload --report ${runFolder} --config sinkrule.config.json --workspace ${workspace} --dry-run`,
            'Show the PUT requests, send nothing',
          )
          .example(
            `$0 soc upload --report ${runFolder} --config sinkrule.config.json --workspace ${workspace} --yes`,
            'Upload every watchlist part',
          ),
      async (args) => {
        const { runSocUpload } = await import('../commands/soc.js');
        done(await runSocUpload(parseSocFlags('socUpload', args, io.env), io));
      },
    );
}
