import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import { httpsCall, requestToken } from '../helpers/https.js';

const probeFrom = 'sinkrule-probe@contoso.com';
const probeRoles = ['MailboxSettings.ReadWrite', 'Mail.Send', 'Mail.ReadWrite'];
const users = Array.from({ length: 5 }, (_, i) => `user${i}@contoso.com`);

async function world(roles: string[]): Promise<GraphWorld> {
  const mailboxes: SimulatedMailbox[] = [sink, probeFrom, ...users].map((email) => ({
    email,
    kind: 'exchange-online',
  }));
  const w = await startGraphWorld(mailboxes, { app: { roles } });
  await w.writeConfig({
    sink,
    graph: w.graphSection,
    probe: { from: probeFrom, timeoutInS: 3, pollIntervalInMs: 200 },
    soc: { contact: 'Jane Admin, +41 44 000 00 00' },
  });
  await w.writeUsers(`email\n${users.join('\n')}\n`);
  return w;
}

const canary = (extra: string[] = []) => [
  'deploy',
  '--yes',
  '--canary',
  '2',
  '--alert-wait-s',
  '2',
  '--report',
  'r',
  ...extra,
];

describe('deploy --canary watches Defender alerts', () => {
  it('stops after the wave on a High Defender alert on a canary mailbox, naming alert and mailbox', async () => {
    const w = await world([...probeRoles, 'SecurityAlert.Read.All']);
    try {
      // Defender raises its alert a while after the rule appears, within the wait.
      w.sim.alerts.raiseOnRuleCreation('user1@contoso.com', {
        title: 'Creation of forwarding/redirect rule',
        severity: 'high',
        delayInMs: 800,
      });
      const result = await w.run(canary());
      assert.equal(result.code, 2, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          'Run stopped: canary wave: Defender raised 1 alert\\(s\\) at or above high on its mailboxes: ' +
            '"Creation of forwarding/redirect rule" \\(high\\) on user1@contoso\\.com',
        ),
      );
      for (const email of users.slice(2)) assert.deepEqual(w.sim.rulesOf(email), [], `${email} was not touched`);
      const report = await w.report('r');
      assert.equal(report.run.alerts.watched, true);
      assert.deepEqual(
        report.run.alerts.alerts.map((a: any) => [a.title, a.severity, a.waveMailboxes, a.stops]),
        [['Creation of forwarding/redirect rule', 'high', ['user1@contoso.com'], true]],
      );
      assert.match(report.run.stoppedBy, /Defender raised/);
    } finally {
      await w.close();
    }
  });

  it('no alert, no stop: the alerts were read and the rest deployed', async () => {
    const w = await world([...probeRoles, 'SecurityAlert.Read.All']);
    try {
      const result = await w.run(canary());
      assert.equal(result.code, 0, result.stderr);
      for (const email of users) assert.equal(w.sim.rulesOf(email).length, 1);
      assert.ok(w.sim.alerts.reads > 0, 'the alerts were read');
      const report = await w.report('r');
      assert.equal(report.run.alerts.watched, true);
      assert.deepEqual(report.run.alerts.alerts, []);
    } finally {
      await w.close();
    }
  });

  it('an alert below the threshold is listed in the report and does not stop', async () => {
    const w = await world([...probeRoles, 'SecurityAlert.Read.All']);
    try {
      w.sim.alerts.raiseOnRuleCreation('user0@contoso.com', {
        severity: 'medium',
        title: 'Suspicious inbox forwarding',
      });
      const result = await w.run(canary());
      assert.equal(result.code, 0, result.stderr);
      for (const email of users) assert.equal(w.sim.rulesOf(email).length, 1);
      assert.ok(w.sim.alerts.reads > 0, 'the alerts were read');
      const report = await w.report('r');
      assert.deepEqual(
        report.run.alerts.alerts.map((a: any) => [a.title, a.severity, a.stops]),
        [['Suspicious inbox forwarding', 'medium', false]],
      );
    } finally {
      await w.close();
    }
  });

  it('without SecurityAlert.Read.All it warns that it cannot watch and goes on', async () => {
    const w = await world(probeRoles);
    try {
      w.sim.alerts.raiseOnRuleCreation('user0@contoso.com', { severity: 'high' });
      const result = await w.run(canary());
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /Warning: cannot watch Defender alerts: the app has no SecurityAlert\.Read\.All/);
      for (const email of users) assert.equal(w.sim.rulesOf(email).length, 1);
      assert.equal(w.sim.alerts.reads, 0);
      const report = await w.report('r');
      assert.equal(report.run.alerts.watched, false);
    } finally {
      await w.close();
    }
  });
});

describe('Graph simulator: security/alerts_v2', () => {
  it('filters on an unquoted createdDateTime, refuses a quoted one, 403 without the permission', async () => {
    const w = await world(['SecurityAlert.Read.All']);
    const w2 = await world(['MailboxSettings.ReadWrite']);
    try {
      const get = async (target: GraphWorld, filter: string) => {
        const token = await requestToken(target.sim.url, target.tenantId, {
          client_id: target.clientId,
          client_secret: target.secret,
          scope: 'https://graph.microsoft.com/.default',
        });
        const url = `${target.sim.url}/v1.0/security/alerts_v2?$filter=${encodeURIComponent(filter)}`;
        return httpsCall('GET', url, { headers: { authorization: `Bearer ${token.body.access_token}` } });
      };
      const since = new Date(Date.now() - 60_000).toISOString();
      const ok = await get(w, `createdDateTime ge ${since}`);
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(JSON.parse(ok.text).value, []);
      const quoted = await get(w, `createdDateTime ge '${since}'`);
      assert.equal(quoted.status, 400);
      assert.match(quoted.text, /Edm\.DateTimeOffset' and 'Edm\.String' are not compatible/);
      const denied = await get(w2, `createdDateTime ge ${since}`);
      assert.equal(denied.status, 403);
      assert.match(denied.text, /SecurityAlert\.Read\.All/);
    } finally {
      await w.close();
      await w2.close();
    }
  });
});
