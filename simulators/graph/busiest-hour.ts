import type { EwsRule } from '../ews/ews-rules.js';
import { asMessageRule } from '../ews/rule-view.js';
import {
  loopHeader,
  rulesThatRun,
  type MailFlow,
  type Recipient,
  type RuleLike,
  type StoredMessage,
} from './mail-flow.js';
import type { MailOrigin } from './receiving-limits.js';

/**
 * Simulated mail for a busy hour, in bulk, on a virtual clock: each user receives N messages from
 * the internet, spread evenly over the hour and interleaved with everyone else's; the user's inbox
 * rules run on each (mail-flow.ts `rulesThatRun`, from the Graph simulator's store, the EWS
 * simulator's store, or the rule the admin set up by hand on another mail system), and every copy
 * a rule makes goes to its recipient through the receiving limits (receiving-limits.ts).
 *
 * Where a copy comes from decides what the limits do with it (Exchange Online service description,
 * "Receiving limits", and shared/notes/exchange-facts.md): a copy made by an Exchange Online
 * mailbox's rule (route graph) comes from the tenant's Exchange Online; a copy made by an
 * on-premises mailbox's rule (route ews, hybrid) arrives from on-premises servers; a POP3 or
 * manual user's copy comes from another mail system (the internet). The originals count against an
 * Exchange Online user's own limits too; on-premises and other systems' mailboxes have none here.
 * Automatic forwarding out of the tenant from Exchange Online is refused with 5.7.520 as in the
 * live flow. Copies are stored in the recipient's mailbox without running its rules (Exchange
 * forwards a message by inbox rule only once). Nothing waits: thousands of messages take
 * milliseconds.
 */

export type MailRoute = 'graph' | 'ews' | 'pop3' | 'manual';

export interface HourMailbox {
  email: string;
  route: MailRoute;
  /** Messages the user receives in the hour. */
  messages: number;
}

/** Where each route's rules are read. */
export interface RuleSources {
  graph?: { rulesOf(email: string): RuleLike[] };
  ews?: { rulesOf(email: string): EwsRule[] };
  /** POP3 and manual rows: the forwarding the admin set up by hand on the other mail system. */
  other?: (email: string) => RuleLike[];
}

export interface HourOptions {
  mailboxes: readonly HourMailbox[];
  rules: RuleSources;
  /** When the hour starts (ms on the virtual clock). */
  startAt: number;
  /** @default one hour */
  durationInMs?: number;
}

/** A message the service refused, as its NDR reports it. */
export interface Bounce {
  /** The mailbox whose message (original) or rule's copy was refused; the NDR goes back to it. */
  mailbox: string;
  route: MailRoute;
  to: string;
  status: string;
  at: number;
  copy: boolean;
}

export interface RecipientTally {
  delivered: number;
  refused: number;
  deliveredFrom: Partial<Record<MailOrigin, number>>;
  refusedFrom: Partial<Record<MailOrigin, number>>;
  byStatus: Record<string, number>;
}

export interface HourResult {
  /** Messages the users received (originals offered to their mailboxes). */
  originals: number;
  /** Copies the users' rules made. */
  copies: number;
  /** Per recipient of a copy (the sinks): what arrived and what bounced. */
  recipients: Record<string, RecipientTally>;
  bounces: Bounce[];
  durationInMs: number;
}

const copyOrigin: Record<MailRoute, MailOrigin> = {
  graph: 'exchange-online',
  ews: 'on-premises',
  pop3: 'internet',
  manual: 'internet',
};
const forwardingActions = ['forwardAsAttachmentTo', 'forwardTo', 'redirectTo'] as const;
const hourInMs = 3_600_000;
/** Outlook-style ids, counted rather than random: thousands of messages must cost no entropy. */
let issued = 0;
const nextId = () => `AAMkAGhour${(++issued).toString(36).padStart(12, '0')}`;

export function deliverMailHour(flow: MailFlow, options: HourOptions): HourResult {
  const started = performance.now();
  const duration = options.durationInMs ?? hourInMs;
  const result: HourResult = { originals: 0, copies: 0, recipients: {}, bounces: [], durationInMs: 0 };
  const rules = options.mailboxes.map((mailbox) => rulesOf(mailbox, options.rules));
  for (const { index, at, sequence } of arrivals(options.mailboxes, options.startAt, duration)) {
    const mailbox = options.mailboxes[index]!;
    const original = message(`sender${sequence % 997}@fabrikam.example`, mailbox.email, `Order ${sequence}`, at);
    result.originals++;
    if (mailbox.route === 'graph') {
      const refusal = flow.receive(mailbox.email, original, 'internet', at);
      if (refusal) {
        result.bounces.push({
          mailbox: mailbox.email,
          route: mailbox.route,
          to: mailbox.email,
          status: refusal.status,
          at,
          copy: false,
        });
        continue;
      }
    }
    for (const rule of rulesThatRun(rules[index]!, original)) {
      for (const action of forwardingActions)
        for (const to of (rule.actions?.[action] as Recipient[] | undefined) ?? []) {
          result.copies++;
          deliverCopy(flow, mailbox, original, to.emailAddress.address.toLowerCase(), action, at, result);
        }
    }
  }
  result.durationInMs = Math.round(performance.now() - started);
  return result;
}

