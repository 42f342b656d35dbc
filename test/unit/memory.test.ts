import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';

const run = promisify(execFile);
const probe = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'helpers', 'memory-probe.js');

async function liveHeapFor(rows: number, dir: string): Promise<number> {
  const file = path.join(dir, `users-${rows}.csv`);
  const lines = ['email,displayName'];
  for (let i = 0; i < rows; i++) lines.push(`user${i}@contoso.com,User ${i}`);
  await writeFile(file, `${lines.join('\n')}\n`);
  const { stdout } = await run(process.execPath, ['--expose-gc', probe, file, path.join(dir, `report-${rows}`)], {
    maxBuffer: 1 << 20,
  });
  const result = JSON.parse(stdout) as { maxHeapUsedInMb: number; done: number };
  assert.equal(result.done, rows, 'every row became an outcome');
  return result.maxHeapUsedInMb;
}

describe('memory', () => {
  it('the live heap does not grow with the number of rows (streamed input, runner and report)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-memory-'));
    try {
      const small = await liveHeapFor(10_000, dir);
      const large = await liveHeapFor(100_000, dir);
      // 10× the rows; allow a little for the report page's first 10,000 rows, which both keep.
      assert.ok(large <= small + 15, `live heap ${small} MB at 10,000 rows, ${large} MB at 100,000 rows`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
