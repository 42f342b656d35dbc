import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { GraphSimulator, type GraphSimulatorOptions, type SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { createLocalCertificate, type LocalCertificate } from '../../simulators/tls.js';

export const sink = 'crm-sink@contoso.com';

let sharedCertificate: Promise<LocalCertificate> | undefined;
/** One certificate per test process is enough; each world gets its own folder. */
export const certificate = () => (sharedCertificate ??= createLocalCertificate());

export interface GraphWorld {
  sim: GraphSimulator;
  dir: string;
  secret: string;
  configFile: string;
  usersFile: string;
  tenantId: string;
  clientId: string;
  writeConfig(config: Record<string, unknown>): Promise<void>;
  writeUsers(text: string): Promise<void>;
  /** Runs sinkrule with --users/--config of this world appended. */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Runs sinkrule in this world's folder with its credentials, arguments as given. */
  runPlain(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** The environment sinkrule needs here (trusted CA, client secret). */
  env: NodeJS.ProcessEnv;
  report(dir: string): Promise<{ run: Record<string, any>; mailboxes: Array<Record<string, any>> }>;
  close(): Promise<void>;
}

export type WorldOptions = Omit<GraphSimulatorOptions, 'certificate' | 'app' | 'mailboxes'> & { app?: Partial<GraphSimulatorOptions['app']> };

export async function startGraphWorld(mailboxes: SimulatedMailbox[], options: WorldOptions = {}): Promise<GraphWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-test-'));
  const cert = await certificate();
  const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const app = { tenantId: randomUUID(), clientId: randomUUID(), clientSecret: secret, roles: ['MailboxSettings.ReadWrite'], ...options.app };
  const sim = new GraphSimulator({ ...options, certificate: cert, app, mailboxes });
  const url = await sim.start();
  const configFile = path.join(dir, 'sinkrule.config.json');
  const usersFile = path.join(dir, 'users.csv');
  const world: GraphWorld = {
    sim,
    dir,
    secret,
    configFile,
    usersFile,
    tenantId: app.tenantId,
    clientId: app.clientId,
    writeConfig: (config) => writeFile(configFile, JSON.stringify(config, null, 2)),
    writeUsers: (text) => writeFile(usersFile, text),
    env: { NODE_EXTRA_CA_CERTS: cert.caFile, SINKRULE_CLIENT_SECRET: secret },
    run: (args, env = {}) => world.runPlain([...args, '--users', usersFile, '--config', configFile], env),
    runPlain: (args, env = {}) => runCli(args, { cwd: dir, env: { ...world.env, ...env } }),
    report: async (reportDir) => JSON.parse(await readFile(path.join(dir, reportDir, 'report.json'), 'utf8')),
    close: async () => {
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await world.writeConfig({ sink, graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: url, baseUrl: url } });
  await world.writeUsers(`email\n${mailboxes.map((m) => m.email).join('\n')}\n`);
  return world;
}

export function byEmail(mailboxes: Array<Record<string, any>>): Map<string, Record<string, any>> {
  return new Map(mailboxes.map((m) => [m.email, m]));
}
