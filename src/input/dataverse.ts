import { AccessError, InputError, MailboxError, ThrottledError, TransientError } from '../core/errors.js';
import { parseRetryAfter, withRetry, type Clock, type RetryOptions } from '../core/retry.js';
import type { DataverseConfig } from './config.js';
import type { ThrottleGate } from '../core/throttle-gate.js';

/** The Web API version sinkrule reads (the `mailbox` table's entity set is `mailboxes`). */
export const dataverseApiPath = '/api/data/v9.2';

/**
 * An access token for a scope; a failure is an AccessError saying how to fix the credential. The
 * caller supplies it, so reading the mailboxes never depends on how sinkrule signs in.
 */
export type TokenSource = (scope: string, signal?: AbortSignal) => Promise<string>;

export interface DataverseReaderOptions {
  config: DataverseConfig;
  configFile: string;
  /** Dataverse's tokens (built by the caller: auth/graph-credential.ts, dataverseTokens). */
  token: TokenSource;
  retry: Omit<RetryOptions, 'signal' | 'onRetry'>;
  clock: Clock;
  /** A page with no answer after this long is retried. @default 120000 (Dataverse's own limit) */
  requestTimeoutInMs?: number;
  onRetry?: (error: unknown, delayInMs: number) => void;
  /**
   * Paces every request and holds them all while a 429's Retry-After window is open (migrate's
   * parallel writes); without it requests go one page at a time and each retry waits on its own.
   */
  gate?: ThrottleGate;
}

export interface DataverseQuery {
  entitySet: string;
  select: readonly string[];
  filter: string;
}

/** A row as the Web API returns it: column values plus `<column>@OData.Community.Display.V1.FormattedValue` labels. */
export type DataverseRow = Record<string, unknown>;

const formattedValue = '@OData.Community.Display.V1.FormattedValue';
/** Choice labels come back only when asked for (the Prefer header's include-annotations). */
export const annotations = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"';

/** The label Dataverse sent for a choice column, or its number when it sent none. */
export function labelOf(row: DataverseRow, column: string): string {
  const label = row[`${column}${formattedValue}`];
  return typeof label === 'string' ? label : String(row[column] ?? '');
}

/**
 * Reads Dataverse Web API collections with server-driven paging (`Prefer: odata.maxpagesize`,
 * following `@odata.nextLink` as given). Rows are yielded page by page and the next page is only
 * requested when the consumer has taken the last row of the one before (back-pressure). Each page
 * request goes through the one retry helper: 429 service-protection errors wait Retry-After.
 */
export class DataverseReader {
  readonly url: string;
  private readonly scope: string;

  constructor(private readonly options: DataverseReaderOptions) {
    this.url = options.config.url;
    // Dataverse's resource (the token's audience) is the organisation URL.
    this.scope = `${new URL(this.url).origin}/.default`;
  }

  /** One token before anything is read, so a wrong secret stops the run at once. */
  async open(signal?: AbortSignal): Promise<void> {
    await this.token(signal);
  }

  async *query(query: DataverseQuery, signal?: AbortSignal): AsyncGenerator<DataverseRow> {
    const params = new URLSearchParams({ $select: query.select.join(','), $filter: query.filter });
    let next: string | undefined =
      `${this.url}${dataverseApiPath}/${query.entitySet}?${params.toString().replace(/\+/g, '%20')}`;
    while (next) {
      const url: string = next;
      const page = await withRetry(() => this.getPage(url, signal), {
        ...this.options.retry,
        signal,
        onRetry: (error, _attempt, delay) => this.options.onRetry?.(error, delay),
      });
      yield* page.value;
      next = page['@odata.nextLink'];
      // The token goes with the next request: only ever to the organisation itself.
      if (next && new URL(next).origin !== new URL(this.url).origin)
        throw new AccessError(
          `Dataverse sent a next-page link to another host (${new URL(next).origin}); sinkrule sends its ` +
            `token only to ${this.url}`,
        );
    }
  }

  private token(signal?: AbortSignal): Promise<string> {
    return this.options.token(this.scope, signal);
  }

  private async getPage(
    url: string,
    signal?: AbortSignal,
  ): Promise<{ value: DataverseRow[]; '@odata.nextLink'?: string }> {
    const prefer = `odata.maxpagesize=${this.options.config.pageSize},${annotations}`;
    return (await this.send('GET', url, { prefer }, signal)).body as { value: DataverseRow[] };
  }

