import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientSecretVariable } from '../src/auth/graph-credential.js';
import { samplesDir, stateDirVariable } from '../src/paths.js';
import { ewsPasswordVariable } from '../src/providers/ews.js';
import type { CliIO } from '../src/common/io.js';
import { defaultRuleName } from '../src/input/config.js';
import { nonCompliantOutcomes, type MailboxOutcome, type OutcomeName } from '../src/core/outcome.js';
import { readMailboxes } from '../src/input/users-csv.js';
import { EwsSimulator } from './ews/ews-simulator.js';
import { EwsSchemaValidator, ewsSchemaDir, ewsSchemaMissing } from './ews/schema-validator.js';
import { GraphSimulator } from './graph/graph-simulator.js';
import { demoEwsMailboxes, demoMailboxes } from './scenarios.js';
import { createLocalCertificate } from './tls.js';

export interface DemoOptions {
  /** Where the deploy and verify reports go. @default ./sinkrule-report-demo */
  report?: string;
  /** json: the two runs' summaries as one JSON object on stdout. */
  output?: 'text' | 'json';
}

const sink = 'crm-sink@contoso.com';

/**
 * A hybrid estate on the built-in simulators: Exchange Online users on the Graph simulator,
 * on-premises users on the EWS simulator (NTLM, impersonation), POP3 users by hand. Runs
 * `deploy --yes` and `verify` on samples/users.csv as separate processes, exactly as an admin
 * would (the simulators' certificate is trusted through NODE_EXTRA_CA_CERTS).
 */
