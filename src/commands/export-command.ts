import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { stringify as stringifyAll } from 'csv-stringify/sync';
import { assignmentHolds } from '../core/capacity-plan.js';
import { InputError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import { loadConfig } from '../input/config.js';
import { dataverseAccess } from './dataverse-access.js';
import { openMailboxSource, type MailboxSource } from '../input/mailbox-source.js';
import { writeWhole } from '../input/users-csv-sinks.js';
import { supportedTargets } from '../providers/index.js';
import type { CliIO } from '../common/io.js';
import { exitCodeFor } from '../common/exit-code.js';
import { resolveSettings, type RunFlags } from '../common/settings.js';
import { openVolumeSources } from './capacity-sources.js';
import { assignExportSinks, describeAssignment } from './export-sinks.js';

/** The users CSV columns export writes; `deploy --users` and `validate` read them back. */
export const exportColumns = ['email', 'displayName', 'target', 'sink', 'dynamicsMailboxId'] as const;

const rowOf = (mailbox: Mailbox) => [
  mailbox.email,
  mailbox.displayName ?? '',
  mailbox.target,
  mailbox.sink,
  mailbox.dynamicsMailboxId ?? '',
];

/** The flags export reads only with --assign-sinks (their names as parsed, and as typed). */
const sinkPlanFlags = [
  ['volumes', '--volumes'],
  ['period', '--period'],
  ['peakHourShare', '--peak-hour-share'],
  ['headroom', '--headroom'],
  ['allowHotSinks', '--allow-hot-sinks'],
] as const;

/**
 * `sinkrule export --from-dataverse`: the forward-mailbox users as a users CSV for an admin to
 * review and edit before `deploy --users`. Records that cannot be a row (no or invalid address,
 * duplicates) are left out and listed on stderr with their fix; the exit code is then 2. With
 * --assign-sinks each row's sink comes from capacity's assignment over the active forward
 * mailboxes (export-sinks.ts). Nothing in Dynamics 365 or Exchange changes.
 */
export async function runExport(flags: RunFlags, io: CliIO, given: ReadonlySet<string> = new Set()): Promise<number> {
  if (!flags.fromDataverse)
    throw new InputError(['command line: export writes the users CSV from Dynamics 365: pass --from-dataverse']);
  if (flags.assignSinks && !flags.out)
    throw new InputError([
      'command line: --assign-sinks writes the users CSV and FILE.too-busy.csv beside it: ' +
        'name the file with --out FILE',
    ]);
  // All but --volumes have defaults: a value given without --assign-sinks would be dropped unsaid.
  const ignored = sinkPlanFlags
    .filter(([name]) => given.has(name) || (name === 'volumes' && flags.volumes))
    .map(([, flag]) => flag);
  if (!flags.assignSinks && ignored.length > 0)
    throw new InputError([
      `command line: ${ignored.join(', ')} ${ignored.length > 1 ? 'are' : 'is'} read only to assign the ` +
        `sinks: add --assign-sinks, or leave ${ignored.length > 1 ? 'them' : 'it'} out`,
    ]);
  const config = resolveSettings('verify', flags, await loadConfig(flags.config)).effective;
  // Everything local is checked before the first request: the volumes file first.
  const volumeSources = flags.assignSinks ? await openVolumeSources(flags, config) : undefined;
  const source = await openMailboxSource({
    ...dataverseAccess(config, io),
    fromDataverse: true,
    everyForwardMailbox: flags.assignSinks,
    supportedTargets,
  });
  warnAboutSinks(source, flags.assignSinks, io);
  let exported: number;
  let skipped = 0;
  const good = async function* () {
    for await (const mailbox of source.read()) {
      if (!mailbox.problem) yield mailbox;
      else {
        skipped++;
        io.stderr.write(
          `Left out: "${mailbox.displayName}" (${mailbox.dynamicsMailboxId}): ${mailbox.problem.message}: ` +
            `${mailbox.problem.fix}\n`,
        );
      }
    }
  };
  let assigned = true;
  if (volumeSources) {
    const mailboxes: Mailbox[] = [];
    for await (const mailbox of good()) mailboxes.push(mailbox);
    const assignment = await assignExportSinks(mailboxes, source, flags, config, volumeSources, io);
    const { plan } = assignment;
    if (!io.quiet) io.stderr.write(describeAssignment(assignment));
    for (const user of plan.tooBusy) io.stderr.write(`Too busy: ${user.email} (${user.target}): ${user.reason}\n`);
    for (const finding of plan.findings) io.stderr.write(`Finding: ${finding}\n`);
    if (!assignmentHolds(plan)) {
      io.stderr.write(
        `Not written: ${flags.out}: the ${assignment.sinks.length} active forward mailboxes cannot carry the list ` +
          `(add ${plan.moreSinksNeeded} more in Dynamics 365: ` +
          `Settings → Email Configuration → Forward Mailboxes).\n`,
      );
      return 2;
    }
    const tooBusyFile = assignment.tooBusy.length ? `${flags.out}.too-busy.csv` : undefined;
    if (tooBusyFile)
      await writeWhole(
        tooBusyFile,
        stringifyAll(
          assignment.tooBusy.map(({ mailbox, reason }) => [...rowOf(mailbox), reason]),
          { header: true, columns: [...exportColumns, 'reason'] },
        ),
      );
    await writeWhole(
      flags.out!,
      stringifyAll(assignment.rows.map(rowOf), { header: true, columns: [...exportColumns] }),
    );
    exported = assignment.rows.length;
    if (tooBusyFile) io.stderr.write(`${assignment.tooBusy.length} too-busy users left out, in ${tooBusyFile}.\n`);
    assigned = plan.ok;
  } else exported = await writeStreaming(good(), flags.out, io);
  const input = source.describe();
  const where =
    input.source === 'dataverse'
      ? `${input.url} ($filter ${input.filter}; ${input.rows} rows read, SHA-256 ${input.sha256})`
      : '';
  io.stderr.write(
    `Exported ${exported} mailboxes from ` +
      `${where}${flags.out ? ` to ${flags.out}` : ''}${skipped ? `; ${skipped} records left out (see above)` : ''}.\n`,
  );
  return assigned ? exitCodeFor({ counts: { failed: skipped } }) : 2;
}

/** The forward mailbox records' warnings: the one every row gets, or each one rows may be given. */
function warnAboutSinks(source: MailboxSource, every: boolean, io: CliIO): void {
  const records = every ? (source.forwardMailboxes ?? []) : source.forwardMailbox ? [source.forwardMailbox] : [];
  const usable = new Set(source.sinks().map((sink) => sink.toLowerCase()));
  for (const record of records) {
    if (every && !usable.has(record.address.toLowerCase())) {
      io.stderr.write(
        `Warning: forward mailbox record "${record.name}" has no valid email address ("${record.address}"): ` +
          'no user is given it; enter its address in Dynamics 365 (Settings → Email Configuration → ' +
          'Forward Mailboxes).\n',
      );
      continue;
    }
    for (const warning of record.warnings) io.stderr.write(`Warning: forward mailbox ${record.address}: ${warning}\n`);
  }
}

/** The rows as they come, to --out or stdout; a full buffer waits for the file before the next page is read. */
async function writeStreaming(mailboxes: AsyncIterable<Mailbox>, file: string | undefined, io: CliIO) {
  const csv = stringify({ header: true, columns: [...exportColumns] });
  const out = file ? createWriteStream(file) : io.stdout;
  csv.pipe(out, { end: Boolean(file) });
  let exported = 0;
  try {
    for await (const mailbox of mailboxes) {
      exported++;
      if (!csv.write(rowOf(mailbox))) await new Promise((resolve) => csv.once('drain', resolve));
    }
  } finally {
    csv.end();
    await finished(csv);
    if (file) await finished(out);
  }
  return exported;
}
