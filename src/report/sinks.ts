import { escapeHtml } from './html-template.js';

/** One forward mailbox of the run: how many users send to it, by route (report.json `sinks`). */
export interface SinkSummary {
  address: string;
  users: number;
  byRoute: Record<string, number>;
}

/**
 * The users per sink, counted as the rows are written: every sink carries its users' whole inbound
 * mail, so the report shows how the estate is spread over the forward mailboxes. Rows that are no
 * longer forward-mailbox users (stale) send nothing to a sink and are not counted.
 */
export class SinkTally {
  private readonly sinks = new Map<string, SinkSummary>();

  add(row: { sink: string; target: string; stale?: boolean }): void {
    if (!row.sink || row.stale) return;
    const key = row.sink.toLowerCase();
    let sink = this.sinks.get(key);
    if (!sink) this.sinks.set(key, (sink = { address: row.sink, users: 0, byRoute: {} }));
    sink.users++;
    sink.byRoute[row.target] = (sink.byRoute[row.target] ?? 0) + 1;
  }

  /** Busiest sink first. */
  summary(): SinkSummary[] {
    return [...this.sinks.values()].sort((a, b) => b.users - a.users || a.address.localeCompare(b.address));
  }
}

/** report.html's table of sinks: users down the sinks, routes across. */
export function sinksTable(sinks: readonly SinkSummary[]): string {
  if (sinks.length === 0) return '';
  const routes = [...new Set(sinks.flatMap((sink) => Object.keys(sink.byRoute)))].sort();
  const cells = (values: Array<string | number>, tag: 'th' | 'td') =>
    values.map((v) => `<${tag}${tag === 'td' ? ' class="n"' : ''}>${escapeHtml(v)}</${tag}>`).join('');
  const head = `<tr><th>Sink (forward mailbox)</th><th>Users</th>${cells(routes, 'th')}</tr>`;
  const body = sinks
    .map((sink) => {
      const counts = [sink.users, ...routes.map((route) => sink.byRoute[route] ?? 0)];
      return `<tr><td class="mono">${escapeHtml(sink.address)}</td>${cells(counts, 'td')}</tr>`;
    })
    .join('');
  return `<h2>Sinks</h2><table class="counts sinks"><thead>${head}</thead><tbody>${body}</tbody></table>`;
}
