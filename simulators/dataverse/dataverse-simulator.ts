import { randomUUID } from 'node:crypto';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { close, listen, sendJson } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import type { IdentitySimulator } from '../graph/identity.js';
import { compileFilter, ODataQueryError, type EdmType, type Row } from './odata-filter.js';
import {
  MailboxUpdates,
  type EmailServerProfile,
  type RecordWrite,
  type SimulatedTestResult,
} from './mailbox-updates.js';

/**
 * A local stand-in for a Dataverse environment's Web API, for the `mailbox` table only. Built from:
 * - the column reference of the `mailbox` table and its option values (shared/ref/dataverse:
 *   mailbox.columns.md, mailbox.optionsets.json; copied below so a clone without ../shared runs);
 * - the response layout of Microsoft's "Select columns using OData" example (`@odata.context`,
 *   `@odata.etag`, `<column>@OData.Community.Display.V1.FormattedValue` only when
 *   `Prefer: odata.include-annotations` asks for it);
 * - "Page results using OData": `Prefer: odata.maxpagesize` (at most 5000, larger is ignored),
 *   `Preference-Applied`, `@odata.nextLink` with a `$skiptoken` paging cookie; `$skip` unsupported;
 * - "Service protection API limits": 429 with `Retry-After` (seconds) and the Web API codes
 *   0x80072322 / 0x80072321 / 0x80072326; sending again inside the window extends it;
 * - "Troubleshoot Dataverse Web API client errors": 404 0x8006088a "Resource not found for the
 *   segment", 400 "Could not find a property named … on type 'Microsoft.Dynamics.CRM.…'" (code
 *   0x0 for `$select`, as the page shows; 0x80060888 for `$filter`, as the OData query errors come).
 * RECONSTRUCTED (no Microsoft sample): the 401 for a token of another audience (empty body,
 * `WWW-Authenticate: Bearer`), 403 0x80072560 "The user is not a member of the organization." for an
 * app that is no application user, and 403 0x80040220 "Principal user … is missing prvReadMailbox
 * privilege" for one whose security roles cannot read mailboxes.
 * Writes (PATCH with If-Match, the asynchronous mailbox test, email server profiles): mailbox-updates.ts.
 */
const entityType = 'Microsoft.Dynamics.CRM.mailbox';
const columns: Readonly<Record<string, EdmType>> = {
  mailboxid: 'Edm.Guid',
  name: 'Edm.String',
  emailaddress: 'Edm.String',
  incomingemaildeliverymethod: 'Edm.Int32',
  incomingemailstatus: 'Edm.Int32',
  outgoingemaildeliverymethod: 'Edm.Int32',
  isforwardmailbox: 'Edm.Boolean',
  statecode: 'Edm.Int32',
  statuscode: 'Edm.Int32',
  testmailboxaccesscompletedon: 'Edm.DateTimeOffset',
  // "Delete Emails after Processing" (mailbox table reference: ProcessAndDeleteEmails, Boolean, default No).
  processanddeleteemails: 'Edm.Boolean',
  _regardingobjectid_value: 'Edm.Guid',
  // Facts, "Dataverse mailbox updates": approval, the email server profile lookup, "Test & Enable".
  emailrouteraccessapproval: 'Edm.Int32',
  _emailserverprofile_value: 'Edm.Guid',
  testemailconfigurationscheduled: 'Edm.Boolean',
};
const labels: Readonly<Record<string, Record<string, string>>> = {
  incomingemaildeliverymethod: {
    0: 'None',
    1: 'Microsoft Dynamics 365 for Outlook',
    2: 'Server-Side Synchronization or Email Router',
    3: 'Forward Mailbox',
  },
  incomingemailstatus: { 0: 'Not Run', 1: 'Success', 2: 'Failure' },
  outgoingemaildeliverymethod: {
    0: 'None',
    1: 'Microsoft Dynamics 365 for Outlook',
    2: 'Server-Side Synchronization or Email Router',
  },
  isforwardmailbox: { true: 'Yes', false: 'No' },
  processanddeleteemails: { true: 'Yes', false: 'No' },
  statecode: { 0: 'Active', 1: 'Inactive' },
  emailrouteraccessapproval: { 0: 'Empty', 1: 'Approved', 2: 'Pending Approval', 3: 'Rejected' },
  statuscode: { 1: 'Active', 2: 'Inactive' },
};
const maxPageSize = 5000;

