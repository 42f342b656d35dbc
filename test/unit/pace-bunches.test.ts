import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PaceController } from '../../src/core/pace-controller.js';

/**
 * The controller alone, on a hand-moved clock: the service accepts everything at the pace except
 * where a test refuses one request, and each 429 opens a one-second window.
 */
function service(rememberedRequestsPerSecond: number) {
  let now = 0;
  let windowEndedAt = 0;
  const pace = new PaceController({ clock: () => now, rememberedRequestsPerSecond });
  return {
    pace,
    /** Requests at the pace, all accepted, until `untilInMs`. Not pace-bound: no probe starts. */
    acceptUntil(untilInMs: number) {
      for (; now < untilInMs; now += 1000 / pace.rate) {
        pace.released(false);
        pace.accepted(now, now, false);
      }
    },
    /** A 429 for the request sent now; the window it opens ends a second later. */
    refuse() {
      const closedUntil = now + 1000;
      pace.refused(now, now, windowEndedAt, closedUntil);
      windowEndedAt = closedUntil;
      now = closedUntil;
      pace.windowEnded(now, closedUntil);
    },
    get now() {
      return now;
    },
  };
}

describe('pace controller: refusals a cut does not make rarer (a small burst, bunched arrivals)', () => {
  it('puts the pace back where the late 429s began, and then waits them out without a cut', () => {
    const s = service(400);
    s.acceptUntil(12_000);
    s.refuse(); // after 12 s at 400: cut 2 %
    assert.equal(Math.round(s.pace.rate), 392);
    s.acceptUntil(s.now + 3_000);
    s.refuse(); // after 3 s: cut 6 %, and 4 % under where the series began
    assert.ok(s.pace.rate < 400 * 0.96, `cut to ${s.pace.rate.toFixed(1)}`);
    s.acceptUntil(s.now + 2_500);
    s.refuse(); // after 2.5 s, no longer than before: the cuts did not help
    assert.equal(Math.round(s.pace.rate), 400, 'back at the pace the series began at');
    for (const heldForInMs of [3_000, 2_200, 6_000]) {
      s.acceptUntil(s.now + heldForInMs);
      s.refuse();
      assert.equal(Math.round(s.pace.rate), 400, `no cut after ${heldForInMs} ms at it`);
    }
    assert.equal(s.pace.learnedPace()?.requestsPerSecond, 400, 'a later run starts there');
  });

  it('two quick 429s in a row are a rate again (a drop): the pace is cut', () => {
    const s = service(400);
    s.acceptUntil(12_000);
    s.refuse();
    s.acceptUntil(s.now + 3_000);
    s.refuse();
    s.acceptUntil(s.now + 2_500);
    s.refuse();
    assert.equal(Math.round(s.pace.rate), 400);
    s.acceptUntil(s.now + 500);
    s.refuse(); // quick, but one alone may be a bunch
    assert.equal(Math.round(s.pace.rate), 400);
    s.acceptUntil(s.now + 300);
    s.refuse(); // quick again, right after the window: the service's ceiling moved
    assert.ok(s.pace.rate < 400 * 0.65, `cut deep (${s.pace.rate.toFixed(1)})`);
  });

  it('against a rate, each cut makes the next 429 later: cuts go on, the pace is never put back', () => {
    const s = service(400);
    s.acceptUntil(12_000);
    s.refuse();
    let previous = s.pace.rate;
    for (const heldForInMs of [14_000, 17_000, 25_000]) {
      s.acceptUntil(s.now + heldForInMs);
      s.refuse();
      assert.ok(s.pace.rate < previous, `cut after ${heldForInMs} ms (${s.pace.rate.toFixed(1)})`);
      previous = s.pace.rate;
    }
    assert.ok(s.pace.rate < 400 * 0.95);
  });

  it('before ten seconds of sending nothing is proven: 429s are cut as a rate, however they come', () => {
    // A sliding 10-second window lets a pace above its ceiling through for seconds: only what the
    // service took over ten seconds shows a pace it accepts.
    const s = service(400);
    s.acceptUntil(5_000);
    s.refuse(); // 5 s in: nothing yet taken for ten seconds
    s.acceptUntil(s.now + 3_000);
    s.refuse();
    s.acceptUntil(s.now + 2_500);
    s.refuse();
    assert.ok(s.pace.rate < 400 * 0.9, `cut each time (${s.pace.rate.toFixed(1)})`);
  });
});
