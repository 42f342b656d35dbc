import type { MailboxOutcome } from '../core/outcome.js';
import { nonCompliantOutcomes } from '../core/outcome.js';
import { describeForwarding, type RuleSummary } from '../core/rule.js';
import { escapeHtml, fillHtmlTemplate } from './html-template.js';
import type { RunInfo } from './run-info.js';

/** The self-contained report page: no scripts, no external resources, prints on paper. */
export async function renderReportHtml(run: RunInfo, rows: MailboxOutcome[], leftOut: number, links: Array<{ href: string; label: string }>): Promise<string> {
  const title = `sinkrule ${run.command}${run.dryRun ? ' (dry run)' : ''}: ${run.mailboxes} mailboxes`;
  return fillHtmlTemplate('report.html', {
    title: escapeHtml(title),
    subtitle: escapeHtml(`Started ${run.startedAt}, finished ${run.finishedAt}. Exit code ${run.exitCode}.${run.stoppedBy ? ` Stopped early: ${run.stoppedBy}` : ''}`),
    links: links.length ? `<ul>${links.map((l) => `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a></li>`).join('')}</ul>` : '',
    summary: summaryTable(run),
    run: runList(run),
    rows: rowsTable(rows, leftOut),
    version: escapeHtml(run.toolVersion),
  });
}

function summaryTable(run: RunInfo): string {
  const rows = Object.entries(run.counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, count]) => `<tr class="${rowClass(name)}"><td>${escapeHtml(name)}</td><td class="n">${count}</td></tr>`)
    .join('');
  return `<table class="counts"><thead><tr><th>Outcome</th><th>Mailboxes</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function runList(run: RunInfo): string {
  const entries: Array<[string, unknown]> = [
    ['Command', `${run.command}${run.dryRun ? ' --dry-run' : ''}`],
    ['Tool version', run.toolVersion],
    ['Sink (forward mailbox)', run.sinks.join(', ')],
    ['Rule name', run.ruleName],
    ['Rule template', `${run.template.file} (SHA-256 ${run.template.sha256})`],
    ['Users file', `${run.input.file} (SHA-256 ${run.input.sha256}, ${run.input.rows} rows)`],
    ...Object.entries(run.backEnds).map(([name, facts]): [string, unknown] => [`Back end ${name}`, Object.entries(facts).map(([k, v]) => `${k}: ${v}`).join(', ')]),
    ['Started', run.startedAt],
    ['Finished', run.finishedAt],
  ];
  return `<dl class="run">${entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd class="mono">${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

/** Failures first, then mailboxes not compliant or pending, then the rest; by address within each. */
function severity(outcome: string): number {
  if (outcome === 'failed') return 0;
  if (nonCompliantOutcomes.has(outcome as never)) return 1;
  if (outcome.startsWith('would-') || outcome === 'manual') return 2;
  return 3;
}

function rowsTable(unsorted: MailboxOutcome[], leftOut: number): string {
  const rank = (o: MailboxOutcome) => Math.min(severity(o.outcome), o.probe ? severity(o.probe.outcome) : 3);
  const rows = [...unsorted].sort((a, b) => rank(a) - rank(b) || a.email.localeCompare(b.email));
  const head = '<tr><th>Mailbox</th><th>Route</th><th>Outcome</th><th>sinkrule rule before</th><th>after</th><th>Changes / drift</th><th>Other forwarding rules</th><th>Error and fix</th></tr>';
  const body = rows
    .map(
      (o) =>
        `<tr class="${rowClass(o.probe?.outcome === 'probe-failure' && o.outcome !== 'failed' ? o.probe.outcome : o.outcome)}"><td><span class="mono">${escapeHtml(o.email)}</span><br>${escapeHtml(o.displayName)}</td>` +
        `<td>${escapeHtml(o.target)}${o.canary ? '<br><strong>canary</strong>' : ''}</td><td><strong>${escapeHtml(o.outcome)}</strong><br><span class="note">${o.attempts} attempt(s), ${o.durationInMs} ms</span>${probeCell(o)}</td>` +
        `<td>${ruleCell(o.before)}</td><td>${ruleCell(o.after)}</td>` +
        `<td>${list([...o.changes, ...o.drift.map((d) => `drift: ${d}`), ...o.notes])}</td>` +
        `<td>${list(o.otherForwardingRules.map(describeForwarding))}</td>` +
        `<td>${o.error ? `<code>${escapeHtml(o.error.code)}</code> ${escapeHtml(o.error.message)}${list([...o.error.details])}<br><em>Fix:</em> ${escapeHtml(o.error.fix)}` : ''}</td></tr>`,
    )
    .join('');
  const colgroup = '<colgroup><col style="width:14%"><col style="width:6%"><col style="width:9%"><col style="width:13%"><col style="width:13%"><col style="width:17%"><col style="width:13%"><col style="width:15%"></colgroup>';
  const more = leftOut > 0 ? `<p class="note">${leftOut} more mailboxes are in report.csv and report.json.</p>` : '';
  return `<table class="mailboxes">${colgroup}<thead>${head}</thead><tbody>${body}</tbody></table>${more}`;
}

/** The live probe's verdict, when it is not already the row's outcome, and when the test completed. */
function probeCell(o: MailboxOutcome): string {
  const probe = o.probe;
  if (!probe) return '';
  const verdict = probe.outcome === o.outcome ? '' : `<br><strong>${escapeHtml(probe.outcome)}</strong>`;
  const reason = probe.reason ? ` ${escapeHtml(probe.reason)}${probe.ndrStatus ? ` ${escapeHtml(probe.ndrStatus)}` : ''}` : '';
  return `${verdict}${reason}<br><span class="note">test completed ${escapeHtml(probe.completedAt)}</span><br><span class="note">${escapeHtml(probe.detail)}</span>`;
}

function ruleCell(rule: RuleSummary | null): string {
  if (!rule) return '<span class="note">none</span>';
  return `${rule.enabled ? 'enabled' : '<strong>disabled</strong>'}${rule.id ? ` <span class="mono note">${escapeHtml(rule.id)}</span>` : ''}<br>→ ${escapeHtml(rule.forwardAsAttachmentTo.join(', ') || '(nothing)')}${rule.exceptions ? `<br><span class="note">except: ${escapeHtml(rule.exceptions)}</span>` : ''}`;
}

function list(items: string[]): string {
  return items.length ? `<ul class="plain">${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>` : '';
}

function rowClass(outcome: string): string {
  if (outcome === 'failed') return 'bad';
  if (nonCompliantOutcomes.has(outcome as never) || outcome.startsWith('would-')) return 'warn';
  if (outcome === 'manual' || outcome === 'confirmed-manually' || outcome === 'probe-not-run') return 'manual';
  return 'good';
}
