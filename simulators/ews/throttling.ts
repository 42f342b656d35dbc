import { createLimiter, type Limiter, type LimiterOptions } from '../limiters.js';
import type { Fault } from './soap.js';
import type { EwsSimulatorStats } from './stats.js';

/**
 * The account's EWS throttling budget, built from exchange-facts.md ("EWS", "EWS errors") and
 * Microsoft's "EWS throttling in Exchange" (EWSMaxConcurrency, budgets recharging per second):
 * ErrorServerBusy with BackOffMilliseconds when the budget is spent, ErrorExceededConnectionCount
 * beyond the concurrent connections, and requests arriving inside an announced window counted.
 */

export interface EwsThrottlingOptions {
  /** Requests per second the account's throttling budget allows; beyond it ErrorServerBusy with BackOffMilliseconds. */
  requestsPerSecond?: number;
  /** Requests the account may send at once above its budget (the token bucket's size). @default one second's worth */
  burst?: number;
  /** How the budget is kept (simulators/limiters.ts). @default a token bucket with a debt */
  limiter?: Pick<LimiterOptions, 'shape' | 'schedule'>;
  /** Mailbox → number of its first requests answered ErrorServerBusy. */
  serverBusyFirstRequests?: Record<string, number>;
  /** BackOffMilliseconds for injected ErrorServerBusy. @default 500 */
  backOffInMs?: number;
  /** See GraphSimulatorOptions.inFlightGraceInMs. @default 100 */
  inFlightGraceInMs?: number;
  /** Concurrent requests the account may have (EWSMaxConcurrency). @default 27 */
  maxConcurrency?: number;
}

/** Shortest BackOffMilliseconds an exhausted budget answers with. */
const minBudgetBackOffInMs = 1000;

/** The limiter: the account's concurrent connections, injected ErrorServerBusy and its token bucket. */
export class EwsThrottling {
  private readonly busyLeft: Map<string, number>;
  private backOff = { openedAt: 0, until: 0 };
  private limiter: Limiter | undefined;
  private inFlight = 0;

  constructor(
    private readonly options: EwsThrottlingOptions,
    private readonly stats: EwsSimulatorStats,
  ) {
    this.busyLeft = new Map(
      Object.entries(options.serverBusyFirstRequests ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
  }

  /** The account's budget starts afresh now (the server starts, or a benchmark cell): full, its schedule. */
  start(limiter = this.options.limiter): void {
    const { requestsPerSecond, burst } = this.options;
    this.limiter = requestsPerSecond
      ? createLimiter({ shape: 'bucket-debt', ...limiter, requestsPerSecond, burst }, Date.now())
      : undefined;
  }

  /** One request holding one of the account's connections while it is served. */
  async withConnection<T>(work: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.stats.maxConcurrency = Math.max(this.stats.maxConcurrency, this.inFlight);
    try {
      return await work();
    } finally {
      this.inFlight--;
    }
  }

  /** The account's budget: ErrorServerBusy (with BackOffMilliseconds) or too many connections. */
  throttle(mailbox: string | undefined, arrivedAt: number): Fault | undefined {
    const now = Date.now();
    if (this.backOff.until > arrivedAt) {
      if (arrivedAt - this.backOff.openedAt > (this.options.inFlightGraceInMs ?? 100)) this.stats.insideBackOffWindow++;
      else this.stats.arrivedInFlight++;
    }
    if (this.inFlight > (this.options.maxConcurrency ?? 27))
      return {
        code: 'ErrorExceededConnectionCount',
        message:
          'You have exceeded the available concurrent connections for your account. Try again once your ' +
          'other requests have completed.',
      };
    const busy = (backOffInMs: number): Fault => {
      if (this.backOff.until <= now) this.backOff = { openedAt: now, until: now + backOffInMs };
      else this.backOff.until = Math.max(this.backOff.until, now + backOffInMs);
      return {
        code: 'ErrorServerBusy',
        message: 'The server cannot service this request right now. Try again later.',
        backOffInMs,
      };
    };
    const left = mailbox ? (this.busyLeft.get(mailbox) ?? 0) : 0;
    if (left > 0) {
      this.busyLeft.set(mailbox!, left - 1);
      return busy(this.options.backOffInMs ?? 500);
    }
    // The budget is charged when the request arrived, like the window: a simulator busy with
    // schema checks must not see requests that came apart as a burst.
    const waitInMs = this.limiter?.admit(arrivedAt);
    // An exhausted budget answers with BackOffMilliseconds of at least a second (Exchange's budgets
    // recharge per second; the field has been seen asking for minutes: exchange-facts.md, EWS errors).
    return waitInMs === undefined ? undefined : busy(Math.max(minBudgetBackOffInMs, Math.ceil(waitInMs)));
  }
}
