import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { planMailbox } from '../../src/core/plan.js';
import { canonicalSection, ruleDifferences, type MailboxRule, type RuleSpec } from '../../src/core/rule.js';

const sink = 'crm-sink@contoso.com';
const to = (address: string, name?: string) => ({ emailAddress: { address, ...(name ? { name } : {}) } });
const desired: RuleSpec = {
  displayName: 'Dynamics 365 forward mailbox (sinkrule)',
  sequence: 1,
  isEnabled: true,
  conditions: {},
  actions: { forwardAsAttachmentTo: [to(sink, 'Sink')], stopProcessingRules: false },
  exceptions: { fromAddresses: [to(sink)], isNonDeliveryReport: true, isReadReceipt: true },
};
const rule = (id: string, overrides: Partial<MailboxRule> = {}): MailboxRule => ({
  ...structuredClone(desired),
  id,
  sequence: 2,
  isReadOnly: false,
  hasError: false,
  ...overrides,
});

describe('rule comparison', () => {
  it('treats absent, null, false and empty as the same, and ignores names, case and order of recipients', () => {
    const fromServer = rule('a', {
      displayName: 'dynamics 365 FORWARD mailbox (sinkrule)',
      conditions: { bodyContains: [], hasAttachments: false, importance: null as never },
      actions: { forwardAsAttachmentTo: [to('CRM-Sink@Contoso.com')], stopProcessingRules: false, delete: false },
      exceptions: {
        isReadReceipt: true,
        fromAddresses: [to(sink, 'Other name')],
        isNonDeliveryReport: true,
        isSigned: false,
      },
    });
    assert.deepEqual(ruleDifferences(fromServer, desired), []);
  });

  it('names each difference as field: actual → desired', () => {
    const drifted = rule('a', {
      isEnabled: false,
      actions: { forwardAsAttachmentTo: [to('old@contoso.com')], stopProcessingRules: true },
      exceptions: {},
    });
    assert.deepEqual(ruleDifferences(drifted, desired), [
      'isEnabled: false → true',
      'actions.forwardAsAttachmentTo: ["old@contoso.com"] → ["crm-sink@contoso.com"]',
      'actions.stopProcessingRules: true → null',
      'exceptions.fromAddresses: null → ["crm-sink@contoso.com"]',
      'exceptions.isNonDeliveryReport: null → true',
      'exceptions.isReadReceipt: null → true',
    ]);
  });

  it('counts an added condition and a server error flag as drift', () => {
    assert.deepEqual(ruleDifferences(rule('a', { conditions: { subjectContains: ['invoice'] } }), desired), [
      'conditions.subjectContains: ["invoice"] → null',
    ]);
    assert.deepEqual(ruleDifferences(rule('a', { hasError: true }), desired), [
      'hasError: the server marks the rule as broken',
    ]);
  });

  it('canonical form sorts keys and lists', () => {
    assert.deepEqual(canonicalSection({ b: ['y', 'x'], a: true, c: {} }), { a: true, b: ['x', 'y'] });
  });
});

describe('plan per mailbox', () => {
  const foreign = rule('f', { displayName: 'From partner', actions: { forwardTo: [to('x@contoso.com')] } });

  it('missing: deploy creates, remove has nothing to do, verify says missing', () => {
    assert.deepEqual(planMailbox('deploy', [foreign], desired).changes, [{ kind: 'create', rule: desired }]);
    assert.deepEqual(planMailbox('remove', [foreign], desired).changes, []);
    assert.equal(planMailbox('verify', [foreign], desired).compliance, 'missing');
  });

  it('disabled is its own verdict; any other difference is drift', () => {
    assert.equal(planMailbox('verify', [rule('a', { isEnabled: false })], desired).compliance, 'disabled');
    assert.equal(
      planMailbox('verify', [rule('a', { isEnabled: false, exceptions: {} })], desired).compliance,
      'drifted',
    );
    const plan = planMailbox('deploy', [rule('a', { isEnabled: false })], desired);
    assert.deepEqual(plan.changes, [
      { kind: 'update', ruleId: 'a', rule: desired, reasons: ['isEnabled: false → true'] },
    ]);
  });

  it('duplicates: keeps the best match, deletes the others, never touches foreign rules', () => {
    const plan = planMailbox(
      'deploy',
      [
        rule('old', { sequence: 1, actions: { forwardAsAttachmentTo: [to('old@contoso.com')] } }),
        foreign,
        rule('good', { sequence: 3 }),
      ],
      desired,
    );
    assert.equal(plan.compliance, 'duplicate');
    assert.equal(plan.keeper?.id, 'good');
    assert.deepEqual(plan.changes, [{ kind: 'delete', ruleId: 'old', reason: 'duplicate of good' }]);
  });

  it('a read-only rule is never ours, even with our name', () => {
    const readOnly = rule('ro', { isReadOnly: true, actions: {} });
    const plan = planMailbox('remove', [readOnly], desired);
    assert.deepEqual(plan.changes, []);
    assert.equal(plan.notes.length, 1);
    assert.deepEqual(planMailbox('deploy', [readOnly], desired).changes, [{ kind: 'create', rule: desired }]);
  });

  it('equal rule: deploy writes nothing; remove deletes only ours', () => {
    assert.deepEqual(planMailbox('deploy', [rule('a'), foreign], desired).changes, []);
    assert.deepEqual(
      planMailbox('remove', [rule('a'), foreign, rule('b')], desired).changes.map(
        (c) => c.kind === 'delete' && c.ruleId,
      ),
      ['a', 'b'],
    );
  });
});
