import { ThrottledError } from '../../src/core/errors.js';
import type { VirtualTime } from './virtual-time.js';

export interface CeilingServiceOptions {
  /** Requests per second the service accepts, sustained. */
  ceiling: number;
  /** Requests it accepts at once above that (the token bucket). @default one second's worth */
  burst?: number;
  latencyInMs: number;
  /** ± spread of the latency, drawn from `random`. @default 0 */
  jitterInMs?: number;
  random?: () => number;
}

/**
 * A service with an app-wide ceiling as the simulators model Exchange Online: a token bucket that
 * keeps counting requests made while throttled, and 429s whose Retry-After is in whole seconds
 * (at least one). It records every request it receives inside a window it announced.
 */
export function ceilingService(time: VirtualTime, options: CeilingServiceOptions) {
  const { ceiling } = options;
  const burst = options.burst ?? ceiling;
  const random = options.random ?? Math.random;
  const stats = { accepted: 0, throttled: 0, insideWindow: 0, acceptedAt: [] as number[] };
  let tokens = burst;
  let at = 0;
  let windowUntil = 0;
  const call = async () => {
    if (time.now < windowUntil) stats.insideWindow++;
    tokens = Math.min(burst, tokens + ((time.now - at) / 1000) * ceiling);
    at = time.now;
    tokens -= 1;
    if (tokens < 0) {
      stats.throttled++;
      const retryAfterInMs = Math.max(1, Math.ceil((1 - tokens) / ceiling)) * 1000;
      windowUntil = Math.max(windowUntil, time.now + retryAfterInMs);
      throw new ThrottledError('429', retryAfterInMs, 'app', 'TooManyRequests');
    }
    await time.sleep(options.latencyInMs + (random() * 2 - 1) * (options.jitterInMs ?? 0));
    stats.accepted++;
    stats.acceptedAt.push(time.now);
  };
  return { stats, call };
}
