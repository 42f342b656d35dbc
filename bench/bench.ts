/**
 * npm run bench [-- --mailboxes N --latency-ms L --ceiling R --ews-ceiling R --only graph|ews]
 *
 * Runs the built CLI (a separate process, as an admin would) against the local simulators with an
 * app-wide request ceiling, N mailboxes without the rule, per-request latency and 1 % 503s:
 * `deploy --yes`, then `verify`, then a one-mailbox-at-a-time client (`--concurrency 1`) on a
 * sample. Prints one table. Efficiency = ideal time ÷ wall time, where ideal = the minimum number
 * of requests ÷ the ceiling (2 per new mailbox for deploy: read + create; 1 for verify). Figures
 * are measured in one run on the same machine, so compare ratios, not absolute times.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../test/helpers/cli.js';
import { EwsSimulator } from '../simulators/ews/ews-simulator.js';
import { EwsSchemaValidator, ewsSchemaDir } from '../simulators/ews/schema-validator.js';
import { GraphSimulator } from '../simulators/graph/graph-simulator.js';
import { createLocalCertificate, type LocalCertificate } from '../simulators/tls.js';

const { values } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '10000' },
    'latency-ms': { type: 'string', default: '50' },
    'jitter-ms': { type: 'string', default: '25' },
    ceiling: { type: 'string', default: '1000' },
    'ews-ceiling': { type: 'string', default: '250' },
    'failure-rate': { type: 'string', default: '0.01' },
    sample: { type: 'string', default: '100' },
    only: { type: 'string' },
    'graph-batch': { type: 'string', default: '4' },
    'graph-concurrency': { type: 'string', default: '256' },
  },
});
const settings = {
  mailboxes: Number(values.mailboxes),
  latencyInMs: Number(values['latency-ms']),
  jitterInMs: Number(values['jitter-ms']),
  ceiling: Number(values.ceiling),
  ewsCeiling: Number(values['ews-ceiling']),
  failureRate: Number(values['failure-rate']),
  sample: Number(values.sample),
  graphBatch: Number(values['graph-batch']),
  graphConcurrency: Number(values['graph-concurrency']),
};
const sink = 'crm-sink@contoso.com';

interface Row {
  backEnd: string;
  command: string;
  mailboxes: number;
  wallInS: number;
  perSecond: number;
  efficiency: number | undefined;
  speedUp: number | undefined;
  throttled: number;
  insideWindow: number;
  failed: number;
  peakRssInMb: number;
  eventLoopDelayP99InMs: number;
}

/** One back end's simulator, as the bench needs it. */
interface Estate {
  config: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  throttled(): number;
  insideWindow(): number;
  stop(): Promise<void>;
}

type EstateFactory = (emails: string[], certificate: LocalCertificate) => Promise<Estate>;

const graphEstate: EstateFactory = async (emails, certificate) => {
  const app = { tenantId: randomUUID(), clientId: randomUUID(), clientSecret: randomBytes(16).toString('hex'), roles: ['MailboxSettings.ReadWrite'] };
  const sim = new GraphSimulator({
    certificate,
    app,
    mailboxes: emails.map((email) => ({ email, kind: 'exchange-online' as const })),
    latencyInMs: settings.latencyInMs,
    latencyJitterInMs: settings.jitterInMs,
    requestsPerSecond: settings.ceiling,
    serviceUnavailableRate: settings.failureRate,
  });
  const url = await sim.start();
  return {
    config: { graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: url, baseUrl: url, batchSize: settings.graphBatch, concurrency: settings.graphConcurrency } },
    env: { SINKRULE_CLIENT_SECRET: app.clientSecret },
    throttled: () => sim.stats.throttled,
    insideWindow: () => sim.stats.insideRetryAfterWindow,
    stop: () => sim.stop(),
  };
};

let validator: Promise<EwsSchemaValidator | undefined> | undefined;
const ewsEstate: EstateFactory = async (emails, certificate) => {
  const schemaDir = ewsSchemaDir();
  validator ??= schemaDir ? EwsSchemaValidator.start(schemaDir).catch(() => undefined) : Promise.resolve(undefined);
  const account = { username: 'CONTOSO\\svc-sinkrule', password: randomBytes(12).toString('hex') };
  const sim = new EwsSimulator({
    certificate,
    account,
    validator: await validator,
    mailboxes: emails.map((email) => ({ email })),
    latencyInMs: settings.latencyInMs,
    latencyJitterInMs: settings.jitterInMs,
    requestsPerSecond: settings.ewsCeiling,
    serviceUnavailableRate: settings.failureRate,
  });
  const url = await sim.start();
  return {
    config: { defaultTarget: 'ews', ews: { url, username: account.username, concurrency: 27 } },
    env: { SINKRULE_EWS_PASSWORD: account.password },
    throttled: () => sim.stats.byResponseCode.ErrorServerBusy ?? 0,
    insideWindow: () => sim.stats.insideBackOffWindow,
    stop: () => sim.stop(),
  };
};

