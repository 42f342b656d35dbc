import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import type { SimulatedMailboxRecord } from '../../simulators/dataverse/dataverse-simulator.js';
import { correctSinkRule, foreignRules, sinkRuleName } from '../../simulators/scenarios.js';
import { runCli } from '../helpers/cli.js';
import { startDataverseWorld, type DataverseWorld, type DataverseWorldOptions } from '../helpers/dataverse-world.js';
import { byEmail } from '../helpers/world.js';
import { killWhen, journalOf } from '../helpers/migrate-world.js';

const sink = 'crm-sink@contoso.com';
const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const profile = { emailserverprofileid: 'aaaaaaaa-0000-0000-0000-000000000001', name: 'Exchange Online' };

const sinkRecord: SimulatedMailboxRecord = {
  mailboxid: id(900),
  name: 'CRM forward mailbox',
  emailaddress: sink,
  incomingemaildeliverymethod: 2,
  incomingemailstatus: 1,
  isforwardmailbox: true,
};
const user = (n: number, extra: Partial<SimulatedMailboxRecord> = {}): SimulatedMailboxRecord => ({
  mailboxid: id(n),
  name: `User ${n}`,
  emailaddress: `user${n}@contoso.com`,
  incomingemaildeliverymethod: 3,
  incomingemailstatus: 1,
  testmailboxaccesscompletedon: '2026-01-05T10:00:00Z',
  isforwardmailbox: false,
  emailServerProfileId: profile.emailserverprofileid,
  ...extra,
});

/** Eight forward-mailbox users: the test fails for user 3, never completes for user 6, succeeds for the rest. */
const records = (extra: SimulatedMailboxRecord[] = []): SimulatedMailboxRecord[] => [
  sinkRecord,
  ...[1, 2, 4, 5, 7, 8].map((n) => user(n)),
  user(3, { testResult: 'failure' }),
  user(6, { testResult: 'never' }),
  user(40, { incomingemaildeliverymethod: 2, emailaddress: 'already-sss@contoso.com' }),
  ...extra,
];
const graphMailboxes = (emails: string[]): SimulatedMailbox[] =>
  emails.map((email, i) => ({
    email,
    kind: 'exchange-online',
    rules: i % 2 === 0 ? [foreignRules.removeSpam, correctSinkRule(sink)] : [correctSinkRule(sink)],
  }));
const users = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `user${n}@contoso.com`);

async function inWorld(
  options: Partial<DataverseWorldOptions> & { profileInConfig?: boolean },
  body: (world: DataverseWorld) => Promise<void>,
) {
  const world = await startDataverseWorld({
    records: records(),
    graphMailboxes: graphMailboxes([
      ...users,
      'already-sss@contoso.com',
      'unapproved@contoso.com',
      'noprofile@contoso.com',
    ]),
    updates: { emailServerProfiles: [profile], testDelayInMs: 150 },
    ...options,
  });
  try {
    if (options.profileInConfig !== false) {
      const config = world.baseConfig as { dataverse: Record<string, unknown> };
      await world.writeConfig({ ...config, dataverse: { ...config.dataverse, emailServerProfile: profile.name } });
    }
    await body(world);
  } finally {
    await world.close();
  }
}

const ours = (world: DataverseWorld, email: string) =>
  world.graph.rulesOf(email).filter((rule) => rule.displayName === sinkRuleName);
const method = (world: DataverseWorld, n: number) => world.dataverse.record(id(n))!.incomingemaildeliverymethod;
const fast = ['--timeout-s', '2'];

