import { InputError } from '../core/errors.js';
import { mailboxOf, type MailboxOutcome } from '../core/outcome.js';
import { planMailbox } from '../core/plan.js';
import { explainFromRules, probeNotRun, Prober, type ProbeSettings } from '../core/probe.js';
import type { Config } from '../input/config.js';
import type { CliIO } from '../common/io.js';
import type { PreparedRun } from './prepare.js';

/** The config's probe section, checked: the run needs it, and test mail must not come from a sink. */
export function requireProbeSettings(config: Config, sinks: readonly string[]): ProbeSettings {
  const probe = config.probe;
  if (!probe) {
    throw new InputError([
      `${config.file}: probe: missing: add "probe": {"from": "sinkrule-probe@contoso.com"} naming a mailbox ` +
        `the app may send as (application permission Mail.Send), not the sink`,
    ]);
  }
  if (sinks.some((sink) => sink.toLowerCase() === probe.from.toLowerCase())) {
    throw new InputError([
      `${config.file}: probe.from: ${probe.from} is a sink: the rule's exception skips mail from the sink, ` +
        `so every probe would fail: use another mailbox`,
    ]);
  }
  return { from: probe.from, timeoutInMs: probe.timeoutInS * 1000, pollIntervalInMs: probe.pollIntervalInMs };
}

/**
 * Returns what runs after a mailbox's outcome to add the live probe to it: Graph mailboxes are
 * probed (their provider has mail access), all others get probe-not-run with how to check by hand.
 */
export function probeStep(
  run: PreparedRun,
  settings: ProbeSettings,
  io: CliIO,
): (outcome: MailboxOutcome) => Promise<void> {
  let prober: Prober | undefined;
  const proberFor = () => {
    const graph = run.providers.get('graph');
    if (graph.kind !== 'api' || !graph.mail) return undefined;
    return (prober ??= new Prober({
      ...settings,
      mail: graph.mail,
      clock: io.clock,
      sleep: io.sleep,
      retry: run.config.retry,
      signal: io.signal,
      explainMissing: async (mailbox) => {
        const state = await graph.readRules(mailbox, io.signal);
        return explainFromRules(state.rules, planMailbox('verify', state.rules, run.desiredRuleFor(mailbox)));
      },
    }));
  };
  return async (outcome) => {
    const mailbox = mailboxOf(outcome);
    const probe = mailbox.target === 'graph' ? proberFor() : undefined;
    outcome.probe = probe ? await probe.probe(mailbox) : probeNotRun(mailbox, io.clock);
  };
}

/** N items spread evenly over the list (the first, then every len/N-th). */
export function spread<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}
