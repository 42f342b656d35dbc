/**
 * npm run bench:pace [-- options]: the pace controller alone, on a virtual clock (the model of
 * test/unit/throttle.test.ts), against every limiter shape of simulators/limiters.ts: 256 workers,
 * latency 50 ± 25 ms, 1 % 503/504, whole-second Retry-After windows. No machine noise: what the
 * pacing itself costs. Each cell is a deploy (2 requests per mailbox, from a slow start) and then a
 * verify (1 per mailbox) that starts at the pace the deploy kept, as an admin runs them.
 *
 *   --shapes bucket-debt,bucket,fixed-window,sliding-window,drop   (drop: bucket-debt, burst 10 %,
 *                              the ceiling halves at 30 % of the work and recovers at 60 %)
 *   --ceilings 200,500  --bursts 0.01,0.1,1 (token buckets, share of a second)  --mailboxes 10000
 *   --runs 3 (seeds; min/median/max)
 *   --network-ms 10 (0 to this each way)  --stalls 0 (stalls of the path a second, see ceiling-service)
 *   --fixed 0.95 (no controller: the pace pinned at this share of the ceiling, for comparison)
 */
import { parseArgs } from 'node:util';
import type { LimiterShape } from '../simulators/limiters.js';
import { driveGate } from '../test/helpers/ceiling-service.js';

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: 'bucket-debt,bucket,fixed-window,sliding-window,drop' },
    ceilings: { type: 'string', default: '200,500' },
    bursts: { type: 'string', default: '0.01,0.1,1' },
    mailboxes: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    'network-ms': { type: 'string', default: '10' },
    stalls: { type: 'string', default: '0' },
    fixed: { type: 'string' },
  },
});
const list = (text: string) => text.split(',').map((s) => s.trim());

interface Cell {
  shape: LimiterShape;
  label: string;
  ceiling: number;
  burst?: number;
  drop: boolean;
}

const cells: Cell[] = [];
for (const name of list(values.shapes))
  for (const ceiling of list(values.ceilings).map(Number)) {
    if (name === 'bucket-debt' || name === 'bucket')
      for (const share of list(values.bursts).map(Number))
        cells.push({
          shape: name,
          label: `${name}, burst ${share * 100} %`,
          ceiling,
          burst: Math.max(1, share * ceiling),
          drop: false,
        });
    else if (name === 'drop')
      cells.push({
        shape: 'bucket-debt',
        label: 'ceiling halves and recovers',
        ceiling,
        burst: 0.1 * ceiling,
        drop: true,
      });
    else cells.push({ shape: name as LimiterShape, label: name, ceiling, drop: false });
  }

const mailboxes = Number(values.mailboxes);
/** --fixed: the gate's pace pinned (no learning, no cut), as a client that knew the ceiling. */
const pinned = (ceiling: number) => {
  if (values.fixed === undefined) return undefined;
  const rate = Number(values.fixed) * ceiling;
  return { rememberedRequestsPerSecond: rate, minRequestsPerSecond: rate, maxRequestsPerSecond: rate };
};
const runs = Number(values.runs);
const spread = (xs: number[], digits = 3) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(digits);
  return sorted.length === 1
    ? f(sorted[0]!)
    : `${f(sorted[0]!)} / ${f(sorted[Math.floor(sorted.length / 2)]!)} / ${f(sorted.at(-1)!)}`;
};

console.log(
  `Virtual clock, ${mailboxes} mailboxes, ${runs} runs (min / median / max), network 0-${values['network-ms']} ms ` +
    `each way${Number(values.stalls) > 0 ? `, ${values.stalls} stalls of the path (8+ ms) a second` : ''}` +
    `${values.fixed === undefined ? '' : `, pace pinned at ${values.fixed} of the ceiling`}` +
    `; deploy from a slow start, then verify from the pace it kept\n`,
);
console.log(
  '| limiter | ceiling req/s | command | efficiency | 429s | sent inside a window | probes (refused) | ' +
    'final pace req/s |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const cell of cells) {
  const figures = { deploy: [] as Array<Record<string, number>>, verify: [] as Array<Record<string, number>> };
  for (let run = 0; run < runs; run++) {
    let remembered: number | undefined;
    for (const command of ['deploy', 'verify'] as const) {
      const total = mailboxes * (command === 'deploy' ? 2 : 1);
      const seconds = total / cell.ceiling;
      const schedule = cell.drop
        ? [
            { atInMs: 0.3 * seconds * 1000, share: 0.5 },
            { atInMs: 0.6 * seconds * 1000, share: 1 },
          ]
        : undefined;
      const { stats, gate, efficiency } = await driveGate(
        {
          ceiling: cell.ceiling,
          shape: cell.shape,
          burst: cell.burst,
          schedule,
          latencyInMs: 50,
          jitterInMs: 25,
          failureRate: 0.01,
          networkInMs: Number(values['network-ms']),
          stallsPerSecond: Number(values.stalls),
        },
        total,
        256,
        {
          gate: pinned(cell.ceiling) ?? { rememberedRequestsPerSecond: remembered },
          workloadKnown: true,
          seed: 7 + run,
        },
      );
      remembered = gate.learnedPace()?.requestsPerSecond ?? remembered;
      figures[command].push({
        efficiency,
        throttled: stats.throttled,
        inside: stats.insideWindow,
        probes: gate.stats.probes,
        failedProbes: gate.stats.failedProbes,
        pace: gate.requestsPerSecond,
      });
    }
  }
  for (const command of ['deploy', 'verify'] as const) {
    const f = figures[command];
    const of = (key: string) => f.map((x) => x[key]!);
    console.log(
      `| ${cell.label} | ${cell.ceiling} | ${command} | ${spread(of('efficiency'))} | ` +
        `${spread(of('throttled'), 0)} | ${spread(of('inside'), 0)} | ` +
        `${spread(of('probes'), 0)} (${spread(of('failedProbes'), 0)}) | ${spread(of('pace'), 0)} |`,
    );
  }
}
