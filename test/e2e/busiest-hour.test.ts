import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliverMailHour, type HourMailbox } from '../../simulators/graph/busiest-hour.js';
import { EwsSimulator } from '../../simulators/ews/ews-simulator.js';
import { receivingLimitPerHour } from '../../simulators/graph/receiving-limits.js';
import { schemaValidator, serviceAccount } from '../helpers/ews-world.js';
import { certificate, startGraphWorld } from '../helpers/graph-world.js';

const sinks = [1, 2, 3, 4].map((n) => `crm-sink-${n}@contoso.com`);
const cloud = Array.from({ length: 160 }, (_, i) => `cloud${i}@contoso.com`);
const onPremises = Array.from({ length: 40 }, (_, i) => `onprem${i}@contoso.com`);
/** Messages each user receives in the busiest hour of a working day. */
const perUser = 60;
const monday9am = Date.parse('2026-03-02T09:00:00Z');
const env = { SINKRULE_EWS_PASSWORD: 'onprem-password' };

/**
 * The sinks under load: a deploy from a users file that spreads ~200 users (a fifth on-premises)
 * over four sinks, then a busiest hour of simulated mail through the rules the deploy wrote, read
 * back from both simulators' stores; then everyone on one sink. Exchange Online's receiving limits
 * (simulators/graph/receiving-limits.ts) decide what arrives.
 */
describe('busiest hour: simulated mail through the deployed rules into the sinks', () => {
  it('under 3,600 an hour per sink no bounce; one sink for all refuses on-premises copies (5.2.122)', async () => {
    const world = await startGraphWorld([
      ...sinks.map((email) => ({ email, kind: 'exchange-online' as const })),
      ...cloud.map((email) => ({ email, kind: 'exchange-online' as const })),
    ]);
    const ews = new EwsSimulator({
      certificate: await certificate(),
      account: { username: serviceAccount, password: env.SINKRULE_EWS_PASSWORD },
      validator: await schemaValidator(),
      mailboxes: onPremises.map((email) => ({ email })),
    });
    try {
      await world.writeConfig({
        graph: world.graphSection,
        ews: { url: await ews.start(), username: serviceAccount },
      });
      const users = [
        ...cloud.map((email) => ({ email, target: 'graph' })),
        ...onPremises.map((email) => ({ email, target: 'ews' })),
      ];
      const sinkOf = new Map(users.map((u, i) => [u.email, sinks[i % sinks.length]!]));
      await world.writeUsers(
        `email,target,sink\n${users.map((u) => `${u.email},${u.target},${sinkOf.get(u.email)}`).join('\n')}\n`,
      );
      const spread = await world.run(['deploy', '--yes', '--output', 'json'], env);
      assert.equal(spread.code, 0, spread.stderr);
      assert.deepEqual(JSON.parse(spread.stdout).counts, { created: 200 });
      for (const email of cloud)
        assert.deepEqual(forwardsOf(world.sim.rulesOf(email)[0]!.actions), [sinkOf.get(email)], email);
      for (const email of onPremises)
        assert.deepEqual(
          (ews.rulesOf(email)[0]!.Actions!.ForwardAsAttachmentToRecipients as Array<{ address: string }>).map(
            (a) => a.address,
          ),
          [sinkOf.get(email)],
          email,
        );

      const mailboxes: HourMailbox[] = users.map((u) => ({
        email: u.email,
        route: u.target as 'graph' | 'ews',
        messages: perUser,
      }));
      const rules = { graph: world.sim, ews };
      const spreadHour = deliverMailHour(world.sim.mail, { mailboxes, rules, startAt: monday9am });
      assert.equal(spreadHour.copies, 200 * perUser);
      assert.deepEqual(spreadHour.bounces, [], 'no sink past its limit');
      for (const sink of sinks) {
        const tally = spreadHour.recipients[sink]!;
        assert.equal(tally.delivered, 50 * perUser, sink);
        assert.ok(tally.delivered < receivingLimitPerHour);
        assert.equal(tally.deliveredFrom['on-premises'], 10 * perUser, `${sink}: every on-premises copy arrived`);
      }

      await world.writeUsers(
        `email,target,sink\n${users.map((u) => `${u.email},${u.target},${sinks[0]}`).join('\n')}\n`,
      );
      const gathered = await world.run(['deploy', '--yes', '--output', 'json'], env);
      assert.equal(gathered.code, 0, gathered.stderr);
      assert.deepEqual(JSON.parse(gathered.stdout).counts, { unchanged: 50, updated: 150 });

      // The same hour a day later (the rolling hour of the first run is long over).
      const oneSink = deliverMailHour(world.sim.mail, { mailboxes, rules, startAt: monday9am + 24 * 3_600_000 });
      const tally = oneSink.recipients[sinks[0]!]!;
      assert.equal(tally.deliveredFrom['exchange-online'], cloud.length * perUser, 'every Exchange Online copy');
      assert.ok(tally.delivered > receivingLimitPerHour, 'Exchange Online copies are delivered past the limit');
      const refused = tally.refusedFrom['on-premises'] ?? 0;
      assert.ok(refused > onPremises.length * perUser * 0.5, `most on-premises copies refused (${refused})`);
      assert.equal(refused + (tally.deliveredFrom['on-premises'] ?? 0), onPremises.length * perUser);
      assert.deepEqual(tally.byStatus, { '5.2.122': refused });
      assert.ok(oneSink.bounces.every((b) => b.route === 'ews' && b.status === '5.2.122' && b.to === sinks[0]));
      assert.equal(
        new Set(oneSink.bounces.map((b) => b.mailbox)).size,
        onPremises.length,
        'every on-premises user loses mail',
      );
    } finally {
      await ews.stop();
      await world.close();
    }
  });
});

function forwardsOf(actions: Record<string, unknown> | undefined): string[] {
  return ((actions?.forwardAsAttachmentTo as Array<{ emailAddress: { address: string } }>) ?? []).map(
    (r) => r.emailAddress.address,
  );
}
