import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SimulatedMailboxRecord } from '../../simulators/dataverse/dataverse-simulator.js';
import { EwsSimulator } from '../../simulators/ews/ews-simulator.js';
import { correctSinkRule, ews, sinkRuleName } from '../../simulators/scenarios.js';
import { startDataverseWorld } from '../helpers/dataverse-world.js';
import { schemaValidator, serviceAccount } from '../helpers/ews-world.js';
import { byEmail, certificate, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';

const sinkA = 'crm-sink-a@contoso.com';
const sinkB = 'crm-sink-b@contoso.com';
const probeFrom = 'sinkrule-probe@contoso.com';
const roles = ['MailboxSettings.ReadWrite', 'Mail.Send', 'Mail.ReadWrite', 'Domain.Read.All'];
const env = { SINKRULE_EWS_PASSWORD: 'onprem-password' };

type Check = { check: string; status: string; detail: string };

/**
 * Two sinks named by the users file's `sink` column, over Graph and EWS mailboxes: each user's rule
 * is checked, written, probed and reported against the sink of their own row.
 */
describe('sinks everywhere: each row against its own sink', () => {
  let world: GraphWorld;
  let onPremises: EwsSimulator;
  before(async () => {
    world = await startGraphWorld(
      [
        { email: sinkA, kind: 'exchange-online' },
        { email: sinkB, kind: 'exchange-online' },
        { email: probeFrom, kind: 'exchange-online' },
        // Moved from sink A to sink B in the file: its rule still forwards to A.
        { email: 'moved@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sinkA)] },
        { email: 'stays@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sinkB)] },
        { email: 'new@contoso.com', kind: 'exchange-online' },
        { email: 'kept@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sinkA)] },
      ],
      { app: { roles } },
    );
    onPremises = new EwsSimulator({
      certificate: await certificate(),
      account: { username: serviceAccount, password: env.SINKRULE_EWS_PASSWORD },
      validator: await schemaValidator(),
      mailboxes: [
        { email: 'onprem-moved@contoso.com', rules: [ews.foreignRules.removeSpam, ews.correctSinkRule(sinkA)] },
        { email: 'onprem-new@contoso.com' },
      ],
    });
    await world.writeConfig({
      sink: sinkA,
      graph: world.graphSection,
      ews: { url: await onPremises.start(), username: serviceAccount },
      probe: { from: probeFrom, timeoutInS: 5, pollIntervalInMs: 200 },
    });
    await world.writeUsers(
      [
        'email,target,sink',
        `moved@contoso.com,graph,${sinkB}`,
        `stays@contoso.com,graph,${sinkB}`,
        'new@contoso.com,graph,',
        'kept@contoso.com,graph,',
        `onprem-moved@contoso.com,ews,${sinkB}`,
        'onprem-new@contoso.com,ews,',
      ].join('\n'),
    );
  });
  after(async () => {
    await onPremises?.stop();
    await world?.close();
  });

  it('preflight checks every sink: mailbox, verified domain, its users; JSON lists the users per sink', async () => {
    const result = await world.run(['preflight', '--output', 'json'], env);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const output = JSON.parse(result.stdout) as { checks: Check[]; sinks: unknown };
    const checks = new Map(output.checks.map((c) => [c.check, c]));
    for (const name of ['sink-mailbox', 'sink-domain', 'sink-users'])
      assert.equal(checks.get(name)?.status, 'pass', `${name}: ${checks.get(name)?.detail}`);
    assert.match(checks.get('sink-mailbox')!.detail, new RegExp(`${sinkA}, ${sinkB}: mailbox found`));
    assert.match(checks.get('sink-users')!.detail, new RegExp(`${sinkA}: 3 users \\(graph 2, ews 1\\)`));
    assert.match(checks.get('sink-users')!.detail, new RegExp(`${sinkB}: 3 users \\(graph 2, ews 1\\)`));
    assert.equal(checks.get('sink-record')?.status, 'skip');
    assert.deepEqual(output.sinks, [
      { address: sinkA, users: 3, byRoute: { graph: 2, ews: 1 } },
      { address: sinkB, users: 3, byRoute: { graph: 2, ews: 1 } },
    ]);
  });

  it('preflight fails a sink that has no mailbox, and a sink that is also a user', async () => {
    const users = path.join(world.dir, 'other.csv');
    await writeFile(users, `email,target,sink\nnew@contoso.com,graph,crm-sink-c@contoso.com\n`);
    const missing = await world.runPlain(
      ['preflight', '--output', 'json', '--users', users, '--config', world.configFile],
      env,
    );
    assert.equal(missing.code, 2, missing.stderr);
    const checks = new Map((JSON.parse(missing.stdout) as { checks: Check[] }).checks.map((c) => [c.check, c]));
    assert.equal(checks.get('sink-mailbox')!.status, 'fail');
    assert.match(checks.get('sink-mailbox')!.detail, /crm-sink-c@contoso\.com \((ErrorInvalidUser|ResourceNotFound)/);

    await writeFile(users, `email,target,sink\nnew@contoso.com,graph,${sinkB}\n${sinkB},graph,${sinkA}\n`);
    const listed = await world.runPlain(['preflight', '--users', users, '--config', world.configFile], env);
    assert.equal(listed.code, 1, 'the users file is refused before any request');
    assert.match(listed.stderr, new RegExp(`other\\.csv:3: ${sinkB} is the forward mailbox \\(sink\\) itself`));
  });

  it('verify: a rule forwarding to another sink than its row is drifted; report lists users per sink', async () => {
    const result = await world.run(['verify', '--report', 'v'], env);
    assert.equal(result.code, 2, result.stderr);
    const report = (await world.report('v')) as Awaited<ReturnType<GraphWorld['report']>> & { sinks: unknown };
    const rows = byEmail(report.mailboxes);
    for (const email of ['moved@contoso.com', 'onprem-moved@contoso.com']) {
      assert.equal(rows.get(email)!.outcome, 'drifted', email);
      assert.equal(rows.get(email)!.sink, sinkB);
      assert.ok(
        rows.get(email)!.drift.some((d: string) => d.startsWith('actions.forwardAsAttachmentTo') && d.includes(sinkB)),
        `${email}: ${rows.get(email)!.drift}`,
      );
    }
    assert.equal(rows.get('stays@contoso.com')!.outcome, 'ok');
    assert.equal(rows.get('kept@contoso.com')!.outcome, 'ok');
    assert.deepEqual(report.sinks, [
      { address: sinkA, users: 3, byRoute: { graph: 2, ews: 1 } },
      { address: sinkB, users: 3, byRoute: { graph: 2, ews: 1 } },
    ]);
    const html = await readFile(path.join(world.dir, 'v', 'report.html'), 'utf8');
    assert.match(html, /<h2>Sinks<\/h2>/);
    assert.match(
      html,
      new RegExp(`<td class="mono">${sinkB}</td><td class="n">3</td><td class="n">1</td><td class="n">2</td>`),
      'sink B: 3 users, 1 ews, 2 graph',
    );
  });

  it('deploy repairs the sink in one write: a PATCH (Graph), one SetRuleOperation (EWS)', async () => {
    const graphRuleId = world.sim.rulesOf('moved@contoso.com')[0]!.id;
    const ewsRuleId = onPremises
      .rulesOf('onprem-moved@contoso.com')
      .find((r) => r.DisplayName === sinkRuleName)!.RuleId;
    const graphWrites = world.sim.stats.writes;
    const ewsWrites = onPremises.stats.writes;
    onPremises.capturedRequests.length = 0;
    const result = await world.run(['deploy', '--yes', '--report', 'd'], env);
    assert.equal(result.code, 0, result.stderr);
    const rows = byEmail((await world.report('d')).mailboxes);
    assert.equal(rows.get('moved@contoso.com')!.outcome, 'updated');
    assert.equal(rows.get('onprem-moved@contoso.com')!.outcome, 'updated');
    assert.equal(world.sim.stats.writes - graphWrites, 2, 'one PATCH (moved) and one POST (new)');
    const [moved] = world.sim.rulesOf('moved@contoso.com');
    assert.equal(moved!.id, graphRuleId, 'the same rule, patched (a delete and a create would change its id)');
    assert.deepEqual(
      (moved!.actions!.forwardAsAttachmentTo as Array<{ emailAddress: { address: string } }>).map(
        (r) => r.emailAddress.address,
      ),
      [sinkB],
    );
    assert.equal(onPremises.stats.writes - ewsWrites, 2, 'one UpdateInboxRules each for onprem-moved and onprem-new');
    const updates = onPremises.capturedRequests.filter((xml) => xml.includes('UpdateInboxRules'));
    const forMoved = updates.filter((xml) => xml.includes(ewsRuleId));
    assert.equal(forMoved.length, 1);
    assert.equal(forMoved[0]!.match(/<t:SetRuleOperation>/g)?.length, 1);
    assert.doesNotMatch(forMoved[0]!, /DeleteRuleOperation|CreateRuleOperation/);
    const onPremisesRule = onPremises.rulesOf('onprem-moved@contoso.com').find((r) => r.RuleId === ewsRuleId)!;
    assert.deepEqual(
      (onPremisesRule.Actions!.ForwardAsAttachmentToRecipients as Array<{ address: string }>).map((a) => a.address),
      [sinkB],
    );
    const sinkOf = (rule: { actions?: Record<string, unknown> }) =>
      (rule.actions!.forwardAsAttachmentTo as Array<{ emailAddress: { address: string } }>)[0]!.emailAddress.address;
    assert.equal(sinkOf(world.sim.rulesOf('new@contoso.com')[0]!), sinkA);
    const verify = await world.run(['verify', '--output', 'json'], env);
    assert.deepEqual(JSON.parse(verify.stdout).counts, { ok: 6 });
  });

  it("probe proves each Exchange Online user against their own row's sink", async () => {
    const result = await world.run(['probe', '--report', 'p'], env);
    const rows = byEmail((await world.report('p')).mailboxes);
    for (const [email, sink] of [
      ['moved@contoso.com', sinkB],
      ['stays@contoso.com', sinkB],
      ['new@contoso.com', sinkA],
      ['kept@contoso.com', sinkA],
    ] as const) {
      assert.equal(rows.get(email)!.probe.outcome, 'probe-success', `${email}: ${rows.get(email)!.probe.detail}`);
      assert.match(rows.get(email)!.probe.detail, new RegExp(`arrived in ${sink} as an attachment`));
    }
    assert.equal(rows.get('onprem-new@contoso.com')!.probe.outcome, 'probe-not-run');
    assert.equal(result.code, 0, result.stderr);
  });
});

describe('sinks and Dynamics 365: every sink an active forward mailbox record', () => {
  const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
  const forwardMailbox = (n: number, email: string, status: 0 | 1 | 2 = 1): SimulatedMailboxRecord => ({
    mailboxid: id(n),
    name: email.split('@')[0]!,
    emailaddress: email,
    incomingemaildeliverymethod: 2,
    incomingemailstatus: status,
    outgoingemaildeliverymethod: 0,
    isforwardmailbox: true,
  });
  const user = (n: number, email: string): SimulatedMailboxRecord => ({
    mailboxid: id(n),
    name: email.split('@')[0]!,
    emailaddress: email,
    incomingemaildeliverymethod: 3,
    incomingemailstatus: 1,
    outgoingemaildeliverymethod: 2,
    isforwardmailbox: false,
  });

  it('preflight fails a sink without a forward mailbox record; --from-dataverse rows get the chosen sink', async () => {
    const world = await startDataverseWorld({
      records: [
        forwardMailbox(900, sinkA),
        forwardMailbox(901, 'crm-sink-old@contoso.com', 2),
        user(1, 'u1@contoso.com'),
      ],
      graphMailboxes: [
        { email: sinkA, kind: 'exchange-online' },
        { email: sinkB, kind: 'exchange-online' },
        { email: 'u1@contoso.com', kind: 'exchange-online' },
        { email: 'u2@contoso.com', kind: 'exchange-online' },
      ],
      graphRoles: roles,
    });
    try {
      await world.writeUsers(`email,sink\nu1@contoso.com,${sinkA}\nu2@contoso.com,${sinkB}\n`);
      const withUsers = ['preflight', '--output', 'json', '--users', world.usersFile];
      const missing = await world.run(withUsers);
      assert.equal(missing.code, 2, missing.stderr);
      const check = (JSON.parse(missing.stdout) as { checks: Check[] }).checks.find((c) => c.check === 'sink-record')!;
      assert.equal(check.status, 'fail');
      assert.match(check.detail, new RegExp(`^${sinkB}: no active forward mailbox record in Dynamics 365`));
      assert.match(check.detail, /"crm-sink-a" <crm-sink-a@contoso\.com>, "crm-sink-old" <crm-sink-old@contoso\.com>/);

      await world.writeUsers(`email,sink\nu1@contoso.com,${sinkA}\nu2@contoso.com,crm-sink-old@contoso.com\n`);
      const unhealthy = await world.run(withUsers);
      const warned = (JSON.parse(unhealthy.stdout) as { checks: Check[] }).checks.find(
        (c) => c.check === 'sink-record',
      )!;
      assert.equal(warned.status, 'warn', warned.detail);
      assert.match(warned.detail, /crm-sink-old@contoso\.com: incoming email status is "Failure"/);

      await world.writeConfig({ ...world.baseConfig, sink: sinkA });
      const fromDataverse = await world.run(['preflight', '--from-dataverse', '--output', 'json']);
      assert.equal(fromDataverse.code, 0, fromDataverse.stdout + fromDataverse.stderr);
      const output = JSON.parse(fromDataverse.stdout) as { checks: Check[]; sinks: unknown };
      assert.equal(output.checks.find((c) => c.check === 'sink-record')!.status, 'pass');
      assert.deepEqual(output.sinks, [{ address: sinkA, users: 1, byRoute: { graph: 1 } }]);
    } finally {
      await world.close();
    }
  });
});
