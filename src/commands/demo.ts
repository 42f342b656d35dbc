import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientSecretVariable } from '../auth/graph-credential.js';
import { samplesDir } from '../paths.js';
import type { CliIO } from '../cli/io.js';
import { runCli } from '../simulators/child-cli.js';
import { GraphSimulator } from '../simulators/graph/graph-simulator.js';
import { demoMailboxes } from '../simulators/scenarios.js';
import { createLocalCertificate } from '../simulators/tls.js';

export interface DemoOptions {
  /** Where the deploy and verify reports go. @default ./sinkrule-report-demo */
  report?: string;
}

/**
 * Starts the built-in Graph simulator with an estate in every state sinkrule handles, then runs
 * `deploy --yes` and `verify` on samples/users.csv against it, as separate processes exactly as
 * an admin would (the simulator's certificate is trusted through NODE_EXTRA_CA_CERTS).
 */
export async function runDemo(options: DemoOptions, io: CliIO): Promise<number> {
  const work = await mkdtemp(path.join(tmpdir(), 'sinkrule-demo-'));
  const reportRoot = path.resolve(options.report ?? 'sinkrule-report-demo');
  await rm(reportRoot, { recursive: true, force: true }); // the demo's own folder: no stale report may remain
  const sink = 'crm-sink@contoso.com';
  const usersFile = path.join(work, 'users.csv');
  await copyFile(path.join(samplesDir, 'users.csv'), usersFile);
  const rows = (await readFile(usersFile, 'utf8')).split(/\r?\n/).slice(1).filter(Boolean).map((line) => line.split(','));
  // Rows routed to graph (explicitly or by default) get a mailbox in the simulator.
  const emails = rows.filter((cells) => !cells[2] || cells[2] === 'graph').map((cells) => cells[0]!);
  const certificate = await createLocalCertificate(work);
  const app = { tenantId: randomUUID(), clientId: randomUUID(), clientSecret: randomBytes(24).toString('base64url'), roles: ['MailboxSettings.ReadWrite'] };
  const graph = new GraphSimulator({ certificate, app, mailboxes: demoMailboxes(emails, sink), latencyInMs: 40, latencyJitterInMs: 20 });
  const url = await graph.start();
  try {
    const configFile = path.join(work, 'sinkrule.config.json');
    const manual = { instructionsDir: path.join(samplesDir, 'instructions') };
    await writeFile(configFile, JSON.stringify({ sink, graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: url, baseUrl: url }, manual }, null, 2));
    const env = { NODE_EXTRA_CA_CERTS: certificate.caFile, [clientSecretVariable]: app.clientSecret };
    io.stderr.write(`Demo: Microsoft Graph simulator on ${url} with ${emails.length} of the ${rows.length} mailboxes in samples/users.csv; the others are POP3/manual rows\n`);
    const codes: number[] = [];
    for (const command of ['deploy', 'verify'] as const) {
      io.stderr.write(`\n$ sinkrule ${command} --users users.csv --config sinkrule.config.json${command === 'deploy' ? ' --yes' : ''}\n`);
      const args = [command, '--users', usersFile, '--config', configFile, '--report', path.join(reportRoot, command), ...(command === 'deploy' ? ['--yes'] : [])];
      const result = await runCli(args, { env, echoStderr: true });
      io.stdout.write(result.stdout);
      codes.push(result.code);
    }
    if (codes.some((code) => code !== 0 && code !== 2)) return 1;
    io.stderr.write(
      `\nThe simulator gave one user (lynne.robbins) no Exchange Online mailbox, as an on-premises user has: that row fails with the fix to apply; every other Graph mailbox converged.\n` +
        `POP3/manual rows got instructions: ${path.join(reportRoot, 'deploy', 'manual-instructions.html')}\n` +
        `Reports: ${path.join(reportRoot, 'deploy', 'report.html')} and ${path.join(reportRoot, 'verify', 'report.html')}\n`,
    );
    // Exit 2 (some mailbox not compliant) is the expected result of this estate; 1 is not.
    return 0;
  } finally {
    await graph.stop();
    await rm(work, { recursive: true, force: true });
  }
}
