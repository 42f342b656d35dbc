import { ThrottledError } from './errors.js';
import { PaceController, type LearnedPace, type PaceControllerOptions, type PacingState } from './pace-controller.js';
import type { Sleep } from './retry.js';

export interface ThrottleGateOptions extends PaceControllerOptions {
  sleep: Sleep;
  /** Requests allowed in flight to one mailbox at once (Exchange Online: 4). @default 4 */
  maxRequestsPerMailbox?: number;
  /**
   * Lets answers that have already arrived be read before the pump releases the next request after
   * a wait. A late timer fires before the event loop reads the sockets, so without this a 429 that
   * arrived while the process was busy is read only after the requests its window forbids went out.
   * Processes pass `setImmediate`; a virtual clock leaves it out. @default none
   */
  yieldToAnswers?: () => Promise<void>;
  /**
   * Told whenever the service opens or extends an app-wide window (epoch ms it ends): the run
   * journals it, so a run resumed after `kill -9` honours it too.
   */
  onWindow?: (until: number) => void;
  /**
   * Releases each request this long before its slot, to a sender that puts it on the wire at the
   * slot from a thread of its own (providers/paced-wire.ts), so this thread's pauses no longer
   * bunch what reaches the service. 0: released at the slot, sent at once. @default 0
   */
  releaseAheadInMs?: number;
}

/** When a released request should leave, and the least time before the next (see minGapShare). */
export interface PacedSlot {
  sendAt: number;
  gapInMs: number;
  /**
   * Set by the sender: it made this request up faster than the pace after a stall (see
   * PaceController.refused); a 429 for it is the sender's burst, not the pace's.
   */
  madeUp?: boolean;
}

/**
 * Thrown by a request the gate released that never left: the sender held it back because the
 * service opened a window before its slot. The gate sends it again at its next turn after
 * `until`; it is not an answer, so the pace learns nothing from it.
 */
export class NotSentError extends Error {
  override name = 'NotSentError';
  constructor(readonly until: number) {
    super(`held back unsent until ${new Date(until).toISOString()}: the service opened a window first`);
  }
}

export type { LearnedPace, PacingState } from './pace-controller.js';

/**
 * How far the pace may catch up on slots a late timer missed, at first. On a loaded machine the
 * pump's timers fire 10–20 ms late: with 5 ms, a 6,000-mailbox deploy at a 500 req/s ceiling took
 * 36.6 s, with 25 ms 30.3 s (same load). The slots are made up at twice the pace at most (see
 * minGapShare), never as one burst. Idle time never turns into a burst.
 */
const maxCatchUpInMs = 25;
/**
 * Catching up releases at most two requests at once, and then one each this share of an interval:
 * missed slots are made up at twice the pace at most, never as one burst. A service with a small
 * burst counts arrivals: against a 1 % bucket at 500 req/s (5 requests) every 429 of a deploy came
 * right after the gate had released 3-4 at once after a late timer (a scratch trace of what was
 * handed to the HTTP client); spaced, the groups before a 429 are of 2-3 (a $batch still gathers
 * what the gate let through within 3 ms). The cell's efficiency moves by 0.05 from run to run and
 * did not move measurably (0.40 / 0.44 against 0.46 / 0.45, one interleaved pair).
 */
const minGapShare = 0.5;
/**
 * Time a late timer cost beyond the catch-up (a garbage collection, a report write) while requests
 * were waiting is a debt, repaid by releasing this much faster than the pace until it is paid:
 * the service got nothing during the stall, so its bucket holds those requests' worth. Capped, so
 * a long stall is never replayed in full, and forgotten at any 429. Without it a verify of 10,000
 * mailboxes at 488 req/s reached 479 (2 % lost to stalls of 25–100 ms).
 */
const maxDebtInMs = 100;
const repayShare = 0.1;
/**
 * The first second of sending is the client's busiest: it opens its connections (a TLS handshake
 * each) and compiles its hot code, so timers fire late, while the service's allowance is still
 * whole and the slots missed gave it nothing to spare. Catching up then is a burst on top of the
 * pace: a 10,000-mailbox verify starting at a remembered 495 req/s sent 12 requests within 10 ms
 * and 605 req/s over 200 ms in its first second, and drew a window. So for this long after the
 * first release the gate catches up at most 5 ms of slots (3 requests at 500 req/s, within a
 * burst of 1 % of a second) and runs up no debt. Catching up only one interval lost a third of
 * that first second to late timers.
 */
const warmUpInMs = 1_000;
const warmUpCatchUpInMs = 5;

