import { PassThrough } from 'node:stream';
import type { CliIO } from '../../src/common/io.js';
import { VirtualTime } from './virtual-time.js';
import { testStateDir } from './cli.js';

/** A CliIO for in-process tests: captured stdout/stderr, a virtual clock, scripted answers. */
export function fakeIO(
  options: {
    env?: NodeJS.ProcessEnv;
    answers?: boolean[];
    replies?: string[];
    stdinIsTTY?: boolean;
    stderrIsTTY?: boolean;
  } = {},
) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const time = new VirtualTime();
  const questions: string[] = [];
  const io: CliIO = {
    stdout,
    stderr,
    stdinIsTTY: options.stdinIsTTY ?? false,
    stderrIsTTY: options.stderrIsTTY ?? false,
    env: { SINKRULE_STATE_DIR: testStateDir, ...options.env },
    // Real time: the runner measures durations; sleeping is instant so nothing waits.
    clock: () => Date.now(),
    sleep: time.sleep,
    confirm: async (question) => {
      questions.push(question);
      return options.answers?.shift() ?? false;
    },
    ask: async (question, fallback) => {
      questions.push(question);
      return options.replies?.shift() || (fallback ?? '');
    },
  };
  return { io, questions, stdout: () => out, stderr: () => err };
}
