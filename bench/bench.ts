/**
 * npm run bench [-- options]: throughput at a throttle ceiling, and offline validation of a large users file.
 *
 *   --backends graph,ews       back ends to measure                      (default graph,ews)
 *   --mailboxes 10000,100000   estate sizes                              (default 10000)
 *   --ceilings 200,500         Graph app-wide ceilings, requests/s      (default 200,500)
 *   --ews-ceilings 200         EWS ErrorServerBusy budgets, requests/s  (default 200)
 *   --shapes bucket-debt,bucket,fixed-window,sliding-window,drop   Graph limiter shapes (simulators/limiters.ts;
 *                              drop: a debt bucket whose ceiling halves at 30 % of the ideal time, back at 60 %)
 *   --bursts 0.1               token buckets: the burst as a share of a second's rate (e.g. 0.01,0.1,1)
 *   --runs 3                   runs of each cell (min / median / max)
 *   --busy                     a second CPU-bound process runs beside the bench
 *   --commands deploy,verify   commands timed at each size and ceiling
 *   --sample 100               mailboxes for the one-mailbox-at-a-time client (0: skip)
 *   --validate-rows 1000000    rows for `sinkrule validate` (0: skip)
 *   --capacity-users 100000    users for `sinkrule capacity` (bench/capacity-bench.ts; 0: skip)
 *   --save FILE                also write the rows as JSON (for --merge)
 *   --merge A.json,B.json      print one table from saved rows, run nothing
 *   --latency-ms 50 --jitter-ms 25 --failure-rate 0.01 --graph-batch 4 --graph-concurrency 256
 *   --reference 0.9            also run bench/fixed-rate-client.ts at 0.9 × the ceiling in each Graph cell:
 *                              what this machine lets a client that knows the ceiling reach (0: skip)
 *
 * Runs the built CLI (a separate process, as an admin would) against the local simulators, which
 * answer an app-wide 429 with a Retry-After in whole seconds (EWS: ErrorServerBusy with
 * BackOffMilliseconds ≥ 1000), with N mailboxes without the rule. Efficiency = ideal time ÷ wall
 * time of the whole command (process start to exit), ideal = minimum requests ÷ ceiling (per new
 * mailbox, deploy: read + create, and for EWS a read-back; verify: one read). Each estate's verify
 * runs after its deploy, as an admin runs them, so it starts at the pace the deploy learnt (the
 * "start pace" column says which). Speed-up is over the one-mailbox-at-a-time client; "allowed" is what
 * the ceiling allows (ceiling ÷ requests per mailbox ÷ the sequential rate); the target is ≥ 0.9 of
 * it. The machine's 1-minute load average is printed beside each row: the machine is shared.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCli } from '../test/helpers/cli.js';
import { EwsSimulator } from '../simulators/ews/ews-simulator.js';
import { EwsSchemaValidator, ewsSchemaDir } from '../simulators/ews/schema-validator.js';
import { GraphSimulator } from '../simulators/graph/graph-simulator.js';
import { createLocalCertificate, type LocalCertificate } from '../simulators/tls.js';
import type { LimiterOptions } from '../simulators/limiters.js';
import {
  allowedRequests,
  atDefaultPriority,
  limiterCells,
  raiseSimulatorPriority,
  limiterFor,
  spread,
  startBusyNeighbour,
  type LimiterCell,
} from './pacing-cells.js';

const { values } = parseArgs({
  options: {
    backends: { type: 'string', default: 'graph,ews' },
    mailboxes: { type: 'string', default: '10000' },
    ceilings: { type: 'string', default: '200,500' },
    'ews-ceilings': { type: 'string', default: '200' },
    shapes: { type: 'string', default: 'bucket-debt,bucket,fixed-window,sliding-window,drop' },
    bursts: { type: 'string', default: '0.1' },
    runs: { type: 'string', default: '3' },
    busy: { type: 'boolean', default: false },
    commands: { type: 'string', default: 'deploy,verify' },
    sample: { type: 'string', default: '100' },
    'validate-rows': { type: 'string', default: '1000000' },
    'capacity-users': { type: 'string', default: '100000' },
    save: { type: 'string' },
    merge: { type: 'string' },
    'latency-ms': { type: 'string', default: '50' },
    'jitter-ms': { type: 'string', default: '25' },
    'failure-rate': { type: 'string', default: '0.01' },
    'graph-batch': { type: 'string', default: '4' },
    'graph-concurrency': { type: 'string', default: '256' },
    reference: { type: 'string', default: '0' },
  },
});
const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const numbers = (text: string) => list(text).map(Number);
const settings = {
  backEnds: list(values.backends),
  mailboxes: numbers(values.mailboxes),
  ceilings: numbers(values.ceilings),
  ewsCeilings: numbers(values['ews-ceilings']),
  cells: limiterCells(list(values.shapes), numbers(values.bursts)),
  bursts: numbers(values.bursts),
  runs: Number(values.runs),
  busy: values.busy,
  commands: list(values.commands),
  sample: Number(values.sample),
  validateRows: Number(values['validate-rows']),
  capacityUsers: Number(values['capacity-users']),
  latencyInMs: Number(values['latency-ms']),
  jitterInMs: Number(values['jitter-ms']),
  failureRate: Number(values['failure-rate']),
  graphBatch: Number(values['graph-batch']),
  referenceShare: Number(values.reference),
  graphConcurrency: Number(values['graph-concurrency']),
};
const sink = 'crm-sink@contoso.com';
/**
 * Requests a command needs at least, per mailbox without the rule: a deploy reads the rules and
 * creates one (EWS: and reads them once more, because UpdateInboxRules answers without the new
 * rule's id, which the report and rollback need); a verify reads them.
 */