function rulesOf(mailbox: HourMailbox, sources: RuleSources): RuleLike[] {
  if (mailbox.route === 'graph') return sources.graph?.rulesOf(mailbox.email) ?? [];
  if (mailbox.route === 'ews') return (sources.ews?.rulesOf(mailbox.email) ?? []).map(asMessageRule);
  return sources.other?.(mailbox.email) ?? [];
}

/** Every message's arrival, in time order: each user's spread evenly, users offset from each other. */
function arrivals(mailboxes: readonly HourMailbox[], startAt: number, duration: number) {
  const list: Array<{ index: number; at: number; sequence: number }> = [];
  mailboxes.forEach((mailbox, index) => {
    const offset = (index + 1) / (mailboxes.length + 1);
    for (let i = 0; i < mailbox.messages; i++)
      list.push({ index, at: startAt + Math.floor(((i + offset) * duration) / mailbox.messages), sequence: 0 });
  });
  list.sort((a, b) => a.at - b.at || a.index - b.index);
  list.forEach((arrival, i) => (arrival.sequence = i + 1));
  return list;
}

function deliverCopy(
  flow: MailFlow,
  mailbox: HourMailbox,
  original: StoredMessage,
  to: string,
  action: (typeof forwardingActions)[number],
  at: number,
  result: HourResult,
): void {
  const origin = copyOrigin[mailbox.route];
  const tally = (result.recipients[to] ??= {
    delivered: 0,
    refused: 0,
    deliveredFrom: {},
    refusedFrom: {},
    byStatus: {},
  });
  const refuse = (status: string) => {
    tally.refused++;
    tally.refusedFrom[origin] = (tally.refusedFrom[origin] ?? 0) + 1;
    tally.byStatus[status] = (tally.byStatus[status] ?? 0) + 1;
    result.bounces.push({ mailbox: mailbox.email, route: mailbox.route, to, status, at, copy: true });
  };
  if (!flow.isInternal(to)) {
    // Exchange Online's outbound spam policy blocks automatic forwarding out of the tenant.
    if (origin === 'exchange-online') refuse('5.7.520');
    return;
  }
  const refusal = flow.receive(to, copyOf(mailbox.email, to, original, action, at), origin, at);
  if (refusal) return refuse(refusal.status);
  tally.delivered++;
  tally.deliveredFrom[origin] = (tally.deliveredFrom[origin] ?? 0) + 1;
}

function message(from: string, to: string, subject: string, at: number): StoredMessage {
  const time = new Date(at).toISOString();
  const address = (email: string) => ({ emailAddress: { address: email } });
  return {
    id: nextId(),
    folder: 'inbox',
    subject,
    body: { contentType: 'text', content: `${subject}: simulated mail for the busiest hour` },
    from: address(from),
    sender: address(from),
    toRecipients: [address(to)],
    receivedDateTime: time,
    sentDateTime: time,
    hasAttachments: false,
    internetMessageHeaders: [],
    attachments: [],
    isNonDeliveryReport: false,
    isReadReceipt: false,
  };
}

/** The rule's copy: as an attachment (an item attachment), inline, or the original redirected. */
function copyOf(
  mailbox: string,
  to: string,
  original: StoredMessage,
  action: (typeof forwardingActions)[number],
  at: number,
): StoredMessage {
  const marked = [{ name: loopHeader, value: mailbox }];
  if (action === 'redirectTo') return { ...original, id: nextId(), internetMessageHeaders: marked };
  const copy = message(mailbox, to, `FW: ${original.subject}`, at);
  copy.internetMessageHeaders = marked;
  if (action === 'forwardAsAttachmentTo') {
    const { attachments: _a, folder: _f, ...item } = original;
    copy.hasAttachments = true;
    copy.attachments = [
      {
        '@odata.type': '#microsoft.graph.itemAttachment',
        id: `AAMkAGAtt${nextId()}`,
        name: original.subject,
        contentType: null,
        isInline: false,
        size: original.body.content.length + original.subject.length,
        lastModifiedDateTime: copy.receivedDateTime,
        item: { '@odata.type': '#microsoft.graph.message', ...item },
      },
    ];
  }
  return copy;
}
