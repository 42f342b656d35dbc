/**
 * `npm run bench:soc`: how long writing the SOC pack takes, and how big it is, for a deploy to N
 * mailboxes (default 100,000), from a synthetic report folder (the run itself is measured by
 * `npm run bench`). Prints the figures; asserts nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeSocPack } from '../src/soc/pack.js';
import { writeSyntheticDeployReport } from '../test/helpers/synthetic-report.js';

const { values } = parseArgs({ options: { mailboxes: { type: 'string', default: '100000' } } });
const mailboxes = Number(values.mailboxes);
const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-soc-bench-'));
try {
  const report = path.join(dir, 'report');
  await writeSyntheticDeployReport(report, mailboxes, 'crm-sink@contoso.com');
  const started = performance.now();
  const cpu = process.cpuUsage();
  const { manifest } = await writeSocPack(report, { clock: Date.now, env: { SINKRULE_STATE_DIR: dir } });
  const elapsedInMs = Math.round(performance.now() - started);
  const used = process.cpuUsage(cpu);
  const csvBytes = manifest.watchlist.reduce((sum, part) => sum + part.bytes, 0);
  console.log(
    JSON.stringify(
      {
        mailboxes,
        watchlistRows: manifest.watchlist.reduce((sum, part) => sum + part.rows, 0),
        parts: manifest.watchlist.length,
        csvMB: Math.round(csvBytes / 1e4) / 100,
        templates: manifest.templates.map((t) => `${t.file} ${Math.round(t.bytes / 1e4) / 100} MB`),
        elapsedInMs,
        cpuInMs: Math.round((used.user + used.system) / 1000),
        peakRssInMb: Math.round(process.resourceUsage().maxRSS / 1024),
      },
      null,
      2,
    ),
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
