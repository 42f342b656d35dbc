import { randomBytes, randomUUID } from 'node:crypto';
import { ReceivingLimits, type MailOrigin, type Refusal } from './receiving-limits.js';

/**
 * Exchange Online mail flow as far as a sinkrule probe can observe it, built from:
 * - Graph "user: sendMail" (`api-reference/v1.0/api/user-sendmail.md`): 202 Accepted, delivery
 *   afterwards, a copy in Sent Items unless `saveToSentItems` is false;
 * - "messageRule resource type" / "messageRuleActions" / "messageRulePredicates": rules run in
 *   `sequence` order, a rule applies when all its conditions match and no exception does,
 *   `stopProcessingRules` ends processing; `forwardAsAttachmentTo` sends a new message carrying the
 *   original as an attachment (Graph shows it as an `itemAttachment`, `attachment-get.md`),
 *   `forwardTo` forwards inline, `redirectTo` resends the original with its sender kept;
 * - shared/notes/exchange-facts.md "Forwarding controls and loops": a message is forwarded or
 *   redirected by inbox rule only once in Exchange Online (`X-MS-Exchange-Inbox-Rules-Loop`), and
 *   automatic forwarding to recipients outside the tenant's accepted domains is blocked with the
 *   NDR 5.7.520, which goes back to the mailbox whose rule forwarded (Microsoft's "Configuring and
 *   controlling external email forwarding in Microsoft 365");
 * - unknown recipients in an accepted domain get the NDR 5.1.10 (Exchange Online NDR reference);
 * - every delivery passes the recipient's receiving limits (receiving-limits.ts: the Exchange Online
 *   service description's "Receiving limits" and "Storage limits"); mail sent or forwarded here comes
 *   from the tenant's own Exchange Online mailboxes, so only a full mailbox refuses it.
 */

export interface Recipient {
  emailAddress: { address: string; name?: string };
}

/** A message as Graph shows it (plus what the simulator needs to route it). */
export interface StoredMessage {
  id: string;
  folder: 'inbox' | 'sentitems';
  subject: string;
  body: { contentType: 'text' | 'html'; content: string };
  from: Recipient;
  sender: Recipient;
  toRecipients: Recipient[];
  receivedDateTime: string;
  sentDateTime: string;
  hasAttachments: boolean;
  internetMessageHeaders: Array<{ name: string; value: string }>;
  attachments: StoredAttachment[];
  /** Non-delivery report (itemClass REPORT.IPM.Note.NDR): the rule exception isNonDeliveryReport matches it. */
  isNonDeliveryReport: boolean;
  isReadReceipt: boolean;
}

export interface StoredAttachment {
  '@odata.type': '#microsoft.graph.itemAttachment';
  id: string;
  name: string;
  contentType: string | null;
  isInline: boolean;
  size: number;
  lastModifiedDateTime: string;
  item: Omit<StoredMessage, 'attachments' | 'folder'> & { '@odata.type': '#microsoft.graph.message' };
}

/** What delivery needs from the rest of the simulator. */
export interface MailDirectory {
  /** Is the domain one of the tenant's accepted (verified) domains? */
  isInternalDomain(domain: string): boolean;
  /** The mailbox's enabled-or-not inbox rules (live objects), or undefined when it has no mailbox here. */
  rulesOf(email: string): RuleLike[] | undefined;
}

export interface RuleLike {
  displayName: string;
  sequence: number;
  isEnabled: boolean;
  isReadOnly?: boolean;
  conditions?: Record<string, unknown>;
  actions?: Record<string, unknown>;
  exceptions?: Record<string, unknown>;
}

export const loopHeader = 'X-MS-Exchange-Inbox-Rules-Loop';
const recipient = (address: string, name?: string): Recipient => ({
  emailAddress: { address, ...(name ? { name } : {}) },
});
const addressOf = (r: Recipient) => r.emailAddress.address.toLowerCase();
const domainOf = (address: string) => address.split('@')[1]?.toLowerCase() ?? '';

/** Outlook-style opaque message ids. */
export const newMessageId = () => `AAMkAG${randomBytes(24).toString('base64url')}`;

