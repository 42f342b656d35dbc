import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { ResourceManagerSimulator } from '../../simulators/arm/resource-manager-simulator.js';
import { deploymentTemplateSchema } from '../../simulators/arm/watchlist-schema.js';
import { certificate, sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import { joinKeys } from '../helpers/kql.js';

const mailboxCount = 3000;
const removed = 120;
const contact = 'Jane Admin, messaging team, +41 44 000 00 00, messaging-oncall@contoso.com';
const subscriptionId = randomUUID();
const workspaceId = (name: string) =>
  `/subscriptions/${subscriptionId}/resourceGroups/soc-rg/providers/Microsoft.OperationalInsights/workspaces/${name}`;

const csvRows = (text: string) =>
  parse(text, { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>;

describe('SOC pack: deploy, remove, soc, soc upload', () => {
  let w: GraphWorld;
  let arm: ResourceManagerSimulator;
  const emails = Array.from({ length: mailboxCount }, (_, i) => `user${i}@contoso.com`);
  const packFile = (dir: string, file: string) => readFile(path.join(w.dir, dir, 'soc', file), 'utf8');

  before(async () => {
    const mailboxes = emails.map((email): SimulatedMailbox => ({ email, kind: 'exchange-online' }));
    w = await startGraphWorld([...mailboxes, { email: sink, kind: 'exchange-online' }]);
    arm = new ResourceManagerSimulator({
      certificate: await certificate(),
      identity: w.sim.identity,
      workspaces: [
        { subscriptionId, resourceGroup: 'soc-rg', name: 'soc-ws', sentinelContributors: [w.clientId] },
        { subscriptionId, resourceGroup: 'soc-rg', name: 'locked-ws', sentinelContributors: [] },
      ],
    });
    await arm.start();
    await w.writeConfig({ sink, graph: w.graphSection, soc: { contact, resourceManagerUrl: arm.url } });
    await w.writeUsers(`email\n${emails.join('\n')}\n`);
  });
  after(async () => {
    await arm.stop();
    await w.close();
  });

  it('before the rollout: preflight warns of no pack; a dry run and soc write the notice; then it passes', async () => {
    const socChecks = async () => {
      const result = await w.run(['preflight', '--output', 'json']);
      const checks = JSON.parse(result.stdout).checks as Array<{ check: string; status: string; detail: string }>;
      return Object.fromEntries(checks.filter((c) => c.check.startsWith('soc-')).map((c) => [c.check, c]));
    };
    const before = await socChecks();
    assert.equal(before['soc-pack']!.status, 'warn');
    assert.match(before['soc-pack']!.detail, /no SOC pack was ever written for this mailbox list/);
    assert.equal(before['soc-contact']!.status, 'pass');
    const plan = await w.run(['deploy', '--dry-run', '--report', 'plan']);
    assert.equal(plan.code, 0, plan.stderr);
    assert.ok(!(await readdir(path.join(w.dir, 'plan'))).includes('soc'), 'a dry run writes no pack by itself');
    const soc = await w.runPlain(['soc', '--report', 'plan', '--config', w.configFile]);
    assert.equal(soc.code, 0, soc.stderr);
    const notice = await packFile('plan', 'notice.md');
    assert.match(notice, /sinkrule deploy \(planned\)/);
    assert.match(notice, /will create or repair one server-side inbox rule, .* in 3,000 mailboxes/);
    assert.deepEqual((await readdir(path.join(w.dir, 'plan', 'soc'))).sort(), ['notice.md', 'pack.json']);
    assert.equal((await socChecks())['soc-pack']!.status, 'pass');
  });

  it('deploy writes the pack: one watchlist row per mailbox holding the rule, with the ids Graph gave', async () => {
    const result = await w.run(['deploy', '--yes', '--report', 'deploy']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /SOC pack: .*soc/);
    const rows = csvRows(await packFile('deploy', 'watchlist.csv'));
    assert.equal(rows.length, mailboxCount);
    assert.deepEqual(Object.keys(rows[0]!), [
      'MailboxUpn',
      'RuleDisplayName',
      'ForwardTarget',
      'RuleId',
      'Route',
      'TenantId',
      'ClientAppId',
      'RunId',
      'DeployedAtUtc',
    ]);
    const report = await w.report('deploy');
    for (const row of rows) {
      const stored = w.sim.rulesOf(row.MailboxUpn!);
      assert.equal(stored.length, 1);
      assert.equal(row.RuleId, stored[0]!.id, `${row.MailboxUpn}: the id Graph returned`);
      assert.equal(row.RuleDisplayName, stored[0]!.displayName);
      assert.equal(row.ForwardTarget, sink);
      assert.equal(row.Route, 'graph');
      assert.equal(row.TenantId, w.tenantId);
      assert.equal(row.ClientAppId, w.clientId);
      assert.equal(row.RunId, report.run.journal.lastHash.slice(0, 16));
      assert.ok(!Number.isNaN(Date.parse(row.DeployedAtUtc!)));
    }
    assert.equal(new Set(rows.map((r) => r.MailboxUpn)).size, mailboxCount, 'one row per mailbox');
  });

  it('exclusion.kql joins every watchlist part on mailbox, rule name and forward target together', async () => {
    const kql = await packFile('deploy', 'exclusion.kql');
    assert.match(kql, /_GetWatchlist\('sinkrule'\)/);
    for (const table of ['OfficeActivity', 'CloudAppEvents'])
      assert.match(kql, new RegExp(`^let \\w+ = ${table}$`, 'm'));
    for (const operation of ['New-InboxRule', 'Set-InboxRule', 'UpdateInboxRules']) assert.ok(kql.includes(operation));
    const joins = joinKeys(kql);
    assert.equal(joins.length, 1, 'one join, never one on the target alone');
    assert.deepEqual(joins[0]!.map((pair) => pair.right).sort(), [
      'WatchlistMailbox',
      'WatchlistRuleName',
      'WatchlistTarget',
    ]);
  });

  it('watchlist.arm.json is a deployable template the watchlists schema accepts, with the CSV inline', async () => {
    const template = JSON.parse(await packFile('deploy', 'watchlist.arm.json'));
    const checked = deploymentTemplateSchema.safeParse(template);
    assert.ok(checked.success, JSON.stringify(checked.error?.issues.slice(0, 3)));
    const [resource] = template.resources;
    assert.equal(resource.name, 'sinkrule');
    assert.equal(resource.properties.itemsSearchKey, 'MailboxUpn');
    assert.equal(resource.properties.rawContent, await packFile('deploy', 'watchlist.csv'));
    assert.deepEqual(Object.keys(template.parameters), ['workspaceName']);
  });

  it('notice.md names the counts, the app and its permissions, the sinks, the alerts and the contact', async () => {
    const notice = await packFile('deploy', 'notice.md');
    assert.match(notice, /in 3,000 mailboxes/);
    assert.match(notice, /holding the rule after the run \(watchlist rows\): 3,000/);
    assert.ok(notice.includes(`client id ${w.clientId}`));
    assert.match(notice, /application permissions: MailboxSettings\.ReadWrite/);
    assert.ok(notice.includes(sink));
    assert.match(notice, /Creation of forwarding\/redirect rule/);
    assert.ok(notice.includes(contact));
    assert.match(notice, /\*\*all three\*\*/);
  });

  it('remove of some mailboxes writes their leaving rows with the rule ids the watchlist holds', async () => {
    const deployed = new Map(csvRows(await packFile('deploy', 'watchlist.csv')).map((r) => [r.MailboxUpn, r.RuleId]));
    const leavingUsers = path.join(w.dir, 'leaving-users.csv');
    await writeFile(leavingUsers, `email\n${emails.slice(0, removed).join('\n')}\n`);
    const result = await w.runPlain([
      'remove',
      '--yes',
      '--report',
      'remove',
      '--users',
      leavingUsers,
      '--config',
      w.configFile,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const files = await readdir(path.join(w.dir, 'remove', 'soc'));
    assert.ok(files.includes('leaving.csv') && !files.includes('watchlist.csv'), files.join(', '));
    const leaving = csvRows(await packFile('remove', 'leaving.csv'));
    assert.equal(leaving.length, removed);
    for (const row of leaving) {
      assert.equal(row.RuleId, deployed.get(row.MailboxUpn), row.MailboxUpn);
      assert.equal(w.sim.rulesOf(row.MailboxUpn!).length, 0);
      assert.ok(row.LeftAtUtc);
    }
  });

  it('nothing in the pack holds the secret or a token', async () => {
    for (const dir of ['deploy', 'remove']) {
      for (const file of await readdir(path.join(w.dir, dir, 'soc'))) {
        const text = await packFile(dir, file);
        assert.ok(!text.includes(w.secret), `${dir}/soc/${file} holds the client secret`);
        assert.doesNotMatch(text, /eyJ[\w-]{10,}\.[\w-]{10,}\./, `${dir}/soc/${file} holds a token`);
      }
    }
  });

  it('soc --report rewrites the same pack on demand', async () => {
    const before = await packFile('deploy', 'watchlist.csv');
    const result = await w.runPlain(['soc', '--report', 'deploy', '--config', w.configFile]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await packFile('deploy', 'watchlist.csv'), before);
  });

  it('soc upload --dry-run shows the PUT and sends nothing', async () => {
    const result = await upload('soc-ws', ['--dry-run']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /\[dry run\] PUT https:\/\/127\.0\.0\.1:\d+\/subscriptions\/.*\/watchlists\/sinkrule\?api-version=2024-09-01/,
    );
    assert.equal(arm.requests.length, 0);
  });

  it('soc upload sends one PUT per part with a Resource Manager token; created, then updated', async () => {
    for (const expected of [201, 200]) {
      const before = arm.requests.length;
      const result = await upload('soc-ws', ['--yes']);
      assert.equal(result.code, 0, result.stderr);
      const sent = arm.requests.slice(before);
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.status, expected);
      assert.equal(sent[0]!.audience, 'https://management.azure.com');
      assert.equal(sent[0]!.apiVersion, '2024-09-01');
      assert.match(
        sent[0]!.path,
        /\/workspaces\/soc-ws\/providers\/Microsoft\.SecurityInsights\/watchlists\/sinkrule$/,
      );
    }
    const stored = [...arm.watchlists.values()][0] as { properties: Record<string, unknown> };
    assert.equal(stored.properties.rawContent, await packFile('deploy', 'watchlist.csv'));
    assert.equal(stored.properties.itemsSearchKey, 'MailboxUpn');
  });

  it('soc upload without Microsoft Sentinel Contributor says which role is missing', async () => {
    const result = await upload('locked-ws', ['--yes']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /AuthorizationFailed/);
    assert.match(result.stderr, /Microsoft\.SecurityInsights\/watchlists\/write/);
    assert.match(result.stderr, /Microsoft Sentinel Contributor/);
  });

  it('soc upload with a token of another audience is refused 401 and says what the audience must be', async () => {
    const usgov = new ResourceManagerSimulator({
      certificate: await certificate(),
      identity: w.sim.identity,
      cloud: 'usgov',
      workspaces: [{ subscriptionId, resourceGroup: 'soc-rg', name: 'soc-ws', sentinelContributors: [w.clientId] }],
    });
    await usgov.start();
    try {
      await w.writeConfig({ sink, graph: w.graphSection, soc: { contact, resourceManagerUrl: usgov.url } });
      const result = await upload('soc-ws', ['--yes']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /401 InvalidAuthenticationTokenAudience/);
      assert.match(result.stderr, /https:\/\/management\.azure\.com \(the cloud in graph\.cloud\)/);
    } finally {
      await w.writeConfig({ sink, graph: w.graphSection, soc: { contact, resourceManagerUrl: arm.url } });
      await usgov.stop();
    }
  });

  function upload(workspace: string, extra: string[]) {
    return w.runPlain([
      'soc',
      'upload',
      '--report',
      'deploy',
      '--config',
      w.configFile,
      '--workspace',
      workspaceId(workspace),
      ...extra,
    ]);
  }
});
