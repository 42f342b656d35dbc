import type { MailFlow, Recipient, StoredMessage } from './mail-flow.js';
import { getMailFolder, messageOrder, type MailReply } from './mail-folders.js';

/**
 * The Graph v1.0 mail endpoints a probe uses, with the permissions and errors Microsoft documents:
 * - `POST /users/{id}/sendMail` (user-sendmail.md): application permission `Mail.Send`; body
 *   `{message, saveToSentItems}`; 202 Accepted without a body; no recipient → 400.
 * - `GET /users/{id}/messages` and `/users/{id}/mailFolders/{inbox|sentitems}/messages`
 *   (user-list-messages.md): `Mail.ReadBasic.All`, `Mail.Read` or `Mail.ReadWrite`; 10 per page by
 *   default with `@odata.nextLink`, `$top` up to 1000; `$expand=attachments`; `$filter` in the
 *   forms shared/notes/exchange-facts.md lists (`receivedDateTime` comparisons, `subject eq`,
 *   `startswith(subject,…)`, joined by `and`); anything else 400 ErrorInvalidUrlQueryFilter;
 *   `$orderby` and `GET /users/{id}/mailFolders/{id}`: mail-folders.ts.
 * - `GET …/messages/{id}/attachments[/{id}]` with `$expand=microsoft.graph.itemattachment/item`
 *   (attachment-get.md): the attached message only when expanded.
 * - `DELETE /users/{id}/messages/{id}` (message-delete.md): `Mail.ReadWrite`, 204.
 */

export type { MailReply } from './mail-folders.js';

export interface MailRequest {
  method: string;
  /** Path below /v1.0 after /users/{id}. */
  rest: string;
  query: URLSearchParams;
  body?: unknown;
  roles: string[];
}

type Fail = (status: number, code: string, message: string) => MailReply;

const readRoles = ['Mail.ReadBasic.All', 'Mail.Read', 'Mail.ReadWrite'];
const accessDenied = (fail: Fail) =>
  fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');

/** Is this path (after /users/{id}) a mail endpoint this module answers? */
export const isMailPath = (rest: string) =>
  /^\/(sendMail|messages(\/.*)?|mailFolders\/[^/]+(\/messages(\/.*)?)?)$/i.test(rest);

export function routeMail(flow: MailFlow, baseUrl: string, email: string, request: MailRequest, fail: Fail): MailReply {
  const { method, rest, roles } = request;
  if (/^\/sendMail$/i.test(rest)) {
    if (method !== 'POST') return fail(405, 'ErrorInvalidRequest', `The OData request is not supported: ${method}.`);
    if (!roles.includes('Mail.Send')) return accessDenied(fail);
    return sendMail(flow, email, request.body, fail);
  }
  const folder = /^\/mailFolders\/([^/]+)$/i.exec(rest);
  if (folder && method === 'GET') return getMailFolder(flow, email, folder[1]!, request.query, roles, fail);
  const list = /^\/(?:mailFolders\/([^/]+)\/)?messages$/i.exec(rest);
  if (list && method === 'GET') {
    if (!roles.some((r) => readRoles.includes(r))) return accessDenied(fail);
    const folder = list[1]?.toLowerCase();
    if (folder && folder !== 'inbox' && folder !== 'sentitems')
      return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    return listMessages(flow, baseUrl, email, folder, request.query, rest, fail);
  }
  const item = /^\/messages\/([^/]+)(?:\/attachments(?:\/([^/]+))?)?$/i.exec(rest);
  if (!item) return fail(400, 'BadRequest', `Resource not found for the segment '${rest.split('/').pop()}'.`);
  const messages = flow.messagesOf(email);
  const message = messages.find((m) => m.id === decodeURIComponent(item[1]!));
  const attachmentsPath = rest.toLowerCase().includes('/attachments');
  if (method === 'DELETE' && !attachmentsPath) {
    if (!roles.includes('Mail.ReadWrite')) return accessDenied(fail);
    if (!message) return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    // Exchange moves it to Deleted Items (and later Recoverable Items); the simulator drops it.
    messages.splice(messages.indexOf(message), 1);
    return { status: 204, headers: {} };
  }
  if (method !== 'GET') return fail(405, 'ErrorInvalidRequest', `The OData request is not supported: ${method}.`);
  if (!roles.some((r) => readRoles.includes(r) && r !== 'Mail.ReadBasic.All')) return accessDenied(fail);
  if (!message) return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  const expandItem = /microsoft\.graph\.itemattachment\/item/i.test(request.query.get('$expand') ?? '');
  if (!attachmentsPath)
    return {
      status: 200,
      headers: {},
      body: present(message, /attachments/i.test(request.query.get('$expand') ?? '')),
    };
  if (item[2] === undefined)
    return { status: 200, headers: {}, body: { value: message.attachments.map((a) => attachmentView(a, expandItem)) } };
  const attachment = message.attachments.find((a) => a.id === decodeURIComponent(item[2]!));
  if (!attachment) return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  return { status: 200, headers: {}, body: attachmentView(attachment, expandItem) };
}

