import type { CliIO } from '../cli/io.js';
import type { RunFlags } from '../cli/settings.js';
import { prepare, formatCounts } from './run-command.js';

/**
 * `sinkrule validate`: every check a deploy makes before its first request (config, rule
 * template, users file, routes to back ends, manual instruction placeholders), offline. Problems
 * come back as an InputError (`file:line: what: how to fix`, exit 1); a valid input exits 0 with a
 * summary. The users file is streamed, so memory grows only with the set of addresses.
 */
export async function runValidate(options: RunFlags, io: CliIO): Promise<number> {
  const started = io.clock();
  // Checked as a deploy would check them: the stricter mode (deploy renders and writes the rule).
  const run = await prepare('deploy', options, io, []);
  const durationInMs = Math.round(io.clock() - started);
  const { rows, byTarget, sinks, file, sha256 } = run.users;
  if (options.output === 'json') {
    const peakRssInMb = Math.round(process.resourceUsage().maxRSS / 1024);
    io.stdout.write(
      `${JSON.stringify({ command: 'validate', valid: true, users: { file, sha256, rows, byTarget }, sinks, template: run.template.file, durationInMs, peakRssInMb }, null, 2)}\n`,
    );
    return 0;
  }
  io.stdout.write(
    `sinkrule validate: ${file}: ${rows} mailboxes, no problems (${formatCounts(byTarget as never)}); config ${options.config}; rule template ${run.template.file}; sink${sinks.length > 1 ? 's' : ''} ${sinks.join(', ')}\n`,
  );
  return 0;
}
