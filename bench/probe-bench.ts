/**
 * npm run bench:probe [-- --mailboxes N --latency-ms L --ceiling R --delivery-ms D --poll-ms P]
 *
 * The live probe at scale: runs the built CLI (`sinkrule probe`, a separate process) against the
 * Graph simulator with N mailboxes that all hold the working rule, per-request latency, mail that
 * takes D ms to arrive and an app-wide request ceiling. Prints one table: wall time, probes per
 * second, Graph requests per probed mailbox (send, polls, the attached item, clean-up), throttling
 * and requests sent inside a Retry-After window (must be 0: probes go through the throttle gate).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../test/helpers/cli.js';
import { GraphSimulator } from '../simulators/graph/graph-simulator.js';
import { correctSinkRule } from '../simulators/scenarios.js';
import { createLocalCertificate } from '../simulators/tls.js';

const { values } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '1000' },
    'latency-ms': { type: 'string', default: '50' },
    ceiling: { type: 'string', default: '1000' },
    'delivery-ms': { type: 'string', default: '2000' },
    'poll-ms': { type: 'string', default: '1000' },
  },
});
const mailboxes = Number(values.mailboxes);
const sink = 'crm-sink@contoso.com';
const probeFrom = 'sinkrule-probe@contoso.com';

const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-probe-bench-'));
const certificate = await createLocalCertificate(dir);
const app = {
  tenantId: randomUUID(),
  clientId: randomUUID(),
  clientSecret: randomBytes(16).toString('hex'),
  roles: ['MailboxSettings.ReadWrite', 'Mail.Send', 'Mail.ReadWrite'],
};
const emails = Array.from({ length: mailboxes }, (_, i) => `user${i}@contoso.com`);
const sim = new GraphSimulator({
  certificate,
  app,
  mailboxes: [sink, probeFrom]
    .map((email) => ({ email, kind: 'exchange-online' as const }))
    .concat(emails.map((email) => ({ email, kind: 'exchange-online' as const, rules: [correctSinkRule(sink)] }))),
  latencyInMs: Number(values['latency-ms']),
  latencyJitterInMs: Number(values['latency-ms']) / 2,
  requestsPerSecond: Number(values.ceiling),
  deliveryDelayInMs: Number(values['delivery-ms']),
});
const url = await sim.start();
try {
  await writeFile(path.join(dir, 'users.csv'), `email\n${emails.join('\n')}\n`);
  const config = {
    sink,
    graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: url, baseUrl: url },
    probe: { from: probeFrom, timeoutInS: 300, pollIntervalInMs: Number(values['poll-ms']) },
  };
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
  const started = Date.now();
  const result = await runCli(
    ['probe', '--users', 'users.csv', '--config', 'config.json', '--report', 'r', '--output', 'json'],
    { cwd: dir, env: { NODE_EXTRA_CA_CERTS: certificate.caFile, SINKRULE_CLIENT_SECRET: app.clientSecret } },
  );
  const wallInS = (Date.now() - started) / 1000;
  if (!result.stdout) throw new Error(`probe failed (exit ${result.code}): ${result.stderr.slice(0, 2000)}`);
  const summary = JSON.parse(result.stdout) as { counts: Record<string, number>; peakRssInMb: number };
  const report = JSON.parse(await readFile(path.join(dir, 'r', 'report.json'), 'utf8')) as {
    mailboxes: Array<{ probe: { cleanedUp: boolean } }>;
  };
  const row = {
    mailboxes,
    exitCode: result.code,
    succeeded: summary.counts['probe-success'] ?? 0,
    wallInS: Math.round(wallInS * 10) / 10,
    probesPerSecond: Math.round((mailboxes / wallInS) * 10) / 10,
    graphRequestsPerMailbox: Math.round((sim.stats.requests / mailboxes) * 10) / 10,
    throttled: sim.stats.throttled,
    insideWindow: sim.stats.insideRetryAfterWindow,
    cleanedUp: report.mailboxes.filter((m) => m.probe.cleanedUp).length,
    peakRssInMb: summary.peakRssInMb,
  };
  console.log(
    `probe: ${mailboxes} mailboxes, latency ${values['latency-ms']} ms, ceiling ${values.ceiling} req/s, ` +
      `delivery ${values['delivery-ms']} ms, poll ${values['poll-ms']} ms`,
  );
  console.table([row]);
} finally {
  await sim.stop();
  await rm(dir, { recursive: true, force: true });
}
