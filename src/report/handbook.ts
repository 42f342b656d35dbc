import { escapeHtml, fillHtmlTemplate } from './html-template.js';

export interface HandbookEntry {
  email: string;
  displayName: string;
  server: string;
  outcome: string;
  confirmed?: string;
  /** Markdown whose row values are already HTML-escaped. */
  markdownForHtml: string;
  file: string;
}

/**
 * manual-instructions.html: every manual mailbox's instructions in one self-contained page,
 * grouped by mail server, with a table of contents; one mailbox per printed page.
 */
export async function renderHandbook(entries: HandbookEntry[], command: string): Promise<string> {
  const { marked } = await import('marked'); // only runs that have manual mailboxes need it
  const markdownToHtml = (markdown: string) => marked.parse(markdown, { async: false, gfm: true });
  const byServer = new Map<string, HandbookEntry[]>();
  for (const entry of [...entries].sort((a, b) => a.server.localeCompare(b.server) || a.email.localeCompare(b.email))) {
    byServer.set(entry.server, [...(byServer.get(entry.server) ?? []), entry]);
  }
  const anchor = (email: string) => `m-${email.replace(/[^A-Za-z0-9]/g, '-')}`;
  const toc = [...byServer]
    .map(
      ([server, list]) =>
        `<h3>${escapeHtml(server)}</h3><ul class="toc">` +
        list
          .map((e) => `<li><a href="#${anchor(e.email)}">${escapeHtml(e.email)}</a> (${escapeHtml(e.outcome)})</li>`)
          .join('') +
        '</ul>',
    )
    .join('');
  const content = [...byServer]
    .map(
      ([server, list]) =>
        `<h2 class="server">${escapeHtml(server)}</h2>` +
        list
          .map(
            (e) =>
              `<section class="mailbox" id="${anchor(e.email)}"><p class="status">${escapeHtml(e.email)}: ` +
              `${escapeHtml(e.outcome)}${e.confirmed ? ` (confirmed ${escapeHtml(e.confirmed)})` : ''} · <a ` +
              `href="${escapeHtml(e.file)}">${escapeHtml(e.file)}</a></p>` +
              `${markdownToHtml(e.markdownForHtml)}</section>`,
          )
          .join(''),
    )
    .join('');
  return fillHtmlTemplate('manual-instructions.html', {
    title: escapeHtml(`Manual ${command === 'remove' ? 'removal ' : ''}instructions: ${entries.length} mailboxes`),
    intro: escapeHtml(
      'These mailboxes are on servers no API reaches. Follow each procedure, then record the date and your ' +
        'name in the confirmed column of the users file.',
    ),
    toc,
    content,
  });
}
