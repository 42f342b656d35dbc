import { createHash } from 'node:crypto';
import { InputError } from '../core/errors.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import type { ForwardMailboxRecord } from '../report/run-info.js';
import { addressProblem } from './address.js';
import { labelOf, type DataverseReader, type DataverseRow } from './dataverse.js';

/**
 * The Dataverse `mailbox` table as sinkrule reads it (column reference: Microsoft's mailbox entity
 * page; option values: incomingemaildeliverymethod 3 = Forward Mailbox, statecode 0 = Active,
 * incomingemailstatus 1 = Success, outgoingemaildeliverymethod 0 = None).
 */
const columns = [
  'mailboxid',
  'name',
  'emailaddress',
  'incomingemaildeliverymethod',
  'incomingemailstatus',
  'outgoingemaildeliverymethod',
  'isforwardmailbox',
  'statecode',
  'testmailboxaccesscompletedon',
] as const;
const forwardMailbox = 3;
const serverSideSync = 2;

/** The queries, written once: the report names them. */
export const mailboxFilters = {
  sink: 'statecode eq 0 and isforwardmailbox eq true',
  targets: `statecode eq 0 and incomingemaildeliverymethod eq ${forwardMailbox} and isforwardmailbox eq false`,
  stale: `statecode eq 0 and incomingemaildeliverymethod ne ${forwardMailbox} and isforwardmailbox eq false`,
  migrated: `statecode eq 0 and incomingemaildeliverymethod eq ${serverSideSync} and isforwardmailbox eq false`,
} as const;

const query = (filter: string) => ({ entitySet: 'mailboxes', select: columns, filter });

/** Every active mailbox record with Is Forward Mailbox = Yes. */
export async function readForwardMailboxes(
  reader: DataverseReader,
  signal?: AbortSignal,
): Promise<ForwardMailboxRecord[]> {
  const records: ForwardMailboxRecord[] = [];
  for await (const row of reader.query(query(mailboxFilters.sink), signal)) records.push(toForwardMailbox(row));
  return records;
}

/**
 * Picks the sink among the active forward mailbox records: the only one, or the one the config's
 * `sink` / `--sink` names. Anything else stops the run before any mailbox is read.
 */
export function chooseForwardMailbox(
  records: readonly ForwardMailboxRecord[],
  url: string,
  configuredSink: string | undefined,
  configFile: string,
): ForwardMailboxRecord {
  const where = `Dataverse ${url}`;
  const list = () => records.map((r) => `"${r.name}" <${r.address || 'no email address'}>`).join(', ');
  if (records.length === 0) {
    throw new InputError([
      `${where}: no active mailbox record has Is Forward Mailbox = Yes: create the forward mailbox in ` +
        `Dynamics 365 (Settings → Email Configuration → Forward Mailboxes), test and enable it, then run again`,
    ]);
  }
  const wanted = configuredSink?.toLowerCase();
  if (records.length === 1) {
    const only = records[0]!;
    if (wanted && only.address.toLowerCase() !== wanted) {
      throw new InputError([
        `${configFile}: sink ${configuredSink} differs from the forward mailbox in Dynamics 365, ${list()}: ` +
          `remove "sink" (and --sink) to use Dynamics 365's, or correct it`,
      ]);
    }
    return checkAddress(only, where);
  }
  const chosen = wanted && records.find((r) => r.address.toLowerCase() === wanted);
  if (!chosen) {
    const why = configuredSink
      ? `sink ${configuredSink} is none of them`
      : 'neither the config\'s "sink" nor --sink names one';
    throw new InputError([
      `${where}: ${records.length} active forward mailboxes, ${list()}, and ${why}: set "sink" (or --sink) ` +
        `to the one the rules must forward to`,
    ]);
  }
  return checkAddress(chosen, where);
}

function checkAddress(record: ForwardMailboxRecord, where: string): ForwardMailboxRecord {
  const problem = addressProblem(record.address);
  if (problem) {
    throw new InputError([
      `${where}: the forward mailbox record "${record.name}" has no valid email address ` +
        `("${record.address}": ${problem}): enter it in Dynamics 365 (Settings → Email Configuration → Forward ` +
        `Mailboxes)`,
    ]);
  }
  return record;
}

function toForwardMailbox(row: DataverseRow): ForwardMailboxRecord {
  const warnings: string[] = [];
  const incoming = labelOf(row, 'incomingemailstatus');
  const outgoing = labelOf(row, 'outgoingemaildeliverymethod');
  if (row.incomingemailstatus !== 1) {
    warnings.push(
      `incoming email status is "${incoming}", not Success: test and enable the forward mailbox in Dynamics ` +
        `365 (Forward Mailboxes → Test & Enable Mailbox); until it succeeds, nothing forwarded to it is tracked`,
    );
  }
  if (row.outgoingemaildeliverymethod !== 0) {
    warnings.push(
      `outgoing email is "${outgoing}", not None: the forward mailbox is dedicated to receiving; set ` +
        `Outgoing Email to None`,
    );
  }
  return {
    mailboxId: String(row.mailboxid ?? ''),
    name: String(row.name ?? ''),
    address: typeof row.emailaddress === 'string' ? row.emailaddress.trim() : '',
    state: labelOf(row, 'statecode'),
    incomingEmailStatus: incoming,
    testCompletedOn: typeof row.testmailboxaccesscompletedon === 'string' ? row.testmailboxaccesscompletedon : null,
    outgoingEmailDeliveryMethod: outgoing,
    warnings,
  };
}

