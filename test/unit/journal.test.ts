import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { walkChain } from '../../src/report/audit.js';
import { genesisHash, Journal, journalLines, journalTail, sha256 } from '../../src/report/journal.js';
import { recordedCommandLine } from '../../src/report/run-info.js';

async function inFolder(body: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-journal-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('journal', () => {
  it('chains every entry to the one before, in call order, even when appends overlap a flush', async () => {
    await inFolder(async (dir) => {
      const journal = await Journal.open(dir, () => Date.UTC(2026, 10, 29));
      await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          journal.append({ type: 'written', email: `user${i}@contoso.com`, createdRuleIds: [String(i)] }),
        ),
      );
      await journal.close();
      const lines = (await readFile(journal.file, 'utf8')).split('\n').slice(0, -1);
      assert.equal(lines.length, 500);
      let previous = genesisHash;
      lines.forEach((line, i) => {
        const entry = JSON.parse(line);
        assert.equal(entry.seq, i + 1);
        assert.equal(entry.prev, previous);
        assert.equal(entry.email, `user${i}@contoso.com`);
        previous = sha256(line);
      });
      assert.equal(journal.lastHash, previous);
      assert.deepEqual(await walkChain(dir), { problem: null, entries: 500, lastHash: previous, torn: false });
    });
  });

  it('reads back only the entries of one type when asked, with their line numbers', async () => {
    await inFolder(async (dir) => {
      const journal = await Journal.open(dir, Date.now);
      // A value that spells the marker is escaped in its line: it never passes for the entry's type.
      await journal.append({ type: 'write-failed', email: 'a@contoso.com', error: '"type":"done"' });
      await journal.append({ type: 'written', email: 'b@contoso.com', createdRuleIds: ['1'] });
      await journal.close();
      const all = [];
      for await (const line of journalLines(dir)) all.push(line.entry?.type);
      assert.deepEqual(all, ['write-failed', 'written']);
      const written = [];
      for await (const line of journalLines(dir, 'written')) written.push([line.number, line.entry?.type]);
      assert.deepEqual(written, [[2, 'written']]);
      const none = [];
      for await (const line of journalLines(dir, 'done')) none.push(line);
      assert.deepEqual(none, []);
    });
  });

  it('continues an existing chain and notices a torn last line', async () => {
    await inFolder(async (dir) => {
      const first = await Journal.open(dir, Date.now);
      await first.append({ type: 'written', email: 'a@contoso.com', createdRuleIds: [] });
      await first.close();
      const second = await Journal.open(dir, Date.now, { entries: first.entries, lastHash: first.lastHash });
      await second.append({ type: 'written', email: 'b@contoso.com', createdRuleIds: [] });
      await second.close();
      assert.equal((await walkChain(dir)).problem, null);
      await writeFile(second.file, `${await readFile(second.file, 'utf8')}{"seq":3,"pr`);
      const walk = await walkChain(dir);
      assert.equal(walk.torn, true);
      assert.equal(walk.entries, 2);
      assert.equal((await journalTail(second.file)).torn, true);
    });
  });

  it('masks values of secret-looking flags on the recorded command line', () => {
    assert.deepEqual(recordedCommandLine(['deploy', '--client-secret', 'abc', '--users', 'u.csv', '--token=xyz']), [
      'deploy',
      '--client-secret',
      '***',
      '--users',
      'u.csv',
      '--token=***',
    ]);
  });
});
