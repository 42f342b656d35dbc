import { sinkCap, type CapacityModelOptions, type UserLoad } from './capacity-model.js';

/** A user to place, with the sink their row names today (if any). */
export interface PlacedUser extends UserLoad {
  currentSink?: string;
}

/** What one sink carries under a plan. */
export interface SinkLoad {
  sink: string;
  users: number;
  outsideUsers: number;
  busiestHour: number;
  perWorkingDay: number;
  /** Past the cap with users outside Exchange Online (or hot sinks not allowed). */
  overLimit: boolean;
}

export interface Assignment {
  /** The sink of each user, in the order given (undefined: no sink could take the user). */
  sinkOf: Array<string | undefined>;
  sinks: SinkLoad[];
  /** Users no sink could take within its limits (more sinks are needed). */
  unplaced: number;
  /** Users taken from one named sink to another. */
  moved: number;
  /** Users whose row named no sink, or one that is no longer named. */
  reassigned: number;
}

interface SinkState {
  sink: string;
  load: number;
  perWorkingDay: number;
  outside: number;
  members: Set<number>;
}

/** Share of the average a sink may fall short of before users are moved to it. */
const balanceTolerance = 0.05;

/**
 * Spreads users over the named sinks so that no sink is over its limits and the busiest carries
 * at most the average load plus the largest single user's, changing as few rows as it can:
 * 1. a user keeps the sink their row names while it is named and within its limits;
 * 2. a sink over its limits gives up its largest users (fewest moves) until it is within them;
 * 3. users without a named sink go, busiest first and outside-Exchange-Online users before the
 *    rest, to the least-loaded sink that can take them (list scheduling: busiest ≤ average + largest);
 * 4. a sink below its fair share (a new one) takes users from the busiest sinks, the largest that
 *    fit its gap first, until it is within 5 % of the average: never a reshuffle.
 * Users too busy for any sink on their own must be left out before (tooBusyReason).
 */
export function assignSinks(
  users: readonly PlacedUser[],
  sinks: readonly string[],
  options: CapacityModelOptions,
): Assignment {
  const cap = sinkCap(options);
  const state: SinkState[] = sinks.map((sink) => ({ sink, load: 0, perWorkingDay: 0, outside: 0, members: new Set() }));
  const byName = new Map(state.map((s) => [s.sink.toLowerCase(), s]));
  const sinkOf: Array<SinkState | undefined> = new Array<SinkState | undefined>(users.length).fill(undefined);
  const add = (i: number, s: SinkState) => {
    const user = users[i]!;
    s.load += user.busiestHour;
    s.perWorkingDay += user.perWorkingDay;
    if (user.outside) s.outside++;
    s.members.add(i);
    sinkOf[i] = s;
  };
  const remove = (i: number) => {
    const s = sinkOf[i]!;
    const user = users[i]!;
    s.load -= user.busiestHour;
    s.perWorkingDay -= user.perWorkingDay;
    if (user.outside) s.outside--;
    s.members.delete(i);
    sinkOf[i] = undefined;
  };
  // A sink whose users are all on Exchange Online may run hot when allowed: their copies still arrive.
  const capped = (s: SinkState) => !options.allowHotSinks || s.outside > 0;
  const fits = (i: number, s: SinkState) => {
    const user = users[i]!;
    if (options.allowHotSinks && !user.outside && s.outside === 0) return true;
    return s.load + user.busiestHour <= cap + 1e-9;
  };
  const over = (s: SinkState) => capped(s) && s.load > cap + 1e-9;

  users.forEach((user, i) => {
    const current = user.currentSink && byName.get(user.currentSink.toLowerCase());
    if (current) add(i, current);
  });
  for (const s of state) {
    if (!over(s)) continue;
    const largestFirst = [...s.members].sort((a, b) => users[b]!.busiestHour - users[a]!.busiestHour);
    for (const i of largestFirst) {
      if (!over(s)) break;
      remove(i);
    }
  }
  const waiting = users
    .map((_, i) => i)
    .filter((i) => !sinkOf[i])
    .sort(
      (a, b) => Number(users[b]!.outside) - Number(users[a]!.outside) || users[b]!.busiestHour - users[a]!.busiestHour,
    );
  if (!options.allowHotSinks) placeLeastLoaded(waiting, state, add, fits);
  else
    for (const i of waiting) {
      let best: SinkState | undefined;
      // With hot sinks allowed, outside users gather on the sinks that already hold some, so the
      // others stay free of them (and uncapped) for the Exchange Online users.
      const gather = options.allowHotSinks && users[i]!.outside;
      const rank = (s: SinkState) => (gather && s.outside === 0 ? 1 : 0);
      for (const s of state)
        if (fits(i, s) && (!best || rank(s) < rank(best) || (rank(s) === rank(best) && s.load < best.load))) best = s;
      if (best) add(i, best);
    }
  if (state.length > 1) balance(users, state, sinkOf, add, remove, fits);
  let moved = 0;
  let reassigned = 0;
  users.forEach((user, i) => {
    const before = user.currentSink ? byName.get(user.currentSink.toLowerCase()) : undefined;
    if (!before) reassigned += sinkOf[i] ? 1 : 0;
    else if (sinkOf[i] && sinkOf[i] !== before) moved++;
  });
  return {
    sinkOf: sinkOf.map((s) => s?.sink),
    sinks: state.map((s) => ({
      sink: s.sink,
      users: s.members.size,
      outsideUsers: s.outside,
      busiestHour: s.load,
      perWorkingDay: s.perWorkingDay,
      overLimit: over(s),
    })),
    unplaced: sinkOf.filter((s) => !s).length,
    moved,
    reassigned,
  };
}

