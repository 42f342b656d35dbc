import { cachingCredential, createEwsCredential, createGraphCredential } from '../auth/graph-credential.js';
import { InputError } from '../core/errors.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import type { Mode } from '../core/plan.js';
import type { RuleSpec } from '../core/rule.js';
import { templatesDir } from '../paths.js';
import path from 'node:path';
import type { Clock, Sleep } from '../core/retry.js';
import { ThrottleGate } from '../core/throttle-gate.js';
import type { Config } from '../input/config.js';
import { createGraphProvider } from './graph.js';
import { createEwsProvider, ewsPasswordVariable } from './ews.js';
import { createManualProvider } from './manual.js';
import type { Provider } from '../core/provider.js';
import type { PaceMemory } from './pace-memory.js';
import { WireThread, wireLeadInMs } from './wire-thread.js';

/** Targets this build has a back end for. */
export const supportedTargets: readonly Target[] = ['graph', 'ews', 'pop3', 'manual'];

export interface ProviderDependencies {
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  sleep: Sleep;
  mode: Mode;
  desiredRuleFor(mailbox: Mailbox): RuleSpec;
  /** Paces learnt by earlier runs against the same services (none: every run learns its own). */
  paceMemory?: PaceMemory;
  /** Handed to each back end's throttle gate (ThrottleGateOptions.yieldToAnswers). */
  yieldToAnswers?: () => Promise<void>;
  /** Graph requests leave from a thread of their own (wire-thread.ts); not on a virtual clock. */
  graphWireThread?: boolean;
}

export interface ProviderSet {
  /** The provider of a target, created on first use. */
  get(target: Target): Provider;
  /** The providers created so far (the targets the users file uses). */
  readonly providers: Map<Target, Provider>;
  readonly gates: Map<Target, ThrottleGate>;
  concurrencyFor(target: Target): number;
  /** How many mailboxes each back end will work on, when known before the run (a users file). */
  expectMailboxes(byTarget: Partial<Record<Target, number>>): void;
  /** Keeps the paces this run learnt for the next run; returns a warning if they could not be kept. */
  rememberPaces(): string | undefined;
  /** Windows an interrupted run was given (epoch ms each ends): its back ends send nothing before. */
  honourWindows(windows: Partial<Record<Target, number>>): void;
  /** Told of every app-wide window a back end is given from now on (the run journals them). */
  watchWindows(listener: (target: Target, until: number) => void): void;
}

/**
 * The one place that chooses a back end. A provider (with the ThrottleGate all its workers share)
 * is built for a target when the users file first routes a mailbox to it; a target whose config
 * section is missing is an input error.
 */
export function createProviders(deps: ProviderDependencies): ProviderSet {
  const providers = new Map<Target, Provider>();
  const gates = new Map<Target, ThrottleGate>();
  const concurrency = new Map<Target, number>();
  let workload: Partial<Record<Target, number>> = {};
  let inherited: Partial<Record<Target, number>> = {};
  let windowListener: ((target: Target, until: number) => void) | undefined;
  return {
    providers,
    gates,
    get(target) {
      let provider = providers.get(target);
      if (!provider) {
        const smallBurst = deps.paceMemory?.recallSmallBurst(target, deps.config) ?? false;
        const wire = target === 'graph' && deps.graphWireThread ? new WireThread(undefined, smallBurst) : undefined;
        const gate = new ThrottleGate({
          clock: deps.clock,
          sleep: deps.sleep,
          rememberedRequestsPerSecond: deps.paceMemory?.recall(target, deps.config),
          rememberedSmallBurst: smallBurst,
          yieldToAnswers: deps.yieldToAnswers,
          onWindow: (until) => windowListener?.(target, until),
          releaseAheadInMs: wire ? wireLeadInMs : 0,
        });
        const until = inherited[target];
        if (until !== undefined) gate.honourWindow(until);
        const expected = workload[target];
        if (expected !== undefined) gate.expectMailboxes(expected);
        const created = createProvider(target, gate, deps, wire);
        provider = created.provider;
        providers.set(target, provider);
        gates.set(target, gate);
        concurrency.set(target, created.maxMailboxes);
      }
      return provider;
    },
    concurrencyFor: (target) => concurrency.get(target) ?? 1,
    expectMailboxes(byTarget) {
      workload = byTarget;
      for (const [target, gate] of gates) {
        const expected = byTarget[target];
        if (expected !== undefined) gate.expectMailboxes(expected);
      }
    },
    honourWindows(windows) {
      inherited = windows;
      for (const [target, gate] of gates) {
        const until = windows[target];
        if (until !== undefined) gate.honourWindow(until);
      }
    },
    watchWindows(listener) {
      windowListener = listener;
    },
    rememberPaces: () =>
      deps.paceMemory?.remember(
        [...gates].map(([target, gate]) => [target, gate.learnedPace()]),
        deps.config,
      ),
  };
}

