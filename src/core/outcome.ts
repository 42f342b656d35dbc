import { AccessError, describeError, MailboxError, ThrottledError, TransientError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import type { Compliance, MailboxPlan, Mode, RuleChange } from './plan.js';
import type { MailboxRule, RuleSummary } from './rule.js';
import type { ManualWork } from './provider.js';
import type { MigrationOutcomeName, MigrationRecord } from './migration-record.js';

export type OutcomeName =
  | 'created'
  | 'updated'
  | 'unchanged'
  | 'removed'
  | 'absent'
  | Compliance
  | 'would-create'
  | 'would-update'
  | 'would-remove'
  | 'manual'
  | 'confirmed-manually'
  | 'restored'
  | 'would-restore'
  | 'conflict'
  /** verify --include-stale: sinkrule's rule in a mailbox Dynamics 365 no longer tracks by forwarding. */
  | 'stale'
  | 'failed'
  | ProbeOutcomeName
  | MigrationOutcomeName;

/** The live probe's verdict on a mailbox (Dynamics 365's Incoming Email Status: Success / Failure / Not Run). */
export type ProbeOutcomeName = 'probe-success' | 'probe-failure' | 'probe-not-run';
/** Why a probe failed. */
export type ProbeReason = 'not-arrived' | 'not-as-attachment' | 'ndr' | 'error';

/** What the probe did and found for one mailbox; `completedAt` is the "Mailbox Test Completed On". */
export interface ProbeRecord {
  outcome: ProbeOutcomeName;
  reason: ProbeReason | null;
  /** The NDR's enhanced status code (e.g. 5.7.520) when reason is ndr. */
  ndrStatus: string | null;
  /** The unique text in the test message's subject. */
  marker: string | null;
  sentAt: string | null;
  completedAt: string;
  /** What was found, in words, and what to do. */
  detail: string;
  /** Every copy of the test message found was deleted again. */
  cleanedUp: boolean;
}

/** Outcomes that leave a mailbox not in the desired state: any of them makes the run exit 2. */
export const nonCompliantOutcomes: ReadonlySet<OutcomeName> = new Set([
  'missing',
  'disabled',
  'drifted',
  'duplicate',
  'conflict',
  'stale',
  'failed',
  'probe-failure',
  'reverted',
  'not-ready',
]);

export interface OutcomeError {
  code: string;
  message: string;
  fix: string;
  details: readonly string[];
}

/** One row of the report: everything an auditor needs about one mailbox. */
export interface MailboxOutcome {
  email: string;
  displayName: string;
  target: string;
  sink: string;
  line: number;
  outcome: OutcomeName;
  /** Ids of sinkrule's rule(s) after the run (deploy), the ones found (verify) or deleted (remove). */
  ruleIds: string[];
  /**
   * sinkrule's rules (its name, changeable through the API) exactly as the service returned them
   * before the run changed anything, every property and id included; the one deploy keeps comes
   * first. null when the mailbox could not be read.
   */
  before: MailboxRule[] | null;
  /** sinkrule's rules as the run left them; null when unknown (the mailbox failed part-way). */
  after: MailboxRule[] | null;
  changes: string[];
  drift: string[];
  /** Rules with other names that forward or redirect mail, or that the API cannot show. */
  otherForwardingRules: RuleSummary[];
  facts: Record<string, string | boolean>;
  notes: string[];
  error: OutcomeError | null;
  /**
   * Manual mailboxes: the instructions. The report writer saves the Markdown to a file and keeps
   * only the reference (template, server, confirmed, file) in the rows.
   */
  instructions: (Partial<ManualWork> & { template: string; server: string; file?: string }) | null;
  attempts: number;
  durationInMs: number;
  /** The live probe, when one ran for this mailbox (probe, verify --probe, deploy --canary). */
  probe: ProbeRecord | null;
  /** deploy --canary: this mailbox was in the canary wave. */
  canary: boolean;
  /** migrate: the Dynamics 365 mailbox record before and after (for rollback and the auditor). */
  record?: MigrationRecord;
}

/** The outcome word for a mailbox whose plan was carried out (or, in a dry run, shown). */
export function outcomeFor(mode: Mode, plan: MailboxPlan, dryRun: boolean): OutcomeName {
  if (mode === 'verify') return plan.compliance;
  const kinds = new Set(plan.changes.map((change: RuleChange) => change.kind));
  if (mode === 'remove') {
    if (kinds.size === 0) return 'absent';
    return dryRun ? 'would-remove' : 'removed';
  }
  if (kinds.size === 0) return 'unchanged';
  if (kinds.has('create')) return dryRun ? 'would-create' : 'created';
  return dryRun ? 'would-update' : 'updated';
}

/** Turns whatever stopped a mailbox into the report's error with a fix. AccessError never gets here. */
export function outcomeError(error: unknown): OutcomeError {
  if (error instanceof MailboxError)
    return { code: error.code, message: error.message, fix: error.fix, details: error.details };
  if (error instanceof ThrottledError) {
    return {
      code: error.code,
      message: `${error.message} (still throttled when sinkrule gave up)`,
      fix: 'Re-run later or with a lower --concurrency; sinkrule re-reads every mailbox first, so a re-run is safe.',
      details: [],
    };
  }
  if (error instanceof TransientError) {
    return {
      code: error.code,
      message: error.message,
      fix:
        'Check connectivity to the service and re-run; sinkrule re-reads every mailbox before writing, so a ' +
        're-run is safe.',
      details: [],
    };
  }
  if (error instanceof AccessError) throw error;
  return {
    code: 'UnexpectedError',
    message: describeError(error),
    fix: 'This is a sinkrule bug: report it with report.json attached.',
    details: [],
  };
}

/** The mailbox a report row is about (the inverse of emptyOutcome's copy): for steps that work from a run's rows. */
export function mailboxOf(row: MailboxOutcome): Mailbox {
  return {
    email: row.email,
    displayName: row.displayName,
    target: row.target as Mailbox['target'],
    sink: row.sink,
    line: row.line,
  };
}

export function emptyOutcome(mailbox: Mailbox): MailboxOutcome {
  return {
    email: mailbox.email,
    displayName: mailbox.displayName ?? '',
    target: mailbox.target,
    sink: mailbox.sink,
    line: mailbox.line,
    outcome: 'failed',
    ruleIds: [],
    before: null,
    after: null,
    changes: [],
    drift: [],
    otherForwardingRules: [],
    facts: mailbox.dynamicsMailboxId ? { dynamicsMailboxId: mailbox.dynamicsMailboxId } : {},
    notes: [],
    error: null,
    instructions: null,
    attempts: 0,
    durationInMs: 0,
    probe: null,
    canary: false,
  };
}
