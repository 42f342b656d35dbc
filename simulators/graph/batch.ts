import { errorReply, parseJsonBody, type Reply, type ServiceRequest } from './replies.js';
import type { GraphSimulatorStats } from './stats.js';

/**
 * JSON batching, built from Microsoft Graph "Combine multiple requests in one HTTP call using JSON
 * batching" (json-batching.md) and exchange-facts.md ("JSON batching"): at most 20 requests with
 * unique ids, each evaluated on its own (throttling included: a 429 item carries its own
 * Retry-After), at most 4 run at once, the outer status 200; a request whose dependsOn failed gets 424.
 */

interface BatchItem {
  id: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  dependsOn?: string[];
}

export interface BatchContext {
  stats: GraphSimulatorStats;
  /** One Graph request, as if it had arrived alone at `arrivedAt`. */
  execute: (request: ServiceRequest, arrivedAt: number) => Promise<Reply>;
  /** Counts a reply the batch makes itself (a failed dependency). */
  count: (reply: Reply) => Reply;
}

export async function batch(
  bodyText: string,
  roles: string[],
  clientRequestId: string,
  arrivedAt: number,
  context: BatchContext,
): Promise<Reply> {
  const parsed = parseJsonBody(bodyText, 'application/json');
  const requests = 'body' in parsed ? (parsed.body as { requests?: unknown } | undefined)?.requests : undefined;
  if (!Array.isArray(requests)) return errorReply(400, 'BadRequest', 'Invalid batch payload format.', clientRequestId);
  if (requests.length > 20)
    return errorReply(
      400,
      'BadRequest',
      'Limit of requests in batch exceeded. Maximum number of requests allowed in one batch is 20.',
      clientRequestId,
    );
  const items = requests as BatchItem[];
  const ids = new Set(items.map((item) => item.id));
  if (
    ids.size !== items.length ||
    items.some((item) => typeof item.id !== 'string' || typeof item.url !== 'string' || typeof item.method !== 'string')
  ) {
    return errorReply(
      400,
      'BadRequest',
      'Invalid batch payload format: every request needs a unique id, a method and a url.',
      clientRequestId,
    );
  }
  if (
    items.some(
      (item) =>
        item.body !== undefined &&
        !Object.entries(item.headers ?? {}).some(
          ([k, v]) => k.toLowerCase() === 'content-type' && String(v).includes('application/json'),
        ),
    )
  ) {
    return errorReply(400, 'BadRequest', 'Content-Type header is required for requests with a body.', clientRequestId);
  }
  context.stats.batches++;
  // Items reach Outlook when the batch arrived, later groups of 4 as the earlier ones finish.
  const lagInMs = Date.now() - arrivedAt;
  const results = new Map<string, Reply>();
  const run = async (item: BatchItem) => {
    const failedDependency = (item.dependsOn ?? []).some((id) => (results.get(id)?.status ?? 424) >= 400);
    const path = `/${item.url.replace(/^\/+/, '').replace(/^v1\.0\//i, '')}`;
    const reply = failedDependency
      ? context.count(errorReply(424, 'FailedDependency', 'A request this one depends on failed.', clientRequestId))
      : await context.execute(
          { method: item.method.toUpperCase(), path, body: item.body, roles, clientRequestId },
          Date.now() - lagInMs,
        );
    results.set(item.id, reply);
  };
  const independent = items.filter((item) => !item.dependsOn?.length);
  const dependent = items.filter((item) => item.dependsOn?.length);
  // Outlook runs 4 at a time.
  for (let i = 0; i < independent.length; i += 4) await Promise.all(independent.slice(i, i + 4).map(run));
  for (const item of dependent) await run(item);
  const responses = items.map((item) => {
    const reply = results.get(item.id)!;
    return {
      id: item.id,
      status: reply.status,
      headers: { 'Content-Type': 'application/json', ...reply.headers },
      body: reply.body,
    };
  });
  return { status: 200, headers: {}, body: { responses } };
}