export interface SimulatedMailboxRecord {
  mailboxid?: string;
  name: string;
  emailaddress?: string | null;
  incomingemaildeliverymethod: 0 | 1 | 2 | 3;
  incomingemailstatus?: 0 | 1 | 2;
  outgoingemaildeliverymethod?: 0 | 1 | 2;
  /** The column's documented default is Yes: seeds say No for user mailboxes. @default true */
  isforwardmailbox?: boolean;
  statecode?: 0 | 1;
  testmailboxaccesscompletedon?: string | null;
  /** Delete Emails after Processing (only a forward or queue mailbox can set it). @default false */
  processanddeleteemails?: boolean;
  /** 0 Empty, 1 Approved, 2 Pending Approval, 3 Rejected. @default 1 */
  emailrouteraccessapproval?: 0 | 1 | 2 | 3;
  /** The email server profile's id (`_emailserverprofile_value`). @default null */
  emailServerProfileId?: string | null;
  /** What "Test & Enable" of this mailbox answers. @default 'success' */
  testResult?: SimulatedTestResult;
}

/** An Entra app registered in the environment as an application user. */
export interface ApplicationUser {
  appId: string;
  /** Whether one of its security roles grants Read on Mailbox (prvReadMailbox). */
  canReadMailboxes: boolean;
  /** Whether one of its security roles grants Write on Mailbox (prvWriteMailbox). @default true */
  canWriteMailboxes?: boolean;
}

export interface DataverseSimulatorOptions {
  certificate: LocalCertificate;
  /** The tenant's Entra ID (hosted by the Graph simulator): issues and signs the tokens. */
  identity: IdentitySimulator;
  applicationUsers: ApplicationUser[];
  mailboxes: SimulatedMailboxRecord[];
  /** Numbers (1-based) of the Web API requests answered 429. */
  throttleRequests?: number[];
  /** @default 1 */
  retryAfterSeconds?: number;
  /** The environment's email server profiles. */
  emailServerProfiles?: EmailServerProfile[];
  /** How long the asynchronous mailbox test takes. @default 200 */
  testDelayInMs?: number;
}

export interface DataverseSimulatorStats {
  requests: number;
  byStatus: Record<number, number>;
  throttled: number;
  /** Requests that arrived while an announced Retry-After window was open. */
  insideRetryAfterWindow: number;
  /** The `$filter` of every first-page request, in order. */
  filters: string[];
  /** The page sizes the client asked for (Prefer: odata.maxpagesize). */
  pageSizes: number[];
}

export class DataverseSimulator {
  url = '';
  readonly stats: DataverseSimulatorStats = {
    requests: 0,
    byStatus: {},
    throttled: 0,
    insideRetryAfterWindow: 0,
    filters: [],
    pageSizes: [],
  };
  private server?: Server;
  private readonly records: Row[];
  private readonly throttle: Set<number>;
  private windowUntil = 0;
  private readonly updates: MailboxUpdates;

  constructor(private readonly options: DataverseSimulatorOptions) {
    this.records = options.mailboxes
      .map(toRecord)
      .sort((a, b) => String(a.mailboxid).localeCompare(String(b.mailboxid)));
    this.throttle = new Set(options.throttleRequests ?? []);
    this.updates = new MailboxUpdates(this.records, {
      testDelayInMs: options.testDelayInMs,
      emailServerProfiles: options.emailServerProfiles ?? [],
      testResults: new Map(
        this.records.map((r) => [String(r.mailboxid), options.mailboxes[r.seed as number]!.testResult ?? 'success']),
      ),
    });
    for (const row of this.records) row.etag = this.updates.nextVersion();
  }

  /** Every PATCH that arrived, in order. */
  get writes(): readonly RecordWrite[] {
    return this.updates.writes;
  }

  /** A record as it is now (the column values, not the Web API's layout), or undefined. */
  record(mailboxId: string): Row | undefined {
    const row = this.records.find((r) => r.mailboxid === mailboxId.toLowerCase());
    return row && Object.fromEntries(Object.keys(columns).map((column) => [column, row[column]]));
  }

  /** Starts the environment; its URL is the organisation URL, which the tenant now knows as a resource. */
  async start(): Promise<string> {
    const { server, url } = await listen(this.options.certificate, (req, res) => this.handle(req, res));
    this.server = server;
    this.url = url;
    this.options.identity.addResource(url);
    return url;
  }

