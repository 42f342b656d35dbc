import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ThrottledError } from '../../src/core/errors.js';
import { ThrottleGate } from '../../src/core/throttle-gate.js';
import { driveGate as drive } from '../helpers/ceiling-service.js';
import { VirtualTime } from '../helpers/virtual-time.js';
import type { LimiterShape } from '../../simulators/limiters.js';

/**
 * Every limiter shape of simulators/limiters.ts on the virtual clock, as the bench runs it: a deploy
 * of 10,000 mailboxes (2 requests each) from a slow start, then a verify (1 each) from the pace the
 * deploy kept; 256 workers, latency 50 ± 25 ms, 0–10 ms network each way, 1 % 503s.
 */
describe('pace controller against every limiter shape (virtual clock)', () => {
  // A 40 s deploy at 500 req/s from a slow start spends about 1.5 s learning (a ramp and a whole
  // Retry-After second) and a second per refused probe: 0.88-0.89 here, the gap issue 19 leaves open.
  const cells: Array<{ shape: LimiterShape; ceiling: number; burstShare?: number; deployAtLeast?: number }> = [
    { shape: 'bucket-debt', ceiling: 500, burstShare: 0.1, deployAtLeast: 0.88 },
    { shape: 'bucket-debt', ceiling: 200, burstShare: 1 },
    { shape: 'bucket', ceiling: 200, burstShare: 0.1 },
    { shape: 'bucket', ceiling: 500, burstShare: 1 },
    { shape: 'fixed-window', ceiling: 200 },
    { shape: 'sliding-window', ceiling: 500 },
  ];
  for (const { shape, ceiling, burstShare, deployAtLeast = 0.9 } of cells) {
    const label = `${shape}${burstShare === undefined ? '' : `, burst ${burstShare * 100} %`} at ${ceiling} req/s`;
    it(`${label}: deploy ≥ ${deployAtLeast}, verify ≥ 0.9, nothing sent inside a window`, async () => {
      const service = {
        shape,
        ceiling,
        burst: burstShare === undefined ? undefined : burstShare * ceiling,
        latencyInMs: 50,
        jitterInMs: 25,
        failureRate: 0.01,
      };
      const deploy = await drive(service, 20_000, 256, { workloadKnown: true });
      const kept = deploy.gate.learnedPace()?.requestsPerSecond;
      const verify = await drive(service, 10_000, 256, {
        workloadKnown: true,
        gate: { rememberedRequestsPerSecond: kept },
        seed: 8,
      });
      for (const [command, run] of [
        ['deploy', deploy],
        ['verify', verify],
      ] as const) {
        assert.equal(run.stats.insideWindow, 0, `${command}: no request sent inside a window it knew of`);
        const atLeast = command === 'deploy' ? deployAtLeast : 0.9;
        assert.ok(run.efficiency >= atLeast, `${command}: efficiency ${run.efficiency.toFixed(3)} ≥ ${atLeast}`);
      }
      // Held under the ceiling: the verify, from the pace the deploy kept, draws hardly a window
      // (a burst of a whole second or a sliding window lets a few probes through at little cost).
      assert.ok(verify.gate.stats.appPauses <= 10, `${verify.gate.stats.appPauses} windows in the verify`);
    });
  }

  it('a ceiling that halves mid-run: under it within 3 s, back near the old one within 5 s of its return', async () => {
    const ceiling = 200;
    const schedule = [
      { atInMs: 30_000, share: 0.5 },
      { atInMs: 60_000, share: 1 },
    ];
    const run = await drive(
      { ceiling, burst: 20, schedule, latencyInMs: 50, jitterInMs: 25, failureRate: 0.01 },
      20_000,
      256,
      { workloadKnown: true },
    );
    assert.equal(run.stats.insideWindow, 0);
    const paceAt = (ms: number) => run.paces.findLast((p) => p.at <= ms)!.rate;
    assert.ok(paceAt(33_000) <= ceiling / 2, `3 s after the drop the pace is ${paceAt(33_000).toFixed(0)} req/s`);
    assert.ok(paceAt(65_000) >= ceiling * 0.9, `5 s after the return the pace is ${paceAt(65_000).toFixed(0)} req/s`);
    // Against the area under the changing ceiling.
    assert.ok(run.efficiency >= 0.9, `efficiency ${run.efficiency.toFixed(3)} of the area under the ceiling`);
    // While the ceiling stays low, probes for its return are refused at most every few seconds.
    assert.ok(run.gate.stats.failedProbes <= 12, `${run.gate.stats.failedProbes} refused probes`);
  });

  it('a large burst: 429s are cheap (the window refills the bucket) and the pace stays near the ceiling', async () => {
    const { stats, gate, efficiency } = await drive(
      { ceiling: 500, burst: 500, latencyInMs: 50, jitterInMs: 25 },
      500 * 100,
    );
    assert.equal(stats.insideWindow, 0);
    assert.ok(efficiency >= 0.95, `efficiency ${efficiency.toFixed(3)}`);
    assert.ok(
      gate.requestsPerSecond > 450 && gate.requestsPerSecond < 600,
      `${gate.requestsPerSecond.toFixed(0)} req/s`,
    );
  });

  it('with a small burst, 429s come only from learning and from probes, which back off', async () => {
    const { stats, gate, efficiency } = await drive(
      { ceiling: 500, burst: 50, latencyInMs: 50, jitterInMs: 25 },
      500 * 200,
    );
    assert.equal(stats.insideWindow, 0);
    assert.ok(efficiency >= 0.95, `efficiency ${efficiency.toFixed(3)} over 200 s of work`);
    // Learning costs a window or two; every later one answers a probe, and each refused probe
    // doubles the wait before the next: a few in 200 s, not one every few seconds (each 429 of a
    // burst that lengthens the window counts).
    assert.ok(gate.stats.appPauses <= 20, `${gate.stats.appPauses} windows in 200 s`);
    assert.ok(gate.stats.failedProbes >= 1, 'the pace probed the ceiling');
  });
});

