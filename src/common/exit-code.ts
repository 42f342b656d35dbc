import { AccessError, InputError } from '../core/errors.js';
import { nonCompliantOutcomes, type OutcomeName } from '../core/outcome.js';

/**
 * The one place exit codes are decided:
 * - 0: every mailbox is in the desired state (or the command had nothing to do);
 * - 1: nothing was done or the run stopped because sinkrule cannot work (bad input, credentials,
 *      an unexpected error before any mailbox);
 * - 2: the run worked, but some mailboxes are not in the desired state (a probe failed), it stopped
 *      part-way (a canary wave failed), or a preflight check failed.
 */
export function exitCodeFor(result: {
  error?: unknown;
  counts?: Partial<Record<OutcomeName, number>>;
  stoppedEarly?: boolean;
  failedChecks?: number;
}): 0 | 1 | 2 {
  const { error, counts } = result;
  if (error instanceof InputError || error instanceof AccessError) return 1;
  if (result.failedChecks) return 2; // preflight: a check failed
  if (result.stoppedEarly) return 2; // e.g. a canary wave that failed: the rest was not touched
  if (error !== undefined) return counts ? 2 : 1;
  return Object.entries(counts ?? {}).some(([name, count]) => count && nonCompliantOutcomes.has(name as OutcomeName))
    ? 2
    : 0;
}
