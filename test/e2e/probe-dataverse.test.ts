import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimulatedMailboxRecord } from '../../simulators/dataverse/dataverse-simulator.js';
import { correctSinkRule } from '../../simulators/scenarios.js';
import { startDataverseWorld } from '../helpers/dataverse-world.js';

const sink = 'crm-sink@contoso.com';
const probeFrom = 'sinkrule-probe@contoso.com';
const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const record = (n: number, email: string, forwardMailbox = false): SimulatedMailboxRecord => ({
  mailboxid: id(n),
  name: email.split('@')[0]!,
  emailaddress: email,
  incomingemaildeliverymethod: forwardMailbox ? 2 : 3,
  incomingemailstatus: 1,
  outgoingemaildeliverymethod: forwardMailbox ? 0 : 2,
  isforwardmailbox: forwardMailbox,
});

describe('preflight and probe with --from-dataverse', () => {
  it('take the mailboxes and the sink from Dynamics 365 through the mailbox source, and check Dataverse', async () => {
    const world = await startDataverseWorld({
      records: [record(900, sink, true), record(1, 'user1@contoso.com'), record(2, 'user2@contoso.com')],
      graphMailboxes: [
        { email: sink, kind: 'exchange-online' },
        { email: probeFrom, kind: 'exchange-online' },
        { email: 'user1@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink)] },
        { email: 'user2@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink)] },
      ],
      graphRoles: ['MailboxSettings.ReadWrite', 'Mail.Send', 'Mail.ReadWrite', 'Domain.Read.All'],
    });
    try {
      await world.writeConfig({
        ...world.baseConfig,
        probe: { from: probeFrom, timeoutInS: 5, pollIntervalInMs: 200 },
      });
      const preflight = await world.run(['preflight', '--from-dataverse', '--output', 'json']);
      assert.equal(preflight.code, 0, preflight.stdout + preflight.stderr);
      const checks = new Map(
        (
          JSON.parse(preflight.stdout) as { checks: Array<{ check: string; status: string; detail: string }> }
        ).checks.map((c) => [c.check, c]),
      );
      assert.equal(checks.get('dataverse')!.status, 'pass');
      assert.match(checks.get('dataverse')!.detail, /crm-sink@contoso\.com/);
      assert.match(checks.get('sample-access')!.detail, /2 mailboxes/);
      const probe = await world.run(['probe', '--from-dataverse', '--report', 'r']);
      assert.equal(probe.code, 0, probe.stderr);
      const report = await world.report('r');
      assert.deepEqual(report.run.counts, { 'probe-success': 2 });
      assert.equal(report.run.input.source, 'dataverse');
    } finally {
      await world.close();
    }
  });
});
