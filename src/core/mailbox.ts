/** The back ends a mailbox can be routed to. Only the provider factory switches on this. */
export const targets = ['graph', 'ews', 'pop3', 'manual'] as const;
export type Target = (typeof targets)[number];

/** One validated row of the users file. */
export interface Mailbox {
  /** Address as written in the file (compared case-insensitively). */
  email: string;
  displayName?: string;
  target: Target;
  /** The forward mailbox this user's rule sends to (row override or config `sink`). */
  sink: string;
  /** Mail server shown in manual instructions. */
  server?: string;
  /** Instruction template name for manual rows. */
  instructions?: string;
  /** Manual rows: when (and by whom) the admin confirmed the rule exists. */
  confirmed?: string;
  /** Line of the users file the row ends on (or the row's number in a Dataverse read), for messages. */
  line: number;
  /** The Dynamics 365 mailbox record the row came from (`mailboxid`). */
  dynamicsMailboxId?: string;
  /**
   * Not a forward-mailbox user any more (Dynamics 365 says another delivery method): only checked
   * for a leftover rule of sinkrule's. Holds the delivery method's label.
   */
  staleBecause?: string;
  /** On server-side sync in Dynamics 365: its mailbox test's Incoming Email Status (verify says `migrated`). */
  serverSideSync?: { status: number; label: string };
  /** Why this row cannot be worked on at all (the source knew before any request): its outcome is `failed`. */
  problem?: { code: string; message: string; fix: string };
}
