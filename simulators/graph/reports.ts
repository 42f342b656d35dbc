import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Microsoft 365 usage reports and their tenant setting, as Graph v1.0 documents and serves them:
 * - "reportRoot: getEmailActivityUserDetail" and "reportRoot: getMailboxUsageDetail"
 *   (microsoft-graph-docs-contrib api-reference/v1.0/api/reportroot-*.md): application permission
 *   Reports.Read.All; `period` D7, D30, D90 or D180; the answer is `302 Found` with a `Location`
 *   to a "preauthenticated download URL" that is "only valid for a short period of time (a few
 *   minutes)" and does "not require an Authorization header"; the download is a CSV
 *   (`application/octet-stream`, UTF-8 with a byte order mark) with the columns those pages list.
 * - shared/notes/exchange-facts.md "Usage reports": without Reports.Read.All the service answers
 *   403 `UnknownError` whose message holds `S2SUnauthorized` / "Invalid permission." (it names no
 *   permission); a mailbox that is not in Exchange Online (on-premises users of a hybrid tenant)
 *   has no row, nor, in the email activity report, an unlicensed shared mailbox; the reports are
 *   for the global service only (not US Government L4/L5 nor China: "global-only" include).
 * - "Get adminReportSettings" / "Update adminReportSettings": ReportSettings.Read.All (or
 *   .ReadWrite.All) to read, .ReadWrite.All to PATCH (204); live Graph answers the entity at the
 *   top level (the page's sample wraps it in `value`: exchange-facts.md). When
 *   `displayConcealedNames` is true every report shows hashes instead of names (32 hex digits).
 *   Tenants conceal names by default, so the simulator does too.
 */

/** A user's mail as the service counted it: received per working day and per weekend day. */
export interface SimulatedActivity {
  upn: string;
  displayName?: string;
  receivedPerWorkingDay: number;
  /** @default a tenth of a working day's */
  receivedPerWeekendDay?: number;
}

/** A mailbox's size as the mailbox usage report shows it. */
export interface SimulatedMailboxUsage {
  upn: string;
  storageUsedBytes: number;
  itemCount: number;
  /** @default 50 GB (a shared mailbox without a licence; Exchange Online "Storage limits") */
  prohibitSendReceiveQuotaBytes?: number;
}

export interface UsageReportsOptions {
  /** The last day the reports cover (Report Refresh Date), YYYY-MM-DD. @default yesterday (UTC) */
  refreshDate?: string;
  activity?: SimulatedActivity[];
  mailboxUsage?: SimulatedMailboxUsage[];
  /** @default true: Microsoft conceals names in usage reports by default. */
  displayConcealedNames?: boolean;
  /** Global service only: a national cloud's Graph has no reportRoot functions. */
  available?: boolean;
}

/** Which kind of mailbox an address is (from the Graph simulator's directory). */
export type KindOf = (upn: string) => 'exchange-online' | 'on-premises' | 'unlicensed' | undefined;

interface ReportReply {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}
type Fail = (status: number, code: string, message: string) => ReportReply;

const gb = 1024 ** 3;
const downloadPath = '/reports-download/';
/** "a few minutes" */
const downloadLifetimeInMs = 5 * 60_000;
const dayInMs = 86_400_000;
const periods: Readonly<Record<string, number>> = { D7: 7, D30: 30, D90: 90, D180: 180 };
const readRoles = ['Reports.Read.All'];

export const isReportPath = (path: string) => /^\/(reports\/|admin\/reportSettings\/?$)/i.test(path);

export class UsageReports {
  private readonly downloads = new Map<string, { csv: string; expires: number }>();
  private readonly salt = randomBytes(8).toString('hex');
  displayConcealedNames: boolean;

  constructor(
    private readonly options: UsageReportsOptions,
    private readonly kindOf: KindOf,
    private readonly baseUrl: () => string,
  ) {
    this.displayConcealedNames = options.displayConcealedNames ?? true;
  }

  /** A report function or the report settings (below /v1.0). */
  route(method: string, path: string, roles: readonly string[], body: unknown, fail: Fail): ReportReply {
    if (/^\/admin\/reportSettings\/?$/i.test(path)) return this.settings(method, roles, body, fail);
    const match = /^\/reports\/(getEmailActivityUserDetail|getMailboxUsageDetail)\((.*)\)$/i.exec(
      decodeURIComponent(path),
    );
    if (!match || this.options.available === false)
      return fail(400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop()}'.`);
    if (method !== 'GET') return fail(405, 'MethodNotAllowed', `The HTTP method '${method}' is not allowed.`);
    if (!roles.some((role) => readRoles.includes(role)))
      return fail(
        403,
        'UnknownError',
        JSON.stringify({ error: { code: 'S2SUnauthorized', message: 'Invalid permission.' } }),
      );
    const period = /^period='(D7|D30|D90|D180)'$/.exec(match[2]!)?.[1];
    if (!period)
      return fail(400, 'BadRequest', `Invalid period: '${match[2]}'. Supported values are D7, D30, D90 and D180.`);
    const csv = /EmailActivity/i.test(match[1]!)
      ? this.emailActivityCsv(periods[period]!)
      : this.mailboxUsageCsv(periods[period]!);
    const token = randomBytes(18).toString('base64url');
    this.downloads.set(token, { csv, expires: Date.now() + downloadLifetimeInMs });
    return {
      status: 302,
      headers: { 'Content-Type': 'text/plain', Location: `${this.baseUrl()}${downloadPath}${token}` },
    };
  }

  /**
   * The pre-authenticated download. It needs no Authorization header, and a client that sends
   * one carries Graph's bearer token to a URL that must not see it: refused here, so a client
   * that leaks its token fails its tests (storage hosts behind such URLs refuse a second
   * credential: Cyberduck #15829 saw Graph download URLs answer 403 to a request with a bearer token).
   */
  async handleDownload(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (!pathname.startsWith(downloadPath)) return false;
    const download = this.downloads.get(pathname.slice(downloadPath.length));
    if (req.headers.authorization) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('The download URL is pre-authenticated: send it without an Authorization header.');
    } else if (!download || download.expires < Date.now()) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('The download URL has expired: request the report again.');
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(`\uFEFF${download.csv}`);
    }
    return true;
  }

  private settings(method: string, roles: readonly string[], body: unknown, fail: Fail): ReportReply {
    const canWrite = roles.includes('ReportSettings.ReadWrite.All');
    if (method === 'GET') {
      if (!canWrite && !roles.includes('ReportSettings.Read.All'))
        return fail(
          403,
          'UnknownError',
          JSON.stringify({ error: { code: 'S2SUnauthorized', message: 'Invalid permission.' } }),
        );
      return {
        status: 200,
        headers: {},
        body: {
          '@odata.context': `${this.baseUrl()}/v1.0/$metadata#admin/reportSettings/$entity`,
          '@odata.type': '#microsoft.graph.adminReportSettings',
          displayConcealedNames: this.displayConcealedNames,
        },
      };
    }
    if (method !== 'PATCH') return fail(405, 'MethodNotAllowed', `The HTTP method '${method}' is not allowed.`);
    if (!canWrite)
      return fail(
        403,
        'UnknownError',
        JSON.stringify({ error: { code: 'S2SUnauthorized', message: 'Invalid permission.' } }),
      );
    const value = (body as { displayConcealedNames?: unknown } | undefined)?.displayConcealedNames;
    if (typeof value !== 'boolean') return fail(400, 'BadRequest', 'displayConcealedNames must be a boolean.');
    this.displayConcealedNames = value;
    return { status: 204, headers: {} };
  }

  private get refreshDate(): string {
    return this.options.refreshDate ?? new Date(Date.now() - dayInMs).toISOString().slice(0, 10);
  }

  private name(upn: string): string {
    return this.displayConcealedNames
      ? createHash('md5').update(`${this.salt}:${upn.toLowerCase()}`).digest('hex').toUpperCase()
      : upn;
  }

  private emailActivityCsv(periodDays: number): string {
    const end = Date.parse(`${this.refreshDate}T00:00:00Z`);
    let working = 0;
    for (let i = 0; i < periodDays; i++) {
      const weekday = new Date(end - i * dayInMs).getUTCDay();
      if (weekday !== 0 && weekday !== 6) working++;
    }
    const header =
      'Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,Send Count,' +
      'Receive Count,Read Count,Meeting Created Count,Meeting Interacted Count,Assigned Products,Report Period';
    const lines = (this.options.activity ?? [])
      .filter((a) => this.kindOf(a.upn) === 'exchange-online')
      .map((a) => {
        const weekend = a.receivedPerWeekendDay ?? a.receivedPerWorkingDay / 10;
        const received = Math.round(a.receivedPerWorkingDay * working + weekend * (periodDays - working));
        const display = this.displayConcealedNames
          ? this.name(`display:${a.upn}`)
          : (a.displayName ?? a.upn.split('@')[0]!);
        return [
          this.refreshDate,
          this.name(a.upn),
          display,
          'False',
          '',
          this.refreshDate,
          String(Math.round(received / 4)),
          String(received),
          String(Math.round(received * 0.7)),
          '0',
          '0',
          'Microsoft 365 E3',
          String(periodDays),
        ].join(',');
      });
    return `${[header, ...lines].join('\r\n')}\r\n`;
  }

  private mailboxUsageCsv(periodDays: number): string {
    const header =
      'Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Created Date,Last Activity Date,' +
      'Item Count,Storage Used (Byte),Issue Warning Quota (Byte),Prohibit Send Quota (Byte),' +
      'Prohibit Send/Receive Quota (Byte),Deleted Item Count,Deleted Item Size (Byte),Deleted Item Quota (Byte),' +
      'Has Archive,Report Period';
    const lines = (this.options.mailboxUsage ?? [])
      .filter((m) => this.kindOf(m.upn) !== 'on-premises' && this.kindOf(m.upn) !== undefined)
      .map((m) => {
        const quota = m.prohibitSendReceiveQuotaBytes ?? 50 * gb;
        return [
          this.refreshDate,
          this.name(m.upn),
          this.displayConcealedNames ? this.name(`display:${m.upn}`) : m.upn.split('@')[0]!,
          'False',
          '',
          '2024-01-15',
          this.refreshDate,
          String(m.itemCount),
          String(m.storageUsedBytes),
          String(Math.round(quota * 0.96)),
          String(Math.round(quota * 0.98)),
          String(quota),
          '0',
          '0',
          String(30 * gb),
          'False',
          String(periodDays),
        ].join(',');
      });
    return `${[header, ...lines].join('\r\n')}\r\n`;
  }
}
