import { createGraphCredential } from '../auth/graph-credential.js';
import { InputError } from '../core/errors.js';
import type { Target } from '../core/mailbox.js';
import type { Clock, Sleep } from '../core/retry.js';
import { ThrottleGate } from '../core/throttle-gate.js';
import type { Config } from '../input/config.js';
import { createGraphProvider } from './graph.js';
import type { Provider } from './provider.js';

/** Targets this build has a back end for. */
export const supportedTargets: readonly Target[] = ['graph'];

export interface ProviderDependencies {
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  sleep: Sleep;
}

export interface ProviderSet {
  providers: Map<Target, Provider>;
  gates: Map<Target, ThrottleGate>;
  concurrencyFor(target: Target): number;
}

/**
 * The one place that chooses a back end. Builds a provider (and its shared ThrottleGate) for each
 * target the users file uses; a target without its config section is an input error.
 */
export function createProviders(used: readonly Target[], deps: ProviderDependencies): ProviderSet {
  const providers = new Map<Target, Provider>();
  const gates = new Map<Target, ThrottleGate>();
  const concurrency = new Map<Target, number>();
  for (const target of used) {
    const gate = new ThrottleGate({ clock: deps.clock, sleep: deps.sleep });
    const { provider, maxMailboxes } = createProvider(target, gate, deps);
    providers.set(target, provider);
    gates.set(target, gate);
    concurrency.set(target, maxMailboxes);
  }
  return { providers, gates, concurrencyFor: (target) => concurrency.get(target) ?? 1 };
}

function createProvider(target: Target, gate: ThrottleGate, deps: ProviderDependencies): { provider: Provider; maxMailboxes: number } {
  const { config } = deps;
  switch (target) {
    case 'graph': {
      if (!config.graph) throw missingSection(config, 'graph', 'graph', '{"tenantId": "…", "clientId": "…"}');
      const credential = createGraphCredential(config.graph, deps.env, config.file);
      return { provider: createGraphProvider({ config: config.graph, credential, gate, clock: deps.clock }), maxMailboxes: config.graph.concurrency };
    }
    default:
      throw new InputError([`${config.file}: target "${target}" is not supported by this version of sinkrule`]);
  }
}

function missingSection(config: Config, section: string, target: Target, example: string): InputError {
  return new InputError([`${config.file}: ${section}: missing, but the users file routes mailboxes to target "${target}": add "${section}": ${example}`]);
}
