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
  /**
   * A pace an earlier run held against the same service without being refused: the run starts
   * there, holding, instead of learning the ceiling again (which costs a slow start and a 429).
   */
  rememberedRequestsPerSecond?: number;
  /**
   * Lets answers that have already arrived be read before the pump releases the next request after
   * a wait. A late timer fires before the event loop reads the sockets, so without this a 429 that
   * arrived while the process was busy is read only after the requests its window forbids went out.
   * Processes pass `setImmediate`; a virtual clock leaves it out. @default none
   */
  yieldToAnswers?: () => Promise<void>;
}

/** What the pace is doing, for the progress line and the summary. */
export type PacingState = 'learning' | 'holding';

/** What a later run may start from: the pace this run held without being refused, if it learnt one. */
export interface LearnedPace {
  requestsPerSecond: number;
  /** Where the pace came from: learnt by this run, or remembered from an earlier one and kept. */
  source: 'learnt' | 'remembered';
}

/**
 * At the first app-wide 429 the pace drops to this share of what the service accepted in the last
 * second. All of it: slow start ramps up through that second, so the count understates the ceiling
 * (virtual clock, ceiling 500, burst 50: 97 % held 468 req/s and a 10,000-request run reached 0.889
 * of the ceiling; 100 % held 482 and 0.913); a pace above the ceiling is cut by the 429 it draws.
 */
const holdShare = 1;
/** Slow start: each accepted request raises the pace by this much (×e per second). */
const slowStartStep = 1;
/** A probe raises the held pace by this share, doubled after each probe that succeeded (up to the maximum)… */
const firstProbeStep = 0.01;
const maxProbeStep = 0.04;
/** …after this long without an app-wide 429; each failed probe doubles the wait, up to the maximum. */
const firstProbeIntervalInMs = 10_000;
const maxProbeIntervalInMs = 160_000;
/**
 * The estimate learning ends with is known to be low, so the first probe comes sooner: a 40 s
 * deploy (10,000 mailboxes at 500 req/s) held 4–7 % under the ceiling for 10 of its seconds.
 */
const firstProbeAfterLearningInMs = 3_000;
/**
 * A refused probe costs at least one whole Retry-After second of the app's budget; a probe that
 * succeeds gains its step for the rest of the run. So a probe is made only when its step, over the
 * work left at the current pace, gains at least this much (10,000 reads at 500 req/s: 20 s of work,
 * even a 4 % probe gains 0.8 s and may cost 1 s, so it is not made; 100,000: 200 s, a 1 % one gains 2 s).
 */
const probeCostInS = 1;
/**
 * When the held pace itself draws a 429, the overshoot is about burst ÷ time to the 429 (a token
 * bucket drains at pace − ceiling): this is the burst assumed, in seconds of the pace, and the cut
 * is kept within these bounds.
 */
const assumedBurstInS = 0.2;
const minCut = 0.02;
const maxCut = 0.25;
/**
 * The first 429 may come within a second of the first request (a ceiling near the starting pace):
 * the accepted rate is then measured over the time since the first request, but never less than
 * this (a short span overstates it by the burst; the cut that follows corrects that within seconds).
 */
const minEstimateSpanInMs = 250;
/** A probe needs at least this share of the requests since the last one to have waited for the pace. */
const minPacedShare = 0.5;
/**
 * How far the pace may catch up on slots a late timer missed. On a loaded machine the pump's timers
 * fire 10–20 ms late: with 5 ms, a 6,000-mailbox deploy at a 500 req/s ceiling took 36.6 s, with
 * 25 ms 30.3 s (same load). At 500 req/s it is a burst of 12 requests at most, far under what a
 * service's bucket allows; idle time never turns into a larger one.
 */
const catchUpInMs = 25;
/**
 * Time a late timer cost beyond catchUpInMs (a garbage collection, a report write) while requests
 * were waiting is a debt, repaid by releasing this much faster than the pace until it is paid:
 * the service got nothing during the stall, so its bucket holds those requests' worth. Capped, so
 * a long stall is never replayed in full, and forgotten at any 429. Without it a verify of 10,000
 * mailboxes at 488 req/s reached 479 (2 % lost to stalls of 25–100 ms).
 */
const maxDebtInMs = 100;
const repayShare = 0.1;

