import type { SimulatedMailbox, SimulatedRule } from '../../simulators/graph/graph-simulator.js';
import { correctSinkRule, foreignRules } from '../../simulators/scenarios.js';
import type { RuleView, ScenarioMailbox } from './contract.js';
import { sink } from './graph-world.js';

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
      return {
        email,
        kind: 'exchange-online',
        rules: [correctSinkRule('old-sink@contoso.com'), foreignRules.removeSpam, correctSinkRule(sink)],
      };
    case 'readonly':
      return {
        email,
        kind: 'exchange-online',
        rules: [foreignRules.readOnly, { ...correctSinkRule(sink), isReadOnly: true }],
      };
    case 'foreign':
      return {
        email,
        kind: 'exchange-online',
        rules: [foreignRules.removeSpam, foreignRules.fromPartner, foreignRules.externalRedirect],
      };
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
  const addresses = (list: unknown) =>
    ((list as Array<{ emailAddress: { address: string } }> | undefined) ?? []).map((r) => r.emailAddress.address);
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