function sendMail(flow: MailFlow, email: string, body: unknown, fail: Fail): MailReply {
  const payload = body as
    | {
        message?: Partial<StoredMessage> & { ccRecipients?: Recipient[]; bccRecipients?: Recipient[] };
        saveToSentItems?: unknown;
      }
    | undefined;
  const message = payload?.message;
  if (!message || typeof message !== 'object')
    return fail(400, 'ErrorInvalidRequest', "The property 'message' is required.");
  if (payload.saveToSentItems !== undefined && typeof payload.saveToSentItems !== 'boolean')
    return fail(400, 'RequestBodyRead', "Cannot convert the literal to the expected type 'Edm.Boolean'.");
  const to = [...(message.toRecipients ?? []), ...(message.ccRecipients ?? []), ...(message.bccRecipients ?? [])];
  if (to.length === 0)
    return fail(400, 'ErrorInvalidRecipients', 'At least one recipient is required, but none were found.');
  if (to.some((r) => !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(r?.emailAddress?.address ?? '')))
    return fail(400, 'ErrorInvalidRecipients', "At least one recipient isn't valid.");
  flow.send(
    email,
    {
      subject: message.subject ?? '',
      body: {
        contentType: message.body?.contentType === 'html' ? 'html' : 'text',
        content: message.body?.content ?? '',
      },
      toRecipients: to,
      internetMessageHeaders: message.internetMessageHeaders,
    },
    payload.saveToSentItems !== false,
  );
  return { status: 202, headers: {} };
}

function listMessages(
  flow: MailFlow,
  baseUrl: string,
  email: string,
  folder: string | undefined,
  query: URLSearchParams,
  rest: string,
  fail: Fail,
): MailReply {
  const filter = parseFilter(query.get('$filter'));
  if (filter === undefined)
    return fail(400, 'ErrorInvalidUrlQueryFilter', 'The query filter contains one or more invalid nodes.');
  const top = Number(query.get('$top') ?? 10);
  const skip = Number(query.get('$skip') ?? 0);
  if (!Number.isInteger(top) || top < 1 || top > 1000 || !Number.isInteger(skip) || skip < 0)
    return fail(400, 'BadRequest', 'Invalid $top or $skip value.');
  const expandAttachments = /(^|,)\s*attachments\s*($|,)/i.test(query.get('$expand') ?? '');
  const order = messageOrder(query.get('$orderby'));
  if (!order)
    return fail(
      400,
      'BadRequest',
      `Could not find a property named '${query.get('$orderby')}' on type 'microsoft.graph.message'.`,
    );
  const all = flow
    .messagesOf(email)
    .filter((m) => (!folder || m.folder === folder) && filter(m))
    .sort(order);
  const page = all.slice(skip, skip + top);
  const next = new URLSearchParams(query);
  next.set('$skip', String(skip + top));
  return {
    status: 200,
    headers: {},
    body: {
      '@odata.context': `${baseUrl}/v1.0/$metadata#users('${encodeURIComponent(email)}')/messages`,
      value: page.map((m) => present(m, expandAttachments)),
      ...(skip + top < all.length
        ? { '@odata.nextLink': `${baseUrl}/v1.0/users/${encodeURIComponent(email)}${rest}?${next}` }
        : {}),
    },
  };
}

/** The supported `$filter` forms; undefined for anything else. */
function parseFilter(text: string | null): ((m: StoredMessage) => boolean) | undefined {
  if (!text) return () => true;
  const tests: Array<(m: StoredMessage) => boolean> = [];
  for (const clause of text.split(/\s+and\s+/i)) {
    const date = /^receivedDateTime\s+(ge|gt|le|lt|eq)\s+(\d{4}-\d\d-\d\dT[\d:.]+Z)$/i.exec(clause.trim());
    const subjectEq = /^subject\s+eq\s+'((?:[^']|'')*)'$/i.exec(clause.trim());
    const startsWith = /^startswith\(subject,\s*'((?:[^']|'')*)'\)$/i.exec(clause.trim());
    if (date) {
      const [op, at] = [date[1]!.toLowerCase(), Date.parse(date[2]!)];
      if (Number.isNaN(at)) return undefined;
      tests.push((m) => compare(op, Date.parse(m.receivedDateTime), at));
    } else if (subjectEq) {
      const value = subjectEq[1]!.replace(/''/g, "'").toLowerCase();
      tests.push((m) => m.subject.toLowerCase() === value);
    } else if (startsWith) {
      const value = startsWith[1]!.replace(/''/g, "'").toLowerCase();
      tests.push((m) => m.subject.toLowerCase().startsWith(value));
    } else return undefined;
  }
  return (m) => tests.every((t) => t(m));
}

function compare(op: string, a: number, b: number): boolean {
  return op === 'ge' ? a >= b : op === 'gt' ? a > b : op === 'le' ? a <= b : op === 'lt' ? a < b : a === b;
}

/** A message as Graph returns it: no internal fields; attachments only when expanded (without their item). */
function present(message: StoredMessage, withAttachments: boolean): Record<string, unknown> {
  const { attachments, folder: _folder, isNonDeliveryReport: _ndr, isReadReceipt: _rr, ...rest } = message;
  return {
    '@odata.type': '#microsoft.graph.message',
    ...rest,
    ...(withAttachments ? { attachments: attachments.map((a) => attachmentView(a, false)) } : {}),
  };
}

function attachmentView(attachment: StoredMessage['attachments'][number], withItem: boolean): Record<string, unknown> {
  const { item, ...rest } = attachment;
  return withItem ? { ...rest, item } : rest;
}
