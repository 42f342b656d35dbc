/**
 * Puts paced requests on the wire at the times the throttle gate gave them, from a thread whose
 * only work this is (wire-worker.ts).
 *
 * Why a thread of its own: the gate's thread also builds the requests, reads the answers and
 * writes the reports. Each of its pauses (a garbage collection, a report write: 5–25 ms) held
 * back what the pace would have released, which then left together, and a service whose burst
 * is small counts arrivals: against a bucket of 1 % of a second (5 requests at 500 req/s) those
 * bunches drew most of the 429s, each a window of a whole second. The gate now releases requests
 * ahead of their slot (ThrottleGateOptions.releaseAheadInMs) and this sends each at its slot.
 *
 * It also stops first: the moment an answer opens an app-wide window, everything still waiting
 * here goes back to the gate unsent ("held"), to be paced again once the window is over; a window
 * for one mailbox holds what waits for that mailbox (a JSON batch with one of its items for it).
 */
export interface WireEntry<R> {
  id: number;
  request: R;
  /** When it should leave (epoch ms); undefined: at once (a request outside the pace). */
  sendAt?: number;
  /**
   * The least time before the next paced send, half the request's interval at the pace (a batch:
   * its items'): missed slots are made up at twice the pace at most, never as one burst.
   */
  gapInMs?: number;
  /** The mailboxes it is for (a batch: one per item, in the items' order). */
  mailboxes?: string[];
}

/** The windows an answer opens (epoch ms each ends); `index` is into the entry's `mailboxes`. */
export interface WireWindows {
  app?: number;
  mailboxes: Array<{ index: number; until: number }>;
}

/** What becomes of a request: its answer, or held back unsent because a window opened first. */
export type WireOutcome<A> =
  | {
      kind: 'answer';
      answer: A;
      /**
       * It was made up (left more than one request's interval behind the wire's own pace, before
       * the wire learnt the service's burst is small): a 429 for it says the catch-up went over the
       * burst, not that the pace is over the ceiling (see PacedWire.smallBurst).
       */
      madeUp?: true;
    }
  | { kind: 'held'; until: number }
  | { kind: 'failed'; error: unknown };

export interface PacedWireOptions<R, A> {
  /** An earlier run learnt that the service's burst is small (see PacedWire.smallBurst). @default false */
  smallBurst?: boolean;
  clock: () => number;
  /** Runs `fn` after `ms` (a timer); the returned function cancels it. */
  schedule: (fn: () => void, ms: number) => () => void;
  /**
   * Runs `fn` once the answers already on the sockets have been read (setImmediate after a timer):
   * a timer that fires late must not send what a 429 that arrived meanwhile forbids.
   */
  afterAnswers: (fn: () => void) => void;
  transmit: (request: R, signal: AbortSignal) => Promise<A>;
  /** The windows an answer opens. */
  windows: (answer: A, now: number) => WireWindows;
  settle: (id: number, outcome: WireOutcome<A>) => void;
}

/**
 * Of the slots the wire missed (its own timers fire late, its thread stalls), this much is made up,
 * at twice the pace at most; the rest is not (the gate's catch-up, 25 ms). Until a service with a
 * small burst refuses a request that was made up: from then on, one request's worth (see
 * PacedWire.smallBurst).
 */
const maxCatchUpInMs = 25;

export class PacedWire<R, A> {
  /** Waiting requests, in the order of their slots. */
  private queue: Array<WireEntry<R>> = [];
  private readonly inFlight = new Map<number, AbortController>();
  private windowUntil = 0;
  private readonly mailboxUntil = new Map<string, number>();
  /** The next paced send comes no sooner (twice the pace at most). */
  private spacedUntil = Number.NEGATIVE_INFINITY;
  /**
   * The wire's own pace: the next send is due an interval after the last one was, never more than
   * the catch-up before now. A slot the gate gave is due no sooner. Behind the gate's slots (a
   * cold thread in its first second opening connections, a stall), the wire then sends at the pace
   * and makes up what its own later stalls miss. Measured against the gate's slots instead, once
   * more than the catch-up behind it sent at exactly the pace for good and every later stall added
   * to the delay: in a 10,000-mailbox verify at a fixed 500 req/s (service without a ceiling) it
   * fell 400 ms behind in its first second, a request took 510 ms from the gate to its answer, the
   * gate found none waiting for its slots, and 472 req/s reached the service.
   */
  private scheduledAt = Number.NEGATIVE_INFINITY;
  /**
   * A request made up (sent more than one request's interval behind the wire's own pace) drew an
   * app-wide 429: the service's burst is smaller than what a catch-up sends over the pace. Made-up
   * slots are then limited to one request's worth, which a bucket that takes one batch at once
   * also takes (the rest of a stall is lost, as a timer's lateness beyond it is). 25 ms at 450
   * req/s is 11 requests over the pace, against a bucket of 5 (1 % of 500 req/s): a
   * 10,000-mailbox run against it reached 0.49-0.63 of the ceiling with 25 ms made up, 0.71-0.78
   * with one request's worth; against a bucket of 50 (10 %) one request's worth cost a deploy
   * about 0.03, so the wire starts with 25 ms and learns the smaller burst from the service.
   */
  private smallBurst: boolean;
  private cancelTimer?: () => void;
  private draining = false;

  constructor(private readonly options: PacedWireOptions<R, A>) {
    this.smallBurst = options.smallBurst ?? false;
  }

