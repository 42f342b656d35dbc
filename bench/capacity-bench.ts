/**
 * npm run bench:capacity [-- --users 100000]: `sinkrule capacity` over a generated estate whose
 * volumes come from a --volumes file (the email activity export), offline: the plan alone, then the
 * spread over the sinks it needs with --out. Prints wall time (process start to exit), the
 * command's own duration and its peak RSS. Volumes: most users 20-150 messages a working day, 3 %
 * heavy (300-3,300), 15 % on-premises (ews).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../test/helpers/cli.js';
import { seededRandom } from '../simulators/http.js';

const { values } = parseArgs({ options: { users: { type: 'string', default: '100000' } } });
const count = Number(values.users);
const sink = 'crm-sink1@contoso.com';
const refreshDate = '2026-11-30';

async function writeLines(file: string, header: string, line: (i: number) => string): Promise<void> {
  const out = createWriteStream(file);
  out.write(`${header}\r\n`);
  for (let i = 0; i < count; i++)
    if (!out.write(`${line(i)}\r\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  out.end();
  await finished(out);
}

const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-bench-capacity-'));
try {
  const random = seededRandom(9);
  const perDay = Array.from({ length: count }, () => (random() < 0.03 ? 300 + random() * 3000 : 20 + random() * 130));
  await writeLines(path.join(dir, 'users.csv'), 'email,displayName,target', (i) =>
    [`user${i}@contoso.com`, `User ${i}`, i % 20 < 3 ? 'ews' : 'graph'].join(','),
  );
  await writeLines(
    path.join(dir, 'volumes.csv'),
    '\uFEFFReport Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,' +
      'Send Count,Receive Count,Read Count,Meeting Created Count,Meeting Interacted Count,' +
      'Assigned Products,Report Period',
    (i) =>
      `${refreshDate},user${i}@contoso.com,User ${i},False,,${refreshDate},0,${Math.round(perDay[i]! * 21)},0,0,0,,30`,
  );
  await writeFile(path.join(dir, 'sinkrule.config.json'), JSON.stringify({ sink }));
  const base = ['capacity', '--users', 'users.csv', '--config', 'sinkrule.config.json', '--volumes', 'volumes.csv'];
  const measure = async (label: string, args: string[]) => {
    const started = performance.now();
    const result = await runCli([...base, ...args, '--output', 'json'], { cwd: dir, timeoutInMs: 600_000 });
    const wallInS = (performance.now() - started) / 1000;
    if (result.code === 1) throw new Error(`${label}: ${result.stderr}`);
    const plan = JSON.parse(result.stdout) as {
      sinksNeeded: number;
      tooBusy: unknown[];
      moved: number;
      reassigned: number;
      durationInMs: number;
      peakRssInMb: number;
    };
    return { label, wallInS, ...plan };
  };
  const first = await measure('plan', []);
  const sinks = Array.from({ length: first.sinksNeeded }, (_, i) => `crm-sink${i + 1}@contoso.com`).join(',');
  const spread = await measure('spread --out', ['--sinks', sinks, '--out', 'spread.csv']);
  console.log(`sinkrule capacity, ${count} users from a --volumes file (load ${loadavg()[0]!.toFixed(2)})\n`);
  console.log('| run | sinks needed | too busy | given a sink | wall s | command s | peak RSS MB |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const row of [first, spread])
    console.log(
      `| ${row.label} | ${row.sinksNeeded} | ${row.tooBusy.length} | ${row.reassigned} | ${row.wallInS.toFixed(2)} | ` +
        `${(row.durationInMs / 1000).toFixed(2)} | ${row.peakRssInMb} |`,
    );
} finally {
  await rm(dir, { recursive: true, force: true });
}
