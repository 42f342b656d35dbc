/**
 * What the Graph simulator reports after a run, for the tests and the benchmark: the counts Graph's
 * throttling documentation speaks of (requests alone or inside a `$batch`, 429s, requests made
 * while throttled: Microsoft Graph "Throttling", exchange-facts.md "Throttling").
 */

/** What the tests and the benchmark read after a run. */
export interface GraphSimulatorStats {
  /** Graph requests, alone or inside a batch (what Graph's throttling counts). */
  requests: number;
  /** HTTP requests (a $batch is one). */
  httpRequests: number;
  batches: number;
  byStatus: Record<number, number>;
  writes: number;
  throttled: number;
  /**
   * Requests that arrived while a Retry-After window was open, more than `inFlightGraceInMs` after
   * the first answer carrying it left the simulator (earlier ones were already on their way; a
   * batch answers when its last item is done).
   */
  insideRetryAfterWindow: number;
  /** Requests that arrived within the grace: sent before the client could know of the window. */
  arrivedInFlight: number;
  maxInFlightPerMailbox: number;
  /** HTTP requests by method (a read-only command sends only GETs). */
  byMethod: Record<string, number>;
}

export function emptyGraphStats(): GraphSimulatorStats {
  return {
    requests: 0,
    httpRequests: 0,
    batches: 0,
    byStatus: {},
    writes: 0,
    throttled: 0,
    insideRetryAfterWindow: 0,
    arrivedInFlight: 0,
    maxInFlightPerMailbox: 0,
    byMethod: {},
  };
}
