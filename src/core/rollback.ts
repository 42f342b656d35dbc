import { AccessError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import { emptyOutcome, outcomeError, type MailboxOutcome } from './outcome.js';
import { describeChange, type RuleChange } from './plan.js';
import type { ApiProvider } from './provider.js';
import { withRetry } from './retry.js';
import { hasRuleName, ruleDifferences, type MailboxRule, type RuleSpec } from './rule.js';
import { writeJournaled, type RunnerOptions } from './runner.js';

/** What rollback decides for one mailbox. */
export type RollbackDecision =
  /** The mailbox already holds the recorded before-state: nothing to write. */
  | { kind: 'unchanged'; changes: []; reasons: string[] }
  /** The mailbox holds what the run left (or part-way back): these changes restore the before-state. */
  | { kind: 'restore'; changes: RuleChange[]; reasons: string[] }
  /** sinkrule's rules were changed after the run: nothing is written. */
  | { kind: 'conflict'; changes: []; reasons: string[] };

export interface RecordedRun {
  /** sinkrule's rules before the run, as recorded (null: the run could not read the mailbox). */
  before: readonly MailboxRule[] | null;
  /** sinkrule's rules as the run left them (null: unknown, the mailbox failed part-way). */
  after: readonly MailboxRule[] | null;
}

/**
 * Pure: compares sinkrule's rules in the mailbox now (only rules with `ruleName` that the API can
 * change are looked at; other rules are never part of a change) with what a run recorded.
 * Each rule now must be one the run left, unchanged (then: delete it if the run created it, put
 * back its old content if the run updated it), or one already brought back (old content under
 * its id, or a recreated copy of a rule the run deleted). Anything else, or a rule the run left
 * that is gone, is a conflict: someone changed the mailbox after the run, and rollback would
 * overwrite their decision. Rules the run deleted and nobody recreated are recreated.
 */
export function planRollback(run: RecordedRun, rules: readonly MailboxRule[], ruleName: string): RollbackDecision {
  const now = rules.filter((rule) => hasRuleName(rule, ruleName) && !rule.isReadOnly);
  if (run.before === null)
    return conflict(['the run could not read this mailbox: there is no recorded state to go back to']);
  if (run.after === null) {
    return sameContent(now, run.before)
      ? unchanged()
      : conflict([
          'the run failed part-way on this mailbox, so what it left is unknown, and the mailbox differs from ' +
            'the recorded before-state',
        ]);
  }
  const beforeById = new Map(run.before.map((rule) => [rule.id, rule]));
  const afterById = new Map(run.after.map((rule) => [rule.id, rule]));
  const toRecreate = run.before.filter((rule) => !afterById.has(rule.id));
  const changes: RuleChange[] = [];
  const reasons: string[] = [];
  for (const rule of now) {
    const left = afterById.get(rule.id);
    const old = beforeById.get(rule.id);
    if (left && same(rule, left)) {
      if (!old) changes.push({ kind: 'delete', ruleId: rule.id, reason: 'created by the run' });
      else if (!same(left, old))
        changes.push({
          kind: 'update',
          ruleId: rule.id,
          rule: specOf(old),
          reasons: ['put back the content before the run'],
        });
    } else if (left && old && same(rule, old)) {
      // Already put back.
    } else if (left) {
      reasons.push(`rule ${rule.id} was changed after the run: ${differences(rule, left).join('; ')}`);
    } else {
      const copy = toRecreate.findIndex((deleted) => same(rule, deleted));
      if (copy >= 0)
        toRecreate.splice(copy, 1); // a rule the run deleted, already recreated
      else reasons.push(`rule ${rule.id} ("${rule.displayName}") was added after the run`);
    }
  }
  const nowIds = new Set(now.map((rule) => rule.id));
  for (const rule of run.after)
    if (!nowIds.has(rule.id) && beforeById.has(rule.id)) reasons.push(`rule ${rule.id} that the run left is gone`);
  if (reasons.length > 0) return conflict(reasons);
  changes.push(...toRecreate.map((rule): RuleChange => ({ kind: 'create', rule: specOf(rule) })));
  return changes.length > 0 ? { kind: 'restore', changes, reasons: [] } : unchanged();
}

const unchanged = (): RollbackDecision => ({ kind: 'unchanged', changes: [], reasons: [] });
const conflict = (reasons: string[]): RollbackDecision => ({ kind: 'conflict', changes: [], reasons });

function differences(actual: MailboxRule, expected: MailboxRule): string[] {
  return [
    ...(actual.displayName === expected.displayName
      ? []
      : [`displayName: ${actual.displayName} → ${expected.displayName}`]),
    ...ruleDifferences(actual, expected),
  ];
}

const same = (a: MailboxRule, b: MailboxRule) => differences(a, b).length === 0;

/** The writable part of a recorded rule, exactly as it was (recipient names included). */
function specOf(rule: MailboxRule): RuleSpec {
  return {
    displayName: rule.displayName,
    sequence: rule.sequence,
    isEnabled: rule.isEnabled,
    conditions: rule.conditions,
    actions: rule.actions,
    exceptions: rule.exceptions,
  };
}

/** Same rules by content, ids and positions aside (a recreated rule gets a new id). */
function sameContent(now: readonly MailboxRule[], expected: readonly MailboxRule[]): boolean {
  if (now.length !== expected.length) return false;
  const left = [...now];
  return expected.every((rule) => {
    const index = left.findIndex((candidate) => same(candidate, rule));
    return index >= 0 && left.splice(index, 1).length === 1;
  });
}

/** A mailbox to roll back, with what the run recorded for it. */
export interface RollbackMailbox extends Mailbox {
  recorded: RecordedRun;
  ruleName: string;
}

/**
 * One mailbox of a rollback: read, decide (planRollback), write; a retryable error starts again
 * from a fresh read, so a restore interrupted part-way continues where it stopped.
 */
export async function rollbackMailbox(
  mailbox: RollbackMailbox,
  provider: ApiProvider,
  options: RunnerOptions,
): Promise<MailboxOutcome> {
  const started = options.clock();
  const outcome = emptyOutcome(mailbox);
  let first: RollbackDecision | undefined;
  try {
    await withRetry(
      async (attempt) => {
        outcome.attempts = attempt;
        const state = await provider.readRules(mailbox, options.signal);
        const decision = planRollback(mailbox.recorded, state.rules, mailbox.ruleName);
        const ours = state.rules.filter((rule) => hasRuleName(rule, mailbox.ruleName) && !rule.isReadOnly);
        outcome.before ??= ours;
        first ??= decision;
        outcome.after = ours;
        if (decision.kind !== 'restore' || options.dryRun) return;
        if (state.writeBlockedBy) throw state.writeBlockedBy;
        const result = await writeJournaled(provider, mailbox, decision.changes, state, attempt, options);
        outcome.after = restoredRules(mailbox.recorded.before!, ours, decision.changes, result.createdRuleIds);
      },
      {
        ...options.retry,
        signal: options.signal,
        onRetry: (error, _attempt, delay) => options.onRetry?.(mailbox, error, delay),
      },
    );
    outcome.outcome =
      first!.kind === 'conflict'
        ? 'conflict'
        : first!.kind === 'unchanged'
          ? 'unchanged'
          : options.dryRun
            ? 'would-restore'
            : 'restored';
    outcome.changes = first!.changes.map(describeChange);
    outcome.drift = first!.reasons;
    outcome.ruleIds = (outcome.after ?? []).map((rule) => rule.id);
  } catch (error) {
    if (error instanceof AccessError || options.signal?.aborted) throw error;
    outcome.outcome = 'failed';
    outcome.error = outcomeError(error);
    outcome.after = null;
  }
  outcome.durationInMs = Math.round(options.clock() - started);
  return outcome;
}

/** sinkrule's rules after a restore: the recorded before-state, recreated rules under their new ids. */
function restoredRules(
  before: readonly MailboxRule[],
  now: readonly MailboxRule[],
  changes: readonly RuleChange[],
  createdIds: string[],
): MailboxRule[] {
  const deleted = new Set(changes.flatMap((change) => (change.kind === 'delete' ? [change.ruleId] : [])));
  const kept = now
    .filter((rule) => !deleted.has(rule.id))
    .map((rule) => before.find((old) => old.id === rule.id) ?? rule);
  const created = changes
    .filter((change) => change.kind === 'create')
    .map((change, i) => ({ ...change.rule, id: createdIds[i] ?? '', isReadOnly: false, hasError: false }));
  return [...kept, ...created];
}
