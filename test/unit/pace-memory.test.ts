import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Config } from '../../src/input/config.js';
import { PaceMemory } from '../../src/providers/pace-memory.js';

const tenantId = '11111111-2222-3333-4444-555555555555';
const clientId = '66666666-7777-8888-9999-000000000000';
const config = {
  graph: { tenantId, clientId, cloud: 'global' },
  ews: { url: 'https://mail.contoso.com/EWS/Exchange.asmx', username: 'CONTOSO\\svc-sinkrule', auth: 'ntlm' },
} as unknown as Config;
const day = 24 * 60 * 60 * 1000;

describe('the pace kept between runs', () => {
  it('keeps a learnt pace per service and account, without naming either, for a week', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-pace-'));
    try {
      let now = Date.parse('2026-11-29T10:00:00Z');
      const env = { SINKRULE_STATE_DIR: dir };
      const first = PaceMemory.open(env, () => now);
      assert.equal(first.recall('graph', config), undefined, 'nothing kept yet');
      const warning = first.remember(
        [
          ['graph', { requestsPerSecond: 488, source: 'learnt', smallBurst: true }],
          ['ews', undefined],
        ],
        config,
      );
      assert.equal(warning, undefined);
      const text = await readFile(path.join(dir, 'pacing.json'), 'utf8');
      for (const secretish of [tenantId, clientId, 'svc-sinkrule', 'contoso'])
        assert.ok(!text.toLowerCase().includes(secretish.toLowerCase()), `the file does not name ${secretish}`);

      now += day;
      const next = PaceMemory.open(env, () => now);
      assert.equal(next.recall('graph', config), 488);
      assert.equal(next.recallSmallBurst('graph', config), true, 'and that its burst was small');
      assert.equal(next.recallSmallBurst('ews', config), false);
      assert.equal(next.recall('ews', config), undefined, 'EWS learnt nothing');
      const otherApp = { ...config, graph: { ...config.graph!, clientId: 'aaaaaaaa-0000-0000-0000-000000000000' } };
      assert.equal(next.recall('graph', otherApp as Config), undefined, 'another app has a budget of its own');

      // A run that only reused the pace (no 429, no probe) does not make it younger.
      next.remember([['graph', { requestsPerSecond: 488, source: 'remembered' }]], config);
      now += 6.5 * day;
      assert.equal(PaceMemory.open(env, () => now).recall('graph', config), undefined, 'older than a week');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a damaged file is ignored, and a folder it cannot write gives a warning, never a failed run', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-pace-'));
    try {
      await writeFile(path.join(dir, 'pacing.json'), '{not json');
      const memory = PaceMemory.open({ SINKRULE_STATE_DIR: dir }, Date.now);
      assert.equal(memory.recall('graph', config), undefined);

      const blocked = path.join(dir, 'blocked');
      await writeFile(blocked, 'a file where the folder should be');
      const warning = PaceMemory.open({ SINKRULE_STATE_DIR: path.join(blocked, 'state') }, Date.now).remember(
        [['graph', { requestsPerSecond: 300, source: 'learnt' }]],
        config,
      );
      assert.match(warning ?? '', /next run learns it again\. Set SINKRULE_STATE_DIR to a writable folder/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
