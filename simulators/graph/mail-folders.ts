import { randomBytes } from 'node:crypto';
import type { MailFlow, StoredMessage } from './mail-flow.js';

/** One answer of the mail routes (mail-routes.ts), also what a folder read answers. */
export interface MailReply {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

/**
 * `GET /users/{id}/mailFolders/{id}` ("Get mailFolder", api-reference/v1.0/api/mailfolder-get.md,
 * and its permissions include): application permission Mail.ReadBasic.All, or the higher Mail.Read
 * / Mail.ReadWrite; the mailFolder resource (resources/mailfolder.md) with `totalItemCount` and
 * `unreadItemCount`; `$select` narrows the properties (OData query parameters). The well-known
 * names `inbox` and `sentitems` are the folders the simulator keeps; anything else is 404
 * ErrorItemNotFound. The simulator keeps no read state: every message counts as unread.
 */
export function getMailFolder(
  flow: MailFlow,
  email: string,
  folderName: string,
  query: URLSearchParams,
  roles: readonly string[],
  fail: (status: number, code: string, message: string) => MailReply,
): MailReply {
  if (!roles.some((r) => ['Mail.ReadBasic.All', 'Mail.Read', 'Mail.ReadWrite'].includes(r)))
    return fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
  const folder = folderName.toLowerCase();
  if (folder !== 'inbox' && folder !== 'sentitems')
    return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  const count = flow.messagesOf(email).filter((m) => m.folder === folder).length;
  const entity: Record<string, unknown> = {
    id: `AAMkAG${Buffer.from(`${email}/${folder}`).toString('base64url')}`,
    displayName: folder === 'inbox' ? 'Inbox' : 'Sent Items',
    parentFolderId: `AAMkAG${Buffer.from(`${email}/root`).toString('base64url')}`,
    childFolderCount: 0,
    unreadItemCount: count,
    totalItemCount: count,
    isHidden: false,
  };
  const select = query.get('$select');
  const shown = select
    ? Object.fromEntries(
        Object.entries(entity).filter(
          ([key]) =>
            key === 'id' ||
            select
              .split(',')
              .map((s) => s.trim())
              .includes(key),
        ),
      )
    : entity;
  return { status: 200, headers: {}, body: shown };
}

/** `$orderby` on message lists: receivedDateTime or sentDateTime, asc or desc (default desc, newest first). */
export function messageOrder(orderby: string | null): ((a: StoredMessage, b: StoredMessage) => number) | undefined {
  if (!orderby) return (a, b) => b.receivedDateTime.localeCompare(a.receivedDateTime);
  const match = /^\s*(receivedDateTime|sentDateTime)(?:\s+(asc|desc))?\s*$/i.exec(orderby);
  if (!match) return undefined;
  const key = match[1]!.toLowerCase() === 'sentdatetime' ? 'sentDateTime' : 'receivedDateTime';
  const sign = match[2]?.toLowerCase() === 'asc' ? 1 : -1;
  return (a, b) => sign * a[key].localeCompare(b[key]);
}

/**
 * Puts messages in a mailbox's Inbox as if they had arrived at the given times (a sink with a
 * backlog): forward-as-attachment copies, each carrying nothing but a subject.
 */
export function seedInbox(flow: MailFlow, email: string, receivedAt: readonly Date[]): void {
  const inbox = flow.messagesOf(email);
  for (const at of receivedAt) {
    const address = { emailAddress: { address: 'user@contoso.com' } };
    inbox.push({
      id: `AAMkAG${randomBytes(24).toString('base64url')}`,
      folder: 'inbox',
      subject: 'FW: seeded message',
      body: { contentType: 'text', content: '' },
      from: address,
      sender: address,
      toRecipients: [{ emailAddress: { address: email } }],
      receivedDateTime: at.toISOString(),
      sentDateTime: at.toISOString(),
      hasAttachments: true,
      internetMessageHeaders: [],
      attachments: [],
      isNonDeliveryReport: false,
      isReadReceipt: false,
    });
  }
}
