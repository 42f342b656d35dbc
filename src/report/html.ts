import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { MailboxOutcome } from '../core/outcome.js';
import { nonCompliantOutcomes } from '../core/outcome.js';
import { describeForwarding, summarizeRule, type MailboxRule } from '../core/rule.js';
import { templatesDir } from '../paths.js';
import { escapeHtml, fillHtmlTemplate } from './html-template.js';
import type { ForwardMailboxRecord, RunInfo } from './run-info.js';
import { sinksTable, type SinkSummary } from './sinks.js';

/** Mailboxes per route and outcome. */
export type OutcomeCounts = Map<string, Map<string, number>>;

/**
 * The report page around its rows: self-contained (no external resource; the Content Security
 * Policy allows only the page's own style and its one script, by hash), readable with scripts
 * off, and printable. The script adds filters by outcome and route, a search box and sortable
 * columns.
 */
export async function renderReportPage(
  run: RunInfo,
  counts: OutcomeCounts,
  links: Array<{ href: string; label: string }>,
  sinks: readonly SinkSummary[] = [],
): Promise<{ head: string; tail: string }> {
  const title = `sinkrule ${run.command}${run.dryRun ? ' (dry run)' : ''}: ${run.mailboxes} mailboxes`;
  const script = await readFile(path.join(templatesDir, 'report.js'), 'utf8');
  const page = await fillHtmlTemplate('report.html', {
    title: escapeHtml(title),
    scriptHash: `sha256-${createHash('sha256').update(script).digest('base64')}`,
    script,
    subtitle: escapeHtml(
      `Started ${run.startedAt}, finished ${run.finishedAt}. Exit code ` +
        `${run.exitCode}.${run.stoppedBy ? ` Stopped early: ${run.stoppedBy}` : ''}`,
    ),
    links: links.length
      ? `<ul>${links.map((l) => `<li><a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a></li>`).join('')}</ul>`
      : '',
    chart: chartSvg(counts),
    summary: summaryTable(counts),
    sinks: sinksTable(sinks),
    run: runList(run),
    controls: controls(counts),
    colgroup,
    total: String(run.mailboxes),
    version: escapeHtml(run.toolVersion),
  });
  const [head, tail] = page.split('<!--rows-->');
  return { head: head!, tail: tail! };
}

const palette: Record<string, string> = {
  failed: '#c50f1f',
  conflict: '#e3008c',
  missing: '#da3b01',
  drifted: '#f7630c',
  disabled: '#ff8c00',
  duplicate: '#ca5010',
  'would-create': '#ffb900',
  'would-update': '#eaa300',
  'would-remove': '#c19c00',
  'would-restore': '#d4b106',
  created: '#107c10',
  updated: '#498205',
  removed: '#0b6a0b',
  restored: '#038387',
  unchanged: '#8cbd18',
  ok: '#13a10e',
  absent: '#9ad29a',
  manual: '#4f6bed',
  'confirmed-manually': '#8da2f7',
};

/** Stacked horizontal bars, one per route, one segment per outcome; numbers written out too. */
function chartSvg(counts: OutcomeCounts): string {
  const routes = [...counts.keys()].sort();
  const outcomes = [...new Set(routes.flatMap((route) => [...counts.get(route)!.keys()]))].sort(
    (a, b) => severity(a) - severity(b) || a.localeCompare(b),
  );
  const max = Math.max(1, ...routes.map((route) => [...counts.get(route)!.values()].reduce((a, b) => a + b, 0)));
  const width = 640;
  const barWidth = 440;
  const row = 30;
  const bars = routes.map((route, i) => {
    let x = 90;
    const y = 10 + i * row;
    const segments = outcomes.map((outcome) => {
      const n = counts.get(route)!.get(outcome) ?? 0;
      if (!n) return '';
      const w = Math.max(1, (n / max) * barWidth);
      const segment =
        `<rect x="${x.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="20" ` +
        `fill="${palette[outcome] ?? '#777'}"><title>${escapeHtml(`${route}: ${outcome} ${n}`)}</title></rect>`;
      x += w;
      return segment;
    });
    const total = [...counts.get(route)!.values()].reduce((a, b) => a + b, 0);
    return (
      `<text x="0" y="${y + 15}">${escapeHtml(route)}</text>${segments.join('')}<text ` +
      `x="${(x + 6).toFixed(1)}" y="${y + 15}">${total}</text>`
    );
  });
  const legendY = 20 + routes.length * row;
  const legend = outcomes.map((outcome, i) => {
    const x = (i % 4) * 160;
    const y = legendY + Math.floor(i / 4) * 20;
    return (
      `<rect x="${x}" y="${y}" width="12" height="12" fill="${palette[outcome] ?? '#777'}"/><text ` +
      `x="${x + 16}" y="${y + 11}">${escapeHtml(outcome)}</text>`
    );
  });
  const height = legendY + Math.ceil(outcomes.length / 4) * 20 + 10;
  return (
    `<svg class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 ${width} ${height}" ` +
    `width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">Mailboxes ` +
    `by route and outcome</title><g font-size="12" font-family="system-ui, ` +
    `sans-serif">${bars.join('')}${legend.join('')}</g></svg>`
  );
}