export class MailFlow {
  private readonly store = new Map<string, StoredMessage[]>();
  /** Messages that left the tenant (to external recipients), for tests. */
  readonly sentOutside: Array<{ to: string; subject: string; by: 'send' | 'rule' }> = [];
  /** What each mailbox accepts per hour and in size (shared with the busiest-hour delivery). */
  readonly limits = new ReceivingLimits();
  private pending = 0;

  constructor(
    private readonly directory: MailDirectory,
    private readonly deliveryDelayInMs: number,
  ) {}

  messagesOf(email: string): StoredMessage[] {
    let list = this.store.get(email.toLowerCase());
    if (!list) this.store.set(email.toLowerCase(), (list = []));
    return list;
  }

  /** Deliveries not yet done (tests wait for 0). */
  get inTransit(): number {
    return this.pending;
  }

  /** sendMail: the copy in Sent Items now, delivery to each recipient a moment later. */
  send(
    from: string,
    message: {
      subject: string;
      body: StoredMessage['body'];
      toRecipients: Recipient[];
      internetMessageHeaders?: StoredMessage['internetMessageHeaders'];
    },
    saveToSentItems: boolean,
  ): void {
    const now = new Date().toISOString();
    const original = this.newMessage({
      subject: message.subject,
      body: message.body,
      from: recipient(from),
      toRecipients: message.toRecipients,
      internetMessageHeaders: message.internetMessageHeaders ?? [],
      sentDateTime: now,
    });
    if (saveToSentItems)
      this.messagesOf(from).push({ ...structuredClone(original), id: newMessageId(), folder: 'sentitems' });
    for (const to of message.toRecipients) this.route(from, addressOf(to), original, 'send');
  }

  /** Delivers `message` to `to`, or bounces it to `bounceTo`, after the delivery delay. */
  private route(bounceTo: string, to: string, message: StoredMessage, by: 'send' | 'rule'): void {
    if (!this.directory.isInternalDomain(domainOf(to))) {
      if (by === 'rule') {
        // Automatic forwarding to an external recipient: blocked by the outbound spam policy.
        this.bounce(
          bounceTo,
          to,
          message,
          '5.7.520',
          'Access denied, Your organization does not allow external forwarding. Please contact your ' +
            'administrator for further assistance. AS(7555)',
        );
      } else this.sentOutside.push({ to, subject: message.subject, by });
      return;
    }
    if (!this.directory.rulesOf(to)) {
      this.bounce(bounceTo, to, message, ...recipientNotFound);
      return;
    }
    const refusal = this.limits.admit({
      to,
      from: bounceTo,
      origin: 'exchange-online',
      at: Date.now(),
      sizeInBytes: sizeOf(message),
    });
    if (refusal) {
      this.bounce(bounceTo, to, message, refusal.status, refusal.text);
      return;
    }
    this.later(() =>
      this.deliver(to, {
        ...structuredClone(message),
        id: newMessageId(),
        folder: 'inbox',
        receivedDateTime: new Date().toISOString(),
      }),
    );
  }

  /** Returns an NDR for `message` to `bounceTo`, after the delivery delay. */
  private bounce(bounceTo: string, to: string, message: StoredMessage, status: string, text: string): void {
    this.later(() => this.deliver(bounceTo, this.ndr(bounceTo, to, message, status, text)));
  }

  private later(work: () => void): void {
    this.pending++;
    setTimeout(() => {
      this.pending--;
      work();
    }, this.deliveryDelayInMs).unref();
  }

  /**
   * A message arriving in a tenant mailbox from `origin` at `at` (ms, the caller's clock), stored
   * without running the mailbox's rules: the busiest-hour delivery's way in. Returns why it was
   * refused (the NDR's status and text), or undefined when it was delivered.
   */
  receive(to: string, message: StoredMessage, origin: MailOrigin, at: number): Refusal | NotFound | undefined {
    if (!this.directory.rulesOf(to)) return { status: recipientNotFound[0], text: recipientNotFound[1] };
    const from = message.from.emailAddress.address;
    const refusal = this.limits.admit({ to, from, origin, at, sizeInBytes: sizeOf(message) });
    if (!refusal) this.messagesOf(to).push(message);
    return refusal;
  }