export async function runDemo(options: DemoOptions, io: CliIO): Promise<number> {
  const work = await mkdtemp(path.join(tmpdir(), 'sinkrule-demo-'));
  const reportRoot = path.resolve(options.report ?? 'sinkrule-report-demo');
  await rm(reportRoot, { recursive: true, force: true }); // the demo's own folder: no stale report may remain
  const usersFile = path.join(work, 'users.csv');
  await copyFile(path.join(samplesDir, 'users.csv'), usersFile);
  const byTarget = { graph: [] as string[], ews: [] as string[], other: 0 };
  for await (const mailbox of readMailboxes(usersFile, {
    sink,
    defaultTarget: 'graph',
    supportedTargets: ['graph', 'ews', 'pop3', 'manual'],
  })) {
    if (mailbox.target === 'graph' || mailbox.target === 'ews') byTarget[mailbox.target].push(mailbox.email);
    else byTarget.other++;
  }
  const certificate = await createLocalCertificate(work);
  const app = {
    tenantId: randomUUID(),
    clientId: randomUUID(),
    clientSecret: randomBytes(24).toString('base64url'),
    roles: ['MailboxSettings.ReadWrite'],
  };
  const account = { username: 'CONTOSO\\svc-sinkrule', password: randomBytes(18).toString('base64url') };
  const schemaDir = ewsSchemaDir();
  let schemaOff = ewsSchemaMissing;
  const validator = schemaDir
    ? await EwsSchemaValidator.start(schemaDir).catch((error: unknown) => {
        schemaOff =
          `the schema in ${schemaDir} could not be compiled ` +
          `(${error instanceof Error ? error.message : String(error)})`;
        return undefined;
      })
    : undefined;
  const graph = new GraphSimulator({
    certificate,
    app,
    mailboxes: demoMailboxes(byTarget.graph, sink),
    latencyInMs: 40,
    latencyJitterInMs: 20,
  });
  const ews = new EwsSimulator({
    certificate,
    account,
    validator,
    mailboxes: demoEwsMailboxes(byTarget.ews),
    latencyInMs: 40,
    latencyJitterInMs: 20,
  });
  const [graphUrl, ewsUrl] = await Promise.all([graph.start(), ews.start()]);
  try {
    const configFile = path.join(work, 'sinkrule.config.json');
    await writeFile(
      configFile,
      JSON.stringify(
        {
          sink,
          rule: { displayName: defaultRuleName },
          graph: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: graphUrl, baseUrl: graphUrl },
          ews: { url: ewsUrl, username: account.username, auth: 'ntlm' },
          manual: { instructionsDir: path.join(samplesDir, 'instructions') },
        },
        null,
        2,
      ),
    );
    const env = {
      NODE_EXTRA_CA_CERTS: certificate.caFile,
      [clientSecretVariable]: app.clientSecret,
      [ewsPasswordVariable]: account.password,
      // The simulators' paces are kept with the demo's files, not among the admin's own.
      [stateDirVariable]: path.join(path.dirname(configFile), 'state'),
    };
    io.stderr.write(
      `Demo: samples/users.csv has ${byTarget.graph.length} Exchange Online users (Graph simulator ` +
        `${graphUrl}), ${byTarget.ews.length} on-premises users ` +
        `(EWS simulator ${ewsUrl}, NTLM, ` +
        `${validator ? "every request checked against Microsoft's schema" : `schema check off: ${schemaOff}`}` +
        `) and ${byTarget.other} POP3/manual users.\n`,
    );
    const codes: number[] = [];
    const json = options.output === 'json';
    const summaries: Record<string, unknown> = {};
    for (const command of ['deploy', 'verify'] as const) {
      io.stderr.write(
        `\n$ sinkrule ${command} --users users.csv --config ` +
          `sinkrule.config.json${command === 'deploy' ? ' --yes' : ''}\n`,
      );
      const args = [
        command,
        '--users',
        usersFile,
        '--config',
        configFile,
        '--report',
        path.join(reportRoot, command),
        ...(command === 'deploy' ? ['--yes'] : []),
        ...(json ? ['--output', 'json'] : []),
      ];
      const run = await runSinkrule(args, env, io, json);
      codes.push(run.code);
      if (json) summaries[command] = JSON.parse(run.stdout);
    }
    if (json) io.stdout.write(`${JSON.stringify({ command: 'demo', runs: summaries }, null, 2)}\n`);
    if (codes.some((code) => code !== 0 && code !== 2) || ews.stats.schemaInvalid > 0) return 1;
    io.stderr.write(`\n${await closingText(reportRoot)}\n`);
    return 0;
  } finally {
    await Promise.all([graph.stop(), ews.stop()]);
    validator?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

type ReportJson = { run: { counts: Partial<Record<OutcomeName, number>> }; mailboxes: MailboxOutcome[] };

/**
 * What the demo ends with, read from the verify report (and the deploy report, which holds the
 * error and fix of a mailbox deploy could not write): never written in advance, so it cannot
 * claim a mailbox converged when it did not.
 */
export async function closingText(reportRoot: string): Promise<string> {
  const read = async (command: string) =>
    JSON.parse(await readFile(path.join(reportRoot, command, 'report.json'), 'utf8')) as ReportJson;
  const [deploy, verify] = await Promise.all([read('deploy'), read('verify')]);
  const deployErrors = new Map(deploy.mailboxes.map((m) => [m.email.toLowerCase(), m.error]));
  const deployInstructions = new Map(deploy.mailboxes.map((m) => [m.email.toLowerCase(), m.instructions?.file]));
  const left = verify.mailboxes.filter((m) => nonCompliantOutcomes.has(m.outcome));
  const waiting = verify.mailboxes.filter((m) => m.outcome === 'manual');
  const count = (outcome: OutcomeName) => verify.run.counts[outcome] ?? 0;
  const lines = [
    `Verify: ${count('ok')} of ${verify.mailboxes.length} mailboxes have the rule; ` +
      `${count('manual') + count('confirmed-manually')} are POP3/manual (instructions written, ` +
      `${count('confirmed-manually')} confirmed done).`,
  ];
  if (waiting.length > 0)
    lines.push(
      `${waiting.length} manual mailbox${waiting.length === 1 ? ' waits' : 'es wait'} for the rule to be made ` +
        "by hand (then put the date in the users file's confirmed column):",
    );
  for (const mailbox of waiting) {
    // The deploy's instructions say how to create the rule; verify's only repeat them.
    const deployed = deployInstructions.get(mailbox.email.toLowerCase());
    const file = deployed
      ? path.join(reportRoot, 'deploy', deployed)
      : path.join(reportRoot, 'verify', mailbox.instructions?.file ?? '');
    lines.push(`- ${mailbox.email} (${mailbox.target}, ${mailbox.instructions?.server || 'no server named'}): ${file}`);
  }

  if (left.length === 0) lines.push('No mailbox is left for the admin.');
  else lines.push(`${left.length} mailbox${left.length === 1 ? ' is' : 'es are'} left for the admin:`);
  for (const mailbox of left) {
    const error = mailbox.error ?? deployErrors.get(mailbox.email.toLowerCase()) ?? null;
    lines.push(
      `- ${mailbox.email} (${mailbox.target}): ${mailbox.outcome}${error ? ` (${error.code}): ${error.fix}` : ''}`,
    );
  }
  lines.push(
    `Reports: ${path.join(reportRoot, 'deploy', 'report.html')} and ${path.join(reportRoot, 'verify', 'report.html')}`,
    `Manual instructions: ${path.join(reportRoot, 'deploy', 'manual-instructions.html')}`,
  );
  return lines.join('\n');
}

/**
 * Runs the installed `sinkrule` command as a separate process, as an admin would: the simulators'
 * CA is trusted through NODE_EXTRA_CA_CERTS, which Node reads only at start. Asynchronous on
 * purpose: the simulators answering it live in this process's event loop.
 */
export function runSinkrule(
  args: string[],
  env: NodeJS.ProcessEnv,
  io: CliIO,
  captureStdout = false,
): Promise<{ code: number; stdout: string }> {
  const bin = fileURLToPath(new URL('../src/bin.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...io.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    if (captureStdout) child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    else child.stdout.pipe(io.stdout, { end: false });
    child.stderr.pipe(io.stderr, { end: false });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}
