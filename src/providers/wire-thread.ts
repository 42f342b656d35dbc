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
  | { kind: 'answer'; answer: WireAnswer }
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
 * The main thread's side of the wire thread (paced-wire.ts says why there is one). The thread
 * keeps the process alive only while a request is out.
 */
export class WireThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure?: Error;

  constructor(file = workerFile) {
    this.worker = new Worker(file);
    this.worker.on('message', (message: FromWire) => this.settle(message));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the wire thread ended (exit code ${code})`)));
    // After the listeners: adding a 'message' listener refs the thread again.
    this.worker.unref();
  }

  readonly send: GraphWire = (request, signal) =>
    new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      if (signal?.aborted) return reject(signal.reason);
      const id = this.nextId++;
      const { sendAt, gapInMs, mailboxes, ...rest } = request;
      this.worker.postMessage({
        type: 'send',
        entry: { id, request: rest, sendAt, gapInMs, mailboxes },
      } satisfies ToWire);
      // Only once it is posted: a request that could not be must not keep the process alive.
      const onAbort = () => {
        this.worker.postMessage({ type: 'abort', id } satisfies ToWire);
        this.take(id)?.reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject, forget: () => signal?.removeEventListener('abort', onAbort) });
    });

  async close(): Promise<void> {
    await this.worker.terminate();
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
    if (this.pending.size === 0) this.worker.unref();
    return pending;
  }

  private fail(cause: Error): void {
    this.failure ??= new TransientError(`Graph: the wire thread failed: ${cause.message}`, 'WireThread', { cause });
    for (const id of [...this.pending.keys()]) this.take(id)?.reject(this.failure);
  }
}
