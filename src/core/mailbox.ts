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
  /** Line of the users file the row ends on, for messages. */
  line: number;
}