  async stop(): Promise<void> {
    this.updates.stop();
    if (this.server) await close(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1;
      sendJson(res, status, body, { 'OData-Version': '4.0', 'x-ms-service-request-id': requestId, ...headers });
    };
    const error = (status: number, code: string, message: string, headers?: Record<string, string>) =>
      reply(status, { error: { code, message } }, headers);
    this.stats.requests++;
    const now = Date.now();
    if (now < this.windowUntil) this.stats.insideRetryAfterWindow++;
    const url = new URL(req.url ?? '/', this.url);
    const tokenProblem = this.options.identity.verifyToken(req.headers.authorization, this.url);
    if (tokenProblem) {
      return reply(401, undefined, {
        'WWW-Authenticate':
          `Bearer error="invalid_token", error_description="${tokenProblem}", ` +
          `authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`,
      });
    }
    const appId = claimsOf(req.headers.authorization).appid;
    const user = this.options.applicationUsers.find((u) => u.appId === appId);
    if (!user) return error(403, '0x80072560', 'The user is not a member of the organization.');
    if (this.throttle.has(this.stats.requests) || now < this.windowUntil) {
      // Sending while throttled extends the wait (service protection documentation).
      const seconds = this.options.retryAfterSeconds ?? 1;
      this.windowUntil = now + seconds * 1000;
      this.stats.throttled++;
      return error(
        429,
        '0x80072322',
        'Number of requests exceeded the limit of 6000 over time window of 300 seconds.',
        { 'Retry-After': String(seconds) },
      );
    }
    const segment = /^\/api\/data\/v9\.2\/([^/?]+)$/.exec(url.pathname)?.[1];
    if (!segment) return error(404, '', `No HTTP resource was found that matches the request URI '${url.href}'.`);
    if (this.updates.handles(decodeURIComponent(segment))) {
      if (!user.canReadMailboxes && req.method === 'GET') return error(403, '0x80040220', missingRead(appId));
      try {
        const answer = await this.updates.handle(req, decodeURIComponent(segment), url, user, (row) =>
          present(row, undefined, /include-annotations/.test(String(req.headers.prefer ?? ''))),
        );
        return reply(answer.status, answer.body, answer.headers);
      } catch (problem) {
        if (problem instanceof ODataQueryError) return error(400, problem.code, problem.message);
        throw problem;
      }
    }
    if (segment !== 'mailboxes')
      return error(404, '0x8006088a', `Resource not found for the segment '${decodeURIComponent(segment)}'.`);
    if (req.method !== 'GET')
      return error(405, '0x80060888', `The HTTP method '${req.method}' is not allowed for this request.`);
    if (!user.canReadMailboxes) return error(403, '0x80040220', missingRead(appId));
    try {
      const page = this.query(url, String(req.headers.prefer ?? ''));
      return reply(200, page.body, page.headers);
    } catch (problem) {
      if (problem instanceof ODataQueryError) return error(400, problem.code, problem.message);
      throw problem;
    }
  }

  private query(url: URL, prefer: string): { body: unknown; headers: Record<string, string> } {
    for (const key of url.searchParams.keys()) {
      if (key.startsWith('$') && !['$select', '$filter', '$skiptoken', '$top'].includes(key))
        throw new ODataQueryError(`The query parameter ${key} is not supported`);
    }
    const select = url.searchParams
      .get('$select')
      ?.split(',')
      .map((c) => c.trim());
    for (const column of select ?? []) {
      if (!(column in columns))
        throw new ODataQueryError(`Could not find a property named '${column}' on type '${entityType}'.`, '0x0');
    }
    const filterText = url.searchParams.get('$filter');
    const predicate = filterText ? compileFilter(filterText, columns, entityType) : () => true;
    const skiptoken = url.searchParams.get('$skiptoken');
    if (!skiptoken) this.stats.filters.push(filterText ?? '');
    const after = skiptoken ? lastIdOf(skiptoken) : undefined;
    const asked = Number(/odata\.maxpagesize=(\d+)/.exec(prefer)?.[1] ?? maxPageSize);
    if (!skiptoken) this.stats.pageSizes.push(asked);
    const pageSize = asked > 0 && asked <= maxPageSize ? asked : maxPageSize;
    const top = url.searchParams.get('$top');
    const matching = this.records.filter(
      (row) => (after === undefined || String(row.mailboxid) > after) && predicate(row),
    );
    const limit = top ? Math.min(Number(top), pageSize) : pageSize;
    const rows = matching.slice(0, limit);
    const annotate = /odata\.include-annotations="(\*|OData\.Community\.Display\.V1\.FormattedValue)"/.exec(
      prefer,
    )?.[1];
    const body: Record<string, unknown> = {
      '@odata.context': `${this.url}/api/data/v9.2/$metadata#mailboxes${select ? `(${select.join(',')})` : ''}`,
      value: rows.map((row) => present(row, select, Boolean(annotate))),
    };
    if (!top && matching.length > limit) {
      const next = new URL(url.href);
      const pageNumber = Number(/pagenumber="(\d+)"/.exec(skiptoken ?? '')?.[1] ?? 1) + 1;
      next.searchParams.set(
        '$skiptoken',
        pagingCookie(pageNumber, String(rows[0]!.mailboxid), String(rows.at(-1)!.mailboxid)),
      );
      body['@odata.nextLink'] = next.href;
    }
    const applied = [`odata.maxpagesize=${pageSize}`, ...(annotate ? [`odata.include-annotations="${annotate}"`] : [])];
    return { body, headers: { 'Preference-Applied': applied.join(',') } };
  }
}