export interface DataverseMailboxesOptions {
  /** Every row's sink ('' when the run assigns the sinks afterwards: export --assign-sinks). */
  sink: string;
  /** Forward mailboxes no row may be (a user record with a sink's address): default `[sink]`. */
  sinks?: readonly string[];
  defaultTarget: Target;
  /**
   * Which records: the forward-mailbox users, those plus the stale ones (verify --include-stale), only
   * the stale ones (remove --stale), or the users plus those on server-side sync (verify: `migrated`).
   */
  select: 'targets' | 'targets-and-stale' | 'stale' | 'targets-and-migrated';
  checkRow?: (mailbox: Mailbox) => string | undefined;
}

/** What one read saw, for the report's input section. */
export interface DataverseReadSummary {
  filter: string;
  rows: number;
  sha256: string;
}

export function filterOf(select: DataverseMailboxesOptions['select']): string {
  if (select === 'targets') return mailboxFilters.targets;
  if (select === 'stale') return mailboxFilters.stale;
  if (select === 'targets-and-migrated') return `(${mailboxFilters.targets}) then (${mailboxFilters.migrated})`;
  return `(${mailboxFilters.targets}) then (${mailboxFilters.stale})`;
}

/**
 * The mailbox records as rows for the runner, streamed page by page. A record that cannot be
 * worked on (no or invalid address, listed twice, the sink itself) is still a row: it ends
 * `failed` with the fix, so the report accounts for every forward-mailbox user.
 */
export async function* readDataverseMailboxes(
  reader: DataverseReader,
  options: DataverseMailboxesOptions,
  summary: DataverseReadSummary,
  signal?: AbortSignal,
): AsyncGenerator<Mailbox> {
  const hash = createHash('sha256');
  const seen = new Map<string, number>();
  summary.rows = 0;
  const sets: Array<'targets' | 'stale' | 'migrated'> =
    options.select === 'targets-and-stale'
      ? ['targets', 'stale']
      : options.select === 'targets-and-migrated'
        ? ['targets', 'migrated']
        : [options.select];
  for (const set of sets) {
    for await (const row of reader.query(query(mailboxFilters[set]), signal)) {
      summary.rows++;
      hash.update(`${JSON.stringify(columns.map((column) => row[column] ?? null))}\n`);
      const mailbox = toMailbox(row, summary.rows, set, seen, options);
      if (mailbox) yield mailbox;
    }
  }
  summary.sha256 = hash.digest('hex');
}

function toMailbox(
  row: DataverseRow,
  line: number,
  set: 'targets' | 'stale' | 'migrated',
  seen: Map<string, number>,
  options: DataverseMailboxesOptions,
): Mailbox | undefined {
  const email = typeof row.emailaddress === 'string' ? row.emailaddress.trim() : '';
  const name = typeof row.name === 'string' ? row.name : '';
  const mailbox: Mailbox = {
    email,
    displayName: name,
    target: options.defaultTarget,
    sink: options.sink,
    line,
    dynamicsMailboxId: String(row.mailboxid ?? ''),
  };
  const record = `the mailbox record "${name}" (${mailbox.dynamicsMailboxId})`;
  if (set !== 'targets') {
    // Not tracked by forwarding: only a mailbox with an address can hold a leftover rule.
    if (addressProblem(email)) return undefined;
    mailbox.staleBecause = labelOf(row, 'incomingemaildeliverymethod');
    if (row.incomingemaildeliverymethod === serverSideSync)
      mailbox.serverSideSync = {
        status: Number(row.incomingemailstatus ?? 0),
        label: labelOf(row, 'incomingemailstatus'),
      };
  }
  const fixIn = 'in Dynamics 365 (Settings → Email Configuration → Mailboxes)';
  if (!email)
    return failed(
      mailbox,
      'NoEmailAddress',
      `${record} has Incoming Email = Forward Mailbox but no email address`,
      `Enter the user's email address ${fixIn}, or set Incoming Email to None if the user's mail is not to be tracked.`,
    );
  const invalid = addressProblem(email);
  if (invalid)
    return failed(
      mailbox,
      'InvalidEmailAddress',
      `${record} has the email address "${email}", which is not valid (${invalid})`,
      `Correct the email address ${fixIn}.`,
    );
  const key = email.toLowerCase();
  const first = seen.get(key);
  if (first !== undefined)
    return failed(
      mailbox,
      'DuplicateMailboxRecord',
      `${email} has a second active mailbox record (first seen as row ${first})`,
      `Deactivate the duplicate mailbox record ${fixIn}; sinkrule worked on the first one.`,
    );
  seen.set(key, line);
  if ((options.sinks ?? [options.sink]).some((sink) => sink.toLowerCase() === key))
    return failed(
      mailbox,
      'SinkIsUser',
      `${email} is the forward mailbox (sink) itself`,
      `Set Incoming Email of ${record} to something other than Forward Mailbox: the sink must not forward to itself.`,
    );
  const problem = options.checkRow?.(mailbox);
  return problem ? failed(mailbox, 'InvalidRow', problem, 'Correct the route in the config (defaultTarget).') : mailbox;
}

function failed(mailbox: Mailbox, code: string, message: string, fix: string): Mailbox {
  return { ...mailbox, problem: { code, message, fix } };
}
