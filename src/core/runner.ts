import { setMaxListeners } from 'node:events';
import pLimit, { type LimitFunction } from 'p-limit';
import { AccessError } from './errors.js';
import type { Mailbox, Target } from './mailbox.js';
import { emptyOutcome, outcomeError, outcomeFor, type MailboxOutcome, type OutcomeName } from './outcome.js';
import { describeChange, planMailbox, type MailboxPlan, type Mode } from './plan.js';
import { forwardsAnywhere, hasRuleName, ruleDifferences, summarizeRule, type RuleSpec } from './rule.js';

const ruleDifferencesEmpty = (rule: MailboxRule, desired: RuleSpec) => ruleDifferences(rule, desired).length === 0;
import { withRetry, type Clock, type RetryOptions } from './retry.js';
import type { ApiProvider, ApplyResult, MailboxState, ManualWork, Provider, WriteJournal } from './provider.js';
import type { RuleChange } from './plan.js';
import type { MailboxRule } from './rule.js';

export interface RunnerOptions {
  mode: Mode;
  dryRun: boolean;
  /** The one place that knows which back end serves a mailbox. */
  providerFor: (mailbox: Mailbox) => Provider;
  /** Mailboxes worked on at once, per back end. */
  concurrencyFor: (target: Target) => number;
  desiredRuleFor: (mailbox: Mailbox) => RuleSpec;
  retry: Omit<RetryOptions, 'signal' | 'onRetry'>;
  clock: Clock;
  signal?: AbortSignal;
  onOutcome: (outcome: MailboxOutcome) => void | Promise<void>;
  onRetry?: (mailbox: Mailbox, error: unknown, delayInMs: number) => void;
  /** Durable record of every write (the run's journal). */
  journal?: WriteJournal;
  /** Another unit of work per mailbox (rollback); default: converge to the template. */
  processMailbox?: (mailbox: Mailbox, options: RunnerOptions) => Promise<MailboxOutcome>;
}

/**
 * Fans the mailboxes out to their back ends, each with its own concurrency limit, pulling rows
 * from `mailboxes` only as fast as workers free up (so a million-row file is never all in memory).
 * Every mailbox ends in exactly one outcome; a AccessError stops the run and is rethrown.
 */
export async function runMailboxes(mailboxes: AsyncIterable<Mailbox>, options: RunnerOptions): Promise<void> {
  const controller = new AbortController();
  // Every waiting worker listens on this signal; thousands of listeners are expected.
  setMaxListeners(0, controller.signal);
  const stopOnOuterAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', stopOnOuterAbort, { once: true });
  const inner = { ...options, signal: controller.signal };
  const limits = new Map<Target, LimitFunction>();
  let running = 0;
  let wake: (() => void) | undefined;
  const waitForSlot = () => new Promise<void>((resolve) => (wake = resolve));
  let stoppedBy: unknown;
  const stop = (error: unknown) => {
    stoppedBy ??= error;
    controller.abort(error);
  };
  try {
    for await (const mailbox of mailboxes) {
      if (controller.signal.aborted) break;
      const limit =
        limits.get(mailbox.target) ??
        limits.set(mailbox.target, pLimit(options.concurrencyFor(mailbox.target))).get(mailbox.target)!;
      running++;
      void limit(() => (options.processMailbox ?? processMailbox)(mailbox, inner))
        .then((outcome) => options.onOutcome(outcome))
        .catch(stop)
        .finally(() => {
          running--;
          wake?.();
        });
      // Back-pressure: rows are read only while fewer than twice the workers' count are under way.
      while (running >= backlogSize(limits)) await waitForSlot();
    }
  } catch (error) {
    // The source failed part-way (e.g. Dataverse stopped answering): the mailboxes under way still finish.
    stop(error);
  }
  while (running > 0) await waitForSlot();
  options.signal?.removeEventListener('abort', stopOnOuterAbort);
  if (stoppedBy !== undefined) throw stoppedBy;
}

function backlogSize(limits: Map<Target, LimitFunction>): number {
  let total = 0;
  for (const limit of limits.values()) total += limit.concurrency;
  return Math.max(2, total * 2);
}

