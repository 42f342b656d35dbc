import type { Clock } from './retry.js';

export interface PaceControllerOptions {
  clock: Clock;
  /** Pace at the start, before the service has said anything. @default 200 */
  initialRequestsPerSecond?: number;
  /** Never faster than this. @default Infinity */
  maxRequestsPerSecond?: number;
  /** Never slower than this, however often the service throttles. @default 1 */
  minRequestsPerSecond?: number;
  /** A pace an earlier run held against the same service: the run starts there, holding. */
  rememberedRequestsPerSecond?: number;
  /** An earlier run learnt that the same service's burst is small (see PaceController.smallBurst). */
  rememberedSmallBurst?: boolean;
}

/** What the pace is doing, for the progress line and the summary. */
export type PacingState = 'learning' | 'holding';

/** What a later run may start from: the pace this run held without being refused, if it learnt one. */
export interface LearnedPace {
  requestsPerSecond: number;
  /** Where the pace came from: learnt by this run, or remembered from an earlier one and kept. */
  source: 'learnt' | 'remembered';
  /** The service refused a request its sender made up (PaceController.smallBurst). */
  smallBurst?: true;
}

/**
 * Slow start: each accepted request raises the pace by this much (×e per second), but only while
 * the client sends at least slowStartSentShare of the pace (over the last slowStartSpanInMs). A
 * client that cannot keep up (its first seconds compile code and open connections) would
 * otherwise raise the pace far above what it sends, then send at that pace once it can, far over
 * the ceiling. TCP learnt the same (RFC 7661, "Updating TCP to Support Rate-Limited Traffic": no
 * growth of the window while the sender is application-limited). In a trace of a 10,000-mailbox
 * deploy against fixed 500-request windows, slow start had raised the pace to 1,432 req/s while
 * 500 were sent, and its first 429 came at 3.7 s.
 */
const slowStartStep = 1;
const slowStartSentShare = 0.8;
const slowStartSpanInMs = 250;
/**
 * The first 429 may come within a second of the first request: the accepted rate is then measured
 * over the time since the first request, but never less than this (a handful of requests says
 * little). The estimate never exceeds the pace that was refused.
 */
const minEstimateSpanInMs = 50;
/** The estimate counts the requests accepted among those sent in this long before the refused one. */
const estimateSpanInMs = 1000;
/**
 * Ordinary probes: +1 %, doubled after each that held (up to 4 %), every 10 s; a refusal doubles
 * the wait (up to 160 s).
 */
const firstProbeStep = 0.01;
const maxProbeStep = 0.04;
const firstProbeIntervalInMs = 10_000;
const maxProbeIntervalInMs = 160_000;
/**
 * The estimate learning ends with is low (slow start crosses the ceiling late in the second it
 * measures): the first probe comes sooner (bisection's, if the refused pace is far above).
 */
const firstProbeAfterLearningInMs = 3_000;
/**
 * A refused probe costs at least one whole Retry-After second of the app's budget; one that holds
 * gains its step for the rest of the run. So a probe is made only when step × work left ≥ this.
 */
const probeCostInS = 1;
/**
 * Whatever the limiter, the pace above the ceiling is paid from some allowance (a bucket, the
 * unused part of a window) before the first 429: the allowance assumed is this many seconds of the
 * pace. It sets how long a probe must hold before it counts as held (allowance ÷ step, at least
 * 2 s so that a fixed one-second window is seen whole, at most the probe interval), and how deep
 * a 429 at a held pace cuts (the overshoot it implies is allowance ÷ time to the 429, cut to
 * ≤ 50 %, at least 2 %).
 */
const assumedAllowanceInS = 0.2;
const minConfirmInMs = 2_000;
const minCut = 0.02;
const maxCut = 0.5;
/**
 * Recovery: after a cut that leaves the pace under this share of the most the service accepted
 * (the tenant's budget is shared: another app took half of it, and may give it back), probes come
 * 2 s after the window and go all the way back to the pace held before the cut (a budget comes
 * back whole; one that comes back in part is found by bisection once recovery gives up). Each
 * refused one costs a whole window at the lower ceiling, and the wait before the next grows ×1.25,
 * up to 8 s: a recovered ceiling is found within seconds, at the price of a refusal every few
 * seconds while it stays low (probing less often loses more after the recovery than it saves
 * before it, for drops of a minute or less).
 */
