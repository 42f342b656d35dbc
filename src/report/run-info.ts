import type { OutcomeName } from '../core/outcome.js';

/** The run section of every report: what ran, on what input, against which back ends, with what result. */
export interface RunInfo {
  command: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  durationInMs: number;
  toolVersion: string;
  sink: string;
  sinks: string[];
  ruleName: string;
  template: { file: string; sha256: string };
  input: { file: string; sha256: string; rows: number };
  backEnds: Record<string, Record<string, string>>;
  mailboxes: number;
  counts: Partial<Record<OutcomeName, number>>;
  exitCode: number;
  stoppedBy: string | null;
  /** probe, verify --probe, deploy --canary: where test mail came from and how long sinkrule waited. */
  probe?: { from: string; timeoutInS: number };
  /** deploy --canary: the size of the canary wave. */
  canary?: number;
}
