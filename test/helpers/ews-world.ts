import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { EwsSimulator, type EwsSimulatedMailbox, type EwsSimulatorOptions } from '../../simulators/ews/ews-simulator.js';
import { EwsSchemaValidator, ewsSchemaDir } from '../../simulators/ews/schema-validator.js';
import { certificate, sink } from './graph-world.js';

export const serviceAccount = 'CONTOSO\\svc-sinkrule';

let sharedValidator: Promise<EwsSchemaValidator | undefined> | undefined;
/**
 * One schema validator per test process, when Microsoft's schema is there (CI has ../shared/ref/ews);
 * without it the simulator runs without the schema check and the tests that need it are skipped.
 */
export function schemaValidator(): Promise<EwsSchemaValidator | undefined> {
  const dir = ewsSchemaDir();
  return (sharedValidator ??= dir ? EwsSchemaValidator.start(dir) : Promise.resolve(undefined));
}

export interface EwsWorld {
  sim: EwsSimulator;
  dir: string;
  password: string;
  configFile: string;
  usersFile: string;
  writeConfig(ews: Record<string, unknown>, extra?: Record<string, unknown>): Promise<void>;
  writeUsers(text: string): Promise<void>;
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  report(dir: string): Promise<{ run: Record<string, any>; mailboxes: Array<Record<string, any>> }>;
  close(): Promise<void>;
}

export async function startEwsWorld(mailboxes: EwsSimulatedMailbox[], options: Partial<Omit<EwsSimulatorOptions, 'mailboxes'>> = {}, users = mailboxes.map((m) => m.email)): Promise<EwsWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-ews-test-'));
  const cert = await certificate();
  const password = `Pw-${randomBytes(9).toString('base64url')}`;
  const sim = new EwsSimulator({ certificate: cert, account: { username: serviceAccount, password }, validator: await schemaValidator(), mailboxes, ...options });
  /** The clients trust the shared test CA, whatever certificate this simulator serves. */
  const url = await sim.start();
  const configFile = path.join(dir, 'sinkrule.config.json');
  const usersFile = path.join(dir, 'users.csv');
  const world: EwsWorld = {
    sim,
    dir,
    password,
    configFile,
    usersFile,
    writeConfig: (ews, extra = {}) => writeFile(configFile, JSON.stringify({ sink, defaultTarget: 'ews', ews: { url, username: serviceAccount, ...ews }, ...extra }, null, 2)),
    writeUsers: (text) => writeFile(usersFile, text),
    run: (args, env = {}) => runCli([...args, '--users', usersFile, '--config', configFile], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: cert.caFile, SINKRULE_EWS_PASSWORD: password, ...env } }),
    report: async (reportDir) => JSON.parse(await readFile(path.join(dir, reportDir, 'report.json'), 'utf8')),
    close: async () => {
      await sim.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await world.writeConfig({});
  await world.writeUsers(`email\n${users.join('\n')}\n`);
  return world;
}
