import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { correctSinkRule } from '../../simulators/scenarios.js';
import { byEmail, sink, startGraphWorld, type GraphWorld, type WorldOptions } from '../helpers/graph-world.js';
import { joined } from '../helpers/pattern.js';

const probeFrom = 'sinkrule-probe@contoso.com';
const partnerSink = 'crm@partner-example.net';
const probeRoles = ['MailboxSettings.ReadWrite', 'Mail.Send', 'Mail.ReadWrite', 'Domain.Read.All'];
const recipient = (address: string) => ({ emailAddress: { address } });

/** Mailboxes every world has: the sink and the mailbox test mail comes from. */
const infrastructure: SimulatedMailbox[] = [
  { email: sink, kind: 'exchange-online' },
  { email: probeFrom, kind: 'exchange-online' },
];

async function world(
  mailboxes: SimulatedMailbox[],
  users: string,
  roles = probeRoles,
  extra: Record<string, unknown> = {},
  options: WorldOptions = {},
): Promise<GraphWorld> {
  const w = await startGraphWorld([...infrastructure, ...mailboxes], { ...options, app: { roles } });
  await w.writeConfig({
    sink,
    graph: { tenantId: w.tenantId, clientId: w.clientId, authorityHost: w.sim.url, baseUrl: w.sim.url },
    probe: { from: probeFrom, timeoutInS: 3, pollIntervalInMs: 200 },
    ...extra,
  });
  await w.writeUsers(users);
  return w;
}

/** Test mail left anywhere in the simulated tenant. */
function leftoverProbeMail(w: GraphWorld, emails: string[]): string[] {
  return emails.flatMap((email) =>
    w.sim.mail
      .messagesOf(email)
      .filter((m) => m.subject.includes('sinkrule probe'))
      .map((m) => `${email}: ${m.subject}`),
  );
}

