import { parseRetryAfter } from '../core/retry.js';
import type { ThrottleScope } from '../core/errors.js';

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
 * The end (epoch ms) of the app-wide window a Graph answer opens, if it opens one: a 429 of its
 * own, or of any item of a JSON batch (json-batching.md: each item carries its own status and
 * Retry-After; the batch itself answers 200).
 */
export function appWindowEnd(status: number, headers: Headers, body: string, now: number): number | undefined {
  if (status === 429) return windowOf(status, headers, parse(body), now);
  // A batch answer: only worth parsing if some item was refused.
  if (status !== 200 || !/"status"\s*:\s*429/.test(body)) return undefined;
  const items = (parse(body) as { responses?: Array<{ status?: number; headers?: Headers; body?: unknown }> })
    ?.responses;
  let end: number | undefined;
  for (const item of items ?? []) {
    const until = item.status === 429 ? windowOf(429, item.headers ?? {}, item.body, now) : undefined;
    if (until !== undefined) end = Math.max(end ?? until, until);
  }
  return end;
}

function windowOf(status: number, headers: Headers, body: unknown, now: number): number | undefined {
  const header = (name: string) => {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    const value = key === undefined ? undefined : headers[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const message = (body as { error?: { message?: string } } | undefined)?.error?.message ?? '';
  if (throttleScopeOf(status, message, header('retry-after')) !== 'app') return undefined;
  const waitInMs = parseRetryAfter(header, now);
  return waitInMs ? now + waitInMs : undefined;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
