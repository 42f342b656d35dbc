import type { Target } from './mailbox.js';

/**
 * The capacity model (docs/capacity.md): how much mail each user's rule sends to a sink, and what a
 * sink may take. Pure: every figure `sinkrule capacity` prints comes from these functions.
 *
 * Limits (Exchange Online service description, "Receiving limits" and "Storage limits"; the facts
 * are in shared/notes/exchange-facts.md):
 * - a mailbox receives at most 3,600 messages an hour; past that, copies from on-premises servers
 *   and other mail systems are refused (NDR 5.2.122), Exchange Online senders still get through;
 * - one sender outside the tenant's Exchange Online delivers at most 33 % of that to one mailbox
 *   (1,188 an hour; NDR 5.2.121); Exchange Online senders in the same tenant are exempt;
 * - a folder holds at most 1,000,000 items; a mailbox over its Prohibit Send/Receive quota refuses
 *   every sender.
 */
export const receivingLimitPerHour = 3600;
export const pairLimitPerHour = 1188;
export const folderItemLimit = 1_000_000;

/** The model's settings (command-line flags, with these defaults). */
export interface CapacityModelOptions {
  /** Share of a working day's mail that arrives in its busiest hour. @default 0.2 */
  peakHourShare: number;
  /** Share of each limit a sink (and each outside user) is planned to. @default 0.8 */
  headroom: number;
  /** A sink whose users are all on Exchange Online may go past the hourly cap (their copies still arrive). */
  allowHotSinks: boolean;
}

export const defaultModelOptions: CapacityModelOptions = { peakHourShare: 0.2, headroom: 0.8, allowHotSinks: false };

/** One user's mail as the model sees it. */
export interface UserLoad {
  email: string;
  target: Target;
  /** Messages received on an average working day. */
  perWorkingDay: number;
  /** Messages in the busiest hour: perWorkingDay × peakHourShare. */
  busiestHour: number;
  /** Not on Exchange Online (ews, pop3, manual): refused past the limits, and held to the pair limit. */
  outside: boolean;
}

/** Routes whose copies reach the sink from outside the tenant's Exchange Online. */
export const isOutsideExchangeOnline = (target: Target): boolean => target !== 'graph';

const dayInMs = 86_400_000;

/**
 * Monday-to-Friday days among the `periodDays` days that end with (and include) `refreshDate`
 * (YYYY-MM-DD, as the usage report's Report Refresh Date).
 */
export function workingDaysIn(refreshDate: string, periodDays: number): number {
  const end = Date.parse(`${refreshDate}T00:00:00Z`);
  let count = 0;
  for (let i = 0; i < periodDays; i++) {
    const weekday = new Date(end - i * dayInMs).getUTCDay();
    if (weekday !== 0 && weekday !== 6) count++;
  }
  return count;
}

/** A user's load from the period's Receive Count. */
export function userLoad(
  user: { email: string; target: Target },
  receiveCount: number,
  workingDays: number,
  options: CapacityModelOptions,
): UserLoad {
  const perWorkingDay = workingDays > 0 ? receiveCount / workingDays : 0;
  return loadOf(user, perWorkingDay, options);
}

export function loadOf(
  user: { email: string; target: Target },
  perWorkingDay: number,
  options: CapacityModelOptions,
): UserLoad {
  return {
    email: user.email,
    target: user.target,
    perWorkingDay,
    busiestHour: perWorkingDay * options.peakHourShare,
    outside: isOutsideExchangeOnline(user.target),
  };
}

/** The most a sink is planned to receive in its busiest hour. */
export const sinkCap = (options: CapacityModelOptions): number => options.headroom * receivingLimitPerHour;
/** The most one outside user may send to a sink in an hour. */
export const pairCap = (options: CapacityModelOptions): number => options.headroom * pairLimitPerHour;

/** Why one user cannot be carried by any sink (undefined when a sink can carry them). */
export function tooBusyReason(user: UserLoad, options: CapacityModelOptions): string | undefined {
  const hour = Math.round(user.busiestHour);
  if (user.outside && user.busiestHour > pairCap(options))
    return (
      `${hour} copies in the busiest hour from outside Exchange Online (${user.target}) exceed ` +
      `${options.headroom} × ${pairLimitPerHour} (the sender-recipient pair limit; NDR 5.2.121)`
    );
  if (!(options.allowHotSinks && !user.outside) && user.busiestHour > sinkCap(options))
    return (
      `${hour} copies in the busiest hour exceed ${options.headroom} × ${receivingLimitPerHour} ` +
      `(a sink's hourly receiving limit) on their own`
    );
  return undefined;
}

/** The median of a list (0 for an empty one). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A sink's storage as the mailbox usage report (or --sink-quota-gb) tells it. */
export interface SinkStorage {
  storageUsedBytes?: number;
  itemCount?: number;
  quotaBytes?: number;
  /** Items in the Inbox (Graph mailFolders/inbox totalItemCount): the folder the item limit applies to. */
  inboxItems?: number;
}

export interface StorageOutlook {
  /** Calendar days from `fromDate` until the quota or the folder's item limit is reached; null when never. */
  daysUntilFull: number | null;
  /** Which limit comes first. */
  fullBy?: 'quota' | 'items';
  averageMessageBytes: number;
}

/**
 * Calendar days until the sink is full at `perWorkingDay` messages a working day, when nothing is
 * deleted. Only working days carry mail; the average message size is the sink's own
 * (used ÷ items) when it holds mail, else `averageMessageKb`.
 */
export function storageOutlook(
  storage: SinkStorage,
  perWorkingDay: number,
  fromDate: string,
  averageMessageKb: number,
): StorageOutlook {
  const averageMessageBytes =
    storage.itemCount && storage.storageUsedBytes
      ? storage.storageUsedBytes / storage.itemCount
      : averageMessageKb * 1024;
  if (perWorkingDay <= 0) return { daysUntilFull: null, averageMessageBytes };
  const candidates: Array<{ by: 'quota' | 'items'; workingDays: number }> = [];
  if (storage.quotaBytes !== undefined) {
    const left = Math.max(0, storage.quotaBytes - (storage.storageUsedBytes ?? 0));
    candidates.push({ by: 'quota', workingDays: left / (perWorkingDay * averageMessageBytes) });
  }
  const items = storage.inboxItems ?? storage.itemCount;
  if (items !== undefined)
    candidates.push({ by: 'items', workingDays: Math.max(0, folderItemLimit - items) / perWorkingDay });
  if (candidates.length === 0) return { daysUntilFull: null, averageMessageBytes };
  const first = candidates.reduce((a, b) => (b.workingDays < a.workingDays ? b : a));
  return { daysUntilFull: calendarDaysFor(first.workingDays, fromDate), fullBy: first.by, averageMessageBytes };
}

/**
 * The calendar day (counted from the day after `fromDate`) on which the `workingDays`-th working
 * day's mail arrives; a fraction of a working day is that day itself. 0 when already full.
 */
export function calendarDaysFor(workingDays: number, fromDate: string): number {
  const needed = Math.ceil(workingDays);
  if (needed <= 0) return 0;
  const start = Date.parse(`${fromDate}T00:00:00Z`);
  const weeks = Math.floor((needed - 1) / 5);
  let left = needed - weeks * 5;
  let day = weeks * 7;
  while (left > 0) {
    day++;
    const weekday = new Date(start + day * dayInMs).getUTCDay();
    if (weekday !== 0 && weekday !== 6) left--;
  }
  return day;
}
