import type { SimulatedMailbox, SimulatedRule } from '../src/simulators/graph/graph-simulator.js';
import { correctSinkRule, foreignRules, sinkRuleName } from '../src/simulators/scenarios.js';
import { contractSuite, type ContractWorld, type RuleView, type ScenarioMailbox } from './helpers/contract.js';
import { sink, startGraphWorld } from './helpers/graph-world.js';

/** The contract population in Graph's shapes. */
export function graphMailbox({ email, scenario }: ScenarioMailbox): SimulatedMailbox | undefined {
  switch (scenario) {
    case 'missing':
      return { email, kind: 'exchange-online' };
    case 'disabled':
      return { email, kind: 'exchange-online', rules: [correctSinkRule(sink, { isEnabled: false })] };
    case 'drifted':
      return { email, kind: 'exchange-online', rules: [correctSinkRule('old-sink@contoso.com')] };
    case 'duplicate':
      return { email, kind: 'exchange-online', rules: [correctSinkRule('old-sink@contoso.com'), foreignRules.removeSpam, correctSinkRule(sink)] };
    case 'readonly':
      return { email, kind: 'exchange-online', rules: [foreignRules.readOnly, { ...correctSinkRule(sink), isReadOnly: true }] };
    case 'foreign':
      return { email, kind: 'exchange-online', rules: [foreignRules.removeSpam, foreignRules.fromPartner, foreignRules.externalRedirect] };
    case 'ok':
      return { email, kind: 'exchange-online', rules: [foreignRules.removeSpam, correctSinkRule(sink)] };
    case 'no-mailbox':
      return { email, kind: 'on-premises' };
    case 'denied':
      return { email, kind: 'exchange-online', outOfScope: true };
    case 'unknown':
      return undefined;
  }
}

export function graphRuleView(rule: SimulatedRule): RuleView {
  const addresses = (list: unknown) => ((list as Array<{ emailAddress: { address: string } }> | undefined) ?? []).map((r) => r.emailAddress.address);
  const { sequence: _position, ...raw } = rule;
  return {
    displayName: rule.displayName,
    isEnabled: rule.isEnabled,
    readOnly: rule.isReadOnly,
    forwardAsAttachmentTo: addresses(rule.actions?.forwardAsAttachmentTo),
    exceptionFrom: addresses(rule.exceptions?.fromAddresses),
    exceptNonDeliveryReports: rule.exceptions?.isNonDeliveryReport === true,
    exceptReadReceipts: rule.exceptions?.isReadReceipt === true,
    raw,
  };
}

contractSuite('Microsoft Graph', async (mailboxes): Promise<ContractWorld> => {
  const world = await startGraphWorld(mailboxes.map(graphMailbox).filter((m): m is SimulatedMailbox => m !== undefined), { latencyInMs: 5 });
  await world.writeUsers(`email\n${mailboxes.map((m) => m.email).join('\n')}\n`);
  return {
    sink,
    ruleName: sinkRuleName,
    secrets: [world.secret],
    dir: world.dir,
    run: world.run,
    report: world.report,
    rules: (email) => world.sim.rulesOf(email).map(graphRuleView),
    writes: () => world.sim.stats.writes,
    insideRetryAfterWindow: () => world.sim.stats.insideRetryAfterWindow,
    close: world.close,
  };
});
