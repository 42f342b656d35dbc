/**
 * The wire thread (started by wire-thread.ts): sends the Graph requests the main thread hands it,
 * each at its slot (paced-wire.ts), and posts back each answer or `held`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { answerWindows } from './graph-throttle.js';
import { graphDispatcher, transmit, type WireAnswer, type WireRequest } from './graph-transport.js';
import { PacedWire, type WireOutcome } from './paced-wire.js';
import type { FromWire, ToWire } from './wire-thread.js';

const port = parentPort!;
const dispatcher = graphDispatcher();
const wire = new PacedWire<WireRequest, WireAnswer>({
  smallBurst: (workerData as { smallBurst?: boolean } | null)?.smallBurst === true,
  clock: () => performance.timeOrigin + performance.now(),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  afterAnswers: (fn) => setImmediate(fn),
  transmit: (request, signal) => transmit(dispatcher, request, signal),
  windows: (answer, now) => answerWindows(answer.status, answer.headers, answer.body, now),
  settle: (id, outcome) => port.postMessage({ id, ...plain(outcome) } satisfies FromWire),
});

port.on('message', (message: ToWire) => {
  if (message.type === 'send') wire.enqueue(message.entry);
  else wire.abort(message.id);
});

/** An error crosses threads as its name, message and code (its class stays behind). */
function plain(outcome: WireOutcome<WireAnswer>) {
  if (outcome.kind !== 'failed') return outcome;
  const error = outcome.error as { name?: string; message?: string; code?: string };
  return { kind: 'failed' as const, error: { name: error.name, message: String(error.message), code: error.code } };
}
