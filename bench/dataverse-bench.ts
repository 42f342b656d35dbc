/**
 * npm run build && node dist/bench/dataverse-bench.js [--records N] [--verify M]
 *
 * Reading the mailboxes from Dynamics 365: `export --from-dataverse` of N forward-mailbox records
 * (pages of 5000, the Web API's maximum) and `verify --from-dataverse` of M of them against the
 * Graph simulator, beside the same verify from the exported users CSV. Prints one table; figures
 * from one run on one machine, so compare the two verify rows, not absolute times.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCli } from '../test/helpers/cli.js';
import { DataverseSimulator } from '../simulators/dataverse/dataverse-simulator.js';
import { GraphSimulator } from '../simulators/graph/graph-simulator.js';
import { createLocalCertificate } from '../simulators/tls.js';

const { values } = parseArgs({
  options: { records: { type: 'string', default: '100000' }, verify: { type: 'string', default: '10000' } },
});
const records = Number(values.records);
const verified = Number(values.verify);
const sink = 'crm-sink@contoso.com';

const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-bench-dataverse-'));
const certificate = await createLocalCertificate(dir);
const app = {
  tenantId: randomUUID(),
  clientId: randomUUID(),
  clientSecret: randomBytes(16).toString('hex'),
  roles: ['MailboxSettings.ReadWrite'],
};
const emails = Array.from({ length: records }, (_, i) => `user${i}@contoso.com`);
const graph = new GraphSimulator({
  certificate,
  app,
  mailboxes: emails.slice(0, verified).map((email) => ({ email, kind: 'exchange-online' as const })),
});
const graphUrl = await graph.start();
const mailboxes = [
  {
    name: 'Sink',
    emailaddress: sink,
    incomingemaildeliverymethod: 2 as const,
    incomingemailstatus: 1 as const,
    isforwardmailbox: true,
  },
  ...emails.map((email) => ({
    name: email,
    emailaddress: email,
    incomingemaildeliverymethod: 3 as const,
    isforwardmailbox: false,
  })),
];
const makeDataverse = (list: typeof mailboxes) =>
  new DataverseSimulator({
    certificate,
    identity: graph.identity,
    applicationUsers: [{ appId: app.clientId, canReadMailboxes: true }],
    mailboxes: list,
  });
const all = makeDataverse(mailboxes);
const some = makeDataverse(mailboxes.slice(0, verified + 1));
const [allUrl, someUrl] = [await all.start(), await some.start()];
const env = { NODE_EXTRA_CA_CERTS: certificate.caFile, SINKRULE_CLIENT_SECRET: app.clientSecret };
const configFor = async (name: string, url: string) => {
  const file = path.join(dir, name);
  await writeFile(
    file,
    JSON.stringify({
      graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: graphUrl, baseUrl: graphUrl },
      dataverse: { url },
    }),
  );
  return file;
};
const rows: Array<Record<string, string | number>> = [];
try {
  const started = Date.now();
  const exported = await runCli(
    ['export', '--from-dataverse', '--config', await configFor('all.json', allUrl), '--out', path.join(dir, 'all.csv')],
    { cwd: dir, env },
  );
  if (exported.code !== 0) throw new Error(exported.stderr);
  const seconds = (Date.now() - started) / 1000;
  rows.push({
    run: `export --from-dataverse`,
    mailboxes: records,
    wallInS: seconds.toFixed(1),
    perSecond: Math.round(records / seconds),
    requests: all.stats.requests,
    peakRssInMb: '-',
  });
  const someConfig = await configFor('some.json', someUrl);
  await runCli(['export', '--from-dataverse', '--config', someConfig, '--out', path.join(dir, 'some.csv')], {
    cwd: dir,
    env,
  });
  for (const [label, args] of [
    ['verify --from-dataverse', ['--from-dataverse']],
    ['verify --users (exported)', ['--users', path.join(dir, 'some.csv')]],
  ] as const) {
    const result = await runCli(
      [
        'verify',
        ...args,
        '--config',
        someConfig,
        '--output',
        'json',
        '--report',
        path.join(dir, label.replace(/\W+/g, '-')),
      ],
      { cwd: dir, env },
    );
    const summary = JSON.parse(result.stdout) as { mailboxes: number; durationInMs: number; peakRssInMb: number };
    rows.push({
      run: label,
      mailboxes: summary.mailboxes,
      wallInS: (summary.durationInMs / 1000).toFixed(1),
      perSecond: Math.round(summary.mailboxes / (summary.durationInMs / 1000)),
      requests: '-',
      peakRssInMb: summary.peakRssInMb,
    });
  }
  console.table(rows);
} finally {
  await Promise.all([graph.stop(), all.stop(), some.stop()]);
  await rm(dir, { recursive: true, force: true });
}
