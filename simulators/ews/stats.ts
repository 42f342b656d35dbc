/**
 * What the EWS simulator reports after a run, for the tests and the benchmark: response codes,
 * schema failures, requests inside an announced BackOffMilliseconds window and impersonated calls
 * without X-AnchorMailbox (exchange-facts.md "EWS"; EWS throttling: "EWS throttling in Exchange").
 */

export interface EwsSimulatorStats {
  requests: number;
  writes: number;
  byResponseCode: Record<string, number>;
  schemaInvalid: number;
  schemaErrors: string[];
  /**
   * Requests received while a BackOffMilliseconds window the simulator announced was open, more
   * than `inFlightGraceInMs` after announcing it (earlier ones were already on their way).
   */
  insideBackOffWindow: number;
  arrivedInFlight: number;
  /** Impersonated requests without an X-AnchorMailbox header naming the same mailbox. */
  withoutAnchorMailbox: number;
  ntlmHandshakes: number;
  /** Outlook client-only rules deleted because a request set RemoveOutlookRuleBlob. */
  outlookRuleBlobsRemoved: number;
  maxConcurrency: number;
}

export function emptyEwsStats(): EwsSimulatorStats {
  return {
    requests: 0,
    writes: 0,
    byResponseCode: {},
    schemaInvalid: 0,
    schemaErrors: [],
    insideBackOffWindow: 0,
    arrivedInFlight: 0,
    withoutAnchorMailbox: 0,
    ntlmHandshakes: 0,
    outlookRuleBlobsRemoved: 0,
    maxConcurrency: 0,
  };
}
