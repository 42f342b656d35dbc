import { randomUUID } from 'node:crypto';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { close, delay, listen, readBody, seededRandom, sendJson } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import { validateAgainstType } from './csdl.js';
import { IdentitySimulator, newRuleId, type AppRegistration } from './identity.js';

/** A stored rule, in Graph's JSON shape. */
export interface SimulatedRule {
  id: string;
  displayName: string;
  sequence: number;
  isEnabled: boolean;
  hasError: boolean;
  isReadOnly: boolean;
  conditions?: Record<string, unknown>;
  actions?: Record<string, unknown>;
  exceptions?: Record<string, unknown>;
}

export type MailboxKind = 'exchange-online' | 'on-premises' | 'unlicensed';

export interface SimulatedMailbox {
  email: string;
  kind: MailboxKind;
  /** Outside the app's RBAC for Applications scope: every call answers 403. */
  outOfScope?: boolean;
  rules?: Array<Omit<SimulatedRule, 'id' | 'hasError' | 'isReadOnly' | 'sequence'> & Partial<SimulatedRule>>;
}

export interface GraphSimulatorOptions {
  certificate: LocalCertificate;
  app: AppRegistration;
  mailboxes?: SimulatedMailbox[];
  /** Added to every Graph response (mean, and ± spread). */
  latencyInMs?: number;
  latencyJitterInMs?: number;
  /** Share of Graph requests answered 503 before doing anything. */
  serviceUnavailableRate?: number;
  /** Exchange Online's concurrency limit per app and mailbox. @default 4 */
  maxConcurrentPerMailbox?: number;
  /** App-wide request ceiling (requests per second); beyond it 429 TooManyRequests. */
  requestsPerSecond?: number;
  /** Retry-After (seconds) on concurrency 429s and injected throttling. @default 1 */
  retryAfterSeconds?: number;
  /** Mailbox → number of its first requests answered 429 (MailboxConcurrency-style). */
  throttleFirstRequests?: Record<string, number>;
  /** How long after announcing a window arriving requests count as already in flight. @default 20 */
  inFlightGraceInMs?: number;
  /** Mailboxes whose first rule creation is committed but answered 504 (the client cannot know). */
  gatewayTimeoutAfterCreate?: string[];
  seed?: number;
}

/** What the tests and the benchmark read after a run. */
export interface GraphSimulatorStats {
  requests: number;
  byStatus: Record<number, number>;
  writes: number;
  throttled: number;
  /**
   * Requests that arrived while a Retry-After window the simulator had announced was open, more
   * than `inFlightGraceInMs` after it announced it (earlier ones were already on their way).
   */
  insideRetryAfterWindow: number;
  /** Requests that arrived within the grace: sent before the client could know of the window. */
  arrivedInFlight: number;
  maxInFlightPerMailbox: number;
}

const recipientAddress = z.email();

/**
 * A local stand-in for Microsoft Graph v1.0 message rules and the Entra ID token endpoint, built
 * from Microsoft's documentation and metadata (`src/simulators/graph/messageRule.csdl.xml`, the
 * samples in shared/ref/graph): status codes, OData error envelopes, Retry-After, MailboxConcurrency
 * throttling, mailbox-less users, read-only rules and sequence renumbering.
 */
export class GraphSimulator {
  url = '';
  readonly identity: IdentitySimulator;
  readonly stats: GraphSimulatorStats = { requests: 0, byStatus: {}, writes: 0, throttled: 0, insideRetryAfterWindow: 0, arrivedInFlight: 0, maxInFlightPerMailbox: 0 };
  private server?: Server;
  private readonly mailboxes = new Map<string, { kind: MailboxKind; outOfScope: boolean; rules: SimulatedRule[]; reads: number }>();
  private readonly inFlight = new Map<string, number>();
  /** Retry-After windows: when each was announced and until when it lasts ('*' = the app). */
  private readonly windows = new Map<string, { openedAt: number; until: number }>();
  private readonly random: () => number;
  private readonly throttleLeft: Map<string, number>;
  private readonly timeoutAfterCreate: Set<string>;
  private bucket = { tokens: 0, at: 0 };

