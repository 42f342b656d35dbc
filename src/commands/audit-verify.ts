import { existsSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import { auditReportFolder } from '../report/audit.js';
import { journalFileName } from '../report/journal.js';
import type { AuditFlags } from '../common/settings.js';
import type { CliIO } from '../common/io.js';

/** `sinkrule audit verify DIR`: 0 when the folder is as the run left it, 2 naming the first change. */
export async function runAuditVerify(dir: string, flags: AuditFlags, io: CliIO): Promise<number> {
  if (!existsSync(path.join(dir, journalFileName)))
    throw new InputError([
      `${dir}: no ${journalFileName}: name a report folder written by a sinkrule that keeps a journal`,
    ]);
  const result = await auditReportFolder(dir, flags.expectHash);
  if (flags.output === 'json') io.stdout.write(`${JSON.stringify({ dir: path.resolve(dir), ...result }, null, 2)}\n`);
  else if (io.quiet) {
    // --quiet: the exit code tells (0 intact, 2 changed).
  } else if (result.intact) {
    io.stdout.write(
      `${dir}: intact: ${result.entries} journal entries, ${result.rows} mailboxes; last SHA-256 ${result.lastHash}` +
        (flags.expectHash
          ? ' (as expected)'
          : ' (compare it with the value kept in the change record, or pass --expect-hash)') +
        '\n',
    );
  } else io.stdout.write(`${dir}: CHANGED: ${result.problem}\n`);
  return result.intact ? 0 : 2;
}
