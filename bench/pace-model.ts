/**
 * npm run bench:pace: the pace controller alone, on a virtual clock (the model of
 * test/unit/throttle.test.ts): 256 workers, latency 50 ± 25 ms, a token bucket that answers in
 * whole-second Retry-After windows. No machine noise: what the pacing itself costs, per ceiling,
 * burst and length of work, starting from a slow start or from the pace an earlier run learnt.
 */
import { driveGate } from '../test/helpers/ceiling-service.js';

interface Case {
  ceiling: number;
  burst: number;
  seconds: number;
  label: string;
  remembered?: number;
}

const cases: Case[] = [];
for (const ceiling of [500, 200]) {
  for (const [seconds, label] of [
    [ceiling === 500 ? 20 : 50, '10,000 mailboxes, verify'],
    [ceiling === 500 ? 40 : 100, '10,000, deploy'],
    [ceiling === 500 ? 200 : 500, '100,000, verify'],
    [ceiling === 500 ? 400 : 1000, '100,000, deploy'],
  ] as const) {
    cases.push({ ceiling, burst: 50, seconds, label });
    if (label.endsWith('verify'))
      cases.push({ ceiling, burst: 50, seconds, label: `${label}, after the deploy`, remembered: 0.97 * ceiling });
  }
  cases.push({ ceiling, burst: ceiling, seconds: 100, label: 'a burst of one second' });
}

console.log(
  '| ceiling req/s | burst | work at the ceiling | start | efficiency | 429s | windows | probes (refused) | ' +
    'final pace req/s | sent inside a window |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const c of cases) {
  const { stats, gate, efficiency } = await driveGate(
    { ceiling: c.ceiling, burst: c.burst, latencyInMs: 50, jitterInMs: 25 },
    c.ceiling * c.seconds,
    256,
    { gate: { rememberedRequestsPerSecond: c.remembered }, workloadKnown: true },
  );
  const start = c.remembered ? `remembered ${c.remembered}` : 'slow start 200';
  console.log(
    `| ${c.ceiling} | ${c.burst} | ${c.seconds} s (${c.label}) | ${start} | ${efficiency.toFixed(3)} | ` +
      `${stats.throttled} | ${gate.stats.appPauses} | ${gate.stats.probes} (${gate.stats.failedProbes}) | ` +
      `${Math.round(gate.requestsPerSecond)} | ${stats.insideWindow} |`,
  );
}
