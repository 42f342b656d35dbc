/**
 * Run with --expose-gc: the real pipeline (validated users file streamed into the runner, outcomes
 * streamed into the report writer) over an instant in-memory back end, sampling the live heap
 * after a full GC. Prints {"maxHeapUsedInMb", "rows"}.
 */
import { runMailboxes } from '../../src/core/runner.js';
import { readMailboxes, validateUsersFile } from '../../src/input/users-csv.js';
import type { Provider } from '../../src/core/provider.js';
import { ReportWriter } from '../../src/report/report-writer.js';

const [file, reportDir] = process.argv.slice(2) as [string, string];
const gc = (globalThis as { gc?: () => void }).gc!;
const usersOptions = {
  sink: 'crm-sink@contoso.com',
  defaultTarget: 'graph' as const,
  supportedTargets: ['graph' as const],
};
const summary = await validateUsersFile(file, usersOptions);
const provider: Provider = {
  kind: 'api',
  target: 'graph',
  open: async () => {},
  readRules: async () => ({ rules: [], facts: {} }),
  applyChanges: async () => ({ createdRuleIds: [] }),
  describe: () => ({}),
  close: async () => {},
};
const report = await ReportWriter.open(reportDir);
let done = 0;
let maxHeapUsed = 0;
const sample = () => {
  gc();
  maxHeapUsed = Math.max(maxHeapUsed, process.memoryUsage().heapUsed);
};
await runMailboxes(readMailboxes(file, usersOptions), {
  mode: 'verify',
  dryRun: false,
  providerFor: () => provider,
  concurrencyFor: () => 64,
  desiredRuleFor: () => ({
    displayName: 'x',
    sequence: 1,
    isEnabled: true,
    actions: { forwardAsAttachmentTo: [{ emailAddress: { address: 'crm-sink@contoso.com' } }] },
  }),
  retry: { maxRetries: 0, retryDelayInMs: 1, maxRetryDelayInMs: 1000, sleep: async () => {} },
  clock: Date.now,
  onOutcome: async (outcome) => {
    await report.add(outcome);
    if (++done % 5000 === 0) sample();
  },
});
sample();
process.stdout.write(JSON.stringify({ maxHeapUsedInMb: Math.round(maxHeapUsed / 1048576), rows: summary.rows, done }));
