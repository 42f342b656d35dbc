import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '../../simulators/http.js';
import {
  defaultModelOptions,
  loadOf,
  sinkCap,
  tooBusyReason,
  type CapacityModelOptions,
} from '../../src/core/capacity-model.js';
import { assignSinks, sinksNeeded, type PlacedUser } from '../../src/core/sink-assignment.js';

/** A random estate: mostly 20-150 a working day, some heavy, a share outside Exchange Online. */
function estate(seed: number, count: number, options: CapacityModelOptions): PlacedUser[] {
  const random = seededRandom(seed);
  const users: PlacedUser[] = [];
  for (let i = 0; i < count; i++) {
    const heavy = random() < 0.03;
    const perDay = heavy ? 300 + random() * 3000 : 20 + random() * 130;
    const target = random() < 0.15 ? (random() < 0.8 ? 'ews' : 'pop3') : 'graph';
    const user = loadOf({ email: `u${i}@contoso.com`, target }, perDay, options);
    if (!tooBusyReason(user, options)) users.push(user);
  }
  return users;
}

/** The invariants every plan keeps, whatever the volumes. */
function checkInvariants(users: PlacedUser[], sinks: string[], options: CapacityModelOptions) {
  const plan = assignSinks(users, sinks, options);
  assert.equal(plan.unplaced, 0, 'everyone placed');
  const loads = new Map(sinks.map((s) => [s, 0]));
  users.forEach((user, i) => loads.set(plan.sinkOf[i]!, loads.get(plan.sinkOf[i]!)! + user.busiestHour));
  const total = users.reduce((sum, u) => sum + u.busiestHour, 0);
  const largest = Math.max(...users.map((u) => u.busiestHour));
  for (const sink of plan.sinks) {
    assert.ok(Math.abs(sink.busiestHour - loads.get(sink.sink)!) < 1e-6, 'reported load is the users’ sum');
    assert.equal(sink.overLimit, false, `${sink.sink} within its limits`);
    assert.ok(sink.busiestHour <= sinkCap(options) + 1e-6, `${sink.sink} under the cap`);
    assert.ok(sink.busiestHour <= total / sinks.length + largest + 1e-6, 'busiest ≤ average + largest');
  }
  return plan;
}

describe('sink assignment', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`keeps every sink within its limits and the busiest under average + largest (seed ${seed})`, () => {
      const options = defaultModelOptions;
      const users = estate(seed, 500 + seed * 250, options);
      const needed = sinksNeeded(users, options);
      const sinks = Array.from({ length: needed }, (_, i) => `sink${i}@contoso.com`);
      checkInvariants(users, sinks, options);
      // One fewer is not enough (the count is the least that works).
      if (needed > 1) {
        const fewer = assignSinks(users, sinks.slice(1), options);
        assert.ok(fewer.unplaced > 0 || fewer.sinks.some((s) => s.overLimit));
      }
    });
  }

  it('is stable: a second run on its own output moves nobody', () => {
    const options = defaultModelOptions;
    const users = estate(11, 2000, options);
    const sinks = Array.from({ length: sinksNeeded(users, options) }, (_, i) => `sink${i}@contoso.com`);
    const first = assignSinks(users, sinks, options);
    const again = assignSinks(
      users.map((u, i) => ({ ...u, currentSink: first.sinkOf[i] })),
      sinks,
      options,
    );
    assert.equal(again.moved, 0);
    assert.deepEqual(again.sinkOf, first.sinkOf);
  });

  for (const seed of [21, 22, 23, 24]) {
    it(`fills an added sink to about its share by moving few users, none between old sinks (seed ${seed})`, () => {
      const options = defaultModelOptions;
      const users = estate(seed, 3000, options);
      const sinks = Array.from({ length: sinksNeeded(users, options) }, (_, i) => `sink${i}@contoso.com`);
      const first = assignSinks(users, sinks, options);
      const withNew = [...sinks, 'new@contoso.com'];
      const placed = users.map((u, i) => ({ ...u, currentSink: first.sinkOf[i] }));
      const second = checkInvariants(placed, withNew, options);
      const total = users.reduce((sum, u) => sum + u.busiestHour, 0);
      const share = total / withNew.length;
      const added = second.sinks.find((s) => s.sink === 'new@contoso.com')!;
      assert.ok(added.busiestHour >= 0.9 * share, `new sink ${added.busiestHour} of its share ${share}`);
      let oldToOld = 0;
      users.forEach((_, i) => {
        if (second.sinkOf[i] !== first.sinkOf[i] && second.sinkOf[i] !== 'new@contoso.com') oldToOld++;
      });
      assert.equal(oldToOld, 0, 'no user moves between the old sinks');
      assert.equal(second.moved, added.users, 'the only moves are into the new sink');
      assert.ok(second.moved < users.length / withNew.length + 1, 'never a reshuffle');
    });
  }

  it('takes the largest users off a sink over its limit and leaves the rest where they are', () => {
    const options = defaultModelOptions;
    const users = estate(31, 1500, options).map((u) => ({ ...u, currentSink: 'old@contoso.com' }));
    const sinks = [
      'old@contoso.com',
      ...Array.from({ length: sinksNeeded(users, options) }, (_, i) => `s${i}@contoso.com`),
    ];
    const plan = checkInvariants(users, sinks, options);
    const stayed = plan.sinkOf.filter((s) => s === 'old@contoso.com').length;
    assert.ok(stayed > 0);
    assert.equal(plan.moved, users.length - stayed);
  });

  it('places outside users only on sinks within the cap when hot sinks are allowed', () => {
    const options = { ...defaultModelOptions, allowHotSinks: true };
    const random = seededRandom(41);
    const users: PlacedUser[] = Array.from({ length: 400 }, (_, i) =>
      loadOf({ email: `u${i}@contoso.com`, target: i < 40 ? 'ews' : 'graph' }, 100 + random() * 400, options),
    );
    const needed = sinksNeeded(users, options);
    const sinks = Array.from({ length: needed }, (_, i) => `sink${i}@contoso.com`);
    const plan = assignSinks(users, sinks, options);
    assert.equal(plan.unplaced, 0);
    for (const sink of plan.sinks) {
      if (sink.outsideUsers > 0)
        assert.ok(sink.busiestHour <= sinkCap(options) + 1e-6, `${sink.sink} carries ews users`);
      assert.equal(sink.overLimit, false);
    }
    assert.ok(needed < sinksNeeded(users, defaultModelOptions), 'hot sinks need fewer sinks');
  });
});
