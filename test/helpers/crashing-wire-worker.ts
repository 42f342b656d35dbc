/**
 * A wire thread for tests (wire-thread.ts): answers every request 200 at once, and ends with an
 * uncaught error, as a real one would on a bug, on a request for `/crash`, or exits with code 1
 * (no error event) on one for `/exit`. Requests for `/hang` get no answer (they stay out).
 */
import { parentPort } from 'node:worker_threads';
import type { ToWire } from '../../src/providers/wire-thread.js';

parentPort!.on('message', (message: ToWire) => {
  if (message.type !== 'send') return;
  const { id, request } = message.entry;
  if (request.url.endsWith('/hang')) return;
  if (request.url.endsWith('/crash')) throw new Error('simulated crash of the wire thread');
  if (request.url.endsWith('/exit')) process.exit(1);
  parentPort!.postMessage({
    id,
    kind: 'answer',
    answer: { status: 200, headers: {}, body: `{"url":"${request.url}"}` },
  });
});
