import type { Actions, MailboxRule, Predicates, RuleSpec } from '../core/rule.js';

/** The ews-javascript-api module (loaded on demand: it is heavy). */
export type EwsModule = typeof import('ews-javascript-api');
type EwsRule = InstanceType<EwsModule['Rule']>;

type Kind = 'boolean' | 'strings' | 'addresses' | 'importance' | 'sensitivity';

/**
 * Graph's names (sinkrule's rule model) next to the EWS Managed API's, for every predicate and
 * action both can express. Rules using anything else are still read (and reported); only these
 * are compared and written.
 */
const predicateMap: ReadonlyArray<[keyof Predicates & string, string, Kind]> = [
  ['bodyContains', 'ContainsBodyStrings', 'strings'],
  ['bodyOrSubjectContains', 'ContainsSubjectOrBodyStrings', 'strings'],
  ['categories', 'Categories', 'strings'],
  ['fromAddresses', 'FromAddresses', 'addresses'],
  ['hasAttachments', 'HasAttachments', 'boolean'],
  ['headerContains', 'ContainsHeaderStrings', 'strings'],
  ['importance', 'Importance', 'importance'],
  ['isApprovalRequest', 'IsApprovalRequest', 'boolean'],
  ['isAutomaticForward', 'IsAutomaticForward', 'boolean'],
  ['isAutomaticReply', 'IsAutomaticReply', 'boolean'],
  ['isEncrypted', 'IsEncrypted', 'boolean'],
  ['isMeetingRequest', 'IsMeetingRequest', 'boolean'],
  ['isMeetingResponse', 'IsMeetingResponse', 'boolean'],
  ['isNonDeliveryReport', 'IsNonDeliveryReport', 'boolean'],
  ['isPermissionControlled', 'IsPermissionControlled', 'boolean'],
  ['isReadReceipt', 'IsReadReceipt', 'boolean'],
  ['isSigned', 'IsSigned', 'boolean'],
  ['isVoicemail', 'IsVoicemail', 'boolean'],
  ['notSentToMe', 'NotSentToMe', 'boolean'],
  ['recipientContains', 'ContainsRecipientStrings', 'strings'],
  ['senderContains', 'ContainsSenderStrings', 'strings'],
  ['sensitivity', 'Sensitivity', 'sensitivity'],
  ['sentCcMe', 'SentCcMe', 'boolean'],
  ['sentOnlyToMe', 'SentOnlyToMe', 'boolean'],
  ['sentToAddresses', 'SentToAddresses', 'addresses'],
  ['sentToMe', 'SentToMe', 'boolean'],
  ['sentToOrCcMe', 'SentToOrCcMe', 'boolean'],
  ['subjectContains', 'ContainsSubjectStrings', 'strings'],
];
const actionMap: ReadonlyArray<[keyof Actions & string, string, Kind]> = [
  ['assignCategories', 'AssignCategories', 'strings'],
  ['delete', 'Delete', 'boolean'],
  ['forwardAsAttachmentTo', 'ForwardAsAttachmentToRecipients', 'addresses'],
  ['forwardTo', 'ForwardToRecipients', 'addresses'],
  ['markAsRead', 'MarkAsRead', 'boolean'],
  ['markImportance', 'MarkImportance', 'importance'],
  ['permanentDelete', 'PermanentDelete', 'boolean'],
  ['redirectTo', 'RedirectToRecipients', 'addresses'],
  ['stopProcessingRules', 'StopProcessingRules', 'boolean'],
];

// ews-javascript-api's objects are untyped property bags at this boundary; the mapping table checks names.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Bag = Record<string, any>;

function readSection(ews: EwsModule, source: Bag, map: typeof predicateMap): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [graphName, ewsName, kind] of map) {
    const value = source[ewsName];
    if (value === undefined || value === null) continue;
    switch (kind) {
      case 'boolean':
        if (value === true) result[graphName] = true;
        break;
      case 'strings': {
        const list = (value.GetEnumerator() as string[]).filter((s) => s !== undefined);
        if (list.length) result[graphName] = list;
        break;
      }
      case 'addresses': {
        const list = (value.GetEnumerator() as Array<{ Address: string; Name?: string }>).map((a) => ({
          emailAddress: { address: a.Address, ...(a.Name ? { name: a.Name } : {}) },
        }));
        if (list.length) result[graphName] = list;
        break;
      }
      case 'importance':
        result[graphName] = String(ews.Importance[value]).toLowerCase();
        break;
      case 'sensitivity':
        result[graphName] = String(ews.Sensitivity[value]).toLowerCase();
    }
  }
  return result;
}

