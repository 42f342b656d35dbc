import type { OutcomeName } from '../core/outcome.js';
import type { SignedInApp } from '../core/provider.js';
import type { AlertWatchRecord } from '../soc/alert-watch.js';

/**
 * Who ran what, from where, as which app: kept apart from the input section (users file or other
 * sources) so each can grow on its own.
 */
export interface RunIdentity {
  /** The operating-system account and host the command ran under. */
  operator: { user: string; host: string };
  toolVersion: string;
  /**
   * The arguments as given (secrets never come on the command line; values of secret-looking flags are masked
   * anyway).
   */
  commandLine: string[];
  config: { file: string; sha256: string };
  /** Per back end signing in with a token: tenant, app id, display name and roles as the token states them. */
  signedIn: Record<string, SignedInApp>;
}

/** The run section of every report: what ran, on what input, against which back ends, with what result. */
export interface RunInfo {
  command: string;
  dryRun: boolean;
  startedAt: string;
  finishedAt: string;
  durationInMs: number;
  toolVersion: string;
  identity: RunIdentity;
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
  /** probe, verify --probe, deploy --canary: where test mail came from and how long sinkrule waited. */
  probe?: { from: string; timeoutInS: number };
  /** deploy --canary: the size of the canary wave. */
  canary?: number;
  /** deploy --canary: the watch on Defender alerts after the wave, and the alerts on its mailboxes. */
  alerts?: AlertWatchRecord;
  /** The journal's length and the SHA-256 of its last entry (the value to keep in the change ticket). */
  journal?: { file: string; entries: number; lastHash: string };
  /** When the run was resumed (--resume), in order. */
  resumed?: string[];
  /** verify --inventory: the file and where the internal domains came from. */
  inventory?: { file: string; rows: number; internalDomains: string[]; domainsSource: string };
  /** migrate: the wave size, the failure limit, the test timeout, the email server profile for records without one. */
  migration?: { wave: number; maxFailures: string; timeoutInS: number; emailServerProfile: string | null };
  /** rollback: the run it undid. */
  rollbackOf?: { dir: string; command: string; startedAt: string; lastHash: string };
}

/** The command line as recorded: values of flags whose names suggest a secret are masked. */
export function recordedCommandLine(argv: readonly string[]): string[] {
  const secret = /secret|password|token|key|credential/i;
  return argv.map((arg, i) => {
    if (/^--[^=]+=/.test(arg) && secret.test(arg.slice(0, arg.indexOf('='))))
      return `${arg.slice(0, arg.indexOf('=') + 1)}***`;
    return i > 0 &&
      /^--/.test(argv[i - 1]!) &&
      !argv[i - 1]!.includes('=') &&
      secret.test(argv[i - 1]!) &&
      !arg.startsWith('--')
      ? '***'
      : arg;
  });
}

/** Where the mailboxes came from: the users file, or the Dataverse query and the rows it returned. */
export type InputInfo =
  | { source: 'file'; file: string; sha256: string; rows: number }
  | {
      source: 'dataverse';
      url: string;
      filter: string;
      rows: number;
      /** SHA-256 of the rows read, one JSON line each, in order. */ sha256: string;
    };

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
