import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EwsRule } from '../../simulators/ews/ews-rules.js';
import type { EwsSimulatedMailbox } from '../../simulators/ews/ews-simulator.js';
import { ews } from '../../simulators/scenarios.js';
import { startEwsWorld } from '../helpers/ews-world.js';
import { sink } from '../helpers/graph-world.js';
import { runCli } from '../helpers/cli.js';

const estate = (): EwsSimulatedMailbox[] => [
  { email: 'missing@contoso.com', rules: [ews.foreignRules.removeSpam] },
  {
    email: 'drifted@contoso.com',
    rules: [ews.foreignRules.fromPartner, ews.correctSinkRule('old-sink@contoso.com', { IsEnabled: false })],
  },
  {
    email: 'duplicate@contoso.com',
    rules: [ews.correctSinkRule('old-sink@contoso.com'), ews.foreignRules.removeSpam, ews.correctSinkRule(sink)],
  },
  { email: 'ok@contoso.com', rules: [ews.correctSinkRule(sink), ews.foreignRules.externalRedirect] },
];

/**
 * Rules in order, ids and priorities aside (a recreated rule gets a new id; Exchange renumbers);
 * unset and empty elements are the same in the XML (an empty Conditions element sets nothing).
 */
const content = (rules: EwsRule[]) =>
  rules.map(({ RuleId: _id, Priority: _priority, ...rest }) =>
    Object.fromEntries(
      Object.entries(JSON.parse(JSON.stringify(rest)) as Record<string, unknown>).filter(
        ([, v]) => !(typeof v === 'object' && v !== null && Object.keys(v).length === 0),
      ),
    ),
  );

describe('rollback through EWS (on-premises)', () => {
  it('restores every mailbox exactly after a deploy, through UpdateInboxRules create/set/delete', async () => {
    const world = await startEwsWorld(estate());
    try {
      const emails = estate().map((m) => m.email);
      const before = new Map(emails.map((e) => [e, content(world.sim.rulesOf(e))]));
      const deploy = await world.run(['deploy', '--yes', '--report', 'r']);
      assert.equal(deploy.code, 0, deploy.stderr);
      assert.notDeepEqual(content(world.sim.rulesOf('drifted@contoso.com')), before.get('drifted@contoso.com'));
      // UpdateInboxRules does not answer with the new rule's id: sinkrule reads it back for the report.
      const created = (await world.report('r')).mailboxes.find((m) => m.email === 'missing@contoso.com')!;
      const stored = world.sim.rulesOf('missing@contoso.com').find((r) => r.DisplayName.includes('sinkrule'))!;
      assert.deepEqual([created.ruleIds, created.after[0].id], [[stored.RuleId], stored.RuleId]);
      const env = {
        NODE_EXTRA_CA_CERTS: (await import('../helpers/graph-world.js').then((m) => m.certificate())).caFile,
        SINKRULE_EWS_PASSWORD: world.password,
      };
      const rollback = await runCli(
        ['rollback', '--report', 'r', '--config', world.configFile, '--yes', '--out', 'rb'],
        { cwd: world.dir, env },
      );
      assert.equal(rollback.code, 0, rollback.stderr + rollback.stdout);
      const rows = new Map((await world.report('rb')).mailboxes.map((m) => [m.email, m]));
      for (const email of ['missing@contoso.com', 'drifted@contoso.com', 'duplicate@contoso.com'])
        assert.equal(rows.get(email)!.outcome, 'restored', email);
      assert.equal(rows.get('ok@contoso.com')!.outcome, 'unchanged');
      for (const email of emails)
        assert.deepEqual(
          content(world.sim.rulesOf(email)),
          before.get(email),
          `${email}: back to its rules before the deploy`,
        );
    } finally {
      await world.close();
    }
  });
});