  constructor(private readonly options: GraphSimulatorOptions) {
    this.identity = new IdentitySimulator(options.app, () => this.url, () => this.url);
    this.random = seededRandom(options.seed ?? 1);
    this.throttleLeft = new Map(Object.entries(options.throttleFirstRequests ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    this.timeoutAfterCreate = new Set((options.gatewayTimeoutAfterCreate ?? []).map((e) => e.toLowerCase()));
    for (const mailbox of options.mailboxes ?? []) this.addMailbox(mailbox);
  }

  async start(): Promise<string> {
    const { server, url } = await listen(this.options.certificate, (req, res) => this.handle(req, res));
    this.server = server;
    this.url = url;
    this.bucket = { tokens: this.options.requestsPerSecond ?? 0, at: Date.now() };
    return url;
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  addMailbox(mailbox: SimulatedMailbox): void {
    const rules = (mailbox.rules ?? []).map((rule, i) => ({ hasError: false, isReadOnly: false, sequence: i + 1, id: newRuleId(), ...rule }));
    this.mailboxes.set(mailbox.email.toLowerCase(), { kind: mailbox.kind, outOfScope: mailbox.outOfScope ?? false, rules, reads: 0 });
  }

  /** The rules as stored (read-only rules with their hidden content). */
  rulesOf(email: string): SimulatedRule[] {
    return structuredClone(this.mailboxes.get(email.toLowerCase())?.rules ?? []);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (await this.identity.handle(req, res, url.pathname)) return;
    this.stats.requests++;
    const originalWriteHead = res.writeHead.bind(res);
    res.writeHead = ((status: number, ...rest: never[]) => {
      this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1;
      return originalWriteHead(status, ...rest);
    }) as typeof res.writeHead;
    const match = /^\/v1\.0\/users\/([^/]+)\/mailFolders\/inbox\/messageRules(?:\/([^/]+))?$/i.exec(url.pathname);
    const requestId = randomUUID();
    const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
      sendJson(res, status, { error: { code, message, innerError: { date: new Date().toISOString().slice(0, 19), 'request-id': requestId, 'client-request-id': String(req.headers['client-request-id'] ?? requestId) } } }, { 'request-id': requestId, ...headers });
    const authProblem = this.identity.verifyToken(req.headers.authorization);
    if (authProblem) return fail(401, 'InvalidAuthenticationToken', authProblem);
    if (!match) return fail(400, 'BadRequest', `Resource not found for the segment '${url.pathname.split('/').pop()}'.`);
    const email = decodeURIComponent(match[1]!).toLowerCase();
    const ruleId = match[2] && decodeURIComponent(match[2]);
    await this.withMailboxSlot(email, async () => {
      const throttled = this.throttle(email);
      if (throttled) return fail(429, throttled.code, throttled.message, { 'Retry-After': throttled.retryAfter });
      await this.latency();
      if (this.random() < (this.options.serviceUnavailableRate ?? 0)) return fail(503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please try again later.');
      await this.route(req, res, email, ruleId, fail);
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse, email: string, ruleId: string | undefined, fail: (status: number, code: string, message: string) => void): Promise<void> {
    const mailbox = this.mailboxes.get(email);
    if (!mailbox) return fail(404, 'ErrorInvalidUser', `The requested user '${email}' is invalid.`);
    if (mailbox.outOfScope) return fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (mailbox.kind === 'unlicensed') return fail(404, 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    if (mailbox.kind === 'on-premises') {
      // Observed in the field: the two codes alternate for the same mailbox.
      return mailbox.reads++ % 2 === 0
        ? fail(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.')
        : fail(404, 'ResourceNotFound', 'Resource could not be discovered.');
    }
    const method = req.method ?? 'GET';
    const writing = method !== 'GET';
    if (writing && !this.identity.rolesOf(req.headers.authorization).includes('MailboxSettings.ReadWrite')) {
      return fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }
    const rule = ruleId === undefined ? undefined : mailbox.rules.find((r) => r.id === ruleId);
    if (ruleId !== undefined && !rule) return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    const body = writing && method !== 'DELETE' ? await this.parseBody(req, fail) : undefined;
    if (body === null) return;
    if (method === 'GET' && !rule) return sendJson(res, 200, { '@odata.context': `${this.url}/v1.0/$metadata#users('${encodeURIComponent(email)}')/mailFolders('inbox')/messageRules`, value: mailbox.rules.map(present) });
    if (method === 'GET' && rule) return sendJson(res, 200, present(rule));
    if (method === 'POST' && !rule) return this.create(res, email, mailbox.rules, body!, fail);
    if (method === 'PATCH' && rule) return this.update(res, mailbox.rules, rule, body!, fail);
    if (method === 'DELETE' && rule) {
      this.stats.writes++;
      mailbox.rules.splice(mailbox.rules.indexOf(rule), 1);
      renumber(mailbox.rules);
      return sendJson(res, 204, undefined);
    }
    return fail(405, 'ErrorInvalidRequest', `The OData request is not supported: ${method}.`);
  }

  private create(res: ServerResponse, email: string, rules: SimulatedRule[], body: Record<string, unknown>, fail: (s: number, c: string, m: string) => void): void {
    for (const required of ['displayName', 'sequence', 'actions']) {
      if (body[required] === undefined) return fail(400, 'ErrorInvalidRequest', `The property '${required}' is required when creating the entity.`);
    }
    const problem = recipientProblem(body);
    if (problem) return fail(400, 'ErrorInvalidRecipients', problem);
    this.stats.writes++;
    const rule: SimulatedRule = {
      id: newRuleId(),
      displayName: body.displayName as string,
      sequence: (body.sequence as number) - 0.5, // goes before the rule that had this number
      isEnabled: (body.isEnabled as boolean | undefined) ?? true,
      hasError: false,
      isReadOnly: false,
      conditions: body.conditions as Record<string, unknown> | undefined,
      actions: body.actions as Record<string, unknown>,
      exceptions: body.exceptions as Record<string, unknown> | undefined,
    };
    rules.push(rule);
    renumber(rules);
    if (this.timeoutAfterCreate.delete(email)) {
      res.writeHead(504, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'UnknownError', message: 'Gateway Timeout' } }));
      return;
    }
    sendJson(res, 201, { '@odata.context': `${this.url}/v1.0/$metadata#users('${encodeURIComponent(email)}')/mailFolders('inbox')/messageRules/$entity`, ...present(rule) });
  }

  private update(res: ServerResponse, rules: SimulatedRule[], rule: SimulatedRule, body: Record<string, unknown>, fail: (s: number, c: string, m: string) => void): void {
    if (rule.isReadOnly) return fail(400, 'ErrorInvalidRequest', 'The rule cannot be modified through this API because it uses features the API does not support.');
    const problem = recipientProblem(body);
    if (problem) return fail(400, 'ErrorInvalidRecipients', problem);
    this.stats.writes++;
    // PATCH replaces whole conditions/actions/exceptions objects: no deep merge.
    for (const key of ['displayName', 'isEnabled', 'conditions', 'actions', 'exceptions'] as const) {
      if (body[key] !== undefined) (rule as unknown as Record<string, unknown>)[key] = body[key];
    }
    if (typeof body.sequence === 'number') {
      rule.sequence = body.sequence - 0.5;
      renumber(rules);
    }
    sendJson(res, 200, present(rule));
  }

  /** Parses and type-checks a messageRule body; answers the error itself and returns null if bad. */
  private async parseBody(req: IncomingMessage, fail: (s: number, c: string, m: string) => void): Promise<Record<string, unknown> | null> {
    if (!String(req.headers['content-type'] ?? '').includes('application/json')) {
      fail(415, 'UnsupportedMediaType', 'A supported MIME type could not be found that matches the content type of the response.');
      return null;
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      fail(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.');
      return null;
    }
    const problem = validateAgainstType(body, 'messageRule');
    if (problem) {
      fail(400, 'RequestBodyRead', problem);
      return null;
    }
    return body as Record<string, unknown>;
  }

  /** Concurrency, injected throttling and the app-wide ceiling, with Retry-After windows. */
  private throttle(email: string): { code: string; message: string; retryAfter: string } | undefined {
    const now = Date.now();
    const grace = this.options.inFlightGraceInMs ?? 20;
    const open = [this.windows.get(email), this.windows.get('*')].filter((w) => w && w.until > now);
    if (open.some((w) => now - w!.openedAt > grace)) this.stats.insideRetryAfterWindow++;
    else if (open.length > 0) this.stats.arrivedInFlight++;
    const retryAfterSeconds = this.options.retryAfterSeconds ?? 1;
    const announce = (key: string, seconds: number, code: string, message: string) => {
      this.stats.throttled++;
      const current = this.windows.get(key);
      const until = now + seconds * 1000;
      if (!current || current.until <= now) this.windows.set(key, { openedAt: now, until });
      else current.until = Math.max(current.until, until);
      return { code, message, retryAfter: String(seconds) };
    };
    if ((this.inFlight.get(email) ?? 0) > (this.options.maxConcurrentPerMailbox ?? 4)) {
      return announce(email, retryAfterSeconds, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.');
    }
    const left = this.throttleLeft.get(email) ?? 0;
    if (left > 0) {
      this.throttleLeft.set(email, left - 1);
      return announce(email, retryAfterSeconds, 'ApplicationThrottled', 'Application is over its MailboxConcurrency limit.');
    }
    const rate = this.options.requestsPerSecond;
    if (rate) {
      // Token bucket holding one second of requests; Graph counts requests made while throttled.
      this.bucket.tokens = Math.min(rate, this.bucket.tokens + ((now - this.bucket.at) / 1000) * rate);
      this.bucket.at = now;
      this.bucket.tokens -= 1;
      if (this.bucket.tokens < 0) {
        // Until a whole request is allowed again, and never under 100 ms (Graph speaks in seconds).
        const seconds = Math.max(0.1, Math.ceil(((1 - this.bucket.tokens) / rate) * 1000) / 1000);
        return announce('*', seconds, 'TooManyRequests', 'Please retry again later.');
      }
    }
    return undefined;
  }

  private async withMailboxSlot(email: string, work: () => Promise<void>): Promise<void> {
    const count = (this.inFlight.get(email) ?? 0) + 1;
    this.inFlight.set(email, count);
    this.stats.maxInFlightPerMailbox = Math.max(this.stats.maxInFlightPerMailbox, count);
    try {
      await work();
    } finally {
      this.inFlight.set(email, (this.inFlight.get(email) ?? 1) - 1);
    }
  }

  private async latency(): Promise<void> {
    const mean = this.options.latencyInMs ?? 0;
    const spread = this.options.latencyJitterInMs ?? 0;
    const ms = mean + (this.random() * 2 - 1) * spread;
    if (ms > 0) await delay(ms);
  }
}

/** Graph shows a read-only rule with empty conditions and actions: it cannot express them. */
function present(rule: SimulatedRule): Record<string, unknown> {
  const { conditions, actions, exceptions, ...rest } = rule;
  if (rule.isReadOnly) return { ...rest, conditions: {}, actions: {} };
  return { ...rest, ...(conditions ? { conditions } : {}), ...(actions ? { actions } : {}), ...(exceptions ? { exceptions } : {}) };
}

function renumber(rules: SimulatedRule[]): void {
  rules.sort((a, b) => a.sequence - b.sequence).forEach((rule, i) => (rule.sequence = i + 1));
}

/** Every recipient in a rule body must be a well-formed SMTP address. */
function recipientProblem(body: Record<string, unknown>): string | undefined {
  for (const section of ['conditions', 'actions', 'exceptions']) {
    for (const value of Object.values((body[section] as Record<string, unknown>) ?? {})) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        const address = (item as { emailAddress?: { address?: unknown } })?.emailAddress?.address;
        if (item && typeof item === 'object' && 'emailAddress' in item && !recipientAddress.safeParse(address).success) {
          return `At least one recipient isn't valid: '${String(address)}'.`;
        }
      }
    }
  }
  return undefined;
}
