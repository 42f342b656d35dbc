import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root (this file is compiled to dist/src/paths.js). */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
export const templatesDir = path.join(packageRoot, 'templates');
export const samplesDir = path.join(packageRoot, 'samples');
export const toolVersion: string = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;

/** The variable that moves sinkrule's state folder (tests give each process its own). */
export const stateDirVariable = 'SINKRULE_STATE_DIR';

/**
 * The folder sinkrule keeps its state in (paces, SOC packs written, the compiled CLI):
 * SINKRULE_STATE_DIR, else the OS's place.
 */
export function stateDir(env: NodeJS.ProcessEnv): string {
  return (
    env[stateDirVariable] ??
    (process.platform === 'win32' && env.LOCALAPPDATA
      ? path.join(env.LOCALAPPDATA, 'sinkrule')
      : path.join(env.XDG_STATE_HOME ?? path.join(homedir(), '.local', 'state'), 'sinkrule'))
  );
}
