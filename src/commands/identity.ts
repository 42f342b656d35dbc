import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import path from 'node:path';
import { toolVersion } from '../paths.js';
import type { CliIO } from '../common/io.js';
import type { SignedInApp } from '../core/provider.js';
import { sha256 } from '../report/journal.js';
import { recordedCommandLine, type RunIdentity } from '../report/run-info.js';
import type { ProviderSet } from '../providers/index.js';

export async function sha256OfFile(file: string): Promise<string> {
  return sha256(await readFile(file));
}

/** Who runs this, where, with which tool, config and app (as the back ends' tokens state it). */
export function runIdentity(
  run: { providers: ProviderSet; commandLine: string[]; configSha256: string; config: { file: string } },
  io: Pick<CliIO, 'env'>,
): RunIdentity {
  const signedIn: Record<string, SignedInApp> = {};
  for (const [target, provider] of run.providers.providers) {
    const app = provider.signedInApp?.();
    if (app) signedIn[target] = app;
  }
  return {
    operator: { user: operatorName(io.env), host: hostname() },
    toolVersion,
    commandLine: ['sinkrule', ...recordedCommandLine(run.commandLine)],
    config: { file: path.resolve(run.config.file), sha256: run.configSha256 },
    signedIn,
  };
}

function operatorName(env: NodeJS.ProcessEnv): string {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (some containers): the environment is the best there is.
    return env.USER ?? env.USERNAME ?? 'unknown';
  }
}
