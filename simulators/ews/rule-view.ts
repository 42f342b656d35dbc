import type { RuleLike } from '../graph/mail-flow.js';
import type { EwsAddress, EwsRule, EwsSection } from './ews-rules.js';

/**
 * An on-premises rule as the mail it acts on sees it: EWS RulePredicatesType / RuleActionsType
 * (types.xsd) named as Graph's messageRulePredicates / messageRuleActions, whose documentation
 * pairs them one to one ("messageRulePredicates resource type": fromAddresses = FromAddresses,
 * isNonDeliveryReport = IsNDR, …). Elements without a Graph twin keep their EWS name, which the
 * mail flow does not model: a condition it cannot check makes the rule not apply.
 */
const predicateNames: Record<string, string> = {
  ContainsBodyStrings: 'bodyContains',
  ContainsHeaderStrings: 'headerContains',
  ContainsSenderStrings: 'senderContains',
  ContainsSubjectOrBodyStrings: 'bodyOrSubjectContains',
  ContainsSubjectStrings: 'subjectContains',
  FromAddresses: 'fromAddresses',
  HasAttachments: 'hasAttachments',
  IsNDR: 'isNonDeliveryReport',
  IsReadReceipt: 'isReadReceipt',
  SentToAddresses: 'sentToAddresses',
};
const actionNames: Record<string, string> = {
  Delete: 'delete',
  ForwardAsAttachmentToRecipients: 'forwardAsAttachmentTo',
  ForwardToRecipients: 'forwardTo',
  PermanentDelete: 'permanentDelete',
  RedirectToRecipients: 'redirectTo',
  StopProcessingRules: 'stopProcessingRules',
};

export function asMessageRule(rule: EwsRule): RuleLike {
  return {
    displayName: rule.DisplayName,
    sequence: rule.Priority,
    isEnabled: rule.IsEnabled && !rule.IsInError,
    isReadOnly: rule.IsNotSupported ?? false,
    conditions: rename(rule.Conditions, predicateNames),
    exceptions: rename(rule.Exceptions, predicateNames),
    actions: rename(rule.Actions, actionNames),
  };
}

function rename(section: EwsSection | undefined, names: Record<string, string>): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(section ?? {})) {
    const isAddressList = Array.isArray(value) && value.length > 0 && typeof value[0] === 'object';
    result[names[name] ?? name] = isAddressList
      ? (value as EwsAddress[]).map((a) => ({ emailAddress: { address: a.address, name: a.name } }))
      : value;
  }
  return result;
}