const recoveryBelowShare = 0.9;
const firstRecoveryIntervalInMs = 2_000;
const maxRecoveryIntervalInMs = 8_000;
/** A pace that held this long before a 429 is what recovery climbs back to (the 429 starts a drop). */
const longHoldInMs = 5_000;
/** A drop that lasts longer is taken as the new ceiling: ordinary probing goes on. */
const maxRecoveryInMs = 60_000;
/**
 * The mark recovery climbs back to: the most the service accepted in any 10 s of this run, per
 * second (or the remembered pace). What was accepted, not what was sent or held for a while: a
 * sliding 10-second window lets a pace above its ceiling through for seconds, never for ten.
 */
const throughputSpanInMs = 10_000;
const throughputBinInMs = 100;
/**
 * Bisection: while the lowest pace the service refused (the pace slow start reached, a refused
 * probe, a held pace that drew a 429 that was not weak) lies more than this above the pace, probes climb towards it
 * every minConfirmInMs: a cut is deep enough to be sure to be under, and learning's estimate is
 * low when the burst is small, so the ceiling usually lies between.
 */
const bisectAboveShare = 0.05;
/**
 * A bisection probe goes this share of the way to the refused pace, at most 4 %, doubled after
 * each that held, back to 4 % after a refusal: a refused probe costs a whole Retry-After window
 * (2.5 % of a 40 s deploy), a held one only a little time at the lower pace. Halfway steps cost
 * the 10,000-mailbox deploy at 500 req/s two refused probes more (0.89 instead of 0.91).
 */
const bisectFraction = 0.25;
/** What a bisection probe is expected to cost, as a share of a refused probe's window. */
const bisectCostShare = 0.25;
/**
 * A 429 for a request sent this long after the pace last changed (a window's end, a cut) is weak
 * evidence that the pace is over: a limiter with a small burst also refuses the bunches the path
 * makes of evenly paced requests (a stall on either side), at any pace under its ceiling, and
 * cutting does not make those rarer (docs/pacing.md, "Stalls of the path"). The first such 429
 * cuts minCut and does not become bisection's upper bound; a second one within noiseMemoryInMs,
 * with no probe held in between, cuts by the overshoot it implies and does (a pace over a large
 * burst draws its 429s seconds apart, each after a late start). A pace well over draws its next
 * 429 soon after the window (a drop: within a second), which cuts as before.
 */
const weakAfterInMs = 2_000;
/**
 * How long a weak 429 is remembered: a second one within it is not weak; and a probe refused late
 * while the held pace drew one counts for nothing (the pace goes back; no bound, no longer wait,
 * the same step next time), once per pace: the same pace refused late again is refused.
 */
const noiseMemoryInMs = 30_000;
/** The share of the most the service accepted in 10 s that a later run may start from, at least. */
const rememberShare = 0.98;
/** A held pace this far above the most the service accepted in 10 s is not kept: that most is. */
const runawayShare = 1.25;
/** A probe needs at least this share of the requests since the last one to have waited for the pace. */
const minPacedShare = 0.5;

/** The cut a 429 after `heldForInMs` at a pace implies: the overshoot allowance ÷ time, as a share. */
function cutFor(heldForInMs: number): number {
  const overshoot = assumedAllowanceInS / Math.max(0.001, heldForInMs / 1000);
  return Math.min(maxCut, Math.max(minCut, overshoot / (1 + overshoot)));
}

