import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runCli } from '../helpers/cli.js';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import type { SimulatedMailboxRecord } from '../../simulators/dataverse/dataverse-simulator.js';
import { correctSinkRule, foreignRules, sinkRuleName } from '../../simulators/scenarios.js';
import { byEmail } from '../helpers/graph-world.js';
import { managedIdentityPath } from '../../simulators/graph/identity.js';
import { startDataverseWorld, type DataverseWorld, type DataverseWorldOptions } from '../helpers/dataverse-world.js';
import { joined } from '../helpers/pattern.js';

const sink = 'crm-sink@contoso.com';
const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const forwardMethod = 3;

/** The forward mailbox record: never tested, and with an outgoing method it should not have. */
const sinkRecord: SimulatedMailboxRecord = {
  mailboxid: id(900),
  name: 'CRM forward mailbox',
  emailaddress: sink,
  incomingemaildeliverymethod: 2,
  incomingemailstatus: 0,
  outgoingemaildeliverymethod: 2,
  isforwardmailbox: true,
};
const user = (
  n: number,
  method: 0 | 1 | 2 | 3,
  email: string | null,
  extra: Partial<SimulatedMailboxRecord> = {},
): SimulatedMailboxRecord => ({
  mailboxid: id(n),
  name: email ? email.split('@')[0]! : `Record ${n}`,
  emailaddress: email,
  incomingemaildeliverymethod: method,
  incomingemailstatus: 1,
  isforwardmailbox: false,
  ...extra,
});