  /** Is `email` a mailbox of this tenant, and is its domain one of the tenant's? */
  isInternal(email: string): boolean {
    return this.directory.isInternalDomain(domainOf(email));
  }

  /** Stores the message in the inbox and runs the mailbox's inbox rules on it. */
  private deliver(mailbox: string, message: StoredMessage): void {
    let keep = true;
    for (const rule of rulesThatRun(this.directory.rulesOf(mailbox) ?? [], message)) {
      const actions = rule.actions ?? {};
      if (!alreadyForwarded(message)) this.forward(mailbox, message, actions);
      if (actions.delete === true || actions.permanentDelete === true) keep = false;
    }
    if (keep) this.messagesOf(mailbox).push(message);
  }

  private forward(mailbox: string, message: StoredMessage, actions: Record<string, unknown>): void {
    const marked = [...message.internetMessageHeaders, { name: loopHeader, value: mailbox }];
    const now = new Date().toISOString();
    for (const to of (actions.forwardAsAttachmentTo as Recipient[] | undefined) ?? []) {
      const wrapper = this.newMessage({
        subject: `FW: ${message.subject}`,
        body: { contentType: 'text', content: '' },
        from: recipient(mailbox),
        toRecipients: [to],
        internetMessageHeaders: marked,
        sentDateTime: now,
      });
      wrapper.attachments = [itemAttachment(message)];
      wrapper.hasAttachments = true;
      this.route(mailbox, addressOf(to), wrapper, 'rule');
    }
    for (const to of (actions.forwardTo as Recipient[] | undefined) ?? []) {
      const inline = this.newMessage({
        subject: `FW: ${message.subject}`,
        body: {
          contentType: 'text',
          content: `From: ${message.from.emailAddress.address}\nSubject: ${message.subject}\n\n${message.body.content}`,
        },
        from: recipient(mailbox),
        toRecipients: [to],
        internetMessageHeaders: marked,
        sentDateTime: now,
      });
      this.route(mailbox, addressOf(to), inline, 'rule');
    }
    for (const to of (actions.redirectTo as Recipient[] | undefined) ?? []) {
      // A redirect keeps the original sender and subject.
      this.route(mailbox, addressOf(to), { ...structuredClone(message), internetMessageHeaders: marked }, 'rule');
    }
  }

  /** The non-delivery report Exchange sends back, with the undelivered message attached. */
  private ndr(
    to: string,
    failedRecipient: string,
    message: StoredMessage,
    status: string,
    text: string,
  ): StoredMessage {
    const report = this.newMessage({
      subject: `Undeliverable: ${message.subject}`,
      body: {
        contentType: 'text',
        content:
          `Delivery has failed to these recipients or groups:\n\n${failedRecipient}\n\nDiagnostic information ` +
          `for administrators:\n\nRemote Server returned '550 ${status} ${text}'`,
      },
      from: recipient(`MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@${domainOf(to)}`, 'Microsoft Outlook'),
      toRecipients: [recipient(to)],
      internetMessageHeaders: [],
      sentDateTime: new Date().toISOString(),
    });
    report.isNonDeliveryReport = true;
    report.attachments = [itemAttachment(message)];
    report.hasAttachments = true;
    return { ...report, folder: 'inbox', receivedDateTime: new Date().toISOString() };
  }

  private newMessage(
    fields: Pick<
      StoredMessage,
      'subject' | 'body' | 'from' | 'toRecipients' | 'internetMessageHeaders' | 'sentDateTime'
    >,
  ): StoredMessage {
    return {
      id: newMessageId(),
      folder: 'inbox',
      ...fields,
      sender: fields.from,
      receivedDateTime: fields.sentDateTime,
      hasAttachments: false,
      attachments: [],
      isNonDeliveryReport: false,
      isReadReceipt: false,
    };
  }
}

type NotFound = { status: '5.1.10'; text: string };
const recipientNotFound = [
  '5.1.10',
  'RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup',
] as const;

