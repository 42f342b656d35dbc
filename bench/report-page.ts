/**
 * npm run bench:report [-- --mailboxes N]
 *
 * The evidence at scale: writes a report folder of N mailboxes (default 100,000; a realistic mix of
 * outcomes and routes, full before/after rules) through the real report writer and journal (one
 * fdatasync'd entry per mailbox, as a run does), then times `sinkrule audit verify` on it (the built
 * CLI, a separate process) and, when Debian's chromium is installed, report.html in headless
 * Chromium: load, filter by outcome, search, sort. Prints one table.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { emptyOutcome, type MailboxOutcome, type OutcomeName } from '../src/core/outcome.js';
import type { MailboxRule } from '../src/core/rule.js';
import { Journal } from '../src/report/journal.js';
import { ReportWriter } from '../src/report/report-writer.js';
import { syntheticRun } from '../test/helpers/synthetic-report.js';
import { chromiumPath, launchChromium } from '../test/helpers/chromium.js';
import { runCli } from '../test/helpers/cli.js';

/** The page's globals used by the timing code Playwright runs in the browser (no DOM types in this Node project). */
interface PageElement {
  value: string;
  dispatchEvent(event: Event): boolean;
  click(): void;
}
declare const document: {
  getElementById(id: string): PageElement;
  querySelector(selector: string): PageElement;
  body: { offsetHeight: number };
};
declare const requestAnimationFrame: (callback: () => void) => number;

const { values } = parseArgs({ options: { mailboxes: { type: 'string', default: '100000' } } });
const count = Number(values.mailboxes);
const sink = 'crm-sink@contoso.com';

const rule = (id: string, address: string, enabled = true): MailboxRule => ({
  id,
  displayName: 'Dynamics 365 forward mailbox (sinkrule)',
  sequence: 1,
  isEnabled: enabled,
  conditions: {},
  actions: {
    forwardAsAttachmentTo: [{ emailAddress: { address, name: 'Dynamics 365 forward mailbox' } }],
    stopProcessingRules: false,
  },
  exceptions: { fromAddresses: [{ emailAddress: { address } }], isNonDeliveryReport: true, isReadReceipt: true },
  isReadOnly: false,
  hasError: false,
});

/** 90 % created, 5 % updated, 2 % unchanged, 2 % failed, 1 % manual (pop3). */
function outcomeFor(i: number): MailboxOutcome {
  const email = `user${i}@contoso.com`;
  const o = emptyOutcome({
    email,
    displayName: `User ${i}`,
    target: i % 100 === 99 ? 'pop3' : 'graph',
    sink,
    line: i + 2,
  });
  const id = `AQMkAD${i.toString(36).padStart(8, '0')}=`;
  const kind: OutcomeName =
    i % 100 === 99
      ? 'manual'
      : i % 50 === 7
        ? 'failed'
        : i % 20 === 3
          ? 'updated'
          : i % 50 === 11
            ? 'unchanged'
            : 'created';
  o.outcome = kind;
  o.attempts = 1;
  o.durationInMs = 40 + (i % 60);
  if (kind === 'failed') {
    o.error = {
      code: 'ErrorAccessDenied',
      message: 'Access is denied. Check credentials and try again.',
      fix: 'Grant MailboxSettings.ReadWrite or add the mailbox to the RBAC scope.',
      details: [],
    };
    return o;
  }
  if (kind === 'manual') {
    o.changes = ['create the rule by hand (see the instructions)'];
    return o;
  }
  o.before =
    kind === 'created' ? [] : [rule(id, kind === 'updated' ? 'old-sink@contoso.com' : sink, kind !== 'updated')];
  o.after = [rule(id, sink)];
  o.ruleIds = [id];
  o.changes =
    kind === 'created'
      ? ['create rule "Dynamics 365 forward mailbox (sinkrule)"']
      : kind === 'updated'
        ? [`update rule ${id} (isEnabled: false → true)`]
        : [];
  return o;
}

