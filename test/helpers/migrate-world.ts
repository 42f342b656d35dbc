import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { packageRoot } from '../../src/paths.js';
import type { DataverseWorld } from './dataverse-world.js';

export interface JournalLineForTest {
  seq: number;
  type: string;
  email?: string;
  step?: string;
  row?: { email: string };
}

export const journalOf = async (world: DataverseWorld, dir: string): Promise<JournalLineForTest[]> =>
  (await readFile(path.join(world.dir, dir, 'journal.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as JournalLineForTest);

/**
 * Starts `migrate --from-dataverse --yes --report DIR` as its own process (the CLI itself, not the
 * launcher, so the kill reaches the process that writes) and kills it with SIGKILL once `when`
 * holds for its journal; then waits until the simulators are quiet.
 */
export async function killWhen(
  world: DataverseWorld,
  dir: string,
  when: (entries: JournalLineForTest[]) => boolean,
  extra: string[] = [],
): Promise<void> {
  const child = spawn(
    process.execPath,
    [
      path.join(packageRoot, 'dist/src/cli.js'),
      'migrate',
      '--from-dataverse',
      '--yes',
      '--report',
      dir,
      '--config',
      world.configFile,
      ...extra,
    ],
    { cwd: world.dir, env: { ...process.env, ...world.env }, stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (;;) {
    await delay(20);
    if (await journalOf(world, dir).then(when, () => false)) break;
  }
  child.kill('SIGKILL');
  await exited;
  for (let last = -1; last !== world.dataverse.stats.requests + world.graph.stats.requests;) {
    last = world.dataverse.stats.requests + world.graph.stats.requests;
    await delay(300);
  }
}
