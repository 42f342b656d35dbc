import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import graphClient from '@microsoft/microsoft-graph-client';
import authProviders from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js';
import type { TokenCredential } from '@azure/identity';
import { AccessError, MailboxError } from '../core/errors.js';
import { withRetry, type Clock, type RetryOptions } from '../core/retry.js';
import type { GraphConfig } from '../input/config.js';
import {
  emailActivityReport,
  mailboxUsageReport,
  readUsageReport,
  type EmailActivityRow,
  type MailboxUsageRow,
} from '../input/usage-report.js';
import { translateGraphError } from './graph.js';

const { Client, AuthenticationHandler, HTTPMessageHandler, TelemetryHandler, ResponseType } = graphClient;
const { TokenCredentialAuthenticationProvider } = authProviders;

export type ReportPeriod = 'D7' | 'D30' | 'D90' | 'D180';

/** What `capacity` reads from Graph; every call is a GET (capacity changes nothing). */
export interface CapacityGraph {
  /** `displayConcealedNames`, or why the setting could not be read. */
  reportSettings(): Promise<{ displayConcealedNames: boolean } | { unreadable: string }>;
  emailActivity(period: ReportPeriod): Promise<EmailActivityRow[]>;
  mailboxUsage(): Promise<MailboxUsageRow[]>;
  /** The sink's Inbox: its item count and its oldest message's receivedDateTime. */
  inbox(sink: string): Promise<{ totalItemCount: number; oldestReceivedDateTime?: string }>;
}

export interface CapacityGraphOptions {
  config: GraphConfig;
  credential: TokenCredential;
  clock: Clock;
  retry: Omit<RetryOptions, 'onRetry'>;
  /** A request with no answer after this long counts as a timeout. @default 120000 */
  requestTimeoutInMs?: number;
}

/** Why the report call failed with 403: Graph's answer names no permission (exchange-facts.md). */
const reportsPermissionFix =
  'Grant the app the Microsoft Graph application permission Reports.Read.All ' +
  '(Entra admin center → App registrations → API permissions → Add → Microsoft Graph → Application → ' +
  'Reports.Read.All, then Grant admin consent), or pass ' +
  '--volumes FILE with the email activity report exported from the Microsoft 365 admin center.';

/**
 * Microsoft 365 usage reports and the sinks' Inboxes through Graph v1.0. The report functions
 * answer `302 Found` with a short-lived pre-authenticated download URL ("reportRoot:
 * getEmailActivityUserDetail": it does "not require an Authorization header"): the redirect is
 * not followed by the client (Node's fetch would carry the bearer token along to a same-host
 * URL); the CSV is fetched without any credential.
 */
