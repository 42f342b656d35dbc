import { ThrottledError } from './errors.js';
import type { Clock, Sleep } from './retry.js';

export interface ThrottleGateOptions {
  clock: Clock;
  sleep: Sleep;
  /** Requests allowed in flight to one mailbox at once (Exchange Online: 4). @default 4 */
  maxRequestsPerMailbox?: number;
  /** Pace at the start, before the service has said anything. @default 200 */
  initialRequestsPerSecond?: number;
  /** Never faster than this. @default Infinity */
  maxRequestsPerSecond?: number;
  /** Never slower than this, however often the service throttles. @default 1 */
  minRequestsPerSecond?: number;
}

/** After an app-wide 429 the pace drops to this share of what the service accepted in the last second. */
const decreaseFactor = 0.9;
/** Once the ceiling is known, the pace grows by this share per second of accepted requests. */
const growthPerSecond = 0.02;
/** 429s within this time after a cut come from requests already on their way: no new cut. */
const cutGuardInMs = 250;
/** How far the pace may catch up on slots a late timer missed. */
const catchUpInMs = 5;
/** Slow start: each accepted request raises the pace by this much (×e³ per second). */
const slowStartStep = 3;

/**
 * Shared by every worker of one back end; every request of a provider goes through `send`.
 * It enforces what the service asked for, whichever worker asked:
 * - the Retry-After windows it opened, for the whole app or for one mailbox (nothing is sent
 *   inside a window);
 * - at most N requests in flight per mailbox;
 * - an adaptive pace for the app (requests per second): doubling per second while the service
 *   accepts everything ("slow start"), set to 90 % of what the service accepted in the last second
 *   at the first app-wide 429, cut by 10 % at later ones, growing 2 % per second in between; the
 *   pump releases waiting requests one by one, so the end of a window is no thundering herd that
 *   the service would count against us again.
 */
export class ThrottleGate {
  private appClosedUntil = 0;
  private readonly mailboxClosedUntil = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly maxRequestsPerMailbox: number;
  private readonly maxRate: number;
  private readonly minRate: number;
  private rate: number;
  private slowStart = true;
  private nextSendAt = 0;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  /** When recent requests were accepted (for the ceiling estimate); trimmed to about a second. */
  private readonly accepted: number[] = [];
  private readonly paceQueue: Array<{ resolve: () => void }> = [];
  private pumping = false;
  /** Counters for the progress line, the report and the benchmark. */
  readonly stats = { requests: 0, throttled: 0, appPauses: 0 };

  constructor(private readonly options: ThrottleGateOptions) {
    this.maxRequestsPerMailbox = options.maxRequestsPerMailbox ?? 4;
    this.maxRate = options.maxRequestsPerSecond ?? Number.POSITIVE_INFINITY;
    this.minRate = options.minRequestsPerSecond ?? 1;
    this.rate = Math.min(this.maxRate, options.initialRequestsPerSecond ?? 200);
  }

  /** Until when the service has the whole back end paused (epoch ms). */
  get pausedUntil(): number {
    return this.appClosedUntil;
  }

  /** The current pace, requests per second. */
  get requestsPerSecond(): number {
    return this.rate;
  }

  async send<T>(mailboxKey: string, request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = mailboxKey.toLowerCase();
    await this.acquire(key);
    try {
      await this.waitForTurn(key, signal);
      this.stats.requests++;
      const result = await request();
      this.grow();
      return result;
    } catch (error) {
      if (error instanceof ThrottledError) this.close(key, error);
      throw error;
    } finally {
      this.release(key);
    }
  }

