import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessError, MailboxError, ThrottledError, TransientError } from '../../src/core/errors.js';
import { parseRetryAfter, withRetry } from '../../src/core/retry.js';
import { VirtualTime } from '../helpers/virtual-time.js';
import { ThrottleGate } from '../../src/core/throttle-gate.js';
import { translateGraphError } from '../../src/providers/graph.js';

/** Virtual time: sleeping moves the clock, so tests are exact and instant. */
function virtualTime(start = 1_000_000) {
  const time = new VirtualTime(start);
  return { time, clock: time.clock, sleep: time.instantSleep };
}

describe('Retry-After parsing', () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name];
  it('reads seconds (with fractions), milliseconds headers and HTTP dates', () => {
    assert.equal(parseRetryAfter(headers({ 'retry-after': '10' }), 0), 10_000);
    assert.equal(parseRetryAfter(headers({ 'retry-after': '2.128' }), 0), 2128);
    assert.equal(parseRetryAfter(headers({ 'retry-after-ms': '250', 'retry-after': '10' }), 0), 250);
    assert.equal(parseRetryAfter(headers({ 'x-ms-retry-after-ms': '75' }), 0), 75);
    const now = Date.parse('2026-11-23T10:00:00Z');
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'Mon, 23 Nov 2026 10:00:30 GMT' }), now), 30_000);
    assert.equal(parseRetryAfter(headers({ 'retry-after': 'soon' }), now), undefined);
    assert.equal(parseRetryAfter(headers({}), now), undefined);
  });
});

describe('withRetry', () => {
  const base = { maxRetries: 3, retryDelayInMs: 1000, maxRetryDelayInMs: 60_000, random: () => 0.5 };

  it('waits what the service asked for, then exponential back-off with jitter, then gives up', async () => {
    const { time, sleep } = virtualTime();
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw calls === 1
            ? new ThrottledError('429', 7000, 'mailbox', 'TooManyRequests')
            : new TransientError('503', 'ServiceUnavailable');
        },
        { ...base, sleep },
      ),
      TransientError,
    );
    assert.equal(calls, 4);
    // The first transient failure is retried at once (75 ms: 100 ms with equal jitter), then 1 s, 2 s.
    assert.deepEqual(time.slept, [7000, 75, 750]);
  });

  it('retries a transient failure once at once, then backs off exponentially; never throttling', async () => {
    const { time, sleep } = virtualTime();
    const fail = (error: Error) =>
      withRetry(
        async () => {
          throw error;
        },
        { ...base, sleep },
      );
    await assert.rejects(fail(new TransientError('503', 'ServiceUnavailable')), TransientError);
    assert.deepEqual(time.slept, [75, 750, 1500]);
    time.slept.length = 0;
    // A mailbox throttled without a delay backs off from the start: it was told to slow down.
    await assert.rejects(fail(new ThrottledError('429', undefined, 'mailbox', 'TooManyRequests')), ThrottledError);
    assert.deepEqual(time.slept, [750, 1500, 3000]);
    time.slept.length = 0;
    // Turned off: the back-off starts at the first retry, as before.
    await assert.rejects(
      withRetry(
        async () => {
          throw new TransientError('503', 'ServiceUnavailable');
        },
        { ...base, firstRetryDelayInMs: 1000, sleep },
      ),
      TransientError,
    );
    assert.deepEqual(time.slept, [750, 1500, 3000]);
  });

  it('never retries what a retry cannot fix', async () => {
    const { sleep } = virtualTime();
    for (const error of [
      new MailboxError('ErrorAccessDenied', 'no', 'grant'),
      new AccessError('bad secret'),
      new Error('bug'),
    ]) {
      let calls = 0;
      await assert.rejects(
        withRetry(
          async () => {
            calls++;
            throw error;
          },
          { ...base, sleep },
        ),
        error,
      );
      assert.equal(calls, 1);
    }
  });

  it('gives up rather than wait longer than maxRetryDelayInMs', async () => {
    const { time, sleep } = virtualTime();
    await assert.rejects(
      withRetry(
        async () => {
          throw new ThrottledError('busy', 297_749, 'mailbox', 'ErrorServerBusy');
        },
        { ...base, maxRetryDelayInMs: 60_000, sleep },
      ),
      ThrottledError,
    );
    assert.deepEqual(time.slept, []);
  });

  it("does not charge app-wide throttling to the mailbox's retry budget", async () => {
    const { sleep } = virtualTime();
    let calls = 0;
    const result = await withRetry(
      async () => {
        if (++calls <= 10) throw new ThrottledError('app', 100, 'app', 'TooManyRequests');
        return 'done';
      },
      { ...base, sleep },
    );
    assert.equal(result, 'done');
  });
});

