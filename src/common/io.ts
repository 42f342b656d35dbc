import { createInterface } from 'node:readline/promises';
import { sleep, type Clock, type Sleep } from '../core/retry.js';

/** Everything a command touches outside itself; tests and the demo pass their own. */
export interface CliIO {
  /** Data: the summary, JSON output. */
  stdout: NodeJS.WritableStream;
  /** Progress, plans, warnings, errors. */
  stderr: NodeJS.WritableStream;
  stdinIsTTY: boolean;
  stderrIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  clock: Clock;
  sleep: Sleep;
  /** Lets answers already on the sockets be read (the pacing's `yieldToAnswers`); none on a virtual clock. */
  yieldToAnswers?: () => Promise<void>;
  /** Graph requests leave from a thread of their own (providers/wire-thread.ts); not on a virtual clock. */
  graphWireThread?: boolean;
  confirm(question: string): Promise<boolean>;
  /** Asks for a value on the terminal; an empty answer gives `fallback`. */
  ask(question: string, fallback?: string): Promise<string>;
  /** --quiet: only errors on stderr, no text summary. Set by main. */
  quiet?: boolean;
  /** stderr may carry colour (a terminal and no NO_COLOR). Set by main. */
  color?: boolean;
  /** Aborted on Ctrl-C: workers stop, the report is still written. */
  signal?: AbortSignal;
}

export function processIO(signal?: AbortSignal): CliIO {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdinIsTTY: Boolean(process.stdin.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    env: process.env,
    clock: () => performance.timeOrigin + performance.now(),
    sleep,
    yieldToAnswers: () => new Promise<void>((resolve) => setImmediate(resolve)),
    graphWireThread: true,
    confirm: async (question) => /^y(es)?$/i.test(await askTerminal(`${question} [y/N] `)),
    ask: async (question, fallback) =>
      (await askTerminal(`${question}${fallback ? ` [${fallback}]` : ''}: `)) || (fallback ?? ''),
    signal,
  };
}

async function askTerminal(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}
