import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { readBody } from '../http.js';
import { compileFilter, type EdmType, type Row } from './odata-filter.js';

/**
 * The Dataverse simulator's writes to the `mailbox` table and the asynchronous mailbox test, for
 * `sinkrule migrate`. Built from:
 * - Web API "Update and delete table rows" and "Perform conditional operations using the Web API"
 *   (../shared/notes/exchange-facts.md, "Dataverse mailbox updates"): `PATCH mailboxes(<id>)` answers
 *   204; `If-Match: <@odata.etag>` that no longer matches answers 412 with code 0x80060882 "The version
 *   of the existing record doesn't match the RowVersion property provided."; without `If-Match` a PATCH
 *   to an id that does not exist creates the row (upsert); `If-Match: *` only updates an existing row
 *   (404 otherwise); every write gives the row a new version (its `@odata.etag`).
 * - The same facts: an application user without Write on Mailbox answers 403 0x80040220 "… is missing
 *   prvWriteMailbox privilege …" (the shape of the prvReadMailbox error the simulator already gives).
 * - Web API "Associate and disassociate table rows": a lookup is set with
 *   `"emailserverprofile@odata.bind": "/emailserverprofiles(<id>)"` and cleared with `null`; it reads
 *   back as `_emailserverprofile_value`.
 * - Facts ("Dataverse mailbox updates"): "Test & Enable" sets `testemailconfigurationscheduled` true,
 *   and the asynchronous service later writes `incomingemailstatus` and `testmailboxaccesscompletedon`;
 *   server-side sync processes only approved addresses (`emailrouteraccessapproval` 1) and needs an
 *   email server profile, so the simulated test fails without either, whatever the seed says.
 * RECONSTRUCTED (no Microsoft sample): the 400 wording for an unknown or read-only property, and
 * 404 0x80040217 "emailserverprofile With Id = … Does Not Exist" for a bind to a missing profile.
 */

/** What the simulated test of one mailbox answers, when its record asks for one. */
export type SimulatedTestResult = 'success' | 'failure' | 'never';

export interface EmailServerProfile {
  emailserverprofileid: string;
  name: string;
}

/** One PATCH as it arrived, for tests that count writes. */
export interface RecordWrite {
  id: string;
  ifMatch: string | null;
  body: Record<string, unknown>;
  status: number;
}

/** Columns a PATCH may set (the rest are read-only, or written by the service itself). */
const writable = new Set([
  'name',
  'emailaddress',
  'incomingemaildeliverymethod',
  'outgoingemaildeliverymethod',
  'emailrouteraccessapproval',
  'testemailconfigurationscheduled',
]);
const profileBind = 'emailserverprofile@odata.bind';
const profileColumns: Record<string, EdmType> = { emailserverprofileid: 'Edm.Guid', name: 'Edm.String' };
const profileType = 'Microsoft.Dynamics.CRM.emailserverprofile';

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };
const fail = (status: number, code: string, message: string): Answer => ({
  status,
  body: { error: { code, message } },
});

export interface MailboxUpdatesOptions {
  /** How long the asynchronous test takes. @default 200 */
  testDelayInMs?: number;
  /** The test's answer per mailbox id (lower case); any other mailbox succeeds. */
  testResults: Map<string, SimulatedTestResult>;
  emailServerProfiles: EmailServerProfile[];
}

export class MailboxUpdates {
  readonly writes: RecordWrite[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private version = 10_000_000;

  constructor(
    private readonly records: Row[],
    private readonly options: MailboxUpdatesOptions,
  ) {}

  /** A new row version: every write changes the row's etag. */
  nextVersion(): number {
    return ++this.version;
  }

  /** `mailboxes(<id>)` and `emailserverprofiles` are served here; everything else by the simulator. */
  handles(segment: string): boolean {
    return /^mailboxes\([^)]*\)$/.test(segment) || segment === 'emailserverprofiles';
  }

  async handle(
    req: IncomingMessage,
    segment: string,
    url: URL,
    user: { appId: string; canWriteMailboxes?: boolean },
    present: (row: Row) => Row,
  ): Promise<Answer> {
    if (segment === 'emailserverprofiles') {
      if (req.method !== 'GET') return notAllowed(req.method);
      return this.profiles(url);
    }
    const id = /^mailboxes\(([0-9a-fA-F-]{36})\)$/.exec(segment)?.[1]?.toLowerCase();
    if (!id) return fail(400, '0x80060888', `Bad Request - Error in query syntax: '${segment}'.`);
    const row = this.records.find((r) => r.mailboxid === id);
    if (req.method === 'GET')
      return row ? { status: 200, body: present(row) } : fail(404, '0x80040217', notFound('mailbox', id));
    if (req.method !== 'PATCH') return notAllowed(req.method);
    const text = await readBody(req);
    const ifMatch = typeof req.headers['if-match'] === 'string' ? req.headers['if-match'] : null;
    const answer = this.patch(id, row, text, ifMatch, user);
    this.writes.push({ id, ifMatch, body: safeJson(text), status: answer.status });
    return answer;
  }

