import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const appliedMarker = 'SINKRULE_CA_FILE_APPLIED';

/**
 * `ews.caFile` (an internal PKI's CA): Node reads extra trusted CAs only at process start
 * (NODE_EXTRA_CA_CERTS), and the NTLM layer of the EWS client builds its own TLS agents without a
 * way to pass one. So sinkrule starts itself once more with the CA added to NODE_EXTRA_CA_CERTS.
 * Returns the child's exit code, or undefined when no relaunch is needed. The config is validated
 * properly later; a config that cannot be read here is simply not relaunched.
 */
export async function relaunchTrustingCaFile(argv: string[], env: NodeJS.ProcessEnv): Promise<number | undefined> {
  const caFile = configuredCaFile(argv);
  if (!caFile || env[appliedMarker] === caFile) return undefined;
  let bundle: string;
  try {
    bundle = [readFileSync(caFile, 'utf8'), env.NODE_EXTRA_CA_CERTS ? readFileSync(env.NODE_EXTRA_CA_CERTS, 'utf8') : ''].join('\n');
  } catch {
    return undefined; // the config check reports the unreadable file
  }
  const bundleFile = path.join(tmpdir(), `sinkrule-ca-${process.pid}.pem`);
  writeFileSync(bundleFile, bundle);
  const child = spawn(process.execPath, [process.argv[1]!, ...argv], { stdio: 'inherit', env: { ...env, NODE_EXTRA_CA_CERTS: bundleFile, [appliedMarker]: caFile } });
  const forward = () => child.kill('SIGINT');
  process.on('SIGINT', forward);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  process.off('SIGINT', forward);
  return code;
}

function configuredCaFile(argv: string[]): string | undefined {
  const index = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (index < 0) return undefined;
  const file = argv[index]!.includes('=') ? argv[index]!.split('=')[1] : argv[index + 1];
  if (!file) return undefined;
  try {
    const caFile = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''))?.ews?.caFile;
    return typeof caFile === 'string' ? path.resolve(path.dirname(path.resolve(file)), caFile) : undefined;
  } catch {
    return undefined;
  }
}
