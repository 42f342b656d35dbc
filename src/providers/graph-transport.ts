import type { Context, Middleware } from '@microsoft/microsoft-graph-client';
import { Agent, interceptors, request, type Dispatcher } from 'undici';

/** Statuses whose answer has no body (a Response refuses one). */
const nullBodyStatuses = new Set([204, 205, 304]);

/**
 * The last link of the Graph client's middleware chain, in place of its HTTPMessageHandler: the
 * request goes out through undici's `request` instead of `fetch`, with the same method, headers,
 * body, signal and redirects, and comes back as the Response the client reads.
 *
 * Why: fetch wraps every call in WHATWG streams and abort events. Measured on this machine against
 * a local HTTPS server (5,000 GETs, 16 at a time), the client spent about 0.35 ms of CPU per call
 * more through fetch than through `request` plus a Response. A 10,000-mailbox deploy at 500 req/s
 * makes 10,000 such calls, on the thread whose timers release the requests at their pace: the
 * CPU it saves is jitter the service's burst allowance no longer has to absorb.
 */
export class GraphHttpHandler implements Middleware {
  constructor(private readonly dispatcher: Dispatcher = graphDispatcher()) {}

  async execute(context: Context): Promise<void> {
    const { request: target, options = {} } = context;
    // Only strings are sent by sinkrule; anything else (a Request, a stream body) keeps fetch.
    if (typeof target !== 'string' || (options.body != null && typeof options.body !== 'string')) {
      context.response = await fetch(target, options);
      return;
    }
    const answer = await request(target, {
      method: (options.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: plainHeaders(options.headers),
      body: (options.body as string | null | undefined) ?? undefined,
      signal: options.signal ?? undefined,
      dispatcher: this.dispatcher,
    });
    const text = await answer.body.text();
    context.response = new Response(nullBodyStatuses.has(answer.statusCode) ? null : text, {
      status: answer.statusCode,
      headers: responseHeaders(answer.headers),
    });
  }
}

/**
 * Keep-alive connections, redirects followed as fetch follows them (undici drops Authorization
 * when a redirect leaves the origin). `ca`: a CA to trust besides the system's (tests).
 */
export function graphDispatcher(ca?: string): Dispatcher {
  return new Agent(ca ? { connect: { ca } } : {}).compose(interceptors.redirect({ maxRedirections: 20 }));
}

function plainHeaders(init: unknown): Record<string, string> {
  if (!init) return {};
  const headers = init as Headers | Array<[string, string]> | Record<string, string | number>;
  const entries =
    headers instanceof Headers ? [...headers.entries()] : Array.isArray(headers) ? headers : Object.entries(headers);
  return Object.fromEntries(entries.map(([name, value]) => [name, String(value)]));
}

function responseHeaders(headers: Record<string, string | string[] | undefined>): Headers {
  const result = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const one of value) result.append(name, one);
    else if (value !== undefined) result.set(name, value);
  }
  return result;
}
