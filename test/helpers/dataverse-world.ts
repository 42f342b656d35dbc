import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { certificate } from './graph-world.js';
import { GraphSimulator, type GraphSimulatorOptions, type SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { DataverseSimulator, type ApplicationUser, type DataverseSimulatorOptions, type SimulatedMailboxRecord } from '../../simulators/dataverse/dataverse-simulator.js';

/** A tenant with Exchange Online (Graph) and a Dynamics 365 environment (Dataverse), one app for both. */
export interface DataverseWorld {
  graph: GraphSimulator;
  dataverse: DataverseSimulator;
  dir: string;
  configFile: string;
  clientId: string;
  secret: string;
  /** The config every test starts from: graph and dataverse sections, no sink. */
  baseConfig: Record<string, unknown>;
  writeConfig(config: Record<string, unknown>): Promise<void>;
  /** Runs sinkrule with --config of this world appended (and the app's secret in the environment). */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  report(dir: string): Promise<{ run: Record<string, any>; mailboxes: Array<Record<string, any>> }>;
  close(): Promise<void>;
}

export interface DataverseWorldOptions {
  records: SimulatedMailboxRecord[];
  graphMailboxes: SimulatedMailbox[];
  /** The environment's application users; default: the app, with a role that reads mailboxes. */
  applicationUsers?: (appId: string) => ApplicationUser[];
  throttleRequests?: DataverseSimulatorOptions['throttleRequests'];
  /** dataverse.pageSize in the config. */
  pageSize?: number;
  /** The app's application permissions on Graph. @default ['MailboxSettings.ReadWrite'] */
  graphRoles?: string[];
  /** Serve a managed identity endpoint (the host's identities sign in to Graph and Dataverse alike). */
  managedIdentity?: GraphSimulatorOptions['managedIdentity'];
}

export async function startDataverseWorld(options: DataverseWorldOptions): Promise<DataverseWorld> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-dataverse-'));
  const cert = await certificate();
  const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const app = { tenantId: randomUUID(), clientId: randomUUID(), clientSecret: secret, roles: options.graphRoles ?? ['MailboxSettings.ReadWrite'] };
  const graph = new GraphSimulator({ certificate: cert, app, mailboxes: options.graphMailboxes, managedIdentity: options.managedIdentity });
  const graphUrl = await graph.start();
  const dataverse = new DataverseSimulator({
    certificate: cert,
    identity: graph.identity,
    applicationUsers: options.applicationUsers?.(app.clientId) ?? [{ appId: app.clientId, canReadMailboxes: true }],
    mailboxes: options.records,
    throttleRequests: options.throttleRequests,
  });
  const dataverseUrl = await dataverse.start();
  const configFile = path.join(dir, 'sinkrule.config.json');
  const baseConfig = {
    graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: graphUrl, baseUrl: graphUrl },
    dataverse: { url: dataverseUrl, ...(options.pageSize ? { pageSize: options.pageSize } : {}) },
  };
  const world: DataverseWorld = {
    graph,
    dataverse,
    dir,
    configFile,
    clientId: app.clientId,
    secret,
    baseConfig,
    writeConfig: (config) => writeFile(configFile, JSON.stringify(config, null, 2)),
    run: (args, env = {}) => runCli([...args, '--config', configFile], { cwd: dir, env: { NODE_EXTRA_CA_CERTS: cert.caFile, SINKRULE_CLIENT_SECRET: secret, ...env } }),
    report: async (reportDir) => JSON.parse(await readFile(path.join(dir, reportDir, 'report.json'), 'utf8')),
    close: async () => {
      await Promise.all([graph.stop(), dataverse.stop()]);
      await rm(dir, { recursive: true, force: true });
    },
  };
  await world.writeConfig(baseConfig);
  return world;
}
