import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/paths.js';
import { anchorsOf, brokenLinks, docPages, linksOf, parsePage, slug } from '../helpers/docs.js';

const inPackage = (file: string) => existsSync(path.join(packageRoot, file));

/** The handbook holds together: a short front page, and every relative link and anchor leads somewhere. */
describe('docs: README and docs/ links', () => {
  it('the README is a front page of at most 250 lines, opening with the two commands', () => {
    const readme = readFileSync(path.join(packageRoot, 'README.md'), 'utf8');
    const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
    assert.ok(lines <= 250, `README.md has ${lines} lines`);
    assert.match(readme, /^# sinkrule\n\n```sh\nnpm install && npm run demo {3}#[^\n]*\nnpm test {22}#[^\n]*\n```\n/);
  });

  it('every relative link in README.md and docs/ resolves, anchors included', () => {
    const pages = docPages();
    const links = pages.flatMap((page) => linksOf(page).map((link) => ({ ...link, page: page.file })));
    const relative = links.filter((link) => !/^[a-z][a-z0-9+.-]*:/i.test(link.href));
    assert.ok(pages.length >= 15 && relative.length >= 100, `${pages.length} pages, ${relative.length} links`);
    assert.deepEqual(brokenLinks(pages, inPackage), []);
  });

  it('every page under docs/ is linked from the README or from another page', () => {
    const pages = docPages();
    const linked = new Set(
      pages.flatMap((page) =>
        linksOf(page).map((link) =>
          path.posix.normalize(path.posix.join(path.posix.dirname(page.file), link.href.split('#')[0]!)),
        ),
      ),
    );
    assert.deepEqual(
      pages.map((page) => page.file).filter((file) => file !== 'README.md' && !linked.has(file)),
      [],
    );
  });

  it('finds what is broken: a missing file, a missing anchor, a link out of the package', () => {
    const pages = [
      parsePage(
        'docs/a.md',
        '# Page A\n\n## Signing in: graph.auth\n\n[ok](#signing-in-graphauth) [b](b.md#second-part)\n\n' +
          '[gone](missing.md) [nowhere](#nope) [up](../../etc/passwd) [web](https://example.com/x.md)\n',
      ),
      parsePage('docs/b.md', '# B\n\n## Second part\n'),
    ];
    const exists = (file: string) => ['docs/a.md', 'docs/b.md'].includes(file);
    assert.deepEqual(brokenLinks(pages, exists), [
      'docs/a.md:7: missing.md: docs/missing.md does not exist',
      'docs/a.md:7: #nope: docs/a.md has no heading with the anchor #nope',
      'docs/a.md:7: ../../etc/passwd: ../etc/passwd does not exist',
    ]);
  });

  it("makes anchors as GitHub does (the old README's working anchors as examples)", () => {
    assert.equal(slug('Signing in: graph.auth'), 'signing-in-graphauth');
    assert.equal(slug('Dynamics 365 as the source (--from-dataverse)'), 'dynamics-365-as-the-source---from-dataverse');
    assert.equal(
      slug('Proving the rule works: preflight, probe, canary waves'),
      'proving-the-rule-works-preflight-probe-canary-waves',
    );
    const page = parsePage('x.md', '# `sinkrule` setup\n\n## Notes\n\n## Notes\n\n## A [link](y.md) here\n');
    assert.deepEqual([...anchorsOf(page)], ['sinkrule-setup', 'notes', 'notes-1', 'a-link-here']);
  });
});
