import { randomBytes, randomUUID } from 'node:crypto';
import type { CliResult } from './cli.js';
import { certificate, startWorld, type World } from './world.js';
import {
  GraphSimulator,
  type GraphSimulatorOptions,
  type SimulatedMailbox,
} from '../../simulators/graph/graph-simulator.js';
import {
  DataverseSimulator,
  type ApplicationUser,
  type DataverseSimulatorOptions,
  type SimulatedMailboxRecord,
} from '../../simulators/dataverse/dataverse-simulator.js';

/** A tenant with Exchange Online (Graph) and a Dynamics 365 environment (Dataverse), one app for both. */
export interface DataverseWorld extends World {
  graph: GraphSimulator;
  dataverse: DataverseSimulator;
  clientId: string;
  secret: string;
  /** The config every test starts from: graph and dataverse sections, no sink. */
  baseConfig: Record<string, unknown>;
  writeConfig(config: Record<string, unknown>): Promise<void>;
  /** Runs sinkrule with --config of this world appended (the users come from Dataverse). */
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
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
  /** Microsoft 365 usage reports the Graph simulator serves (capacity, export --assign-sinks). */
  graphReports?: GraphSimulatorOptions['reports'];
  /** migrate: the environment's email server profiles and how long a mailbox test takes. */
  updates?: Pick<DataverseSimulatorOptions, 'emailServerProfiles' | 'testDelayInMs'>;
}

export async function startDataverseWorld(options: DataverseWorldOptions): Promise<DataverseWorld> {
  const cert = await certificate();
  const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const app = {
    tenantId: randomUUID(),
    clientId: randomUUID(),
    clientSecret: secret,
    roles: options.graphRoles ?? ['MailboxSettings.ReadWrite'],
  };
  const graph = new GraphSimulator({
    certificate: cert,
    app,
    mailboxes: options.graphMailboxes,
    managedIdentity: options.managedIdentity,
    reports: options.graphReports,
  });
  const graphUrl = await graph.start();
  const dataverse = new DataverseSimulator({
    certificate: cert,
    identity: graph.identity,
    applicationUsers: options.applicationUsers?.(app.clientId) ?? [{ appId: app.clientId, canReadMailboxes: true }],
    mailboxes: options.records,
    throttleRequests: options.throttleRequests,
    ...options.updates,
  });
  const dataverseUrl = await dataverse.start();
  const baseConfig = {
    graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: graphUrl, baseUrl: graphUrl },
    dataverse: { url: dataverseUrl, ...(options.pageSize ? { pageSize: options.pageSize } : {}) },
  };
  const base = await startWorld({
    secrets: { SINKRULE_CLIENT_SECRET: secret },
    stop: () => Promise.all([graph.stop(), dataverse.stop()]),
  });
  const world: DataverseWorld = Object.assign(base, {
    graph,
    dataverse,
    clientId: app.clientId,
    secret,
    baseConfig,
    writeConfig: (config: Record<string, unknown>) => base.writeJson(base.configFile, config),
    run: (args: string[], env: NodeJS.ProcessEnv = {}) => base.runPlain([...args, '--config', base.configFile], env),
  });
  await world.writeConfig(baseConfig);
  return world;
}
