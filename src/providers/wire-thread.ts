import { Worker } from 'node:worker_threads';
import path from 'node:path';
import { TransientError } from '../core/errors.js';
import { packageRoot } from '../paths.js';
import type { GraphWire, WireAnswer, WireRequest } from './graph-transport.js';
import type { WireEntry } from './paced-wire.js';

/** Messages to the wire thread. */
export type ToWire = { type: 'send'; entry: WireEntry<WireRequest> } | { type: 'abort'; id: number };

/** Messages from it: one per request. */
export type FromWire = { id: number } & (
  | { kind: 'answer'; answer: WireAnswer; madeUp?: true }
  | { kind: 'held'; until: number }
  | { kind: 'failed'; error: { name?: string; message: string; code?: string } }
);

/** How long before its slot the gate hands a request to the wire thread (ThrottleGateOptions.releaseAheadInMs). */
export const wireLeadInMs = 100;

const workerFile = path.join(packageRoot, 'dist', 'src', 'providers', 'wire-worker.js');

interface Pending {
  resolve: (outcome: Awaited<ReturnType<GraphWire>>) => void;
  reject: (error: unknown) => void;
  forget: () => void;
}

/**
 * A thread that ends by itself (an uncaught error, memory) is started again this many times in a
 * run; the requests it held fail as transient (sent or not: the same as a connection reset, which
 * the runner retries after reading the mailbox again). Past that, every later request fails.
 */
const maxRestarts = 3;

/**
 * The main thread's side of the wire thread (paced-wire.ts says why there is one). The thread
 * keeps the process alive only while a request is out.
 */
export class WireThread {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private started = 0;
  private failure?: Error;

  constructor(
    private readonly file = workerFile,
    /** An earlier run found the service's burst small: the thread starts knowing (PacedWire.smallBurst). */
    private readonly smallBurst = false,
  ) {
    this.worker = this.start();
  }

  readonly send: GraphWire = (request, signal) =>
    new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      if (signal?.aborted) return reject(signal.reason);
      const worker = (this.worker ??= this.start());
      const id = this.nextId++;
      const { sendAt, gapInMs, mailboxes, ...rest } = request;
      worker.postMessage({
        type: 'send',
        entry: { id, request: rest, sendAt, gapInMs, mailboxes },
      } satisfies ToWire);
      // Only once it is posted: a request that could not be must not keep the process alive.
      const onAbort = () => {
        worker.postMessage({ type: 'abort', id } satisfies ToWire);
        this.take(id)?.reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject, forget: () => signal?.removeEventListener('abort', onAbort) });
    });

  /** How many times the thread was started again after it ended by itself. */
  get restarts(): number {
    return this.started - 1;
  }

  /** Ends the thread: what it still holds fails, and so does every later request. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.stop(new TransientError('Graph: the wire thread was closed', 'WireThread'), true);
    await worker?.terminate();
  }

  private start(): Worker {
    this.started++;
    const worker = new Worker(this.file, { workerData: { smallBurst: this.smallBurst } });
    worker.on('message', (message: FromWire) => this.settle(message));
    // An uncaught error is reported, then the exit: the first of the two ends this thread.
    worker.on('error', (error) => this.ended(worker, error));
    worker.on('exit', (code) => this.ended(worker, new Error(`the wire thread ended (exit code ${code})`)));
    // After the listeners: adding a 'message' listener refs the thread again.
    worker.unref();
    return worker;
  }

  private settle(message: FromWire): void {
    const pending = this.take(message.id);
    if (!pending) return; // aborted meanwhile
    if (message.kind === 'failed') pending.reject(Object.assign(new Error(message.error.message), message.error));
    else pending.resolve(message);
  }

  private take(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    pending.forget();
    if (this.pending.size === 0) this.worker?.unref();
    return pending;
  }

  /** The thread ended: what it held fails as transient, and the next request starts another (see maxRestarts). */
  private ended(worker: Worker, cause: Error): void {
    if (worker !== this.worker) return; // closed, or the 'exit' after an 'error'
    this.worker = undefined;
    const error = new TransientError(`Graph: the wire thread failed: ${cause.message}`, 'WireThread', { cause });
    this.stop(error, this.restarts >= maxRestarts);
  }

  /** Fails what is out; `final`: every later request too. */
  private stop(error: Error, final: boolean): void {
    if (final) this.failure ??= error;
    for (const id of [...this.pending.keys()]) this.take(id)?.reject(error);
  }
}