  /** Opens a window in which nothing is sent (to the app or to one mailbox). */
  close(mailboxKey: string, error: ThrottledError): void {
    this.stats.throttled++;
    const now = this.options.clock();
    const until = now + (error.retryAfterInMs ?? 0);
    if (error.scope === 'mailbox') {
      const key = mailboxKey.toLowerCase();
      this.mailboxClosedUntil.set(key, Math.max(this.mailboxClosedUntil.get(key) ?? 0, until));
      return;
    }
    if (until > this.appClosedUntil) this.stats.appPauses++;
    this.appClosedUntil = Math.max(this.appClosedUntil, until);
    // One cut per burst: the other workers' 429s from the same burst say nothing new. Leaving
    // slow start, the pace may be far above the ceiling, and what the service accepted during the
    // last second is the best estimate of it; later, throttle pauses depress that figure, so the
    // pace itself is cut (basing later cuts on it spirals the pace down).
    if (now - this.lastCutAt > Math.max(cutGuardInMs, error.retryAfterInMs ?? 0)) {
      const accepted = this.slowStart ? this.acceptedInLastSecond(now) : 0;
      this.rate = Math.max(this.minRate, Math.min(this.rate, accepted > 0 ? accepted : this.rate) * decreaseFactor);
      this.slowStart = false;
      this.lastCutAt = now;
    }
  }

  private grow(): void {
    const now = this.options.clock();
    this.accepted.push(now);
    if (this.accepted.length > 4096 && this.accepted[0]! < now - 1000) this.accepted.splice(0, this.accepted.findIndex((t) => t >= now - 1000));
    // Per accepted request: a step in slow start, or a small share (≈ growthPerSecond per second).
    this.rate = Math.min(this.maxRate, this.rate + (this.slowStart ? slowStartStep : growthPerSecond));
  }

  private acceptedInLastSecond(now: number): number {
    const from = this.accepted.findIndex((t) => t >= now - 1000);
    return from < 0 ? 0 : this.accepted.length - from;
  }

  /**
   * Waits until no window is open for this mailbox and the pace releases this request. Checks the
   * mailbox's window again afterwards: one may have opened meanwhile.
   */
  private async waitForTurn(key: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      const waitInMs = (this.mailboxClosedUntil.get(key) ?? 0) - this.options.clock();
      if (waitInMs > 0) {
        await this.options.sleep(waitInMs, signal);
        continue;
      }
      await this.pace(signal);
      if ((this.mailboxClosedUntil.get(key) ?? 0) <= this.options.clock()) break;
    }
    this.mailboxClosedUntil.delete(key);
  }

  /** Queues for the pump, which releases waiters one by one at the current pace. */
  private pace(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      // The listener goes as soon as the waiter does: a run's signal sees every request, and
      // listeners left behind would make each new one slower to add.
      const onAbort = () => {
        const index = this.paceQueue.indexOf(waiter);
        if (index >= 0) this.paceQueue.splice(index, 1);
        reject(signal?.reason);
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      this.paceQueue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      void this.pump();
    });
  }

  /**
   * The one place requests are let through: never inside the app's window, never faster than the
   * pace as it is now (a pace raised or cut takes effect for everyone still waiting), so the end
   * of a window releases one request at a time, not all of them at once.
   */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.paceQueue.length > 0) {
        const now = this.options.clock();
        const readyAt = Math.max(this.appClosedUntil, this.nextSendAt);
        if (readyAt > now) {
          await this.options.sleep(readyAt - now);
          continue;
        }
        // Timers fire about once a millisecond: slots up to catchUpInMs old are still used, so a fast
        // pace is kept, but idle time never turns into a burst.
        this.nextSendAt = Math.max(this.nextSendAt, now - catchUpInMs) + (Number.isFinite(this.rate) ? 1000 / this.rate : 0);
        this.paceQueue.shift()!.resolve();
      }
    } finally {
      this.pumping = false;
    }
  }

  private async acquire(key: string): Promise<void> {
    const count = this.inFlight.get(key) ?? 0;
    if (count < this.maxRequestsPerMailbox) {
      this.inFlight.set(key, count + 1);
      return;
    }
    await new Promise<void>((resolve) => {
      const queue = this.waiters.get(key) ?? [];
      queue.push(resolve);
      this.waiters.set(key, queue);
    });
  }

  private release(key: string): void {
    const queue = this.waiters.get(key);
    const next = queue?.shift();
    if (queue?.length === 0) this.waiters.delete(key);
    if (next) return next(); // the slot passes straight to the next waiter
    const count = (this.inFlight.get(key) ?? 1) - 1;
    if (count === 0) this.inFlight.delete(key);
    else this.inFlight.set(key, count);
  }
}
