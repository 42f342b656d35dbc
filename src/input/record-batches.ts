import type { Readable } from 'node:stream';

/**
 * The records of an object-mode stream (csv-parse's), a buffer at a time: one await per batch
 * instead of one per record. `for await` over the stream itself resolves a promise per record, and
 * a generator on top of it one more: for a 10,000-row users file that was a third of the time the
 * check took before the first request of a run. At most `maxRecords` a batch. Stops the stream when
 * the caller stops early.
 */
export async function* recordBatches<T>(stream: Readable, maxRecords = Number.POSITIVE_INFINITY): AsyncGenerator<T[]> {
  let failure: { error: unknown } | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (error: unknown) => {
    failure = { error };
    notify();
  };
  // 'close' without 'end': destroyed by someone else, nothing more will come.
  stream.on('readable', notify).on('end', onEnd).on('error', onError).on('close', onEnd);
  try {
    for (;;) {
      const batch: T[] = [];
      while (batch.length < Math.max(1, maxRecords)) {
        const record = stream.read() as T | null;
        if (record === null) break;
        batch.push(record);
      }
      if (batch.length > 0) yield batch;
      else if (failure) throw failure.error;
      else if (ended) return;
      // No await between the last read and this: an event cannot slip in before `wake` is set.
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('readable', notify).off('end', onEnd).off('error', onError).off('close', onEnd);
    if (!ended) stream.destroy();
  }
}
