import { randomUUID } from 'node:crypto';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { close, delay, listen, readBody, seededRandom, sendJson } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import { validateAgainstType } from './csdl.js';
import {
  cloudResources,
  IdentitySimulator,
  newRuleId,
  type AppRegistration,
  type CloudName,
  type ManagedIdentityHost,
} from './identity.js';
import { MailFlow } from './mail-flow.js';
import { isMailPath, routeMail } from './mail-routes.js';
import { SecurityAlerts } from './security-alerts.js';

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
  /**
   * The national cloud this Graph belongs to: its tokens must be for that cloud's Graph resource
   * (e.g. https://graph.microsoft.com), wherever the requests are sent. @default 'global'
   */
  cloud?: CloudName;
  /** Serve an App Service–style managed identity endpoint (identity.ts: managedIdentityPath). */
  managedIdentity?: ManagedIdentityHost;
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
  /** Requests the app may send at once above the ceiling (the token bucket's size). @default one second's worth */
  burst?: number;
  /** Retry-After (seconds) on concurrency 429s and injected throttling. @default 1 */
  retryAfterSeconds?: number;
  /** Mailbox → number of its first requests answered 429 (MailboxConcurrency-style). */
  throttleFirstRequests?: Record<string, number>;
  /**
   * How long after announcing a window arriving requests count as already on their way: sent
   * before the 429 reached the client, or before its event loop got to read it (a loaded Node
   * client measures up to ~70 ms late at p99). Windows shorter than this are not checked.
   * @default 100
   */
  inFlightGraceInMs?: number;
  /** Mailboxes whose first rule creation is committed but answered 504 (the client cannot know). */
  gatewayTimeoutAfterCreate?: string[];
  /** The directory's domains (`GET /domains`). @default contoso.com and contoso.onmicrosoft.com, verified */
  domains?: Array<{ id: string; isVerified: boolean; isDefault?: boolean }>;
  seed?: number;
  /** How long mail takes from sendMail (or a rule's forward) to the recipient's inbox. @default 50 */
  deliveryDelayInMs?: number;
}

/** What the tests and the benchmark read after a run. */
export interface GraphSimulatorStats {
  /** Graph requests, alone or inside a batch (what Graph's throttling counts). */
  requests: number;
  /** HTTP requests (a $batch is one). */
  httpRequests: number;
  batches: number;
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
  /** The application ID URI Graph's tokens are issued for (their `aud`). */
  readonly resource: string;
  /** Messages, delivery and inbox rules at work (sendMail, messages, attachments). */
  readonly mail: MailFlow;
  /** Defender alerts (security/alerts_v2); tests plant the ones a rule creation raises. */
  readonly alerts = new SecurityAlerts();
  readonly stats: GraphSimulatorStats = {
    requests: 0,
    httpRequests: 0,
    batches: 0,
    byStatus: {},
    writes: 0,
    throttled: 0,
    insideRetryAfterWindow: 0,
    arrivedInFlight: 0,
    maxInFlightPerMailbox: 0,
  };
  private server?: Server;
  private readonly mailboxes = new Map<
    string,
    { kind: MailboxKind; outOfScope: boolean; rules: SimulatedRule[]; reads: number }
  >();
  private readonly inFlight = new Map<string, number>();
  /** Retry-After windows: when each was announced and until when it lasts ('*' = the app). */
  private readonly windows = new Map<string, { openedAt: number; until: number }>();
  private readonly random: () => number;
  private readonly throttleLeft: Map<string, number>;
  private readonly timeoutAfterCreate: Set<string>;
  private bucket = { tokens: 0, at: 0 };