/**
 * The pace of one back end, decided from what the service answered: learn the ceiling once, hold
 * just under it, probe upward only when it pays, cut when the service refuses, and climb back
 * quickly after a cut that left the pace far under what the run had held.
 *
 * It relies only on what Graph promises (a 429 with Retry-After when over the limit), never on the
 * limiter's shape: a token bucket with or without a debt, fixed or sliding windows, any burst.
 * - learning: slow start (×e per second) until the first 429; then the pace is what the service
 *   accepted of the requests sent in the second before the refused one (counted when its window
 *   ends, so requests still on their way count);
 * - holding: a 429 for a request sent at the held pace cuts it by the overshoot that 429 implies
 *   (allowance ÷ time to the 429), except a first late one (weakAfterInMs), which cuts 2 %; 429s
 *   for requests sent before the last cut are the same burst;
 * - probing: raise the pace by a step; it counts as held once it lasted allowance ÷ step without a
 *   429 for a request sent since; a 429 for one puts the pace back (where the pace's own 429s cut
 *   it if it was over too) and doubles the wait;
 * - bisection and recovery: see their constants;
 * - a later run starts from the pace held, or near the most the service accepted in 10 s.
 */
export class PaceController {
  rate: number;
  state: PacingState = 'learning';
  readonly stats = { probes: 0, failedProbes: 0 };
  readonly start: { requestsPerSecond: number; from: 'remembered' | 'slow start' };
  private readonly startedAt: number;
  private readonly maxRate: number;
  private readonly minRate: number;
  /** The most the service accepted per second over throughputSpanInMs, or the remembered pace once it held. */
  private highRate: number | undefined;
  /** Requests accepted in each throughputBinInMs of the last throughputSpanInMs, and their sum. */
  private readonly throughput = {
    bins: new Array<number>(throughputSpanInMs / throughputBinInMs).fill(0),
    bin: 0,
    sum: 0,
  };
  private probe: { from: number; step: number; startedAt: number; heldAt: number } | undefined;
  private nextProbeAt = Number.POSITIVE_INFINITY;
  private probeIntervalInMs = firstProbeIntervalInMs;
  private probeStep = firstProbeStep;
  /** Bisection's largest step: doubled by each bisection probe that held, back to 4 % by a refusal. */
  private bisectStep = maxProbeStep;
  /** The next ordinary probe is the first after learning, whose large step corrects the estimate. */
  private correctingEstimate = false;
  private recovery: { intervalInMs: number; since: number; target: number } | undefined;
  /** The pace that had held for a while when the service last started refusing it. */
  private longHeldRate: number | undefined;
  /** The lowest pace the service refused, until a probe held above it: bisection's upper end. */
  private refusedRate: number | undefined;
  private lastCutAt = Number.NEGATIVE_INFINITY;
  /** When the first app-wide 429's request was sent: the ceiling is estimated once its window ends. */
  private estimateAt: number | undefined;
  /** When recent requests that were accepted had been sent (learning only); about a second of them. */
  private readonly acceptedSentAt: number[] = [];
  private firstAcceptedAt: number | undefined;
  /** Learning: when the last window a made-up request drew ended (the estimate counts from there). */
  private madeUpWindowEndedAt = Number.NEGATIVE_INFINITY;
  /** When requests were let through during learning, the last slowStartSpanInMs of them (see slowStartStep). */
  private readonly recentReleases: number[] = [];
  /** Requests let through since the last probe decision, and how many of them waited for the pace. */
  private releases = { total: 0, paced: 0 };
  /** Mailboxes to work on (undefined: not known), and how many are done; requests so far. */
  private readonly workload = { mailboxes: undefined as number | undefined, finished: 0, requests: 0 };
  private appThrottled = 0;
  /** See the smallBurst getter. */
  private burstIsSmall: boolean;
  /**
   * Learnt by this run, not only remembered: only that is kept for the next (a remembered small
   * burst starts the wire small, which then marks nothing made up, so a false one would never go).
   */
  private learntSmallBurst = false;
  /**
   * When a held pace last drew a weak 429, whether that one was let off (no probe held since), and
   * the pace of the last probe refused late by such noise.
   */
  private readonly noise = {
    at: Number.NEGATIVE_INFINITY,
    letOff: false,
    refusedRate: undefined as number | undefined,
  };

