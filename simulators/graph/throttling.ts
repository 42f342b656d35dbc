import { createLimiter, retryAfterSecondsFor, type Limiter, type LimiterOptions } from '../limiters.js';
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
  /** How the ceiling is kept (simulators/limiters.ts). @default a token bucket with a debt */
  limiter?: Pick<LimiterOptions, 'shape' | 'schedule'>;
  /** Retry-After (seconds) on concurrency 429s and injected throttling. @default 1 */
  retryAfterSeconds?: number;
  /** Mailbox → number of its first requests answered 429 (MailboxConcurrency-style). */
  throttleFirstRequests?: Record<string, number>;
  /**
   * The app-wide 429 a busy tenant gives: the `request`-th request (1-based, in arrival order) is
   * answered TooManyRequests with this Retry-After, pausing the whole app. Graph's "Throttling"
   * page leaves the length to the service ("wait the number of seconds specified in Retry-After").
   */
  pauseAppAt?: { request: number; retryAfterSeconds: number };
  /**
   * How long after the answer carrying a window left the service arriving requests count as already
   * on their way: sent before the 429 reached the client, or before its event loop got to read it
   * (a loaded Node client measures up to ~70 ms late at p99). Windows shorter than this are not
   * checked.
   * @default 100
   */
  inFlightGraceInMs?: number;
}

/**
 * A Retry-After window: until when the service refuses (`until`, from its decision), and what the
 * client was told: when the first answer carrying it left (`answeredAt`) and until when the
 * answers so far ask it to wait (`toldUntil`: each answer's time plus its Retry-After).
 */
interface RetryAfterWindow {
  until: number;
  answeredAt?: number;
  toldUntil?: number;
}

function tell(window: RetryAfterWindow, now: number, waitInMs: number): void {
  window.answeredAt ??= now;
  window.toldUntil = Math.max(window.toldUntil ?? 0, now + waitInMs);
}

/**
 * An answer that goes out later than its parts are decided: a JSON batch returns when its last
 * item is done (json-batching.md: one response with every item's), so a 429 item's Retry-After
 * reaches the client only then, and counts from then. `answered` marks the windows its items
 * announced as told.
 */
export class AnswerScope {
  private readonly told: Array<{ window: RetryAfterWindow; waitInMs: number }> = [];

  add(window: RetryAfterWindow, waitInMs: number): void {
    this.told.push({ window, waitInMs });
  }

  /** The answer leaves the service now. */
  answered(now = Date.now()): void {
    for (const { window, waitInMs } of this.told) tell(window, now, waitInMs);
  }
}

/** The limiter: per-mailbox concurrency, injected throttling and the app-wide token bucket. */
export class GraphThrottling {
  private readonly inFlight = new Map<string, number>();
  /**
   * Retry-After windows ('*' = the app): until when each lasts, and when the first answer carrying
   * it left the service (unset while that answer is still being put together, see AnswerScope).
   */
  private readonly windows = new Map<string, RetryAfterWindow>();
  private readonly throttleLeft: Map<string, number>;
  private limiter: Limiter | undefined;
  private arrivals = 0;

  constructor(
    private readonly options: GraphThrottlingOptions,
    private readonly stats: GraphSimulatorStats,
  ) {
    this.throttleLeft = new Map(
      Object.entries(options.throttleFirstRequests ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
  }

  /** The app-wide ceiling starts afresh now (the server starts, or a benchmark cell): a full budget, its schedule. */
  start(limiter = this.options.limiter): void {
    const { requestsPerSecond, burst } = this.options;
    this.limiter = requestsPerSecond
      ? createLimiter({ shape: 'bucket-debt', ...limiter, requestsPerSecond, burst }, Date.now())
      : undefined;
  }

  /**
   * Concurrency, injected throttling and the app-wide ceiling, with Retry-After windows. `answer`:
   * the answer this request's reply goes out in, when that is not at once (a JSON batch).
   */
  throttle(
    email: string,
    arrivedAt: number,
    answer?: AnswerScope,
  ): { code: string; message: string; retryAfter: string } | undefined {
    // Windows last from when the 429 was decided; arrivals are judged, and the bucket charged, by
    // when they arrived (as in the EWS simulator). A request counts as sent inside a window if it
    // arrived more than the grace after an answer carrying that window left the service and before
    // the wait that answer asked for ended: a client cannot stop for a Retry-After it has not been
    // sent yet, and must wait the whole of one it has.
    const now = Date.now();
    const grace = this.options.inFlightGraceInMs ?? 100;
    const open = [this.windows.get(email), this.windows.get('*')].filter(
      (w) => w && Math.max(w.until, w.toldUntil ?? 0) > arrivedAt,
    );
    const told = (w: RetryAfterWindow) =>
      w.answeredAt !== undefined && arrivedAt - w.answeredAt > grace && arrivedAt < w.toldUntil!;
    if (open.some((w) => told(w!))) this.stats.insideRetryAfterWindow++;
    else if (open.length > 0) this.stats.arrivedInFlight++;
    const retryAfterSeconds = this.options.retryAfterSeconds ?? 1;
    const announce = (key: string, seconds: number, code: string, message: string) => {
      this.stats.throttled++;
      let window = this.windows.get(key);
      const until = now + seconds * 1000;
      // Over for the service and for the client (told, and its wait ended): a new window. One a
      // batch has yet to answer for stays, so that answer still reaches it.
      const over = (w: RetryAfterWindow) => w.until <= now && w.answeredAt !== undefined && w.toldUntil! <= now;
      if (!window || over(window)) this.windows.set(key, (window = { until }));
      else window.until = Math.max(window.until, until);
      if (answer) answer.add(window, seconds * 1000);
      else tell(window, now, seconds * 1000);
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
    const pause = this.options.pauseAppAt;
    if (++this.arrivals === pause?.request)
      return announce('*', pause.retryAfterSeconds, 'TooManyRequests', 'Please retry again later.');
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
    // The app-wide ceiling: until a request is allowed again, in whole seconds and at least one, as
    // Exchange Online answers (exchange-facts.md, "Throttling (Outlook service)"): every app-wide
    // 429 costs the app a second of its budget.
    const waitInMs = this.limiter?.admit(arrivedAt);
    if (waitInMs !== undefined)
      return announce('*', retryAfterSecondsFor(waitInMs), 'TooManyRequests', 'Please retry again later.');
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