  /**
   * One Web API request with the token, the OData headers and the error translation every read has
   * (no retry: callers wrap it in withRetry). Answers the parsed body (undefined for 204) and headers.
   */
  async send(
    method: 'GET' | 'PATCH',
    url: string,
    request: { prefer?: string; ifMatch?: string; body?: unknown },
    signal?: AbortSignal,
  ): Promise<{ body: unknown; headers: Headers }> {
    const gate = this.options.gate;
    // Dataverse's limits are per user (the app): the gate's key only bounds requests in flight per record.
    const key = /\(([^)]*)\)/.exec(new URL(url).pathname)?.[1] ?? 'query';
    return gate
      ? gate.send(key, () => this.sendNow(method, url, request, signal), signal)
      : this.sendNow(method, url, request, signal);
  }

  private async sendNow(
    method: 'GET' | 'PATCH',
    url: string,
    request: { prefer?: string; ifMatch?: string; body?: unknown },
    signal?: AbortSignal,
  ): Promise<{ body: unknown; headers: Headers }> {
    const token = await this.token(signal);
    const timeout = AbortSignal.timeout(this.options.requestTimeoutInMs ?? 120_000);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          Accept: 'application/json',
          'OData-MaxVersion': '4.0',
          'OData-Version': '4.0',
          ...(request.prefer ? { Prefer: request.prefer } : {}),
          ...(request.ifMatch ? { 'If-Match': request.ifMatch } : {}),
          ...(request.body === undefined ? {} : { 'Content-Type': 'application/json' }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      const cause = describeCause(error);
      if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(cause))
        throw new AccessError(`Cannot trust Dataverse's certificate at ${this.url} (${cause}): check dataverse.url`, {
          cause: error,
        });
      throw new TransientError(
        `Dataverse did not answer (${timeout.aborted ? 'timeout' : cause})`,
        timeout.aborted ? 'Timeout' : 'NetworkError',
        { cause: error },
      );
    }
    const text = await response.text();
    if (response.ok) return { body: text ? JSON.parse(text) : undefined, headers: response.headers };
    throw this.translate(response, text);
  }

  /** Dataverse's answer, turned into the one decision sinkrule makes about it. */
  private translate(response: Response, text: string): Error {
    const { code, message } = odataError(text);
    const said = `${response.status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`;
    if (response.status === 429) {
      // Service protection (0x80072322 requests, 0x80072321 execution time, 0x80072326 concurrency): per user, so
      // app-wide.
      return new ThrottledError(
        `Dataverse service protection limit (${said})`,
        parseRetryAfter((name) => response.headers.get(name), this.options.clock()),
        'app',
        code || 'TooManyRequests',
      );
    }
    if (response.status === 401) {
      const challenge = response.headers.get('www-authenticate') ?? '';
      return new AccessError(
        `Dataverse rejected the token (${said}${challenge ? `; ${challenge}` : ''}). Check that ` +
          `dataverse.url (${this.url}) is the organisation URL exactly: the token is issued for that resource.`,
      );
    }
    if (response.status === 403) {
      const access = /prvWrite/i.test(message)
        ? 'update Mailbox records (organisation-level Write on Mailbox)'
        : 'read Mailbox records (organisation-level Read on Mailbox)';
      return new AccessError(
        `Dataverse refused access (${said}). The app ${this.options.config.clientId} must be a Dataverse ` +
          'application user (Power Platform admin center → Environments → Settings → Users + permissions → ' +
          `Application users) with a security role that can ${access}.`,
      );
    }
    if (response.status === 412) {
      // Perform conditional operations: the record changed since it was read (If-Match); never retried blindly.
      return new MailboxError(
        'RecordChanged',
        `The mailbox record was changed in Dynamics 365 since sinkrule read it (${said})`,
        'Look at the mailbox record in Dynamics 365, then run again: sinkrule reads it afresh and decides ' +
          'from what it holds now.',
      );
    }
    if (response.status === 404 && code === '0x80040217') {
      return new MailboxError(
        'RecordNotFound',
        `Dynamics 365 has no such record any more (${said})`,
        'The mailbox record was deleted: nothing to do for it; check the users file or Dynamics 365.',
      );
    }
    if (response.status === 404) {
      return new InputError([
        `${this.options.configFile}: dataverse.url: ${this.url} has no Dataverse Web API ${dataverseApiPath} ` +
          `(${said}): use the organisation URL, e.g. https://contoso.crm.dynamics.com`,
      ]);
    }
    if (response.status >= 500)
      return new TransientError(`Dataverse answered ${said}`, code || `Http${response.status}`);
    // Any other 4xx is a query this version of sinkrule got wrong: no retry helps.
    return new AccessError(`Dataverse refused sinkrule's query (${said}): report this as a sinkrule bug.`);
  }
}

function odataError(text: string): { code: string; message: string } {
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    return {
      code: typeof error?.code === 'string' ? error.code : '',
      message: typeof error?.message === 'string' ? error.message : '',
    };
  } catch {
    return { code: '', message: text.slice(0, 200) };
  }
}

function describeCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}