/** One mailbox, whatever serves it: exactly one outcome; an AccessError stops the run. */
export async function processMailbox(mailbox: Mailbox, options: RunnerOptions): Promise<MailboxOutcome> {
  const provider = options.providerFor(mailbox);
  const started = options.clock();
  const outcome = emptyOutcome(mailbox);
  if (mailbox.problem) outcome.error = { ...mailbox.problem, details: [] };
  else if (provider.kind === 'api') await converge(provider, mailbox, outcome, options);
  else {
    try {
      describeManual(outcome, provider.instructionsFor(mailbox), options.mode);
    } catch (error) {
      outcome.error = outcomeError(error);
    }
  }
  outcome.durationInMs = Math.round(options.clock() - started);
  return outcome;
}

/**
 * An API mailbox: read, plan, write, and on a retryable error start again from a fresh read. The
 * outcome word comes from the first plan (what had to change), because a later attempt may find
 * the earlier write already done.
 */
async function converge(
  provider: ApiProvider,
  mailbox: Mailbox,
  outcome: MailboxOutcome,
  options: RunnerOptions,
): Promise<void> {
  const desired = options.desiredRuleFor(mailbox);
  let first: { state: MailboxState; plan: MailboxPlan } | undefined;
  let wrote = false;
  try {
    const final = await withRetry(
      async (attempt) => {
        outcome.attempts = attempt;
        wrote = false;
        const state = await provider.readRules(mailbox, options.signal);
        const plan = planMailbox(options.mode, state.rules, desired);
        first ??= { state, plan };
        let result: ApplyResult = { createdRuleIds: [] };
        if (!options.dryRun && plan.changes.length > 0) {
          if (state.writeBlockedBy) throw state.writeBlockedBy;
          wrote = true;
          result = await writeJournaled(provider, mailbox, plan.changes, state, attempt, options);
          if (plan.changes.some((change) => change.kind === 'create') && result.createdRuleIds.length === 0) {
            result = await readBackCreated(provider, mailbox, state, desired, options.signal);
          }
        }
        return { plan, result };
      },
      {
        ...options.retry,
        signal: options.signal,
        afterUnknownWrite: () => wrote,
        onRetry: (error, _attempt, delay) => options.onRetry?.(mailbox, error, delay),
      },
    );
    describeSuccess(mailbox, outcome, first!, final, options, desired);
  } catch (error) {
    if (error instanceof AccessError || options.signal?.aborted) throw error;
    outcome.outcome = 'failed';
    outcome.error = outcomeError(error);
    if (first) describeFound(outcome, first.state, first.plan);
  }
}

/**
 * Some services do not answer a create with the new rule's id (EWS UpdateInboxRules): read the
 * mailbox once more, so the report records the rule as it now is, id included (an auditor tells
 * sinkrule's rules by id, and rollback deletes by id).
 */
async function readBackCreated(
  provider: ApiProvider,
  mailbox: Mailbox,
  before: MailboxState,
  desired: RuleSpec,
  signal?: AbortSignal,
): Promise<ApplyResult> {
  const known = new Set(before.rules.map((rule) => rule.id));
  const ours = (await provider.readRules(mailbox, signal)).rules.filter(
    (rule) => hasRuleName(rule, desired.displayName) && !rule.isReadOnly,
  );
  return { createdRuleIds: ours.filter((rule) => !known.has(rule.id)).map((rule) => rule.id), writtenRules: ours };
}

/** Applies changes with the journal entry made durable before the write and after its answer. */
export async function writeJournaled(
  provider: ApiProvider,
  mailbox: Mailbox,
  changes: readonly RuleChange[],
  state: MailboxState,
  attempt: number,
  options: Pick<RunnerOptions, 'journal' | 'signal'>,
): Promise<ApplyResult> {
  await options.journal?.beforeWrite(mailbox, changes, attempt);
  let result: ApplyResult;
  try {
    result = await provider.applyChanges(mailbox, changes, state, options.signal);
  } catch (error) {
    await options.journal?.afterWrite(mailbox, { error });
    throw error;
  }
  await options.journal?.afterWrite(mailbox, { result });
  return result;
}

/**
 * No API: the admin does the work by hand. A confirmed row counts as done for deploy and verify;
 * remove always needs the person (and the removal instructions).
 */