/**
 * Step 3 with one cap for every sink: the least-loaded sink is the only candidate (if it cannot take
 * the user, none can), so a heap finds it in log(sinks) instead of a scan.
 */
function placeLeastLoaded(
  waiting: readonly number[],
  state: SinkState[],
  add: (i: number, s: SinkState) => void,
  fits: (i: number, s: SinkState) => boolean,
): void {
  const heap = [...state];
  const less = (a: number, b: number) => heap[a]!.load < heap[b]!.load;
  const swap = (a: number, b: number) => ([heap[a], heap[b]] = [heap[b]!, heap[a]!]);
  const down = (from: number) => {
    for (let i = from; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < heap.length && less(left, least)) least = left;
      if (right < heap.length && less(right, least)) least = right;
      if (least === i) return;
      swap(i, least);
      i = least;
    }
  };
  for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) down(i);
  for (const i of waiting) {
    if (heap.length === 0 || !fits(i, heap[0]!)) continue;
    add(i, heap[0]!);
    down(0);
  }
}

/** Step 4: fill the sinks below their share from the busiest, largest fitting user first. */
function balance(
  users: readonly PlacedUser[],
  state: SinkState[],
  sinkOf: Array<SinkState | undefined>,
  add: (i: number, s: SinkState) => void,
  remove: (i: number) => void,
  fits: (i: number, s: SinkState) => boolean,
): void {
  const placed = sinkOf.filter(Boolean).length;
  const total = state.reduce((sum, s) => sum + s.load, 0);
  const average = total / state.length;
  let largest = 0;
  sinkOf.forEach((s, i) => {
    if (s) largest = Math.max(largest, users[i]!.busiestHour);
  });
  for (let step = 0; step < placed; step++) {
    const low = state.reduce((a, b) => (b.load < a.load ? b : a));
    const gap = average - low.load;
    const donors = state.filter((s) => s !== low).sort((a, b) => b.load - a.load);
    const mustFix = donors[0]!.load > average + largest + 1e-9;
    if (gap <= balanceTolerance * average && !mustFix) return;
    let choice: { i: number; from: SinkState } | undefined;
    for (const from of donors) {
      const excess = from.load - average;
      const spread = from.load - low.load;
      if (spread <= 0) break;
      let fill: number | undefined; // the largest user that fits the gap without overshooting
      let smallest: number | undefined; // else the smallest that still narrows the spread
      for (const i of from.members) {
        const hour = users[i]!.busiestHour;
        if (hour <= 0 || !fits(i, low)) continue;
        if (hour <= Math.min(gap, excess) + 1e-9 && (fill === undefined || hour > users[fill]!.busiestHour)) fill = i;
        if (hour < spread && (smallest === undefined || hour < users[smallest]!.busiestHour)) smallest = i;
      }
      const pick = fill ?? (mustFix && from === donors[0] ? smallest : undefined);
      if (pick !== undefined) {
        choice = { i: pick, from };
        break;
      }
    }
    if (!choice) return;
    remove(choice.i);
    add(choice.i, low);
  }
}

/** What the rows' own sinks carry, without moving anyone. */
export function currentLoads(users: readonly PlacedUser[], options: CapacityModelOptions): SinkLoad[] {
  const cap = sinkCap(options);
  const loads = new Map<string, SinkLoad>();
  for (const user of users) {
    if (!user.currentSink) continue;
    const key = user.currentSink.toLowerCase();
    let load = loads.get(key);
    if (!load) {
      load = { sink: user.currentSink, users: 0, outsideUsers: 0, busiestHour: 0, perWorkingDay: 0, overLimit: false };
      loads.set(key, load);
    }
    load.users++;
    if (user.outside) load.outsideUsers++;
    load.busiestHour += user.busiestHour;
    load.perWorkingDay += user.perWorkingDay;
  }
  for (const load of loads.values())
    load.overLimit = (!options.allowHotSinks || load.outsideUsers > 0) && load.busiestHour > cap + 1e-9;
  return [...loads.values()];
}

/**
 * How many sinks the users need: the fewest for which the assignment (from scratch) places everyone
 * within the limits. Starts at the lower bound the cap gives.
 */
export function sinksNeeded(users: readonly PlacedUser[], options: CapacityModelOptions): number {
  if (users.length === 0) return 0;
  const cap = sinkCap(options);
  const counted = options.allowHotSinks ? users.filter((u) => u.outside) : users;
  const total = counted.reduce((sum, u) => sum + u.busiestHour, 0);
  const fresh = users.map(({ currentSink: _, ...user }) => user);
  for (let k = Math.max(1, Math.ceil(total / cap)); k < users.length; k++) {
    const names = Array.from({ length: k }, (_, i) => `sink-${i + 1}`);
    const plan = assignSinks(fresh, names, options);
    if (plan.unplaced === 0 && plan.sinks.every((s) => !s.overLimit)) return k;
  }
  return users.length; // one sink per user: only when a user is too busy on their own (left out before)
}
