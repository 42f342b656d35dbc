import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThrottledError } from '../../src/core/errors.js';
import { ThrottleGate } from '../../src/core/throttle-gate.js';
import { VirtualTime } from '../helpers/virtual-time.js';

/**
 * A service with an app-wide ceiling (token bucket of one second), like the simulators, that
 * records every request it receives inside a Retry-After window it announced.
 */
function ceilingService(time: VirtualTime, ceiling: number, latencyInMs: number) {
  const stats = { accepted: 0, throttled: 0, insideWindow: 0, acceptedAfter: [] as number[] };
  let tokens = ceiling;
  let at = 0;
  let windowUntil = 0;
  const call = async () => {
    if (time.now < windowUntil) stats.insideWindow++;
    tokens = Math.min(ceiling, tokens + ((time.now - at) / 1000) * ceiling);
    at = time.now;
    tokens -= 1;
    if (tokens < 0) {
      stats.throttled++;
      const retryAfterInMs = Math.ceil(((1 - tokens) / ceiling) * 1000);
      windowUntil = Math.max(windowUntil, time.now + retryAfterInMs);
      throw new ThrottledError('429', retryAfterInMs, 'app', 'TooManyRequests');
    }
    await time.sleep(latencyInMs);
    stats.accepted++;
    stats.acceptedAfter.push(time.now);
  };
  return { stats, call };
}

describe('adaptive throughput controller', () => {
  it('converges to a low ceiling: uses most of it, never sends inside a window', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: 5 });
    const service = ceilingService(time, 40, 50);
    const durationInMs = 120_000;
    const worker = async (id: number) => {
      while (time.now < durationInMs) await gate.send(`user${id}@x`, service.call).catch(() => time.sleep(0));
    };
    const workers = Array.from({ length: 30 }, (_, i) => worker(i));
    await time.run(durationInMs + 1000);
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 100))]);
    const steady = service.stats.acceptedAfter.filter((t) => t > 20_000 && t <= durationInMs).length / ((durationInMs - 20_000) / 1000);
    assert.ok(steady >= 40 * 0.85, `steady rate ${steady.toFixed(1)} req/s reaches 85 % of the 40 req/s ceiling`);
    assert.ok(steady <= 40 * 1.05, `steady rate ${steady.toFixed(1)} req/s stays under the ceiling`);
    assert.ok(service.stats.throttled < steady * 0.05 * (durationInMs / 1000), `429s are rare (${service.stats.throttled})`);
    assert.equal(service.stats.insideWindow, 0);
    assert.ok(gate.requestsPerSecond > 30 && gate.requestsPerSecond < 60, `pace settles near the ceiling (${gate.requestsPerSecond.toFixed(1)})`);
  });

  it('app-wide throttling pauses every worker; mailbox throttling only that mailbox', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: Infinity });
    const sent: Array<{ who: string; at: number }> = [];
    const record = (who: string) => async () => {
      sent.push({ who, at: time.now });
      await time.sleep(10);
    };
    const first = gate.send('a@x', async () => {
      throw new ThrottledError('429', 5000, 'app', 'TooManyRequests');
    }).catch(() => undefined);
    await time.run(0);
    await first;
    const others = ['b@x', 'c@x', 'd@x'].map((who) => gate.send(who, record(who)));
    await time.run();
    await Promise.all(others);
    assert.equal(sent.length, 3);
    for (const { at } of sent) assert.ok(at >= 5000, `sent at ${at}, after the app window`);

    const mailboxOnly = gate.send('e@x', async () => {
      throw new ThrottledError('429', 3000, 'mailbox', 'ApplicationThrottled');
    }).catch(() => undefined);
    await time.run(time.now);
    await mailboxOnly;
    const start = time.now;
    const more = [gate.send('f@x', record('f@x')), gate.send('e@x', record('e@x'))];
    await time.run();
    await Promise.all(more);
    assert.equal(sent.find((s) => s.who === 'f@x')!.at, start, 'another mailbox goes at once');
    assert.ok(sent.find((s) => s.who === 'e@x')!.at >= start + 3000, 'the throttled mailbox waits');
  });
});
