import { parseRetryAfter } from '../core/retry.js';
import type { ThrottleScope } from '../core/errors.js';
import type { WireWindows } from './paced-wire.js';

/**
 * Whom a Graph 429 (or a 503 with Retry-After) holds back: a 503 or a MailboxConcurrency 429
 * concerns its request's mailbox, any other 429 the whole app. One reading for the error
 * translation and for the wire thread, which stops sending the moment it sees an app-wide one.
 */
export function throttleScopeOf(status: number, message: string, retryAfter: string | null | undefined) {
  if (status !== 429 && !(status === 503 && retryAfter)) return undefined;
  return (status === 503 || /MailboxConcurrency/i.test(message) ? 'mailbox' : 'app') satisfies ThrottleScope;
}

type Headers = Record<string, string | string[] | undefined>;

/**
 * The windows a Graph answer opens: a 429 or 503 with Retry-After of its own, or of any item of a
 * JSON batch (json-batching.md: each item carries its own status and Retry-After, the batch itself
 * answers 200; items are numbered "1", "2", … in the order sent: `index` 0 is the first, or a
 * lone request).
 */
export function answerWindows(status: number, headers: Headers, body: string, now: number): WireWindows {
  const windows: WireWindows = { mailboxes: [] };
  const add = (index: number, itemStatus: number, itemHeaders: Headers, itemBody: unknown) => {
    const window = windowOf(itemStatus, itemHeaders, itemBody, now);
    if (window?.scope === 'app') windows.app = Math.max(windows.app ?? 0, window.until);
    else if (window) windows.mailboxes.push({ index, until: window.until });
  };
  if (status !== 200) add(0, status, headers, parse(body));
  // A batch answer: only worth parsing if some item was refused.
  else if (/"status"\s*:\s*(429|503)/.test(body)) {
    const items = (
      parse(body) as { responses?: Array<{ id?: string; status?: number; headers?: Headers; body?: unknown }> }
    )?.responses;
    for (const item of items ?? []) add(Number(item.id) - 1, item.status ?? 0, item.headers ?? {}, item.body);
  }
  return windows;
}

function windowOf(status: number, headers: Headers, body: unknown, now: number) {
  const header = (name: string) => {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    const value = key === undefined ? undefined : headers[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const message = (body as { error?: { message?: string } } | undefined)?.error?.message ?? '';
  const scope = throttleScopeOf(status, message, header('retry-after'));
  const waitInMs = scope && parseRetryAfter(header, now);
  return scope && waitInMs ? { scope, until: now + waitInMs } : undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