function createProvider(
  target: Target,
  gate: ThrottleGate,
  deps: ProviderDependencies,
  wire?: WireThread,
): { provider: Provider; maxMailboxes: number } {
  const { config } = deps;
  switch (target) {
    case 'graph': {
      if (!config.graph) throw missingSection(config, 'graph', 'graph', '{"tenantId": "…", "clientId": "…"}');
      const { credential, kind } = createGraphCredential(config.graph, deps.env, config.file);
      // The kind actually used (also when chosen from the environment) goes into the report.
      const graph = { ...config.graph, auth: kind };
      return {
        provider: createGraphProvider({
          config: graph,
          credential: cachingCredential(credential, deps.clock),
          gate,
          clock: deps.clock,
          batchSize: graph.batchSize,
          wire: wire?.send,
        }),
        maxMailboxes: graph.concurrency,
      };
    }
    case 'ews': {
      const ews = config.ews;
      if (!ews)
        throw missingSection(
          config,
          'ews',
          'ews',
          '{"url": "https://mail.contoso.com/EWS/Exchange.asmx", "username": "CONTOSO\\\\svc-sinkrule"}',
        );
      const password = deps.env[ewsPasswordVariable];
      if (ews.auth !== 'oauth' && !password)
        throw new InputError([
          `${config.file}: ews: no password: set the environment variable ${ewsPasswordVariable} to the ` +
            `password of ${ews.username}`,
        ]);
      const credential =
        ews.auth === 'oauth'
          ? cachingCredential(createEwsCredential(ews, deps.env, config.file), deps.clock)
          : undefined;
      const provider = createEwsProvider({
        config: ews,
        password,
        credential,
        gate,
        removeOutlookRuleBlob: ews.removeOutlookRuleBlob,
        desiredRuleFor: deps.desiredRuleFor,
      });
      return { provider, maxMailboxes: ews.concurrency };
    }
    case 'pop3':
    case 'manual': {
      const instructionDirs = [config.manual.instructionsDir, path.join(templatesDir, 'instructions')].filter(
        (d): d is string => Boolean(d),
      );
      const provider = createManualProvider({
        target,
        mode: deps.mode,
        instructionDirs,
        defaultInstructions: config.manual.defaultInstructions,
        ruleName: config.rule.displayName,
        sinkName: config.sinkDisplayName,
        desiredRuleFor: deps.desiredRuleFor,
      });
      // No network: rendering instructions is cheap, a handful at a time is plenty.
      return { provider, maxMailboxes: 4 };
    }
    default:
      throw new InputError([`${config.file}: target "${target}" is not supported by this version of sinkrule`]);
  }
}

function missingSection(config: Config, section: string, target: Target, example: string): InputError {
  return new InputError([
    `${config.file}: ${section}: missing, but the users file routes mailboxes to target "${target}": add ` +
      `"${section}": ${example}`,
  ]);
}
