import { randomBytes, randomUUID } from 'node:crypto';
import {
  GraphSimulator,
  type GraphSimulatorOptions,
  type SimulatedMailbox,
} from '../../simulators/graph/graph-simulator.js';
import { certificate, sink, startWorld, type World } from './world.js';

export { byEmail, certificate, sink } from './world.js';

/** An Exchange Online tenant: the Graph + Entra simulator and one app with a client secret. */
export interface GraphWorld extends World {
  sim: GraphSimulator;
  secret: string;
  tenantId: string;
  clientId: string;
  /** The config's graph section for this tenant (app ids and the simulator's endpoints). */
  graphSection: Record<string, unknown>;
  writeConfig(config: Record<string, unknown>): Promise<void>;
}

export type WorldOptions = Omit<GraphSimulatorOptions, 'certificate' | 'app' | 'mailboxes'> & {
  app?: Partial<GraphSimulatorOptions['app']>;
};

export async function startGraphWorld(mailboxes: SimulatedMailbox[], options: WorldOptions = {}): Promise<GraphWorld> {
  const secret = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const app = {
    tenantId: randomUUID(),
    clientId: randomUUID(),
    clientSecret: secret,
    roles: ['MailboxSettings.ReadWrite'],
    ...options.app,
  };
  const sim = new GraphSimulator({ ...options, certificate: await certificate(), app, mailboxes });
  const url = await sim.start();
  const base = await startWorld({ secrets: { SINKRULE_CLIENT_SECRET: secret }, stop: () => sim.stop() });
  const world: GraphWorld = Object.assign(base, {
    sim,
    secret,
    tenantId: app.tenantId,
    clientId: app.clientId,
    graphSection: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: url, baseUrl: url },
    writeConfig: (config: Record<string, unknown>) => base.writeJson(base.configFile, config),
  });
  await world.writeConfig({ sink, graph: world.graphSection });
  await world.writeUsers(`email\n${mailboxes.map((m) => m.email).join('\n')}\n`);
  return world;
}
