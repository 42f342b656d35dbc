import { isRetryable, ThrottledError, TransientError } from './errors.js';

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;
export type Clock = () => number;

export interface RetryOptions {
  /** Attempts after the first. @default 6 */
  maxRetries: number;
  /** Base of the exponential back-off when the service gave no delay. @default 1000 */
  retryDelayInMs: number;
  /**
   * The first retry after a transient failure (a 5xx without Retry-After, a reset connection, a
   * timeout) waits only this much, jittered; later ones back off from retryDelayInMs. @default 100
   */
  firstRetryDelayInMs?: number;
  /** True when the attempt that just failed sent a write whose outcome is unknown (no fast retry). */
  afterUnknownWrite?: () => boolean;
  /**
   * Longest wait sinkrule accepts. A service that asks for more (EWS has been seen asking for
   * five minutes) fails the mailbox instead: waiting less than asked would break the service's
   * rule, and waiting longer stalls the run. @default 300000
   */
  maxRetryDelayInMs: number;
  sleep: Sleep;
  /** Jitter source, injectable for tests. @default Math.random */
  random?: () => number;
  signal?: AbortSignal;
  onRetry?: (error: unknown, attempt: number, delayInMs: number) => void;
}

/** Retries of one mailbox on app-wide throttling; the shared gate keeps these rare. */
export const maxAppThrottleRetries = 50;

export const defaultRetrySettings = { maxRetries: 6, retryDelayInMs: 1000, maxRetryDelayInMs: 300_000 };

/**
 * Microsoft's guidance on transient faults ("Transient fault handling", Azure Architecture Center,
 * and its Transient Fault Handling block's FastFirstRetry, on by default): a fault that is rare may
 * be retried at once, but only once; after that, back off exponentially. One 503 in a hundred is
 * such a fault, and a one-second wait for it holds the whole run's last mailboxes. The retry still
 * goes through the shared pace, so it never adds a burst. Not after a write whose outcome is
 * unknown (see afterUnknownWrite).
 */
export const defaultFirstRetryDelayInMs = 100;

/**
 * The one retry loop in sinkrule. `task` gets the attempt number (1-based) and must start from a
 * fresh read of the service each time, so a write whose fate is unknown is never replayed blindly.
 * Only ThrottledError and TransientError are retried; everything else is rethrown at once.
 */
export async function withRetry<T>(task: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.random ?? Math.random;
  let appThrottles = 0;
  const transient = { failures: 0, fastRetried: false };
  for (let attempt = 1; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      if (!isRetryable(error) || options.signal?.aborted) throw error;
      // Throttling of the whole app is not this mailbox's doing: it has a budget of its own.
      const appWide = error instanceof ThrottledError && error.scope === 'app';
      if (appWide ? ++appThrottles > maxAppThrottleRetries : attempt - appThrottles > options.maxRetries) throw error;
      const delayInMs = retryDelayFor(error, attempt, transient, options, random);
      if (delayInMs > options.maxRetryDelayInMs) throw error;
      options.onRetry?.(error, attempt, delayInMs);
      await options.sleep(delayInMs, options.signal);
    }
  }
}

function retryDelayFor(
  error: unknown,
  attempt: number,
  transient: { failures: number; fastRetried: boolean },
  options: RetryOptions,
  random: () => number,
): number {
  if (error instanceof ThrottledError && error.retryAfterInMs !== undefined) return error.retryAfterInMs;
  let exponent = attempt - 1;
  if (error instanceof TransientError) {
    transient.failures++;
    const firstRetryDelayInMs = options.firstRetryDelayInMs ?? defaultFirstRetryDelayInMs;
    // Once, and never after a write whose outcome is unknown: a rule created a moment ago may not
    // show in the next read yet, and writing it again would leave two.
    if (transient.failures === 1 && firstRetryDelayInMs < options.retryDelayInMs && !options.afterUnknownWrite?.()) {
      transient.fastRetried = true;
      return equalJitter(firstRetryDelayInMs, random);
    }
    exponent = transient.failures - (transient.fastRetried ? 2 : 1);
  }
  return equalJitter(Math.min(options.maxRetryDelayInMs, options.retryDelayInMs * 2 ** exponent), random);
}

/** "Equal jitter": never less than half the step, so workers spread out without any retrying at once. */
function equalJitter(step: number, random: () => number): number {
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * Reads how long the service wants us to wait from HTTP headers: `retry-after-ms`,
 * `x-ms-retry-after-ms` (milliseconds), then `Retry-After` as seconds (Graph sends fractions such
 * as `2.128`) or as an HTTP date. Returns undefined when none is usable.
 */
export function parseRetryAfter(
  getHeader: (name: string) => string | null | undefined,
  now: number,
): number | undefined {
  for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
    const value = Number(getHeader(name));
    if (getHeader(name) && Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  const header = getHeader('retry-after')?.trim();
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A sleep that wakes early (and rejects) when the run is aborted. */
export const sleep: Sleep = (ms, signal) =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