const missingRead = (appId: string | undefined) =>
  `Principal user (Id=${appId}, type=8, roleCount=1, privilegeCount=0) is missing prvReadMailbox privilege ` +
  `(Id=${randomUUID()}) on OTC=9606 for entity 'mailbox'. context: Method=RetrieveMultiple.`;

function toRecord(seed: SimulatedMailboxRecord, index: number): Row {
  const statecode = seed.statecode ?? 0;
  return {
    mailboxid: (seed.mailboxid ?? randomUUID()).toLowerCase(),
    name: seed.name,
    emailaddress: seed.emailaddress ?? null,
    incomingemaildeliverymethod: seed.incomingemaildeliverymethod,
    incomingemailstatus: seed.incomingemailstatus ?? 0,
    outgoingemaildeliverymethod: seed.outgoingemaildeliverymethod ?? 0,
    isforwardmailbox: seed.isforwardmailbox ?? true,
    statecode,
    statuscode: statecode === 0 ? 1 : 2,
    testmailboxaccesscompletedon: seed.testmailboxaccesscompletedon ?? null,
    processanddeleteemails: seed.processanddeleteemails ?? false,
    _regardingobjectid_value: null,
    emailrouteraccessapproval: seed.emailrouteraccessapproval ?? 1,
    _emailserverprofile_value: seed.emailServerProfileId?.toLowerCase() ?? null,
    testemailconfigurationscheduled: false,
    etag: 0,
    seed: index,
  };
}

/** A row as the Web API returns it: the selected columns (the primary key always), labels if asked. */
function present(row: Row, select: string[] | undefined, annotate: boolean): Row {
  const out: Row = { '@odata.etag': `W/"${row.etag}"` };
  for (const column of select ?? Object.keys(columns)) {
    const label = labels[column]?.[String(row[column])];
    if (annotate && label !== undefined) out[`${column}@OData.Community.Display.V1.FormattedValue`] = label;
    out[column] = row[column];
  }
  out.mailboxid = row.mailboxid;
  return out;
}

/** The Web API's `$skiptoken`: a FetchXML paging cookie holding the first and last key of the page. */
function pagingCookie(pageNumber: number, first: string, last: string): string {
  const inner =
    `<cookie page="${pageNumber - 1}"><mailboxid last="{${last.toUpperCase()}}" ` +
    `first="{${first.toUpperCase()}}" /></cookie>`;
  return (
    `<cookie pagenumber="${pageNumber}" pagingcookie="${encodeURIComponent(encodeURIComponent(inner))}" ` +
    `istracking="False" />`
  );
}

function lastIdOf(skiptoken: string): string {
  const cookie = decodeURIComponent(decodeURIComponent(/pagingcookie="([^"]*)"/.exec(skiptoken)?.[1] ?? ''));
  const last = /last="\{([0-9A-F-]+)\}"/i.exec(cookie)?.[1];
  if (!last) throw new ODataQueryError('The paging cookie is not valid.', '0x80040203');
  return last.toLowerCase();
}

function claimsOf(authorization: string | undefined): { appid?: string } {
  const payload = authorization?.split(' ')[1]?.split('.')[1];
  return payload ? JSON.parse(Buffer.from(payload, 'base64url').toString()) : {};
}