/** The chart's numbers as a table: outcomes down, routes across. */
function summaryTable(counts: OutcomeCounts): string {
  const routes = [...counts.keys()].sort();
  const outcomes = [...new Set(routes.flatMap((route) => [...counts.get(route)!.keys()]))].sort();
  const head = `<tr><th>Outcome</th>${routes.map((r) => `<th>${escapeHtml(r)}</th>`).join('')}<th>All</th></tr>`;
  const body = outcomes
    .map((outcome) => {
      const cells = routes.map((route) => counts.get(route)!.get(outcome) ?? 0);
      const total = cells.reduce((a, b) => a + b, 0);
      const numbers = cells.map((n) => `<td class="n">${n}</td>`).join('');
      const name = `<td>${escapeHtml(outcome)}</td>`;
      return `<tr class="${rowClass(outcome)}">${name}${numbers}<td class="n">${total}</td></tr>`;
    })
    .join('');
  return `<table class="counts"><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

function controls(counts: OutcomeCounts): string {
  const routes = [...counts.keys()].sort();
  const outcomes = [...new Set(routes.flatMap((route) => [...counts.get(route)!.keys()]))].sort();
  const options = (values: string[]) =>
    values.map((v) => `<option value="${escapeHtml(v)}">${escapeHtml(v)}</option>`).join('');
  return (
    `<label>Outcome <select id="f-outcome"><option value="">all</option>${options(outcomes)}</select></label> ` +
    `<label>Route <select id="f-route"><option value="">all</option>${options(routes)}</select></label> ` +
    `<label>Search <input id="f-search" type="search" placeholder="address, name, rule id, error…"></label> ` +
    `<span id="f-count" class="note" aria-live="polite"></span> ` +
    `<button type="button" id="f-previous">Previous</button> <button type="button" id="f-next">Next</button> ` +
    `<button type="button" id="f-all">Show all</button>`
  );
}

function runList(run: RunInfo): string {
  const identity = run.identity;
  const entries: Array<[string, unknown]> = [
    ['Command', `${run.command}${run.dryRun ? ' --dry-run' : ''}`],
    ['Command line', identity.commandLine.join(' ')],
    ['Operator', `${identity.operator.user} on ${identity.operator.host}`],
    ['Tool version', run.toolVersion],
    ['Config', `${identity.config.file} (SHA-256 ${identity.config.sha256})`],
    ...Object.entries(identity.signedIn).map(([target, app]): [string, unknown] => [
      `Signed in (${target}, from the token)`,
      `tenant ${app.tenantId ?? '?'}, app ${app.appDisplayName ?? '?'} (${app.appId ?? '?'}), roles: ` +
        `${app.roles.join(', ') || 'none'}`,
    ]),
    ['Sink (forward mailbox)', run.sinks.join(', ')],
    ['Rule name', run.ruleName],
    ['Rule template', `${run.template.file} (SHA-256 ${run.template.sha256})`],
    inputEntry(run),
    ...(run.forwardMailbox ? [forwardMailboxEntry(run.forwardMailbox)] : []),
    ...Object.entries(run.backEnds).map(([name, facts]): [string, unknown] => [
      `Back end ${name}`,
      Object.entries(facts)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', '),
    ]),
    ...(run.journal
      ? [
          ['Journal', `${run.journal.file}: ${run.journal.entries} entries, last SHA-256 ${run.journal.lastHash}`] as [
            string,
            unknown,
          ],
        ]
      : []),
    ...(run.resumed?.length ? [['Resumed', run.resumed.join(', ')] as [string, unknown]] : []),
    ['Started', run.startedAt],
    ['Finished', run.finishedAt],
  ];
  const items = entries.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd class="mono">${escapeHtml(v)}</dd>`);
  return `<dl class="run">${items.join('')}</dl>`;
}

function inputEntry(run: RunInfo): [string, unknown] {
  const input = run.input;
  if (input.source === 'file') return ['Users file', `${input.file} (SHA-256 ${input.sha256}, ${input.rows} rows)`];
  return [
    'Dynamics 365 (Dataverse)',
    `${input.url}/api/data/v9.2/mailboxes, $filter ${input.filter}: ${input.rows} rows read (SHA-256 of the ` +
      `rows ${input.sha256})`,
  ];
}

function forwardMailboxEntry(record: ForwardMailboxRecord): [string, unknown] {
  const facts = [
    `${record.name} <${record.address}>`,
    `state ${record.state}`,
    `incoming email status ${record.incomingEmailStatus}`,
    `Mailbox Test Completed On ${record.testCompletedOn ?? 'never'}`,
    `outgoing email ${record.outgoingEmailDeliveryMethod}`,
    ...record.warnings.map((warning) => `WARNING: ${warning}`),
  ];
  return ['Forward mailbox record (Dynamics 365)', facts.join('; ')];
}