describe('pace controller: a pace remembered from an earlier run, and work-aware probes', () => {
  const service = { ceiling: 500, burst: 50, latencyInMs: 50, jitterInMs: 25 };

  it('starts holding at a remembered pace under the ceiling: no slow start, no 429', async () => {
    const { stats, gate, efficiency } = await drive(service, 500 * 20, 256, {
      gate: { rememberedRequestsPerSecond: 490 },
      workloadKnown: true,
    });
    assert.equal(stats.throttled, 0, 'no learning 429');
    assert.equal(gate.start.from, 'remembered');
    assert.ok(efficiency >= 0.95, `efficiency ${efficiency.toFixed(3)} over 20 s of work`);
    assert.deepEqual(gate.learnedPace(), { requestsPerSecond: 490, source: 'remembered' }, 'nothing new to keep');
  });

  it('a remembered pace above what the service allows is cut by its 429s; nothing sent inside a window', async () => {
    const { stats, gate, efficiency } = await drive(service, 500 * 100, 256, {
      gate: { rememberedRequestsPerSecond: 750 },
    });
    assert.equal(stats.insideWindow, 0);
    assert.ok(gate.stats.appPauses <= 25, `${gate.stats.appPauses} windows`);
    assert.ok(efficiency >= 0.9, `efficiency ${efficiency.toFixed(3)}`);
    const kept = gate.learnedPace()!;
    assert.equal(kept.source, 'learnt');
    assert.ok(kept.requestsPerSecond >= 450 && kept.requestsPerSecond <= 510, `kept ${kept.requestsPerSecond} req/s`);
  });

  it('probes only while the work left can repay a refused probe (a whole-second window)', async () => {
    // 10,000 requests at 500 req/s: 20 s of work, a probe gains at most 4 % of what is left.
    const short = await drive(service, 500 * 20, 256, {
      gate: { rememberedRequestsPerSecond: 450 },
      workloadKnown: true,
    });
    assert.equal(short.gate.stats.probes, 0, 'no probe when the run is nearly done');
    // 200 s of work: worth probing, and the pace climbs towards the ceiling.
    const long = await drive(service, 500 * 200, 256, {
      gate: { rememberedRequestsPerSecond: 450 },
      workloadKnown: true,
    });
    assert.ok(long.gate.stats.probes >= 2, `${long.gate.stats.probes} probes`);
    assert.ok(long.gate.requestsPerSecond > 470, `climbed to ${long.gate.requestsPerSecond.toFixed(0)} req/s`);
    assert.equal(long.stats.insideWindow, 0);
  });
});

