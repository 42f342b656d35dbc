import {
  loadOf,
  median,
  receivingLimitPerHour,
  storageOutlook,
  tooBusyReason,
  userLoad,
  workingDaysIn,
  type CapacityModelOptions,
  type SinkStorage,
} from './capacity-model.js';
import type { Target } from './mailbox.js';
import { assignSinks, currentLoads, sinksNeeded, type PlacedUser, type SinkLoad } from './sink-assignment.js';

/** A listed user: the row's address, route and today's sink. */
export interface ListedUser {
  email: string;
  target: Target;
  sink: string;
}

/** One user's received count over a report period. */
export interface Volume {
  receiveCount: number;
  refreshDate: string;
  periodDays: number;
}

export interface SinkHealth {
  inboxItems?: number;
  oldestReceivedDateTime?: string;
  /** Why the Inbox could not be read. */
  problem?: string;
}

export interface CapacityPlanOptions extends CapacityModelOptions {
  averageMessageKb: number;
  maxBacklogHours: number;
  /** Dynamics 365 deletes what it processed (Delete Emails After Processing), per sink (lower-case). */
  sinkDeletes: (sink: string) => boolean;
  /** Now, for the backlog's age. */
  now: number;
}

export interface CapacityInput {
  users: readonly ListedUser[];
  /** Volumes by lower-case address (the --volumes file's row already preferred over the report's). */
  volumes: ReadonlyMap<string, Volume>;
  /** The sinks to plan over: --sinks, else the rows' own sinks. */
  sinks: readonly string[];
  /** Spread the users over `sinks` (--sinks); otherwise judge the rows' sinks as they are. */
  assign: boolean;
  storage: ReadonlyMap<string, SinkStorage>;
  health: ReadonlyMap<string, SinkHealth>;
}

export interface SinkPlan {
  address: string;
  users: number;
  outsideSenders: number;
  perWorkingDay: number;
  busiestHour: number;
  /** busiestHour ÷ 3,600. */
  shareOfLimit: number;
  overLimit: boolean;
  /** Past the cap, allowed (--allow-hot-sinks): every user is on Exchange Online, whose copies are still delivered. */
  hot: boolean;
  storageUsedBytes: number | null;
  itemCount: number | null;
  quotaBytes: number | null;
  inboxItems: number | null;
  deletesAfterProcessing: boolean;
  daysUntilFull: number | null;
  fullBy: 'quota' | 'items' | null;
  /** Age of the oldest Inbox message, in hours. */
  oldestMessageHours: number | null;
  /**
   * How far behind Dynamics is: the oldest message's age, when processed mail is deleted (else it is
   * only kept mail).
   */
  backlogHours: number | null;
  findings: string[];
}

export interface CapacityPlan {
  reportRefreshDate: string | null;
  sinksNeeded: number;
  sinksNamed: number;
  /** Sinks to add to carry the list (0 when the named ones do). */
  moreSinksNeeded: number;
  sinks: SinkPlan[];
  tooBusy: Array<{ email: string; target: Target; busiestHour: number; reason: string }>;
  estimated: Array<{ email: string; perWorkingDay: number }>;
  /** Users the plan could not place within the named sinks' limits. */
  unplaced: number;
  moved: number;
  reassigned: number;
  /** The sink of each listed user under the plan ('' for too busy or unplaced), in list order. */
  sinkOf: string[];
  findings: string[];
  ok: boolean;
}

/** Whether the plan placed every user within the named sinks' limits (only then is an assignment written). */
export const assignmentHolds = (plan: CapacityPlan): boolean =>
  plan.unplaced === 0 && !plan.sinks.some((sink) => sink.overLimit);

/** More sinks than this and the forward mailbox is the wrong tool: say so. */
export const manySinks = 3;
/** A sink that fills within this many days is a finding. */
export const fullSoonDays = 30;

/**
 * The whole capacity plan from what was read: per-user loads (users without a volume planned at the
 * median of the others, listed as estimated), the too-busy users, the sinks needed, the named sinks'
 * loads (spread when asked), storage outlook and backlog, and the findings that make the exit code 2.
 */
