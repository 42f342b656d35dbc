import { InputError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import type { OutcomeError } from './outcome.js';
import type { MailboxRecordFields, MigrationRecord, RecordPatch } from './migration-record.js';

export type * from './migration-record.js';

/**
 * What `sinkrule migrate` decides, without any I/O: whether a Dynamics 365 mailbox record may leave
 * the forward mailbox, the writes that switch it to server-side synchronization and back, what the
 * asynchronous "Test & Enable" answered, and whether a wave's failures stop the run. Option values:
 * the mailbox table's reference (incomingemaildeliverymethod 2 Server-Side Synchronization, 3 Forward
 * Mailbox; incomingemailstatus 1 Success, 2 Failure; emailrouteraccessapproval 1 Approved).
 */
export const deliveryMethod = { serverSideSync: 2, forwardMailbox: 3 } as const;
export const testStatus = { notRun: 0, success: 1, failure: 2 } as const;
const approved = 1;
const active = 0;

/** Where an admin reads why a mailbox's test failed: the record's alerts. */
export function alertsLocation(orgUrl: string, record: Pick<MailboxRecordFields, 'mailboxId' | 'name'>): string {
  const page = `${orgUrl}/main.aspx?pagetype=entityrecord&etn=mailbox&id=${record.mailboxId}`;
  return `Dynamics 365 → Settings → Email Configuration → Mailboxes → "${record.name}" → Alerts (${page})`;
}

/** Why a record may not be switched (nothing is changed for it), or undefined when it may. */
export function readinessProblem(
  record: MailboxRecordFields,
  configuredProfile: string | undefined,
): OutcomeError | undefined {
  const where = `Dynamics 365 (Settings → Email Configuration → Mailboxes → "${record.name}")`;
  const refuse = (code: string, message: string, fix: string) => ({ code, message, fix, details: [] });
  if (record.state !== active)
    return refuse('RecordInactive', `the mailbox record "${record.name}" is inactive`, `Activate it in ${where}.`);
  if (record.incomingEmailDeliveryMethod !== deliveryMethod.forwardMailbox)
    return refuse(
      'NotForwardMailbox',
      `Incoming Email of "${record.name}" is "${record.labels.incomingEmailDeliveryMethod}", not Forward Mailbox`,
      'Nothing to migrate: only records on the forward mailbox are switched.',
    );
  if (record.emailRouterAccessApproval !== approved)
    return refuse(
      'EmailNotApproved',
      `the email address ${record.emailAddress} of "${record.name}" is ` +
        `"${record.labels.emailRouterAccessApproval}", not Approved: server-side synchronization would refuse it`,
      `Approve it in ${where} → Approve Email (a Microsoft 365 global or Exchange admin, or turn off approval ` +
        "in the environment's settings), then run again.",
    );
  if (!record.emailServerProfileId && !configuredProfile)
    return refuse(
      'NoEmailServerProfile',
      `the mailbox record "${record.name}" has no email server profile, and the config names none`,
      `Choose a Server Profile on the record in ${where}, or set "dataverse": {"emailServerProfile": ` +
        '"<name or id>"} in the config, then run again.',
    );
  return undefined;
}

/** "Test & Enable" on server-side sync; the configured profile only where the record has none. */
export function switchPatch(record: MailboxRecordFields, profileId: string | undefined): RecordPatch {
  return {
    incomingemaildeliverymethod: deliveryMethod.serverSideSync,
    ...(record.emailServerProfileId || !profileId
      ? {}
      : { 'emailserverprofile@odata.bind': `/emailserverprofiles(${profileId})` }),
    testemailconfigurationscheduled: true,
  };
}

/** Back to the forward mailbox, with the profile sinkrule set taken off again. */
export function revertPatch(migration: Pick<MigrationRecord, 'profileSet'>): RecordPatch {
  return {
    incomingemaildeliverymethod: deliveryMethod.forwardMailbox,
    ...(migration.profileSet ? { 'emailserverprofile@odata.bind': null } : {}),
  };
}

/** Rollback: the columns migrate wrote, as they were before. */
export function restorePatch(before: MailboxRecordFields, profileSet: string | null): RecordPatch {
  return {
    incomingemaildeliverymethod: before.incomingEmailDeliveryMethod,
    ...(profileSet
      ? {
          'emailserverprofile@odata.bind': before.emailServerProfileId
            ? `/emailserverprofiles(${before.emailServerProfileId})`
            : null,
        }
      : {}),
  };
}

export type TestVerdict = 'success' | 'failure' | 'pending';

/**
 * The test's answer for a record switched at `switchedAt` (Dataverse's clock, whole seconds): a
 * completion stamped at or after the switch, different from the one before it, with Success or Failure.
 */
export function testVerdict(now: MailboxRecordFields, migration: MigrationRecord): TestVerdict {
  const completed = now.testMailboxAccessCompletedOn;
  if (!completed || !migration.switchedAt || completed === migration.before.testMailboxAccessCompletedOn)
    return 'pending';
  const switchedSecond = Math.floor(Date.parse(migration.switchedAt) / 1000) * 1000;
  if (Date.parse(completed) < switchedSecond) return 'pending';
  if (now.incomingEmailStatus === testStatus.success) return 'success';
  return now.incomingEmailStatus === testStatus.failure ? 'failure' : 'pending';
}

/** --max-failures: a count ("3") or a share of the wave ("10%"). */
export interface FailureLimit {
  count?: number;
  percent?: number;
  text: string;
}

export function parseFailureLimit(text: string): FailureLimit {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text);
  if (!match || (match[2] === '' && !Number.isInteger(Number(match[1]))) || Number(match[1]) > (match[2] ? 100 : 1e9))
    throw new InputError([
      `command line: --max-failures "${text}": give a whole number of mailboxes (3) or a percentage of the wave (10%)`,
    ]);
  return match[2] ? { percent: Number(match[1]), text: `${match[1]}%` } : { count: Number(match[1]), text: match[1]! };
}

/** How many failures a wave of `size` mailboxes may have before the run stops. */
export function allowedFailures(limit: FailureLimit, size: number): number {
  return limit.count ?? Math.floor(((limit.percent ?? 0) * size) / 100 + 1e-9);
}

/** migrate's writes to Dynamics 365 mailbox records: before each write (with the record as read) and after. */
export type RecordStep = 'switch' | 'revert' | 'restore';
export type RecordJournalEvent =
  | {
      type: 'record-write';
      email: string;
      /** The row, so a resumed run finds a record that left the source's query (switched). */
      mailbox: Mailbox;
      mailboxId: string;
      step: RecordStep;
      patch: RecordPatch;
      before: MailboxRecordFields;
    }
  /** takenAt: when Dataverse took the write (its Date header); empty when a retry found it already done. */
  | { type: 'record-written'; email: string; mailboxId: string; step: RecordStep; takenAt: string }
  | { type: 'record-write-failed'; email: string; mailboxId: string; step: RecordStep; error: string };