  constructor(private readonly options: PaceControllerOptions) {
    this.maxRate = options.maxRequestsPerSecond ?? Number.POSITIVE_INFINITY;
    this.minRate = options.minRequestsPerSecond ?? 1;
    this.rate = Math.min(this.maxRate, options.initialRequestsPerSecond ?? 200);
    const remembered = options.rememberedRequestsPerSecond;
    const fromMemory = remembered !== undefined && Number.isFinite(remembered) && remembered > 0;
    if (fromMemory) {
      this.rate = this.bounded(remembered);
      this.state = 'holding';
      // A 429 at the remembered pace is judged by how long it held, from the start.
      this.lastCutAt = options.clock();
      this.nextProbeAt = options.clock() + this.probeIntervalInMs;
    }
    this.burstIsSmall = options.rememberedSmallBurst ?? false;
    this.startedAt = options.clock();
    this.start = { requestsPerSecond: Math.round(this.rate), from: fromMemory ? 'remembered' : 'slow start' };
  }

  /**
   * The service refused a request its sender made up, long after the last window (see `refused`),
   * or an earlier run learnt so: its burst is smaller than what a catch-up sends over the pace.
   */
  get smallBurst(): boolean {
    return this.burstIsSmall;
  }

  expectMailboxes(count: number): void {
    this.workload.mailboxes = count;
  }

  mailboxFinished(): void {
    this.workload.finished++;
  }

  /** The pump let a request through; `paced`: it had waited for the pace (the pace held it back). */
  released(paced: boolean): void {
    this.workload.requests++;
    this.releases.total++;
    if (paced) this.releases.paced++;
    if (this.state === 'learning') this.recentReleases.push(this.options.clock());
  }

  /** Nothing is sent until `until` (a window): an estimate waiting for the window's end is made now if it ended. */
  windowEnded(now: number, closedUntil: number): void {
    if (this.estimateAt !== undefined && now >= closedUntil) this.estimateCeiling(now);
  }

  /**
   * The pace a later run may start from, or undefined if this run learnt nothing. A probe not yet
   * held is not kept.
   */
  learnedPace(): LearnedPace | undefined {
    if (this.state !== 'holding' || this.estimateAt !== undefined) return undefined;
    // A pace cut late in the run (a drop, a sliding window's 429s) is not the ceiling, nor is one a
    // forgiving limiter let run far above it: what the service accepted over 10 s is. Starting a
    // little high costs one window; starting low costs a short run that has no time to probe up.
    const paced = this.probe?.from ?? this.rate;
    const high = this.highRate;
    let held = paced;
    if (high !== undefined) held = paced > high * runawayShare ? high : Math.max(paced, high * rememberShare);
    const learnt = this.start.from !== 'remembered' || this.appThrottled > 0 || this.stats.probes > 0;
    return {
      requestsPerSecond: Math.round(this.bounded(held)),
      source: learnt ? 'learnt' : 'remembered',
      ...(this.learntSmallBurst ? { smallBurst: true as const } : {}),
    };
  }

  /** A request sent at `sentAt` was accepted. */
  accepted(sentAt: number, now: number, windowOpen: boolean): void {
    this.countAccepted(now);
    if (this.state === 'learning' || this.estimateAt !== undefined) {
      this.firstAcceptedAt ??= sentAt;
      this.acceptedSentAt.push(sentAt);
      if (this.acceptedSentAt.length > 4096 && this.acceptedSentAt[0]! < now - 1000)
        this.acceptedSentAt.splice(
          0,
          this.acceptedSentAt.findIndex((t) => t >= now - 1000),
        );
      if (this.state === 'learning' && this.sendingAtPace(now))
        this.rate = Math.min(this.maxRate, this.rate + slowStartStep);
      return;
    }
    if (this.probe && now >= this.probe.heldAt) this.probeHeld(now);
    // A remembered pace that held from the start for a while is one the service accepts.
    if (this.start.from === 'remembered' && this.appThrottled === 0 && now - this.startedAt >= longHoldInMs)
      this.highRate = Math.max(this.highRate ?? 0, this.start.requestsPerSecond);
    if (!this.probe && now >= this.nextProbeAt && !windowOpen) this.startProbe(now);
  }