/**
 * Shared by every worker of one back end; every request of a provider goes through `send`.
 * It enforces what the service asked for, whichever worker asked:
 * - the Retry-After windows it opened, for the whole app or for one mailbox (nothing is sent
 *   inside a window, from the moment any answer carries one);
 * - at most N requests in flight per mailbox;
 * - the pace for the app (requests per second) that PaceController decides from the answers.
 * The pump releases waiting requests one by one at the pace, so the end of a window is no
 * thundering herd.
 */
export class ThrottleGate {
  private appClosedUntil = 0;
  private readonly mailboxClosedUntil = new Map<string, number>();
  private readonly inFlight = new Map<string, number>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private readonly maxRequestsPerMailbox: number;
  private readonly pacing: PaceController;
  /** Pace time lost to late timers while requests waited, still to be made up (see maxDebtInMs). */
  private debtInMs = 0;
  private nextSendAt = 0;
  /** The next release comes no sooner (see minGapShare). */
  private spacedUntil = Number.NEGATIVE_INFINITY;
  private firstReleaseAt: number | undefined;
  private readonly paceQueue: Array<{ resolve: (slot: PacedSlot) => void; again: boolean }> = [];
  private pumping = false;
  /** Counters for the progress line, the report and the benchmark. */
  readonly stats = {
    requests: 0,
    throttled: 0,
    appThrottled: 0,
    appPauses: 0,
    probes: 0,
    failedProbes: 0,
  };

  constructor(private readonly options: ThrottleGateOptions) {
    this.maxRequestsPerMailbox = options.maxRequestsPerMailbox ?? 4;
    this.pacing = new PaceController(options);
  }

  /** How many mailboxes this back end has to work on: probes are made only while enough work is left. */
  expectMailboxes(count: number): void {
    this.pacing.expectMailboxes(count);
  }

  /** One mailbox of this back end is done (whatever its outcome). */
  mailboxFinished(): void {
    this.pacing.mailboxFinished();
  }

  /**
   * The pace a later run against the same service may start from, or undefined if this run learnt
   * nothing (it never reached the ceiling). A probe the service has not yet confirmed is not kept.
   */
  learnedPace(): LearnedPace | undefined {
    return this.pacing.learnedPace();
  }

  /**
   * A window an earlier process was given and that may still be open (a resumed run after the
   * interrupted one's last 429): nothing is sent before it ends.
   */
  honourWindow(until: number): void {
    this.appClosedUntil = Math.max(this.appClosedUntil, until);
  }

  /** Until when the service has the whole back end paused (epoch ms). */
  get pausedUntil(): number {
    return this.appClosedUntil;
  }

  /** The current pace, requests per second. */
  get requestsPerSecond(): number {
    return this.pacing.rate;
  }

  /** How the run started: at a pace an earlier run learnt, or learning the ceiling with a slow start. */
  get start(): { requestsPerSecond: number; from: 'remembered' | 'slow start' } {
    return this.pacing.start;
  }

  /** Learning the ceiling (slow start) or holding under it. */
  get pacingState(): PacingState {
    return this.pacing.state;
  }

