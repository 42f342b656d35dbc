/**
 * App-wide request limiters for the simulators and the virtual-clock tests: the shapes a service
 * may use behind its documented promise, so the client's pacing is held to the promise, not to
 * one shape.
 *
 * What is documented, and every shape here keeps:
 * - Microsoft Graph "Throttling guidance" (learn.microsoft.com/graph/throttling): over its limit the
 *   service answers 429 with a `Retry-After` header, and "requests made while throttled" still
 *   count; the client must wait the Retry-After before sending again.
 * - Graph "Service-specific throttling limits", Outlook service limits
 *   (learn.microsoft.com/graph/throttling-limits#outlook-service-limits): limits are a number of
 *   requests per period (10,000 per 10 minutes per app and mailbox), i.e. a window, not a rate.
 * - exchange-facts.md, "Throttling (Outlook service)": `Retry-After` is in whole seconds, at least 1.
 *
 * What is not documented, and varies here: how the budget is kept (a token bucket with or without
 * a debt for refused requests, fixed one-second windows, a sliding 10-second window), how large a
 * burst it allows (1 % to 100 % of a second's rate), and whether the ceiling stays put (the
 * tenant's budget is shared with other apps: it may halve mid-run and come back).
 */

export type LimiterShape = 'bucket-debt' | 'bucket' | 'fixed-window' | 'sliding-window';

export const limiterShapes: readonly LimiterShape[] = ['bucket-debt', 'bucket', 'fixed-window', 'sliding-window'];

export interface LimiterOptions {
  shape: LimiterShape;
  /** Requests per second the service accepts, sustained. */
  requestsPerSecond: number;
  /** Token buckets: requests accepted at once above the rate. @default one second's worth */
  burst?: number;
  /**
   * The ceiling over time: from `atInMs` after the limiter starts, `share` of requestsPerSecond
   * (and of the burst). E.g. [{atInMs: 10_000, share: 0.5}, {atInMs: 20_000, share: 1}].
   */
  schedule?: ReadonlyArray<{ atInMs: number; share: number }>;
}

/** One app's budget at the service. Times are epoch (or virtual) milliseconds. */
export interface Limiter {
  /**
   * Charges a request that reached the service at `arrivedAt`: undefined if it is admitted, else
   * how long until one would be (ms; Graph answers it as retryAfterSecondsFor, EWS as
   * BackOffMilliseconds).
   */
  admit(arrivedAt: number): number | undefined;
  /** The sustained ceiling at `at` (requests per second), for the area under a changing ceiling. */
  ceilingAt(at: number): number;
}

/** A wait as Exchange Online's Retry-After says it: whole seconds, rounded up, at least one (exchange-facts.md). */
export const retryAfterSecondsFor = (waitInMs: number) => Math.max(1, Math.ceil(waitInMs / 1000 - 1e-9));

export function createLimiter(options: LimiterOptions, startedAt: number): Limiter {
  const share = (at: number) => {
    let current = 1;
    for (const step of options.schedule ?? []) if (at - startedAt >= step.atInMs) current = step.share;
    return current;
  };
  const rateAt = (at: number) => options.requestsPerSecond * share(at);
  const burstAt = (at: number) => (options.burst ?? options.requestsPerSecond) * share(at);
  switch (options.shape) {
    case 'bucket-debt':
    case 'bucket':
      return tokenBucket(options.shape === 'bucket-debt', rateAt, burstAt, startedAt);
    case 'fixed-window':
      return fixedWindows(rateAt, startedAt);
    case 'sliding-window':
      return slidingWindow(rateAt);
  }
}

/**
 * A bucket of `burst` tokens refilled at the rate. With a debt (Graph: requests made while throttled
 * count), a refused request spends its token too, down to minus the bucket, so every request sent
 * while throttled deepens the hole; without, a refused request costs nothing.
 */
function tokenBucket(
  debt: boolean,
  rateAt: (at: number) => number,
  burstAt: (at: number) => number,
  startedAt: number,
): Limiter {
  let tokens = burstAt(startedAt);
  let at = startedAt;
  return {
    ceilingAt: rateAt,
    admit(arrivedAt) {
      const rate = rateAt(arrivedAt);
      const burst = burstAt(arrivedAt);
      tokens = Math.min(burst, tokens + (Math.max(0, arrivedAt - at) / 1000) * rate);
      at = Math.max(at, arrivedAt);
      if (tokens >= 1) {
        tokens -= 1;
        return undefined;
      }
      if (debt) tokens = Math.max(-burst, tokens - 1);
      return ((1 - tokens) / rate) * 1000;
    },
  };
}

/** At most `rate` requests in each calendar second since the start; refused requests do not count. */
function fixedWindows(rateAt: (at: number) => number, startedAt: number): Limiter {
  let window = -1;
  let count = 0;
  return {
    ceilingAt: rateAt,
    admit(arrivedAt) {
      const current = Math.floor((arrivedAt - startedAt) / 1000);
      if (current !== window) {
        window = current;
        count = 0;
      }
      if (count < Math.floor(rateAt(arrivedAt))) {
        count++;
        return undefined;
      }
      return startedAt + (current + 1) * 1000 - arrivedAt;
    },
  };
}

/**
 * At most 10 × rate accepted requests in any 10 seconds (Outlook's limits are requests per period;
 * a sliding period lets a client that was idle spend ten seconds' worth at once).
 */
function slidingWindow(rateAt: (at: number) => number): Limiter {
  const periodInMs = 10_000;
  const accepted: number[] = [];
  let head = 0;
  return {
    ceilingAt: rateAt,
    admit(arrivedAt) {
      while (head < accepted.length && accepted[head]! <= arrivedAt - periodInMs) head++;
      if (head > 4096) {
        accepted.splice(0, head);
        head = 0;
      }
      const limit = Math.floor((rateAt(arrivedAt) * periodInMs) / 1000);
      const inPeriod = accepted.length - head;
      if (inPeriod < limit) {
        accepted.push(Math.max(arrivedAt, accepted.at(-1) ?? arrivedAt));
        return undefined;
      }
      // Free once enough of the oldest have left the period for one more.
      const leaves = accepted[head + (inPeriod - limit)]! + periodInMs;
      return leaves - arrivedAt;
    },
  };
}
