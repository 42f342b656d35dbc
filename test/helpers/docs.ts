import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { marked, type Token, type Tokens } from 'marked';
import { packageRoot } from '../../src/paths.js';

/**
 * The handbook as a reader meets it: README.md and every page under docs/, parsed as Markdown
 * (marked, the library the report's handbook page uses), so that links, headings and code blocks
 * are found as GitHub renders them, not by line patterns that code blocks would fool.
 */
export interface DocPage {
  /** Path from the package root, with forward slashes (README.md, docs/reference/config.md). */
  file: string;
  tokens: Token[];
  /** Line number (1-based) where each token starts, for messages an editor can follow. */
  lineOf: Map<Token, number>;
}

export function docPages(): DocPage[] {
  return ['README.md', ...markdownUnder('docs')].map((file) =>
    parsePage(file, readFileSync(path.join(packageRoot, file), 'utf8')),
  );
}

export function parsePage(file: string, text: string): DocPage {
  const tokens = marked.lexer(text);
  const lineOf = new Map<Token, number>();
  let line = 1;
  for (const token of tokens) {
    lineOf.set(token, line);
    line += (token.raw.match(/\n/g) ?? []).length;
  }
  return { file, tokens, lineOf };
}

function markdownUnder(dir: string): string[] {
  return readdirSync(path.join(packageRoot, dir), { withFileTypes: true })
    .flatMap((entry) =>
      entry.isDirectory()
        ? markdownUnder(`${dir}/${entry.name}`)
        : entry.name.endsWith('.md')
          ? [`${dir}/${entry.name}`]
          : [],
    )
    .sort();
}

/** Every link target on the page, with the line of the block it sits in. */
export function linksOf(page: DocPage): Array<{ href: string; line: number }> {
  const links: Array<{ href: string; line: number }> = [];
  for (const block of page.tokens) {
    marked.walkTokens([block], (token) => {
      if (token.type === 'link' || token.type === 'image')
        links.push({ href: (token as Tokens.Link).href, line: page.lineOf.get(block)! });
    });
  }
  return links;
}

/**
 * Every relative link of the pages that does not resolve, as `file:line: link: why`: the file
 * must exist beside the page, and an `#anchor` must be a heading of the page it points into.
 * Links to the web (https:, mailto:) are not followed: the tests run offline.
 */
export function brokenLinks(pages: DocPage[], exists: (file: string) => boolean): string[] {
  const byFile = new Map(pages.map((page) => [page.file, page]));
  const problems: string[] = [];
  for (const page of pages) {
    for (const { href, line } of linksOf(page)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue;
      const [target = '', anchor] = href.split('#');
      const file =
        target === '' ? page.file : path.posix.normalize(path.posix.join(path.posix.dirname(page.file), target));
      const where = `${page.file}:${line}: ${href}`;
      if (file.startsWith('..') || !exists(file)) problems.push(`${where}: ${file} does not exist`);
      else if (anchor !== undefined && file.endsWith('.md')) {
        const linked = byFile.get(file);
        if (!linked) problems.push(`${where}: ${file} is not a page of the handbook`);
        else if (!anchorsOf(linked).has(decodeURIComponent(anchor)))
          problems.push(`${where}: ${file} has no heading with the anchor #${anchor}`);
      }
    }
  }
  return problems;
}

/**
 * The anchors GitHub gives the page's headings: the heading's text as rendered (code spans and
 * links reduced to their text), lower-cased, every character that is not a letter, digit, space,
 * hyphen or underscore dropped, each space a hyphen; a repeated slug gets -1, -2, …
 */
export function anchorsOf(page: DocPage): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  marked.walkTokens(page.tokens, (token) => {
    if (token.type !== 'heading') return;
    const base = slug(plainText((token as Tokens.Heading).tokens));
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  });
  return anchors;
}

export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

function plainText(tokens: Token[]): string {
  return tokens
    .map((token) => {
      const nested = (token as { tokens?: Token[] }).tokens;
      if (nested) return plainText(nested);
      return token.type === 'codespan' ? (token as Tokens.Codespan).text : decodeEntities(token.raw);
    })
    .join('')
    .trim();
}

function decodeEntities(text: string): string {
  return text
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"');
}

/** The marker a reader sees in the source and the docs test reads: the next ```sh block runs offline, as shown. */
export const offlineMarker = '<!-- offline -->';

export interface ShellBlock {
  file: string;
  /** Line of the opening fence. */
  line: number;
  /** Marked `<!-- offline -->`: needs no Microsoft service; the docs test runs every line. */
  offline: boolean;
  commands: Array<{ text: string; line: number }>;
}

/** Every fenced ```sh block, each non-empty line a command. */
export function shellBlocks(page: DocPage): ShellBlock[] {
  const blocks: ShellBlock[] = [];
  page.tokens.forEach((token, i) => {
    if (token.type !== 'code' || (token as Tokens.Code).lang !== 'sh') return;
    const previous = page.tokens.slice(0, i).findLast((t) => t.type !== 'space');
    const line = page.lineOf.get(token)!;
    blocks.push({
      file: page.file,
      line,
      offline: previous?.type === 'html' && previous.raw.trim() === offlineMarker,
      commands: (token as Tokens.Code).text
        .split('\n')
        .map((text, j) => ({ text: text.trim(), line: line + 1 + j }))
        .filter((command) => command.text !== '' && !command.text.startsWith('#')),
    });
  });
  return blocks;
}

/** The exit code a command's trailing comment promises (`# exit 1: …`), else 0. */
export function expectedExitCode(command: string): number {
  const promised = /#.*?\bexit (\d+)\b/.exec(command);
  return promised ? Number(promised[1]) : 0;
}