  /** The service refused a request its sender made up: its burst is small (PaceController.smallBurst). */
  get smallBurst(): boolean {
    return this.pacing.smallBurst;
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

  /** Sends `request` at its turn; it gets the slot its sender should put it on the wire at. */
  async send<T>(mailboxKey: string, request: (slot: PacedSlot) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = mailboxKey.toLowerCase();
    await this.acquire(key);
    try {
      for (let again = false; ; again = true) {
        const slot = await this.waitForTurn(key, again, signal);
        this.stats.requests++;
        // When it left: released ahead, a request leaves at its slot, not now.
        const sentAt = Math.max(slot.sendAt, this.options.clock());
        try {
          const result = await request(slot);
          this.pacing.accepted(sentAt, this.options.clock(), this.options.clock() < this.appClosedUntil);
          this.countProbes();
          return result;
        } catch (error) {
          if (error instanceof NotSentError) {
            this.stats.requests--;
            await this.options.sleep(Math.max(0, error.until - this.options.clock()), signal);
            continue;
          }
          if (error instanceof ThrottledError) this.close(key, error, sentAt, slot.madeUp);
          throw error;
        }
      }
    } finally {
      this.release(key);
    }
  }

  /**
   * Opens a window in which nothing is sent (to the app or to one mailbox). `sentAt` is when the
   * throttled request left (the controller tells a new overshoot from the rest of a burst by it).
   */
  close(mailboxKey: string, error: ThrottledError, sentAt = this.options.clock(), madeUp = false): void {
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
    const windowEndedAt = this.appClosedUntil;
    if (until > this.appClosedUntil) {
      this.stats.appPauses++;
      this.appClosedUntil = until;
      this.options.onWindow?.(until);
    }
    // Made up counts only with a Retry-After, as the wire's own rule (a 429 without one opens no window there).
    this.pacing.refused(sentAt, now, windowEndedAt, this.appClosedUntil, madeUp && error.retryAfterInMs !== undefined);
    this.countProbes();
  }

  private countProbes(): void {
    this.stats.probes = this.pacing.stats.probes;
    this.stats.failedProbes = this.pacing.stats.failedProbes;
  }

  /**
   * Waits until no window is open for this mailbox and the pace releases this request. Checks the
   * mailbox's window again afterwards: one may have opened meanwhile. Returns the slot it leaves at.
   */
  private async waitForTurn(key: string, again: boolean, signal?: AbortSignal): Promise<PacedSlot> {
    for (;;) {
      const waitInMs = (this.mailboxClosedUntil.get(key) ?? 0) - this.options.clock();
      if (waitInMs > 0) {
        await this.options.sleep(waitInMs, signal);
        continue;
      }
      const slot = await this.pace(again, signal);
      if ((this.mailboxClosedUntil.get(key) ?? 0) <= Math.max(slot.sendAt, this.options.clock())) {
        this.mailboxClosedUntil.delete(key);
        return slot;
      }
    }
  }

  /**
   * Queues for the pump, which releases waiters one by one at the current pace. `again`: a request
   * released before that never left (NotSentError), which the controller has counted already.
   */
  private pace(again: boolean, signal?: AbortSignal): Promise<PacedSlot> {
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
        again,
        resolve: (slot: PacedSlot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
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
        this.pacing.windowEnded(now, this.appClosedUntil);
        // Released ahead, requests are spaced on the wire by their sender, not here.
        const aheadInMs = this.options.releaseAheadInMs ?? 0;
        const readyAt = Math.max(this.appClosedUntil, this.nextSendAt, aheadInMs > 0 ? -Infinity : this.spacedUntil);
        if (readyAt > now + aheadInMs) {
          await this.options.sleep(readyAt - aheadInMs - now);
          await this.options.yieldToAnswers?.();
          const lateInMs = this.options.clock() - readyAt - this.catchUpFor(this.intervalInMs(), readyAt);
          if (lateInMs > 0 && readyAt > this.appClosedUntil && !this.warmingUp(readyAt))
            this.debtInMs = Math.min(maxDebtInMs, this.debtInMs + lateInMs);
          continue;
        }
        // Timers fire about once a millisecond: slots up to the catch-up old are still used, so a
        // fast pace is kept, but idle time never turns into a burst.
        // A release that found its slot still open (not missed) means the pace held it back.
        this.firstReleaseAt ??= now;
        const intervalInMs = this.intervalInMs();
        const catchUpInMs = this.catchUpFor(intervalInMs, now);
        const waiter = this.paceQueue.shift()!;
        if (!waiter.again) this.pacing.released(this.nextSendAt >= now - catchUpInMs);
        const repaidInMs = Math.min(this.debtInMs, intervalInMs * repayShare);
        this.debtInMs -= repaidInMs;
        // Catching up never reaches back into a window: its end releases one request at a time.
        const from = Math.max(this.nextSendAt, now - catchUpInMs, this.appClosedUntil);
        this.nextSendAt = from + intervalInMs - repaidInMs;
        // A timer fires on a whole millisecond, often after more than half an interval: a second
        // release may follow at once, a third not (see minGapShare). So a pace above about
        // 2,000 req/s (two a millisecond) cannot be made up after a late timer; the bench's
        // ceilings are 200 and 500.
        const gapInMs = intervalInMs * minGapShare;
        this.spacedUntil = Math.max(this.spacedUntil, now - gapInMs) + gapInMs;
        waiter.resolve({ sendAt: from, gapInMs });
      }
    } finally {
      this.pumping = false;
    }
  }

  private intervalInMs(): number {
    const rate = this.pacing.rate;
    return Number.isFinite(rate) ? 1000 / rate : 0;
  }

  /** How far back missed slots are still used: never less than one interval (see maxCatchUpInMs, warmUpInMs). */
  private catchUpFor(intervalInMs: number, now: number): number {
    return Math.max(intervalInMs, this.warmingUp(now) ? warmUpCatchUpInMs : maxCatchUpInMs);
  }

  private warmingUp(now: number): boolean {
    return this.firstReleaseAt === undefined || now - this.firstReleaseAt < warmUpInMs;
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