  constructor(private readonly options: GraphSimulatorOptions) {
    const resources = cloudResources[options.cloud ?? 'global'];
    this.resource = resources.graph;
    this.identity = new IdentitySimulator(
      options.app,
      () => this.url,
      () => [resources.graph, resources.exchangeOnline, resources.resourceManager],
      options.managedIdentity,
    );
    this.random = seededRandom(options.seed ?? 1);
    this.throttleLeft = new Map(
      Object.entries(options.throttleFirstRequests ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    this.timeoutAfterCreate = new Set((options.gatewayTimeoutAfterCreate ?? []).map((e) => e.toLowerCase()));
    for (const mailbox of options.mailboxes ?? []) this.addMailbox(mailbox);
    this.mail = new MailFlow(
      {
        isInternalDomain: (domain) =>
          this.directoryDomains().some((d) => d.isVerified && d.id.toLowerCase() === domain),
        rulesOf: (email) => {
          const mailbox = this.mailboxes.get(email.toLowerCase());
          return mailbox?.kind === 'exchange-online' ? mailbox.rules : undefined;
        },
      },
      options.deliveryDelayInMs ?? 50,
    );
  }

  async start(): Promise<string> {
    const { server, url } = await listen(this.options.certificate, (req, res) => this.handle(req, res));
    this.server = server;
    this.url = url;
    this.bucket = { tokens: this.bucketSize, at: Date.now() };
    return url;
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  addMailbox(mailbox: SimulatedMailbox): void {
    const rules = (mailbox.rules ?? []).map((rule, i) => ({
      hasError: false,
      isReadOnly: false,
      sequence: i + 1,
      id: newRuleId(),
      ...rule,
    }));
    this.mailboxes.set(mailbox.email.toLowerCase(), {
      kind: mailbox.kind,
      outOfScope: mailbox.outOfScope ?? false,
      rules,
      reads: 0,
    });
  }

  /**
   * A change made outside sinkrule, as the mailbox's user would in Outlook on the web (tests of
   * what sinkrule does when a mailbox changed after its run).
   */
  editRule(email: string, ruleId: string, changes: Partial<Omit<SimulatedRule, 'id'>>): void {
    const rule = this.mailboxes.get(email.toLowerCase())?.rules.find((r) => r.id === ruleId);
    if (!rule) throw new Error(`no rule ${ruleId} in ${email}`);
    Object.assign(rule, structuredClone(changes));
  }

  /** The rules as stored (read-only rules with their hidden content). */
  rulesOf(email: string): SimulatedRule[] {
    return structuredClone(this.mailboxes.get(email.toLowerCase())?.rules ?? []);
  }

  private get bucketSize(): number {
    return this.options.burst ?? this.options.requestsPerSecond ?? 0;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The service meters requests as they reach it: the simulator's own work on them (reading the
    // body, checking the token, a busy event loop) must not bunch paced requests into a burst.
    const arrivedAt = Date.now();
    const url = new URL(req.url ?? '/', this.url);
    if (await this.identity.handle(req, res, url.pathname)) return;
    this.stats.httpRequests++;
    const clientRequestId = String(req.headers['client-request-id'] ?? randomUUID());
    const authProblem = this.identity.verifyToken(req.headers.authorization, this.resource);
    const roles = this.identity.rolesOf(req.headers.authorization);
    const bodyText = req.method === 'GET' || req.method === 'DELETE' ? '' : await readBody(req);
    let reply: Reply;
    if (authProblem) reply = this.count(errorReply(401, 'InvalidAuthenticationToken', authProblem, clientRequestId));
    else if (/^\/v1\.0\/\$batch$/i.test(url.pathname) && req.method === 'POST')
      reply = await this.batch(bodyText, roles, clientRequestId, arrivedAt);
    else {
      const parsed = parseJsonBody(bodyText, String(req.headers['content-type'] ?? ''));
      reply =
        'error' in parsed
          ? this.count(parsed.error)
          : await this.execute(
              {
                method: req.method ?? 'GET',
                path: `${url.pathname.replace(/^\/v1\.0/i, '')}${url.search}`,
                body: parsed.body,
                roles,
                clientRequestId,
              },
              arrivedAt,
            );
    }
    sendJson(res, reply.status, reply.body, {
      'request-id': randomUUID(),
      'client-request-id': clientRequestId,
      ...reply.headers,
    });
  }

  /**
   * JSON batching (json-batching.md): at most 20 requests with unique ids, each evaluated on its
   * own (throttling included: a 429 item carries its own Retry-After), at most 4 run at once, the
   * outer status 200; a request whose dependsOn failed gets 424.
   */
  private async batch(bodyText: string, roles: string[], clientRequestId: string, arrivedAt: number): Promise<Reply> {
    const parsed = parseJsonBody(bodyText, 'application/json');
    const requests = 'body' in parsed ? (parsed.body as { requests?: unknown } | undefined)?.requests : undefined;
    if (!Array.isArray(requests))
      return errorReply(400, 'BadRequest', 'Invalid batch payload format.', clientRequestId);
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
      items.some(
        (item) => typeof item.id !== 'string' || typeof item.url !== 'string' || typeof item.method !== 'string',
      )
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
      return errorReply(
        400,
        'BadRequest',
        'Content-Type header is required for requests with a body.',
        clientRequestId,
      );
    }
    this.stats.batches++;
    // Items reach Outlook when the batch arrived, later groups of 4 as the earlier ones finish.
    const lagInMs = Date.now() - arrivedAt;
    const results = new Map<string, Reply>();
    const run = async (item: BatchItem) => {
      const failedDependency = (item.dependsOn ?? []).some((id) => (results.get(id)?.status ?? 424) >= 400);
      const path = `/${item.url.replace(/^\/+/, '').replace(/^v1\.0\//i, '')}`;
      const reply = failedDependency
        ? this.count(errorReply(424, 'FailedDependency', 'A request this one depends on failed.', clientRequestId))
        : await this.execute(
            { method: item.method.toUpperCase(), path, body: item.body, roles, clientRequestId },
            Date.now() - lagInMs,
          );
      results.set(item.id, reply);
    };
    const independent = items.filter((item) => !item.dependsOn?.length);
    const dependent = items.filter((item) => item.dependsOn?.length);
    for (let i = 0; i < independent.length; i += 4) await Promise.all(independent.slice(i, i + 4).map(run)); // Outlook runs 4 at a time
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

  /** One Graph request (alone or a batch item): throttling, latency, failures, then the operation. */
  private async execute(request: ServiceRequest, arrivedAt = Date.now()): Promise<Reply> {
    this.stats.requests++;
    const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) =>
      errorReply(status, code, message, request.clientRequestId, headers);
    const [path, search = ''] = request.path.split('?') as [string, string?];
    if (/^\/domains\/?$/i.test(path)) return this.count(this.listDomains(request, fail));
    if (/^\/security\/alerts_v2\/?$/i.test(path))
      return this.count(this.alerts.list(request.method, new URLSearchParams(search), request.roles, this.url, fail));
    const mailMatch = /^\/users\/([^/]+)(\/.+)$/i.exec(path);
    if (mailMatch && isMailPath(mailMatch[2]!)) {
      const email = decodeURIComponent(mailMatch[1]!).toLowerCase();
      return this.count(
        await this.withMailboxSlot(email, () =>
          this.mailRequest(request, email, mailMatch[2]!, new URLSearchParams(search), fail, arrivedAt),
        ),
      );
    }
    const match = /^\/users\/([^/]+)\/mailFolders\/inbox\/messageRules(?:\/([^/]+))?$/i.exec(path);
    if (!match)
      return this.count(fail(400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop()}'.`));
    const email = decodeURIComponent(match[1]!).toLowerCase();
    const ruleId = match[2] && decodeURIComponent(match[2]);
    return this.count(
      await this.withMailboxSlot(email, async () => {
        const throttled = this.throttle(email, arrivedAt);
        if (throttled) return fail(429, throttled.code, throttled.message, { 'Retry-After': throttled.retryAfter });
        await this.latency();
        if (this.random() < (this.options.serviceUnavailableRate ?? 0))
          return fail(503, 'ServiceUnavailable', 'The service is temporarily unavailable. Please try again later.');
        return this.route(request, email, ruleId, fail);
      }),
    );
  }

  /** A mail request: the same throttling, mailbox and scope checks as the rules, then mail-routes.ts. */
  private async mailRequest(
    request: ServiceRequest,
    email: string,
    rest: string,
    query: URLSearchParams,
    fail: (status: number, code: string, message: string, headers?: Record<string, string>) => Reply,
    arrivedAt: number,
  ): Promise<Reply> {
    const throttled = this.throttle(email, arrivedAt);
    if (throttled) return fail(429, throttled.code, throttled.message, { 'Retry-After': throttled.retryAfter });
    await this.latency();
    const problem = this.mailboxProblem(email, fail);
    if (problem) return problem;
    return routeMail(
      this.mail,
      this.url,
      email,
      { method: request.method, rest, query, body: request.body, roles: request.roles },
      fail,
    );
  }

  /** Why a mailbox cannot be used at all (unknown, outside the app's scope, not in Exchange Online). */
  private mailboxProblem(
    email: string,
    fail: (status: number, code: string, message: string) => Reply,
  ): Reply | undefined {
    const mailbox = this.mailboxes.get(email);
    if (!mailbox) return fail(404, 'ErrorInvalidUser', `The requested user '${email}' is invalid.`);
    if (mailbox.outOfScope) return fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (mailbox.kind === 'unlicensed')
      return fail(404, 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    if (mailbox.kind === 'on-premises') {
      // Observed in the field: the two codes alternate for the same mailbox.
      return mailbox.reads++ % 2 === 0
        ? fail(
            404,
            'MailboxNotEnabledForRESTAPI',
            'The mailbox is either inactive, soft-deleted, or is hosted on-premise.',
          )
        : fail(404, 'ResourceNotFound', 'Resource could not be discovered.');
    }
    return undefined;
  }

  private route(
    request: ServiceRequest,
    email: string,
    ruleId: string | undefined,
    fail: (status: number, code: string, message: string) => Reply,
  ): Reply {
    const { method } = request;
    // Application permissions (the token's roles): reading rules needs MailboxSettings.Read or .ReadWrite, writing .ReadWrite.
    const granted =
      request.roles.includes('MailboxSettings.ReadWrite') ||
      (method === 'GET' && request.roles.includes('MailboxSettings.Read'));
    if (!granted) return fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    const problem = this.mailboxProblem(email, fail);
    if (problem) return problem;
    const mailbox = this.mailboxes.get(email)!;
    const rule = ruleId === undefined ? undefined : mailbox.rules.find((r) => r.id === ruleId);
    if (ruleId !== undefined && !rule)
      return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    if (method === 'POST' || method === 'PATCH') {
      const problem =
        request.body === undefined ? 'The request body is empty.' : validateAgainstType(request.body, 'messageRule');
      if (problem) return fail(400, 'RequestBodyRead', problem);
    }
    const body = request.body as Record<string, unknown>;
    if (method === 'GET' && !rule)
      return {
        status: 200,
        headers: {},
        body: {
          '@odata.context': `${this.url}/v1.0/$metadata#users('${encodeURIComponent(email)}')/mailFolders('inbox')/messageRules`,
          value: mailbox.rules.map(present),
        },
      };
    if (method === 'GET' && rule) return { status: 200, headers: {}, body: present(rule) };
    if (method === 'POST' && !rule) return this.create(email, mailbox.rules, body, fail);
    if (method === 'PATCH' && rule) return this.update(mailbox.rules, rule, body, fail);
    if (method === 'DELETE' && rule) {
      this.stats.writes++;
      mailbox.rules.splice(mailbox.rules.indexOf(rule), 1);
      renumber(mailbox.rules);
      return { status: 204, headers: {} };
    }
    return fail(405, 'ErrorInvalidRequest', `The OData request is not supported: ${method}.`);
  }

  /**
   * List domains (learn.microsoft.com/graph/api/domain-list, v1.0): application permission
   * Domain.Read.All, or the higher Domain.ReadWrite.All / Directory.Read.All; without one the
   * directory answers 403 Authorization_RequestDenied. The collection holds every domain, verified
   * or not; only GET is served here.
   */
  private listDomains(request: ServiceRequest, fail: (status: number, code: string, message: string) => Reply): Reply {
    if (request.method !== 'GET')
      return fail(
        405,
        'Request_BadRequest',
        `The HTTP method '${request.method}' is not supported by this simulator for domains.`,
      );
    const allowed = ['Domain.Read.All', 'Domain.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
    if (!request.roles.some((role) => allowed.includes(role)))
      return fail(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    const value = this.directoryDomains().map((domain) => ({
      authenticationType: 'Managed',
      availabilityStatus: null,
      isAdminManaged: true,
      isDefault: domain.isDefault ?? false,
      isInitial: domain.id.endsWith('.onmicrosoft.com'),
      isRoot: true,
      isVerified: domain.isVerified,
      passwordNotificationWindowInDays: null,
      passwordValidityPeriodInDays: null,
      supportedServices: ['Email', 'OfficeCommunicationsOnline'],
      state: null,
      id: domain.id,
    }));
    return { status: 200, headers: {}, body: { '@odata.context': `${this.url}/v1.0/$metadata#domains`, value } };
  }

  /** The directory's domains: what GET /domains lists, and what mail delivery counts as internal. */
  private directoryDomains(): Array<{ id: string; isVerified: boolean; isDefault?: boolean }> {
    return (
      this.options.domains ?? [
        { id: 'contoso.com', isVerified: true, isDefault: true },
        { id: 'contoso.onmicrosoft.com', isVerified: true, isDefault: false },
      ]
    );
  }

  private create(
    email: string,
    rules: SimulatedRule[],
    body: Record<string, unknown>,
    fail: (s: number, c: string, m: string) => Reply,
  ): Reply {
    for (const required of ['displayName', 'sequence', 'actions']) {
      if (body[required] === undefined)
        return fail(400, 'ErrorInvalidRequest', `The property '${required}' is required when creating the entity.`);
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
    this.alerts.ruleCreated(email, rule);
    // The write is committed, but the client hears only a gateway timeout.
    if (this.timeoutAfterCreate.delete(email)) return fail(504, 'UnknownError', 'Gateway Timeout');
    return {
      status: 201,
      headers: {},
      body: {
        '@odata.context': `${this.url}/v1.0/$metadata#users('${encodeURIComponent(email)}')/mailFolders('inbox')/messageRules/$entity`,
        ...present(rule),
      },
    };
  }

  private update(
    rules: SimulatedRule[],
    rule: SimulatedRule,
    body: Record<string, unknown>,
    fail: (s: number, c: string, m: string) => Reply,
  ): Reply {
    if (rule.isReadOnly)
      return fail(
        400,
        'ErrorInvalidRequest',
        'The rule cannot be modified through this API because it uses features the API does not support.',
      );
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
    return { status: 200, headers: {}, body: present(rule) };
  }

  private count(reply: Reply): Reply {
    this.stats.byStatus[reply.status] = (this.stats.byStatus[reply.status] ?? 0) + 1;
    return reply;
  }

  /** Concurrency, injected throttling and the app-wide ceiling, with Retry-After windows. */
  private throttle(
    email: string,
    arrivedAt: number,
  ): { code: string; message: string; retryAfter: string } | undefined {
    // Windows run from when the 429 is answered; arrivals are judged, and the bucket charged, by
    // when they arrived (as in the EWS simulator).
    const now = Date.now();
    const grace = this.options.inFlightGraceInMs ?? 100;
    const open = [this.windows.get(email), this.windows.get('*')].filter((w) => w && w.until > arrivedAt);
    if (open.some((w) => arrivedAt - w!.openedAt > grace)) this.stats.insideRetryAfterWindow++;
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
      return announce(
        email,
        retryAfterSeconds,
        'ApplicationThrottled',
        'Application is over its MailboxConcurrency limit.',
      );
    }
    const left = this.throttleLeft.get(email) ?? 0;
    if (left > 0) {
      this.throttleLeft.set(email, left - 1);
      return announce(
        email,
        retryAfterSeconds,
        'ApplicationThrottled',
        'Application is over its MailboxConcurrency limit.',
      );
    }
    const rate = this.options.requestsPerSecond;
    if (rate) {
      // Token bucket of `burst` requests refilled at the ceiling; Graph counts requests made while throttled.
      this.bucket.tokens = Math.min(
        this.bucketSize,
        this.bucket.tokens + (Math.max(0, arrivedAt - this.bucket.at) / 1000) * rate,
      );
      this.bucket.at = Math.max(this.bucket.at, arrivedAt);
      this.bucket.tokens -= 1;
      if (this.bucket.tokens < 0) {
        // Until a whole request is allowed again, in whole seconds and at least one, as Exchange
        // Online answers (exchange-facts.md, "Throttling (Outlook service)"): every app-wide 429
        // costs the app a second of its budget.
        const seconds = Math.max(1, Math.ceil((1 - this.bucket.tokens) / rate));
        return announce('*', seconds, 'TooManyRequests', 'Please retry again later.');
      }
    }
    return undefined;
  }

  private async withMailboxSlot<T>(email: string, work: () => Promise<T>): Promise<T> {
    const count = (this.inFlight.get(email) ?? 0) + 1;
    this.inFlight.set(email, count);
    this.stats.maxInFlightPerMailbox = Math.max(this.stats.maxInFlightPerMailbox, count);
    try {
      return await work();
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
  return {
    ...rest,
    ...(conditions ? { conditions } : {}),
    ...(actions ? { actions } : {}),
    ...(exceptions ? { exceptions } : {}),
  };
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
        if (
          item &&
          typeof item === 'object' &&
          'emailAddress' in item &&
          !recipientAddress.safeParse(address).success
        ) {
          return `At least one recipient isn't valid: '${String(address)}'.`;
        }
      }
    }
  }
  return undefined;
}

interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

interface ServiceRequest {
  method: string;
  /** Path below /v1.0. */
  path: string;
  body?: unknown;
  roles: string[];
  clientRequestId: string;
}

interface BatchItem {
  id: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  dependsOn?: string[];
}

/** Graph's OData error envelope. */
function errorReply(
  status: number,
  code: string,
  message: string,
  clientRequestId: string,
  headers: Record<string, string> = {},
): Reply {
  const innerError = {
    date: new Date().toISOString().slice(0, 19),
    'request-id': randomUUID(),
    'client-request-id': clientRequestId,
  };
  return { status, headers, body: { error: { code, message, innerError } } };
}

function parseJsonBody(text: string, contentType: string): { body: unknown } | { error: Reply } {
  if (!text) return { body: undefined };
  if (!contentType.includes('application/json')) {
    return {
      error: errorReply(
        415,
        'UnsupportedMediaType',
        'A supported MIME type could not be found that matches the content type of the response.',
        randomUUID(),
      ),
    };
  }
  try {
    return { body: JSON.parse(text) };
  } catch {
    return {
      error: errorReply(
        400,
        'BadRequest',
        'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.',
        randomUUID(),
      ),
    };
  }
}
