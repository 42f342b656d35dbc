import type { DataverseReader } from './dataverse.js';
import { mailboxFilters } from './dataverse-mailboxes.js';

/**
 * Delete Emails after Processing of every active forward mailbox, by lower-case address: the
 * `mailbox` table's `processanddeleteemails` (Boolean, default No; "Select whether to delete emails
 * from the mailbox after processing"; only a forward or queue mailbox can set it). A read: nothing
 * in Dynamics 365 changes.
 */
export async function readSinkDeletion(reader: DataverseReader, signal?: AbortSignal): Promise<Map<string, boolean>> {
  const deletes = new Map<string, boolean>();
  const query = {
    entitySet: 'mailboxes',
    select: ['emailaddress', 'processanddeleteemails'],
    filter: mailboxFilters.sink,
  };
  for await (const row of reader.query(query, signal)) {
    if (typeof row.emailaddress === 'string' && row.emailaddress)
      deletes.set(row.emailaddress.toLowerCase(), row.processanddeleteemails === true);
  }
  return deletes;
}
