import type { MailboxError } from '../core/errors.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import type { RuleChange } from '../core/plan.js';
import type { MailboxRule } from '../core/rule.js';

/** What a back end read from one mailbox. */
export interface MailboxState {
  rules: MailboxRule[];
  /** Facts the report records per mailbox (e.g. EWS `outlookRuleBlobExists`). */
  facts: Record<string, string | boolean>;
  /** Set when writing to this mailbox would have side effects the admin has not allowed. */
  writeBlockedBy?: MailboxError;
}

export interface ApplyResult {
  /** Ids the server gave the rules it created. */
  createdRuleIds: string[];
}

/**
 * One back end. Every verb goes through the run's ThrottleGate and translates the service's
 * errors into sinkrule's error classes; none of them retries or loops: the core does that.
 */
export interface Provider {
  readonly target: Target;
  /** Proves the credentials work before any mailbox is touched; throws CredentialError. */
  open(signal?: AbortSignal): Promise<void>;
  /** All inbox rules of the mailbox. Never returns "no rules" for an error. */
  readRules(mailbox: Mailbox, signal?: AbortSignal): Promise<MailboxState>;
  /** Performs the changes the plan computed from `state`, in order. */
  applyChanges(mailbox: Mailbox, changes: readonly RuleChange[], state: MailboxState, signal?: AbortSignal): Promise<ApplyResult>;
  /** What the report's run section says about this back end (endpoint, tenant, app id). */
  describe(): Record<string, string>;
  close(): Promise<void>;
}