const requestsPerMailbox = (backEnd: string, command: string) =>
  command === 'deploy' ? (backEnd === 'ews' ? 3 : 2) : 1;

interface Row {
  backEnd: string;
  /** The limiter the cell ran against (pacing-cells.ts). */
  limiter?: string;
  command: string;
  mailboxes: number;
  ceiling?: number;
  wallInS: number;
  perSecond: number;
  efficiency?: number;
  speedUp?: number;
  allowedSpeedUp?: number;
  throttled?: number;
  insideWindow?: number;
  failed?: number;
  finalPace?: string;
  /** Where the pace started: a slow start, or the pace an earlier run (the deploy before) learnt. */
  start?: string;
  requestsPerMailbox?: number;
  peakRssInMb: number;
  eventLoopDelayP99InMs?: number;
  /** CPU seconds the CLI used: beside the wall time, shows a client short of CPU. */
  cpuInS?: number;
  load: string;
}

interface Summary {
  counts: Record<string, number>;
  cpuInS: number;
  peakRssInMb: number;
  eventLoopDelayP99InMs: number;
  backEnds: Record<
    string,
    { finalRequestsPerSecond: number; throttled: number; startedFrom: string; startRequestsPerSecond: number }
  >;
}

/** One back end's simulator, as the bench needs it. */
interface Estate {
  config: Record<string, unknown>;
  env: NodeJS.ProcessEnv;
  throttled(): number;
  insideWindow(): number;
  /** The ceiling starts afresh (a drop cell's schedule runs from now). */
  restartLimiter(limiter: Pick<LimiterOptions, 'shape' | 'schedule'>): void;
  /** Runs bench/fixed-rate-client.ts for `requests` reads at `rate` (Graph only). */
  reference?(rate: number, requests: number, certificate: LocalCertificate): Promise<ReferenceResult>;
  stop(): Promise<void>;
}

interface ReferenceResult {
  wallInS: number;
  accepted: number;
  refused: number;
  /** Requests that failed (5xx, reset) and were sent again. */
  failed: number;
  windows: number;
}

type EstateFactory = (
  emails: string[],
  ceiling: number,
  cell: LimiterCell,
  certificate: LocalCertificate,
) => Promise<Estate>;

const burstOf = (cell: LimiterCell, ceiling: number) =>
  cell.burstShare === undefined ? undefined : Math.max(1, Math.round(cell.burstShare * ceiling));

