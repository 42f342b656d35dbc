import type { CapacityFlags } from '../common/settings.js';
import type { CapacityPlan, SinkPlan } from '../core/capacity-plan.js';

type Written = { file: string; tooBusyFile?: string } | undefined;

/** `--output json`: one object (docs/capacity.md lists the fields). */
export function renderCapacityJson(
  plan: CapacityPlan,
  flags: CapacityFlags,
  written: Written,
  run: { durationInMs: number; peakRssInMb: number },
): string {
  const { sinkOf: _sinkOf, ...rest } = plan;
  return `${JSON.stringify(
    {
      command: 'capacity',
      ...rest,
      model: {
        period: flags.period,
        peakHourShare: flags.peakHourShare,
        headroom: flags.headroom,
        allowHotSinks: flags.allowHotSinks,
        averageMessageKb: flags.averageMessageKb,
        maxBacklogHours: flags.maxBacklogHours,
      },
      ...(written ? { out: written.file, tooBusyFile: written.tooBusyFile ?? null } : {}),
      ...run,
    },
    null,
    2,
  )}\n`;
}

/** The text summary: one line per sink, then how many sinks the list needs. */
export function renderCapacityText(plan: CapacityPlan, flags: CapacityFlags, written: Written): string {
  const header = [
    'sink',
    'users',
    'outside EXO',
    'busiest hour',
    'of 3,600',
    'size / quota',
    'items (Inbox)',
    'full in',
    'backlog',
  ];
  const rows = plan.sinks.map((sink) => [
    sink.address,
    String(sink.users),
    String(sink.outsideSenders),
    `${Math.round(sink.busiestHour)}${sink.overLimit ? ' OVER' : sink.hot ? ' hot' : ''}`,
    `${Math.round(sink.shareOfLimit * 100)} %`,
    `${gb(sink.storageUsedBytes)} / ${gb(sink.quotaBytes)}`,
    `${sink.itemCount ?? '-'} (${sink.inboxItems ?? '-'})`,
    fullIn(sink),
    backlog(sink),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`;
  let text =
    `sinkrule capacity: ${flags.period} usage report refreshed ${plan.reportRefreshDate ?? '-'}; ` +
    `busiest hour = ${flags.peakHourShare} of a working day; cap ${flags.headroom} × 3,600\n\n`;
  text += line(header);
  for (const row of rows) text += line(row);
  text +=
    `\nSinks needed: ${plan.sinksNeeded}; named: ${plan.sinksNamed}` +
    `${plan.moreSinksNeeded ? `; add ${plan.moreSinksNeeded}` : ''}.\n`;
  if (plan.sinks.some((s) => s.hot))
    text +=
      'Hot sinks (--allow-hot-sinks) hold only Exchange Online users: ' +
      'their copies are still delivered past 3,600 an hour.\n';
  if (plan.unplaced) text += `Not placed: ${plan.unplaced} users (no named sink can take them within its limits).\n`;
  if (plan.estimated.length)
    text +=
      `Estimated: ${plan.estimated.length} users have no volume (on-premises users have no row in the report) ` +
      'and are planned at the median of the others: give their counts with --volumes FILE.\n';
  if (plan.tooBusy.length) text += `Too busy for any sink: ${plan.tooBusy.length} users (named on stderr).\n`;
  if (flags.sinks) text += `Moved between sinks: ${plan.moved}; given a sink: ${plan.reassigned}.\n`;
  if (written) text += `Wrote ${written.file}${written.tooBusyFile ? ` and ${written.tooBusyFile}` : ''}.\n`;
  text += plan.ok ? 'The sinks carry the list.\n' : `${plan.findings.length} finding(s): see stderr.\n`;
  return text;
}

const gb = (bytes: number | null) => (bytes === null ? '-' : `${(bytes / 1024 ** 3).toFixed(1)} GB`);
const fullIn = (sink: SinkPlan) =>
  sink.deletesAfterProcessing ? 'deletes' : sink.daysUntilFull === null ? '-' : `${sink.daysUntilFull} d`;
const backlog = (sink: SinkPlan) =>
  sink.backlogHours !== null
    ? `${sink.backlogHours} h`
    : sink.oldestMessageHours !== null
      ? `(kept ${sink.oldestMessageHours} h)`
      : '-';
