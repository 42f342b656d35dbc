import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse';
import { recordBatches } from '../../src/input/record-batches.js';

describe('recordBatches (the users file a parser buffer at a time)', () => {
  it('gives every record once, in order, in fewer batches than records', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `user${i}@contoso.com,Ünïcode ${i}`);
    // Small reads, so that records cross the source's chunks.
    const source = Readable.from(
      (function* () {
        const text = `${lines.join('\n')}\n`;
        for (let i = 0; i < text.length; i += 700) yield text.slice(i, i + 700);
      })(),
    );
    const seen: string[] = [];
    let batches = 0;
    for await (const batch of recordBatches<string[]>(source.pipe(parse()))) {
      batches++;
      for (const record of batch) seen.push(record.join(','));
    }
    assert.deepEqual(seen, lines);
    assert.ok(batches > 1 && batches < lines.length / 10, `${batches} batches`);
  });

  it('gives at most maxRecords a batch, and still every record', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => ({ i }));
    const sizes: number[] = [];
    const seen: number[] = [];
    // All of them buffered at once, as csv-parse pushes a whole read's records.
    const stream = new PassThrough({ objectMode: true });
    for (const record of records) stream.write(record);
    stream.end();
    for await (const batch of recordBatches<{ i: number }>(stream, 32)) {
      sizes.push(batch.length);
      seen.push(...batch.map((r) => r.i));
    }
    assert.deepEqual(
      seen,
      records.map((r) => r.i),
    );
    assert.equal(Math.max(...sizes), 32);
    assert.ok(sizes.length >= 1000 / 32, `${sizes.length} batches`);
  });

  it('stops the stream when the reader stops early', async () => {
    const parser = Readable.from(Array.from({ length: 100 }, (_, i) => ({ i })));
    for await (const batch of recordBatches<{ i: number }>(parser)) {
      assert.equal(batch[0]!.i, 0);
      break;
    }
    assert.equal(parser.destroyed, true);
  });

  it("throws the stream's error", async () => {
    const stream = new PassThrough({ objectMode: true });
    stream.write({ i: 1 });
    setImmediate(() => stream.destroy(new Error('disk gone')));
    const got: number[] = [];
    await assert.rejects(async () => {
      for await (const batch of recordBatches<{ i: number }>(stream)) got.push(...batch.map((r) => r.i));
    }, /disk gone/);
    assert.deepEqual(got, [1]);
  });

  it('ends when the stream is destroyed without an error', async () => {
    const stream = new PassThrough({ objectMode: true });
    stream.write({ i: 1 });
    setImmediate(() => stream.destroy());
    const got: number[] = [];
    for await (const batch of recordBatches<{ i: number }>(stream)) got.push(...batch.map((r) => r.i));
    assert.deepEqual(got, [1]);
  });

  it('ends without a batch for an empty stream', async () => {
    const batches: unknown[] = [];
    for await (const batch of recordBatches(Readable.from([]))) batches.push(batch);
    assert.deepEqual(batches, []);
  });
});