const graphEstate: EstateFactory = async (emails, ceiling, cell, certificate) => {
  const app = {
    tenantId: randomUUID(),
    clientId: randomUUID(),
    clientSecret: randomBytes(16).toString('hex'),
    roles: ['MailboxSettings.ReadWrite'],
  };
  const sim = new GraphSimulator({
    certificate,
    app,
    mailboxes: emails.map((email) => ({ email, kind: 'exchange-online' as const })),
    latencyInMs: settings.latencyInMs,
    latencyJitterInMs: settings.jitterInMs,
    requestsPerSecond: ceiling,
    burst: burstOf(cell, ceiling),
    limiter: { shape: cell.shape },
    serviceUnavailableRate: settings.failureRate,
  });
  const url = await sim.start();
  return {
    restartLimiter: (limiter) => sim.restartLimiter(limiter),
    config: {
      graph: {
        tenantId: app.tenantId,
        clientId: app.clientId,
        authorityHost: url,
        baseUrl: url,
        batchSize: settings.graphBatch,
        concurrency: settings.graphConcurrency,
      },
    },
    env: { SINKRULE_CLIENT_SECRET: app.clientSecret },
    reference: (rate, requests, certificate) =>
      runReference(certificate, { SINKRULE_CLIENT_SECRET: app.clientSecret }, [
        ...['--url', url, '--tenant', app.tenantId, '--client-id', app.clientId, '--resource', sim.resource],
        ...['--rate', String(rate), '--requests', String(requests), '--mailboxes', String(emails.length)],
      ]),
    throttled: () => sim.stats.throttled,
    insideWindow: () => sim.stats.insideRetryAfterWindow,
    stop: () => sim.stop(),
  };
};

let validator: Promise<EwsSchemaValidator | undefined> | undefined;
const ewsEstate: EstateFactory = async (emails, ceiling, cell, certificate) => {
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
    requestsPerSecond: ceiling,
    burst: burstOf(cell, ceiling),
    limiter: { shape: cell.shape },
    serviceUnavailableRate: settings.failureRate,
  });
  const url = await sim.start();
  return {
    restartLimiter: (limiter) => sim.restartLimiter(limiter),
    config: { defaultTarget: 'ews', ews: { url, username: account.username, concurrency: 27 } },
    env: { SINKRULE_EWS_PASSWORD: account.password },
    throttled: () => sim.stats.byResponseCode.ErrorServerBusy ?? 0,
    insideWindow: () => sim.stats.insideBackOffWindow,
    stop: () => sim.stop(),
  };
};

const load = () => loadavg()[0]!.toFixed(1);

async function runCommand(
  dir: string,
  env: NodeJS.ProcessEnv,
  command: string,
  extra: string[],
  certificate: LocalCertificate,
) {
  const started = performance.now();
  const result = await atDefaultPriority(() =>
    runCli([command, ...extra, '--output', 'json'], {
      cwd: dir,
      env: { NODE_EXTRA_CA_CERTS: certificate.caFile, ...env },
    }),
  );
  const wallInS = (performance.now() - started) / 1000;
  if (result.code === 1 && command !== 'validate') throw new Error(`sinkrule ${command} failed: ${result.stderr}`);
  return { wallInS, result };
}

/** The reference client in its own process, as the CLI runs: wall time from its start to its exit. */
async function runReference(
  certificate: LocalCertificate,
  env: NodeJS.ProcessEnv,
  args: string[],
): Promise<ReferenceResult> {
  const script = fileURLToPath(new URL('./fixed-rate-client.js', import.meta.url));
  const started = performance.now();
  const child = atDefaultPriority(() =>
    spawn(process.execPath, [script, ...args], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: certificate.caFile, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => child.on('close', resolve).on('error', reject));
  const wallInS = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`fixed-rate-client exited with ${code}`);
  return { wallInS, ...(JSON.parse(stdout) as Omit<ReferenceResult, 'wallInS'>) };
}

