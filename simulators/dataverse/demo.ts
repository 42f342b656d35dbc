import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientSecretVariable } from '../../src/auth/graph-credential.js';
import type { CliIO } from '../../src/common/io.js';
import { nonCompliantOutcomes, type MailboxOutcome } from '../../src/core/outcome.js';
import { samplesDir } from '../../src/paths.js';
import { readMailboxes } from '../../src/input/users-csv.js';
import { runSinkrule } from '../demo.js';
import { GraphSimulator, type SimulatedMailbox } from '../graph/graph-simulator.js';
import { correctSinkRule, demoMailboxes } from '../scenarios.js';
import { createLocalCertificate } from '../tls.js';
import { DataverseSimulator, type SimulatedMailboxRecord } from './dataverse-simulator.js';

const sink = 'crm-sink@contoso.com';
const forwardMailbox = 3;
const serverSideSync = 2;
const outlook = 1;

/**
 * `sinkrule demo --from-dataverse`: a Dynamics 365 environment (Dataverse simulator) lists the
 * forward-mailbox users of samples/users.csv that live in Exchange Online, plus a user without an
 * address, an inactive one, and users switched to server-side sync or Outlook (one still holding
 * sinkrule's rule). Runs deploy, verify --include-stale and export as separate processes.
 */
export async function runDataverseDemo(options: { report?: string }, io: CliIO): Promise<number> {
  const work = await mkdtemp(path.join(tmpdir(), 'sinkrule-demo-dataverse-'));
  const reportRoot = path.resolve(options.report ?? 'sinkrule-report-demo');
  await rm(reportRoot, { recursive: true, force: true });
  const emails: string[] = [];
  for await (const mailbox of readMailboxes(path.join(samplesDir, 'users.csv'), {
    sink,
    defaultTarget: 'graph',
    supportedTargets: ['graph', 'ews', 'pop3', 'manual'],
  })) {
    if (mailbox.target === 'graph') emails.push(mailbox.email);
  }
  const certificate = await createLocalCertificate(work);
  const app = {
    tenantId: randomUUID(),
    clientId: randomUUID(),
    clientSecret: randomBytes(24).toString('base64url'),
    roles: ['MailboxSettings.ReadWrite'],
  };
  const leftovers: SimulatedMailbox[] = [
    { email: 'allan.deyoung@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink)] },
    { email: 'raul.razo@contoso.com', kind: 'exchange-online' },
  ];
  const graph = new GraphSimulator({
    certificate,
    app,
    mailboxes: [...demoMailboxes(emails, sink), ...leftovers],
    latencyInMs: 40,
    latencyJitterInMs: 20,
  });
  const graphUrl = await graph.start();
  // Pages of 5 and one service-protection 429, so the demo shows both.
  const dataverse = new DataverseSimulator({
    certificate,
    identity: graph.identity,
    applicationUsers: [{ appId: app.clientId, canReadMailboxes: true }],
    mailboxes: demoRecords(emails),
    throttleRequests: [3],
  });
  const dataverseUrl = await dataverse.start();
  try {
    const configFile = path.join(work, 'sinkrule.config.json');
    const config = {
      graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: graphUrl, baseUrl: graphUrl },
      dataverse: { url: dataverseUrl, pageSize: 5 },
    };
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const env = { NODE_EXTRA_CA_CERTS: certificate.caFile, [clientSecretVariable]: app.clientSecret };
    io.stderr.write(
      `Demo: Dynamics 365 (Dataverse simulator ${dataverseUrl}) lists ${emails.length + 1} forward-mailbox ` +
        `users; Exchange Online is the Graph simulator ${graphUrl}.\n`,
    );
    const steps = [
      ['deploy', '--from-dataverse', '--yes', '--report', path.join(reportRoot, 'deploy')],
      ['verify', '--from-dataverse', '--include-stale', '--report', path.join(reportRoot, 'verify')],
      ['export', '--from-dataverse', '--out', path.join(reportRoot, 'users.csv')],
    ];
    const codes: number[] = [];
    for (const args of steps) {
      io.stderr.write(
        `\n$ sinkrule ${args.slice(0, args[0] === 'verify' ? 3 : 2).join(' ')} --config sinkrule.config.json\n`,
      );
      codes.push((await runSinkrule([...args, '--config', configFile], env, io)).code);
    }
    if (codes.some((code) => code !== 0 && code !== 2)) return 1;
    io.stderr.write(`\n${await closingText(reportRoot)}\n`);
    return 0;
  } finally {
    await Promise.all([graph.stop(), dataverse.stop()]);
    await rm(work, { recursive: true, force: true });
  }
}

function demoRecords(emails: string[]): SimulatedMailboxRecord[] {
  const name = (email: string) =>
    email
      .split('@')[0]!
      .split('.')
      .map((part) => part[0]!.toUpperCase() + part.slice(1))
      .join(' ');
  const user = (
    email: string | null,
    displayName: string,
    method: 0 | 1 | 2 | 3,
    statecode: 0 | 1 = 0,
  ): SimulatedMailboxRecord => ({
    name: displayName,
    emailaddress: email,
    incomingemaildeliverymethod: method,
    incomingemailstatus: 1,
    isforwardmailbox: false,
    statecode,
  });
  return [
    {
      name: 'CRM forward mailbox',
      emailaddress: sink,
      incomingemaildeliverymethod: serverSideSync,
      incomingemailstatus: 1,
      outgoingemaildeliverymethod: 0,
      isforwardmailbox: true,
      testmailboxaccesscompletedon: '2026-11-20T08:15:00Z',
    },
    ...emails.map((email) => user(email, name(email), forwardMailbox)),
    user(null, 'Cameron White', forwardMailbox),
    user('debra.berger@contoso.com', 'Debra Berger', forwardMailbox, 1),
    user('allan.deyoung@contoso.com', 'Allan Deyoung', serverSideSync),
    user('raul.razo@contoso.com', 'Raul Razo', outlook),
  ];
}

/** Read from the verify report, never written in advance: what is left for the admin, with the fix. */
async function closingText(reportRoot: string): Promise<string> {
  const verify = JSON.parse(await readFile(path.join(reportRoot, 'verify', 'report.json'), 'utf8')) as {
    mailboxes: MailboxOutcome[];
  };
  const left = verify.mailboxes.filter((m) => nonCompliantOutcomes.has(m.outcome));
  const lines = [
    `Verify --include-stale: ${verify.mailboxes.filter((m) => m.outcome === 'ok').length} forward-mailbox ` +
      `users have the rule; ${left.length} left for the admin:`,
  ];
  for (const m of left) {
    const why = m.error ? ` (${m.error.code}): ${m.error.fix}` : m.notes.length ? `: ${m.notes.join('; ')}` : '';
    lines.push(`- ${m.email || `"${m.displayName}" (no address)`}: ${m.outcome}${why}`);
  }
  lines.push(
    `Reports: ${path.join(reportRoot, 'deploy', 'report.html')} and ` +
      `${path.join(reportRoot, 'verify', 'report.html')}; users CSV: ${path.join(reportRoot, 'users.csv')}`,
  );
  return lines.join('\n');
}
