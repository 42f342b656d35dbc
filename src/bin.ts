#!/usr/bin/env node
/**
 * The `sinkrule` command. Two process-level settings can only be fixed when Node starts, so this
 * small launcher starts the real CLI (cli.js, bundled as cli.bundle.cjs) with them:
 * - a heap limit: V8 otherwise grows its heap lazily to several hundred MB on a long run although
 *   sinkrule's live data stays small and constant (an admin's own NODE_OPTIONS limit wins);
 * - the internal CA of `ews.caFile`, added to NODE_EXTRA_CA_CERTS: Node reads extra trusted CAs
 *   only at start, and the EWS client's NTLM layer builds TLS agents that take no CA option.
 * It forwards Ctrl-C and returns the CLI's exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Old-space limit in MB: room for a million-row users file's duplicate check, far below the default. */
export const heapLimitInMb = 256;

const argv = process.argv.slice(2);
// The bundle of cli.js (scripts/bundle-cli.mjs), started from V8's code cache by start-bundle.js,
// starts in a fraction of the time; a build without it (tsc alone) runs cli.js.
const bundled = existsSync(fileURLToPath(new URL('./cli.bundle.cjs', import.meta.url)));
const cli = fileURLToPath(new URL(bundled ? './start-bundle.js' : './cli.js', import.meta.url));
const nodeFlags = /--max-old-space-size/.test(`${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`)
  ? []
  : [`--max-old-space-size=${heapLimitInMb}`];
const env = { ...process.env };
const bundle = caBundle(argv, env);
if (bundle) env.NODE_EXTRA_CA_CERTS = bundle;

const child = spawn(process.execPath, [...nodeFlags, cli, ...argv], { stdio: 'inherit', env });
// Ctrl-C reaches the child from the terminal; keep this process alive until the child is done.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('close', (code, signal) => {
  if (bundle) rmSync(bundle, { force: true });
  process.exit(code ?? (signal ? 130 : 1));
});

/** NODE_EXTRA_CA_CERTS content: ews.caFile of the --config file plus any CA file already set. */
function caBundle(args: string[], environment: NodeJS.ProcessEnv): string | undefined {
  const caFile = configuredCaFile(args);
  if (!caFile || !isRegularFile(caFile)) return undefined;
  try {
    const pems = [
      readFileSync(caFile, 'utf8'),
      environment.NODE_EXTRA_CA_CERTS ? readFileSync(environment.NODE_EXTRA_CA_CERTS, 'utf8') : '',
    ];
    const file = path.join(tmpdir(), `sinkrule-ca-${process.pid}.pem`);
    writeFileSync(file, pems.join('\n'));
    return file;
  } catch {
    return undefined; // the CLI's config check reports an unreadable file
  }
}

/** A light read of the config: the CLI validates it properly; a broken one just gets no CA here. */
function configuredCaFile(args: string[]): string | undefined {
  const index = args.findIndex((a) => a === '--config' || a.startsWith('--config='));
  const file =
    index < 0
      ? undefined
      : args[index]!.includes('=')
        ? args[index]!.slice(args[index]!.indexOf('=') + 1)
        : args[index + 1];
  if (!file || !isRegularFile(file)) return undefined; // the CLI reports a folder, pipe or missing file
  try {
    const caFile = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''))?.ews?.caFile;
    return typeof caFile === 'string' ? path.resolve(path.dirname(path.resolve(file)), caFile) : undefined;
  } catch {
    return undefined;
  }
}

/** Reading a FIFO would block the launcher forever: only regular files are read here. */
function isRegularFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
