import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliverMailHour, type HourMailbox } from '../../simulators/graph/busiest-hour.js';
import { MailFlow, type RuleLike } from '../../simulators/graph/mail-flow.js';
import {
  ReceivingLimits,
  receivingLimitPerHour,
  senderLimitPerHour,
  type MailOrigin,
} from '../../simulators/graph/receiving-limits.js';
import { asMessageRule } from '../../simulators/ews/rule-view.js';
import { correctSinkRule } from '../../simulators/scenarios.js';

const sink = 'crm-sink@contoso.com';
const minute = 60_000;
const t0 = Date.parse('2026-03-02T09:00:00Z');

/** `count` deliveries to the sink, two a second from `start`, each from its own sender unless `from` is given. */
function offer(limits: ReceivingLimits, count: number, origin: MailOrigin, start: number, from?: string) {
  const statuses: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const refusal = limits.admit({
      to: sink,
      from: from ?? `user${i}@contoso.com`,
      origin,
      at: start + i * 500,
      sizeInBytes: 100,
    });
    const key = refusal?.status ?? 'delivered';
    statuses[key] = (statuses[key] ?? 0) + 1;
  }
  return statuses;
}

describe('receiving limits (Exchange Online service description, "Receiving limits")', () => {
  it('past 3,600 an hour: on-premises and internet senders refused (5.2.122), Exchange Online ones delivered', () => {
    const limits = new ReceivingLimits();
    assert.deepEqual(offer(limits, receivingLimitPerHour, 'exchange-online', t0), { delivered: 3600 });
    assert.deepEqual(offer(limits, 10, 'on-premises', t0 + 50 * minute), { '5.2.122': 10 });
    assert.deepEqual(offer(limits, 10, 'internet', t0 + 50 * minute), { '5.2.122': 10 });
    assert.deepEqual(
      offer(limits, 10, 'exchange-online', t0 + 50 * minute),
      { delivered: 10 },
      'internal senders exempt',
    );
    assert.equal(limits.receivedInHour(sink, t0 + 59 * minute), 3610, 'the exempt messages count');
  });

  it('is a rolling hour: once the oldest messages are an hour old the mailbox takes outside mail again', () => {
    const limits = new ReceivingLimits();
    offer(limits, receivingLimitPerHour, 'exchange-online', t0);
    assert.deepEqual(offer(limits, 1, 'on-premises', t0 + 3599 * 1000), { '5.2.122': 1 });
    // From t0 + 1 h + 5 s on, the first messages (t0, t0 + 1 s, …) leave the hour one a second.
    assert.deepEqual(offer(limits, 5, 'on-premises', t0 + 3_605_000, 'onprem@contoso.com'), {
      delivered: 5,
    });
  });

  it('one sender outside Exchange Online: 1,188 an hour per mailbox (5.2.121); Exchange Online exempt', () => {
    assert.equal(senderLimitPerHour, 1188);
    const limits = new ReceivingLimits();
    assert.deepEqual(offer(limits, 1200, 'on-premises', t0, 'busy@contoso.com'), { delivered: 1188, '5.2.121': 12 });
    assert.deepEqual(offer(limits, 5, 'on-premises', t0 + 30 * minute, 'quiet@contoso.com'), { delivered: 5 });
    assert.deepEqual(offer(limits, 1300, 'exchange-online', t0, 'cloud@contoso.com'), { delivered: 1300 });
  });

  it('a mailbox over its Prohibit Send/Receive quota refuses every sender, internal ones too (5.2.2)', () => {
    const limits = new ReceivingLimits();
    limits.setStorage(sink, { usedBytes: 950, quotaBytes: 1100 });
    assert.deepEqual(offer(limits, 2, 'exchange-online', t0), { delivered: 1, '5.2.2': 1 });
    assert.deepEqual(offer(limits, 1, 'on-premises', t0), { '5.2.2': 1 });
    assert.equal(limits.storageOf(sink)!.usedBytes, 1050, 'refused messages take no space');
  });
});