export function planCapacity(input: CapacityInput, options: CapacityPlanOptions): CapacityPlan {
  const known: number[] = [];
  const loads = input.users.map((user) => {
    const volume = input.volumes.get(user.email.toLowerCase());
    if (!volume) return undefined;
    const load = userLoad(user, volume.receiveCount, workingDaysIn(volume.refreshDate, volume.periodDays), options);
    known.push(load.perWorkingDay);
    return load;
  });
  const typical = median(known);
  const estimated: CapacityPlan['estimated'] = [];
  const placed: PlacedUser[] = input.users.map((user, i) => {
    let load = loads[i];
    if (!load) {
      load = loadOf(user, typical, options);
      estimated.push({ email: user.email, perWorkingDay: round(typical) });
    }
    return { ...load, currentSink: user.sink };
  });
  const tooBusy: CapacityPlan['tooBusy'] = [];
  const carried: PlacedUser[] = [];
  const carriedIndex: number[] = [];
  placed.forEach((user, i) => {
    const reason = tooBusyReason(user, options);
    if (reason) tooBusy.push({ email: user.email, target: user.target, busiestHour: round(user.busiestHour), reason });
    else {
      carried.push(user);
      carriedIndex.push(i);
    }
  });
  const needed = sinksNeeded(carried, options);
  const sinkOf: string[] = new Array(input.users.length).fill('');
  let sinkLoads: SinkLoad[];
  let unplaced = 0;
  let moved = 0;
  let reassigned = 0;
  if (input.assign) {
    const plan = assignSinks(carried, input.sinks, options);
    plan.sinkOf.forEach((sink, j) => (sinkOf[carriedIndex[j]!] = sink ?? ''));
    ({ unplaced, moved, reassigned } = plan);
    sinkLoads = plan.sinks;
  } else {
    carried.forEach((user, j) => (sinkOf[carriedIndex[j]!] = user.currentSink ?? ''));
    sinkLoads = currentLoads(carried, options);
    for (const sink of input.sinks)
      if (!sinkLoads.some((s) => s.sink.toLowerCase() === sink.toLowerCase()))
        sinkLoads.push({ sink, users: 0, outsideUsers: 0, busiestHour: 0, perWorkingDay: 0, overLimit: false });
  }
  const refreshDates = [...input.volumes.values()].map((v) => v.refreshDate).sort();
  const reportRefreshDate = refreshDates.at(-1) ?? null;
  const fromDate = reportRefreshDate ?? new Date(options.now).toISOString().slice(0, 10);
  const sinks = sinkLoads.map((load) => sinkPlan(load, input, options, fromDate));
  const findings: string[] = [];
  const overSinks = sinks.filter((s) => s.overLimit).length;
  const moreSinksNeeded = Math.max(0, needed - sinkLoads.length, unplaced > 0 || overSinks > 0 ? 1 : 0);
  if (tooBusy.length > 0)
    findings.push(
      `${tooBusy.length} user(s) are too busy for any sink on their own: ` +
        'track them with server-side synchronization of their own mailbox instead',
    );
  if (moreSinksNeeded > 0)
    findings.push(
      `the list needs ${needed} sink(s) and ${sinkLoads.length} ${input.assign ? 'are named' : 'carry it'}: ` +
        `add ${moreSinksNeeded} more sink(s)` +
        `${input.assign ? '' : ' and spread the users with --sinks a@x,b@x --out FILE'}`,
    );
  else if (overSinks > 0)
    findings.push(`${overSinks} sink(s) are over their limit: spread the users with --sinks a@x,b@x --out FILE`);
  if (needed > manySinks)
    findings.push(
      `the list needs ${needed} forward mailboxes: at this volume the forward mailbox is the wrong tool; ` +
        'track the busiest users with server-side synchronization of each mailbox instead',
    );
  for (const sink of sinks) findings.push(...sink.findings.map((f) => `${sink.address}: ${f}`));
  const ok = findings.length === 0;
  return {
    reportRefreshDate,
    sinksNeeded: needed,
    sinksNamed: sinkLoads.length,
    moreSinksNeeded,
    sinks,
    tooBusy,
    estimated,
    unplaced,
    moved,
    reassigned,
    sinkOf,
    findings,
    ok,
  };
}