describe('ThrottleGate', () => {
  it('sends nothing to any mailbox inside an app window, nor to a throttled mailbox inside its window', async () => {
    const { time, clock, sleep } = virtualTime();
    const gate = new ThrottleGate({ clock, sleep, initialRequestsPerSecond: Infinity });
    const start = time.now;
    await assert.rejects(
      gate.send('a@x', async () => {
        throw new ThrottledError('429', 5000, 'app', 'TooManyRequests');
      }),
      ThrottledError,
    );
    const sentAt: number[] = [];
    await gate.send('b@x', async () => sentAt.push(time.now));
    assert.ok(sentAt[0]! >= start + 5000, 'app window holds every mailbox');
    await assert.rejects(
      gate.send('c@x', async () => {
        throw new ThrottledError('429', 2000, 'mailbox', 'ApplicationThrottled');
      }),
      ThrottledError,
    );
    const before = time.now;
    await gate.send('d@x', async () => sentAt.push(time.now));
    assert.equal(sentAt[1], before, 'another mailbox is not held by a mailbox window');
    await gate.send('c@x', async () => sentAt.push(time.now));
    assert.ok(sentAt[2]! >= before + 2000 - 1, 'the throttled mailbox waits its window');
  });

  it('keeps at most four requests in flight per mailbox', async () => {
    const gate = new ThrottleGate({ clock: Date.now, sleep: async () => {}, initialRequestsPerSecond: Infinity });
    let inFlight = 0;
    let peak = 0;
    const release: Array<() => void> = [];
    const sends = Array.from({ length: 10 }, () =>
      gate.send('a@x', async () => {
        peak = Math.max(peak, ++inFlight);
        await new Promise<void>((resolve) => release.push(resolve));
        inFlight--;
      }),
    );
    let settled = 0;
    for (const send of sends) void send.then(() => settled++);
    while (settled < sends.length) {
      await new Promise((r) => setImmediate(r));
      release.shift()?.();
    }
    assert.equal(peak, 4);
  });

  it('paces requests and slows down after an app-wide 429', async () => {
    const { clock, sleep } = virtualTime();
    const gate = new ThrottleGate({ clock, sleep, initialRequestsPerSecond: 10 });
    for (let i = 0; i < 5; i++) await gate.send('a@x', async () => undefined);
    assert.equal(gate.requestsPerSecond, 15, 'slow start: every accepted request raises the pace');
    await assert.rejects(
      gate.send('a@x', async () => {
        throw new ThrottledError('429', 100, 'app', 'TooManyRequests');
      }),
    );
    assert.ok(gate.requestsPerSecond < 15, 'the first app-wide 429 ends learning');
    assert.equal(gate.pacingState, 'holding');
  });
});

describe('Graph error translation', () => {
  const graphError = (statusCode: number, code: string, message = 'm', headers: Record<string, string> = {}) =>
    Object.assign(new Error(message), { statusCode, code, headers: new Headers(headers) });

  it('maps each status to one decision', () => {
    const throttled = translateGraphError(
      graphError(429, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.', {
        'Retry-After': '3',
      }),
      'read',
      () => 0,
    );
    assert.ok(
      throttled instanceof ThrottledError && throttled.retryAfterInMs === 3000 && throttled.scope === 'mailbox',
    );
    const appWide = translateGraphError(
      graphError(429, 'TooManyRequests', 'Please retry again later.', { 'Retry-After': '1' }),
      'read',
      () => 0,
    );
    assert.ok(appWide instanceof ThrottledError && appWide.scope === 'app');
    assert.ok(translateGraphError(graphError(503, 'ServiceUnavailable'), 'create', () => 0) instanceof TransientError);
    assert.ok(
      translateGraphError(graphError(-1, 'TypeError', 'fetch failed'), 'create', () => 0) instanceof TransientError,
    );
    assert.ok(
      translateGraphError(graphError(401, 'InvalidAuthenticationToken'), 'read', () => 0) instanceof AccessError,
    );
    assert.ok(
      translateGraphError(
        graphError(-1, 'AuthenticationRequiredError', 'AADSTS7000215: Invalid client secret'),
        'read',
        () => 0,
      ) instanceof AccessError,
    );
    const denied = translateGraphError(graphError(403, 'ErrorAccessDenied'), 'read', () => 0);
    assert.ok(denied instanceof MailboxError && /MailboxSettings\.ReadWrite/.test(denied.fix));
    for (const code of ['MailboxNotEnabledForRESTAPI', 'ResourceNotFound', 'ErrorInvalidUser']) {
      const error = translateGraphError(graphError(404, code), 'read', () => 0);
      assert.ok(error instanceof MailboxError && /no Exchange Online mailbox/.test(error.fix), code);
    }
    assert.ok(
      translateGraphError(graphError(404, 'ErrorItemNotFound'), 'update', () => 0) instanceof TransientError,
      'a vanished rule means re-read',
    );
    assert.ok(translateGraphError(graphError(400, 'RequestBodyRead'), 'create', () => 0) instanceof MailboxError);
  });
});
