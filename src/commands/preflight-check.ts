/** One line of `sinkrule preflight`: what was checked, how it went, and the fix when it did not pass. */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  fix: string;
}

export function skip(check: string, detail: string): CheckResult {
  return { check, status: 'skip', detail, fix: '' };
}
