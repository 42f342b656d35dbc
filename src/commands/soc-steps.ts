import type { OutcomeName } from '../core/outcome.js';
import type { Config } from '../input/config.js';
import { AlertWatch, type AlertSeverity } from '../soc/alert-watch.js';
import { packCommands, writeSocPack } from '../soc/pack.js';
import { packFor } from '../soc/pack-state.js';
import type { CliIO } from '../common/io.js';
import type { RunSettings } from '../common/settings.js';
import type { PreparedRun } from './prepare.js';
import { printPack } from './soc.js';

/** deploy --canary: the watch on Defender alerts, with the Graph back end's alert reader and token roles. */
export function alertWatchFor(run: PreparedRun, io: CliIO): AlertWatch {
  const graph = run.providers.providers.get('graph');
  const api = graph?.kind === 'api' ? graph : undefined;
  const options = run.settings;
  return new AlertWatch({
    alerts: api?.securityAlerts,
    roles: api?.signedInApp?.()?.roles ?? [],
    waitInMs: options.alertWaitS * 1000,
    stopAtSeverity: options.alertSeverity as AlertSeverity,
    stopOnAlert: options.stopOnAlert,
    clock: io.clock,
    sleep: io.sleep,
    signal: io.signal,
    warn: (line) => {
      if (!io.quiet || line.startsWith('Warning')) io.stderr.write(`${line}\n`);
    },
  });
}

/**
 * After a run that created, changed or removed rules: the SOC pack in the report folder. A pack
 * that cannot be written is a warning, never a failed run (`sinkrule soc` writes it again).
 */
export async function writePackAfterRun(
  options: RunSettings,
  config: Config,
  reportDir: string,
  counts: Partial<Record<OutcomeName, number>>,
  io: CliIO,
): Promise<void> {
  const changed = (counts.created ?? 0) + (counts.updated ?? 0) + (counts.removed ?? 0);
  if (options.dryRun || !packCommands.has(options.command) || changed === 0) return;
  try {
    const { manifest, warnings } = await writeSocPack(reportDir, {
      contact: config.soc?.contact,
      clock: io.clock,
      env: io.env,
    });
    for (const warning of warnings) io.stderr.write(`Warning: ${warning}\n`);
    if (options.output !== 'json') printPack(reportDir, manifest, options.output, io);
  } catch (error) {
    io.stderr.write(
      `Warning: the SOC pack was not written (${(error as Error).message}): run sinkrule soc --report ${reportDir}\n`,
    );
  }
}

/**
 * preflight: the SOC should hear of a rollout before it starts. Warns when no soc.contact is set
 * and when no pack was ever written for this list (its SHA-256, as reports record it).
 */
export function socPreflightChecks(
  run: PreparedRun,
  env: NodeJS.ProcessEnv,
): Array<{ check: string; status: 'pass' | 'warn'; detail: string; fix: string }> {
  const contact = run.config.soc?.contact;
  const input = run.source.describe();
  const pack = packFor(env, input.sha256);
  return [
    contact
      ? { check: 'soc-contact', status: 'pass', detail: `notice.md names ${contact.split('\n')[0]}`, fix: '' }
      : {
          check: 'soc-contact',
          status: 'warn',
          detail: 'no soc.contact in the config: the security team will not know whom to call about these rules',
          fix: 'Add "soc": {"contact": "<name, phone, mail of the person running the rollout>"} to the config.',
        },
    pack
      ? { check: 'soc-pack', status: 'pass', detail: `a SOC pack for this list was written ${pack.writtenAt}`, fix: '' }
      : {
          check: 'soc-pack',
          status: 'warn',
          detail:
            'no SOC pack was ever written for this mailbox list: a rollout of forwarding rules looks like ' +
            'a compromise to Defender and Sentinel',
          fix:
            'Write the notice before the rollout: sinkrule deploy … --dry-run --report plan, then ' +
            'sinkrule soc --report plan --config …, and send plan/soc/notice.md to the security team.',
        },
  ];
}
