/**
 * What one Exchange Online mailbox accepts, built from the Exchange Online service description
 * ("Exchange Online limits": "Receiving limits" and "Storage limits"; the figures and exemptions are
 * in shared/notes/exchange-facts.md, "Receiving limits: what one sink can take") and the NDR
 * reference ("Fix email delivery issues for error codes 5.2.121 and 5.2.122 in Exchange Online",
 * "Email non-delivery reports and SMTP errors in Exchange Online" for 5.2.2):
 * - a mailbox receives at most 3,600 messages per hour from all sources, and every message it
 *   receives counts, internal ones included;
 * - past that, messages from the internet and from on-premises servers (hybrid) are refused with
 *   5.2.122 until the hour has passed, while messages from the tenant's own Exchange Online
 *   mailboxes are still delivered (and still count);
 * - one sender outside the tenant's Exchange Online may deliver at most 33 % of the receiving limit
 *   (1,188) per hour to one mailbox, else 5.2.121; Exchange Online senders of the same tenant are
 *   exempt, on-premises mailboxes of the same organisation are not;
 * - a mailbox over its Prohibit Send/Receive quota refuses every sender, internal ones too (5.2.2).
 * The hour is a rolling one: a message counts for the 60 minutes after it arrived.
 */

/** Where a message comes from, as Exchange Online tells senders apart for these limits. */
export type MailOrigin = 'exchange-online' | 'on-premises' | 'internet';

export const receivingLimitPerHour = 3600;
/** 33 % of the receiving limit. */
export const senderLimitPerHour = Math.floor(receivingLimitPerHour * 0.33);
const hourInMs = 3_600_000;

export type Refusal =
  { status: '5.2.122'; text: string } | { status: '5.2.121'; text: string } | { status: '5.2.2'; text: string };

const refusals = {
  hot: { status: '5.2.122', text: "Recipient's per hour message receive limit exceeded" },
  pair: {
    status: '5.2.121',
    text: "Recipient's per hour message receive limit from specific sender exceeded",
  },
  full: { status: '5.2.2', text: "Mailbox full: the recipient's mailbox is over its Prohibit Send/Receive quota" },
} as const satisfies Record<string, Refusal>;

/** The size and Prohibit Send/Receive quota of one mailbox. */
export interface MailboxStorage {
  usedBytes: number;
  quotaBytes: number;
}

/** Arrival times of one stream of messages, oldest first, for counting the last hour. */
class RollingHour {
  private times: number[] = [];
  private start = 0;

  count(at: number): number {
    this.forgetBefore(at - hourInMs);
    return this.times.length - this.start - this.after(at);
  }

  add(at: number): void {
    const last = this.times[this.times.length - 1];
    if (last === undefined || at >= last) this.times.push(at);
    else this.times.splice(this.indexAfter(at), 0, at); // a message from an earlier virtual moment
  }

  private forgetBefore(limit: number): void {
    while (this.start < this.times.length && this.times[this.start]! <= limit) this.start++;
    if (this.start > 1024 && this.start * 2 > this.times.length) {
      this.times = this.times.slice(this.start);
      this.start = 0;
    }
  }

  /** Messages recorded later than `at` (a virtual clock may look back). */
  private after(at: number): number {
    return this.times.length - this.indexAfter(at);
  }

  private indexAfter(at: number): number {
    let low = this.start;
    let high = this.times.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.times[middle]! <= at) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** The receiving side of every simulated Exchange Online mailbox. */
export class ReceivingLimits {
  private readonly received = new Map<string, RollingHour>();
  private readonly bySender = new Map<string, RollingHour>();
  private readonly storage = new Map<string, MailboxStorage>();

  /** Gives a mailbox a size and quota (mailboxes without one never fill up). */
  setStorage(mailbox: string, storage: MailboxStorage): void {
    this.storage.set(mailbox.toLowerCase(), { ...storage });
  }

  storageOf(mailbox: string): MailboxStorage | undefined {
    const storage = this.storage.get(mailbox.toLowerCase());
    return storage && { ...storage };
  }

  /** Messages the mailbox received in the hour up to `at`. */
  receivedInHour(mailbox: string, at: number): number {
    return this.received.get(mailbox.toLowerCase())?.count(at) ?? 0;
  }

  /**
   * Decides one delivery at `at` (ms) and records it when accepted: undefined means delivered
   * (and counted), otherwise the refusal the sender's NDR carries.
   */
  admit(delivery: {
    to: string;
    from: string;
    origin: MailOrigin;
    at: number;
    sizeInBytes: number;
  }): Refusal | undefined {
    const to = delivery.to.toLowerCase();
    const storage = this.storage.get(to);
    if (storage && storage.usedBytes + delivery.sizeInBytes > storage.quotaBytes) return refusals.full;
    const hour = this.received.get(to) ?? this.received.set(to, new RollingHour()).get(to)!;
    const pairKey = `${delivery.from.toLowerCase()}\n${to}`;
    const exempt = delivery.origin === 'exchange-online';
    if (!exempt) {
      if (hour.count(delivery.at) >= receivingLimitPerHour) return refusals.hot;
      const pair = this.bySender.get(pairKey);
      if (pair && pair.count(delivery.at) >= senderLimitPerHour) return refusals.pair;
    }
    hour.add(delivery.at);
    if (!exempt)
      (this.bySender.get(pairKey) ?? this.bySender.set(pairKey, new RollingHour()).get(pairKey)!).add(delivery.at);
    if (storage) storage.usedBytes += delivery.sizeInBytes;
    return undefined;
  }
}
