import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { deploymentTemplateSchema, watchlistBodySchema } from '../../simulators/arm/watchlist-schema.js';
import { exclusionKql } from '../../src/soc/exclusion-kql.js';
import { writeSocPack } from '../../src/soc/pack.js';
import { packFor } from '../../src/soc/pack-state.js';
import {
  SocRowWriter,
  watchlistColumns,
  watchlistPartLimitInBytes,
  type WatchlistRow,
} from '../../src/soc/watchlist.js';
import { armTemplate, templateLimitInBytes, watchlistProperties } from '../../src/soc/watchlist-resource.js';
import { joinKeys } from '../helpers/kql.js';
import { syntheticApp, writeSyntheticDeployReport } from '../helpers/synthetic-report.js';

const row = (i: number): WatchlistRow => ({
  MailboxUpn: `user${i}@contoso.com`,
  RuleDisplayName: 'Dynamics 365 forward mailbox (sinkrule)',
  ForwardTarget: 'crm-sink@contoso.com',
  RuleId: `AQAAA${i}=`,
  Route: 'graph',
  TenantId: syntheticApp.tenantId,
  ClientAppId: syntheticApp.appId,
  RunId: '0123456789abcdef',
  DeployedAtUtc: '2026-12-01T10:00:00.000Z',
});

async function withDir<T>(work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-soc-'));
  try {
    return await work(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('SocRowWriter', () => {
  it('splits into parts under the limit, each with its header and its own alias', () =>
    withDir(async (dir) => {
      const writer = new SocRowWriter<WatchlistRow>(dir, 'watchlist', 'sinkrule', watchlistColumns, 20_000);
      for (let i = 0; i < 1000; i++) await writer.add(row(i));
      const parts = await writer.close();
      assert.ok(parts.length > 1);
      assert.deepEqual(
        parts.map((p) => [p.file, p.alias]),
        parts.map((_, i) => [`watchlist-${i + 1}.csv`, `sinkrule-${i + 1}`]),
      );
      const seen: string[] = [];
      for (const part of parts) {
        const text = await readFile(path.join(dir, part.file), 'utf8');
        assert.equal(Buffer.byteLength(text), part.bytes);
        assert.ok(part.bytes <= 20_000, `${part.file}: ${part.bytes} bytes`);
        const rows = parse(text, { columns: true }) as WatchlistRow[];
        assert.equal(rows.length, part.rows);
        seen.push(...rows.map((r) => r.MailboxUpn));
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 1000 }, (_, i) => `user${i}@contoso.com`),
      );
    }));

  it('one part is watchlist.csv with alias sinkrule; no rows, no file', () =>
    withDir(async (dir) => {
      const one = new SocRowWriter<WatchlistRow>(dir, 'watchlist', 'sinkrule', watchlistColumns);
      await one.add(row(1));
      assert.deepEqual(
        (await one.close()).map((p) => [p.file, p.alias, p.rows]),
        [['watchlist.csv', 'sinkrule', 1]],
      );
      const none = new SocRowWriter<WatchlistRow>(dir, 'leaving', 'sinkrule-leaving', watchlistColumns);
      assert.deepEqual(await none.close(), []);
    }));
});

describe('exclusion.kql', () => {
  it('reads every part and joins on mailbox, rule name and target in one join', () => {
    const kql = exclusionKql(['sinkrule-1', 'sinkrule-2', 'sinkrule-3'], { ruleName: 'X', generatedAt: 'now' });
    for (const alias of ['sinkrule-1', 'sinkrule-2', 'sinkrule-3'])
      assert.ok(kql.includes(`_GetWatchlist('${alias}')`));
    const joins = joinKeys(kql);
    assert.equal(joins.length, 1);
    assert.deepEqual(joins[0], [
      { left: 'Mailbox', right: 'WatchlistMailbox' },
      { left: 'RuleNameKey', right: 'WatchlistRuleName' },
      { left: 'Target', right: 'WatchlistTarget' },
    ]);
  });

  it('the join parser sees a join on the target alone (what the query must never do)', () => {
    assert.deepEqual(joinKeys('T | join kind=inner W on $left.Target == $right.WatchlistTarget | take 1'), [
      [{ left: 'Target', right: 'WatchlistTarget' }],
    ]);
  });
});

describe('watchlist schema (REST spec 2024-09-01)', () => {
  const properties = watchlistProperties(
    { file: 'watchlist.csv', alias: 'sinkrule', rows: 1, bytes: 10 },
    1,
    'MailboxUpn\nuser@contoso.com\n',
    { runId: 'r', ruleName: 'n' },
  );

  it('accepts the template and the PUT body sinkrule writes', () => {
    assert.ok(deploymentTemplateSchema.safeParse(armTemplate([{ alias: 'sinkrule', properties }])).success);
    assert.ok(watchlistBodySchema.safeParse({ properties }).success);
  });

  it('refuses what the service refuses: no search key, another source, another api-version', () => {
    const { itemsSearchKey: _key, ...withoutKey } = properties;
    assert.equal(watchlistBodySchema.safeParse({ properties: withoutKey }).success, false);
    assert.equal(watchlistBodySchema.safeParse({ properties: { ...properties, source: 'Upload' } }).success, false);
    const template = armTemplate([{ alias: 'sinkrule', properties }]) as { resources: Array<Record<string, unknown>> };
    template.resources[0]!.apiVersion = '2019-01-01-preview';
    assert.equal(deploymentTemplateSchema.safeParse(template).success, false);
  });
});

describe('writeSocPack', () => {
  it('a list over 3.8 MB becomes several watchlists, one ARM template each, all in the query', () =>
    withDir(async (dir) => {
      const env = { SINKRULE_STATE_DIR: path.join(dir, 'state') };
      const report = path.join(dir, 'report');
      await writeSyntheticDeployReport(report, 40_000, 'crm-sink@contoso.com');
      const { manifest } = await writeSocPack(report, { clock: Date.now, env });
      assert.ok(manifest.watchlist.length >= 2, `${manifest.watchlist.length} parts`);
      assert.equal(
        manifest.watchlist.reduce((sum, p) => sum + p.rows, 0),
        40_000,
      );
      assert.deepEqual(
        manifest.watchlist.map((p) => p.alias),
        manifest.watchlist.map((_, i) => `sinkrule-${i + 1}`),
      );
      for (const part of manifest.watchlist) assert.ok(part.bytes <= watchlistPartLimitInBytes);
      assert.equal(manifest.templates.length, manifest.watchlist.length);
      for (const template of manifest.templates) {
        const file = path.join(report, 'soc', template.file);
        assert.ok((await stat(file)).size <= templateLimitInBytes, template.file);
        assert.ok(deploymentTemplateSchema.safeParse(JSON.parse(await readFile(file, 'utf8'))).success);
      }
      const kql = await readFile(path.join(report, 'soc', 'exclusion.kql'), 'utf8');
      for (const part of manifest.watchlist) assert.ok(kql.includes(`_GetWatchlist('${part.alias}')`));
      const run = JSON.parse((await readFile(path.join(report, 'report.json'), 'utf8')).replace(/\]\n\}\n$/, ']}'));
      assert.ok(packFor(env, run.run.input.sha256), 'preflight can tell the pack was written');
    }));
});
