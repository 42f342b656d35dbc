import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import { InputError } from '../core/errors.js';
import { loadConfig } from '../input/config.js';
import { dataverseTokens } from '../auth/graph-credential.js';
import { openMailboxSource } from '../input/mailbox-source.js';
import { supportedTargets } from '../providers/index.js';
import type { CliIO } from '../common/io.js';
import { exitCodeFor } from '../common/exit-code.js';
import { resolveSettings, type RunFlags } from '../common/settings.js';

/** The users CSV columns export writes; `deploy --users` and `validate` read them back. */
export const exportColumns = ['email', 'displayName', 'target', 'sink', 'dynamicsMailboxId'] as const;

/**
 * `sinkrule export --from-dataverse`: the forward-mailbox users as a users CSV for an admin to
 * review and edit before `deploy --users`. Records that cannot be a row (no or invalid address,
 * duplicates) are left out and listed on stderr with their fix; the exit code is then 2.
 */
export async function runExport(flags: RunFlags, io: CliIO): Promise<number> {
  if (!flags.fromDataverse)
    throw new InputError(['command line: export writes the users CSV from Dynamics 365: pass --from-dataverse']);
  const config = resolveSettings('verify', flags, await loadConfig(flags.config)).effective;
  const source = await openMailboxSource({
    fromDataverse: true,
    config,
    supportedTargets,
    dataverseTokens: (dataverse) => dataverseTokens(dataverse, io.env, config.file, io.clock),
    clock: io.clock,
    sleep: io.sleep,
    signal: io.signal,
  });
  for (const warning of source.forwardMailbox?.warnings ?? [])
    io.stderr.write(`Warning: forward mailbox ${source.sink}: ${warning}\n`);
  const csv = stringify({ header: true, columns: [...exportColumns] });
  const out = flags.out ? createWriteStream(flags.out) : io.stdout;
  csv.pipe(out, { end: Boolean(flags.out) });
  let exported = 0;
  let skipped = 0;
  try {
    for await (const mailbox of source.read()) {
      if (mailbox.problem) {
        skipped++;
        io.stderr.write(
          `Left out: "${mailbox.displayName}" (${mailbox.dynamicsMailboxId}): ${mailbox.problem.message}: ` +
            `${mailbox.problem.fix}\n`,
        );
        continue;
      }
      exported++;
      // Back-pressure: a full buffer waits for the file before the next page is read.
      if (
        !csv.write([
          mailbox.email,
          mailbox.displayName ?? '',
          mailbox.target,
          mailbox.sink,
          mailbox.dynamicsMailboxId ?? '',
        ])
      )
        await new Promise((resolve) => csv.once('drain', resolve));
    }
  } finally {
    csv.end();
    await finished(csv);
    if (flags.out) await finished(out);
  }
  const input = source.describe();
  const where =
    input.source === 'dataverse'
      ? `${input.url} ($filter ${input.filter}; ${input.rows} rows read, SHA-256 ${input.sha256})`
      : '';
  io.stderr.write(
    `Exported ${exported} mailboxes from ` +
      `${where}${flags.out ? ` to ${flags.out}` : ''}${skipped ? `; ${skipped} records left out (see above)` : ''}.\n`,
  );
  return exitCodeFor({ counts: { failed: skipped } });
}
