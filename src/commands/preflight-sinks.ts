import { dataverseAccess } from './dataverse-access.js';
import { AccessError, describeError } from '../core/errors.js';
import type { CliIO } from '../common/io.js';
import { openDataverseReader } from '../input/mailbox-source.js';
import { readForwardMailboxes } from '../input/dataverse-mailboxes.js';
import type { ForwardMailboxRecord } from '../report/run-info.js';
import type { SinkSummary } from '../report/sinks.js';
import { sinksOf, type PreparedRun } from './prepare.js';
import { skip, type CheckResult } from './preflight-check.js';

/**
 * Each sink's users, and no sink among them: a sink that is itself a user's mailbox would forward
 * to itself (a users file with one is refused when read; a Dataverse record is a failed row).
 */
export function sinkUsersCheck(run: PreparedRun, sinks: readonly SinkSummary[], rowEmails: Set<string>): CheckResult {
  const check = 'sink-users';
  const users = new Map(sinks.map((sink) => [sink.address.toLowerCase(), sink]));
  const describe = (address: string) => {
    const sink = users.get(address);
    if (!sink) return `${address}: no users`;
    const routes = Object.entries(sink.byRoute).map(([route, n]) => `${route} ${n}`);
    return `${address}: ${sink.users} users (${routes.join(', ')})`;
  };
  const all = sinksOf(run);
  const listed = all.filter((sink) => rowEmails.has(sink));
  if (listed.length > 0)
    return {
      check,
      status: 'fail',
      detail: `${listed.join(', ')}: a sink is also a user in the list: its rule would forward a sink's mail`,
      fix:
        'Remove the sink from the users file; in Dynamics 365, set Incoming Email of the user record ' +
        "carrying the sink's address to something other than Forward Mailbox.",
    };
  return { check, status: 'pass', detail: all.map(describe).join('; '), fix: '' };
}

/**
 * Each sink has an active Dynamics 365 mailbox record with Is Forward Mailbox = Yes: only then does
 * server-side synchronization process what arrives in it. With --from-dataverse the records come
 * with the mailboxes; with --users they are read when the config has a dataverse section.
 */
export async function sinkRecordCheck(run: PreparedRun, io: CliIO): Promise<CheckResult> {
  const check = 'sink-record';
  let records = run.source.forwardMailboxes;
  if (!records) {
    if (!run.config.dataverse) return skip(check, 'no dataverse section in the config');
    try {
      const reader = await openDataverseReader(dataverseAccess(run.config, io));
      records = await readForwardMailboxes(reader, io.signal);
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      return {
        check,
        status: 'fail',
        detail: `cannot read the forward mailbox records in Dynamics 365: ${describeError(error)}`,
        fix: 'Check dataverse.url, the application user in Dataverse and its security role (read Mailbox).',
      };
    }
  }
  const byAddress = new Map(records.map((record) => [record.address.toLowerCase(), record]));
  const sinks = sinksOf(run);
  const missing = sinks.filter((sink) => !byAddress.has(sink));
  const unhealthy = sinks
    .map((sink) => byAddress.get(sink))
    .filter((record): record is ForwardMailboxRecord => record !== undefined && record.warnings.length > 0);
  const active = records.map((r) => `"${r.name}" <${r.address}>`).join(', ') || 'none';
  if (missing.length > 0)
    return {
      check,
      status: 'fail',
      detail:
        `${missing.join(', ')}: no active forward mailbox record in Dynamics 365 ` +
        `(active forward mailboxes: ${active}); nothing forwarded there would be tracked`,
      fix:
        'Create and enable a forward mailbox record for each sink in Dynamics 365 (Settings → Email ' +
        'Configuration → Forward Mailboxes), or send those users to an existing forward mailbox.',
    };
  const status = unhealthy.length > 0 ? 'warn' : 'pass';
  const warnings = unhealthy.map((r) => `${r.address}: ${r.warnings.join('; ')}`).join(' | ');
  return {
    check,
    status,
    detail: `${sinks.join(', ')}: active forward mailbox records in Dynamics 365${warnings ? `; ${warnings}` : ''}`,
    fix:
      status === 'warn'
        ? 'Test and enable the forward mailbox records in Dynamics 365 (Forward Mailboxes → Test & Enable Mailbox).'
        : '',
  };
}
