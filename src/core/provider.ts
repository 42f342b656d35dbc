import type { MailboxError } from './errors.js';
import type { Mailbox, Target } from './mailbox.js';
import type { RuleChange } from './plan.js';
import type { MailboxRule } from './rule.js';

/** What a back end read from one mailbox. */
export interface MailboxState {
  rules: MailboxRule[];
  /** Facts the report records per mailbox (e.g. EWS `outlookRuleBlobExists`). */
  facts: Record<string, string | boolean>;
  /** Set when writing to this mailbox would have side effects the admin has not allowed. */
  writeBlockedBy?: MailboxError;
  /** Set when no API reaches the mailbox: a person does the work, following these instructions. */
  manual?: ManualWork;
}

/** Instructions for a mailbox no API reaches. */
export interface ManualWork {
  /** Instruction template name. */
  template: string;
  server: string;
  /** When (and by whom) the admin confirmed the rule exists, from the users file. */
  confirmed?: string;
  markdown: string;
  /** The same Markdown with the row's values HTML-escaped, for the handbook page. */
  markdownForHtml: string;
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
  /** Proves the credentials work before any mailbox is touched; throws AccessError. */
  open(signal?: AbortSignal): Promise<void>;
  /** All inbox rules of the mailbox. Never returns "no rules" for an error. */
  readRules(mailbox: Mailbox, signal?: AbortSignal): Promise<MailboxState>;
  /** Performs the changes the plan computed from `state`, in order. */
  applyChanges(mailbox: Mailbox, changes: readonly RuleChange[], state: MailboxState, signal?: AbortSignal): Promise<ApplyResult>;
  /**
   * Checks a users-file row against what this back end needs, before anything runs; returns what
   * is wrong and how to fix it, or undefined.
   */
  checkMailbox?(mailbox: Mailbox): string | undefined;
  /** What the report's run section says about this back end (endpoint, tenant, app id). */
  describe(): Record<string, string>;
  close(): Promise<void>;
}
