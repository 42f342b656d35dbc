import type { MailboxOutcome, OutcomeName } from '../core/outcome.js';
import type { ThrottleGate } from '../core/throttle-gate.js';
import type { CliIO } from './io.js';

const maxFailureLines = 20;

/**
 * Progress on stderr: a live line (done/total, rate, ETA, throttling) only when stderr is a
 * terminal; failed mailboxes as lines of their own (the first 20) either way. --quiet: nothing
 * (the report and the exit code tell).
 */
export class Progress {
  readonly counts: Partial<Record<OutcomeName, number>> = {};
  private done = 0;
  private failuresShown = 0;
  private readonly started: number;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly io: CliIO,
    private readonly label: string,
    /** Unknown while a Dataverse read streams. */
    private readonly total: number | undefined,
    private readonly gates: ReadonlyMap<string, ThrottleGate>,
  ) {
    this.started = io.clock();
    if (io.stderrIsTTY && !io.quiet) this.timer = setInterval(() => this.draw(), 250).unref();
  }

  /** Mailboxes done (the counts may hold two outcomes per mailbox: its own and its probe's). */
  get mailboxes(): number {
    return this.done;
  }

  record(outcome: MailboxOutcome): void {
    this.done++;
    this.counts[outcome.outcome] = (this.counts[outcome.outcome] ?? 0) + 1;
    const probe = outcome.probe;
    if (probe && probe.outcome !== outcome.outcome) this.counts[probe.outcome] = (this.counts[probe.outcome] ?? 0) + 1;
    if (outcome.outcome === 'failed' && !this.io.quiet && this.failuresShown++ < maxFailureLines) {
      this.line(
        `${outcome.email || `"${outcome.displayName}" (no address)`}: failed: ${outcome.error?.code}: ` +
          `${outcome.error?.fix}`,
      );
    } else if (probe?.outcome === 'probe-failure' && !this.io.quiet && this.failuresShown++ < maxFailureLines) {
      this.line(
        `${outcome.email}: probe-failure: ${probe.reason}${probe.ndrStatus ? ` ${probe.ndrStatus}` : ''}: ` +
          `${probe.detail}`,
      );
    }
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.timer) this.io.stderr.write('\r\x1b[K');
    if (this.failuresShown > maxFailureLines)
      this.io.stderr.write(`… ${this.failuresShown - maxFailureLines} more failures in the report\n`);
  }

  private line(text: string): void {
    this.io.stderr.write(`${this.io.stderrIsTTY ? '\r\x1b[K' : ''}${text}\n`);
  }

  private draw(): void {
    const elapsed = (this.io.clock() - this.started) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 && this.total !== undefined ? Math.round((this.total - this.done) / rate) : undefined;
    const pacing = [...this.gates]
      .map(([target, gate]) => `${target}: ${describePacing(gate, this.io.clock())}`)
      .join('; ');
    this.io.stderr.write(
      `\r\x1b[K${this.label} ${this.done}/${this.total ?? '?'} mailboxes, ${rate.toFixed(1)}/s, ETA ` +
        `${eta ?? '?'} s${pacing ? `, ${pacing}` : ''}`,
    );
  }
}

/**
 * "paused for Retry-After (0.6 s)", "learning the ceiling (340 req/s)" or "holding at 480 req/s", with the 429 count.
 */
export function describePacing(gate: ThrottleGate, now: number): string {
  const pausedInMs = gate.pausedUntil - now;
  const state =
    pausedInMs > 0
      ? `paused for Retry-After (${(pausedInMs / 1000).toFixed(1)} s)`
      : gate.pacingState === 'learning'
        ? `learning the ceiling (${Math.round(gate.requestsPerSecond)} req/s)`
        : `holding at ${Math.round(gate.requestsPerSecond)} ` +
          `req/s${gate.start.from === 'remembered' ? ' (from the last run)' : ''}`;
  return gate.stats.throttled > 0 ? `${state}, ${gate.stats.throttled} throttled` : state;
}
