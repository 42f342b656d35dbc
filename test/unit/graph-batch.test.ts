import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotSentError, type PacedSlot } from '../../src/core/throttle-gate.js';
import { GraphBatcher, type PostBatch } from '../../src/providers/graph-batch.js';

type Posted = { requests: object[]; slot: Parameters<PostBatch>[1] };

/** A batcher whose batches are recorded and answered 200 per item. */
function batcherWith(pausedUntil: () => number, now = 1_000) {
  const posted: Posted[] = [];
  const post: PostBatch = async (requests, slot) => {
    posted.push({ requests, slot });
    return { responses: requests.map((_, i) => ({ id: String(i + 1), status: 200, body: {} })) };
  };
  return { posted, batcher: new GraphBatcher(post, 4, pausedUntil, () => now) };
}

const get = (n: number) => ({ method: 'GET' as const, url: `/users/u${n}/mailFolders/inbox/messageRules` });
const slot = (sendAt: number): PacedSlot => ({ sendAt, gapInMs: 1 });

describe('GraphBatcher (JSON batches of requests paced by slot)', () => {
  it('batches requests whose slots lie within its linger; a batch leaves at its first slot with all gaps', async () => {
    const { posted, batcher } = batcherWith(() => 0);
    await Promise.all([
      batcher.send('A', get(1), slot(1_100)),
      batcher.send('b', get(2), slot(1_102)),
      batcher.send('c', get(3), slot(1_110)),
    ]);
    assert.deepEqual(
      posted.map(({ slot }) => slot),
      [
        { sendAt: 1_100, gapInMs: 2, mailboxes: ['a', 'b'] },
        { sendAt: 1_110, gapInMs: 1, mailboxes: ['c'] },
      ],
    );
  });

  it('in a window, hands back unsent what was released for inside it, sends what was released for after', async () => {
    const { posted, batcher } = batcherWith(() => 2_000);
    const early = batcher.send('a', get(1), slot(1_050));
    const late = batcher.send('b', get(2), slot(2_000));
    await assert.rejects(early, (error: unknown) => error instanceof NotSentError && error.until === 2_000);
    assert.equal((await late).status, 200);
    assert.deepEqual(
      posted.map(({ slot }) => slot.mailboxes),
      [['b']],
    );
  });
  it('a batch its sender made up marks every item made up (a 429 for one is the burst, not the pace)', async () => {
    const post: PostBatch = async (requests, batchSlot) => {
      batchSlot.madeUp = true; // as the Graph handler marks the batch's slot from the wire's answer
      return { responses: requests.map((_, i) => ({ id: String(i + 1), status: 200, body: {} })) };
    };
    const batcher = new GraphBatcher(
      post,
      4,
      () => 0,
      () => 1_000,
    );
    const slots = [slot(1_100), slot(1_101)];
    await Promise.all(slots.map((s, i) => batcher.send(`M${i}`, get(i), s)));
    assert.deepEqual(
      slots.map((s) => s.madeUp),
      [true, true],
    );
    // So does a batch refused as a whole.
    const refused = new GraphBatcher(
      async (_requests, batchSlot) => {
        batchSlot.madeUp = true;
        throw new Error('429');
      },
      4,
      () => 0,
      () => 1_000,
    );
    const more = [slot(1_200), slot(1_201)];
    await Promise.allSettled(more.map((s, i) => refused.send(`N${i}`, get(i), s)));
    assert.deepEqual(
      more.map((s) => s.madeUp),
      [true, true],
    );
  });
});