async function runCommand(dir: string, estate: Estate, command: string, extra: string[], certificate: LocalCertificate) {
  const started = performance.now();
  const result = await runCli([command, '--users', 'users.csv', '--config', 'config.json', '--output', 'json', '--report', `report-${command}`, ...extra], {
    cwd: dir,
    env: { NODE_EXTRA_CA_CERTS: certificate.caFile, ...estate.env },
  });
  const wallInS = (performance.now() - started) / 1000;
  if (result.code === 1) throw new Error(`sinkrule ${command} failed: ${result.stderr}`);
  return { wallInS, summary: JSON.parse(result.stdout) as { counts: Record<string, number>; peakRssInMb: number; eventLoopDelayP99InMs: number } };
}

async function measure(backEnd: string, factory: EstateFactory, ceiling: number, certificate: LocalCertificate): Promise<Row[]> {
  const rows: Row[] = [];
  const sequential = await run(settings.sample, ['deploy', '--yes', '--concurrency', '1'], 'sequential');
  const sequentialRate = settings.sample / sequential[0]!.wallInS;
  rows.push({ ...sequential[0]!, command: 'deploy, one mailbox at a time', efficiency: undefined, speedUp: 1 });
  const parallel = await run(settings.mailboxes, ['deploy', '--yes'], 'parallel', ['verify']);
  for (const row of parallel) {
    const requestsPerMailbox = row.command === 'deploy' ? 2 : 1;
    rows.push({ ...row, efficiency: (row.mailboxes * requestsPerMailbox) / ceiling / row.wallInS, speedUp: row.command === 'deploy' ? row.perSecond / sequentialRate : undefined });
  }
  return rows;

  async function run(count: number, deployArgs: string[], label: string, more: string[] = []): Promise<Row[]> {
    const dir = await mkdtemp(path.join(tmpdir(), `sinkrule-bench-${backEnd}-${label}-`));
    const emails = Array.from({ length: count }, (_, i) => `user${i}@contoso.com`);
    const estate = await factory(emails, certificate);
    const result: Row[] = [];
    try {
      await writeFile(path.join(dir, 'users.csv'), `email\n${emails.join('\n')}\n`);
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ sink, ...estate.config }));
      for (const [command, args] of [[deployArgs[0]!, deployArgs.slice(1)] as const, ...more.map((c) => [c, []] as const)]) {
        const before = { throttled: estate.throttled(), inside: estate.insideWindow() };
        const { wallInS, summary } = await runCommand(dir, estate, command, [...args], certificate);
        result.push({
          backEnd,
          command,
          mailboxes: count,
          wallInS,
          perSecond: count / wallInS,
          efficiency: undefined,
          speedUp: undefined,
          throttled: estate.throttled() - before.throttled,
          insideWindow: estate.insideWindow() - before.inside,
          failed: summary.counts.failed ?? 0,
          peakRssInMb: summary.peakRssInMb,
          eventLoopDelayP99InMs: summary.eventLoopDelayP99InMs,
        });
        process.stderr.write(`  ${backEnd} ${command} ${count} mailboxes: ${wallInS.toFixed(1)} s\n`);
      }
    } finally {
      await estate.stop();
      await rm(dir, { recursive: true, force: true });
    }
    return result;
  }
}

function printTable(rows: Row[]): void {
  const header = ['back end', 'command', 'mailboxes', 'wall s', 'mailboxes/s', 'efficiency', 'speed-up', '429 / ServerBusy', 'sent inside window', 'failed', 'peak RSS MB', 'client event-loop delay p99 ms'];
  const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '–' : n.toFixed(digits));
  const lines = rows.map((r) => [r.backEnd, r.command, String(r.mailboxes), fmt(r.wallInS, 1), fmt(r.perSecond, 1), fmt(r.efficiency), r.speedUp === undefined ? '–' : `${r.speedUp.toFixed(1)}×`, String(r.throttled), String(r.insideWindow), String(r.failed), String(r.peakRssInMb), String(r.eventLoopDelayP99InMs)]);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const line of lines) console.log(`| ${line.join(' | ')} |`);
}

const certificate = await createLocalCertificate();
process.stderr.write(
  `sinkrule bench: ${settings.mailboxes} mailboxes, latency ${settings.latencyInMs} ± ${settings.jitterInMs} ms, ${settings.failureRate * 100} % 503s, ` +
    `Graph ceiling ${settings.ceiling} req/s (4 concurrent per mailbox; client batch size ${settings.graphBatch}, concurrency ${settings.graphConcurrency}), EWS ServerBusy budget ${settings.ewsCeiling} req/s, sequential sample ${settings.sample}\n`,
);
const rows: Row[] = [];
if (values.only !== 'ews') rows.push(...(await measure('graph', graphEstate, settings.ceiling, certificate)));
if (values.only !== 'graph') rows.push(...(await measure('ews', ewsEstate, settings.ewsCeiling, certificate)));
(await validator)?.stop();
printTable(rows);
