import path from 'node:path';
import { InputError } from '../core/errors.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import type { Clock, Sleep } from '../core/retry.js';
import type { ForwardMailboxRecord, InputInfo } from '../report/run-info.js';
import type { Config, DataverseConfig } from './config.js';
import { DataverseReader, type TokenSource } from './dataverse.js';
import {
  chooseForwardMailbox,
  filterOf,
  readDataverseMailboxes,
  readForwardMailboxes,
  type DataverseReadSummary,
} from './dataverse-mailboxes.js';
import { readMailboxes, validateUsersFile } from './users-csv.js';
import { addressProblem } from './address.js';

/** Where the mailboxes come from: `--users FILE` or `--from-dataverse` (exactly one). */
export interface MailboxSourceRequest {
  users?: string;
  fromDataverse: boolean;
  /**
   * With --from-dataverse: `include` adds the stale mailboxes (verify --include-stale), `only` reads
   * just those (remove --stale), `migrated` adds those on server-side sync (verify).
   */
  stale?: 'include' | 'only' | 'migrated';
  /** The effective config (flag and environment overrides applied). */
  config: Config;
  supportedTargets: readonly Target[];
  /**
   * With --from-dataverse: every active forward mailbox record may receive users (export
   * --assign-sinks). With several and no `sink` naming one, the rows have no sink yet ('').
   */
  everyForwardMailbox?: boolean;
  /** What the row's back end says is wrong with it (e.g. a missing instruction template). */
  checkRow?: (mailbox: Mailbox) => string | undefined;
  /** With --from-dataverse: Dataverse's tokens for the config's dataverse section (auth's dataverseTokens). */
  dataverseTokens: (dataverse: DataverseConfig) => TokenSource;
  clock: Clock;
  sleep: Sleep;
  signal?: AbortSignal;
  /** Told about every Dataverse retry (a 429's wait), e.g. to show it on stderr. */
  onRetry?: (error: unknown, delayInMs: number) => void;
}

/**
 * The stale selection a command's flags ask for (flags a command does not take are false); verify
 * --from-dataverse also reads the users on server-side sync, to report them `migrated`.
 */
export function staleSelection(
  flags: { includeStale?: boolean; stale?: boolean; fromDataverse?: boolean },
  command?: string,
): MailboxSourceRequest['stale'] {
  if (flags.stale) return 'only';
  if (flags.includeStale) return 'include';
  return command === 'verify' && flags.fromDataverse ? 'migrated' : undefined;
}

/** The mailboxes of a run, whatever they come from. */
export interface MailboxSource {
  /**
   * The sink the rules forward to: the config's (file) or the forward mailbox record's (Dataverse;
   * '' when every record is in use and none is named: export --assign-sinks).
   */
  readonly sink: string;
  /** With --from-dataverse: the forward mailbox record, with its warnings. */
  readonly forwardMailbox?: ForwardMailboxRecord;
  /**
   * With --from-dataverse: every active forward mailbox record. Dynamics 365 links no user to one of
   * them (each processes whatever arrives in it), so every row gets `forwardMailbox` as its sink.
   */
  readonly forwardMailboxes?: readonly ForwardMailboxRecord[];
  /** Rows known before reading (a validated users file); a Dataverse read is counted as it streams. */
  readonly rows?: number;
  /** Rows per back end, known before reading (a validated users file). */
  readonly byTarget?: Partial<Record<Target, number>>;
  /** The back ends the rows are routed to, known before reading (so each can be opened first). */
  readonly targets: readonly Target[];
  /** Every distinct sink the rows send to (everyForwardMailbox: every one they may be given). */
  sinks(): string[];
  /** A fresh read, streamed with back-pressure: the runner pulls rows as workers free up. */
  read(): AsyncIterable<Mailbox>;
  /** The report's input section, as of the last read. */
  describe(): InputInfo;
}

/**
 * The one place that chooses where the mailboxes come from. Everything is checked here before
 * any mailbox is touched: the users file whole, or Dataverse's credential and forward mailbox.
 */
