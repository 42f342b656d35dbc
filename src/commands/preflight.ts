import { AccessError, describeError, MailboxError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { ApiProvider } from '../core/provider.js';
import { withRetry } from '../core/retry.js';
import type { CliIO } from '../common/io.js';
import { exitCodeFor } from '../common/exit-code.js';
import type { RunFlags } from '../common/settings.js';
import { SinkTally } from '../report/sinks.js';
import { prepare, readRows, sinksOf, type PreparedRun } from './prepare.js';
import { skip, type CheckResult } from './preflight-check.js';
import { sinkRecordCheck, sinkUsersCheck } from './preflight-sinks.js';
import { spread } from './probe-step.js';
import { noMailboxCodes } from '../providers/graph.js';
import { socPreflightChecks } from './soc-steps.js';

export type { CheckResult, CheckStatus } from './preflight-check.js';

/** Mailboxes whose rules preflight reads when --sample is not given. */
const defaultSample = 5;
const scopeFix =
  "Add the mailbox to the app's RBAC for Applications scope (New-ManagementScope / " +
  'New-ManagementRoleAssignment -App <clientId> -Role "Application MailboxSettings.ReadWrite" ' +
  '-CustomResourceScope <scope>; check with Test-ServicePrincipalAuthorization), or remove it from the users ' +
  'file.';

/**
 * `sinkrule preflight`: read-only checks before a rollout: credentials, permissions, the sink,
 * RBAC scope on a sample, EWS impersonation, the probe's permissions. Nothing is written.
 */
export async function runPreflight(flags: RunFlags, io: CliIO): Promise<number> {
  const run = await prepare('preflight', flags, io);
  const rows: Mailbox[] = [];
  const sinkTally = new SinkTally();
  const rowEmails = new Set<string>();
  for await (const mailbox of readRows(run)) {
    sinkTally.add({ sink: mailbox.sink, target: mailbox.target, stale: mailbox.staleBecause !== undefined });
    rowEmails.add(mailbox.email.toLowerCase());
    if (mailbox.target === 'graph' || mailbox.target === 'ews') rows.push(mailbox);
  }
  const sinks = sinkTally.summary();
  const sampleSize = flags.sample ?? defaultSample;
  const checks = [
    ...(await graphChecks(
      run,
      rows.filter((m) => m.target === 'graph'),
      sampleSize,
      io,
    )),
    await ewsCheck(
      run,
      rows.filter((m) => m.target === 'ews'),
      io,
    ),
    sinkUsersCheck(run, sinks, rowEmails),
    await sinkRecordCheck(run, io),
    dataverseCheck(run),
    ...socPreflightChecks(run, io.env),
  ];
  const failed = checks.filter((c) => c.status === 'fail').length;
  const exitCode = exitCodeFor({ failedChecks: failed });
  if (flags.output === 'json')
    io.stdout.write(`${JSON.stringify({ command: 'preflight', exitCode, checks, sinks }, null, 2)}\n`);
  else {
    const lines = checks.map(
      (c) => `${c.status.padEnd(4)}  ${c.check.padEnd(13)} ${c.detail}${c.fix ? `\n      fix: ${c.fix}` : ''}`,
    );
    io.stdout.write(
      `sinkrule preflight: ${checks.length} checks, ${failed} failed (nothing was ` +
        `written)\n${lines.join('\n')}\n  exit code ${exitCode}\n`,
    );
  }
  return exitCode;
}

async function graphChecks(
  run: PreparedRun,
  graphRows: Mailbox[],
  sampleSize: number,
  io: CliIO,
): Promise<CheckResult[]> {
  const names = ['token', 'permission', 'sink-mailbox', 'sink-domain', 'sample-access', 'probe'];
  if (graphRows.length === 0) return names.map((check) => skip(check, 'no mailbox in the users file has target graph'));
  const graph = run.providers.get('graph') as ApiProvider;
  try {
    await graph.open(io.signal);
  } catch (error) {
    if (!(error instanceof AccessError)) throw error;
    return [
      {
        check: 'token',
        status: 'fail',
        detail: describeError(error),
        fix:
          'Correct graph.tenantId, graph.clientId and the secret (SINKRULE_CLIENT_SECRET) or certificate ' +
          '(graph.certificatePath).',
      },
      ...names.slice(1).map((check) => skip(check, 'no token')),
    ];
  }
  const token: CheckResult = {
    check: 'token',
    status: 'pass',
    detail:
      `got a token for ${run.config.graph!.baseUrl} (tenant ${run.config.graph!.tenantId}, app ` +
      `${run.config.graph!.clientId})`,
    fix: '',
  };
  const roles = graph.signedInApp?.()?.roles;
  const sample = await sampleAccess(run, graph, spread(graphRows, sampleSize), io);
  return [
    token,
    permissionCheck(run, roles, sample),
    ...(await sinkChecks(run, graph, io)),
    sample,
    probeCheck(run, roles),
  ];
}

/** Reads the rules of the sample: an ErrorAccessDenied mailbox is outside the app's RBAC scope. */
async function sampleAccess(run: PreparedRun, graph: ApiProvider, sample: Mailbox[], io: CliIO): Promise<CheckResult> {
  const problems: string[] = [];
  let denied = 0;
  for (const mailbox of sample) {
    try {
      await readWithRetry(run, graph, mailbox, io);
    } catch (error) {
      if (!(error instanceof MailboxError)) throw error;
      if (error.code === 'ErrorAccessDenied') denied++;
      const why =
        error.code === 'ErrorAccessDenied'
          ? ": outside the app's RBAC scope or no MailboxSettings permission"
          : noMailboxCodes.has(error.code)
            ? ': no Exchange Online mailbox'
            : '';
      problems.push(`${mailbox.email} (line ${mailbox.line}): ${error.code}${why}`);
    }
  }
  const read = sample.length - problems.length;
  if (problems.length === 0)
    return {
      check: 'sample-access',
      status: 'pass',
      detail: `read the rules of ${sample.length} mailboxes spread over the users file`,
      fix: '',
    };
  return {
    check: 'sample-access',
    status: 'fail',
    detail: `${read} of ${sample.length} sample mailboxes readable; ${problems.join('; ')}`,
    fix:
      denied > 0
        ? scopeFix
        : 'Route mailboxes without an Exchange Online mailbox to ews (on-premises) or correct the address.',
  };
}

/** The token's roles; with RBAC for Applications the permission may be granted outside the token. */
function permissionCheck(run: PreparedRun, roles: string[] | undefined, sample: CheckResult): CheckResult {
  const check = 'permission';
  if (roles === undefined)
    return {
      check,
      status: 'warn',
      detail: "the token's roles claim could not be read",
      fix: 'Check in Entra that the app has MailboxSettings.ReadWrite (application) with admin consent.',
    };
  const shown = `roles in the token: ${roles.length ? roles.join(', ') : '(none)'}`;
  if (roles.includes('MailboxSettings.ReadWrite')) return { check, status: 'pass', detail: shown, fix: '' };
  const grant =
    'Grant the application permission MailboxSettings.ReadWrite with admin consent, or assign the RBAC for ' +
    'Applications role "Application MailboxSettings.ReadWrite" to the app.';
  if (sample.status === 'pass') {
    return {
      check,
      status: 'warn',
      detail:
        `${shown}; MailboxSettings.ReadWrite is not among them, but the sample was readable (RBAC for ` +
        `Applications?): preflight cannot test writes`,
      fix: grant,
    };
  }
  if (roles.includes('MailboxSettings.Read'))
    return { check, status: 'warn', detail: `${shown}: enough for verify, not for deploy or remove`, fix: grant };
  return { check, status: 'fail', detail: `${shown}: MailboxSettings.ReadWrite is missing`, fix: grant };
}

/** Each sink: a mailbox in the tenant, in a verified domain (an external sink gets NDR 5.7.520). */
async function sinkChecks(run: PreparedRun, graph: ApiProvider, io: CliIO): Promise<CheckResult[]> {
  const sinks = sinksOf(run);
  const missing: string[] = [];
  const unknown: string[] = [];
  for (const sink of sinks) {
    try {
      await readWithRetry(run, graph, { email: sink, target: 'graph', sink, line: 0 }, io);
    } catch (error) {
      if (!(error instanceof MailboxError)) throw error;
      (noMailboxCodes.has(error.code) ? missing : unknown).push(`${sink} (${error.code})`);
    }
  }
  const mailbox: CheckResult =
    missing.length > 0
      ? {
          check: 'sink-mailbox',
          status: 'fail',
          detail: `no Exchange Online mailbox: ${missing.join(', ')}`,
          fix: 'Create the forward mailbox (a licensed or shared mailbox) or correct the sink address.',
        }
      : unknown.length > 0
        ? {
            check: 'sink-mailbox',
            status: 'warn',
            detail: `cannot tell: ${unknown.join(', ')}`,
            fix:
              "Include the sink in the app's RBAC scope (the probe needs Mail.ReadWrite on it), or check the " +
              'mailbox in the Exchange admin center.',
          }
        : { check: 'sink-mailbox', status: 'pass', detail: `${sinks.join(', ')}: mailbox found`, fix: '' };
  let domains: string[];
  try {
    domains = await graph.verifiedDomains!(io.signal);
  } catch (error) {
    if (!(error instanceof MailboxError)) throw error;
    return [
      mailbox,
      {
        check: 'sink-domain',
        status: 'warn',
        detail: `cannot read the tenant's domains (${error.code})`,
        fix:
          'Grant the application permission Domain.Read.All (admin consent), or make sure yourself that the ' +
          'sink is in one of your accepted domains.',
      },
    ];
  }
  const external = sinks.filter((sink) => !domains.includes(sink.split('@')[1]!));
  const domain: CheckResult =
    external.length > 0
      ? {
          check: 'sink-domain',
          status: 'fail',
          detail:
            `${external.join(', ')}: not in the tenant's verified domains (${domains.join(', ')}); Exchange ` +
            `Online blocks automatic forwarding there (NDR 5.7.520)`,
          fix: 'Use a forward mailbox in one of your own domains.',
        }
      : { check: 'sink-domain', status: 'pass', detail: `${sinks.join(', ')}: in a verified domain`, fix: '' };
  return [mailbox, domain];
}

function probeCheck(run: PreparedRun, roles: string[] | undefined): CheckResult {
  const probe = run.config.probe;
  if (!probe)
    return skip('probe', 'no probe section in the config (needed by probe, verify --probe and deploy --canary)');
  const sinks = new Set(sinksOf(run));
  if (sinks.has(probe.from.toLowerCase()))
    return {
      check: 'probe',
      status: 'fail',
      detail: `probe.from ${probe.from} is a sink: the rule's exception skips its mail`,
      fix: 'Set probe.from to another mailbox.',
    };
  const missing = ['Mail.Send', 'Mail.ReadWrite'].filter((role) => !roles?.includes(role));
  if (missing.length === 0)
    return {
      check: 'probe',
      status: 'pass',
      detail: `Mail.Send and Mail.ReadWrite granted; test mail comes from ${probe.from}`,
      fix: '',
    };
  return {
    check: 'probe',
    status: roles === undefined ? 'warn' : 'fail',
    detail: `the probe needs ${missing.join(' and ')}, not in the token`,
    fix:
      'Grant the application permissions Mail.Send and Mail.ReadWrite (admin consent); scope them with RBAC ' +
      'for Applications like the rules permission, including the sink and probe.from.',
  };
}

/** Impersonation of one EWS mailbox from the file. */
async function ewsCheck(run: PreparedRun, ewsRows: Mailbox[], io: CliIO): Promise<CheckResult> {
  if (ewsRows.length === 0) return skip('ews', 'no mailbox in the users file has target ews');
  const ews = run.providers.get('ews') as ApiProvider;
  const [mailbox] = spread(ewsRows, 1);
  try {
    await ews.open(io.signal);
    await readWithRetry(run, ews, mailbox!, io);
    return { check: 'ews', status: 'pass', detail: `read the rules of ${mailbox!.email} by impersonation`, fix: '' };
  } catch (error) {
    if (error instanceof MailboxError)
      return {
        check: 'ews',
        status: 'fail',
        detail: `${mailbox!.email}: ${error.code}: ${error.message}`,
        fix: error.fix,
      };
    if (error instanceof AccessError)
      return {
        check: 'ews',
        status: 'fail',
        detail: error.message,
        fix: 'Check ews.url, ews.username and SINKRULE_EWS_PASSWORD (or ews.oauth).',
      };
    throw error;
  }
}

/**
 * With --from-dataverse the mailbox source has already signed in to Dataverse and read the forward
 * mailbox record (a failure there stops preflight as invalid input, before any other check).
 */
function dataverseCheck(run: PreparedRun): CheckResult {
  const record = run.source.forwardMailbox;
  if (!record)
    return skip(
      'dataverse',
      run.config.dataverse
        ? 'the mailboxes come from --users (pass --from-dataverse to check Dynamics 365)'
        : 'no dataverse section in the config',
    );
  const warnings = record.warnings ?? [];
  return {
    check: 'dataverse',
    status: warnings.length > 0 ? 'warn' : 'pass',
    detail:
      `read the forward mailbox record ${record.address} (${record.name}; incoming email status ` +
      `${record.incomingEmailStatus}, test completed ` +
      `${record.testCompletedOn ?? 'never'})${warnings.length ? `: ${warnings.join('; ')}` : ''}`,
    fix: warnings.length
      ? 'Correct the forward mailbox record in Dynamics 365 (Settings → Email Configuration → Mailboxes).'
      : '',
  };
}

/** A read, retried on throttling and transient errors like every other read. */
function readWithRetry(run: PreparedRun, provider: ApiProvider, mailbox: Mailbox, io: CliIO) {
  return withRetry(() => provider.readRules(mailbox, io.signal), {
    ...run.config.retry,
    sleep: io.sleep,
    signal: io.signal,
  });
}
