import type { CliIO } from '../common/io.js';
import { effectiveConfig, type CapacityFlags } from '../common/settings.js';
import { AccessError, describeError, InputError } from '../core/errors.js';
import type { SinkStorage } from '../core/capacity-model.js';
import {
  assignmentHolds,
  planCapacity,
  type CapacityPlan,
  type ListedUser,
  type SinkHealth,
} from '../core/capacity-plan.js';
import type { Config } from '../input/config.js';
import { loadConfig } from '../input/config.js';
import { dataverseAccess } from './dataverse-access.js';
import { openDataverseReader, openMailboxSource } from '../input/mailbox-source.js';
import { readSinkDeletion } from '../input/dataverse-sinks.js';
import type { MailboxUsageRow } from '../input/usage-report.js';
import { fillSinkColumn, readText, writeWhole } from '../input/users-csv-sinks.js';
import { sniffDelimiter } from '../input/users-csv.js';
import type { CapacityGraph } from '../providers/graph-reports.js';
import { supportedTargets } from '../providers/index.js';
import { renderCapacityJson, renderCapacityText } from './capacity-output.js';
import { capacityGraph, openVolumeSources, readVolumes } from './capacity-sources.js';

/**
 * `sinkrule capacity`: how many sinks the list needs, who goes to which, and whether the sinks in
 * service keep up (docs/capacity.md). Read-only: every request is a GET, nothing in a mailbox, a
 * report setting or Dynamics 365 changes; only --out writes a file, and only when the plan holds.
 */
export async function runCapacity(flags: CapacityFlags, io: CliIO): Promise<number> {
  const started = io.clock();
  if (flags.out && !flags.sinks)
    throw new InputError([
      "command line: --out writes the users CSV with each row's sink: name the sinks with --sinks a@x,b@x",
    ]);
  if (flags.out && !flags.users)
    throw new InputError([
      'command line: --out rewrites the users CSV: pass it with --users FILE (export it first with sinkrule export)',
    ]);
  const config = effectiveConfig({ sink: flags.sink }, await loadConfig(flags.config));
  // Everything local is checked before the first request: the volumes file, then the users.
  const { fileRows, reportsMissing } = await openVolumeSources(flags, config);
  const users = await readUsers(flags, config, io);
  const sinks = flags.sinks ?? [...new Map(users.map((u) => [u.sink.toLowerCase(), u.sink])).values()];
  const listed = new Set(users.map((u) => u.email.toLowerCase()));
  const listedSinks = sinks.filter((sink) => listed.has(sink.toLowerCase()));
  if (listedSinks.length > 0)
    throw new InputError([
      `command line: --sinks: ${listedSinks.join(', ')} ` +
        `${listedSinks.length > 1 ? 'are' : 'is'} also in the users list: ` +
        'a sink must not forward to itself; name forward mailboxes only, or remove the row',
    ]);
  const progress = (text: string) => !io.quiet && io.stderr.write(`${text}\n`);
  progress(
    `Read ${users.length} users${flags.volumes ? ` and ${fileRows.length} volume rows from ${flags.volumes}` : ''}.`,
  );

  const graph = capacityGraph(config, io);
  const volumes = await readVolumes(reportsMissing ? undefined : graph, flags, users, fileRows, progress);
  const storage = await readStorage(graph && !reportsMissing ? graph : undefined, sinks, flags, progress);
  const health = graph ? await readHealth(graph, sinks, progress) : new Map<string, SinkHealth>();
  const sinkDeletes = await deletionOf(flags, config, sinks, io, progress);
  const plan = planCapacity(
    { users, volumes, sinks, assign: Boolean(flags.sinks), storage, health },
    { ...flags, sinkDeletes, now: io.clock() },
  );
  const wrote = flags.out ? await writeAssignment(flags.users!, flags.out, users, plan, io) : undefined;
  if (flags.output === 'json')
    io.stdout.write(
      renderCapacityJson(plan, flags, wrote, {
        durationInMs: Math.round(io.clock() - started),
        peakRssInMb: Math.round(process.resourceUsage().maxRSS / 1024),
      }),
    );
  else if (!io.quiet) io.stdout.write(renderCapacityText(plan, flags, wrote));
  for (const user of plan.tooBusy) io.stderr.write(`Too busy: ${user.email} (${user.target}): ${user.reason}\n`);
  for (const finding of plan.findings) io.stderr.write(`Finding: ${finding}\n`);
  return plan.ok ? 0 : 2;
}

/**
 * Whether Dynamics deletes what it processed, per sink: --sink-deletes, else with --from-dataverse
 * each forward mailbox record's Delete Emails after Processing, else no (the sink only grows).
 */
