import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyGraphStats } from '../../simulators/graph/stats.js';
import { AnswerScope, GraphThrottling } from '../../simulators/graph/throttling.js';

/**
 * The simulator's count of requests sent inside a Retry-After window: what issue 19's "0 requests
 * inside a window" is measured with, so it must neither miss a client that keeps sending nor
 * blame one for a window it had not been sent yet.
 */
describe('Graph simulator: requests sent inside a Retry-After window', () => {
  // The first request is answered with an app-wide 5 s window; the grace is 100 ms.
  const throttling = () => {
    const stats = emptyGraphStats();
    const limiter = new GraphThrottling({ pauseAppAt: { request: 1, retryAfterSeconds: 5 } }, stats);
    // [arrived in flight, sent inside a window]
    return { stats, limiter, counts: () => [stats.arrivedInFlight, stats.insideRetryAfterWindow] };
  };

  it('a request alone: its 429 leaves at once, and arrivals after the grace count', () => {
    const { limiter, counts } = throttling();
    const at = Date.now();
    assert.ok(limiter.throttle('a@contoso.com', at), 'the first request opens the window');
    limiter.throttle('b@contoso.com', at + 60);
    assert.deepEqual(counts(), [1, 0], 'within the grace: in flight');
    limiter.throttle('c@contoso.com', at + 400);
    assert.deepEqual(counts(), [1, 1], 'after the grace: inside');
  });

  it('a batch item: the window counts from when the batch answers, not from when the item was refused', () => {
    const { limiter, counts } = throttling();
    const answer = new AnswerScope();
    const at = Date.now();
    assert.ok(limiter.throttle('a@contoso.com', at, answer), 'the item is refused');
    // The batch's other items take their time; meanwhile the client cannot know of the window.
    limiter.throttle('b@contoso.com', at + 300);
    assert.deepEqual(counts(), [1, 0], 'before the answer: in flight');
    answer.answered(at + 350);
    limiter.throttle('c@contoso.com', at + 420);
    assert.deepEqual(counts(), [2, 0], 'within the grace of the answer');
    limiter.throttle('d@contoso.com', at + 500);
    assert.deepEqual(counts(), [2, 1], 'after it: inside');
  });

  it("a batch's Retry-After counts from its answer: resuming on the refusal's clock is caught", () => {
    const { stats, limiter } = throttling();
    const answer = new AnswerScope();
    const at = Date.now();
    limiter.throttle('a@contoso.com', at, answer); // 5 s from the refusal: the service's window
    answer.answered(at + 1000); // the client is told at +1 s to wait 5 s: until +6 s
    limiter.throttle('b@contoso.com', at + 5500);
    assert.equal(stats.insideRetryAfterWindow, 1, 'sent before the wait it was told ended');
    limiter.throttle('c@contoso.com', at + 6100);
    assert.equal(stats.insideRetryAfterWindow, 1, 'after it: not inside');
  });

  it('a window a request alone answered first counts from that answer, whatever a batch does later', () => {
    const stats = emptyGraphStats();
    const limiter = new GraphThrottling({ requestsPerSecond: 1, burst: 1, limiter: { shape: 'bucket' } }, stats);
    limiter.start();
    const answer = new AnswerScope();
    const at = Date.now();
    assert.equal(limiter.throttle('a@contoso.com', at), undefined, 'the bucket lets one through');
    assert.ok(limiter.throttle('b@contoso.com', at, answer), 'a batch item is refused: the window opens');
    assert.ok(limiter.throttle('c@contoso.com', at), 'a request alone is refused, and told at once');
    limiter.throttle('d@contoso.com', at + 200);
    assert.equal(stats.insideRetryAfterWindow, 1, 'sent after the answer to the lone request');
    answer.answered(at + 300);
    limiter.throttle('e@contoso.com', at + 250);
    assert.equal(stats.insideRetryAfterWindow, 2, "the batch's later answer does not move the window back");
  });
});
