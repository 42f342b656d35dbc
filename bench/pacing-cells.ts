/**
 * The limiter matrix of `npm run bench`: which limiter each cell runs against, the ceiling over time
 * of the drop cell, the area under it (what efficiency is measured against), a CPU-bound neighbour
 * for `--busy`, and min / median / max over runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { getPriority, setPriority } from 'node:os';
import { limiterShapes, type LimiterOptions, type LimiterShape } from '../simulators/limiters.js';

/**
 * A cell's limiter: a shape of simulators/limiters.ts, or the drop cell (a debt bucket whose ceiling
 * halves, then recovers).
 */
export interface LimiterCell {
  label: string;
  shape: LimiterShape;
  /** Token buckets: the burst as a share of a second's rate. */
  burstShare?: number;
  drop: boolean;
}

/** The drop cell: the ceiling halves at 30 % of the command's ideal time and comes back at 60 %. */
const dropAt = 0.3;
const recoverAt = 0.6;

/** `--shapes` × `--bursts` (token buckets only) as cells; `drop` is the ceiling-drop cell. */
export function limiterCells(shapes: string[], bursts: number[]): LimiterCell[] {
  const cells: LimiterCell[] = [];
  for (const name of shapes) {
    if (name === 'drop')
      cells.push({
        label: 'drop (bucket-debt 10 %, halves at 30 %, back at 60 %)',
        shape: 'bucket-debt',
        burstShare: 0.1,
        drop: true,
      });
    else if (!(limiterShapes as readonly string[]).includes(name))
      throw new Error(`--shapes: unknown shape ${name}; use ${[...limiterShapes, 'drop'].join(', ')}`);
    else if (name === 'bucket-debt' || name === 'bucket')
      for (const share of bursts)
        cells.push({ label: `${name} ${share * 100} %`, shape: name, burstShare: share, drop: false });
    else cells.push({ label: name, shape: name as LimiterShape, drop: false });
  }
  return cells;
}

/** The limiter for one command of `idealInS` seconds at the ceiling (the drop cell's schedule scales with it). */
export function limiterFor(cell: LimiterCell, idealInS: number): Pick<LimiterOptions, 'shape' | 'schedule'> {
  if (!cell.drop) return { shape: cell.shape };
  return {
    shape: cell.shape,
    schedule: [
      { atInMs: dropAt * idealInS * 1000, share: 0.5 },
      { atInMs: recoverAt * idealInS * 1000, share: 1 },
    ],
  };
}

/** Requests the ceiling allowed in `wallInS` seconds from the start of the command (the area under it). */
export function allowedRequests(cell: LimiterCell, ceiling: number, idealInS: number, wallInS: number): number {
  if (!cell.drop) return ceiling * wallInS;
  const low = Math.min(Math.max(0, wallInS - dropAt * idealInS), (recoverAt - dropAt) * idealInS);
  return ceiling * (wallInS - low / 2);
}

/** min / median / max of a few runs, as one cell of the table. */
export function spread(values: number[], digits = 2): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(digits);
  if (sorted.length === 1) return f(sorted[0]!);
  return `${f(sorted[0]!)} / ${f(sorted[Math.floor(sorted.length / 2)]!)} / ${f(sorted.at(-1)!)}`;
}

/** A second CPU-bound process beside the bench (`--busy`): a machine that is not idle. */
export function startBusyNeighbour(): ChildProcess {
  const child = atDefaultPriority(() =>
    spawn(process.execPath, ['-e', 'for (;;) Math.sqrt(Math.random())'], { stdio: 'ignore' }),
  );
  child.unref();
  return child;
}

/**
 * The simulators stand for a service on machines of its own, which stamps a request when it
 * arrives. Here they share 2 cores with the client (and `--busy`'s neighbour), and a simulator
 * the scheduler kept waiting stamped what arrived meanwhile at once: in a trace of a 1 % bucket
 * at 500 req/s the client's wire thread sent 3-7 ms apart while the simulator stamped 8 arrivals
 * within 2 ms after a 27 ms gap, and refused them. So the bench's process (its simulators) runs
 * at a higher scheduling priority (nice -10) than the processes it measures, which start at the
 * default; where it may not (no privilege), it says so and runs as before.
 */
export function raiseSimulatorPriority(): string | undefined {
  try {
    setPriority(simulatorPriority);
    return undefined;
  } catch (error) {
    return `simulators at the default priority (${(error as Error).message}): their arrival stamps wait for the CPU`;
  }
}

const simulatorPriority = -10;

/** Starts a measured process at the default priority (children inherit the bench's). */
export function atDefaultPriority<T>(start: () => T): T {
  const own = getPriority();
  if (own === 0) return start();
  setPriority(0);
  try {
    return start(); // spawn forks synchronously: the child starts at the default
  } finally {
    setPriority(own);
  }
}