  /**
   * The service refused a request sent at `sentAt` for the whole app; the window before it ended
   * at `windowEndedAt`. A 429 for a request sent before the last cut is part of the burst that cut
   * answered: no new cut. So is one for a request sent before that window ended: its sender had
   * not heard of the window yet (the wire thread sends at the slot; a 429 may come back within
   * 2 ms and reach this thread after the next slot).
   *
   * `madeUp`: the sender had made the request up faster than the pace after a stall of its own (it
   * makes up one request at most from then on: PacedWire.smallBurst). Such a 429 cuts nothing (the
   * window is kept all the same): taken as the pace's, one in the first second ended slow start at
   * 364 req/s against a 500 req/s bucket of 5, and bisection never went above it; one at 0.5 s of
   * a verify from a remembered 404 req/s cut it to 272. In learning, the estimate then counts from
   * the end of its window. Once learning is over, it shows that the service's burst is small
   * (smallBurst); not in learning, where slow start far over a ceiling has everything refused,
   * made up or not (a fixed-window deploy's first 429s came at 1,083 req/s, twice its 500; taken
   * as a small burst, that run sent one request at a time and its main thread fell behind). During
   * a probe it is the probe's refusal; without Retry-After the gate does not pass it as made up.
   */
  refused(sentAt: number, now: number, windowEndedAt: number, closedUntil: number, madeUp = false): void {
    this.appThrottled++;
    // During a probe it is the probe's refusal like any other: a probe over the ceiling empties
    // whatever allowance there is, and would count as held after the window.
    if (madeUp && !(this.probe && sentAt >= this.probe.startedAt)) {
      if (this.state === 'learning') this.madeUpWindowEndedAt = closedUntil;
      else if (this.estimateAt === undefined) this.burstIsSmall = this.learntSmallBurst = true;
      return;
    }
    // The bucket ran dry when the earliest refused request arrived, not when its 429 came back.
    if (this.estimateAt !== undefined) this.estimateAt = Math.min(this.estimateAt, sentAt);
    if (sentAt < this.lastCutAt || sentAt < windowEndedAt) return;
    const probe = this.probe;
    if (this.state === 'learning') {
      this.estimateAt = sentAt;
      this.state = 'holding';
      // The pace slow start reached is an upper bound: the estimate (an average over a second in
      // which the pace grew ×e) lies under the ceiling, and bisection climbs from it to here.
      this.refusedRate = this.rate;
      this.rate = this.bounded(this.rate * 0.5); // until the estimate, when the window ends
    } else if (probe && sentAt >= probe.startedAt) {
      if (this.excusedAsNoise(probe, sentAt - Math.max(windowEndedAt, probe.startedAt), now)) this.rate = probe.from;
      else this.probeRefused(probe.from, now);
    } else {
      const held = probe?.from ?? this.rate;
      const heldForInMs = sentAt - Math.max(windowEndedAt, this.lastCutAt);
      const letOffAgain = this.noise.letOff && now - this.noise.at <= noiseMemoryInMs;
      if (heldForInMs >= weakAfterInMs && !letOffAgain) this.weakCut(held, heldForInMs, now);
      else this.cutHeld(held, heldForInMs, now);
    }
    this.probe = undefined;
    this.lastCutAt = now;
    this.nextProbeAt = closedUntil + this.probeIntervalFor();
  }

  /** How long after a window or a probe the next probe may come. */
  private probeIntervalFor(): number {
    if (this.recovery) return this.recovery.intervalInMs;
    return this.bisecting() ? minConfirmInMs : this.probeIntervalInMs;
  }

  private bisecting(): boolean {
    return this.refusedRate !== undefined && this.refusedRate > this.rate * (1 + bisectAboveShare);
  }

  /** A weak 429 at the held pace (see weakAfterInMs): a small cut; the upper bound stays where it was. */
  private weakCut(held: number, heldForInMs: number, now: number): void {
    this.noise.at = now;
    this.noise.letOff = true;
    if (heldForInMs >= longHoldInMs) this.longHeldRate = held; // a drop's first 429 is a weak one
    this.rate = this.bounded(held * (1 - minCut));
  }

