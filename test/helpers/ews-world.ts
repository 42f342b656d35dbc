import { randomBytes } from 'node:crypto';
import {
  EwsSimulator,
  type EwsSimulatedMailbox,
  type EwsSimulatorOptions,
} from '../../simulators/ews/ews-simulator.js';
import { EwsSchemaValidator, ewsSchemaDir } from '../../simulators/ews/schema-validator.js';
import { certificate, sink, startWorld, type World } from './world.js';

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

/** An on-premises Exchange server: the EWS simulator and a service account with a password. */
export interface EwsWorld extends World {
  sim: EwsSimulator;
  password: string;
  writeConfig(ews: Record<string, unknown>, extra?: Record<string, unknown>): Promise<void>;
}

export async function startEwsWorld(
  mailboxes: EwsSimulatedMailbox[],
  options: Partial<Omit<EwsSimulatorOptions, 'mailboxes'>> = {},
  users = mailboxes.map((m) => m.email),
): Promise<EwsWorld> {
  const password = `Pw-${randomBytes(9).toString('base64url')}`;
  const sim = new EwsSimulator({
    certificate: await certificate(),
    account: { username: serviceAccount, password },
    validator: await schemaValidator(),
    mailboxes,
    ...options,
  });
  const url = await sim.start();
  const base = await startWorld({ secrets: { SINKRULE_EWS_PASSWORD: password }, stop: () => sim.stop() });
  const world: EwsWorld = Object.assign(base, {
    sim,
    password,
    writeConfig: (ews: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      base.writeJson(base.configFile, {
        sink,
        defaultTarget: 'ews',
        ews: { url, username: serviceAccount, ...ews },
        ...extra,
      }),
  });
  await world.writeConfig({});
  await world.writeUsers(`email\n${users.join('\n')}\n`);
  return world;
}