function sinkPlan(load: SinkLoad, input: CapacityInput, options: CapacityPlanOptions, fromDate: string): SinkPlan {
  const key = load.sink.toLowerCase();
  const storage = input.storage.get(key) ?? {};
  const health = input.health.get(key);
  const deletes = options.sinkDeletes(key);
  const findings: string[] = [];
  if (load.overLimit)
    findings.push(
      `${Math.round(load.busiestHour)} messages in the busiest hour, ` +
        `over ${options.headroom} × ${receivingLimitPerHour}` +
        (load.outsideUsers > 0
          ? `: copies of its ${load.outsideUsers} users outside Exchange Online would be refused (5.2.122)`
          : ''),
    );
  const outlook = deletes
    ? { daysUntilFull: null, fullBy: undefined }
    : storageOutlook(
        { ...storage, inboxItems: health?.inboxItems },
        load.perWorkingDay,
        fromDate,
        options.averageMessageKb,
      );
  if (outlook.daysUntilFull !== null && outlook.daysUntilFull <= fullSoonDays)
    findings.push(
      `full in ${outlook.daysUntilFull} day(s) ` +
        `(${outlook.fullBy === 'items' ? '1,000,000 items in the Inbox' : 'its quota'}) ` +
        'with Delete Emails After Processing off: turn it on in the forward mailbox record, or add sinks',
    );
  const oldestMessageHours = health?.oldestReceivedDateTime
    ? Math.max(0, (options.now - Date.parse(health.oldestReceivedDateTime)) / 3_600_000)
    : null;
  // Without deletion every processed message stays: the oldest one's age says nothing about a backlog.
  const backlogHours = deletes ? (oldestMessageHours ?? (health && !health.problem ? 0 : null)) : null;
  if (backlogHours !== null && backlogHours > options.maxBacklogHours)
    findings.push(
      `behind: the oldest Inbox message is ${round(backlogHours)} hours old ` +
        `(over --max-backlog-hours ${options.maxBacklogHours}): ` +
        'check the forward mailbox record in Dynamics 365 (mailbox status, server-side synchronization alerts)',
    );
  if (health?.problem) findings.push(`Inbox not read: ${health.problem}`);
  return {
    address: load.sink,
    users: load.users,
    outsideSenders: load.outsideUsers,
    perWorkingDay: round(load.perWorkingDay),
    busiestHour: round(load.busiestHour),
    shareOfLimit: round(load.busiestHour / receivingLimitPerHour, 3),
    overLimit: load.overLimit,
    hot: !load.overLimit && load.busiestHour > options.headroom * receivingLimitPerHour,
    storageUsedBytes: storage.storageUsedBytes ?? null,
    itemCount: storage.itemCount ?? null,
    quotaBytes: storage.quotaBytes ?? null,
    inboxItems: health?.inboxItems ?? null,
    deletesAfterProcessing: deletes,
    daysUntilFull: outlook.daysUntilFull,
    fullBy: outlook.fullBy ?? null,
    oldestMessageHours: oldestMessageHours === null ? null : round(oldestMessageHours),
    backlogHours: backlogHours === null ? null : round(backlogHours),
    findings,
  };
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** A UPN as usage reports show it when names are concealed: 32 hexadecimal digits. */
export const isConcealedName = (name: string): boolean => /^[0-9a-f]{32}$/i.test(name);

/**
 * Why the report's names cannot be matched to the list (concealed names), or undefined. Planning on
 * a report that matches nobody would plan every user at zero: never do that silently.
 */
export function concealmentProblem(
  listed: readonly string[],
  reportNames: readonly string[],
  displayConcealedNames: boolean | undefined,
): string | undefined {
  if (displayConcealedNames === true)
    return 'the tenant conceals user names in usage reports (adminReportSettings displayConcealedNames is true)';
  if (listed.length === 0 || reportNames.length === 0) return undefined;
  const wanted = new Set(listed.map((e) => e.toLowerCase()));
  if (reportNames.some((name) => wanted.has(name.toLowerCase()))) return undefined;
  const hashed = reportNames.filter(isConcealedName).length;
  return hashed > reportNames.length / 2
    ? `the usage report names no listed user: ${hashed} of its ${reportNames.length} names ` +
        'are 32-hex-digit hashes (concealed names)'
    : `the usage report names none of the ${listed.length} listed Exchange Online users`;
}

export const concealedNamesFix =
  'Show user names in reports: Microsoft 365 admin center → Settings → Org settings → Reports → ' +
  'clear "Display concealed user, group, and site names in all reports", ' +
  'or PATCH https://graph.microsoft.com/v1.0/admin/reportSettings ' +
  '{"displayConcealedNames": false} with ReportSettings.ReadWrite.All; sinkrule only reads it. Then run again ' +
  '(or pass --volumes FILE exported with names shown).';