/** What a message weighs in the recipient's quota: its text and attached items, roughly. */
function sizeOf(message: StoredMessage): number {
  return message.subject.length + message.body.content.length + message.attachments.reduce((n, a) => n + a.size, 0);
}

/** Whether an inbox rule forwarded or redirected this message already (Exchange Online does it once). */
export function alreadyForwarded(message: Pick<StoredMessage, 'internetMessageHeaders'>): boolean {
  return message.internetMessageHeaders.some((h) => h.name.toLowerCase() === loopHeader.toLowerCase());
}

/**
 * The mailbox's rules that act on `message`, in `sequence` order: enabled, conditions met, no
 * exception, up to the first that stops processing. Read-only rules use features Graph cannot
 * show; the simulator keeps them inert.
 */
export function rulesThatRun(rules: readonly RuleLike[], message: StoredMessage): RuleLike[] {
  const running: RuleLike[] = [];
  for (const rule of [...rules].sort((a, b) => a.sequence - b.sequence)) {
    if (!rule.isEnabled || rule.isReadOnly) continue;
    if (!matches(rule.conditions ?? {}, message, true) || matches(rule.exceptions ?? {}, message, false)) continue;
    running.push(rule);
    if (rule.actions?.stopProcessingRules === true) break;
  }
  return running;
}

function itemAttachment(message: StoredMessage): StoredAttachment {
  const { attachments: _a, folder: _f, ...item } = structuredClone(message);
  return {
    '@odata.type': '#microsoft.graph.itemAttachment',
    id: `AAMkAGAtt${randomUUID().replace(/-/g, '')}`,
    name: message.subject,
    contentType: null,
    isInline: false,
    size: JSON.stringify(item).length,
    lastModifiedDateTime: new Date().toISOString(),
    item: { '@odata.type': '#microsoft.graph.message', ...item },
  };
}

const contains = (haystack: string, needles: unknown) =>
  ((needles as string[] | undefined) ?? []).some((n) => haystack.toLowerCase().includes(String(n).toLowerCase()));
const addressIn = (address: string, list: unknown) =>
  ((list as Recipient[] | undefined) ?? []).some((r) => addressOf(r) === address.toLowerCase());

/**
 * The predicates a probe meets (messageRulePredicates). Conditions need every predicate given to
 * match; an exception applies when any of its predicates matches. A predicate the simulator does
 * not model makes a condition fail (the rule is skipped) rather than silently pass.
 */
function matches(predicates: Record<string, unknown>, message: StoredMessage, all: boolean): boolean {
  const results: boolean[] = [];
  for (const [name, value] of Object.entries(predicates)) {
    if (value === undefined || value === null || (Array.isArray(value) && value.length === 0)) continue;
    switch (name) {
      case 'fromAddresses':
        results.push(addressIn(message.from.emailAddress.address, value));
        break;
      case 'sentToAddresses':
        results.push(message.toRecipients.some((r) => addressIn(r.emailAddress.address, value)));
        break;
      case 'subjectContains':
        results.push(contains(message.subject, value));
        break;
      case 'bodyContains':
        results.push(contains(message.body.content, value));
        break;
      case 'bodyOrSubjectContains':
        results.push(contains(`${message.subject}\n${message.body.content}`, value));
        break;
      case 'senderContains':
        results.push(contains(`${message.from.emailAddress.name ?? ''} ${message.from.emailAddress.address}`, value));
        break;
      case 'headerContains':
        results.push(contains(message.internetMessageHeaders.map((h) => `${h.name}: ${h.value}`).join('\n'), value));
        break;
      case 'isNonDeliveryReport':
        results.push((value === true) === message.isNonDeliveryReport);
        break;
      case 'isReadReceipt':
        results.push((value === true) === message.isReadReceipt);
        break;
      case 'hasAttachments':
        results.push((value === true) === message.hasAttachments);
        break;
      default:
        results.push(false);
    }
  }
  if (results.length === 0) return all; // no conditions: every message; no exceptions: none
  return all ? results.every(Boolean) : results.some(Boolean);
}
