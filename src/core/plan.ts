import { hasRuleName, ruleDifferences, type MailboxRule, type RuleSpec } from './rule.js';

export type Mode = 'deploy' | 'verify' | 'remove';

/** What `verify` says about a mailbox. */
export type Compliance = 'ok' | 'missing' | 'disabled' | 'drifted' | 'duplicate';

export type RuleChange =
  | { kind: 'create'; rule: RuleSpec }
  | { kind: 'update'; ruleId: string; rule: RuleSpec; reasons: string[] }
  | { kind: 'delete'; ruleId: string; reason: string };

/** The difference between what a mailbox holds and what the template says, for one command. */
export interface MailboxPlan {
  compliance: Compliance;
  /** sinkrule's rules in the mailbox: our display name and changeable through the API. */
  ours: MailboxRule[];
  /** The one of ours that deploy keeps (the best match), if any. */
  keeper?: MailboxRule;
  /** `field: actual → desired` for the keeper. */
  drift: string[];
  /** Writes that bring the mailbox to the desired state for this command (none for verify). */
  changes: RuleChange[];
  /** Things the report must mention although nothing is done about them. */
  notes: string[];
}

/**
 * Pure: compares the rules read from one mailbox with the desired rule. Rules with other names are
 * never part of a change; a read-only rule is never ours even when it carries our name, because
 * the API cannot show what it does.
 */
export function planMailbox(mode: Mode, rules: readonly MailboxRule[], desired: RuleSpec): MailboxPlan {
  const named = rules.filter((rule) => hasRuleName(rule, desired.displayName));
  const ours = named.filter((rule) => !rule.isReadOnly);
  const notes = named
    .filter((rule) => rule.isReadOnly)
    .map(
      (rule) =>
        `rule "${rule.displayName}" (${rule.id}) carries sinkrule's name but is read-only for this API: not ` +
        `touched; check it in Outlook or Exchange admin`,
    );
  const ranked = ours
    .map((rule) => ({ rule, drift: ruleDifferences(rule, desired) }))
    .sort((a, b) => a.drift.length - b.drift.length || a.rule.sequence - b.rule.sequence);
  const best = ranked[0];
  const compliance = classify(ours.length, best?.drift ?? [], best?.rule);
  const plan: MailboxPlan = { compliance, ours, keeper: best?.rule, drift: best?.drift ?? [], changes: [], notes };
  if (mode === 'deploy') plan.changes = deployChanges(ranked, desired);
  if (mode === 'remove') plan.changes = ours.map((rule) => ({ kind: 'delete', ruleId: rule.id, reason: 'remove' }));
  return plan;
}

function classify(count: number, drift: string[], keeper: MailboxRule | undefined): Compliance {
  if (count === 0 || !keeper) return 'missing';
  if (count > 1) return 'duplicate';
  if (drift.length === 0) return 'ok';
  return drift.length === 1 && !keeper.isEnabled && drift[0]!.startsWith('isEnabled') ? 'disabled' : 'drifted';
}

function deployChanges(ranked: Array<{ rule: MailboxRule; drift: string[] }>, desired: RuleSpec): RuleChange[] {
  const [keep, ...extra] = ranked;
  if (!keep) return [{ kind: 'create', rule: desired }];
  const changes: RuleChange[] = extra.map(({ rule }) => ({
    kind: 'delete',
    ruleId: rule.id,
    reason: `duplicate of ${keep.rule.id}`,
  }));
  if (keep.drift.length > 0)
    changes.unshift({ kind: 'update', ruleId: keep.rule.id, rule: desired, reasons: keep.drift });
  return changes;
}

/** One line per change, for dry runs, confirmations and the report. */
export function describeChange(change: RuleChange): string {
  switch (change.kind) {
    case 'create':
      return `create rule "${change.rule.displayName}"`;
    case 'update':
      return `update rule ${change.ruleId} (${change.reasons.join('; ')})`;
    case 'delete':
      return `delete rule ${change.ruleId} (${change.reason})`;
  }
}