function writeSection(
  ews: EwsModule,
  target: Bag,
  source: Record<string, unknown> | undefined,
  map: typeof predicateMap,
): void {
  const byGraphName = new Map(map.map(([g, e, k]) => [g, [e, k] as const]));
  for (const [graphName, value] of Object.entries(source ?? {})) {
    const entry = byGraphName.get(graphName);
    if (!entry) throw new Error(`the rule uses "${graphName}", which EWS rules cannot express`);
    const [ewsName, kind] = entry;
    if (value === false || value === undefined || value === null) continue;
    switch (kind) {
      case 'boolean':
        target[ewsName] = value;
        break;
      case 'strings':
        for (const item of value as string[]) target[ewsName].Add(item);
        break;
      case 'addresses':
        for (const { emailAddress } of value as Array<{ emailAddress: { address: string; name?: string } }>) {
          target[ewsName].Add(
            emailAddress.name
              ? new ews.EmailAddress(emailAddress.name, emailAddress.address)
              : new ews.EmailAddress(emailAddress.address),
          );
        }
        break;
      case 'importance':
        target[ewsName] = ews.Importance[capitalize(value as string) as keyof typeof ews.Importance];
        break;
      case 'sensitivity':
        target[ewsName] = ews.Sensitivity[capitalize(value as string) as keyof typeof ews.Sensitivity];
    }
  }
}

/** Whether a rule only uses what the EWS mapping can write (checked before anything runs). */
export function unsupportedByEws(rule: RuleSpec): string | undefined {
  const sections: Array<[Record<string, unknown> | undefined, typeof predicateMap]> = [
    [rule.conditions, predicateMap],
    [rule.exceptions, predicateMap],
    [rule.actions, actionMap],
  ];
  for (const [section, map] of sections) {
    const known = new Set(map.map(([g]) => g));
    const unknown = Object.keys(section ?? {}).find((key) => !known.has(key));
    if (unknown) return unknown;
  }
  return undefined;
}

export function fromEwsRule(ews: EwsModule, rule: EwsRule): MailboxRule {
  return {
    id: rule.Id,
    displayName: rule.DisplayName ?? '',
    sequence: rule.Priority,
    isEnabled: rule.IsEnabled,
    // EWS flags rules it cannot represent (IsNotSupported); rewriting one would destroy what it does.
    isReadOnly: rule.IsNotSupported === true,
    hasError: rule.IsInError === true,
    conditions: readSection(ews, rule.Conditions as unknown as Bag, predicateMap),
    exceptions: readSection(ews, rule.Exceptions as unknown as Bag, predicateMap),
    actions: readSection(ews, rule.Actions as unknown as Bag, actionMap),
  };
}

/** A library Rule for Create (no id) or Set (with the id and the priority it has). */
export function toEwsRule(ews: EwsModule, spec: RuleSpec, existing?: { id: string; priority: number }): EwsRule {
  const rule = new ews.Rule();
  // ews-javascript-api 0.15.3: the Rule.Id setter assigns itself and never returns (stack
  // overflow); its getter and the XML writer read the `ruleId` field, so set that.
  if (existing) (rule as unknown as { ruleId: string }).ruleId = existing.id;
  rule.DisplayName = spec.displayName;
  rule.Priority = existing?.priority ?? spec.sequence;
  rule.IsEnabled = spec.isEnabled;
  writeSection(ews, rule.Conditions as unknown as Bag, spec.conditions, predicateMap);
  writeSection(ews, rule.Exceptions as unknown as Bag, spec.exceptions, predicateMap);
  writeSection(ews, rule.Actions as unknown as Bag, spec.actions, actionMap);
  return rule;
}

function capitalize(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}
