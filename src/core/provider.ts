import type { MailboxError } from './errors.js';
import type { Mailbox, Target } from './mailbox.js';
import type { RuleChange } from './plan.js';
import type { MailboxRule } from './rule.js';

/** What an API back end read from one mailbox. */
export interface MailboxState {
  rules: MailboxRule[];
  /** Facts the report records per mailbox (e.g. EWS `outlookRuleBlobExists`). */
  facts: Record<string, string | boolean>;
  /** Set when writing to this mailbox would have side effects the admin has not allowed. */
  writeBlockedBy?: MailboxError;
}

/** Instructions for a mailbox no API reaches: a person does the work. */
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
  /** The rules as the service answered the writes (Graph returns them), when it does. */
  writtenRules?: MailboxRule[];
}

/**
 * Records every write before it is sent and its answer after, durably (the journal): a run killed
 * at any moment leaves a record of every write it may have made.
 */
export interface WriteJournal {
  beforeWrite(mailbox: Mailbox, changes: readonly RuleChange[], attempt: number): Promise<void>;
  afterWrite(mailbox: Mailbox, answer: { result: ApplyResult } | { error: unknown }): Promise<void>;
}

/** What the token the back end signed in with says about the app (never the token itself). */
export interface SignedInApp {
  tenantId?: string;
  appId?: string;
  appDisplayName?: string;
  roles: string[];
}

/** What every back end has: set-up, the row check, the report's description, tear-down. */
interface ProviderBase {
  readonly target: Target;
  /** Proves the credentials work before any mailbox is touched; throws AccessError. */
  open(signal?: AbortSignal): Promise<void>;
  /**
   * Checks a users-file row against what this back end needs, before anything runs; returns what
   * is wrong and how to fix it, or undefined.
   */
  checkMailbox?(mailbox: Mailbox): string | undefined;
  /** What the report's run section says about this back end (endpoint, tenant, app id). */
  describe(): Record<string, string>;
  /** The app as its token describes it, once open() has run (back ends signing in with a token). */
  signedInApp?(): SignedInApp | undefined;
  close(): Promise<void>;
}

/**
 * A back end with an API (Graph, EWS). Every verb goes through the run's ThrottleGate and
 * translates the service's errors into sinkrule's error classes; none of them retries or loops:
 * the core does that.
 */
export interface ApiProvider extends ProviderBase {
  readonly kind: 'api';
  /** All inbox rules of the mailbox. Never returns "no rules" for an error. */
  readRules(mailbox: Mailbox, signal?: AbortSignal): Promise<MailboxState>;
  /** Performs the changes the plan computed from `state`, in order. */
  applyChanges(
    mailbox: Mailbox,
    changes: readonly RuleChange[],
    state: MailboxState,
    signal?: AbortSignal,
  ): Promise<ApplyResult>;
  /** Present when the back end can send and read test mail (the probe). */
  readonly mail?: MailAccess;
  /** Present when the back end can read Defender alerts (the canary's watch). */
  readonly securityAlerts?: SecurityAlertAccess;
  /**
   * The directory's verified domain names (Graph `GET /domains`), for telling internal forwarding
   * targets from external ones; throws MailboxError when the app may not read them.
   */
  verifiedDomains?(signal?: AbortSignal): Promise<string[]>;
}

/** A message as a probe sees it (any folder). */
export interface FoundMessage {
  id: string;
  subject: string;
  /** Sender address, lower case. */
  from: string;
  receivedAt: string;
  bodyText: string;
  attachments: Array<{ id: string; kind: 'item' | 'file' | 'reference'; name: string }>;
}

/** Mail in the tenant's mailboxes, for the live probe (Graph: Mail.Send, Mail.ReadWrite). */
export interface MailAccess {
  /** Sends a text message from one mailbox to another; resolves once the service accepted it. */
  send(from: string, to: string, subject: string, body: string, signal?: AbortSignal): Promise<void>;
  /**
   * Every message received since `filter.since` (with exactly `filter.subject`, if given), in all
   * folders, newest first, with attachment names.
   */
  findMessages(
    mailbox: string,
    filter: { since: Date; subject?: string },
    signal?: AbortSignal,
  ): Promise<FoundMessage[]>;
  /** The subject of the message an item attachment holds. */
  attachedItemSubject(mailbox: string, messageId: string, attachmentId: string, signal?: AbortSignal): Promise<string>;
  /** Deletes a message; one already gone counts as deleted. */
  deleteMessage(mailbox: string, messageId: string, signal?: AbortSignal): Promise<void>;
}

/** A back end no API reaches (POP3 and other servers): it writes instructions for a person. */
export interface ManualProvider extends ProviderBase {
  readonly kind: 'manual';
  /** The instructions for this mailbox and command; checkMailbox has vetted the row. */
  instructionsFor(mailbox: Mailbox): ManualWork;
}

/** One back end: the runner handles each kind explicitly. */
export type Provider = ApiProvider | ManualProvider;

/** A Defender alert as the canary's watch sees it: what, how bad, when, and the mailboxes its evidence names. */
export interface SecurityAlert {
  id: string;
  title: string;
  /** informational, low, medium, high (or a value the service adds later). */
  severity: string;
  createdDateTime: string;
  status: string;
  /** Lower-case addresses from mailbox and user evidence. */
  mailboxes: string[];
  webUrl?: string;
}

/** Defender alerts (Graph security/alerts_v2, SecurityAlert.Read.All). */
export interface SecurityAlertAccess {
  /** Every alert created at or after `since`. */
  listSince(since: Date, signal?: AbortSignal): Promise<SecurityAlert[]>;
}
