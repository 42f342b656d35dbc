import type { GraphSimulatorStats } from './stats.js';

/**
 * Exchange Online's throttling as Graph answers it, built from exchange-facts.md ("Throttling",
 * "Throttling (Outlook service)") and Microsoft Graph "Throttling" / "Microsoft Graph service-specific
 * throttling limits" (Outlook service): at most 4 concurrent requests per app and mailbox
 * (MailboxConcurrency → 429 ApplicationThrottled), an app-wide request ceiling (429 TooManyRequests),
 * Retry-After in whole seconds and at least one, and requests made while throttled still counted.
 */

export interface GraphThrottlingOptions {
  /** Exchange Online's concurrency limit per app and mailbox. @default 4 */
  maxConcurrentPerMailbox?: number;
  /** App-wide request ceiling (requests per second); beyond it 429 TooManyRequests. */
  requestsPerSecond?: number;
  /** Requests the app may send at once above the ceiling (the token bucket's size). @default one second's worth */
  burst?: number;
  /** Retry-After (seconds) on concurrency 429s and injected throttling. @default 1 */
  retryAfterSeconds?: number;
  /** Mailbox → number of its first requests answered 429 (MailboxConcurrency-style). */
  throttleFirstRequests?: Record<string, number>;
  /**
   * How long after announcing a window arriving requests count as already on their way: sent
   * before the 429 reached the client, or before its event loop got to read it (a loaded Node
   * client measures up to ~70 ms late at p99). Windows shorter than this are not checked.
   * @default 100
   */
  inFlightGraceInMs?: number;
}

/** The limiter: per-mailbox concurrency, injected throttling and the app-wide token bucket. */
export class GraphThrottling {
  private readonly inFlight = new Map<string, number>();
  /** Retry-After windows: when each was announced and until when it lasts ('*' = the app). */
  private readonly windows = new Map<string, { openedAt: number; until: number }>();
  private readonly throttleLeft: Map<string, number>;
  private bucket = { tokens: 0, at: 0 };

  constructor(
    private readonly options: GraphThrottlingOptions,
    private readonly stats: GraphSimulatorStats,
  ) {
    this.throttleLeft = new Map(
      Object.entries(options.throttleFirstRequests ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
  }

  /** The bucket starts full when the server starts. */
  start(): void {
    this.bucket = { tokens: this.bucketSize, at: Date.now() };
  }

  private get bucketSize(): number {
    return this.options.burst ?? this.options.requestsPerSecond ?? 0;
  }

  /** Concurrency, injected throttling and the app-wide ceiling, with Retry-After windows. */
  throttle(email: string, arrivedAt: number): { code: string; message: string; retryAfter: string } | undefined {
    // Windows run from when the 429 is answered; arrivals are judged, and the bucket charged, by
    // when they arrived (as in the EWS simulator).
    const now = Date.now();
    const grace = this.options.inFlightGraceInMs ?? 100;
    const open = [this.windows.get(email), this.windows.get('*')].filter((w) => w && w.until > arrivedAt);
    if (open.some((w) => arrivedAt - w!.openedAt > grace)) this.stats.insideRetryAfterWindow++;
    else if (open.length > 0) this.stats.arrivedInFlight++;
    const retryAfterSeconds = this.options.retryAfterSeconds ?? 1;
    const announce = (key: string, seconds: number, code: string, message: string) => {
      this.stats.throttled++;
      const current = this.windows.get(key);
      const until = now + seconds * 1000;
      if (!current || current.until <= now) this.windows.set(key, { openedAt: now, until });
      else current.until = Math.max(current.until, until);
      return { code, message, retryAfter: String(seconds) };
    };
    if ((this.inFlight.get(email) ?? 0) > (this.options.maxConcurrentPerMailbox ?? 4)) {
      return announce(
        email,
        retryAfterSeconds,
        'ApplicationThrottled',
        'Application is over its MailboxConcurrency limit.',
      );
    }
    const left = this.throttleLeft.get(email) ?? 0;
    if (left > 0) {
      this.throttleLeft.set(email, left - 1);
      return announce(
        email,
        retryAfterSeconds,
        'ApplicationThrottled',
        'Application is over its MailboxConcurrency limit.',
      );
    }
    const rate = this.options.requestsPerSecond;
    if (rate) {
      // Token bucket of `burst` requests refilled at the ceiling; Graph counts requests made while throttled.
      this.bucket.tokens = Math.min(
        this.bucketSize,
        this.bucket.tokens + (Math.max(0, arrivedAt - this.bucket.at) / 1000) * rate,
      );
      this.bucket.at = Math.max(this.bucket.at, arrivedAt);
      this.bucket.tokens -= 1;
      if (this.bucket.tokens < 0) {
        // Until a whole request is allowed again, in whole seconds and at least one, as Exchange
        // Online answers (exchange-facts.md, "Throttling (Outlook service)"): every app-wide 429
        // costs the app a second of its budget.
        const seconds = Math.max(1, Math.ceil((1 - this.bucket.tokens) / rate));
        return announce('*', seconds, 'TooManyRequests', 'Please retry again later.');
      }
    }
    return undefined;
  }

  async withMailboxSlot<T>(email: string, work: () => Promise<T>): Promise<T> {
    const count = (this.inFlight.get(email) ?? 0) + 1;
    this.inFlight.set(email, count);
    this.stats.maxInFlightPerMailbox = Math.max(this.stats.maxInFlightPerMailbox, count);
    try {
      return await work();
    } finally {
      this.inFlight.set(email, (this.inFlight.get(email) ?? 1) - 1);
    }
  }
}