  private patch(
    id: string,
    found: Row | undefined,
    text: string,
    ifMatch: string | null,
    user: { appId: string; canWriteMailboxes?: boolean },
  ): Answer {
    if (user.canWriteMailboxes === false) {
      return fail(
        403,
        '0x80040220',
        `Principal user (Id=${user.appId}, type=8, roleCount=1, privilegeCount=1) is missing prvWriteMailbox ` +
          `privilege (Id=${randomUUID()}) on OTC=9606 for entity 'mailbox'. context: Method=Update.`,
      );
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return fail(400, '0x80060891', 'Invalid JSON. The request body is not valid JSON.');
    }
    for (const key of Object.keys(body)) {
      if (key !== profileBind && !writable.has(key))
        return fail(
          400,
          '0x80060888',
          `The property '${key}' does not exist on type 'Microsoft.Dynamics.CRM.mailbox' or cannot be written.`,
        );
    }
    if (ifMatch !== null) {
      if (!found) return fail(404, '0x80040217', notFound('mailbox', id));
      if (ifMatch !== '*' && ifMatch !== `W/"${found.etag}"`) {
        return fail(
          412,
          '0x80060882',
          "The version of the existing record doesn't match the RowVersion property provided.",
        );
      }
    }
    const profile = body[profileBind];
    let profileId: string | null | undefined;
    if (profile === null) profileId = null;
    else if (profile !== undefined) {
      profileId = /^\/?emailserverprofiles\(([0-9a-fA-F-]{36})\)$/.exec(String(profile))?.[1]?.toLowerCase();
      if (!profileId || !this.options.emailServerProfiles.some((p) => p.emailserverprofileid === profileId))
        return fail(404, '0x80040217', notFound('emailserverprofile', profileId ?? String(profile)));
    }
    // No If-Match and no row: the PATCH creates it (upsert), which is why sinkrule always sends If-Match.
    const row = found ?? this.insert(id);
    for (const [key, value] of Object.entries(body)) if (writable.has(key)) row[key] = value;
    if (profileId !== undefined) row._emailserverprofile_value = profileId;
    row.etag = this.nextVersion();
    if (body.testemailconfigurationscheduled === true) this.scheduleTest(row);
    return { status: 204 };
  }

  private insert(id: string): Row {
    const row: Row = { mailboxid: id, name: null, statecode: 0, statuscode: 1, isforwardmailbox: true, etag: 0 };
    const at = this.records.findIndex((r) => String(r.mailboxid) > id);
    this.records.splice(at < 0 ? this.records.length : at, 0, row);
    return row;
  }

  /** The asynchronous service runs the test later and writes its result (a write: a new etag). */
  private scheduleTest(row: Row): void {
    const id = String(row.mailboxid);
    const seeded = this.options.testResults.get(id) ?? 'success';
    if (seeded === 'never') return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const usable = row.emailrouteraccessapproval === 1 && Boolean(row._emailserverprofile_value);
      row.incomingemailstatus = seeded === 'success' && usable ? 1 : 2;
      row.testmailboxaccesscompletedon = new Date().toISOString();
      row.etag = this.nextVersion();
    }, this.options.testDelayInMs ?? 200);
    timer.unref();
    this.timers.add(timer);
  }

  private profiles(url: URL): Answer {
    const filterText = url.searchParams.get('$filter');
    const predicate = filterText ? compileFilter(filterText, profileColumns, profileType) : () => true;
    const rows = this.options.emailServerProfiles.filter((p) => predicate(p as unknown as Row));
    return {
      status: 200,
      body: { value: rows.map((p) => ({ '@odata.etag': 'W/"1"', ...p })) },
    };
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

const notFound = (table: string, id: string) => `${table} With Id = ${id} Does Not Exist`;
const notAllowed = (method: string | undefined): Answer =>
  fail(405, '0x80060888', `The HTTP method '${method}' is not allowed for this request.`);

function safeJson(text: string): Record<string, unknown> {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}
