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
  input: InputInfo;
  /** With --from-dataverse: the forward mailbox record every rule sends to. */
  forwardMailbox?: ForwardMailboxRecord;
  backEnds: Record<string, Record<string, string>>;
  mailboxes: number;
  counts: Partial<Record<OutcomeName, number>>;
  exitCode: number;
  stoppedBy: string | null;
}

/** Where the mailboxes came from: the users file, or the Dataverse query and the rows it returned. */
export type InputInfo =
  | { source: 'file'; file: string; sha256: string; rows: number }
  | { source: 'dataverse'; url: string; filter: string; rows: number; /** SHA-256 of the rows read, one JSON line each, in order. */ sha256: string };

/** The Dynamics 365 mailbox record marked Is Forward Mailbox, as the report shows it. */
export interface ForwardMailboxRecord {
  mailboxId: string;
  name: string;
  address: string;
  state: string;
  incomingEmailStatus: string;
  /** "Mailbox Test Completed On" (testmailboxaccesscompletedon), or null when never tested. */
  testCompletedOn: string | null;
  outgoingEmailDeliveryMethod: string;
  warnings: string[];
}