/** Seven forward-mailbox users, one without an address, inactive ones, and users tracked another way. */
const records: SimulatedMailboxRecord[] = [
  sinkRecord,
  ...Array.from({ length: 7 }, (_, i) => user(i + 1, forwardMethod, `user${i}@contoso.com`)),
  user(20, forwardMethod, null, { name: 'Nora No-Address' }),
  user(21, forwardMethod, 'inactive@contoso.com', { statecode: 1 }),
  user(30, 2, 'stale-sss@contoso.com'),
  user(31, 2, 'clean-sss@contoso.com'),
  user(32, 1, 'stale-outlook@contoso.com'),
  user(33, 0, 'none@contoso.com'),
  user(34, 2, 'old-inactive@contoso.com', { statecode: 1 }),
];
const graphMailboxes: SimulatedMailbox[] = [
  { email: 'user0@contoso.com', kind: 'exchange-online' },
  { email: 'user1@contoso.com', kind: 'exchange-online', rules: [foreignRules.removeSpam, correctSinkRule(sink)] },
  { email: 'user2@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink, { isEnabled: false })] },
  { email: 'user3@contoso.com', kind: 'exchange-online', rules: [correctSinkRule('legacy-sink@contoso.com')] },
  ...[4, 5, 6].map((i): SimulatedMailbox => ({ email: `user${i}@contoso.com`, kind: 'exchange-online' })),
  { email: 'inactive@contoso.com', kind: 'exchange-online' },
  { email: 'stale-sss@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink)] },
  { email: 'clean-sss@contoso.com', kind: 'exchange-online' },
  {
    email: 'stale-outlook@contoso.com',
    kind: 'exchange-online',
    rules: [foreignRules.fromPartner, correctSinkRule(sink)],
  },
  { email: 'none@contoso.com', kind: 'exchange-online' },
  { email: 'old-inactive@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink)] },
];

async function inWorld(options: Partial<DataverseWorldOptions>, body: (world: DataverseWorld) => Promise<void>) {
  const world = await startDataverseWorld({ records, graphMailboxes, ...options });
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

const ours = (world: DataverseWorld, email: string) =>
  world.graph.rulesOf(email).filter((rule) => rule.displayName === sinkRuleName);
const forwardsTo = (rule: { actions?: Record<string, unknown> }) =>
  (rule.actions?.forwardAsAttachmentTo as Array<{ emailAddress: { address: string } }>).map(
    (r) => r.emailAddress.address,
  );

describe('Dynamics 365 (Dataverse) as the source', () => {
  it(
    'deploy, verify --include-stale, remove --stale and export end in the exact expected state (pages of 3, ' + '429s)',
    async () => {
      // Requests 2 and 5 answered 429: the first page of the users and a later page.
      await inWorld({ pageSize: 3, throttleRequests: [2, 5] }, async (world) => {
        const deploy = await world.run(['deploy', '--from-dataverse', '--yes', '--report', 'deploy']);
        assert.equal(deploy.code, 2, `one record has no address: ${deploy.stderr}`);
        assert.match(
          deploy.stderr,
          /Warning: forward mailbox crm-sink@contoso.com: incoming email status is "Not Run"/,
        );
        assert.match(
          deploy.stderr,
          joined(
            /Warning: forward mailbox crm-sink@contoso.com: outgoing email is "Server-Side Synchronization or /,
            /Email Router", not None/,
          ),
        );
        assert.equal(world.dataverse.stats.throttled, 2);
        assert.equal(world.dataverse.stats.insideRetryAfterWindow, 0, 'nothing was sent inside a Retry-After window');
        assert.deepEqual(
          world.dataverse.stats.pageSizes,
          [3, 3],
          'server-driven paging was asked for (sink query, users query)',
        );
        assert.deepEqual(world.dataverse.stats.filters, [
          'statecode eq 0 and isforwardmailbox eq true',
          'statecode eq 0 and incomingemaildeliverymethod eq 3 and isforwardmailbox eq false',
        ]);
        for (let i = 0; i < 7; i++) {
          const rules = ours(world, `user${i}@contoso.com`);
          assert.equal(rules.length, 1, `user${i}`);
          assert.equal(rules[0]!.isEnabled, true);
          assert.deepEqual(forwardsTo(rules[0]!), [sink], `user${i} forwards to the forward mailbox record's address`);
        }
        assert.equal(world.graph.rulesOf('user1@contoso.com').length, 2, "user1's own rule is kept");
        for (const untouched of ['inactive@contoso.com', 'clean-sss@contoso.com', 'none@contoso.com'])
          assert.equal(world.graph.rulesOf(untouched).length, 0, untouched);
        for (const stale of ['stale-sss@contoso.com', 'stale-outlook@contoso.com', 'old-inactive@contoso.com'])
          assert.equal(ours(world, stale).length, 1, `deploy leaves ${stale} alone`);

        const deployed = await world.report('deploy');
        assert.deepEqual(deployed.run.counts, { created: 4, unchanged: 1, updated: 2, failed: 1 });
        assert.equal(deployed.run.input.source, 'dataverse');
        assert.equal(deployed.run.input.url, world.dataverse.url);
        assert.equal(
          deployed.run.input.filter,
          'statecode eq 0 and incomingemaildeliverymethod eq 3 and isforwardmailbox eq false',
        );
        assert.equal(deployed.run.input.rows, 8);
        assert.match(deployed.run.input.sha256, /^[0-9a-f]{64}$/);
        assert.deepEqual(deployed.run.forwardMailbox, {
          mailboxId: id(900),
          name: 'CRM forward mailbox',
          address: sink,
          state: 'Active',
          incomingEmailStatus: 'Not Run',
          testCompletedOn: null,
          outgoingEmailDeliveryMethod: 'Server-Side Synchronization or Email Router',
          warnings: deployed.run.forwardMailbox.warnings,
        });
        assert.equal(deployed.run.forwardMailbox.warnings.length, 2);
        const noAddress = deployed.mailboxes.find((m) => m.displayName === 'Nora No-Address')!;
        assert.equal(noAddress.outcome, 'failed');
        assert.equal(noAddress.error.code, 'NoEmailAddress');
        assert.match(noAddress.error.fix, /Enter the user's email address/);
        assert.equal(noAddress.facts.dynamicsMailboxId, id(20));
        const audit = await runCli(['audit', 'verify', path.join(world.dir, 'deploy')]);
        assert.equal(
          audit.code,
          0,
          `the report folder of a --from-dataverse run passes the audit: ${audit.stdout}${audit.stderr}`,
        );
        const html = await readFile(path.join(world.dir, 'deploy', 'report.html'), 'utf8');
        assert.match(html, /Forward mailbox record \(Dynamics 365\)/);
        assert.match(html, /Mailbox Test Completed On never/);

        const verify = await world.run(['verify', '--from-dataverse', '--include-stale', '--report', 'verify']);
        assert.equal(verify.code, 2, verify.stderr);
        const verified = await world.report('verify');
        assert.deepEqual(verified.run.counts, { ok: 7, failed: 1, stale: 2, migrated: 1, absent: 1 });
        const rows = byEmail(verified.mailboxes);
        assert.equal(rows.get('stale-sss@contoso.com')!.outcome, 'stale');
        assert.match(rows.get('stale-sss@contoso.com')!.notes.join(' '), /Server-Side Synchronization or Email Router/);
        assert.equal(rows.get('stale-outlook@contoso.com')!.outcome, 'stale');
        assert.equal(rows.get('clean-sss@contoso.com')!.outcome, 'migrated', 'on server-side sync, tested, no rule');
        assert.equal(rows.get('none@contoso.com')!.outcome, 'absent');
        assert.equal(rows.has('old-inactive@contoso.com'), false, 'inactive records are not read');
        assert.equal(verified.run.input.rows, 12);
        assert.equal(
          verified.run.input.sha256 === deployed.run.input.sha256,
          false,
          'the stale rows are part of what was read',
        );

        const remove = await world.run(['remove', '--from-dataverse', '--stale', '--yes', '--report', 'remove']);
        assert.equal(remove.code, 0, remove.stderr);
        assert.deepEqual((await world.report('remove')).run.counts, { removed: 2, absent: 2 });
        assert.equal(ours(world, 'stale-sss@contoso.com').length, 0);
        assert.deepEqual(
          world.graph.rulesOf('stale-outlook@contoso.com').map((r) => r.displayName),
          [foreignRules.fromPartner.displayName],
          "only sinkrule's rule went",
        );
        assert.equal(ours(world, 'old-inactive@contoso.com').length, 1, 'an inactive record is not touched');
        for (let i = 0; i < 7; i++)
          assert.equal(ours(world, `user${i}@contoso.com`).length, 1, `remove --stale keeps user${i}'s rule`);

        const again = await world.run(['verify', '--from-dataverse', '--include-stale', '--report', 'verify2']);
        assert.equal(again.code, 2, 'the record without an address still fails');
        assert.deepEqual((await world.report('verify2')).run.counts, { ok: 7, failed: 1, migrated: 2, absent: 2 });

        const exported = await world.run(['export', '--from-dataverse', '--out', 'users.csv']);
        assert.equal(exported.code, 2, 'a record was left out');
        assert.match(
          exported.stderr,
          /Left out: "Nora No-Address" \(00000000-0000-0000-0000-000000000020\): .*no email address/,
        );
        const csv = await readFile(path.join(world.dir, 'users.csv'), 'utf8');
        const expected = [
          'email,displayName,target,sink,dynamicsMailboxId',
          ...Array.from({ length: 7 }, (_, i) => `user${i}@contoso.com,user${i},graph,${sink},${id(i + 1)}`),
        ];
        assert.equal(csv, `${expected.join('\n')}\n`);

        // The exported file round-trips through validate and deploy: a config without a sink works from the rows' sink
        // column.
        const validated = await world.run(['validate', '--users', path.join(world.dir, 'users.csv')]);
        assert.equal(validated.code, 0, validated.stderr);
        assert.match(validated.stdout, /7 mailboxes, no problems \(graph 7\)/);
        const fromDataverse = await world.run(['validate', '--from-dataverse']);
        assert.equal(fromDataverse.code, 1, 'validate names the record without an address');
        assert.match(
          fromDataverse.stderr,
          /Dataverse record "Nora No-Address" \(00000000-0000-0000-0000-000000000020\): .*no email address/,
        );
        const roundTrip = await world.run([
          'deploy',
          '--users',
          path.join(world.dir, 'users.csv'),
          '--dry-run',
          '--report',
          'round-trip',
        ]);
        assert.equal(roundTrip.code, 0, roundTrip.stderr);
        const trip = await world.report('round-trip');
        assert.deepEqual(trip.run.counts, { unchanged: 7 });
        assert.equal(trip.run.input.source, 'file');
        assert.equal(byEmail(trip.mailboxes).get('user3@contoso.com')!.facts.dynamicsMailboxId, id(4));
      });
    },
  );

  it('the sink: one record must match the config; of several, the config or --sink picks one', async () => {
    const second: SimulatedMailboxRecord = {
      mailboxid: id(901),
      name: 'EU forward mailbox',
      emailaddress: 'eu-sink@contoso.com',
      incomingemaildeliverymethod: 2,
      incomingemailstatus: 1,
      outgoingemaildeliverymethod: 0,
      isforwardmailbox: true,
    };
    await inWorld({}, async (world) => {
      await world.writeConfig({ ...world.baseConfig, sink: 'other-sink@contoso.com' });
      const differs = await world.run(['verify', '--from-dataverse']);
      assert.equal(differs.code, 1);
      assert.match(
        differs.stderr,
        joined(
          /sink other-sink@contoso.com differs from the forward mailbox in Dynamics 365, "CRM forward mailbox" /,
          /<crm-sink@contoso.com>/,
        ),
      );
      assert.equal(world.graph.stats.requests, 0, 'no mailbox was read');
    });
    await inWorld({ records: [...records, second] }, async (world) => {
      const none = await world.run(['verify', '--from-dataverse']);
      assert.equal(none.code, 1);
      assert.match(
        none.stderr,
        joined(
          /2 active forward mailboxes, "CRM forward mailbox" <crm-sink@contoso.com>, "EU forward mailbox" /,
          /<eu-sink@contoso.com>/,
        ),
      );
      const picked = await world.run([
        'deploy',
        '--from-dataverse',
        '--sink',
        'EU-sink@contoso.com',
        '--yes',
        '--report',
        'r',
      ]);
      assert.equal(picked.code, 2, picked.stderr);
      const report = await world.report('r');
      assert.equal(report.run.forwardMailbox.name, 'EU forward mailbox');
      assert.deepEqual(report.run.forwardMailbox.warnings, [], 'tested successfully, outgoing None');
      assert.deepEqual(forwardsTo(ours(world, 'user0@contoso.com')[0]!), ['eu-sink@contoso.com']);
      const toStdout = await world.run(['export', '--from-dataverse', '--sink', 'eu-sink@contoso.com']);
      assert.equal(
        toStdout.stdout.split('\n')[1],
        `user0@contoso.com,user0,graph,eu-sink@contoso.com,${id(1)}`,
        'without --out the CSV is the data on stdout',
      );
    });
  });

  it(
    'stops with exit 1 and the fix when the app may not read mailboxes, is no application user, or asks for ' +
      'another resource',
    async () => {
      await inWorld({ applicationUsers: (appId) => [{ appId, canReadMailboxes: false }] }, async (world) => {
        const result = await world.run(['verify', '--from-dataverse']);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /0x80040220.*missing prvReadMailbox privilege/);
        assert.match(result.stderr, /security role that can read Mailbox/);
      });
      await inWorld({ applicationUsers: () => [] }, async (world) => {
        const result = await world.run(['deploy', '--from-dataverse', '--yes']);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /0x80072560: The user is not a member of the organization/);
        assert.match(result.stderr, /application user/);
        assert.equal(world.graph.stats.requests, 0);
      });
      await inWorld({}, async (world) => {
        // The same environment under another name is another resource: Entra has no such principal.
        const url = world.dataverse.url.replace('127.0.0.1', 'localhost');
        await world.writeConfig({ ...world.baseConfig, dataverse: { url } });
        const result = await world.run(['verify', '--from-dataverse']);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /AADSTS500011: The resource principal named https:\/\/localhost:\d+ was not found/);
        assert.equal(world.dataverse.stats.requests, 0);
      });
      await inWorld({}, async (world) => {
        // Dataverse takes its own variable first; Graph's (wrong) secret stops the run before any mailbox.
        const result = await world.run(['deploy', '--from-dataverse', '--yes'], {
          SINKRULE_DATAVERSE_CLIENT_SECRET: world.secret,
          SINKRULE_CLIENT_SECRET: 'wrong-secret-value',
        });
        assert.equal(result.code, 1);
        assert.match(result.stderr, /AADSTS7000215/);
        assert.ok(world.dataverse.stats.requests > 0, 'Dataverse was read with its own secret');
        assert.equal(world.graph.stats.requests, 0, 'no mailbox was touched');
      });
      await inWorld({}, async (world) => {
        await world.writeConfig({
          ...world.baseConfig,
          dataverse: {
            url: world.dataverse.url,
            clientId: '22222222-2222-2222-2222-222222222222',
            tenantId: '33333333-3333-3333-3333-333333333333',
          },
        });
        const result = await world.run(['verify', '--from-dataverse']);
        assert.equal(result.code, 1);
        assert.match(
          result.stderr,
          /dataverse\.auth: no credential: set the environment variable SINKRULE_DATAVERSE_CLIENT_SECRET /,
          "another app never gets graph's secret",
        );
      });
    },
  );

  it(
    'dataverse.auth: a managed identity shared with graph reads Dynamics 365 and Exchange with no secret ' + 'anywhere',
    async () => {
      const identityHeader = `hdr-${randomUUID()}`;
      const hostIdentity = randomUUID();
      const managedIdentity = {
        identityHeader,
        tenantId: randomUUID(),
        identities: [{ clientId: hostIdentity, userAssigned: false, roles: ['MailboxSettings.ReadWrite'] }],
      };
      await inWorld(
        {
          managedIdentity,
          applicationUsers: (appId) => [
            { appId, canReadMailboxes: true },
            { appId: hostIdentity, canReadMailboxes: true },
          ],
        },
        async (world) => {
          const graph = world.baseConfig.graph as Record<string, unknown>;
          await world.writeConfig({
            ...world.baseConfig,
            graph: { authorityHost: graph.authorityHost, baseUrl: graph.baseUrl, auth: 'managed-identity' },
          });
          const env = {
            SINKRULE_CLIENT_SECRET: '',
            IDENTITY_ENDPOINT: `${world.graph.url}${managedIdentityPath}`,
            IDENTITY_HEADER: identityHeader,
          };
          const result = await world.run(['verify', '--from-dataverse', '--report', 'mi'], env);
          assert.equal(result.code, 2, result.stderr); // the forward-mailbox users have no rule yet
          assert.ok(world.dataverse.stats.requests > 0, 'Dataverse was read with the managed identity');
          // The same verify as the app with its secret: every row the same outcome.
          await world.writeConfig(world.baseConfig);
          const withSecret = await world.run(['verify', '--from-dataverse', '--report', 'secret'], {
            IDENTITY_ENDPOINT: '',
            IDENTITY_HEADER: '',
          });
          assert.equal(withSecret.code, 2, withSecret.stderr);
          const outcomes = async (dir: string) =>
            (await world.report(dir)).mailboxes.map((row) => `${row.email} ${row.outcome}`).sort();
          assert.deepEqual(await outcomes('mi'), await outcomes('secret'));
          assert.ok((await outcomes('mi')).some((row) => row.endsWith(' missing')));
          await world.writeConfig({
            ...world.baseConfig,
            graph: { authorityHost: graph.authorityHost, baseUrl: graph.baseUrl, auth: 'managed-identity' },
          });
          const wrongHeader = await world.run(['verify', '--from-dataverse'], {
            ...env,
            IDENTITY_HEADER: 'not-the-header',
          });
          assert.equal(wrongHeader.code, 1);
        },
      );
    },
  );

  it('takes exactly one of --users and --from-dataverse; stale needs Dataverse', async () => {
    await inWorld({}, async (world) => {
      const users = path.join(world.dir, 'users.csv');
      await writeFile(users, 'email\nuser0@contoso.com\n');
      const both = await world.run(['verify', '--users', users, '--from-dataverse']);
      assert.equal(both.code, 1);
      assert.match(both.stderr, /--users and --from-dataverse exclude each other/);
      const neither = await world.run(['verify']);
      assert.equal(neither.code, 1);
      assert.match(neither.stderr, /pass --users FILE or --from-dataverse/);
      const stale = await world.run(['remove', '--users', users, '--stale', '--yes']);
      assert.equal(stale.code, 1);
      assert.match(stale.stderr, /--stale needs --from-dataverse/);
      const noSink = await world.run(['verify', '--users', users]);
      assert.equal(noSink.code, 1);
      assert.match(noSink.stderr, /users\.csv:2: sink is empty and \S*sinkrule\.config\.json has no "sink" key/);
      assert.equal(world.dataverse.stats.requests + world.graph.stats.requests, 0);
      const unconfirmed = await world.run(['deploy', '--from-dataverse']);
      assert.equal(unconfirmed.code, 1);
      assert.match(
        unconfirmed.stderr,
        /refusing to deploy rules in the mailboxes Dynamics 365 lists without confirmation/,
      );
      assert.equal(world.graph.stats.requests, 0, 'no mailbox was read');
    });
  });

  it('demo --from-dataverse runs deploy, verify --include-stale and export against the simulators', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-demo-dataverse-test-'));
    try {
      const result = await runCli(['demo', '--from-dataverse', '--report', 'out'], { cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Dataverse service protection limit \(429 0x80072322/);
      const verify = JSON.parse(await readFile(path.join(dir, 'out', 'verify', 'report.json'), 'utf8'));
      assert.deepEqual(verify.run.counts, { ok: 11, failed: 2, stale: 1, absent: 1 });
      assert.equal(verify.run.input.source, 'dataverse');
      const csv = await readFile(path.join(dir, 'out', 'users.csv'), 'utf8');
      assert.equal(csv.trim().split('\n').length, 1 + 12, 'header and the 12 users with an address');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
