import { ThrottledError, TransientError } from '../../src/core/errors.js';
import { ThrottleGate, type ThrottleGateOptions } from '../../src/core/throttle-gate.js';
import { seededRandom } from '../../simulators/http.js';
import {
  createLimiter,
  retryAfterSecondsFor,
  type LimiterOptions,
  type LimiterShape,
} from '../../simulators/limiters.js';
import { VirtualTime } from './virtual-time.js';

export interface CeilingServiceOptions {
  /** Requests per second the service accepts, sustained. */
  ceiling: number;
  /** How the service keeps its budget (simulators/limiters.ts). @default 'bucket-debt' */
  shape?: LimiterShape;
  /** Token buckets: requests accepted at once above that. @default one second's worth */
  burst?: number;
  /** The ceiling over time (a share of `ceiling` from a time on): see LimiterOptions. */
  schedule?: LimiterOptions['schedule'];
  /** How long an admitted request takes after it reached the service (its work). */
  latencyInMs: number;
  /** ± spread of the latency, drawn from `random`. @default 0 */
  jitterInMs?: number;
  /**
   * The network each way, 0 to this (uniform): the spread of arrivals a paced client cannot
   * control, which a small burst must absorb. @default 10
   */
  networkInMs?: number;
  /** Share of admitted requests answered 503/504 (they count against the budget). @default 0 */
  failureRate?: number;
  /**
   * Stalls of the path (a busy machine: a garbage collection or a descheduled process on either
   * side): this many a second, at random, each 8 ms or more (8 + an exponential of mean 6 ms);
   * whatever reaches the service during one is metered at its end, together. 0.2 a second draws
   * about as many windows from a client pacing perfectly at 0.95 of a 1 % bucket as `npm run
   * bench`'s fixed-rate reference met on the 2-core machine (docs/pacing.md). @default 0
   */
  stallsPerSecond?: number;
  random?: () => number;
}

/**
 * A service with an app-wide ceiling kept by one of the limiters in simulators/limiters.ts, answering
 * 429 with whole-second Retry-After windows. A request crosses the network both ways (0–10 ms each),
 * so arrivals are not as even as the client paced them, and a client learns of a window only when
 * its 429 comes back. It records every
 * request that reaches it inside a window, if it was sent after any 429 of that window had reached
 * the client (requests already on their way cannot know).
 */
export function ceilingService(time: VirtualTime, options: CeilingServiceOptions) {
  const random = options.random ?? Math.random;
  const limiter = createLimiter(
    {
      shape: options.shape ?? 'bucket-debt',
      requestsPerSecond: options.ceiling,
      burst: options.burst,
      schedule: options.schedule,
    },
    0,
  );
  const stats = { accepted: 0, throttled: 0, failed: 0, insideWindow: 0, acceptedAt: [] as number[] };
  let window = { until: 0, clientKnewAt: Number.POSITIVE_INFINITY };
  const oneWay = () => random() * (options.networkInMs ?? 10);
  // Its own random numbers, so that a service without stalls draws exactly as before.
  const stallsPerSecond = options.stallsPerSecond ?? 0;
  const stalled =
    stallsPerSecond > 0 ? pathStalls(stallsPerSecond, seededRandom(Math.floor(random() * 2 ** 32))) : () => 0;
  const work = () => Math.max(0, options.latencyInMs + (random() * 2 - 1) * (options.jitterInMs ?? 0));
  const call = async () => {
    const sentAt = time.now;
    await time.sleep(oneWay());
    const heldInMs = stalled(time.now);
    if (heldInMs > 0) await time.sleep(heldInMs);
    if (time.now < window.until && sentAt > window.clientKnewAt) stats.insideWindow++;
    const waitInMs = limiter.admit(time.now);
    if (waitInMs !== undefined) {
      const retryAfterInS = retryAfterSecondsFor(waitInMs);
      stats.throttled++;
      const until = time.now + retryAfterInS * 1000;
      const back = oneWay();
      if (time.now >= window.until) window = { until, clientKnewAt: time.now + back };
      else
        window = {
          until: Math.max(window.until, until),
          clientKnewAt: Math.min(window.clientKnewAt, time.now + back),
        };
      await time.sleep(back);
      throw new ThrottledError('429', retryAfterInS * 1000, 'app', 'TooManyRequests');
    }
    await time.sleep(work() + oneWay());
    if (random() < (options.failureRate ?? 0)) {
      stats.failed++;
      throw new TransientError('503', 'ServiceUnavailable');
    }
    stats.accepted++;
    stats.acceptedAt.push(time.now);
  };
  /** Requests the ceiling allowed from 0 to `at` (the area under a changing ceiling). */
  const allowedUntil = (at: number) => {
    let area = 0;
    for (let t = 0; t < at; t += 10) area += (limiter.ceilingAt(t) * Math.min(10, at - t)) / 1000;
    return area;
  };
  return { stats, call, allowedUntil };
}

/** The stalls of a path: for an arrival at `at` (never earlier than the one before), how long it is held. */
function pathStalls(perSecond: number, random: () => number): (at: number) => number {
  const next = (after: number) => {
    const start = after - (Math.log(1 - random()) / perSecond) * 1000;
    // 8 ms and more, fewer the longer (exponential, mean 14 ms).
    return { start, end: start + 8 - Math.log(1 - random()) * 6 };
  };
  let stall = next(0);
  return (at) => {
    while (stall.end <= at) stall = next(stall.end);
    return at >= stall.start ? stall.end - at : 0;
  };
}

/**
 * `workers` workers send `total` requests through one gate to a service with a ceiling that
 * answers 429 with whole-second Retry-After windows; a throttled or failed request is sent again
 * (through the gate). Efficiency = requests done ÷ what the ceiling allowed until the last was done.
 */
export async function driveGate(
  service: Omit<CeilingServiceOptions, 'random'>,
  total: number,
  workers = 256,
  options: { gate?: Partial<ThrottleGateOptions>; workloadKnown?: boolean; seed?: number } = {},
) {
  const time = new VirtualTime();
  const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, ...options.gate });
  if (options.workloadKnown) gate.expectMailboxes(total);
  const { stats, call, allowedUntil } = ceilingService(time, { ...service, random: seededRandom(options.seed ?? 7) });
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
          if (!(error instanceof ThrottledError) && !(error instanceof TransientError)) throw error;
        }
      }
    }
  };
  // The pace every 100 ms, until the work is done.
  const paces: Array<{ at: number; rate: number }> = [];
  let finished = false;
  const sample = async () => {
    while (!finished) {
      paces.push({ at: time.now, rate: gate.requestsPerSecond });
      await time.sleep(100);
    }
  };
  const sampling = sample();
  const done = Promise.all(Array.from({ length: workers }, worker)).finally(() => (finished = true));
  await time.run();
  await Promise.all([done, sampling]);
  const endedAt = stats.acceptedAt.at(-1)!;
  return { stats, gate, paces, seconds: endedAt / 1000, efficiency: total / allowedUntil(endedAt) };
}