  /**
   * A probe refused late while the held pace draws weak 429s too says nothing of the probe's step
   * (see noiseMemoryInMs): it counts as refused, and the pace goes back, but no bound is set and
   * the next probe comes at the usual interval. Not during a recovery, whose refusals are the point.
   * True if it excused the refusal (and counted it as a refused probe).
   */
  private excusedAsNoise(probe: { from: number }, probedForInMs: number, now: number): boolean {
    const noisy = now - this.noise.at <= noiseMemoryInMs && probedForInMs >= weakAfterInMs && !this.recovery;
    const again = this.noise.refusedRate !== undefined && this.rate >= this.noise.refusedRate * 0.995;
    if (!noisy || again) return false;
    this.stats.failedProbes++;
    this.noise.refusedRate = this.rate;
    return true;
  }

  /** A 429 at the held pace: cut by the overshoot it implies; far under the highest pace held, recover. */
  private cutHeld(held: number, heldForInMs: number, now: number): void {
    this.refusedRate = Math.min(this.refusedRate ?? held, held);
    this.rate = this.bounded(held * (1 - cutFor(heldForInMs)));
    if (heldForInMs >= longHoldInMs) this.longHeldRate = held;
    const high = this.highRate;
    if (high !== undefined && this.rate < high * recoveryBelowShare) {
      const target = Math.max(held, high, Math.min(this.longHeldRate ?? held, high * 1.1));
      this.recovery ??= { intervalInMs: firstRecoveryIntervalInMs, since: now, target };
    }
  }

  /**
   * Back to the pace before the probe, or, after a large step (bisection, recovery), lower if it
   * was refused so soon that the pace before it must have been over the ceiling too (a learnt
   * estimate that was too high). A small step refused soon only found the allowance spent.
   */
  private probeRefused(from: number, now: number): void {
    this.stats.failedProbes++;
    // A refused recovery probe says the ceiling is still low: nothing about it once it is back.
    if (!this.recovery) this.refusedRate = Math.min(this.refusedRate ?? this.rate, this.rate);
    const bisecting = this.bisecting();
    // Back to where it started: if that was over the ceiling too, its own 429 cuts it.
    this.rate = from;
    this.probeStep = firstProbeStep;
    this.bisectStep = maxProbeStep;
    this.correctingEstimate = false;
    if (!this.recovery) {
      if (bisecting) return;
      this.probeIntervalInMs = Math.min(maxProbeIntervalInMs, this.probeIntervalInMs * 2);
      return;
    }
    const { since, target } = this.recovery;
    const intervalInMs = Math.min(maxRecoveryIntervalInMs, this.recovery.intervalInMs * 1.25);
    this.recovery = now - since > maxRecoveryInMs ? undefined : { intervalInMs, since, target };
  }

  private probeHeld(now: number): void {
    const { step } = this.probe!;
    this.probe = undefined;
    if (this.refusedRate !== undefined && this.rate >= this.refusedRate) this.refusedRate = undefined;
    this.noise.letOff = false;
    if (this.noise.refusedRate !== undefined && this.rate >= this.noise.refusedRate) this.noise.refusedRate = undefined;
    if (this.recovery) {
      if (this.rate >= this.recovery.target * recoveryBelowShare) this.recovery = undefined;
      else this.recovery = { ...this.recovery, intervalInMs: firstRecoveryIntervalInMs, since: now };
      return;
    }
    if (this.bisecting()) {
      this.bisectStep = step * 2;
      return;
    }
    if (step > maxProbeStep) return;
    // The large first step after learning corrected the estimate; it says nothing of room above.
    this.probeStep = this.correctingEstimate ? firstProbeStep : Math.min(maxProbeStep, step * 2);
    this.correctingEstimate = false;
  }