export async function openMailboxSource(request: MailboxSourceRequest): Promise<MailboxSource> {
  if (request.fromDataverse === Boolean(request.users)) {
    throw new InputError([
      'command line: ' +
        (request.users
          ? '--users and --from-dataverse exclude each other'
          : 'no mailboxes: pass --users FILE or --from-dataverse') +
        ': pass exactly one',
    ]);
  }
  if (request.stale && !request.fromDataverse)
    throw new InputError([
      `command line: --${request.stale === 'only' ? 'stale' : 'include-stale'} needs --from-dataverse: only ` +
        `Dynamics 365 knows which mailboxes are no longer forward-mailbox users`,
    ]);
  return request.users ? openUsersFile(request.users, request) : openDataverse(request);
}

async function openUsersFile(file: string, request: MailboxSourceRequest): Promise<MailboxSource> {
  // Without a config sink every row must name its own (an exported file does).
  const options = {
    sink: request.config.sink,
    configFile: request.config.file,
    defaultTarget: request.config.defaultTarget,
    supportedTargets: request.supportedTargets,
    checkRow: request.checkRow,
  };
  const summary = await validateUsersFile(file, options);
  return {
    sink: request.config.sink ?? summary.sinks.join(', '),
    rows: summary.rows,
    byTarget: summary.byTarget,
    targets: Object.keys(summary.byTarget) as Target[],
    sinks: () => summary.sinks,
    read: () => readMailboxes(file, options),
    describe: () => ({ source: 'file', file: path.resolve(file), sha256: summary.sha256, rows: summary.rows }),
  };
}

/** Signs in to the config's Dataverse (one token, so a wrong secret stops here). */
export async function openDataverseReader(
  request: Omit<MailboxSourceRequest, 'supportedTargets' | 'fromDataverse'>,
): Promise<DataverseReader> {
  const { config } = request;
  if (!config.dataverse) {
    throw new InputError([
      `${config.file}: dataverse: missing, but --from-dataverse reads the mailboxes from Dynamics 365: add ` +
        `"dataverse": {"url": "https://<org>.crm.dynamics.com"}`,
    ]);
  }
  const reader = new DataverseReader({
    config: config.dataverse,
    configFile: config.file,
    token: request.dataverseTokens(config.dataverse),
    retry: { ...config.retry, sleep: request.sleep },
    clock: request.clock,
    onRetry: request.onRetry,
  });
  await reader.open(request.signal);
  return reader;
}

async function openDataverse(request: MailboxSourceRequest): Promise<MailboxSource> {
  const { config } = request;
  const reader = await openDataverseReader(request);
  const forwardMailboxes = await readForwardMailboxes(reader, request.signal);
  // Several records and none named: with every forward mailbox in use, no row has a sink yet.
  const forwardMailbox =
    request.everyForwardMailbox && !config.sink && forwardMailboxes.length > 1
      ? undefined
      : chooseForwardMailbox(forwardMailboxes, reader.url, config.sink, config.file);
  const sink = forwardMailbox?.address ?? '';
  const sinks = request.everyForwardMailbox ? usableAddresses(forwardMailboxes) : [sink];
  const selections = { only: 'stale', include: 'targets-and-stale', migrated: 'targets-and-migrated' } as const;
  const select = request.stale ? selections[request.stale] : 'targets';
  const summary: DataverseReadSummary = { filter: filterOf(select), rows: 0, sha256: '' };
  const options = { sink, sinks, defaultTarget: config.defaultTarget, select, checkRow: request.checkRow } as const;
  return {
    sink,
    forwardMailbox,
    forwardMailboxes,
    targets: [config.defaultTarget],
    sinks: () => sinks,
    read: () => readDataverseMailboxes(reader, options, summary, request.signal),
    describe: () => ({
      source: 'dataverse',
      url: reader.url,
      filter: summary.filter,
      rows: summary.rows,
      sha256: summary.sha256,
    }),
  };
}

/** The forward mailbox records' addresses that can receive mail (a record without a valid one cannot). */
function usableAddresses(records: readonly ForwardMailboxRecord[]): string[] {
  return records.filter((record) => !addressProblem(record.address)).map((record) => record.address);
}
