import { capacityFlags } from '../common/capacity-flags.js';
import type { CliIO } from '../common/io.js';
import type { RunFlags } from '../common/settings.js';
import { assignmentHolds, planCapacity, type CapacityPlan } from '../core/capacity-plan.js';
import type { Mailbox } from '../core/mailbox.js';
import type { Config } from '../input/config.js';
import type { MailboxSource } from '../input/mailbox-source.js';
import type { EmailActivityRow } from '../input/usage-report.js';
import { capacityGraph, readVolumes } from './capacity-sources.js';

/** What `export --assign-sinks` writes: the rows with their planned sink, and the too-busy ones apart. */
export interface ExportAssignment {
  plan: CapacityPlan;
  /** The rows with the plan's sink, in Dataverse order; empty when the plan does not hold (assignmentHolds). */
  rows: Mailbox[];
  tooBusy: Array<{ mailbox: Mailbox; reason: string }>;
  /** The forward mailboxes planned over. */
  sinks: string[];
}

/**
 * `export --from-dataverse --assign-sinks`: capacity's assignment (docs/capacity.md, "The
 * assignment") over every active forward mailbox record, with the volumes read exactly as
 * `capacity` reads them. A row keeps the sink it has (the forward mailbox the config's `sink`
 * names, which a deploy from Dynamics 365 gave every rule) unless that sink is over its limits;
 * the other forward mailboxes are filled to their fair share. Reads only.
 */
export async function assignExportSinks(
  mailboxes: readonly Mailbox[],
  source: MailboxSource,
  flags: RunFlags,
  config: Config,
  volumeSources: { fileRows: EmailActivityRow[]; reportsMissing?: string },
  io: CliIO,
): Promise<ExportAssignment> {
  const progress = (text: string) => !io.quiet && io.stderr.write(`${text}\n`);
  const sinks = source.sinks();
  const users = mailboxes.map((m) => ({ email: m.email, target: m.target, sink: m.sink }));
  const graph = volumeSources.reportsMissing ? undefined : capacityGraph(config, io);
  const volumes = await readVolumes(graph, flags, users, volumeSources.fileRows, progress);
  const plan = planCapacity(
    { users, volumes, sinks, assign: true, storage: new Map(), health: new Map() },
    {
      peakHourShare: flags.peakHourShare,
      headroom: flags.headroom,
      allowHotSinks: flags.allowHotSinks,
      // Storage and backlog are capacity's report, not the assignment's: these only fill the model's options.
      averageMessageKb: capacityFlags.averageMessageKb.schema.parse(undefined),
      maxBacklogHours: capacityFlags.maxBacklogHours.schema.parse(undefined),
      sinkDeletes: () => false,
      now: io.clock(),
    },
  );
  const tooBusy = new Map(plan.tooBusy.map((user) => [user.email.toLowerCase(), user.reason]));
  const rows: Mailbox[] = [];
  const leftOut: ExportAssignment['tooBusy'] = [];
  if (assignmentHolds(plan))
    mailboxes.forEach((mailbox, i) => {
      const reason = tooBusy.get(mailbox.email.toLowerCase());
      if (reason) leftOut.push({ mailbox, reason });
      else rows.push({ ...mailbox, sink: plan.sinkOf[i]! });
    });
  return { plan, rows, tooBusy: leftOut, sinks };
}

/** One line per sink on stderr: what the plan puts on it. */
export function describeAssignment(assignment: ExportAssignment): string {
  const { plan } = assignment;
  const lines = plan.sinks.map(
    (sink) =>
      `  ${sink.address}: ${sink.users} users (${sink.outsideSenders} outside Exchange Online), ` +
      `${Math.round(sink.busiestHour)} in the busiest hour (${Math.round(sink.shareOfLimit * 100)} % of 3,600)\n`,
  );
  return (
    `Sinks from capacity's plan over ${plan.sinks.length} active forward mailboxes ` +
    `(${plan.moved} users moved from their sink, ${plan.reassigned} given one; ` +
    `${plan.estimated.length} planned at the median volume):\n${lines.join('')}`
  );
}
