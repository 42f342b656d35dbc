import { ThrottledError } from './errors.js';
import type { Clock, Sleep } from './retry.js';

export interface ThrottleGateOptions {
  clock: Clock;
  sleep: Sleep;
  /** Requests allowed in flight to one mailbox at once (Exchange Online: 4). @default 4 */
  maxRequestsPerMailbox?: number;
}

/**
 * Shared by every worker of one back end. It keeps the Retry-After windows the service opened (for
 * the whole app, or for one mailbox) and the per-mailbox concurrency limit, so that no request is
 * ever sent inside a window, whichever worker sends it. Providers route every request through
 * `send`; the retry loop decides what to do after a ThrottledError.
 */
export class ThrottleGate {
  private appClosedUntil = 0;
  private readonly mailboxClosedUntil = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly maxRequestsPerMailbox: number;
  /** Counters for the progress line and the benchmark. */
  readonly stats = { requests: 0, throttled: 0, appPauses: 0 };

  constructor(private readonly options: ThrottleGateOptions) {
    this.maxRequestsPerMailbox = options.maxRequestsPerMailbox ?? 4;
  }

  /** Whether the service currently has the whole back end paused. */
  get pausedUntil(): number {
    return this.appClosedUntil;
  }

  async send<T>(mailboxKey: string, request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = mailboxKey.toLowerCase();
    await this.acquire(key);
    try {
      await this.waitForWindows(key, signal);
      this.stats.requests++;
      return await request();
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
    const until = this.options.clock() + (error.retryAfterInMs ?? 0);
    if (error.scope === 'app') {
      if (until > this.appClosedUntil) this.stats.appPauses++;
      this.appClosedUntil = Math.max(this.appClosedUntil, until);
    } else {
      const key = mailboxKey.toLowerCase();
      this.mailboxClosedUntil.set(key, Math.max(this.mailboxClosedUntil.get(key) ?? 0, until));
    }
  }

  private async waitForWindows(key: string, signal?: AbortSignal): Promise<void> {
    // Loop: another worker may extend a window while this one sleeps.
    for (;;) {
      const until = Math.max(this.appClosedUntil, this.mailboxClosedUntil.get(key) ?? 0);
      const waitInMs = until - this.options.clock();
      if (waitInMs <= 0) break;
      await this.options.sleep(waitInMs, signal);
    }
    if ((this.mailboxClosedUntil.get(key) ?? 1) <= this.options.clock()) this.mailboxClosedUntil.delete(key);
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
