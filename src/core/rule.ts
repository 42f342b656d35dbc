/**
 * The rule model every back end maps to and from. It uses Microsoft Graph's vocabulary
 * (messageRule, messageRulePredicates, messageRuleActions) because Graph's is the documented,
 * richest one; the EWS adapter translates its element names into these.
 */

export interface EmailAddress {
  address: string;
  name?: string;
}
export interface Recipient {
  emailAddress: EmailAddress;
}
/** messageRulePredicates: conditions and exceptions. */
export type Predicates = Record<string, unknown>;
/** messageRuleActions. */
export type Actions = Record<string, unknown>;

/** What sinkrule writes: the rendered template. */
export interface RuleSpec {
  displayName: string;
  sequence: number;
  isEnabled: boolean;
  conditions?: Predicates;
  actions: Actions;
  exceptions?: Predicates;
}

/** A rule as read from a mailbox. */
export interface MailboxRule extends RuleSpec {
  id: string;
  /**
   * The API cannot express or change this rule (Graph isReadOnly, EWS IsNotSupported). Absent means
   * false: rules are kept as the service returned them (the report's record), nothing filled in.
   */
  isReadOnly?: boolean;
  /** The server flags the rule as broken (Graph hasError, EWS IsInError); absent means false. */
  hasError?: boolean;
}

/** The part of a rule an auditor reads: where it forwards and what it leaves out. */
export interface RuleSummary {
  id?: string;
  displayName: string;
  enabled: boolean;
  readOnly: boolean;
  forwardAsAttachmentTo: string[];
  forwardTo: string[];
  redirectTo: string[];
  conditions: string;
  exceptions: string;
}

const forwardingActions = ['forwardAsAttachmentTo', 'forwardTo', 'redirectTo'] as const;
const comparedSections = ['conditions', 'actions', 'exceptions'] as const;

/** Whether a rule is sinkrule's: same display name (Exchange compares names case-insensitively). */
export function hasRuleName(rule: { displayName: string }, ruleName: string): boolean {
  return rule.displayName.trim().toLowerCase() === ruleName.trim().toLowerCase();
}

/**
 * Canonical form of a predicates/actions object, so that two rules that mean the same compare
 * equal: absent, null, false, empty lists and empty objects all mean "not set"; recipients compare
 * by lower-cased address only (display names are cosmetic); lists are unordered.
 */
export function canonicalSection(section: Record<string, unknown> | undefined): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const canonical = canonicalValue(value);
    if (canonical !== undefined) result[key] = canonical;
  }
  return result;
}

function canonicalValue(value: unknown): unknown {
  if (value === null || value === undefined || value === false) return undefined;
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined;
    return value
      .map((item) => (isRecipient(item) ? item.emailAddress.address.toLowerCase() : canonicalValue(item)))
      .sort();
  }
  if (typeof value === 'object') {
    const nested = canonicalSection(value as Record<string, unknown>);
    return Object.keys(nested).length === 0 ? undefined : nested;
  }
  return value;
}

function isRecipient(value: unknown): value is Recipient {
  return typeof value === 'object' && value !== null && typeof (value as Recipient).emailAddress?.address === 'string';
}

/**
 * Every difference between the rule in the mailbox and the desired one, as
 * `field: actual → desired` lines. Empty means the rule is exactly right. Position (sequence) is
 * not compared: Exchange renumbers rules whenever any rule is added or removed.
 */
export function ruleDifferences(actual: RuleSpec & { hasError?: boolean }, desired: RuleSpec): string[] {
  const differences: string[] = [];
  const { isEnabled } = actual;
  if (isEnabled !== desired.isEnabled) differences.push(`isEnabled: ${isEnabled} → ${desired.isEnabled}`);
  if (actual.hasError) differences.push('hasError: the server marks the rule as broken');
  for (const section of comparedSections) {
    const have = canonicalSection(actual[section]);
    const want = canonicalSection(desired[section]);
    for (const key of new Set([...Object.keys(have), ...Object.keys(want)])) {
      const a = JSON.stringify(have[key] ?? null);
      const b = JSON.stringify(want[key] ?? null);
      if (a !== b) differences.push(`${section}.${key}: ${a} → ${b}`);
    }
  }
  return differences;
}

export function recipientsOf(actions: Actions | undefined, key: (typeof forwardingActions)[number]): string[] {
  const list = actions?.[key];
  return Array.isArray(list) ? list.filter(isRecipient).map((r) => r.emailAddress.address) : [];
}

export function forwardsAnywhere(rule: RuleSpec): boolean {
  return forwardingActions.some((key) => recipientsOf(rule.actions, key).length > 0);
}

export function summarizeRule(rule: RuleSpec & { id?: string; isReadOnly?: boolean }): RuleSummary {
  return {
    id: rule.id,
    displayName: rule.displayName,
    enabled: rule.isEnabled,
    readOnly: rule.isReadOnly ?? false,
    forwardAsAttachmentTo: recipientsOf(rule.actions, 'forwardAsAttachmentTo'),
    forwardTo: recipientsOf(rule.actions, 'forwardTo'),
    redirectTo: recipientsOf(rule.actions, 'redirectTo'),
    conditions: describeSection(rule.conditions),
    exceptions: describeSection(rule.exceptions),
  };
}

/** `fromAddresses=sink@contoso.com; isNonDeliveryReport` — compact, stable, readable in a CSV cell. */
export function describeSection(section: Record<string, unknown> | undefined): string {
  return Object.entries(canonicalSection(section))
    .map(([key, value]) =>
      value === true ? key : `${key}=${Array.isArray(value) ? value.join(',') : JSON.stringify(value)}`,
    )
    .join('; ');
}

/** `"Name" (id) → forwardTo a@x; redirectTo b@y` — what an auditor needs to judge a forwarding rule. */
export function describeForwarding(rule: RuleSummary): string {
  const targets = [
    ...rule.forwardAsAttachmentTo.map((a) => `forwardAsAttachmentTo ${a}`),
    ...rule.forwardTo.map((a) => `forwardTo ${a}`),
    ...rule.redirectTo.map((a) => `redirectTo ${a}`),
  ];
  const state = [
    rule.enabled ? 'enabled' : 'disabled',
    rule.readOnly ? 'read-only: actions not visible through the API' : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `"${rule.displayName}" (${state}) → ${targets.join('; ') || 'no forwarding visible'}`;
}