export function createCapacityGraph(options: CapacityGraphOptions): CapacityGraph {
  const { config, credential, clock } = options;
  const timeoutInMs = options.requestTimeoutInMs ?? 120_000;
  const auth = new AuthenticationHandler(
    new TokenCredentialAuthenticationProvider(credential, { scopes: [config.tokenScope] }),
  );
  const telemetry = new TelemetryHandler();
  auth.setNext(telemetry);
  telemetry.setNext(new HTTPMessageHandler()); // no RedirectHandler: the download goes without a token
  const client = Client.initWithMiddleware({
    baseUrl: `${config.baseUrl}/`,
    defaultVersion: 'v1.0',
    middleware: auth,
    customHosts: config.customEndpoints ? new Set([new URL(config.baseUrl).hostname]) : undefined,
  });
  const retried = <T>(task: () => Promise<T>) => withRetry(() => task(), options.retry);

  async function getJson<T>(path: string, operation: string): Promise<T> {
    return retried(async () => {
      const timeout = AbortSignal.timeout(timeoutInMs);
      try {
        return (await client
          .api(path)
          .options({ signal: timeout } as never)
          .get()) as T;
      } catch (error) {
        throw translateGraphError(error, operation, clock, timeout.aborted);
      }
    });
  }

  /** The report function's 302, then the CSV from its Location without our token. */
  async function report<T extends { upn: string }>(
    path: string,
    kind: Parameters<typeof readUsageReport<T>>[2],
  ): Promise<T[]> {
    const location = await retried(async () => {
      const timeout = AbortSignal.timeout(timeoutInMs);
      let response: Response;
      try {
        response = (await client
          .api(path)
          .responseType(ResponseType.RAW)
          .options({ signal: timeout, redirect: 'manual' } as never)
          .get()) as Response;
      } catch (error) {
        throw translateGraphError(error, `report ${path}`, clock, timeout.aborted);
      }
      if (response.status === 302 || response.status === 301 || response.status === 307) {
        const target = response.headers.get('location');
        await response.body?.cancel();
        if (target) return target;
      }
      throw await reportFailure(response, path, clock);
    });
    return retried(async () => {
      // Pre-authenticated: no Authorization header, by design (never Graph's token).
      const response = await fetch(location, { redirect: 'follow', signal: AbortSignal.timeout(timeoutInMs) });
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        throw new AccessError(`Graph ${path}: the report download answered HTTP ${response.status}`, {
          fix: 'Run again (the download link lives a few minutes); if it persists, pass --volumes FILE instead.',
        });
      }
      return readUsageReport(
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        `${kind.title} report from Graph`,
        kind,
      );
    });
  }

  return {
    async reportSettings() {
      try {
        const body = await getJson<Record<string, unknown>>('/admin/reportSettings', 'read report settings');
        // Live Graph answers the entity at the top level; the documentation's sample wraps it in `value`.
        const entity = (typeof body.value === 'object' && body.value ? body.value : body) as Record<string, unknown>;
        return { displayConcealedNames: entity.displayConcealedNames === true };
      } catch (error) {
        if (error instanceof MailboxError)
          return { unreadable: `${error.message} (grant ReportSettings.Read.All to read the setting)` };
        throw error;
      }
    },
    emailActivity: (period) => report(`/reports/getEmailActivityUserDetail(period='${period}')`, emailActivityReport),
    mailboxUsage: () => report(`/reports/getMailboxUsageDetail(period='D7')`, mailboxUsageReport),
    async inbox(sink) {
      const user = encodeURIComponent(sink);
      const folder = await getJson<{ totalItemCount?: number }>(
        `/users/${user}/mailFolders/inbox?$select=totalItemCount`,
        'read the sink Inbox',
      );
      const oldest = await getJson<{ value?: Array<{ receivedDateTime?: string }> }>(
        `/users/${user}/mailFolders/inbox/messages?$orderby=receivedDateTime asc&$top=1&$select=receivedDateTime`,
        'read the sink Inbox',
      );
      return {
        totalItemCount: folder.totalItemCount ?? 0,
        oldestReceivedDateTime: oldest.value?.[0]?.receivedDateTime,
      };
    },
  };
}

/** A report call that did not redirect: the permission (403 without naming it), or another failure. */
async function reportFailure(response: Response, path: string, clock: Clock): Promise<Error> {
  const text = await response.text().catch(() => '');
  let body: { error?: { code?: string; message?: string } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not JSON: the status says enough
  }
  const code = body.error?.code ?? `HTTP${response.status}`;
  const message = body.error?.message ?? (text.slice(0, 200) || `HTTP ${response.status}`);
  if (response.status === 403)
    return new AccessError(
      `Graph ${path}: ${code}: ${message.replace(/\s+/g, ' ')}: the app may not read Microsoft 365 usage reports`,
      { fix: reportsPermissionFix },
    );
  const translated = translateGraphError(
    { statusCode: response.status, code, message, headers: response.headers },
    `report ${path}`,
    clock,
  );
  if (translated instanceof MailboxError)
    return new AccessError(translated.message, {
      fix: 'Check graph.cloud and graph.baseUrl in the config, then run again.',
    });
  return translated;
}
