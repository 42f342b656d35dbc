import type { CliIO } from '../common/io.js';
import type { RunFlags } from '../common/settings.js';
import { InputError } from '../core/errors.js';
import type { Target } from '../core/mailbox.js';
import type { MailboxSource } from '../input/mailbox-source.js';
import { prepare } from './prepare.js';
import { formatCounts } from './run-command.js';

/**
 * `sinkrule validate`: every check a deploy makes before its first request (config, rule
 * template, users file, routes to back ends, manual instruction placeholders), offline. Problems
 * come back as an InputError (`file:line: what: how to fix`, exit 1); a valid input exits 0 with a
 * summary. The users file is streamed, so memory grows only with the set of addresses. With
 * --from-dataverse the mailbox records are read (Dataverse only, no mailbox is touched) and a
 * record that would fail (no address, a duplicate) is a problem here.
 */
export async function runValidate(options: RunFlags, io: CliIO): Promise<number> {
  const started = io.clock();
  // Checked as a deploy would check them: the stricter mode (deploy renders and writes the rule).
  const run = await prepare('deploy', options, io, []);
  const byTarget = run.source.byTarget ?? (await readAll(run.source));
  const input = run.source.describe();
  const durationInMs = Math.round(io.clock() - started);
  const { rows, sha256 } = input;
  const where = input.source === 'file' ? input.file : `${input.url} ($filter ${input.filter})`;
  const sinks = run.source.sinks();
  if (options.output === 'json') {
    const peakRssInMb = Math.round(process.resourceUsage().maxRSS / 1024);
    const users =
      input.source === 'file'
        ? { file: input.file, sha256, rows, byTarget }
        : { dataverse: input.url, filter: input.filter, sha256, rows, byTarget };
    const forwardMailbox = run.source.forwardMailbox ? { forwardMailbox: run.source.forwardMailbox } : {};
    const template = run.template.file;
    const summary = {
      command: 'validate',
      valid: true,
      users,
      ...forwardMailbox,
      sinks,
      template,
      durationInMs,
      peakRssInMb,
    };
    io.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return 0;
  }
  if (io.quiet) return 0;
  io.stdout.write(
    `sinkrule validate: ${where}: ${rows} mailboxes, no problems (${formatCounts(byTarget as never)}); ` +
      `config ${options.config}; rule template ${run.template.file}; sink${sinks.length > 1 ? 's' : ''} ` +
      `${sinks.join(', ')}\n`,
  );
  return 0;
}

/** A Dataverse read: every row counted by route; rows that would fail are the problems. */
async function readAll(source: MailboxSource): Promise<Partial<Record<Target, number>>> {
  const byTarget: Partial<Record<Target, number>> = {};
  const problems: string[] = [];
  for await (const mailbox of source.read()) {
    if (mailbox.problem)
      problems.push(
        `Dataverse record "${mailbox.displayName}" (${mailbox.dynamicsMailboxId}): ` +
          `${mailbox.problem.message}: ${mailbox.problem.fix}`,
      );
    else byTarget[mailbox.target] = (byTarget[mailbox.target] ?? 0) + 1;
  }
  if (problems.length > 0) throw new InputError(problems);
  return byTarget;
}
