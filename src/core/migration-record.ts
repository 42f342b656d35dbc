// The records of a migration, as the outcome and the report carry them: types only, so that
// core/outcome.ts can name them without importing the migration logic (which names outcomes).

/**
 * migrated: on server-side sync, tested Success, sinkrule's rule gone (verify says it too);
 * would-migrate: a dry run's plan; reverted: the test failed or timed out, the record is back on the
 * forward mailbox and the rule kept; not-ready: a pre-check refused the record, nothing changed.
 */
export type MigrationOutcomeName = 'migrated' | 'would-migrate' | 'reverted' | 'not-ready';

/** The columns of one mailbox record migrate looks at and writes, as read. */
export interface MailboxRecordFields {
  mailboxId: string;
  name: string;
  emailAddress: string;
  /** statecode: 0 Active. */
  state: number;
  incomingEmailDeliveryMethod: number;
  incomingEmailStatus: number;
  emailRouterAccessApproval: number;
  emailServerProfileId: string | null;
  testEmailConfigurationScheduled: boolean;
  testMailboxAccessCompletedOn: string | null;
  etag: string;
  /** The labels Dynamics 365 shows, for messages. */
  labels: { incomingEmailDeliveryMethod: string; incomingEmailStatus: string; emailRouterAccessApproval: string };
}

/** A write to a record: the Web API body (column values, `emailserverprofile@odata.bind`). */
export type RecordPatch = Record<string, string | number | boolean | null>;

/** The report's (and rollback's) record of one mailbox record. */
export interface MigrationRecord {
  mailboxId: string;
  /** As read before the switch (a resumed run keeps the first run's reading). */
  before: MailboxRecordFields;
  /** As the run last read it; null when unknown. */
  after: MailboxRecordFields | null;
  /** When Dataverse took the switch (its clock); null when the record was not switched. */
  switchedAt: string | null;
  /** The email server profile sinkrule bound (the record had none), else null. */
  profileSet: string | null;
}
