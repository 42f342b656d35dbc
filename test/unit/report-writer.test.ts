import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { emptyOutcome, type MailboxOutcome } from '../../src/core/outcome.js';
import { ReportWriter } from '../../src/report/report-writer.js';
import { syntheticRun } from '../helpers/synthetic-report.js';

const sink = 'crm-sink@contoso.com';
const outcome = (i: number): MailboxOutcome => ({
  ...emptyOutcome({ email: `user${i}@contoso.com`, target: 'graph', sink, line: i + 2 }),
  // Rows of about 1 KB: the 16 KB buffers of the corked files fill many times over.
  displayName: `User ${i} ${'ü'.repeat(400)}`,
  outcome: 'ok',
});
const run = (mailboxes: number) =>
  syntheticRun(mailboxes, { command: 'verify', sink, counts: { ok: mailboxes }, exitCode: 0 });

async function written(rows: number, store: (writer: ReportWriter, row: MailboxOutcome) => Promise<unknown>) {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-report-'));
  try {
    const writer = await ReportWriter.open(dir);
    for (let i = 0; i < rows; i++) await store(writer, outcome(i));
    await writer.close(run(rows));
    const json = JSON.parse(await readFile(path.join(dir, 'report.json'), 'utf8')) as { mailboxes: MailboxOutcome[] };
    const csv = (await readFile(path.join(dir, 'report.csv'), 'utf8')).trimEnd().split('\n');
    const html = await readFile(path.join(dir, 'report.html'), 'utf8');
    return { json, csv, html };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('ReportWriter: rows gathered per write', () => {
  it('writes every row of a fast replay (full buffers are written at once, never waiting on the timer)', async () => {
    const { json, csv, html } = await written(3000, (writer, row) => writer.replay(row));
    assert.deepEqual(
      json.mailboxes.map((m) => m.email),
      Array.from({ length: 3000 }, (_, i) => `user${i}@contoso.com`),
    );
    assert.equal(json.mailboxes[2999]!.displayName, outcome(2999).displayName, 'multi-byte text whole');
    assert.equal(csv.length, 3001, 'header and one line per mailbox');
    assert.equal(html.match(/<tr class="[^"]*" data-o=/g)?.length, 3000);
    assert.equal(html.match(/<div class="chunk">/g)?.length, 6, 'a chunk per 500 rows');
  });

  it('writes the rows of a run that ends before the gathering timer fires', async () => {
    const { json, csv } = await written(3, (writer, row) => writer.add(row));
    assert.equal(json.mailboxes.length, 3);
    assert.equal(csv.length, 4);
  });
});
