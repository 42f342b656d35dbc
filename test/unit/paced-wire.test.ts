import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerWindows } from '../../src/providers/graph-throttle.js';
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
    windows: (answer, now) =>
      answer.status === 429
        ? { app: now + answer.retryAfterInMs!, mailboxes: [] }
        : answer.status === 503
          ? { mailboxes: [{ index: 0, until: now + answer.retryAfterInMs! }] }
          : { mailboxes: [] },
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
    enqueue(101, 1_060); // paced for after the window: it goes at its slot
    await time.run();
    assert.deepEqual(
      sent.map(({ id, at }) => [id, at]),
      [
        [0, 0],
        [1, 10],
        [2, 20],
        [3, 30],
        [4, 40],
        [101, 1_060],
      ],
      'sent until the 429 came back at 50 (the one due then is held: answers are read first)',
    );
    assert.deepEqual(outcomes.get(0), { kind: 'answer', answer: { status: 429, retryAfterInMs: 1_000 }, at: 50 });
    for (let i = 5; i < 20; i++) assert.deepEqual(outcomes.get(i), { kind: 'held', until: 1_050, at: 50 });
    assert.deepEqual(outcomes.get(100), { kind: 'held', until: 1_050, at: 500 });
  });

  it("a mailbox's window holds what waits for that mailbox (a batch with an item for it), nothing else", async () => {
    const time = new VirtualTime(0);
    const { wire, sent, outcomes } = wireOn(time, (id) =>
      id === 0 ? { status: 503, retryAfterInMs: 1_000 } : { status: 200 },
    );
    wire.enqueue({ id: 0, request: 0, sendAt: 0, mailboxes: ['a'] });
    wire.enqueue({ id: 1, request: 1, sendAt: 40, mailboxes: ['a'] });
    wire.enqueue({ id: 2, request: 2, sendAt: 60, mailboxes: ['b'] });
    wire.enqueue({ id: 3, request: 3, sendAt: 70, mailboxes: ['c', 'a'] });
    await time.run(60);
    wire.enqueue({ id: 4, request: 4, sendAt: 80, mailboxes: ['a'] });
    await time.run();
    assert.deepEqual(
      sent.map(({ id }) => id),
      [0, 1, 2],
      'the request sent before the answer came back at 50 was out already',
    );
    assert.deepEqual(outcomes.get(3), { kind: 'held', until: 1_050, at: 50 });
    assert.deepEqual(outcomes.get(4), { kind: 'held', until: 1_050, at: 80 });
  });

  it('of slots missed by more than 25 ms, 25 ms are made up at twice the pace, then the pace', async () => {
    const time = new VirtualTime(1_000);
    const { sent, enqueue } = wireOn(time);
    for (let i = 0; i < 60; i++) enqueue(i, 900 + 2 * i, 1); // a slot every 2 ms, the first 100 ms ago
    await time.run();
    const at = sent.map((s) => s.at);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    assert.deepEqual(at.slice(0, 3), [1_000, 1_000, 1_001]);
    // Made up: a 1 ms gap until the wire's own pace is on time again, then the 2 ms interval.
    const madeUp = gaps.findIndex((gap) => gap === 2);
    assert.ok(madeUp >= 20 && madeUp <= 26, `made up for ${madeUp} sends`);
    assert.ok(
      gaps.slice(madeUp).every((gap) => gap === 2),
      `then at the pace: ${gaps.slice(madeUp).join(',')}`,
    );
  });

  it('behind the slots it was given, the wire keeps its own pace and makes up its later stalls', async () => {
    const time = new VirtualTime(1_000);
    const { sent, enqueue } = wireOn(time);
    // 400 ms behind (a cold start), then a stall of 10 ms while still behind.
    for (let i = 0; i < 300; i++) enqueue(i, 600 + 2 * i, 1);
    await time.run(1_100);
    time.now += 10;
    await time.run();
    const last = sent.at(-1)!.at;
    // 300 requests 2 ms apart take 598 ms; 25 ms of the 400 were made up at the start, and the
    // stall was made up too. At exactly the pace once behind (as before), the last left at 1,608.
    assert.ok(last <= 1_000 + 598 - 25 + 2, `last sent at ${last}`);
  });

  it('once a request it made up draws an app-wide 429, it makes up one request at most (a small burst)', async () => {
    // A slot every 2 ms, the first 100 ms ago: the wire is behind and makes up 25 ms at first.
    const behind = (enqueue: (id: number, sendAt?: number, gapInMs?: number) => void, from: number, at: number) => {
      for (let i = 0; i < 40; i++) enqueue(from + i, at - 100 + 2 * i, 1);
    };
    const madeUpSends = (sent: Array<{ id: number; at: number }>, from: number) => {
      const at = sent.filter(({ id }) => id >= from).map((s) => s.at);
      return at.slice(1).filter((t, i) => t - at[i]! < 2).length;
    };
    for (const refused of [3, 30]) {
      const time = new VirtualTime(1_000);
      const { sent, outcomes, enqueue } = wireOn(time, (id) =>
        id === refused ? { status: 429, retryAfterInMs: 200 } : { status: 200 },
      );
      behind(enqueue, 0, 1_000);
      await time.run(2_000);
      assert.deepEqual(
        outcomes.get(refused),
        refused === 3
          ? { kind: 'answer', answer: { status: 429, retryAfterInMs: 200 }, madeUp: true, at: outcomes.get(3)?.at }
          : { kind: 'answer', answer: { status: 429, retryAfterInMs: 200 }, at: outcomes.get(30)?.at },
        'the answer says whether the request was made up',
      );
      time.now = 2_000;
      behind(enqueue, 100, 2_000);
      await time.run();
      if (refused === 3)
        assert.ok(madeUpSends(sent, 100) <= 2, `request 3 was made up: then ${madeUpSends(sent, 100)} sends made up`);
      else assert.ok(madeUpSends(sent, 100) >= 20, `request 30 left at the pace: ${madeUpSends(sent, 100)} made up`);
    }
  });

  it('told that an earlier run found the burst small, it makes up one request at most from the start', async () => {
    const time = new VirtualTime(1_000);
    const sent: number[] = [];
    const wire = new PacedWire<number, Answer>({
      smallBurst: true,
      clock: time.clock,
      schedule: (fn, ms) => {
        void time.sleep(ms).then(fn);
        return () => undefined;
      },
      afterAnswers: (fn) => void Promise.resolve().then(fn),
      transmit: async () => {
        sent.push(time.now);
        return { status: 200 };
      },
      windows: () => ({ mailboxes: [] }),
      settle: () => undefined,
    });
    for (let i = 0; i < 40; i++) wire.enqueue({ id: i, request: i, sendAt: 900 + 2 * i, gapInMs: 1 });
    await time.run();
    const madeUp = sent.slice(1).filter((t, i) => t - sent[i]! < 2).length;
    assert.ok(madeUp <= 2, `${madeUp} sends made up`);
  });

  it('an aborted request leaves the queue; a failed one is reported as failed', async () => {
    const time = new VirtualTime(0);
    const { wire, sent, outcomes } = wireOn(time);
    const failing = new PacedWire<number, Answer>({
      clock: time.clock,
      schedule: (fn) => (fn(), () => {}),
      afterAnswers: (fn) => fn(),
      transmit: () => Promise.reject(new Error('ECONNRESET')),
      windows: () => ({ mailboxes: [] }),
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

describe('answerWindows (which Graph answers stop the wire, and for whom)', () => {
  const now = 1_000_000;
  const error = (message: string) => ({ error: { code: 'TooManyRequests', message } });
  const mailboxBusy = 'Application is over its MailboxConcurrency limit.';

  it('an app-wide 429 with Retry-After, alone or as an item of a JSON batch', () => {
    const alone = JSON.stringify(error('Please retry again later.'));
    assert.deepEqual(answerWindows(429, { 'retry-after': '2' }, alone, now), { app: now + 2_000, mailboxes: [] });
    const batch = JSON.stringify({
      responses: [
        { id: '1', status: 200, body: {} },
        { id: '2', status: 429, headers: { 'Retry-After': '1' }, body: error('Please retry') },
        { id: '3', status: 429, headers: { 'Retry-After': '3' }, body: error('Please retry') },
      ],
    });
    assert.deepEqual(answerWindows(200, {}, batch, now), { app: now + 3_000, mailboxes: [] });
  });

  it("a MailboxConcurrency 429 or a 503 with Retry-After is its mailbox's window; no Retry-After, no window", () => {
    const busy = JSON.stringify(error(mailboxBusy));
    assert.deepEqual(answerWindows(429, { 'retry-after': '1' }, busy, now), {
      mailboxes: [{ index: 0, until: now + 1_000 }],
    });
    assert.deepEqual(answerWindows(503, { 'Retry-After': '2' }, '', now), {
      mailboxes: [{ index: 0, until: now + 2_000 }],
    });
    assert.deepEqual(answerWindows(429, {}, JSON.stringify(error('Please retry')), now), { mailboxes: [] });
    assert.deepEqual(answerWindows(503, {}, '', now), { mailboxes: [] });
    const batch = JSON.stringify({
      responses: [
        { id: '1', status: 503, headers: { 'Retry-After': '1' }, body: {} },
        { id: '2', status: 200, body: {} },
        { id: '3', status: 429, headers: { 'Retry-After': '1' }, body: error(mailboxBusy) },
      ],
    });
    assert.deepEqual(answerWindows(200, {}, batch, now), {
      mailboxes: [
        { index: 0, until: now + 1_000 },
        { index: 2, until: now + 1_000 },
      ],
    });
  });
});
