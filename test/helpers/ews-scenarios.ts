import type { EwsSimulatedMailbox } from '../../simulators/ews/ews-simulator.js';
import type { EwsAddress, EwsRule } from '../../simulators/ews/ews-rules.js';
import { ews } from '../../simulators/scenarios.js';
import type { RuleView, ScenarioMailbox } from './contract.js';
import { sink } from './graph-world.js';

/** The contract population as on-premises Exchange stores it. */
export function ewsMailbox({ email, scenario }: ScenarioMailbox): EwsSimulatedMailbox | undefined {
  const { correctSinkRule, foreignRules } = ews;
  switch (scenario) {
    case 'missing':
      return { email };
    case 'disabled':
      return { email, rules: [correctSinkRule(sink, { IsEnabled: false })] };
    case 'drifted':
      return { email, rules: [correctSinkRule('old-sink@contoso.com')] };
    case 'duplicate':
      return {
        email,
        rules: [correctSinkRule('old-sink@contoso.com'), foreignRules.removeSpam, correctSinkRule(sink)],
      };
    case 'readonly':
      return { email, rules: [foreignRules.unsupported, { ...correctSinkRule(sink), IsNotSupported: true }] };
    case 'foreign':
      return {
        email,
        rules: [
          foreignRules.removeSpam,
          foreignRules.fromPartner,
          foreignRules.externalRedirect,
          foreignRules.moveNewsletters,
        ],
      };
    case 'ok':
      return { email, rules: [foreignRules.removeSpam, correctSinkRule(sink)] };
    case 'denied':
      return { email, impersonationDenied: true };
    case 'no-mailbox':
    case 'unknown':
      return undefined; // Exchange answers ErrorNonExistentMailbox for both
  }
}

export function ewsRuleView(rule: EwsRule): RuleView {
  const addresses = (list: unknown) => ((list as EwsAddress[] | undefined) ?? []).map((a) => a.address);
  const { Priority: _position, ...raw } = rule;
  return {
    displayName: rule.DisplayName,
    isEnabled: rule.IsEnabled,
    readOnly: rule.IsNotSupported === true,
    forwardAsAttachmentTo: addresses(rule.Actions?.ForwardAsAttachmentToRecipients),
    exceptionFrom: addresses(rule.Exceptions?.FromAddresses),
    exceptNonDeliveryReports: rule.Exceptions?.IsNDR === true,
    exceptReadReceipts: rule.Exceptions?.IsReadReceipt === true,
    raw,
  };
}