  enqueue(entry: WireEntry<R>): void {
    if (entry.sendAt === undefined) return this.transmit(entry);
    const index = this.queue.findLastIndex((waiting) => waiting.sendAt! <= entry.sendAt!);
    this.queue.splice(index + 1, 0, entry);
    if (index + 1 === 0) this.arm();
  }

  abort(id: number): void {
    const index = this.queue.findIndex((entry) => entry.id === id);
    if (index >= 0) this.queue.splice(index, 1);
    this.inFlight.get(id)?.abort();
  }

  private arm(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const head = this.queue[0];
    if (!head || this.draining) return;
    const waitInMs = this.readyAt(head) - this.options.clock();
    this.cancelTimer = this.options.schedule(
      () => {
        this.cancelTimer = undefined;
        this.draining = true;
        this.options.afterAnswers(() => this.drain());
      },
      Math.max(0, waitInMs),
    );
  }

  /**
   * Sends what is due: slots missed by up to the catch-up at twice the pace at most (two at once,
   * then one each gap), older ones at the pace (see scheduledAt); hands back what would leave
   * inside a window.
   */
  private drain(): void {
    this.draining = false;
    const now = this.options.clock();
    if (now < this.windowUntil) this.holdAll();
    while (this.queue.length > 0 && this.readyAt(this.queue[0]!) <= now) {
      const entry = this.queue.shift()!;
      const mailboxUntil = this.mailboxWindow(entry, now);
      if (mailboxUntil !== undefined) {
        this.options.settle(entry.id, { kind: 'held', until: mailboxUntil });
        continue;
      }
      const gapInMs = entry.gapInMs ?? 0;
      const dueAt = Math.max(entry.sendAt!, this.scheduledAt);
      // One request's interval at the pace (a batch's gap covers all its items).
      const requestIntervalInMs = (2 * gapInMs) / Math.max(1, entry.mailboxes?.length ?? 1);
      const catchUpInMs = this.smallBurst ? requestIntervalInMs : Math.max(requestIntervalInMs, maxCatchUpInMs);
      this.scheduledAt = Math.max(dueAt, now - catchUpInMs) + 2 * gapInMs;
      this.spacedUntil = Math.max(this.spacedUntil, now - gapInMs) + gapInMs;
      this.transmit(entry, !this.smallBurst && now - dueAt > requestIntervalInMs);
    }
    this.arm();
  }

  /** When a waiting entry may leave: at its slot, at the wire's own pace, a gap after the last. */
  private readyAt(entry: WireEntry<R>): number {
    return Math.max(entry.sendAt!, this.scheduledAt, this.spacedUntil);
  }

  /** The end of an open window for one of the entry's mailboxes, if any. */
  private mailboxWindow(entry: WireEntry<R>, now: number): number | undefined {
    let until: number | undefined;
    for (const mailbox of entry.mailboxes ?? []) {
      const end = this.mailboxUntil.get(mailbox);
      if (end !== undefined && end > now) until = Math.max(until ?? end, end);
    }
    return until;
  }

  /**
   * Hands back what would leave inside the app's window. What the gate released for after it stays:
   * a later 429 of the same burst extends the window by a few milliseconds, and bouncing all that
   * was paced for after it would only pace it again.
   */
  private holdAll(): void {
    this.handBack((entry) => (entry.sendAt! < this.windowUntil ? this.windowUntil : undefined));
  }

  /** The windows an answer opened: what waits for the app's (or an affected mailbox's) goes back. */
  private hold(windows: WireWindows, entry: WireEntry<R>, now: number): void {
    for (const { index, until } of windows.mailboxes) {
      const mailbox = entry.mailboxes?.[index];
      if (mailbox !== undefined) this.mailboxUntil.set(mailbox, Math.max(this.mailboxUntil.get(mailbox) ?? 0, until));
    }
    if (windows.app !== undefined && windows.app > this.windowUntil) {
      this.windowUntil = windows.app;
      this.holdAll();
    }
    if (windows.mailboxes.length > 0) this.handBack((waiting) => this.mailboxWindow(waiting, now));
    for (const [mailbox, until] of this.mailboxUntil) if (until <= now) this.mailboxUntil.delete(mailbox);
  }

  /** Settles as held, and drops from the queue, every waiting entry `untilFor` gives a window end. */
  private handBack(untilFor: (entry: WireEntry<R>) => number | undefined): void {
    this.queue = this.queue.filter((entry) => {
      const until = untilFor(entry);
      if (until !== undefined) this.options.settle(entry.id, { kind: 'held', until });
      return until === undefined;
    });
  }

  /** Sends one entry; `madeUp`: it left more than one request's interval behind the wire's pace. */
  private transmit(entry: WireEntry<R>, madeUp = false): void {
    const controller = new AbortController();
    this.inFlight.set(entry.id, controller);
    this.options.transmit(entry.request, controller.signal).then(
      (answer) => {
        this.inFlight.delete(entry.id);
        const now = this.options.clock();
        const windows = this.options.windows(answer, now);
        if (madeUp && windows.app !== undefined) this.smallBurst = true;
        // The answer first: the gate learns the window from it before the held requests come back.
        this.options.settle(entry.id, { kind: 'answer', answer, ...(madeUp ? { madeUp } : {}) });
        this.hold(windows, entry, now);
      },
      (error: unknown) => {
        this.inFlight.delete(entry.id);
        this.options.settle(entry.id, { kind: 'failed', error });
      },
    );
  }
}