function describeManual(outcome: MailboxOutcome, work: ManualWork, mode: Mode): void {
  outcome.outcome = work.confirmed && mode !== 'remove' ? 'confirmed-manually' : 'manual';
  outcome.instructions = work;
  outcome.facts = {
    ...outcome.facts,
    server: work.server,
    instructions: work.template,
    ...(work.confirmed ? { confirmed: work.confirmed } : {}),
  };
  outcome.changes = [
    mode === 'remove'
      ? 'remove the rule by hand (see the instructions)'
      : work.confirmed
        ? `confirmed by hand: ${work.confirmed}`
        : 'create the rule by hand (see the instructions)',
  ];
}

function describeFound(outcome: MailboxOutcome, state: MailboxState, plan: MailboxPlan): void {
  // The keeper first: the report's readable columns summarize the first rule.
  outcome.before = plan.keeper ? [plan.keeper, ...plan.ours.filter((rule) => rule !== plan.keeper)] : [...plan.ours];
  outcome.drift = plan.drift;
  outcome.facts = { ...outcome.facts, ...state.facts };
  outcome.notes.push(...plan.notes);
  if (plan.ours.length > 1) outcome.notes.push(`${plan.ours.length} rules carry sinkrule's name`);
  outcome.otherForwardingRules = state.rules
    .filter((rule) => !plan.ours.includes(rule) && (rule.isReadOnly || forwardsAnywhere(rule)))
    .map(summarizeRule);
}

/**
 * A mailbox Dynamics 365 no longer tracks by forwarding: any rule of ours there is stale; without
 * one, a user on server-side sync whose mailbox test succeeded is `migrated`.
 */
function staleOutcome(mailbox: Mailbox, outcome: MailboxOutcome, plan: MailboxPlan): OutcomeName {
  const sync = mailbox.serverSideSync;
  if (plan.ours.length === 0 && !sync) return 'absent';
  if (plan.ours.length === 0 && sync?.status === 1) return 'migrated';
  if (plan.ours.length === 0) {
    outcome.error = {
      code: 'ServerSideSyncNotWorking',
      message:
        `on server-side sync, but its mailbox test says "${sync?.label}", and sinkrule's rule is not there: ` +
        "nothing tracks this user's mail",
      fix:
        'Test & Enable the mailbox in Dynamics 365 and read its alerts; or set it back to Forward Mailbox and ' +
        'deploy the rule again.',
      details: [],
    };
    return 'failed';
  }
  outcome.notes.push(
    `Incoming Email is "${mailbox.staleBecause}" in Dynamics 365, yet sinkrule's rule still forwards every ` +
      'message to the sink: remove it (sinkrule remove --from-dataverse --stale)',
  );
  return 'stale';
}

function describeSuccess(
  mailbox: Mailbox,
  outcome: MailboxOutcome,
  first: { state: MailboxState; plan: MailboxPlan },
  final: { plan: MailboxPlan; result: ApplyResult },
  options: RunnerOptions,
  desired: RuleSpec,
): void {
  describeFound(outcome, first.state, first.plan);
  outcome.outcome =
    mailbox.staleBecause && options.mode === 'verify'
      ? staleOutcome(mailbox, outcome, first.plan)
      : outcomeFor(options.mode, first.plan, options.dryRun);
  outcome.changes = first.plan.changes.map(describeChange);
  if (options.dryRun || options.mode === 'verify') {
    outcome.ruleIds = first.plan.ours.map((rule) => rule.id);
    outcome.after = outcome.before;
    return;
  }
  if (options.mode === 'remove') {
    outcome.ruleIds = first.plan.ours.map((rule) => rule.id);
    outcome.after = [];
    return;
  }
  const id = final.result.createdRuleIds[0] ?? final.plan.keeper?.id;
  outcome.ruleIds = id ? [id] : [];
  outcome.after = id ? [afterRule(id, desired, final.plan.keeper, final.result.writtenRules)] : [];
}

/** The rule as the service answered the write, else the written template with the rule's id. */
function afterRule(
  id: string,
  desired: RuleSpec,
  keeper: MailboxRule | undefined,
  written: MailboxRule[] | undefined,
): MailboxRule {
  const answered = written?.find((rule) => rule.id === id);
  if (answered) return answered;
  if (keeper?.id === id && ruleDifferencesEmpty(keeper, desired)) return keeper;
  return {
    ...desired,
    id,
    sequence: keeper?.id === id ? keeper.sequence : desired.sequence,
    isReadOnly: false,
    hasError: false,
  };
}
