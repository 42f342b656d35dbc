/**
 * The CLI process: wires Ctrl-C and the real terminal to `main`. Everything else lives in
 * cli/main.ts, which has no side effects on import so tests can drive it in-process.
 */
import { hideBin } from 'yargs/helpers';
import { processIO } from './common/io.js';
import { main } from './cli/main.js';

const controller = new AbortController();
process.once('SIGINT', () => {
  process.stderr.write('\nInterrupted: finishing the mailboxes in flight and writing the report…\n');
  controller.abort(new Error('interrupted by the operator (Ctrl-C)'));
});
// No top-level await: the bundle of this file is a CommonJS script (start-bundle.ts).
void main(hideBin(process.argv), processIO(controller.signal)).then((code) => {
  process.exitCode = code;
});