describe('migrate: forward mailbox to server-side synchronization', () => {
  it('successes end on SSS without the rule, failure and timeout on Forward Mailbox with it; rollback', async () => {
    // Requests 3 and 5 answered 429 (service protection): the users' query and the first switch.
    await inWorld({ throttleRequests: [3, 5] }, async (world) => {
      const othersBefore = users.map((email) =>
        world.graph.rulesOf(email).filter((r) => r.displayName !== sinkRuleName),
      );
      const started = Date.now();
      const result = await world.run(['migrate', '--from-dataverse', '--yes', '--report', 'm', ...fast]);
      const seconds = (Date.now() - started) / 1000;
      assert.equal(result.code, 2, `two mailboxes were reverted: ${result.stderr}`);
      const report = await world.report('m');
      assert.deepEqual(report.run.counts, { migrated: 6, reverted: 2 });
      assert.equal(report.run.migration.emailServerProfile, `${profile.name} (${profile.emailserverprofileid})`);
      const rows = byEmail(report.mailboxes);
      for (const n of [1, 2, 4, 5, 7, 8]) {
        const email = `user${n}@contoso.com`;
        assert.equal(method(world, n), 2, email);
        assert.equal(world.dataverse.record(id(n))!.incomingemailstatus, 1);
        assert.equal(ours(world, email).length, 0, `${email}: sinkrule's rule is gone`);
        const row = rows.get(email)!;
        assert.equal(row.outcome, 'migrated');
        assert.equal(row.before[0].displayName, sinkRuleName, 'the removed rule is recorded whole');
        assert.ok(row.before[0].actions.forwardAsAttachmentTo, 'with its actions');
        assert.equal(row.record.before.incomingEmailDeliveryMethod, 3);
        assert.equal(row.record.after.incomingEmailDeliveryMethod, 2);
      }
      users.forEach((email, i) =>
        assert.deepEqual(
          world.graph.rulesOf(email).filter((r) => r.displayName !== sinkRuleName),
          othersBefore[i],
          `${email}: other rules untouched`,
        ),
      );
      for (const [n, code] of [
        [3, 'TestFailed'],
        [6, 'TestTimedOut'],
      ] as const) {
        const email = `user${n}@contoso.com`;
        assert.equal(method(world, n), 3, `${email} is back on Forward Mailbox`);
        assert.equal(world.dataverse.record(id(n))!._emailserverprofile_value, profile.emailserverprofileid);
        assert.equal(ours(world, email).length, 1, `${email} keeps its rule`);
        assert.equal(rows.get(email)!.outcome, 'reverted');
        assert.equal(rows.get(email)!.error.code, code);
        assert.match(
          rows.get(email)!.error.fix,
          /Alerts \(https:\/\/127\.0\.0\.1:\d+\/main\.aspx\?pagetype=entityrecord&etn=mailbox&id=/,
        );
      }
      assert.equal(method(world, 40), 2, 'a user already on server-side sync is not touched');
      assert.equal(ours(world, 'already-sss@contoso.com').length, 1, 'migrate reads only forward-mailbox users');
      // Writes: one switch per user, one revert per failure, every one with If-Match.
      const writes = world.dataverse.writes;
      assert.equal(writes.length, 10);
      assert.ok(writes.every((w) => w.ifMatch?.startsWith('W/"') && w.status === 204));
      // Switches already under way when the 429 came may land in its window (and are answered 429
      // too); nothing is sent after it until the window closes.
      assert.ok(world.dataverse.stats.throttled >= 2);
      assert.ok(world.dataverse.stats.insideRetryAfterWindow <= 7, 'only the switches already sent');
      process.stderr.write(
        `migrate of 8 mailboxes (one test never completing, --timeout-s 2): ${seconds.toFixed(1)} s\n`,
      );

      const audit = await runCli(['audit', 'verify', path.join(world.dir, 'm')]);
      assert.equal(audit.code, 0, audit.stderr + audit.stdout);
      const verify = await world.run(['verify', '--from-dataverse', '--report', 'v']);
      const verified = byEmail((await world.report('v')).mailboxes);
      for (const n of [1, 2, 4, 5, 7, 8]) assert.equal(verified.get(`user${n}@contoso.com`)!.outcome, 'migrated');
      assert.equal(verified.get('user3@contoso.com')!.outcome, 'ok');
      assert.equal(verify.code, 2, 'already-sss still holds the rule: stale');

      const rollback = await world.runPlain([
        'rollback',
        '--report',
        'm',
        '--config',
        world.configFile,
        '--yes',
        '--out',
        'rb',
      ]);
      assert.equal(rollback.code, 0, rollback.stderr);
      for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) {
        assert.equal(method(world, n), 3, `user${n} back on Forward Mailbox`);
        assert.equal(ours(world, `user${n}@contoso.com`).length, 1, `user${n} has its rule again`);
      }
      assert.deepEqual((await world.report('rb')).run.counts, { restored: 6, unchanged: 2 });
    });
  });

  it('--dry-run changes nothing, lists the plan; unapproved addresses, missing profiles refused', async () => {
    const extra = [
      user(50, { emailaddress: 'unapproved@contoso.com', emailrouteraccessapproval: 2 }),
      user(51, { emailaddress: 'noprofile@contoso.com', emailServerProfileId: null }),
    ];
    await inWorld({ records: records(extra), profileInConfig: false }, async (world) => {
      const dry = await world.run(['migrate', '--from-dataverse', '--dry-run', '--report', 'd']);
      assert.equal(dry.code, 2, dry.stderr);
      assert.equal(world.dataverse.writes.length, 0);
      assert.equal(ours(world, 'user1@contoso.com').length, 1);
      assert.match(
        dry.stdout,
        new RegExp(
          'user1@contoso\\.com: would-migrate: switch mailbox record "User 1" .* to Server-Side Synchronization, ' +
            'Test & Enable; .*after a successful test: delete rule',
        ),
      );
      assert.match(
        dry.stdout,
        /unapproved@contoso\.com: not-ready: EmailNotApproved: .*"Pending Approval", not Approved.*Approve Email/,
      );
      assert.match(dry.stdout, /noprofile@contoso\.com: not-ready: NoEmailServerProfile: .*"emailServerProfile"/);
      assert.deepEqual((await world.report('d')).run.counts, { 'would-migrate': 8, 'not-ready': 2 });

      const real = await world.run(['migrate', '--from-dataverse', '--yes', '--report', 'r', ...fast]);
      assert.equal(real.code, 2);
      assert.equal(method(world, 50), 3, 'not approved: untouched');
      assert.equal(method(world, 51), 3, 'no profile: untouched');
      assert.equal(world.dataverse.writes.filter((w) => w.id === id(50) || w.id === id(51)).length, 0);
    });
  });

  it('a wave over --max-failures stops the run before the next wave (exit 2, failures named)', async () => {
    await inWorld({}, async (world) => {
      const result = await world.run([
        'migrate',
        '--from-dataverse',
        '--yes',
        '--wave',
        '3',
        '--max-failures',
        '0',
        '--report',
        'w',
        ...fast,
      ]);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /wave 1: 1 of 3 mailboxes failed, more than --max-failures 0 allows \(0\); no further wave/,
      );
      assert.match(result.stderr, /user3@contoso\.com: TestFailed: Incoming Email Status "Failure".*Alerts/);
      assert.deepEqual((await world.report('w')).run.counts, { migrated: 2, reverted: 1 });
      for (const n of [4, 5, 6, 7, 8]) assert.equal(method(world, n), 3, `user${n} (later wave) untouched`);
      assert.equal(world.dataverse.writes.filter((w) => ![id(1), id(2), id(3)].includes(w.id)).length, 0);
    });
  });

  it('kill -9 during a wave, then --resume: every mailbox ends migrated or reverted, no write repeated', async () => {
    await inWorld({ updates: { emailServerProfiles: [profile], testDelayInMs: 1500 } }, async (world) => {
      await killWhen(world, 'k', (entries) => entries.filter((e) => e.type === 'record-written').length >= 4, fast);
      const written = (await journalOf(world, 'k')).filter((e) => e.type === 'record-written').length;
      assert.ok(written >= 4);
      const resumed = await world.run(['migrate', '--from-dataverse', '--yes', '--resume', 'k', ...fast]);
      assert.equal(resumed.code, 2, resumed.stderr);
      const report = await world.report('k');
      assert.deepEqual(report.run.counts, { migrated: 6, reverted: 2 });
      for (const n of [1, 2, 4, 5, 7, 8]) {
        assert.equal(method(world, n), 2);
        assert.equal(ours(world, `user${n}@contoso.com`).length, 0);
      }
      for (const n of [3, 6]) {
        assert.equal(method(world, n), 3);
        assert.equal(ours(world, `user${n}@contoso.com`).length, 1);
      }
      const switches = new Map<string, number>();
      for (const w of world.dataverse.writes) switches.set(w.id, (switches.get(w.id) ?? 0) + 1);
      for (const n of [1, 2, 4, 5, 7, 8]) assert.equal(switches.get(id(n)), 1, `user${n}: switched once`);
      for (const n of [3, 6]) assert.equal(switches.get(id(n)), 2, `user${n}: switched once, reverted once`);
      const audit = await runCli(['audit', 'verify', path.join(world.dir, 'k')]);
      assert.equal(audit.code, 0, audit.stderr + audit.stdout);
    });
  });

  it('--users FILE as export writes it (dynamicsMailboxId) migrates the same way', async () => {
    await inWorld({}, async (world) => {
      const exported = await world.run(['export', '--from-dataverse', '--out', 'users.csv']);
      assert.equal(exported.code, 0, exported.stderr);
      const result = await world.runPlain([
        'migrate',
        '--users',
        world.usersFile,
        '--config',
        world.configFile,
        '--yes',
        '--report',
        'u',
        ...fast,
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.deepEqual((await world.report('u')).run.counts, { migrated: 6, reverted: 2 });
      for (const n of [1, 2, 4, 5, 7, 8]) assert.equal(ours(world, `user${n}@contoso.com`).length, 0);
      for (const n of [3, 6]) assert.equal(method(world, n), 3);
    });
  });

  it('an application user without Write on Mailbox stops at the first switch (exit 1)', async () => {
    await inWorld(
      { applicationUsers: (appId) => [{ appId, canReadMailboxes: true, canWriteMailboxes: false }] },
      async (world) => {
        const result = await world.run(['migrate', '--from-dataverse', '--yes', '--report', 'p', ...fast]);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /0x80040220.*prvWriteMailbox/);
        assert.match(result.stderr, /security role that can update Mailbox records/);
        for (const n of [1, 2, 3, 4, 5, 6, 7, 8]) {
          assert.equal(method(world, n), 3);
          assert.equal(ours(world, `user${n}@contoso.com`).length, 1);
        }
      },
    );
  });
});