/** Runs `commands` in order against a fresh estate of `count` mailboxes. */
async function runEstate(
  backEnd: string,
  factory: EstateFactory,
  count: number,
  ceiling: number,
  commands: Array<[string, string[]]>,
  certificate: LocalCertificate,
  cell: LimiterCell = { label: 'bucket-debt', shape: 'bucket-debt', drop: false },
): Promise<Row[]> {
  const dir = await mkdtemp(path.join(tmpdir(), `sinkrule-bench-${backEnd}-`));
  const emails = Array.from({ length: count }, (_, i) => `user${i}@contoso.com`);
  const estate = await factory(emails, ceiling, cell, certificate);
  const rows: Row[] = [];
  try {
    await writeFile(path.join(dir, 'users.csv'), `email\n${emails.join('\n')}\n`);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ sink, ...estate.config }));
    for (const [command, args] of commands) {
      const before = { throttled: estate.throttled(), inside: estate.insideWindow(), load: load() };
      const perMailbox = requestsPerMailbox(backEnd, command);
      const idealInS = (count * perMailbox) / ceiling;
      estate.restartLimiter(limiterFor(cell, idealInS));
      const { wallInS, result } = await runCommand(
        dir,
        estate.env,
        command,
        ['--users', 'users.csv', '--config', 'config.json', '--report', `report-${command}`, ...args],
        certificate,
      );
      const summary = JSON.parse(result.stdout) as Summary;
      const gate = summary.backEnds[backEnd];
      rows.push({
        backEnd,
        limiter: cell.label,
        command,
        mailboxes: count,
        ceiling,
        requestsPerMailbox: perMailbox,
        // Against the area under the ceiling (a drop cell's changes), from process start to exit.
        efficiency: (count * perMailbox) / allowedRequests(cell, ceiling, idealInS, wallInS),
        wallInS,
        perSecond: count / wallInS,
        throttled: estate.throttled() - before.throttled,
        insideWindow: estate.insideWindow() - before.inside,
        failed: summary.counts.failed ?? 0,
        finalPace: gate ? String(gate.finalRequestsPerSecond) : '–',
        start: gate ? `${gate.startedFrom} ${gate.startRequestsPerSecond}` : '–',
        peakRssInMb: summary.peakRssInMb,
        eventLoopDelayP99InMs: summary.eventLoopDelayP99InMs,
        cpuInS: summary.cpuInS,
        load: `${before.load}–${load()}`,
      });
      process.stderr.write(
        `  ${backEnd} ${cell.label} ${command} ${count} mailboxes at ${ceiling} req/s: ${wallInS.toFixed(1)} s, ` +
          `efficiency ${rows.at(-1)!.efficiency!.toFixed(3)}, 429 ${rows.at(-1)!.throttled}, ` +
          `inside ${rows.at(-1)!.insideWindow} (load ${load()})\n`,
      );
    }
    if (settings.referenceShare > 0 && estate.reference)
      rows.push(await reference(estate, cell, count, ceiling, certificate));
  } finally {
    await estate.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * `--reference share`: the fixed-rate client at share × the ceiling, a verify's requests, against the
 * cell's limiter afresh; efficiency measured as the CLI's (process start to exit, area under the ceiling).
 */
async function reference(
  estate: Estate,
  cell: LimiterCell,
  count: number,
  ceiling: number,
  certificate: LocalCertificate,
): Promise<Row> {
  const before = { throttled: estate.throttled(), inside: estate.insideWindow(), load: load() };
  const idealInS = count / ceiling;
  estate.restartLimiter(limiterFor(cell, idealInS));
  const rate = settings.referenceShare * ceiling;
  const result = await estate.reference!(rate, count, certificate);
  const row: Row = {
    backEnd: 'graph',
    limiter: cell.label,
    command: `fixed-rate client, ${settings.referenceShare} × ceiling`,
    mailboxes: count,
    ceiling,
    requestsPerMailbox: 1,
    efficiency: count / allowedRequests(cell, ceiling, idealInS, result.wallInS),
    wallInS: result.wallInS,
    perSecond: count / result.wallInS,
    throttled: estate.throttled() - before.throttled,
    insideWindow: estate.insideWindow() - before.inside,
    failed: 0,
    finalPace: String(Math.round(rate)),
    start: 'known',
    peakRssInMb: 0,
    load: `${before.load}–${load()}`,
  };
  process.stderr.write(
    `  graph ${cell.label} fixed-rate client at ${Math.round(rate)} req/s: ${result.wallInS.toFixed(1)} s, ` +
      `efficiency ${row.efficiency!.toFixed(3)}, 429 ${row.throttled} in ${result.windows} window(s)\n`,
  );
  return row;
}

async function measure(
  backEnd: string,
  factory: EstateFactory,
  ceilings: number[],
  certificate: LocalCertificate,
): Promise<Row[]> {
  const rows: Row[] = [];
  let sequentialRate: number | undefined;
  if (settings.sample > 0) {
    const [sequential] = await runEstate(
      backEnd,
      factory,
      settings.sample,
      Math.max(...ceilings),
      [['deploy', ['--yes', '--concurrency', '1']]],
      certificate,
    );
    sequentialRate = sequential!.perSecond;
    rows.push({ ...sequential!, command: 'deploy, one mailbox at a time', speedUp: 1 });
  }
  // EWS answers ServerBusy from its own budget: the shapes are Graph's (the one service that
  // documents only Retry-After).
  const ewsCell: LimiterCell = {
    label: 'bucket-debt',
    shape: 'bucket-debt',
    burstShare: settings.bursts[0],
    drop: false,
  };
  const cells = backEnd === 'graph' ? settings.cells : [ewsCell];
  for (const count of settings.mailboxes)
    for (const cell of cells)
      for (const ceiling of ceilings)
        for (let run = 0; run < settings.runs; run++) {
          const commands = settings.commands.map((c): [string, string[]] => [c, c === 'verify' ? [] : ['--yes']]);
          for (const row of await runEstate(backEnd, factory, count, ceiling, commands, certificate, cell)) {
            if (sequentialRate && row.command === 'deploy') {
              row.speedUp = row.perSecond / sequentialRate;
              row.allowedSpeedUp = ceiling / row.requestsPerMailbox! / sequentialRate;
            }
            rows.push(row);
          }
        }
  return rows;
}

/** `sinkrule validate` on a generated users file of `rows` rows: rows/s and peak RSS. */
async function measureValidate(rows: number): Promise<Row> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-bench-validate-'));
  try {
    const out = createWriteStream(path.join(dir, 'users.csv'));
    out.write('email,displayName,target\n');
    for (let i = 0; i < rows; i++) {
      if (!out.write(`user${i}@contoso.com,User ${i},${i % 10 === 0 ? 'ews' : 'graph'}\n`))
        await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve) => out.end(() => resolve()));
    const config = {
      sink,
      graph: { tenantId: randomUUID(), clientId: randomUUID() },
      ews: { url: 'https://mail.contoso.com/EWS/Exchange.asmx', username: 'CONTOSO\\svc-sinkrule' },
    };
    await writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    const before = load();
    const started = performance.now();
    // The credentials a deploy would need are part of the check (validate makes no request with them).
    const env = {
      SINKRULE_CLIENT_SECRET: randomBytes(16).toString('hex'),
      SINKRULE_EWS_PASSWORD: randomBytes(12).toString('hex'),
    };
    const result = await runCli(['validate', '--users', 'users.csv', '--config', 'config.json', '--output', 'json'], {
      cwd: dir,
      env,
    });
    const wallInS = (performance.now() - started) / 1000;
    if (result.code !== 0) throw new Error(`sinkrule validate failed: ${result.stderr.slice(0, 2000)}`);
    const summary = JSON.parse(result.stdout) as { peakRssInMb: number };
    process.stderr.write(`  validate ${rows} rows: ${wallInS.toFixed(1)} s\n`);
    return {
      backEnd: 'none (offline)',
      command: 'validate',
      mailboxes: rows,
      wallInS,
      perSecond: rows / wallInS,
      peakRssInMb: summary.peakRssInMb,
      load: `${before}–${load()}`,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function printTable(rows: Row[]): void {
  const header = [
    'back end',
    'limiter',
    'command',
    'mailboxes',
    'ceiling req/s',
    'min requests per mailbox',
    'wall s',
    'mailboxes/s',
    'efficiency',
    'speed-up',
    'allowed',
    'speed-up ÷ allowed',
    'start pace req/s',
    '429 / ServerBusy',
    'sent inside window',
    'failed',
    'final pace req/s',
    'peak RSS MB',
    'event-loop p99 ms',
    'client CPU s',
    'load avg',
  ];
  const fmt = (n: number | undefined, digits = 2) => (n === undefined ? '–' : n.toFixed(digits));
  const times = (n: number | undefined) => (n === undefined ? '–' : `${n.toFixed(1)}×`);
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const r of rows) {
    const ratio = r.speedUp !== undefined && r.allowedSpeedUp !== undefined ? r.speedUp / r.allowedSpeedUp : undefined;
    const cells = [
      r.backEnd,
      r.limiter ?? '–',
      r.command,
      String(r.mailboxes),
      r.ceiling === undefined || r.command.includes('one mailbox') ? '–' : String(r.ceiling),
      String(r.requestsPerMailbox ?? '–'),
      fmt(r.wallInS, 1),
      fmt(r.perSecond, 1),
      fmt(r.efficiency),
      times(r.speedUp),
      times(r.allowedSpeedUp),
      fmt(ratio),
      r.start ?? '–',
      String(r.throttled ?? '–'),
      String(r.insideWindow ?? '–'),
      String(r.failed ?? '–'),
      r.finalPace ?? '–',
      String(r.peakRssInMb),
      String(r.eventLoopDelayP99InMs ?? '–'),
      fmt(r.cpuInS, 1),
      r.load,
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

/** One line per cell (back end, limiter, ceiling, command): min / median / max over its runs. */
function printMatrix(rows: Row[]): void {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    if (r.efficiency === undefined || r.limiter === undefined) continue;
    const key = [r.backEnd, r.limiter, r.mailboxes, r.ceiling, r.command].join('|');
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  console.log(
    '| back end | limiter | mailboxes | ceiling req/s | command | runs | efficiency (min / median / max) | ' +
      'speed-up ÷ allowed | 429 / ServerBusy | sent inside window | failed | final pace req/s | load avg |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const group of groups.values()) {
    const r = group[0]!;
    const ratios = group.filter((g) => g.speedUp !== undefined).map((g) => g.speedUp! / g.allowedSpeedUp!);
    const loads = group.flatMap((g) => g.load.split('–').map(Number));
    const cells = [
      r.backEnd,
      r.limiter,
      String(r.mailboxes),
      String(r.ceiling),
      r.command,
      String(group.length),
      spread(group.map((g) => g.efficiency!)),
      ratios.length > 0 ? spread(ratios) : '–',
      spread(
        group.map((g) => g.throttled ?? 0),
        0,
      ),
      spread(
        group.map((g) => g.insideWindow ?? 0),
        0,
      ),
      spread(
        group.map((g) => g.failed ?? 0),
        0,
      ),
      spread(
        group.map((g) => Number(g.finalPace)),
        0,
      ),
      `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
  console.log('');
}

/** Why the simulators run at the default priority, if they do (pacing-cells.ts, raiseSimulatorPriority). */
let priority: string | undefined;

function describeSettings(): string {
  return (
    `latency ${settings.latencyInMs} ± ${settings.jitterInMs} ms, ${settings.failureRate * 100} % 503s, ` +
    `${settings.runs} run(s) per cell${settings.busy ? ', a CPU-bound process beside it (--busy)' : ''}, ` +
    `Retry-After in whole seconds (EWS BackOffMilliseconds ≥ 1000), 4 concurrent per mailbox, ` +
    `Graph batch ${settings.graphBatch} and concurrency ${settings.graphConcurrency}, EWS concurrency 27, ` +
    `sequential sample ${settings.sample}, 2 cores shared, ${priority ?? 'simulators at nice -10'}`
  );
}

if (values.merge) {
  const saved = await Promise.all(
    list(values.merge).map(
      async (file) => JSON.parse(await readFile(file, 'utf8')) as { settings: string; rows: Row[] },
    ),
  );
  console.log(`sinkrule bench: ${[...new Set(saved.map((s) => s.settings))].join(' / ')}\n`);
  printMatrix(saved.flatMap((s) => s.rows));
  printTable(saved.flatMap((s) => s.rows));
} else {
  priority = raiseSimulatorPriority();
  const certificate = await createLocalCertificate();
  process.stderr.write(`sinkrule bench: ${describeSettings()}\n`);
  const neighbour = settings.busy ? startBusyNeighbour() : undefined;
  const rows: Row[] = [];
  if (settings.backEnds.includes('graph'))
    rows.push(...(await measure('graph', graphEstate, settings.ceilings, certificate)));
  if (settings.backEnds.includes('ews'))
    rows.push(...(await measure('ews', ewsEstate, settings.ewsCeilings, certificate)));
  (await validator)?.stop();
  if (values.save) await writeFile(values.save, JSON.stringify({ settings: describeSettings(), rows }, null, 2));
  if (settings.validateRows > 0) rows.push(await measureValidate(settings.validateRows));
  if (values.save) await writeFile(values.save, JSON.stringify({ settings: describeSettings(), rows }, null, 2));
  neighbour?.kill();
  console.log(`sinkrule bench: ${describeSettings()}\n`);
  printMatrix(rows);
  printTable(rows);
  if (settings.capacityUsers > 0) await measureCapacity(settings.capacityUsers);
}

/** `sinkrule capacity` over a generated estate: its own bench, run as a child so its peak RSS is its own. */
async function measureCapacity(users: number): Promise<void> {
  const script = fileURLToPath(new URL('./capacity-bench.js', import.meta.url));
  const child = spawn(process.execPath, [script, '--users', String(users)], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`capacity bench exited with ${code}`);
}