  private startProbe(now: number): void {
    // A probe proves something only if the pace was what held requests back; a client short of
    // work or of CPU never reaches its pace, and raising it then would only store up a burst.
    const paceBound = this.releases.paced >= this.releases.total * minPacedShare;
    this.releases = { total: 0, paced: 0 };
    const step = this.recovery
      ? Math.max(firstProbeStep, this.recovery.target / this.rate - 1)
      : this.bisecting()
        ? Math.min(this.bisectStep, (this.refusedRate! / this.rate - 1) * bisectFraction)
        : this.probeStep;
    const intervalInMs = this.probeIntervalFor();
    const workLeftInS = this.workLeftInS();
    // A bisection probe stays under a pace the service refused: it is seldom refused itself, and
    // the gap it closes is larger than an ordinary step's, so it is made while a few seconds are left.
    const cost = this.bisecting() ? probeCostInS * bisectCostShare : probeCostInS;
    const worthIt = workLeftInS === undefined || step * workLeftInS >= cost;
    if (!paceBound || !worthIt || this.rate >= this.maxRate) {
      this.nextProbeAt = now + intervalInMs;
      return;
    }
    this.stats.probes++;
    const holdInMs = Math.min(this.probeIntervalInMs, Math.max(minConfirmInMs, (assumedAllowanceInS / step) * 1000));
    this.probe = { from: this.rate, step, startedAt: now, heldAt: now + holdInMs };
    this.rate = this.bounded(this.rate * (1 + step));
    this.nextProbeAt = now + Math.max(holdInMs, intervalInMs);
  }

  /**
   * Ends learning: the pace becomes the rate the service accepted among the requests sent in the
   * second before the first 429 (or since the first request, if sooner).
   */
  private estimateCeiling(now: number): void {
    const at = this.estimateAt!;
    this.estimateAt = undefined;
    // Counted from the end of a window a made-up request drew, if later: nothing was sent in it.
    const from = Math.max(this.firstAcceptedAt ?? at, this.madeUpWindowEndedAt);
    const spanInMs = Math.min(estimateSpanInMs, at - from);
    const accepted = this.acceptedSentAt.filter((t) => t >= at - spanInMs && t < at).length;
    this.acceptedSentAt.length = 0;
    const measured = (accepted * 1000) / Math.max(minEstimateSpanInMs, spanInMs);
    if (accepted > 0) this.rate = this.bounded(Math.min(measured, this.refusedRate ?? measured));
    this.probeStep = maxProbeStep;
    this.correctingEstimate = true;
    this.nextProbeAt = now + (this.bisecting() ? minConfirmInMs : firstProbeAfterLearningInMs);
  }

  private countAccepted(now: number): void {
    const t = this.throughput;
    const bin = Math.floor(now / throughputBinInMs);
    const n = t.bins.length;
    for (let b = Math.max(t.bin + 1, bin - n + 1); b <= bin; b++) {
      t.sum -= t.bins[b % n]!;
      t.bins[b % n] = 0;
    }
    t.bin = Math.max(t.bin, bin);
    t.bins[bin % n]!++;
    t.sum++;
    this.highRate = Math.max(this.highRate ?? 0, (t.sum * 1000) / throughputSpanInMs);
  }

  /** Learning: whether the client sent at least slowStartSentShare of the pace lately (see slowStartStep). */
  private sendingAtPace(now: number): boolean {
    const old = this.recentReleases.findIndex((t) => t >= now - slowStartSpanInMs);
    this.recentReleases.splice(0, old < 0 ? this.recentReleases.length : old);
    // Before a whole span has passed since the first request there is nothing to judge by.
    if (now - (this.firstAcceptedAt ?? now) < slowStartSpanInMs) return true;
    return (this.recentReleases.length * 1000) / slowStartSpanInMs >= this.rate * slowStartSentShare;
  }

  /** Seconds of work left at the current pace, if the workload is known. */
  private workLeftInS(): number | undefined {
    const { mailboxes, finished, requests } = this.workload;
    if (mailboxes === undefined) return undefined;
    // Requests per mailbox so far (a deploy of a new mailbox takes two, a verify one).
    const perMailbox = finished > 0 ? Math.max(1, requests / finished) : 1;
    return (Math.max(0, mailboxes - finished) * perMailbox) / this.rate;
  }

  private bounded(rate: number): number {
    return Math.max(this.minRate, Math.min(this.maxRate, rate));
  }
}