const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-bench-report-'));
try {
  const started = performance.now();
  const journal = await Journal.open(dir, Date.now);
  const writer = await ReportWriter.open(dir, { journal });
  const counts: Partial<Record<OutcomeName, number>> = {};
  // As a run does: up to 256 mailboxes finishing at once, each waiting for its journal entry on disk.
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < count; i++) {
    const outcome = outcomeFor(i);
    counts[outcome.outcome] = (counts[outcome.outcome] ?? 0) + 1;
    const done = writer.add(outcome).finally(() => inFlight.delete(done));
    inFlight.add(done);
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await journal.append({ type: 'end', counts: counts as Record<string, number>, exitCode: 2, stoppedBy: null });
  await journal.close();
  const run = syntheticRun(count, {
    command: 'deploy',
    sink,
    counts,
    exitCode: 2,
    journal: { file: 'journal.jsonl', entries: journal.entries, lastHash: journal.lastHash },
  });
  const closeStarted = performance.now();
  await writer.close(run);
  const closeInS = (performance.now() - closeStarted) / 1000;
  const writeInS = (performance.now() - started) / 1000;
  const size = async (file: string) => Math.round((await stat(path.join(dir, file))).size / 1048576);

  const auditStarted = performance.now();
  const audit = await runCli(['audit', 'verify', dir]);
  const auditInS = (performance.now() - auditStarted) / 1000;

  const figures: Array<[string, string]> = [
    ['mailboxes', String(count)],
    ["write report + journal (s), one fdatasync'd entry per mailbox", writeInS.toFixed(1)],
    ['of which closing the report after the last mailbox (s): report.json, report.html', closeInS.toFixed(2)],
    [
      'report.html / report.json / report.csv / journal.jsonl (MB)',
      `${await size('report.html')} / ${await size('report.json')} / ${await size('report.csv')} / ` +
        `${await size('journal.jsonl')}`,
    ],
    ['sinkrule audit verify (s, exit code)', `${auditInS.toFixed(1)} (exit ${audit.code})`],
  ];
  if (chromiumPath)
    figures.push(...(await browserFigures(chromiumPath, pathToFileURL(path.join(dir, 'report.html')).href)));
  else figures.push(['report.html in Chromium', 'skipped: no chromium']);
  process.stdout.write(`| figure | value |\n| --- | --- |\n${figures.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

async function browserFigures(executablePath: string, url: string): Promise<Array<[string, string]>> {
  const browser = await launchChromium(executablePath);
  try {
    // The bench measures inside the page (the page's own CSP would refuse the timing code).
    const page = await browser.newPage({ bypassCSP: true, viewport: { width: 1400, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const t0 = performance.now();
    await page.goto(url, { timeout: 600_000, waitUntil: 'load' });
    const loaded = (performance.now() - t0) / 1000;
    // Each action as a user triggers it, timed until the page has laid itself out again.
    const timed = (action: string) =>
      page.evaluate((what: string) => {
        const started = performance.now();
        const d = document;
        const fire = (id: string, value: string, type: string) => {
          const element = d.getElementById(id);
          element.value = value;
          element.dispatchEvent(new Event(type));
        };
        if (what === 'filter') fire('f-outcome', 'failed', 'change');
        if (what === 'unfilter') fire('f-outcome', '', 'change');
        if (what === 'search') fire('f-search', 'user77@contoso.com', 'input');
        if (what === 'sort') d.querySelector('#mailboxes thead th').click();
        void d.body.offsetHeight; // forces style and layout
        return new Promise<number>((resolve) =>
          requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - started))),
        );
      }, action);
    const filter = await timed('filter');
    const shown = await page.textContent('#f-count');
    const unfilter = await timed('unfilter');
    const sort = await timed('sort');
    await timed('search');
    await page.locator('#f-count').filter({ hasText: /^1 of/ }).waitFor({ timeout: 600_000 });
    const search = await page.evaluate(() => {
      const started = performance.now();
      const input = document.getElementById('f-search');
      input.value = 'user78@contoso.com';
      input.dispatchEvent(new Event('input'));
      return new Promise<number>((resolve) =>
        setTimeout(() => requestAnimationFrame(() => resolve(performance.now() - started - 150)), 160),
      );
    });
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const t1 = performance.now();
    await (await plain.newPage()).goto(url, { timeout: 600_000, waitUntil: 'load' });
    const loadedPlain = (performance.now() - t1) / 1000;
    await plain.close();
    return [
      ['Chromium: load report.html (navigation until the load event, s)', loaded.toFixed(1)],
      ['Chromium, scripts off: load report.html (s)', loadedPlain.toFixed(1)],
      [
        `Chromium: filter outcome=failed (${shown}) / back to all (ms)`,
        `${Math.round(filter)} / ${Math.round(unfilter)}`,
      ],
      ['Chromium: sort by mailbox (ms)', String(Math.round(sort))],
      ['Chromium: search, after the first one built the text index (ms, debounce aside)', String(Math.round(search))],
      ['Chromium: requests other than the page', String(requests.filter((r) => r !== url).length)],
    ];
  } finally {
    await browser.close();
  }
}
