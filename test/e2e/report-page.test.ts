import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { chromiumPath, launchChromium } from '../helpers/chromium.js';
import { startGraphWorld } from '../helpers/graph-world.js';

/**
 * Debian's chromium (installed by .ci/run); SINKRULE_CHROMIUM points elsewhere. A fresh clone on a
 * machine without it skips this test and says why.
 */
const skip = chromiumPath
  ? false
  : "no Chromium found (/usr/bin/chromium or SINKRULE_CHROMIUM): install Debian's chromium to run the report page test";

const estate: SimulatedMailbox[] = [
  ...Array.from({ length: 40 }, (_, i): SimulatedMailbox => ({
    email: `user${i}@contoso.com`,
    kind: 'exchange-online',
  })),
  ...Array.from({ length: 4 }, (_, i): SimulatedMailbox => ({
    email: `denied${i}@contoso.com`,
    kind: 'exchange-online',
    outOfScope: true,
  })),
];

/** Waits for the search (debounced) to apply; the page's CSP forbids Playwright's string evaluation. */
async function shown(page: import('playwright-core').Page, prefix: string): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 50) {
    if ((await page.textContent('#f-count'))?.startsWith(prefix)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`the count never showed "${prefix}…": ${await page.textContent('#f-count')}`);
}

describe('report.html in a browser (headless Chromium)', { skip }, () => {
  it(
    'filters by outcome and route, searches, sorts, works offline with no request, reads with scripts off, ' + 'prints',
    async () => {
      const world = await startGraphWorld(estate);
      // Playwright starts Chromium with a fresh temporary profile (user data dir) every launch.
      const browser = await launchChromium(chromiumPath!);
      try {
        const rows = [
          'email,displayName,target,server',
          ...estate.map((m) => `${m.email},,graph,`),
          'ben@contoso.com,Ben,pop3,pop.fabrikam.net',
          'patti@contoso.com,Patti,pop3,mail.contoso.local',
        ];
        await world.writeUsers(`${rows.join('\n')}\n`);
        const result = await world.run(['deploy', '--yes', '--report', 'r']);
        assert.equal(result.code, 2, result.stderr);
        const url = pathToFileURL(path.join(world.dir, 'r', 'report.html')).href;

        const page = await browser.newPage();
        const requests: string[] = [];
        const problems: string[] = [];
        page.on('request', (request) => requests.push(request.url()));
        page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
        page.on('pageerror', (error) => problems.push(error.message));
        await page.goto(url);
        const visible = () => page.locator('#mailboxes tbody tr:visible').count();
        assert.equal(await page.locator('#controls').isVisible(), true, 'the script ran (the CSP allows it by hash)');
        assert.equal(await visible(), 46);
        assert.equal(await page.textContent('#f-count'), '46 mailboxes');
        assert.equal(await page.locator('#f-all').isVisible(), false, 'one page holds them all');
        assert.ok((await page.locator('svg.chart rect').count()) >= 3, 'the chart has bars and a legend');
        assert.match((await page.locator('svg.chart').innerHTML()) ?? '', /graph: created 40/);

        await page.selectOption('#f-outcome', 'failed');
        assert.equal(await visible(), 4);
        assert.equal(
          await page
            .locator('#mailboxes tbody tr:visible td:nth-child(3)')
            .allTextContents()
            .then((t) => t.every((x) => x === 'failed')),
          true,
        );
        await page.selectOption('#f-outcome', '');
        await page.selectOption('#f-route', 'pop3');
        assert.equal(await visible(), 2);
        await page.selectOption('#f-route', '');
        await page.fill('#f-search', 'user17@contoso.com');
        await shown(page, '1 of 46');
        assert.equal(await visible(), 1);
        await page.fill('#f-search', '');
        await shown(page, '46 mailboxes');

        await page.click('#mailboxes thead th:nth-child(1)');
        assert.equal(await page.getAttribute('#mailboxes thead th:nth-child(1)', 'aria-sort'), 'ascending');
        const ascending = await page.locator('#mailboxes tbody tr td:nth-child(1) .mono').allTextContents();
        assert.deepEqual(
          ascending,
          [...ascending].sort((a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' })),
        );
        assert.equal(ascending[0], 'ben@contoso.com');
        await page.click('#mailboxes thead th:nth-child(1)');
        assert.equal(
          await page.locator('#mailboxes tbody tr td:nth-child(1) .mono').first().textContent(),
          'user39@contoso.com',
        );

        await page.selectOption('#f-outcome', 'failed');
        await page.emulateMedia({ media: 'print' });
        assert.equal(await page.locator('#controls').isVisible(), false, 'no controls on paper');
        assert.ok((await page.pdf({ format: 'A4', landscape: true })).length > 10_000, 'it prints');
        assert.equal(await visible(), 4, 'the selected rows, as on screen');

        assert.deepEqual(requests, [url], 'the page makes no request beyond itself');
        assert.deepEqual(problems, [], 'no script or CSP errors');

        const noScripts = await browser.newContext({ javaScriptEnabled: false });
        const plain = await noScripts.newPage();
        await plain.goto(url);
        assert.equal(
          await plain.locator('table.mailboxes tbody tr:visible').count(),
          46,
          'every row is readable with scripts off',
        );
        assert.equal(await plain.locator('#controls').isVisible(), false, 'controls that would not work are not shown');
        const first = await plain.locator('table.mailboxes tbody tr td:nth-child(3)').first().textContent();
        assert.equal(first, 'failed', 'failures first');
        await noScripts.close();
      } finally {
        await browser.close();
        await world.close();
      }
    },
  );

  it('shows many rows a page at a time; filters and sorting cover every row, not just the page', async () => {
    const many = Array.from({ length: 1200 }, (_, i): SimulatedMailbox => ({
      email: `user${i}@contoso.com`,
      kind: i % 300 === 0 ? 'on-premises' : 'exchange-online',
    }));
    const world = await startGraphWorld(many);
    const browser = await launchChromium(chromiumPath!);
    try {
      const result = await world.run(['verify', '--report', 'r']);
      assert.equal(result.code, 2, result.stderr);
      const page = await browser.newPage();
      await page.goto(pathToFileURL(path.join(world.dir, 'r', 'report.html')).href);
      const visible = () => page.locator('#mailboxes tbody tr:visible').count();
      assert.equal(await page.textContent('#f-count'), '1200 mailboxes; showing 1–500');
      assert.equal(await visible(), 500);
      await page.click('#f-next');
      assert.equal(await page.textContent('#f-count'), '1200 mailboxes; showing 501–1000');
      await page.click('#f-next');
      assert.equal(await visible(), 200);
      assert.equal(await page.isDisabled('#f-next'), true);
      await page.selectOption('#f-outcome', 'failed');
      assert.equal(await page.textContent('#f-count'), '4 of 1200 mailboxes match');
      await page.selectOption('#f-outcome', 'missing');
      await page.click('#mailboxes thead th:nth-child(1)');
      await page.click('#mailboxes thead th:nth-child(1)');
      assert.equal(
        await page.locator('#mailboxes tbody tr td:nth-child(1) .mono').first().textContent(),
        'user1199@contoso.com',
        'sorted over every row, descending',
      );
      await page.click('#f-all');
      assert.equal(await visible(), 1196);
    } finally {
      await browser.close();
      await world.close();
    }
  });
});
