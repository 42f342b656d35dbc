import type { Sleep } from '../../src/core/retry.js';

/**
 * A discrete-event clock: `sleep` registers a wake-up, `run` advances time to the earliest one,
 * lets every woken task run until it waits again, and repeats. Concurrency without real time:
 * throttling tests are exact and take milliseconds.
 */
export class VirtualTime {
  /** Every duration asked of `sleep` or `instantSleep`, in order. */
  readonly slept: number[] = [];
  private timers: Array<{ at: number; seq: number; wake: () => void }> = [];
  private seq = 0;

  constructor(public now = 0) {}

  readonly clock = () => this.now;
  readonly sleep: Sleep = (ms) =>
    new Promise<void>((resolve) => {
      this.slept.push(ms);
      this.timers.push({ at: this.now + Math.max(0, ms), seq: this.seq++, wake: resolve });
    });

  /** For code with one thread of waiting (a retry loop): sleeping just moves the clock, no `run` needed. */
  readonly instantSleep: Sleep = async (ms) => {
    this.slept.push(ms);
    this.now += Math.max(0, ms);
  };

  /** Runs until no timer is left or `until` (virtual ms) is reached. */
  async run(until = Number.POSITIVE_INFINITY): Promise<void> {
    await settle();
    while (this.timers.length > 0) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers[0]!;
      if (next.at > until) break;
      this.timers.shift();
      this.now = next.at;
      next.wake();
      await settle();
    }
  }
}

/** Lets every promise chain that can run, run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}
