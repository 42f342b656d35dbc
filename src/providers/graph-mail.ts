import { MailboxError } from '../core/errors.js';
import type { FoundMessage, MailAccess } from '../core/provider.js';
import type { BatchItemRequest } from './graph-batch.js';

/** One Graph request through the run's gate (keyed by mailbox), errors translated. */
export type GraphCall = <T>(
  key: string,
  operation: string,
  request: BatchItemRequest,
  signal?: AbortSignal,
) => Promise<T>;

interface GraphMessage {
  id: string;
  subject?: string | null;
  from?: { emailAddress?: { address?: string } } | null;
  receivedDateTime?: string;
  body?: { content?: string } | null;
  attachments?: Array<{ '@odata.type'?: string; id: string; name?: string }>;
}

const user = (email: string) => `/users/${encodeURIComponent(email)}`;
/** Messages per page while looking for test mail (Graph's default is 10, the most 1000). */
const pageSize = 100;

/**
 * Test mail through Graph v1.0 (the probe): `POST /users/{from}/sendMail` (Mail.Send),
 * `GET /users/{id}/messages` over all folders with a `receivedDateTime` filter and
 * `$expand=attachments`, the attached item with `$expand=microsoft.graph.itemattachment/item`,
 * and `DELETE /users/{id}/messages/{id}` (Mail.ReadWrite).
 */
export function createGraphMail(call: GraphCall): MailAccess {
  return {
    async send(from, to, subject, body, signal) {
      const message = {
        subject,
        body: { contentType: 'Text', content: body },
        toRecipients: [{ emailAddress: { address: to } }],
      };
      await call(
        from,
        'send test mail',
        { method: 'POST', url: `${user(from)}/sendMail`, body: { message, saveToSentItems: true } },
        signal,
      );
    },
    async findMessages(mailbox, { since, subject }, signal) {
      const subjectClause = subject === undefined ? '' : ` and subject eq '${subject.replace(/'/g, "''")}'`;
      const filter = encodeURIComponent(`receivedDateTime ge ${since.toISOString()}${subjectClause}`);
      let next: string | undefined = `${user(mailbox)}/messages?$filter=${filter}&$expand=attachments&$top=${pageSize}`;
      const found: FoundMessage[] = [];
      while (next) {
        const page: { value: GraphMessage[]; '@odata.nextLink'?: string } = await call(
          mailbox,
          'read mail',
          { method: 'GET', url: next },
          signal,
        );
        found.push(...page.value.map(fromGraph));
        next = page['@odata.nextLink']?.replace(/^https?:\/\/[^/]+\/v1\.0/i, '');
      }
      return found;
    },
    async attachedItemSubject(mailbox, messageId, attachmentId, signal) {
      const url =
        `${user(mailbox)}/messages/${encodeURIComponent(messageId)}/attachments/` +
        `${encodeURIComponent(attachmentId)}?$expand=microsoft.graph.itemattachment/item`;
      const attachment: { item?: { subject?: string } } = await call(
        mailbox,
        'read attachment',
        { method: 'GET', url },
        signal,
      );
      return attachment.item?.subject ?? '';
    },
    async deleteMessage(mailbox, messageId, signal) {
      try {
        await call(
          mailbox,
          'delete test mail',
          { method: 'DELETE', url: `${user(mailbox)}/messages/${encodeURIComponent(messageId)}` },
          signal,
        );
      } catch (error) {
        if (!(error instanceof MailboxError && error.code === 'ErrorItemNotFound')) throw error;
      }
    },
  };
}

function fromGraph(message: GraphMessage): FoundMessage {
  return {
    id: message.id,
    subject: message.subject ?? '',
    from: (message.from?.emailAddress?.address ?? '').toLowerCase(),
    receivedAt: message.receivedDateTime ?? '',
    bodyText: message.body?.content ?? '',
    attachments: (message.attachments ?? []).map((a) => ({
      id: a.id,
      kind: /itemAttachment/i.test(a['@odata.type'] ?? '')
        ? 'item'
        : /referenceAttachment/i.test(a['@odata.type'] ?? '')
          ? 'reference'
          : 'file',
      name: a.name ?? '',
    })),
  };
}
