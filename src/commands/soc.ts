import path from 'node:path';
import { InputError } from '../core/errors.js';
import { loadConfig } from '../input/config.js';
import { socDirName, writeSocPack, readManifest, type PackManifest } from '../soc/pack.js';
import { uploadWatchlists } from '../soc/upload.js';
import type { CliIO } from '../common/io.js';
import type { SocFlags, SocUploadFlags } from '../common/settings.js';

/** `sinkrule soc --report DIR`: (re)writes DIR/soc/ from the report folder. */
export async function runSocPack(flags: SocFlags, io: CliIO): Promise<number> {
  const config = await loadConfig(flags.config);
  const { manifest, warnings } = await writeSocPack(flags.report, {
    contact: config.soc?.contact,
    clock: io.clock,
    env: io.env,
  });
  for (const warning of warnings) io.stderr.write(`Warning: ${warning}\n`);
  if (!config.soc?.contact)
    io.stderr.write(
      `Warning: ${config.file}: soc.contact is not set: notice.md tells the SOC to ask whoever ran sinkrule\n`,
    );
  printPack(flags.report, manifest, flags.output, io);
  return 0;
}

export function printPack(reportDir: string, manifest: PackManifest, output: string, io: CliIO): void {
  const dir = path.join(reportDir, socDirName);
  if (output === 'json') {
    io.stdout.write(`${JSON.stringify({ soc: { dir, ...manifest } }, null, 2)}\n`);
    return;
  }
  if (io.quiet) return;
  const rows = manifest.watchlist.reduce((sum, part) => sum + part.rows, 0);
  const left = manifest.leaving.reduce((sum, part) => sum + part.rows, 0);
  io.stdout.write(
    [
      `SOC pack: ${dir}`,
      `  watchlist: ${rows} mailboxes holding the rule in ${manifest.watchlist.length} part(s)` +
        (manifest.watchlist.length ? ` (aliases ${manifest.watchlist.map((p) => p.alias).join(', ')})` : ''),
      ...(left ? [`  leaving: ${left} rules removed (${manifest.leaving.map((p) => p.file).join(', ')})`] : []),
      `  files: ${manifest.files.join(', ')}`,
      '  send notice.md to the security team before the rollout',
    ].join('\n') + '\n',
  );
}

/** `sinkrule soc upload --report DIR --workspace ID`: the watchlist into Sentinel through Resource Manager. */
export async function runSocUpload(flags: SocUploadFlags, io: CliIO): Promise<number> {
  const config = await loadConfig(flags.config);
  if (!flags.dryRun && !flags.yes) {
    const manifest = await readManifest(flags.report);
    const question =
      `Create or replace ${manifest.watchlist.length} watchlist(s) ` +
      `(${manifest.watchlist.map((p) => p.alias).join(', ')}) in ${flags.workspace}?`;
    if (!io.stdinIsTTY)
      throw new InputError([
        `refusing to upload without confirmation, and there is no terminal to ask on: pass --yes, or --dry-run`,
      ]);
    if (!(await io.confirm(question))) {
      io.stderr.write('Cancelled: nothing was sent.\n');
      return 0;
    }
  }
  const result = await uploadWatchlists({
    reportDir: flags.report,
    workspace: flags.workspace,
    dryRun: flags.dryRun,
    config,
    env: io.env,
    clock: io.clock,
    sleep: io.sleep,
    signal: io.signal,
    report: (line) => {
      if (flags.output !== 'json') io.stdout.write(`${line}\n`);
    },
  });
  if (flags.output === 'json')
    io.stdout.write(`${JSON.stringify({ upload: { dryRun: flags.dryRun, ...result } }, null, 2)}\n`);
  return 0;
}