async function deletionOf(
  flags: CapacityFlags,
  config: Config,
  sinks: readonly string[],
  io: CliIO,
  progress: (text: string) => void,
): Promise<(sink: string) => boolean> {
  if (flags.sinkDeletes || !flags.fromDataverse) return () => flags.sinkDeletes === 'yes';
  const reader = await openDataverseReader(dataverseAccess(config, io));
  const records = await readSinkDeletion(reader, io.signal);
  for (const sink of sinks)
    if (!records.has(sink.toLowerCase()))
      progress(`Warning: ${sink} has no active forward mailbox record in Dynamics 365: planned as not deleting.`);
  return (sink) => records.get(sink.toLowerCase()) ?? false;
}

async function readUsers(flags: CapacityFlags, config: Config, io: CliIO): Promise<ListedUser[]> {
  const source = await openMailboxSource({
    ...dataverseAccess(config, io),
    users: flags.users,
    fromDataverse: flags.fromDataverse,
    supportedTargets,
  });
  const users: ListedUser[] = [];
  for await (const mailbox of source.read()) {
    if (mailbox.problem) {
      io.stderr.write(`Left out: ${mailbox.email || mailbox.displayName}: ${mailbox.problem.message}\n`);
      continue;
    }
    users.push({ email: mailbox.email, target: mailbox.target, sink: mailbox.sink });
  }
  return users;
}

async function readStorage(
  graph: CapacityGraph | undefined,
  sinks: readonly string[],
  flags: CapacityFlags,
  progress: (text: string) => void,
): Promise<Map<string, SinkStorage>> {
  let rows: MailboxUsageRow[] = [];
  if (graph) {
    try {
      rows = await graph.mailboxUsage();
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      progress(`Warning: mailbox usage report not read (${error.message}); sink sizes unknown.`);
    }
  }
  const byUpn = new Map(rows.map((r) => [r.upn.toLowerCase(), r]));
  const quotaFallback = flags.sinkQuotaGb === undefined ? undefined : flags.sinkQuotaGb * 1024 ** 3;
  return new Map(
    sinks.map((sink) => {
      const row = byUpn.get(sink.toLowerCase());
      return [
        sink.toLowerCase(),
        {
          storageUsedBytes: row?.storageUsedBytes,
          itemCount: row?.itemCount,
          quotaBytes: row?.quotaBytes ?? quotaFallback,
        },
      ];
    }),
  );
}

async function readHealth(
  graph: CapacityGraph,
  sinks: readonly string[],
  progress: (text: string) => void,
): Promise<Map<string, SinkHealth>> {
  const health = new Map<string, SinkHealth>();
  for (const sink of sinks) {
    try {
      const inbox = await graph.inbox(sink);
      health.set(sink.toLowerCase(), {
        inboxItems: inbox.totalItemCount,
        oldestReceivedDateTime: inbox.oldestReceivedDateTime,
      });
    } catch (error) {
      if (error instanceof AccessError) throw error;
      health.set(sink.toLowerCase(), { problem: describeError(error) });
      progress(`Warning: ${sink}: Inbox not read (${describeError(error)}).`);
    }
  }
  return health;
}

/** --out: the users CSV with the plan's sinks; too-busy users to FILE.too-busy.csv. Only when the plan holds. */
async function writeAssignment(
  usersFile: string,
  out: string,
  users: readonly ListedUser[],
  plan: CapacityPlan,
  io: CliIO,
): Promise<{ file: string; tooBusyFile?: string } | undefined> {
  if (!assignmentHolds(plan)) {
    io.stderr.write(
      `Not written: ${out}: the named sinks cannot carry the list (add ${plan.moreSinksNeeded} more sink(s)).\n`,
    );
    return undefined;
  }
  const tooBusy = new Map(plan.tooBusy.map((u) => [u.email.toLowerCase(), u.reason]));
  const byEmail = new Map(
    users.map((user, i) => {
      const reason = tooBusy.get(user.email.toLowerCase());
      return [user.email.toLowerCase(), reason ? { leaveOut: reason } : { sink: plan.sinkOf[i]! }];
    }),
  );
  const result = fillSinkColumn(await readText(usersFile), await sniffDelimiter(usersFile), (email) =>
    byEmail.get(email.toLowerCase()),
  );
  const tooBusyFile = result.leftOut ? `${out}.too-busy.csv` : undefined;
  if (tooBusyFile) await writeWhole(tooBusyFile, result.leftOut!);
  await writeWhole(out, result.users);
  io.stderr.write(
    `Wrote ${out}: ${users.length - tooBusy.size} users over ${plan.sinks.length} sinks ` +
      `(${plan.moved} moved between sinks, ${plan.reassigned} given a sink)` +
      `${tooBusyFile ? `; ${tooBusy.size} too-busy users left out, in ${tooBusyFile}` : ''}.\n`,
  );
  return { file: out, tooBusyFile };
}
