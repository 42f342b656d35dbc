import { ThrottledError } from '../../src/core/errors.js';
import { ThrottleGate, type ThrottleGateOptions } from '../../src/core/throttle-gate.js';
import { seededRandom } from '../../simulators/http.js';
import { VirtualTime } from './virtual-time.js';

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

/**
 * `workers` workers send `total` requests through one gate to a service with a ceiling that
 * answers 429 with whole-second Retry-After windows; a throttled request is sent again (after the
 * window, through the gate). Returns what the service saw and when the last request was accepted.
 */
export async function driveGate(
  service: Omit<CeilingServiceOptions, 'random'>,
  total: number,
  workers = 256,
  options: { gate?: Partial<ThrottleGateOptions>; workloadKnown?: boolean } = {},
) {
  const time = new VirtualTime();
  const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, ...options.gate });
  if (options.workloadKnown) gate.expectMailboxes(total);
  const { stats, call } = ceilingService(time, { ...service, random: seededRandom(7) });
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const mailbox = `user${next++}@contoso.com`;
      for (;;) {
        try {
          await gate.send(mailbox, call);
          gate.mailboxFinished();
          break;
        } catch (error) {
          if (!(error instanceof ThrottledError)) throw error;
        }
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker));
  await time.run();
  await done;
  const seconds = stats.acceptedAt.at(-1)! / 1000;
  return { stats, gate, seconds, efficiency: total / service.ceiling / seconds };
}
