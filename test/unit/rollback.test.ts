import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planRollback } from '../../src/core/rollback.js';
import type { MailboxRule } from '../../src/core/rule.js';

const name = 'Dynamics 365 forward mailbox (sinkrule)';
const to = (address: string, display?: string) => ({
  emailAddress: { address, ...(display ? { name: display } : {}) },
});
const rule = (id: string, sink: string, overrides: Partial<MailboxRule> = {}): MailboxRule => ({
  id,
  displayName: name,
  sequence: 1,
  isEnabled: true,
  conditions: {},
  actions: { forwardAsAttachmentTo: [to(sink, 'Sink')], stopProcessingRules: false },
  exceptions: { fromAddresses: [to(sink)], isNonDeliveryReport: true },
  isReadOnly: false,
  hasError: false,
  ...overrides,
});
const foreign: MailboxRule = { ...rule('f', 'someone@gmail.com'), displayName: 'Copy to my phone' };
const readOnlyNamed: MailboxRule = { ...rule('ro', 'x@contoso.com'), isReadOnly: true };

describe('planRollback', () => {
  it('deletes the rule the run created', () => {
    const created = rule('new', 'crm@contoso.com');
    const decision = planRollback({ before: [], after: [created] }, [foreign, created], name);
    assert.deepEqual(decision, {
      kind: 'restore',
      changes: [{ kind: 'delete', ruleId: 'new', reason: 'created by the run' }],
      reasons: [],
    });
  });

  it('puts back the exact content of the rule the run updated (recipient names included)', () => {
    const old = rule('a', 'old@contoso.com', {
      isEnabled: false,
      actions: { forwardAsAttachmentTo: [to('old@contoso.com', 'Old sink')] },
    });
    const updated = rule('a', 'crm@contoso.com');
    const decision = planRollback({ before: [old], after: [updated] }, [updated], name);
    assert.equal(decision.kind, 'restore');
    assert.equal(decision.changes.length, 1);
    const change = decision.changes[0]!;
    assert.equal(change.kind, 'update');
    assert.ok(change.kind === 'update' && change.ruleId === 'a');
    assert.deepEqual(change.kind === 'update' && change.rule.actions, old.actions);
    assert.equal(change.kind === 'update' && change.rule.isEnabled, false);
  });

  it('recreates duplicates the run deleted, at their recorded position, and keeps the kept one', () => {
    const keep = rule('k', 'crm@contoso.com');
    const dropped = rule('d', 'old@contoso.com', { sequence: 3 });
    const decision = planRollback({ before: [keep, dropped], after: [keep] }, [keep, foreign], name);
    assert.equal(decision.kind, 'restore');
    assert.deepEqual(decision.changes, [
      {
        kind: 'create',
        rule: {
          displayName: name,
          sequence: 3,
          isEnabled: true,
          conditions: {},
          actions: dropped.actions,
          exceptions: dropped.exceptions,
        },
      },
    ]);
  });

  it('recreates what remove deleted', () => {
    const removed = rule('r', 'crm@contoso.com');
    const decision = planRollback({ before: [removed], after: [] }, [foreign], name);
    assert.equal(decision.kind, 'restore');
    assert.equal(decision.changes[0]!.kind, 'create');
  });

  it('conflict, nothing written, when a rule the run left was changed, deleted, or another was added', () => {
    const left = rule('a', 'crm@contoso.com');
    const old = rule('a', 'old@contoso.com');
    const cases: MailboxRule[][] = [
      [{ ...left, isEnabled: false }],
      [],
      [left, rule('b', 'crm@contoso.com')],
      [{ ...left, actions: { forwardTo: [to('evil@example.net')] } }],
    ];
    for (const now of cases) {
      // The run updated rule a (it existed before): gone, changed, or joined by another is a conflict.
      const decision = planRollback({ before: [old], after: [left] }, now, name);
      assert.equal(decision.kind, 'conflict', JSON.stringify(now));
      assert.deepEqual(decision.changes, []);
      assert.ok(decision.reasons.length > 0);
    }
    assert.match(
      planRollback({ before: [], after: [left] }, [{ ...left, isEnabled: false }], name).reasons[0]!,
      /rule a was changed after the run: isEnabled: false → true/,
    );
  });

  it('never looks at other rules or read-only ones with the name', () => {
    const created = rule('new', 'crm@contoso.com');
    const decision = planRollback({ before: [], after: [created] }, [foreign, readOnlyNamed, created], name);
    assert.deepEqual(
      decision.changes.map((c) => c.kind === 'delete' && c.ruleId),
      ['new'],
    );
  });

  it(
    'unchanged when the mailbox already holds the before-state (a second rollback), ids of recreated rules ' + 'aside',
    () => {
      const keep = rule('k', 'crm@contoso.com');
      const dropped = rule('d', 'old@contoso.com');
      const recreated = { ...dropped, id: 'd2', sequence: 7 };
      assert.equal(planRollback({ before: [keep, dropped], after: [keep] }, [keep, recreated], name).kind, 'unchanged');
      assert.equal(
        planRollback({ before: [], after: [rule('new', 'crm@contoso.com')] }, [foreign], name).kind,
        'unchanged',
      );
    },
  );

  it('continues a restore that stopped part-way (some changes made, the rest still to do)', () => {
    const created = rule('new', 'crm@contoso.com');
    const dropped = rule('d', 'old@contoso.com');
    // The run deleted d and created new; the first rollback attempt deleted new, then failed.
    const decision = planRollback({ before: [dropped], after: [created] }, [], name);
    assert.deepEqual(
      decision.changes.map((c) => c.kind),
      ['create'],
    );
  });

  it(
    'a mailbox the run failed on: unchanged if it is as before, otherwise a conflict (what the run left is ' +
      'unknown)',
    () => {
      const old = rule('a', 'old@contoso.com');
      assert.equal(planRollback({ before: [old], after: null }, [old], name).kind, 'unchanged');
      assert.equal(planRollback({ before: [old], after: null }, [rule('a', 'crm@contoso.com')], name).kind, 'conflict');
      assert.equal(planRollback({ before: null, after: null }, [], name).kind, 'conflict');
    },
  );
});
