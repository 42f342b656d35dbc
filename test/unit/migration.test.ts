import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import {
  allowedFailures,
  parseFailureLimit,
  readinessProblem,
  revertPatch,
  switchPatch,
  testVerdict,
  type MailboxRecordFields,
  type MigrationRecord,
} from '../../src/core/migration.js';

const record = (extra: Partial<MailboxRecordFields> = {}): MailboxRecordFields => ({
  mailboxId: '00000000-0000-0000-0000-000000000001',
  name: 'Megan Bowen',
  emailAddress: 'megan@contoso.com',
  state: 0,
  incomingEmailDeliveryMethod: 3,
  incomingEmailStatus: 1,
  emailRouterAccessApproval: 1,
  emailServerProfileId: null,
  testEmailConfigurationScheduled: false,
  testMailboxAccessCompletedOn: '2026-12-01T08:00:00Z',
  etag: 'W/"1"',
  labels: {
    incomingEmailDeliveryMethod: 'Forward Mailbox',
    incomingEmailStatus: 'Success',
    emailRouterAccessApproval: 'Approved',
  },
  ...extra,
});

describe('migration decisions', () => {
  it('--max-failures: a count or a percentage of the wave, rounded down', () => {
    assert.equal(allowedFailures(parseFailureLimit('10%'), 50), 5);
    assert.equal(allowedFailures(parseFailureLimit('10%'), 9), 0);
    assert.equal(allowedFailures(parseFailureLimit('3'), 50), 3);
    assert.equal(allowedFailures(parseFailureLimit('0'), 50), 0);
    assert.equal(allowedFailures(parseFailureLimit('12.5%'), 8), 1);
    for (const bad of ['', 'ten', '-1', '1.5', '101%', '5 %%'])
      assert.throws(() => parseFailureLimit(bad), InputError, bad);
  });

  it('refuses what server-side sync would refuse, with the fix, before anything is written', () => {
    assert.equal(readinessProblem(record({ emailServerProfileId: 'p' }), undefined), undefined);
    assert.equal(readinessProblem(record(), 'configured'), undefined);
    assert.equal(readinessProblem(record(), undefined)?.code, 'NoEmailServerProfile');
    const pending = readinessProblem(
      record({
        emailRouterAccessApproval: 2,
        labels: { ...record().labels, emailRouterAccessApproval: 'Pending Approval' },
      }),
      'p',
    );
    assert.equal(pending?.code, 'EmailNotApproved');
    assert.match(pending!.message, /"Pending Approval", not Approved/);
    assert.match(pending!.fix, /Approve Email/);
    assert.equal(readinessProblem(record({ state: 1 }), 'p')?.code, 'RecordInactive');
    assert.equal(readinessProblem(record({ incomingEmailDeliveryMethod: 2 }), 'p')?.code, 'NotForwardMailbox');
  });

  it('binds the configured profile only where the record has none, and takes it off again on revert', () => {
    assert.deepEqual(switchPatch(record(), 'p1'), {
      incomingemaildeliverymethod: 2,
      'emailserverprofile@odata.bind': '/emailserverprofiles(p1)',
      testemailconfigurationscheduled: true,
    });
    assert.deepEqual(switchPatch(record({ emailServerProfileId: 'own' }), 'p1'), {
      incomingemaildeliverymethod: 2,
      testemailconfigurationscheduled: true,
    });
    assert.deepEqual(revertPatch({ profileSet: 'p1' }), {
      incomingemaildeliverymethod: 3,
      'emailserverprofile@odata.bind': null,
    });
    assert.deepEqual(revertPatch({ profileSet: null }), { incomingemaildeliverymethod: 3 });
  });

  it("takes only a test completed at or after the switch (Dataverse's clock, whole seconds) as its answer", () => {
    const migration: MigrationRecord = {
      mailboxId: record().mailboxId,
      before: record(),
      after: null,
      switchedAt: '2026-12-06T10:00:05.000Z',
      profileSet: null,
    };
    const after = (completed: string | null, status: number) =>
      testVerdict(record({ testMailboxAccessCompletedOn: completed, incomingEmailStatus: status }), migration);
    assert.equal(after('2026-12-01T08:00:00Z', 1), 'pending', 'the test before the switch');
    assert.equal(after('2026-12-06T10:00:04.900Z', 1), 'pending', 'completed before the switch');
    assert.equal(after('2026-12-06T10:00:05.300Z', 1), 'success', 'the same second as the switch counts');
    assert.equal(after('2026-12-06T10:00:09Z', 2), 'failure');
    assert.equal(after('2026-12-06T10:00:09Z', 0), 'pending', 'Not Run');
    assert.equal(after(null, 1), 'pending');
  });
});
