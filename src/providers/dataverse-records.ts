import { InputError, MailboxError } from '../core/errors.js';
import type { MailboxRecordFields, RecordPatch } from '../core/migration.js';
import type { RecordStore } from '../core/migration-wave.js';
import { withRetry, type Clock, type RetryOptions } from '../core/retry.js';
import { dataverseApiPath, labelOf, type DataverseReader, type DataverseRow } from '../input/dataverse.js';

/**
 * Dynamics 365 mailbox records as `sinkrule migrate` reads and writes them (Web API "Update and delete
 * table rows", "Perform conditional operations"; columns: the mailbox table's reference and
 * exchange-facts.md "Dataverse mailbox updates"). Every update carries `If-Match` with the etag the
 * record was read with: a PATCH without it to an id that does not exist would create a row.
 */
const columns = [
  'mailboxid',
  'name',
  'emailaddress',
  'statecode',
  'incomingemaildeliverymethod',
  'incomingemailstatus',
  'emailrouteraccessapproval',
  '_emailserverprofile_value',
  'testemailconfigurationscheduled',
  'testmailboxaccesscompletedon',
] as const;

/** Record ids per query: one `$filter` of `mailboxid eq … or …` stays well under URL limits. */
const idsPerQuery = 50;

export class MailboxRecords implements RecordStore {
  constructor(
    private readonly reader: DataverseReader,
    private readonly retry: Omit<RetryOptions, 'signal' | 'onRetry'>,
    private readonly clock: Clock,
  ) {}

  get url(): string {
    return this.reader.url;
  }

  /** The records with these ids, read in one query per 50 ids (a wave's poll is one query). */
  async read(ids: readonly string[], signal?: AbortSignal): Promise<Map<string, MailboxRecordFields>> {
    const found = new Map<string, MailboxRecordFields>();
    for (let i = 0; i < ids.length; i += idsPerQuery) {
      const filter = ids
        .slice(i, i + idsPerQuery)
        .map((id) => `mailboxid eq ${id}`)
        .join(' or ');
      for await (const row of this.reader.query({ entitySet: 'mailboxes', select: columns, filter }, signal)) {
        const record = toFields(row);
        found.set(record.mailboxId, record);
      }
    }
    return found;
  }

  /**
   * PATCHes a record with If-Match on `etag`; resolves with when Dataverse took it (its `Date`
   * header: the service's clock, which also stamps the mailbox test). 412 throws MailboxError
   * RecordChanged. Not retried here: see `update`.
   */
  async patch(mailboxId: string, etag: string, patch: RecordPatch, signal?: AbortSignal): Promise<string> {
    const url = `${this.reader.url}${dataverseApiPath}/mailboxes(${mailboxId})`;
    const { headers } = await this.reader.send('PATCH', url, { ifMatch: etag, body: patch }, signal);
    const date = Date.parse(headers.get('date') ?? '');
    return new Date(Number.isNaN(date) ? this.clock() : date).toISOString();
  }

  /**
   * Brings a record to `patch` through the one retry helper. The first attempt writes with the etag
   * the decision was made on; a retry (throttled, or an answer that never came) reads the record
   * afresh: already as wanted → done, changed by someone else → RecordChanged, else the same write.
   */
  async update(
    record: MailboxRecordFields,
    patch: RecordPatch,
    applied: (now: MailboxRecordFields) => boolean,
    signal?: AbortSignal,
  ): Promise<{ at: string | null }> {
    return withRetry(
      async (attempt) => {
        if (attempt > 1) {
          const now = (await this.read([record.mailboxId], signal)).get(record.mailboxId);
          if (!now) throw new MailboxError('RecordNotFound', 'The mailbox record is gone', 'Check Dynamics 365.');
          if (applied(now)) return { at: null };
          if (now.etag !== record.etag)
            throw new MailboxError(
              'RecordChanged',
              'The mailbox record was changed in Dynamics 365 while sinkrule wrote it ' +
                `(Incoming Email is now "${now.labels.incomingEmailDeliveryMethod}")`,
              'Look at the mailbox record in Dynamics 365, then run again: sinkrule reads it afresh.',
            );
        }
        return { at: await this.patch(record.mailboxId, record.etag, patch, signal) };
      },
      { ...this.retry, signal },
    );
  }

  /** `dataverse.emailServerProfile` (an id or a name) as the profile's id, resolved once per run. */
  async resolveProfile(
    nameOrId: string,
    configFile: string,
    signal?: AbortSignal,
  ): Promise<{ id: string; name: string }> {
    const isId = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i.test(nameOrId);
    const filter = isId ? `emailserverprofileid eq ${nameOrId}` : `name eq '${nameOrId.replace(/'/g, "''")}'`;
    const found: Array<{ id: string; name: string }> = [];
    for await (const row of this.reader.query(
      { entitySet: 'emailserverprofiles', select: ['emailserverprofileid', 'name'], filter },
      signal,
    ))
      found.push({ id: String(row.emailserverprofileid), name: String(row.name) });
    const where = `${configFile}: dataverse.emailServerProfile "${nameOrId}"`;
    if (found.length === 0)
      throw new InputError([
        `${where} names no email server profile in Dynamics 365: give the name or id of one ` +
          '(Settings → Email Configuration → Email Server Profiles)',
      ]);
    if (found.length > 1)
      throw new InputError([`${where} names ${found.length} email server profiles: give the profile's id instead`]);
    return found[0]!;
  }
}

function toFields(row: DataverseRow): MailboxRecordFields {
  const number = (column: string) => (typeof row[column] === 'number' ? (row[column] as number) : 0);
  return {
    mailboxId: String(row.mailboxid ?? '').toLowerCase(),
    name: String(row.name ?? ''),
    emailAddress: typeof row.emailaddress === 'string' ? row.emailaddress.trim() : '',
    state: number('statecode'),
    incomingEmailDeliveryMethod: number('incomingemaildeliverymethod'),
    incomingEmailStatus: number('incomingemailstatus'),
    emailRouterAccessApproval: number('emailrouteraccessapproval'),
    emailServerProfileId:
      typeof row._emailserverprofile_value === 'string' ? row._emailserverprofile_value.toLowerCase() : null,
    testEmailConfigurationScheduled: row.testemailconfigurationscheduled === true,
    testMailboxAccessCompletedOn:
      typeof row.testmailboxaccesscompletedon === 'string' ? row.testmailboxaccesscompletedon : null,
    etag: String(row['@odata.etag'] ?? ''),
    labels: {
      incomingEmailDeliveryMethod: labelOf(row, 'incomingemaildeliverymethod'),
      incomingEmailStatus: labelOf(row, 'incomingemailstatus'),
      emailRouterAccessApproval: labelOf(row, 'emailrouteraccessapproval'),
    },
  };
}