/**
 * Shared by every worker of one back end; every request of a provider goes through `send`.
 * It enforces what the service asked for, whichever worker asked:
 * - the Retry-After windows it opened, for the whole app or for one mailbox (nothing is sent
 *   inside a window);
 * - at most N requests in flight per mailbox;
 * - an adaptive pace for the app (requests per second) that treats an app-wide 429 as expensive:
 *   the service answers in whole seconds, so one 429 stops the whole run for a second (at 500 req/s,
 *   the work of 500 requests). The pace starts where an earlier run against the same service
 *   held (rememberedRequestsPerSecond), or *learns* the ceiling once (slow start, ×e per second
 *   while the service accepts everything, then what it accepted in the second before the refused
 *   request), then *holds* just under it and probes upward rarely: after 10 s without a 429, and
 *   only while the work left can repay a refused probe; each probe the service refuses puts the
 *   pace back where it held and doubles the wait before the next (up to 160 s). A 429 at a held
 *   pace (not a probe) cuts it by the overshoot that 429 implies (2–25 %).
 *   A 429 answering a request sent before the previous cut is the same burst: no new cut.
 *   The pump releases waiting requests one by one, so the end of a window is no thundering herd.
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
  private state: PacingState = 'learning';
  /** A held pace that lasted a whole probe interval without an app-wide 429. */
  private lastGoodRate: number | undefined;
  private probeIntervalInMs = firstProbeIntervalInMs;
  private probeStep = firstProbeStep;
  private probedAt = Number.NEGATIVE_INFINITY;
  /** The next probe is the first after learning, whose large step corrects the estimate. */
  private correctingEstimate = false;
  /** Pace time lost to late timers while requests waited, still to be made up (see maxDebtInMs). */
  private debtInMs = 0;
  /** Requests the pump let through since the last probe, and how many of them waited for the pace. */
  private releases = { total: 0, paced: 0 };
  private nextProbeAt = Number.POSITIVE_INFINITY;
  private nextSendAt = 0;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  /** When recent requests were accepted (for the ceiling estimate); trimmed to about a second. */
  private readonly accepted: number[] = [];
  private firstAcceptedAt: number | undefined;
  /** When the first app-wide 429 came: the ceiling is estimated once the window after it ends. */
  private estimateAt: number | undefined;
  private readonly paceQueue: Array<{ resolve: () => void }> = [];
  /**
   * Mailboxes this gate's back end will work on (undefined: not known, e.g. a Dataverse stream), and how many are
   * done.
   */
  private workload: { mailboxes?: number; finished: number } = { finished: 0 };
  private readonly startedFrom: 'remembered' | undefined;
  private readonly startRate: number;
  private pumping = false;
  /** Counters for the progress line, the report and the benchmark. */
  readonly stats = { requests: 0, throttled: 0, appThrottled: 0, appPauses: 0, probes: 0, failedProbes: 0 };

  constructor(private readonly options: ThrottleGateOptions) {
    this.maxRequestsPerMailbox = options.maxRequestsPerMailbox ?? 4;
    this.maxRate = options.maxRequestsPerSecond ?? Number.POSITIVE_INFINITY;
    this.minRate = options.minRequestsPerSecond ?? 1;
    this.rate = Math.min(this.maxRate, options.initialRequestsPerSecond ?? 200);
    const remembered = options.rememberedRequestsPerSecond;
    if (remembered !== undefined && Number.isFinite(remembered) && remembered > 0) {
      this.rate = Math.max(this.minRate, Math.min(this.maxRate, remembered));
      this.state = 'holding';
      this.startedFrom = 'remembered';
      // A 429 at the remembered pace is judged by how long it held, from the start.
      this.lastCutAt = options.clock();
      this.nextProbeAt = options.clock() + this.probeIntervalInMs;
    }
    this.startRate = this.rate;
  }

  /** How many mailboxes this back end has to work on: probes are made only while enough work is left. */
  expectMailboxes(count: number): void {
    this.workload.mailboxes = count;
  }

  /** One mailbox of this back end is done (whatever its outcome). */
  mailboxFinished(): void {
    this.workload.finished++;
  }

  /**
   * The pace a later run against the same service may start from, or undefined if this run learnt
   * nothing (it never reached the ceiling). A probe the service has not yet confirmed is not kept.
   */
  learnedPace(): LearnedPace | undefined {
    if (this.state !== 'holding' || this.estimateAt !== undefined) return undefined;
    // A probe is kept once it has lasted a first probe interval without a 429.
    const unconfirmed =
      this.lastGoodRate !== undefined &&
      this.rate > this.lastGoodRate &&
      this.options.clock() - this.probedAt < firstProbeIntervalInMs;
    const held = unconfirmed ? this.lastGoodRate! : this.rate;
    const learnt = this.startedFrom !== 'remembered' || this.stats.appThrottled > 0 || this.stats.probes > 0;
    return { requestsPerSecond: Math.round(held), source: learnt ? 'learnt' : 'remembered' };
  }

  /** Seconds of work left at the current pace, if the workload is known. */
  private workLeftInS(): number | undefined {
    const { mailboxes, finished } = this.workload;
    if (mailboxes === undefined) return undefined;
    // Requests per mailbox so far (a deploy of a new mailbox takes two, a verify one).
    const perMailbox = finished > 0 ? Math.max(1, this.stats.requests / finished) : 1;
    return (Math.max(0, mailboxes - finished) * perMailbox) / this.rate;
  }

  /** Until when the service has the whole back end paused (epoch ms). */
  get pausedUntil(): number {
    return this.appClosedUntil;
  }

  /** The current pace, requests per second. */
  get requestsPerSecond(): number {
    return this.rate;
  }

  /** How the run started: at a pace an earlier run learnt, or learning the ceiling with a slow start. */
  get start(): { requestsPerSecond: number; from: 'remembered' | 'slow start' } {
    return { requestsPerSecond: Math.round(this.startRate), from: this.startedFrom ?? 'slow start' };
  }

  /** Learning the ceiling (slow start) or holding under it. */
  get pacingState(): PacingState {
    return this.state;
  }

  /**
   * Resolves once no app-wide window is open. For the last step before the wire (a batch, an EWS
   * call after its NTLM handshake): a request the gate let through just before a 429 opened a
   * window must not go out inside it.
   */
  async appWindowClosed(signal?: AbortSignal): Promise<void> {
    for (
      let waitInMs = this.appClosedUntil - this.options.clock();
      waitInMs > 0;
      waitInMs = this.appClosedUntil - this.options.clock()
    ) {
      await this.options.sleep(waitInMs, signal);
    }
  }

  async send<T>(mailboxKey: string, request: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = mailboxKey.toLowerCase();
    await this.acquire(key);
    try {
      await this.waitForTurn(key, signal);
      this.stats.requests++;
      const sentAt = this.options.clock();
      try {
        const result = await request();
        this.grow(sentAt);
        return result;
      } catch (error) {
        if (error instanceof ThrottledError) this.close(key, error, sentAt);
        throw error;
      }
    } finally {
      this.release(key);
    }
  }

  /**
   * Opens a window in which nothing is sent (to the app or to one mailbox). `sentAt` is when the
   * throttled request left: an app-wide 429 for a request sent before the last cut is part of the
   * burst that cut answered, and says nothing new about the ceiling.
   */
  close(mailboxKey: string, error: ThrottledError, sentAt = this.options.clock()): void {
    this.stats.throttled++;
    const now = this.options.clock();
    const until = now + (error.retryAfterInMs ?? 0);
    if (error.scope === 'mailbox') {
      const key = mailboxKey.toLowerCase();
      this.mailboxClosedUntil.set(key, Math.max(this.mailboxClosedUntil.get(key) ?? 0, until));
      return;
    }
    this.stats.appThrottled++;
    this.debtInMs = 0;
    if (until > this.appClosedUntil) this.stats.appPauses++;
    const windowEndedAt = this.appClosedUntil;
    this.appClosedUntil = Math.max(this.appClosedUntil, until);
    // The bucket ran dry when the earliest refused request arrived, not when its 429 came back.
    if (this.estimateAt !== undefined) this.estimateAt = Math.min(this.estimateAt, sentAt);
    if (sentAt < this.lastCutAt) return;
    this.cut(sentAt, sentAt - Math.max(windowEndedAt, this.lastCutAt));
    this.lastCutAt = now;
    this.nextProbeAt = this.appClosedUntil + this.probeIntervalInMs;
  }

  /** The service refused the pace: learn the ceiling, undo a probe, or cut by the implied overshoot. */
  private cut(sentAt: number, heldForInMs: number): void {
    if (this.state === 'learning') {
      // What the service accepted of the requests sent in the second before the refused one
      // (the ~50 ms its 429 took to come back would otherwise count as a time nothing was
      // accepted: 5–8 % too low at 500 req/s): known once they have all come back, i.e. when the
      // window ends (see estimateCeiling).
      this.estimateAt = sentAt;
      this.rate = Math.max(this.minRate, this.rate * 0.5);
      this.state = 'holding';
    } else if (this.lastGoodRate !== undefined && this.rate > this.lastGoodRate) {
      this.stats.failedProbes++;
      this.rate = this.lastGoodRate;
      this.probeStep = firstProbeStep;
      this.correctingEstimate = false;
      this.probeIntervalInMs = Math.min(maxProbeIntervalInMs, this.probeIntervalInMs * 2);
    } else {
      const overshoot = assumedBurstInS / Math.max(0.001, heldForInMs / 1000);
      this.rate *= 1 - Math.min(maxCut, Math.max(minCut, overshoot));
      this.lastGoodRate = undefined;
    }
    this.rate = Math.max(this.minRate, this.rate);
  }

  private grow(sentAt: number): void {
    const now = this.options.clock();
    if (this.state === 'learning' || this.estimateAt !== undefined) {
      this.firstAcceptedAt ??= sentAt;
      this.accepted.push(sentAt);
      if (this.accepted.length > 4096 && this.accepted[0]! < now - 1000)
        this.accepted.splice(
          0,
          this.accepted.findIndex((t) => t >= now - 1000),
        );
      if (this.state === 'learning') this.rate = Math.min(this.maxRate, this.rate + slowStartStep);
      return;
    }
    if (now >= this.nextProbeAt && now >= this.appClosedUntil) {
      // A probe proves something only if the pace was what held requests back; a client short of
      // work or of CPU never reaches its pace, and raising it then would only store up a burst.
      const paceBound = this.releases.paced >= this.releases.total * minPacedShare;
      this.releases = { total: 0, paced: 0 };
      // A probe that lasted a whole interval succeeded: the next one may be bigger. The large first
      // step after learning corrected the estimate; it says nothing of room above.
      const succeeded = this.lastGoodRate !== undefined;
      const step = !succeeded
        ? this.probeStep
        : this.correctingEstimate
          ? firstProbeStep
          : Math.min(maxProbeStep, this.probeStep * 2);
      const workLeftInS = this.workLeftInS();
      const worthIt = workLeftInS === undefined || step * workLeftInS >= probeCostInS;
      if (!paceBound || !worthIt) {
        this.nextProbeAt = now + this.probeIntervalInMs;
        return;
      }
      this.stats.probes++;
      this.probeStep = step;
      if (succeeded) this.correctingEstimate = false;
      this.lastGoodRate = this.rate;
      this.probedAt = now;
      this.rate = Math.min(this.maxRate, this.rate * (1 + this.probeStep));
      this.nextProbeAt = now + this.probeIntervalInMs;
    }
  }

  /**
   * Ends learning: the pace becomes a share of the rate the service accepted among the requests
   * sent in the second before the first 429 (or since the first request, if sooner).
   */
  private estimateCeiling(): void {
    const at = this.estimateAt!;
    this.estimateAt = undefined;
    const spanInMs = Math.min(1000, at - (this.firstAcceptedAt ?? at));
    const accepted = this.accepted.filter((t) => t >= at - spanInMs && t < at).length;
    this.accepted.length = 0;
    if (accepted > 0)
      this.rate = Math.max(
        this.minRate,
        Math.min(this.maxRate, ((accepted * 1000) / Math.max(minEstimateSpanInMs, spanInMs)) * holdShare),
      );
    this.lastGoodRate = undefined;
    // A slow start crosses the ceiling late in that second, so the count is a few per cent low
    // (500 req/s, burst 50: 461–473): the first probe comes early and takes the largest step.
    this.probeStep = maxProbeStep;
    this.correctingEstimate = true;
    this.nextProbeAt = this.options.clock() + firstProbeAfterLearningInMs;
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
        if (this.estimateAt !== undefined && now >= this.appClosedUntil) this.estimateCeiling();
        const readyAt = Math.max(this.appClosedUntil, this.nextSendAt);
        if (readyAt > now) {
          await this.options.sleep(readyAt - now);
          await this.options.yieldToAnswers?.();
          const lateInMs = this.options.clock() - readyAt - catchUpInMs;
          if (lateInMs > 0 && readyAt > this.appClosedUntil)
            this.debtInMs = Math.min(maxDebtInMs, this.debtInMs + lateInMs);
          continue;
        }
        // Timers fire about once a millisecond: slots up to catchUpInMs old are still used, so a fast
        // pace is kept, but idle time never turns into a burst.
        // A release that found its slot still open (not missed) means the pace held it back.
        const paced = this.nextSendAt >= now - catchUpInMs;
        this.releases.total++;
        if (paced) this.releases.paced++;
        const intervalInMs = Number.isFinite(this.rate) ? 1000 / this.rate : 0;
        const repaidInMs = Math.min(this.debtInMs, intervalInMs * repayShare);
        this.debtInMs -= repaidInMs;
        this.nextSendAt = Math.max(this.nextSendAt, now - catchUpInMs) + intervalInMs - repaidInMs;
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
