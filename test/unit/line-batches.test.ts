import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { lineBatches } from '../../src/report/line-batches.js';

async function linesOf(text: string): Promise<{ lines: string[]; batches: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-lines-'));
  try {
    await writeFile(path.join(dir, 'rows.jsonl'), text);
    const lines: string[] = [];
    let batches = 0;
    for await (const batch of lineBatches(path.join(dir, 'rows.jsonl'))) {
      batches++;
      lines.push(...batch.map((line) => line.toString('utf8')));
    }
    return { lines, batches };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('lineBatches', () => {
  it('gives every line once, whole, as bytes, across reads that split a line and a multi-byte character', async () => {
    // 3 MB of rows in three reads; "Zoë Ødegård 🚀" puts 2- and 4-byte characters across the edges.
    const rows = Array.from({ length: 30_000 }, (_, i) =>
      JSON.stringify({ i, name: `Zoë Ødegård 🚀 ${'x'.repeat(i % 97)}` }),
    );
    const { lines, batches } = await linesOf(`${rows.join('\n')}\n`);
    assert.deepEqual(lines, rows);
    assert.ok(batches >= 3 && batches < 10, `${batches} batches: one per read, not one per line`);
  });

  it('splits at \\n only, skips empty lines and keeps a last line without a newline', async () => {
    assert.deepEqual((await linesOf('a\n\nb\r\nc')).lines, ['a', 'b\r', 'c']);
    assert.deepEqual((await linesOf('')).lines, []);
  });
});
