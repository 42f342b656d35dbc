import { TransientError } from '../core/errors.js';
import { NotSentError, type PacedSlot } from '../core/throttle-gate.js';

export interface BatchItemRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Relative to the version root, e.g. /users/a%40contoso.com/mailFolders/inbox/messageRules. */
  url: string;
  body?: unknown;
}

export interface BatchItemResponse {
  status: number;
  headers: Record<string, string>;
  // JSON as Graph returned it; translateGraphError and the callers read the fields they know.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body?: any;
}

/**
 * Posts one JSON batch at its slot (the first item's; the gap is all items' together); rejects
 * when the batch as a whole fails.
 */
export type PostBatch = (
  requests: object[],
  slot: PacedSlot & { mailboxes: string[] },
) => Promise<{ responses?: Array<{ id: string; status: number; headers?: Record<string, string>; body?: unknown }> }>;

/** Graph's limit per batch. */
export const maxBatchItems = 20;
/** Graph runs at most this many requests for one mailbox at once. */
const maxItemsPerMailbox = 4;

/**
 * Gathers the requests that concurrent workers send within a few milliseconds into Graph JSON
 * batches ($batch): one HTTP round trip and one TLS write for up to `batchSize` requests. Each
 * request keeps its own answer: a failed or throttled item (with its own Retry-After) is
 * retried alone by the worker that sent it; a batch that fails as a whole fails all its items.
 */
export class GraphBatcher {
  private queue: Array<{
    mailbox: string;
    request: BatchItemRequest;
    slot: PacedSlot;
    resolve: (r: BatchItemResponse) => void;
    reject: (e: unknown) => void;
  }> = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly post: PostBatch,
    private readonly batchSize: number,
    /** Until when the service has the back end paused (the gate's window): nothing goes out before. */
    private readonly pausedUntil: () => number,
    private readonly clock: () => number,
    /** How long the first request of a batch waits for company. @default 3 */
    private readonly lingerInMs = 3,
  ) {}

  send(mailbox: string, request: BatchItemRequest, slot: PacedSlot): Promise<BatchItemResponse> {
    return new Promise((resolve, reject) => {
      this.queue.push({ mailbox: mailbox.toLowerCase(), request, slot, resolve, reject });
      if (this.queue.length >= this.batchSize) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.lingerInMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Requests the gate let through just before a 429 opened a window must not go out inside it:
    // they go back to the gate, which paces them again after it (held here, they would all leave
    // at its end, on top of the gate's new pace).
    const until = this.pausedUntil();
    if (until > this.clock())
      this.queue = this.queue.filter((item) => {
        if (item.slot.sendAt >= until) return true; // released for after the window: the wire holds it
        item.reject(new NotSentError(until));
        return false;
      });
    const items = this.take();
    if (this.queue.length > 0)
      this.timer = setTimeout(() => this.flush(), this.queue.length >= this.batchSize ? 0 : this.lingerInMs);
    if (items.length === 0) return;
    const requests = items.map(({ request }, i) => ({
      id: String(i + 1),
      method: request.method,
      url: request.url,
      ...(request.body === undefined ? {} : { headers: { 'Content-Type': 'application/json' }, body: request.body }),
    }));
    const slot: PacedSlot & { mailboxes: string[] } = {
      sendAt: items[0]!.slot.sendAt,
      gapInMs: items.reduce((sum, item) => sum + item.slot.gapInMs, 0),
      mailboxes: items.map((item) => item.mailbox),
    };
    // Made up as one request (answered or refused as a whole), its items were too.
    const passMadeUp = () => {
      if (slot.madeUp) for (const item of items) item.slot.madeUp = true;
    };
    this.post(requests, slot).then(
      ({ responses = [] }) => {
        passMadeUp();
        const byId = new Map(responses.map((response) => [response.id, response]));
        items.forEach((item, i) => {
          const response = byId.get(String(i + 1));
          if (response)
            item.resolve({
              status: response.status,
              headers: lowerCaseKeys(response.headers ?? {}),
              body: response.body,
            });
          else
            item.reject(
              new TransientError('Graph $batch: no answer for this request in the batch', 'BatchItemMissing'),
            );
        });
      },
      (error: unknown) => {
        passMadeUp();
        items.forEach((item) => item.reject(error));
      },
    );
  }

  /**
   * The next batch: in arrival order, at most 4 requests for any one mailbox, with slots no more
   * than the linger apart (a batch leaves at its first item's slot: the service meters its items
   * together, and released ahead after a pause, a batch could otherwise gather many intervals' worth).
   */
  private take(): typeof this.queue {
    const taken: typeof this.queue = [];
    const perMailbox = new Map<string, number>();
    this.queue = this.queue.filter((item) => {
      const count = perMailbox.get(item.mailbox) ?? 0;
      const tooLate = taken.length > 0 && item.slot.sendAt > taken[0]!.slot.sendAt + this.lingerInMs;
      if (taken.length >= this.batchSize || count >= maxItemsPerMailbox || tooLate) return true;
      perMailbox.set(item.mailbox, count + 1);
      taken.push(item);
      return false;
    });
    return taken;
  }
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
