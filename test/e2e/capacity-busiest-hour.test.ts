import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { EwsSimulator } from '../../simulators/ews/ews-simulator.js';
import { deliverMailHour, type HourMailbox, type HourResult } from '../../simulators/graph/busiest-hour.js';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { receivingLimitPerHour } from '../../simulators/graph/receiving-limits.js';
import {
  busiestHourOf,
  capacityRoles,
  capacityTenant,
  refreshDate,
  sinkName,
  tooBusyInTenant,
  volumesExport,
} from '../helpers/capacity-tenant.js';
import { schemaValidator, serviceAccount } from '../helpers/ews-world.js';
import { certificate, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';

const users = capacityTenant();
const onPremises = users.filter((u) => u.target === 'ews');
const env = { SINKRULE_EWS_PASSWORD: 'onprem-password' };
/** The Monday 9:00 hour after the report's period (the virtual clock of the simulated mail). */
const monday9am = Date.parse('2026-12-07T09:00:00Z');
/**
 * Each user's busiest hour of a working day: the working-day volume capacity read from the usage
 * report (Receive Count ÷ working days) × the peak-hour share (0.2), to the nearest message.
 */
const hourOf = new Map(users.map((u) => [u.email, Math.round(busiestHourOf(u.perWorkingDay))]));
const mailboxes: HourMailbox[] = users.map((u) => ({
  email: u.email,
  route: u.target,
  messages: hourOf.get(u.email)!,
}));
const readCsv = async (file: string) =>
  parse(await readFile(file, 'utf8'), { columns: true, bom: true }) as Array<Record<string, string>>;
const forwardsOf = (actions: Record<string, unknown> | undefined) =>
  ((actions?.forwardAsAttachmentTo as Array<{ emailAddress: { address: string } }>) ?? []).map(
    (r) => r.emailAddress.address,
  );

/**
 * Issue 22's second "Done when": the CSV `capacity --out` wrote for the 2,000-user hybrid tenant,
 * deployed through Graph and EWS, then the busiest hour of a working day through the rules the
 * deploy wrote (simulators/graph/busiest-hour.ts, Exchange Online's receiving limits), read from
 * the simulators' stores; then the same hour with everyone's rule on one sink.
 */
describe('capacity --out, deploy, then the busiest hour through the simulators', () => {
  let w: GraphWorld;
  let ews: EwsSimulator;
  let rows: Array<Record<string, string>>;
  let needed = 0;
  before(async () => {
    w = await startGraphWorld(
      [
        ...users.map((u): SimulatedMailbox => ({
          email: u.email,
          kind: u.target === 'ews' ? 'on-premises' : 'exchange-online',
        })),
        ...Array.from({ length: 20 }, (_, i): SimulatedMailbox => ({
          email: sinkName(i + 1),
          kind: 'exchange-online',
        })),
      ],
      {
        app: { roles: [...capacityRoles, 'MailboxSettings.ReadWrite'] },
        reports: {
          refreshDate,
          displayConcealedNames: false,
          activity: users.map((u) => ({ upn: u.email, receivedPerWorkingDay: u.perWorkingDay })),
        },
      },
    );
    ews = new EwsSimulator({
      certificate: await certificate(),
      account: { username: serviceAccount, password: env.SINKRULE_EWS_PASSWORD },
      validator: await schemaValidator(),
      mailboxes: onPremises.map((u) => ({ email: u.email })),
    });
    await w.writeConfig({
      sink: sinkName(1),
      graph: w.graphSection,
      ews: { url: await ews.start(), username: serviceAccount },
    });
    await w.writeUsers(`email,target\n${users.map((u) => `${u.email},${u.target}`).join('\n')}\n`);
    // On-premises users have no row in the Exchange Online report: the admin supplies theirs.
    await writeFile(path.join(w.dir, 'onprem.csv'), volumesExport(onPremises));
  });
  const deployFrom = (file: string) =>
    w.runPlain(['deploy', '--users', file, '--config', w.configFile, '--yes', '--output', 'json'], env);
  after(async () => {
    await ews?.stop();
    await w?.close();
  });

  it('capacity --sinks … --out spread.csv, deploy --users spread.csv: every rule forwards to its row', async () => {
    const one = await w.run(['capacity', '--volumes', 'onprem.csv', '--output', 'json']);
    assert.equal(one.code, 2, one.stderr);
    needed = JSON.parse(one.stdout).sinksNeeded;
    const sinks = Array.from({ length: needed }, (_, i) => sinkName(i + 1));
    const plan = await w.run([
      'capacity',
      '--volumes',
      'onprem.csv',
      '--sinks',
      sinks.join(','),
      '--out',
      'spread.csv',
    ]);
    assert.equal(plan.code, 2, 'the too-busy users are left out: exit 2');
    rows = await readCsv(path.join(w.dir, 'spread.csv'));
    assert.equal(rows.length, users.length - tooBusyInTenant.length);
    assert.deepEqual(new Set(rows.map((r) => r.sink)), new Set(sinks));

    const deploy = await deployFrom('spread.csv');
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.deepEqual(JSON.parse(deploy.stdout).counts, { created: rows.length });
    for (const row of rows) {
      const forwards =
        row.target === 'ews'
          ? (ews.rulesOf(row.email!)[0]!.Actions!.ForwardAsAttachmentToRecipients as Array<{ address: string }>).map(
              (a) => a.address,
            )
          : forwardsOf(w.sim.rulesOf(row.email!)[0]!.actions);
      assert.deepEqual(forwards, [row.sink], row.email);
    }
    for (const email of tooBusyInTenant) {
      const onPremisesUser = onPremises.some((u) => u.email === email);
      assert.equal((onPremisesUser ? ews.rulesOf(email) : w.sim.rulesOf(email)).length, 0, `${email}: no rule`);
    }
  });

  it('the busiest hour of a working day bounces off no sink', () => {
    const hour = deliverMailHour(w.sim.mail, { mailboxes, rules: { graph: w.sim, ews }, startAt: monday9am });
    const expected = expectedPerSink(rows);
    assert.equal(
      hour.copies,
      [...expected.values()].reduce((s, e) => s + e.all, 0),
    );
    assert.deepEqual(hour.bounces, [], 'no message refused: no sink past a limit, no user past their own');
    assert.deepEqual(Object.keys(hour.recipients).sort(), [...expected.keys()].sort());
    for (const [sink, tally] of Object.entries(hour.recipients)) {
      assert.equal(tally.delivered, expected.get(sink)!.all, sink);
      assert.equal(tally.deliveredFrom['on-premises'] ?? 0, expected.get(sink)!.onPremises, sink);
      assert.ok(tally.delivered < receivingLimitPerHour, `${sink}: ${tally.delivered} in the hour`);
    }
  });

  it('the same hour with everyone on one sink: the on-premises copies refused with 5.2.122', async () => {
    const gathered = rows.map((row) => ({ ...row, sink: sinkName(1) }));
    await writeFile(path.join(w.dir, 'one-sink.csv'), stringify(gathered, { header: true }));
    const deploy = await deployFrom('one-sink.csv');
    assert.equal(deploy.code, 0, deploy.stderr);
    const onFirst = rows.filter((r) => r.sink === sinkName(1)).length;
    assert.deepEqual(JSON.parse(deploy.stdout).counts, { unchanged: onFirst, updated: rows.length - onFirst });

    // A day later: the first run's rolling hour is long over.
    const at = monday9am + 24 * 3_600_000;
    const hour: HourResult = deliverMailHour(w.sim.mail, { mailboxes, rules: { graph: w.sim, ews }, startAt: at });
    const tally = hour.recipients[sinkName(1)]!;
    const sent = (route: string) =>
      rows.filter((r) => r.target === route).reduce((s, r) => s + hourOf.get(r.email!)!, 0);
    assert.equal(tally.deliveredFrom['exchange-online'], sent('graph'), 'every Exchange Online copy delivered');
    assert.ok(tally.delivered > receivingLimitPerHour, 'past the limit: the Exchange Online copies still arrive');
    const refused = tally.refusedFrom['on-premises'] ?? 0;
    assert.equal(refused + (tally.deliveredFrom['on-premises'] ?? 0), sent('ews'));
    assert.ok(refused > sent('ews') * 0.5, `most on-premises copies refused (${refused} of ${sent('ews')})`);
    assert.deepEqual(tally.byStatus, { '5.2.122': refused });
    assert.ok(hour.bounces.every((b) => b.route === 'ews' && b.status === '5.2.122' && b.to === sinkName(1)));
  });
});

/** What each sink receives in the hour: its rows' busiest-hour messages, all and from on-premises. */
function expectedPerSink(rows: ReadonlyArray<Record<string, string>>) {
  const expected = new Map<string, { all: number; onPremises: number }>();
  for (const row of rows) {
    const sink = expected.get(row.sink!) ?? { all: 0, onPremises: 0 };
    sink.all += hourOf.get(row.email!)!;
    if (row.target === 'ews') sink.onPremises += hourOf.get(row.email!)!;
    expected.set(row.sink!, sink);
  }
  return expected;
}