describe('busiest hour in bulk (simulators/graph/busiest-hour.ts)', () => {
  const tenant = (rules: Record<string, RuleLike[]>) =>
    new MailFlow({ isInternalDomain: (d) => d === 'contoso.com', rulesOf: (email) => rules[email] }, 0);
  const sinkRule = (to: string): RuleLike => ({ ...correctSinkRule(to), sequence: 1 });

  it("runs each user's rules; a hot sink refuses on-premises and POP3 copies, never Exchange Online ones", () => {
    const cloud = Array.from({ length: 30 }, (_, i) => `cloud${i}@contoso.com`);
    const rules: Record<string, RuleLike[]> = { [sink]: [] };
    for (const email of cloud) rules[email] = [sinkRule(sink)];
    const flow = tenant(rules);
    const mailboxes: HourMailbox[] = [
      ...cloud.map((email) => ({ email, route: 'graph' as const, messages: 150 })),
      { email: 'onprem@contoso.com', route: 'ews', messages: 200 },
      { email: 'pop@contoso.com', route: 'pop3', messages: 100 },
    ];
    const onPremisesRule = {
      RuleId: 'r1',
      DisplayName: 'Dynamics 365 forward mailbox (sinkrule)',
      Priority: 1,
      IsEnabled: true,
      Actions: { ForwardAsAttachmentToRecipients: [{ address: sink }] },
      Exceptions: { FromAddresses: [{ address: sink }], IsNDR: true },
    };
    const result = deliverMailHour(flow, {
      mailboxes,
      startAt: t0,
      rules: {
        graph: { rulesOf: (email) => rules[email] ?? [] },
        ews: { rulesOf: () => [onPremisesRule] },
        other: () => [sinkRule(sink)],
      },
    });
    assert.equal(result.originals, 30 * 150 + 300);
    assert.equal(result.copies, result.originals);
    const tally = result.recipients[sink]!;
    assert.equal(tally.deliveredFrom['exchange-online'], 4500, 'every Exchange Online copy delivered');
    assert.ok((tally.refusedFrom['on-premises'] ?? 0) > 0 && (tally.refusedFrom.internet ?? 0) > 0);
    assert.deepEqual(Object.keys(tally.byStatus), ['5.2.122']);
    assert.ok(result.bounces.every((b) => b.copy && b.route !== 'graph'));
    assert.equal(flow.messagesOf(sink).length, tally.delivered);
    const [copy] = flow.messagesOf(sink);
    assert.equal(copy!.attachments[0]!['@odata.type'], '#microsoft.graph.itemAttachment');
    assert.ok(flow.limits.receivedInHour(sink, t0 + 3_599_999) > receivingLimitPerHour);
  });

  it('under the limit nothing bounces; the EWS rule view keeps the exception that skips NDRs', () => {
    const flow = tenant({ [sink]: [], 'a@contoso.com': [sinkRule(sink)] });
    const result = deliverMailHour(flow, {
      mailboxes: [
        { email: 'a@contoso.com', route: 'graph', messages: 1000 },
        { email: 'b@contoso.com', route: 'ews', messages: 1000 },
      ],
      startAt: t0,
      rules: {
        graph: { rulesOf: () => [sinkRule(sink)] },
        ews: {
          rulesOf: () => [
            {
              RuleId: 'r',
              DisplayName: 'x',
              Priority: 1,
              IsEnabled: true,
              Actions: { ForwardAsAttachmentToRecipients: [{ address: sink }] },
            },
          ],
        },
      },
    });
    assert.deepEqual(result.bounces, []);
    assert.equal(result.recipients[sink]!.delivered, 2000);
    const view = asMessageRule({
      RuleId: 'r',
      DisplayName: 'x',
      Priority: 2,
      IsEnabled: true,
      Exceptions: { IsNDR: true, FromAddresses: [{ address: sink }] },
      Actions: { ForwardAsAttachmentToRecipients: [{ address: sink }] },
    });
    assert.deepEqual(view.exceptions, {
      isNonDeliveryReport: true,
      fromAddresses: [{ emailAddress: { address: sink, name: undefined } }],
    });
  });

  it("a user's own mailbox refuses the originals past its limit too, and a refused original makes no copy", () => {
    const flow = tenant({ [sink]: [], 'hot@contoso.com': [sinkRule(sink)] });
    const result = deliverMailHour(flow, {
      mailboxes: [{ email: 'hot@contoso.com', route: 'graph', messages: 4000 }],
      startAt: t0,
      rules: { graph: { rulesOf: () => [sinkRule(sink)] } },
    });
    assert.equal(result.bounces.filter((b) => !b.copy && b.status === '5.2.122').length, 400);
    assert.equal(result.copies, 3600);
  });
});
