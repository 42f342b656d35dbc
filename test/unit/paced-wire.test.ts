import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appWindowEnd } from '../../src/providers/graph-throttle.js';
import { PacedWire, type WireOutcome } from '../../src/providers/paced-wire.js';
import { VirtualTime } from '../helpers/virtual-time.js';

interface Answer {
  status: number;
  retryAfterInMs?: number;
}

/** A wire on a virtual clock whose service answers after `latencyInMs` with what `answerFor` says. */
function wireOn(time: VirtualTime, answerFor: (id: number) => Answer = () => ({ status: 200 }), latencyInMs = 50) {
  const sent: Array<{ id: number; at: number }> = [];
  const outcomes = new Map<number, WireOutcome<Answer> & { at: number }>();
  const wire = new PacedWire<number, Answer>({
    clock: time.clock,
    schedule: (fn, ms) => {
      let cancelled = false;
      void time.sleep(ms).then(() => cancelled || fn());
      return () => (cancelled = true);
    },
    afterAnswers: (fn) => void Promise.resolve().then(fn),
    transmit: async (id) => {
      sent.push({ id, at: time.now });
      await time.sleep(latencyInMs);
      return answerFor(id);
    },
    windowEnd: (answer, now) => (answer.status === 429 ? now + answer.retryAfterInMs! : undefined),
    settle: (id, outcome) => outcomes.set(id, { ...outcome, at: time.now }),
  });
  const enqueue = (id: number, sendAt?: number, gapInMs = 1) => wire.enqueue({ id, request: id, sendAt, gapInMs });
  return { wire, sent, outcomes, enqueue };
}

describe('PacedWire (requests on the wire at their slots, from a thread of their own)', () => {
  it('sends each request at its slot however early it was handed over, and an unpaced one at once', async () => {
    const time = new VirtualTime(1_000);
    const { sent, outcomes, enqueue } = wireOn(time);
    for (let i = 0; i < 10; i++) enqueue(i, 1_050 + 2 * i);
    enqueue(99);
    await time.run();
    assert.deepEqual(sent[0], { id: 99, at: 1_000 });
    assert.deepEqual(
      sent.slice(1).map(({ at }) => at),
      Array.from({ length: 10 }, (_, i) => 1_050 + 2 * i),
    );
    assert.equal(outcomes.get(3)?.kind, 'answer');
  });

  it('slots already past (the handing thread was late) leave two at once at most, then one a gap apart', async () => {
    const time = new VirtualTime(1_000);
    const { sent, enqueue } = wireOn(time);
    for (let i = 0; i < 6; i++) enqueue(i, 980 + i, 1);
    await time.run();
    assert.deepEqual(
      sent.map(({ at }) => at),
      [1_000, 1_000, 1_001, 1_002, 1_003, 1_004],
    );
  });

  it('an answer opening an app-wide window sends back all that waits, unsent; none leaves inside it', async () => {
    const time = new VirtualTime(0);
    const { sent, outcomes, enqueue } = wireOn(time, (id) =>
      id === 0 ? { status: 429, retryAfterInMs: 1_000 } : { status: 200 },
    );
    for (let i = 0; i < 20; i++) enqueue(i, 10 * i);
    await time.run(60); // the 429 answers at 50
    enqueue(100, 500); // handed over before the handing thread read the 429
    await time.run();
    assert.deepEqual(
      sent.map(({ id }) => id),
      [0, 1, 2, 3, 4],
      'sent until the 429 came back at 50 (the one due then is held: answers are read first)',
    );
    assert.deepEqual(outcomes.get(0), { kind: 'answer', answer: { status: 429, retryAfterInMs: 1_000 }, at: 50 });
    for (let i = 5; i < 20; i++) assert.deepEqual(outcomes.get(i), { kind: 'held', until: 1_050, at: 50 });
    assert.deepEqual(outcomes.get(100), { kind: 'held', until: 1_050, at: 500 });
  });

  it('an aborted request leaves the queue; a failed one is reported as failed', async () => {
    const time = new VirtualTime(0);
    const { wire, sent, outcomes } = wireOn(time);
    const failing = new PacedWire<number, Answer>({
      clock: time.clock,
      schedule: (fn) => (fn(), () => {}),
      afterAnswers: (fn) => fn(),
      transmit: () => Promise.reject(new Error('ECONNRESET')),
      windowEnd: () => undefined,
      settle: (id, outcome) => outcomes.set(id, { ...outcome, at: time.now }),
    });
    wire.enqueue({ id: 1, request: 1, sendAt: 100 });
    wire.enqueue({ id: 2, request: 2, sendAt: 200 });
    wire.abort(1);
    failing.enqueue({ id: 3, request: 3 });
    await time.run();
    assert.deepEqual(
      sent.map(({ id }) => id),
      [2],
    );
    assert.equal(outcomes.get(3)?.kind, 'failed');
  });
});

describe('appWindowEnd (which Graph answers stop the wire)', () => {
  const now = 1_000_000;
  const error = (message: string) => JSON.stringify({ error: { code: 'TooManyRequests', message } });

  it('an app-wide 429 with Retry-After, alone or as an item of a JSON batch', () => {
    assert.equal(appWindowEnd(429, { 'retry-after': '2' }, error('Please retry again later.'), now), now + 2_000);
    const batch = JSON.stringify({
      responses: [
        { id: '1', status: 200, body: {} },
        { id: '2', status: 429, headers: { 'Retry-After': '1' }, body: { error: { message: 'Please retry' } } },
        { id: '3', status: 429, headers: { 'Retry-After': '3' }, body: { error: { message: 'Please retry' } } },
      ],
    });
    assert.equal(appWindowEnd(200, {}, batch, now), now + 3_000);
  });

  it('not a mailbox-concurrency 429, a 503, a 429 without Retry-After or a batch with none refused', () => {
    const mailbox = error('Application is over its MailboxConcurrency limit.');
    assert.equal(appWindowEnd(429, { 'retry-after': '1' }, mailbox, now), undefined);
    assert.equal(appWindowEnd(503, { 'retry-after': '1' }, '', now), undefined);
    assert.equal(appWindowEnd(429, {}, error('Please retry'), now), undefined);
    const batch = JSON.stringify({
      responses: [
        { id: '1', status: 503, headers: { 'Retry-After': '1' }, body: {} },
        { id: '2', status: 429, headers: { 'Retry-After': '1' }, body: { error: { message: mailbox } } },
      ],
    });
    assert.equal(appWindowEnd(200, {}, batch, now), undefined);
  });
});