describe('pace controller decisions', () => {
  const throttled = (retryAfterInMs = 1000) => new ThrottledError('429', retryAfterInMs, 'app', 'TooManyRequests');

  it('learns the ceiling from what the service accepted in the second before the first 429', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: 100 });
    // 100 requests, let through at the pace (which slow start raises as they are accepted).
    const sends = Array.from({ length: 100 }, (_, i) => gate.send(`u${i}@x`, async () => undefined));
    await time.run();
    await Promise.all(sends);
    assert.equal(gate.pacingState, 'learning');
    assert.ok(gate.requestsPerSecond > 150, `slow start raised the pace (${gate.requestsPerSecond.toFixed(0)})`);
    const spanInMs = time.now; // the first request left at 0, the 429 comes now: under a second
    assert.ok(spanInMs > 250 && spanInMs < 1000, `span ${spanInMs} ms`);
    const refused = gate.send('v@x', async () => Promise.reject(throttled())).catch(() => undefined);
    await time.run();
    await refused;
    assert.equal(gate.pacingState, 'holding');
    const after = gate.send('w@x', async () => undefined); // the estimate is made when the window ends
    await time.run();
    await after;
    // All of it: slow start ramps up through that second, so the count understates the ceiling
    // (at 500 req/s, burst 50: 468 with 97 %); a pace above it is cut by the 429 it draws.
    const expected = (100 * 1000) / spanInMs;
    assert.ok(
      Math.abs(gate.requestsPerSecond - expected) < expected * 0.02,
      `holds at the accepted rate (${gate.requestsPerSecond.toFixed(1)} req/s, expected ${expected.toFixed(1)})`,
    );
  });

  it('slow start raises the pace only while the client sends what it allows (RFC 7661)', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: 100 });
    // A client that has a request every 20 ms: half the pace, however many are accepted.
    for (let i = 0; i < 50; i++) {
      await gate.send(`u${i}@x`, async () => undefined);
      time.now += 20;
    }
    const held = gate.requestsPerSecond;
    assert.ok(held <= 115, `raised only in the first 250 ms, before a whole span was seen (${held.toFixed(0)})`);
    // Then 300 at once: the pace holds them back, and what is accepted raises it again.
    const sends = Array.from({ length: 300 }, (_, i) => gate.send(`v${i}@x`, async () => undefined));
    await time.run();
    await Promise.all(sends);
    assert.ok(gate.requestsPerSecond > held + 200, `raised to ${gate.requestsPerSecond.toFixed(0)} once paced`);
    assert.equal(gate.pacingState, 'learning');
  });

  it('a 429 for a request its sender made up (PacedSlot.madeUp) keeps the window but not the pace', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: 100 });
    const sends = Array.from({ length: 100 }, (_, i) => gate.send(`u${i}@x`, async () => undefined));
    await time.run();
    await Promise.all(sends);
    const pace = gate.requestsPerSecond;
    const madeUp = gate
      .send('v@x', async (slot) => {
        slot.madeUp = true; // as the wire marks it
        throw throttled();
      })
      .catch(() => undefined);
    await time.run(time.now + 10);
    await madeUp;
    assert.equal(gate.stats.appThrottled, 1);
    assert.ok(gate.pausedUntil >= time.now + 900, 'nothing is sent until its Retry-After ends');
    assert.equal(gate.pacingState, 'learning', 'slow start goes on after the window');
    assert.equal(gate.requestsPerSecond, pace);
    // One for a request sent at its slot ends learning as before.
    const after = Array.from({ length: 50 }, (_, i) => gate.send(`w${i}@x`, async () => undefined));
    await time.run();
    await Promise.all(after);
    const reached = gate.requestsPerSecond;
    const refused = gate.send('x@x', async () => Promise.reject(throttled())).catch(() => undefined);
    await time.run();
    await refused;
    assert.equal(gate.pacingState, 'holding');
    const estimated = gate.send('y@x', async () => undefined); // the estimate, when the window ends
    await time.run();
    await estimated;
    // Counted since the made-up window ended (nothing was sent in it), not over the second before.
    assert.ok(gate.requestsPerSecond > reached * 0.8, `estimate ${gate.requestsPerSecond.toFixed(0)} of ${reached}`);
    assert.equal(gate.smallBurst, false, 'in learning, a made-up 429 says nothing of the burst');
  });

  it('a small burst an earlier run learnt is known from the start, and kept only if learnt again', () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({
      clock: time.clock,
      sleep: time.sleep,
      rememberedRequestsPerSecond: 400,
      rememberedSmallBurst: true,
    });
    assert.equal(gate.smallBurst, true);
    gate.close('a@x', throttled(), time.now); // a 429 at the remembered pace: a pace learnt, the burst not
    assert.deepEqual(gate.learnedPace(), {
      requestsPerSecond: gate.learnedPace()!.requestsPerSecond,
      source: 'learnt',
    });
    assert.equal(new ThrottleGate({ clock: time.clock, sleep: time.sleep }).smallBurst, false);
  });

  it('a made-up 429 without Retry-After, or during a probe, is the pace like any other', async () => {
    const { time, gate, send } = await holdingAfterLearning();
    const held = gate.requestsPerSecond;
    time.now += 10_000;
    await send(); // a probe starts
    assert.ok(gate.requestsPerSecond > held);
    gate.close('a@x', throttled(), time.now, true);
    assert.equal(gate.requestsPerSecond, held, 'the probe is refused: back');
    assert.equal(gate.smallBurst, false);
    time.now = gate.pausedUntil + 3_000;
    // The wire opens no window without Retry-After, so it never learns from one: nor does the gate.
    gate.close('b@x', new ThrottledError('429', undefined, 'app', 'TooManyRequests'), time.now - 2, true);
    assert.equal(gate.smallBurst, false);
    assert.ok(gate.requestsPerSecond < held, 'cut');
  });

  it('a made-up request refused once learning is over shows a small burst, and cuts nothing', async () => {
    const { time, gate } = await holdingAfterLearning();
    const held = gate.requestsPerSecond;
    time.now += 500;
    gate.close('a@x', throttled(), time.now - 2, true);
    assert.equal(gate.smallBurst, true);
    assert.equal(gate.requestsPerSecond, held, 'no cut');
    assert.ok(gate.pausedUntil >= time.now + 900, 'the window is kept');
    assert.equal(gate.learnedPace()?.smallBurst, true, 'kept for the next run');
  });

  it('a refused probe puts the pace back and doubles the wait before the next probe', async () => {
    const { time, gate, send } = await holdingAfterLearning();
    const held = gate.requestsPerSecond;
    time.now += 10_000;
    await send(); // the first probe after learning: +4 % (a slow start's estimate is a few per cent low)
    assert.ok(
      Math.abs(gate.requestsPerSecond - held * 1.04) < 1e-6,
      `probe raised ${held.toFixed(1)} to ${gate.requestsPerSecond.toFixed(1)}`,
    );
    await send(true); // refused
    assert.equal(gate.requestsPerSecond, held, 'back to the pace that held');
    assert.equal(gate.stats.failedProbes, 1);
    time.now += 10_000;
    await send();
    assert.equal(gate.requestsPerSecond, held, 'no probe 10 s later: the wait doubled');
    time.now += 11_000;
    await send();
    assert.ok(gate.requestsPerSecond > held, 'the next probe 20 s after the window');
  });

  it('a 429 long after the pace last changed cuts 2 %; one soon after its window cuts by the overshoot', async () => {
    const { time, gate, send } = await holdingAfterLearning();
    const held = gate.requestsPerSecond;
    time.now += 3_000;
    await send(true); // a bunch the path made, or a pace a little over: no telling, so a small cut
    assert.ok(Math.abs(gate.requestsPerSecond - held * 0.98) < 1e-6, `${gate.requestsPerSecond} after ${held}`);
    time.now += 1_000;
    await send(true); // at the end of its window: a pace well over the ceiling (a drop)
    assert.ok(gate.requestsPerSecond <= held * 0.98 * 0.5 + 1e-6, `cut to ${gate.requestsPerSecond.toFixed(1)}`);
  });

  it('a second late 429 within 30 s, with no probe held between, cuts by the overshoot it implies', async () => {
    const { time, gate, send } = await holdingAfterLearning();
    time.now += 3_000;
    await send(true); // let off: 2 %
    const held = gate.requestsPerSecond;
    time.now += 4_000; // 3 s after its window
    await send(true); // a pace over a large burst draws its 429s seconds apart: cut 0.2 s ÷ 3 s
    const overshoot = 0.2 / 3;
    const expected = held * (1 - overshoot / (1 + overshoot));
    assert.ok(Math.abs(gate.requestsPerSecond - expected) < 1e-6, `${gate.requestsPerSecond} after ${held}`);
  });

  it('a probe refused late while the held pace draws late 429s: back, no longer wait; again: it counts', async () => {
    const { time, gate, send } = await holdingAfterLearning();
    time.now += 3_000;
    await send(true); // a weak 429 at the held pace
    const held = gate.requestsPerSecond;
    const probeThenRefusal = async () => {
      time.now += 11_000; // 10 s after the window
      await send();
      const probed = gate.requestsPerSecond;
      time.now += 2_500; // refused 2.5 s into the probe
      await send(true);
      return probed;
    };
    assert.ok((await probeThenRefusal()) > held, 'the first probe');
    assert.equal(gate.requestsPerSecond, held, 'back to the pace that held');
    assert.equal(gate.stats.failedProbes, 1);
    assert.ok((await probeThenRefusal()) > held, 'the next probe 10 s after the window: the wait did not double');
    assert.equal(gate.requestsPerSecond, held);
    assert.equal(gate.stats.failedProbes, 2);
    time.now += 11_000;
    await send();
    assert.equal(gate.requestsPerSecond, held, 'the same pace refused again: now the wait doubled');
  });

  it('a pace the client does not reach is not probed upward (it would only store up a burst)', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: 100 });
    const refused = gate.send('a@x', async () => Promise.reject(throttled())).catch(() => undefined);
    await time.run();
    await refused;
    // One worker with 50 ms per request: 20 requests/s at most, far under any pace it holds.
    const until = time.now + 120_000;
    const worker = (async () => {
      while (time.now < until) await gate.send('b@x', () => time.sleep(50));
    })();
    await time.run();
    await worker;
    const held = gate.requestsPerSecond;
    assert.equal(gate.stats.probes, 0, 'no probe in two minutes');
    assert.ok(held <= 100, `the pace stayed where it was held (${held.toFixed(1)} req/s)`);
  });

  it('429s answering requests sent before the cut are the same burst: one cut', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: Infinity });
    // Ten requests on their way together, all refused.
    const burst = Array.from({ length: 10 }, (_, i) =>
      gate
        .send(`u${i}@x`, async () => {
          await time.sleep(50 + i);
          throw throttled();
        })
        .catch(() => undefined),
    );
    await time.run();
    await Promise.all(burst);
    assert.equal(gate.stats.appThrottled, 10);
    assert.equal(gate.pacingState, 'holding');
    assert.ok(gate.pausedUntil >= 50 + 9 + 1000, 'the window lasts from the last 429');
  });

  it('a 429 for a request sent inside the window another opened (its sender had not heard): no new cut', async () => {
    const { time, gate } = await holdingAfterLearning();
    time.now += 3_000;
    gate.close('a@x', throttled(), time.now - 2); // its 429 came back 2 ms after it left
    const afterFirst = gate.requestsPerSecond;
    time.now += 1;
    gate.close('b@x', throttled(), time.now); // left at its slot, 1 ms after that 429 came back
    assert.equal(gate.requestsPerSecond, afterFirst);
  });

  it('a late timer: the slots it missed are made up at twice the pace at most, never in a burst', async () => {
    const time = new VirtualTime();
    // Timers 30 ms late at about 100 ms (the first second: 5 ms of catch-up), at 1,100 ms and at
    // about 2,300 ms (a garbage collection).
    const stallsAt = [100, 1100, 2300];
    const sleep: typeof time.sleep = (ms, signal) =>
      time.sleep(ms + (stallsAt.length > 0 && time.now + ms >= stallsAt[0]! ? (stallsAt.shift(), 30) : 0), signal);
    const gate = new ThrottleGate({ clock: time.clock, sleep, rememberedRequestsPerSecond: 500 });
    const sentAt: number[] = [];
    const request = async () => {
      sentAt.push(time.now);
      await time.sleep(20);
    };
    const work = Array.from({ length: 1700 }, (_, i) => gate.send(`u${i}@x`, request));
    await time.run();
    await Promise.all(work);
    const counts = new Map<number, number>();
    for (const t of sentAt) counts.set(t, (counts.get(t) ?? 0) + 1);
    assert.ok(Math.max(...counts.values()) <= 2, `at most two at once (${Math.max(...counts.values())})`);
    // The stall at 100 ms comes in the first second (5 ms of catch-up): about 12 slots lost. The one
    // at 1,100 ms missed 15, made up by the catch-up and the debt: 200 ms later the count is what
    // the pace allows for those 200 ms.
    const before = (at: number) => sentAt.filter((t) => t < at).length;
    assert.ok(before(1100) >= 530, `${before(1100)} sent in the first 1.1 s`);
    assert.ok(before(1300) - before(1100) >= 100, `${before(1300) - before(1100)} sent from 1.1 to 1.3 s`);
    // Never faster than twice the pace: at most 3 in any 2 ms.
    const sorted = [...sentAt].sort((a, b) => a - b);
    for (let i = 3; i < sorted.length; i++)
      assert.ok(sorted[i]! - sorted[i - 3]! >= 2 - 1e-9, `4 within 2 ms at ${sorted[i - 3]}`);
  });

  it('app-wide throttling pauses every worker; mailbox throttling only that mailbox', async () => {
    const time = new VirtualTime();
    const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: Infinity });
    const sent: Array<{ who: string; at: number }> = [];
    const record = (who: string) => async () => {
      sent.push({ who, at: time.now });
      await time.sleep(10);
    };
    const first = gate
      .send('a@x', async () => {
        throw new ThrottledError('429', 5000, 'app', 'TooManyRequests');
      })
      .catch(() => undefined);
    await time.run(0);
    await first;
    const others = ['b@x', 'c@x', 'd@x'].map((who) => gate.send(who, record(who)));
    await time.run();
    await Promise.all(others);
    assert.equal(sent.length, 3);
    for (const { at } of sent) assert.ok(at >= 5000, `sent at ${at}, after the app window`);

    const mailboxOnly = gate
      .send('e@x', async () => {
        throw new ThrottledError('429', 3000, 'mailbox', 'ApplicationThrottled');
      })
      .catch(() => undefined);
    await time.run(time.now);
    await mailboxOnly;
    const start = time.now;
    const more = [gate.send('f@x', record('f@x')), gate.send('e@x', record('e@x'))];
    await time.run();
    await Promise.all(more);
    assert.ok(sent.find((s) => s.who === 'f@x')!.at - start < 50, 'another mailbox goes at once (at the pace)');
    assert.ok(sent.find((s) => s.who === 'e@x')!.at >= start + 3000, 'the throttled mailbox waits');
  });
});

/** Five requests at once (all but the first wait for the pace, so probes see a pace that binds), or one refused. */
function fiveAtOnce(time: VirtualTime, gate: ThrottleGate) {
  const throttled = () => new ThrottledError('429', 1000, 'app', 'TooManyRequests');
  return async (fail = false) => {
    const sends = Array.from({ length: fail ? 1 : 5 }, (_, i) =>
      gate
        .send(`u${time.now}-${i}@x`, async () => (fail ? Promise.reject(throttled()) : undefined))
        .catch(() => undefined),
    );
    await time.run();
    await Promise.all(sends);
  };
}

/** A gate that has learnt its pace (a 429 ended slow start, and its window is over), with fiveAtOnce. */
async function holdingAfterLearning() {
  const time = new VirtualTime();
  const gate = new ThrottleGate({ clock: time.clock, sleep: time.sleep, initialRequestsPerSecond: 100 });
  const send = fiveAtOnce(time, gate);
  await send();
  await send(true); // learning ends
  await send(); // the estimate, when the window is over
  return { time, gate, send };
}