const colgroup =
  '<colgroup><col style="width:14%"><col style="width:6%"><col style="width:8%"><col style="width:13%"><col ' +
  'style="width:13%"><col style="width:18%"><col style="width:13%"><col style="width:15%"></colgroup>';

/** Rows per table of report.html's row section (see the page's style: each is laid out only near the screen). */
export const rowsPerChunk = 500;
export const chunkStart = `<div class="chunk"><table class="mailboxes">${colgroup}<tbody>\n`;
export const chunkEnd = '</tbody></table></div>\n';

/** Failures first, then mailboxes not compliant or in conflict, then pending, then the rest. */
export function severity(outcome: string): 0 | 1 | 2 | 3 {
  if (outcome === 'failed') return 0;
  if (nonCompliantOutcomes.has(outcome as never)) return 1;
  if (outcome.startsWith('would-') || outcome === 'manual') return 2;
  return 3;
}

/**
 * One mailbox as a table row, on one line (the writer counts rows by lines: a line break in a
 * service's message becomes a character reference); data-o / data-r carry the outcome and route
 * for the filters.
 */
export function rowHtml(o: MailboxOutcome): string {
  return `${rowCells(o).replace(/\r?\n|\r/g, '&#10;')}\n`;
}

function rowCells(o: MailboxOutcome): string {
  const shownOutcome = o.probe?.outcome === 'probe-failure' && o.outcome !== 'failed' ? o.probe.outcome : o.outcome;
  const error = o.error
    ? `<code>${escapeHtml(o.error.code)}</code> ${escapeHtml(o.error.message)}${list([...o.error.details])}` +
      `<br><em>Fix:</em> ${escapeHtml(o.error.fix)}`
    : '';
  return (
    `<tr class="${rowClass(shownOutcome)}" data-o="${escapeHtml(o.outcome)}" data-r="${escapeHtml(o.target)}">` +
    `<td><span class="mono">${escapeHtml(o.email)}</span>` +
    `${o.displayName ? `<br>${escapeHtml(o.displayName)}` : ''}</td>` +
    `<td>${escapeHtml(o.target)}${o.canary ? '<br><strong>canary</strong>' : ''}</td>` +
    `<td><strong>${escapeHtml(o.outcome)}</strong>${probeCell(o)}</td>` +
    `<td>${ruleCell(o.before)}</td><td>${ruleCell(o.after)}</td>` +
    `<td>${list([...o.changes, ...o.drift.map((d) => `drift: ${d}`), ...o.notes])}</td>` +
    `<td>${list(o.otherForwardingRules.map(describeForwarding))}</td>` +
    `<td>${error}</td></tr>`
  );
}

/** The live probe's verdict, when it is not already the row's outcome, and when the test completed. */
function probeCell(o: MailboxOutcome): string {
  const probe = o.probe;
  if (!probe) return '';
  const verdict = probe.outcome === o.outcome ? '' : `<br><strong>${escapeHtml(probe.outcome)}</strong>`;
  const reason = probe.reason
    ? ` ${escapeHtml(probe.reason)}${probe.ndrStatus ? ` ${escapeHtml(probe.ndrStatus)}` : ''}`
    : '';
  return (
    `${verdict}${reason}<br><span class="note">test completed ${escapeHtml(probe.completedAt)}</span><br><span ` +
    `class="note">${escapeHtml(probe.detail)}</span>`
  );
}

function ruleCell(rules: MailboxRule[] | null): string {
  if (rules === null) return '<span class="note">unknown</span>';
  if (rules.length === 0) return '<span class="note">none</span>';
  const rule = summarizeRule(rules[0]!);
  const more = rules.length > 1 ? `<br><span class="note">+ ${rules.length - 1} more</span>` : '';
  return (
    `${rule.enabled ? 'enabled' : '<strong>disabled</strong>'} <span class="mono ` +
    `note">${escapeHtml(rule.id)}</span><br>→ ` +
    `${escapeHtml(rule.forwardAsAttachmentTo.join(', ') || '(nothing)')}` +
    `${rule.exceptions ? `<br><span class="note">except: ${escapeHtml(rule.exceptions)}</span>` : ''}${more}`
  );
}

function list(items: string[]): string {
  return items.length ? `<ul class="plain">${items.map((i) => `<li>${escapeHtml(i)}</li>`).join('')}</ul>` : '';
}

function rowClass(outcome: string): string {
  if (outcome === 'failed' || outcome === 'conflict') return 'bad';
  if (nonCompliantOutcomes.has(outcome as never) || outcome.startsWith('would-')) return 'warn';
  if (outcome === 'manual' || outcome === 'confirmed-manually' || outcome === 'probe-not-run') return 'manual';
  return 'good';
}
