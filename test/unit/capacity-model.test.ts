import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  calendarDaysFor,
  defaultModelOptions,
  median,
  storageOutlook,
  tooBusyReason,
  userLoad,
  workingDaysIn,
} from '../../src/core/capacity-model.js';
import { concealmentProblem, planCapacity, type CapacityPlanOptions } from '../../src/core/capacity-plan.js';

const gb = 1024 ** 3;

describe('capacity model', () => {
  it('counts Monday-Friday days back from and including the refresh date', () => {
    // 2026-11-30 is a Monday: D7 covers Tue 24 … Mon 30 = 5 working days.
    assert.equal(workingDaysIn('2026-11-30', 7), 5);
    assert.equal(workingDaysIn('2026-11-29', 1), 0); // a Sunday alone
    assert.equal(workingDaysIn('2026-11-27', 1), 1); // a Friday alone
    assert.equal(workingDaysIn('2026-11-30', 30), 21); // Sun 1 Nov … Mon 30 Nov
    assert.equal(workingDaysIn('2026-11-30', 180), 128);
  });

  it('plans the busiest hour as a share of the working-day volume', () => {
    const load = userLoad({ email: 'a@contoso.com', target: 'graph' }, 2200, 22, defaultModelOptions);
    assert.equal(load.perWorkingDay, 100);
    assert.equal(load.busiestHour, 20);
    assert.equal(load.outside, false);
    assert.equal(userLoad({ email: 'b@contoso.com', target: 'ews' }, 0, 22, defaultModelOptions).outside, true);
  });

  it('holds outside users to the pair limit and everyone to the sink cap, unless hot sinks are allowed', () => {
    const options = defaultModelOptions;
    const at = (perDay: number, target: 'graph' | 'ews' | 'pop3') =>
      userLoad({ email: 'x@c.com', target }, perDay, 1, options);
    assert.equal(tooBusyReason(at(4000, 'ews'), options), undefined); // 800/h ≤ 0.8 × 1,188 = 950.4
    assert.match(tooBusyReason(at(5000, 'ews'), options)!, /pair limit.*5\.2\.121/); // 1,000/h
    assert.equal(tooBusyReason(at(14000, 'graph'), options), undefined); // 2,800/h ≤ 2,880
    assert.match(tooBusyReason(at(15000, 'graph'), options)!, /hourly receiving limit/);
    assert.equal(tooBusyReason(at(15000, 'graph'), { ...options, allowHotSinks: true }), undefined);
    assert.match(tooBusyReason(at(5000, 'pop3'), { ...options, allowHotSinks: true })!, /pair limit/);
  });

  it('finds the median of the others', () => {
    assert.equal(median([]), 0);
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('counts calendar days until full, with mail only on working days', () => {
    // From Friday 2026-11-27: the 1st working day after is Monday 30 (day 3), the 5th is Friday 4 Dec (day 7).
    assert.equal(calendarDaysFor(1, '2026-11-27'), 3);
    assert.equal(calendarDaysFor(0.2, '2026-11-27'), 3);
    assert.equal(calendarDaysFor(5, '2026-11-27'), 7);
    assert.equal(calendarDaysFor(6, '2026-11-27'), 10);
    assert.equal(calendarDaysFor(0, '2026-11-27'), 0);
    // A 45 GB of 50 GB sink at 100 KB a message and 10,000 messages a working day: 5 GB / ~0.95 GB a day.
    const outlook = storageOutlook(
      { storageUsedBytes: 45 * gb, itemCount: (45 * gb) / 102_400, quotaBytes: 50 * gb },
      10_000,
      '2026-11-27',
      75,
    );
    assert.equal(outlook.fullBy, 'quota');
    assert.equal(outlook.averageMessageBytes, 102_400);
    assert.equal(outlook.daysUntilFull, calendarDaysFor((5 * gb) / (10_000 * 102_400), '2026-11-27'));
    assert.equal(storageOutlook({ quotaBytes: 50 * gb }, 0, '2026-11-27', 75).daysUntilFull, null);
    // The folder's item limit can come first.
    assert.equal(storageOutlook({ inboxItems: 990_000, quotaBytes: 100 * gb }, 5000, '2026-11-27', 1).fullBy, 'items');
  });

  it('stops on concealed names instead of planning on zeros', () => {
    const listed = ['a@contoso.com', 'b@contoso.com'];
    assert.match(concealmentProblem(listed, ['a@contoso.com'], true)!, /displayConcealedNames is true/);
    assert.equal(concealmentProblem(listed, ['A@contoso.com'], false), undefined);
    assert.match(
      concealmentProblem(listed, ['0123456789ABCDEF0123456789ABCDEF', 'FEDCBA9876543210FEDCBA9876543210'], undefined)!,
      /32-hex-digit hashes/,
    );
    assert.match(concealmentProblem(listed, ['c@contoso.com'], false)!, /names none of the 2/);
    assert.equal(concealmentProblem([], ['c@contoso.com'], false), undefined);
  });

  it('plans unknown users at the median of the others and lists them as estimated', () => {
    const options: CapacityPlanOptions = {
      ...defaultModelOptions,
      averageMessageKb: 75,
      maxBacklogHours: 4,
      sinkDeletes: () => true,
      now: Date.parse('2026-12-01T12:00:00Z'),
    };
    const users = ['a', 'b', 'c', 'd'].map((n) => ({
      email: `${n}@contoso.com`,
      target: 'graph' as const,
      sink: 's@contoso.com',
    }));
    // 7 days: 5 working days.
    const volume = (count: number) => ({ receiveCount: count, refreshDate: '2026-11-30', periodDays: 7 });
    const plan = planCapacity(
      {
        users,
        volumes: new Map([
          ['a@contoso.com', volume(50)],
          ['b@contoso.com', volume(100)],
          ['c@contoso.com', volume(500)],
        ]),
        sinks: ['s@contoso.com'],
        assign: false,
        storage: new Map(),
        health: new Map(),
      },
      options,
    );
    assert.deepEqual(plan.estimated, [{ email: 'd@contoso.com', perWorkingDay: 20 }]);
    assert.equal(plan.sinks[0]!.perWorkingDay, 10 + 20 + 100 + 20);
    assert.equal(plan.reportRefreshDate, '2026-11-30');
    assert.equal(plan.ok, true);
  });
});