describe('probe: live test mail through the rule', () => {
  let w: GraphWorld;
  const estate: SimulatedMailbox[] = [
    { email: 'working@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink)] },
    { email: 'disabled@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink, { isEnabled: false })] },
    {
      email: 'inline@contoso.com',
      kind: 'exchange-online',
      rules: [{ displayName: 'Copy to CRM', isEnabled: true, actions: { forwardTo: [recipient(sink)] } }],
    },
    {
      email: 'stopped@contoso.com',
      kind: 'exchange-online',
      rules: [
        {
          displayName: 'File everything',
          isEnabled: true,
          actions: { moveToFolder: 'AAMkArchive', stopProcessingRules: true },
        },
        correctSinkRule(sink),
      ],
    },
    { email: 'external@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(partnerSink)] },
    {
      email: 'redirect@contoso.com',
      kind: 'exchange-online',
      rules: [{ displayName: 'Redirect to CRM', isEnabled: true, actions: { redirectTo: [recipient(sink)] } }],
    },
  ];
  before(async () => {
    w = await world(
      estate,
      [
        'email,target,sink',
        ...estate.map((m) => `${m.email},graph,${m.email.startsWith('external') ? partnerSink : ''}`),
        'ben.walters@contoso.com,pop3,',
        '',
      ].join('\n'),
    );
  });
  after(() => w.close());

  it('tells a working rule from each way a rule fails, records when each test completed, and cleans up', async () => {
    const started = Date.now();
    const result = await w.run(['probe', '--report', 'r']);
    assert.equal(result.code, 2, result.stderr);
    const report = await w.report('r');
    const rows = byEmail(report.mailboxes);
    const probe = (email: string) => rows.get(email)!.probe;
    assert.equal(rows.get('working@contoso.com')!.outcome, 'probe-success');
    assert.match(probe('working@contoso.com').detail, /as an attachment/);
    assert.deepEqual(
      [probe('disabled@contoso.com').outcome, probe('disabled@contoso.com').reason],
      ['probe-failure', 'not-arrived'],
    );
    assert.match(probe('disabled@contoso.com').detail, /disabled/);
    assert.deepEqual(
      [probe('inline@contoso.com').reason, probe('redirect@contoso.com').reason],
      ['not-as-attachment', 'not-as-attachment'],
    );
    assert.match(probe('inline@contoso.com').detail, /inline/);
    assert.match(probe('redirect@contoso.com').detail, /redirected/);
    assert.equal(probe('stopped@contoso.com').reason, 'not-arrived');
    assert.match(
      probe('stopped@contoso.com').detail,
      /"File everything" \(position 1\) runs earlier and stops processing/,
    );
    assert.deepEqual(
      [probe('external@contoso.com').reason, probe('external@contoso.com').ndrStatus],
      ['ndr', '5.7.520'],
    );
    assert.match(probe('external@contoso.com').detail, /external/);
    assert.equal(rows.get('ben.walters@contoso.com')!.outcome, 'probe-not-run');
    assert.match(probe('ben.walters@contoso.com').detail, /by hand/);
    for (const row of report.mailboxes) {
      const completed = Date.parse(row.probe.completedAt);
      assert.ok(completed >= started && completed <= Date.now(), `${row.email}: completedAt is the time of the test`);
    }
    assert.deepEqual(report.run.counts, { 'probe-success': 1, 'probe-failure': 5, 'probe-not-run': 1 });
    assert.equal(report.run.probe.from, probeFrom);
    const csv = await readFile(path.join(w.dir, 'r', 'report.csv'), 'utf8');
    assert.match(csv, /probeOutcome,probeReason,probeNdrStatus,probeCompletedAt/);
    assert.match(csv, /external@contoso\.com,.*probe-failure,ndr,5\.7\.520/);
    const html = await readFile(path.join(w.dir, 'r', 'report.html'), 'utf8');
    assert.match(html, /test completed/);
    assert.deepEqual(
      leftoverProbeMail(w, [sink, probeFrom, ...estate.map((m) => m.email)]),
      [],
      'every copy of the test mail was deleted',
    );
    assert.ok(
      report.mailboxes.filter((r: any) => r.probe.outcome !== 'probe-not-run').every((r: any) => r.probe.cleanedUp),
    );
  });

  it('probes a sample spread over the file and exits 0 when every probed mailbox succeeded', async () => {
    await w.writeUsers('email\nworking@contoso.com\n');
    const result = await w.run(['probe', '--report', 's', '--sample', '1', '--output', 'json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).counts, { 'probe-success': 1 });
  });

  it('verify --probe adds the probe to the verify outcome in one report', async () => {
    await w.writeUsers('email\nworking@contoso.com\ndisabled@contoso.com\n');
    const result = await w.run(['verify', '--probe', '--timeout-s', '1', '--report', 'v']);
    assert.equal(result.code, 2, result.stderr);
    const report = await w.report('v');
    assert.equal(report.run.probe.timeoutInS, 1, '--timeout-s overrides probe.timeoutInS');
    assert.match(byEmail(report.mailboxes).get('disabled@contoso.com')!.probe.detail, /within 1 s/);
    const rows = byEmail(report.mailboxes);
    assert.deepEqual(
      [rows.get('working@contoso.com')!.outcome, rows.get('working@contoso.com')!.probe.outcome],
      ['ok', 'probe-success'],
    );
    assert.deepEqual(
      [rows.get('disabled@contoso.com')!.outcome, rows.get('disabled@contoso.com')!.probe.outcome],
      ['disabled', 'probe-failure'],
    );
  });

  it('refuses a probe whose sender is the sink, before sending anything', async () => {
    await w.writeConfig({
      sink,
      graph: { tenantId: w.tenantId, clientId: w.clientId, authorityHost: w.sim.url, baseUrl: w.sim.url },
      probe: { from: sink },
    });
    const result = await w.run(['probe']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /probe\.from: crm-sink@contoso\.com is a sink/);
  });
});

describe('probe pacing', () => {
  it(
    "goes through the run's throttle gate: a throttled sink is waited for, nothing is sent inside a " +
      'Retry-After window',
    async () => {
      const mailboxes: SimulatedMailbox[] = Array.from({ length: 6 }, (_, i) => ({
        email: `user${i}@contoso.com`,
        kind: 'exchange-online',
        rules: [correctSinkRule(sink)],
      }));
      const w = await world(
        mailboxes,
        `email\n${mailboxes.map((m) => m.email).join('\n')}\n`,
        probeRoles,
        {},
        { throttleFirstRequests: { [sink]: 3 }, retryAfterSeconds: 1 },
      );
      try {
        const result = await w.run(['probe', '--report', 'r']);
        assert.equal(result.code, 0, result.stderr);
        assert.ok(w.sim.stats.throttled >= 3);
        assert.equal(w.sim.stats.insideRetryAfterWindow, 0);
        assert.deepEqual((await w.report('r')).run.counts, { 'probe-success': 6 });
      } finally {
        await w.close();
      }
    },
  );
});

describe('deploy --canary', () => {
  const fresh = (n: number) =>
    Array.from({ length: n }, (_, i): SimulatedMailbox => ({ email: `user${i}@contoso.com`, kind: 'exchange-online' }));

  it('deploys and probes the canary wave, then the rest when every probe succeeded', async () => {
    const w = await world(
      fresh(5),
      `email\n${fresh(5)
        .map((m) => m.email)
        .join('\n')}\n`,
    );
    try {
      const result = await w.run(['deploy', '--yes', '--canary', '2', '--report', 'r']);
      assert.equal(result.code, 0, result.stderr);
      const report = await w.report('r');
      const canaries = report.mailboxes
        .filter((r: any) => r.canary)
        .map((r: any) => r.email)
        .sort();
      assert.deepEqual(canaries, ['user0@contoso.com', 'user1@contoso.com']);
      assert.ok(
        report.mailboxes
          .filter((r: any) => r.canary)
          .every((r: any) => r.outcome === 'created' && r.probe.outcome === 'probe-success'),
      );
      assert.equal(report.mailboxes.length, 5);
      for (let i = 0; i < 5; i++) assert.equal(w.sim.rulesOf(`user${i}@contoso.com`).length, 1);
      assert.equal(report.run.canary, 2);
    } finally {
      await w.close();
    }
  });

  it('stops after a canary probe fails and writes nothing to any other mailbox', async () => {
    const w = await world(
      fresh(4),
      `email,sink\nuser0@contoso.com,\nuser1@contoso.com,${partnerSink}\nuser2@contoso.com,\nuser3@contoso.com,\n`,
    );
    try {
      const writesBefore = w.sim.stats.writes;
      const result = await w.run(['deploy', '--yes', '--canary', '2', '--report', 'r']);
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        joined(
          /canary wave: 1 of 2 canary mailboxes did not pass the probe \(user1@contoso\.com \(probe-failure: /,
          /ndr\)\); the other mailboxes were not touched/,
        ),
      );
      assert.equal(w.sim.stats.writes - writesBefore, 2, 'only the two canaries were written');
      assert.deepEqual([w.sim.rulesOf('user2@contoso.com'), w.sim.rulesOf('user3@contoso.com')], [[], []]);
      const report = await w.report('r');
      assert.deepEqual(report.mailboxes.map((r: any) => r.email).sort(), ['user0@contoso.com', 'user1@contoso.com']);
      assert.match(report.run.stoppedBy, /canary wave/);
      assert.equal(report.run.exitCode, 2);
    } finally {
      await w.close();
    }
  });

  it('refuses --canary with --dry-run', async () => {
    const w = await world(fresh(1), 'email\nuser0@contoso.com\n');
    try {
      const result = await w.run(['deploy', '--dry-run', '--canary', '1']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /--canary with --dry-run/);
    } finally {
      await w.close();
    }
  });
});
