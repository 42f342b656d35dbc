import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MailFlow, type RuleLike } from '../../simulators/graph/mail-flow.js';
import { correctSinkRule } from '../../simulators/scenarios.js';
import { explainFromRules } from '../../src/core/probe.js';
import { planMailbox } from '../../src/core/plan.js';
import type { MailboxRule, RuleSpec } from '../../src/core/rule.js';
import { spread } from '../../src/commands/probe-step.js';

const sink = 'crm-sink@contoso.com';
const recipient = (address: string) => ({ emailAddress: { address } });

/** A tenant of contoso.com mailboxes with the given rules; delivery without delay. */
function tenant(rules: Record<string, RuleLike[]>) {
  const flow = new MailFlow(
    { isInternalDomain: (domain) => domain === 'contoso.com', rulesOf: (email) => rules[email] },
    0,
  );
  const settle = async () => {
    while (flow.inTransit > 0) await new Promise((resolve) => setTimeout(resolve, 1));
  };
  const send = (from: string, to: string, subject: string) =>
    flow.send(from, { subject, body: { contentType: 'text', content: 'hello' }, toRecipients: [recipient(to)] }, true);
  return { flow, settle, send };
}

const rule = (overrides: Partial<RuleLike>): RuleLike => ({
  displayName: 'r',
  sequence: 1,
  isEnabled: true,
  ...overrides,
});

describe('simulated Exchange Online mail flow', () => {
  it(
    'forwards as an item attachment holding the original, and forwards a message by rule only once ' +
      '(X-MS-Exchange-Inbox-Rules-Loop)',
    async () => {
      const { flow, settle, send } = tenant({
        'a@contoso.com': [{ ...correctSinkRule('b@contoso.com'), sequence: 1 }],
        'b@contoso.com': [rule({ actions: { forwardAsAttachmentTo: [recipient('c@contoso.com')] } })],
        'c@contoso.com': [],
        'x@contoso.com': [],
      });
      send('x@contoso.com', 'a@contoso.com', 'Quote 42');
      await settle();
      const [wrapper] = flow.messagesOf('b@contoso.com');
      assert.equal(wrapper!.subject, 'FW: Quote 42');
      assert.equal(wrapper!.attachments[0]!['@odata.type'], '#microsoft.graph.itemAttachment');
      assert.equal(wrapper!.attachments[0]!.item.subject, 'Quote 42');
      assert.ok(
        wrapper!.internetMessageHeaders.some(
          (h) => h.name === 'X-MS-Exchange-Inbox-Rules-Loop' && h.value === 'a@contoso.com',
        ),
      );
      assert.deepEqual(
        flow.messagesOf('c@contoso.com'),
        [],
        "b's rule does not forward a message a rule already forwarded",
      );
      assert.equal(flow.messagesOf('x@contoso.com').length, 1, 'the sender keeps a copy in Sent Items');
      assert.equal(flow.messagesOf('x@contoso.com')[0]!.folder, 'sentitems');
    },
  );

  it(
    'bounces an automatic forward to an external domain with NDR 5.7.520 to the forwarding mailbox; the NDR is ' +
      'not forwarded again',
    async () => {
      const { flow, settle, send } = tenant({
        'a@contoso.com': [{ ...correctSinkRule('crm@partner.example'), sequence: 1 }],
        'x@contoso.com': [],
      });
      send('x@contoso.com', 'a@contoso.com', 'Hello');
      await settle();
      const ndr = flow.messagesOf('a@contoso.com').find((m) => m.subject.startsWith('Undeliverable'));
      assert.match(
        ndr!.body.content,
        /550 5\.7\.520 Access denied, Your organization does not allow external forwarding/,
      );
      assert.deepEqual(flow.sentOutside, [], 'nothing left the tenant');
      assert.equal(
        flow.messagesOf('a@contoso.com').filter((m) => m.subject.startsWith('Undeliverable')).length,
        1,
        'the rule exception isNonDeliveryReport stops a loop',
      );
    },
  );

  it(
    'applies rules in sequence order: a stop-processing rule before the sink rule keeps the message from the ' +
      'sink; exceptions skip a rule',
    async () => {
      const { flow, settle, send } = tenant({
        'a@contoso.com': [
          { ...correctSinkRule(sink), sequence: 2 },
          rule({ sequence: 1, conditions: { subjectContains: ['invoice'] }, actions: { stopProcessingRules: true } }),
        ],
        [sink]: [],
        'x@contoso.com': [],
      });
      send('x@contoso.com', 'a@contoso.com', 'Invoice 7');
      send('x@contoso.com', 'a@contoso.com', 'Lunch?');
      send(sink, 'a@contoso.com', 'From the sink itself');
      await settle();
      assert.deepEqual(
        flow
          .messagesOf(sink)
          .filter((m) => m.folder === 'inbox')
          .map((m) => m.subject),
        ['FW: Lunch?'],
      );
    },
  );
});

describe('probe helpers', () => {
  const desired: RuleSpec = {
    displayName: 'CRM rule',
    sequence: 1,
    isEnabled: true,
    actions: { forwardAsAttachmentTo: [recipient(sink)], stopProcessingRules: false },
    exceptions: {},
  };
  const mailboxRule = (id: string, sequence: number, overrides: Partial<MailboxRule> = {}): MailboxRule => ({
    ...desired,
    id,
    sequence,
    isReadOnly: false,
    hasError: false,
    conditions: {},
    ...overrides,
  });

  it('explains a missing, a disabled rule and an earlier stop-processing rule', () => {
    const explain = (rules: MailboxRule[]) => explainFromRules(rules, planMailbox('verify', rules, desired));
    assert.match(explain([])!, /no sinkrule rule/);
    assert.match(explain([mailboxRule('1', 1, { isEnabled: false })])!, /disabled/);
    const stopper = mailboxRule('0', 1, {
      displayName: 'Archive all',
      actions: { moveToFolder: 'x', stopProcessingRules: true },
    });
    assert.match(
      explain([stopper, mailboxRule('1', 2)])!,
      /"Archive all" \(position 1\) runs earlier and stops processing/,
    );
    assert.equal(
      explain([mailboxRule('1', 1), { ...stopper, sequence: 2 }]),
      undefined,
      'a stop-processing rule after ours does no harm',
    );
  });

  it('spreads a sample evenly over the file', () => {
    assert.deepEqual(spread([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3), [0, 3, 6]);
    assert.deepEqual(spread([0, 1], 5), [0, 1]);
  });
});
