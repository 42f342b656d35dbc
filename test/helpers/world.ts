import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { createLocalCertificate, type LocalCertificate } from '../../simulators/tls.js';

export const sink = 'crm-sink@contoso.com';

let sharedCertificate: Promise<LocalCertificate> | undefined;
/** One certificate per test process is enough; each world gets its own folder. */
export const certificate = () => (sharedCertificate ??= createLocalCertificate());

/**
 * What every test world is, whichever simulators it starts: a folder with the config and users
 * files, the CLI run there as an admin would (trusting the test CA, with the world's secrets), the
 * report it wrote, and a close that stops the simulators and removes the folder.
 */
export interface World {
  dir: string;
  configFile: string;
  usersFile: string;
  /** The environment sinkrule needs here (trusted CA, the world's secrets). */
  env: NodeJS.ProcessEnv;
  writeUsers(text: string): Promise<void>;
  /** Runs sinkrule with --users/--config of this world appended. */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Runs sinkrule in this world's folder with its environment, arguments as given. */
  runPlain(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  report(dir: string): Promise<{ run: Record<string, any>; mailboxes: Array<Record<string, any>> }>;
  close(): Promise<void>;
}

export async function startWorld(options: {
  secrets: NodeJS.ProcessEnv;
  stop: () => Promise<unknown>;
}): Promise<World & { writeJson(file: string, value: unknown): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-test-'));
  const cert = await certificate();
  const configFile = path.join(dir, 'sinkrule.config.json');
  const usersFile = path.join(dir, 'users.csv');
  const world = {
    dir,
    configFile,
    usersFile,
    env: { NODE_EXTRA_CA_CERTS: cert.caFile, ...options.secrets },
    writeJson: (file: string, value: unknown) => writeFile(file, JSON.stringify(value, null, 2)),
    writeUsers: (text: string) => writeFile(usersFile, text),
    run: (args: string[], env: NodeJS.ProcessEnv = {}) =>
      world.runPlain([...args, '--users', usersFile, '--config', configFile], env),
    runPlain: (args: string[], env: NodeJS.ProcessEnv = {}) =>
      runCli(args, { cwd: dir, env: { ...world.env, ...env } }),
    report: async (reportDir: string) => JSON.parse(await readFile(path.join(dir, reportDir, 'report.json'), 'utf8')),
    close: async () => {
      await options.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return world;
}

export function byEmail(mailboxes: Array<Record<string, any>>): Map<string, Record<string, any>> {
  return new Map(mailboxes.map((m) => [m.email, m]));
}
