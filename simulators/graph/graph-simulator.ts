import { randomUUID } from 'node:crypto';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { close, delay, listen, readBody, seededRandom, sendJson } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import { batch } from './batch.js';
import { Directory, type DirectoryDomain, type SimulatedMailbox } from './directory.js';
import {
  cloudResources,
  IdentitySimulator,
  type AppRegistration,
  type CloudName,
  type ManagedIdentityHost,
} from './identity.js';
import { MailFlow } from './mail-flow.js';
import { isMailPath, routeMail } from './mail-routes.js';
import { errorReply, parseJsonBody, type Fail, type Reply, type ServiceRequest } from './replies.js';
import { ruleOperation, rulesAccessDenied, type SimulatedRule } from './rules.js';
import { emptyGraphStats, type GraphSimulatorStats } from './stats.js';
import { AnswerScope, GraphThrottling, type GraphThrottlingOptions } from './throttling.js';
import type { LimiterOptions } from '../limiters.js';
import { isReportPath, UsageReports, type UsageReportsOptions } from './reports.js';
import { SecurityAlerts } from './security-alerts.js';

/**
 * A local stand-in for Microsoft Graph v1.0 message rules and the Entra ID token endpoint, built
 * from Microsoft's documentation and metadata (`src/simulators/graph/messageRule.csdl.xml`, the
 * samples in shared/ref/graph): status codes, OData error envelopes, Retry-After, MailboxConcurrency
 * throttling, mailbox-less users, read-only rules and sequence renumbering. This file routes each
 * request; each service area lives in its own file, with the documents it follows at its top:
 * identity.ts (Entra ID), directory.ts (users, mailboxes, domains), rules.ts (message rules),
 * mail-flow.ts and mail-routes.ts (mail), batch.ts (JSON batching), throttling.ts (429s and
 * Retry-After), replies.ts (error envelopes), stats.ts (what a run reports).
 */

export type { MailboxKind, SimulatedMailbox } from './directory.js';
export type { SimulatedRule } from './rules.js';
export type { GraphSimulatorStats } from './stats.js';

export interface GraphSimulatorOptions extends GraphThrottlingOptions {
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
  /** Mailboxes whose first rule creation is committed but answered 504 (the client cannot know). */
  gatewayTimeoutAfterCreate?: string[];
  /** The directory's domains (`GET /domains`). @default contoso.com and contoso.onmicrosoft.com, verified */
  domains?: DirectoryDomain[];
  seed?: number;
  /** How long mail takes from sendMail (or a rule's forward) to the recipient's inbox. @default 50 */
  deliveryDelayInMs?: number;
  /** Microsoft 365 usage reports and their setting (reports.ts). */
  reports?: UsageReportsOptions;
}

export class GraphSimulator {
  url = '';
  readonly identity: IdentitySimulator;
  /** The application ID URI Graph's tokens are issued for (their `aud`). */
  readonly resource: string;
  /** Messages, delivery and inbox rules at work (sendMail, messages, attachments). */
  readonly mail: MailFlow;
  readonly stats: GraphSimulatorStats = emptyGraphStats();
  /** Usage reports and report settings (reports.ts). */
  readonly reports: UsageReports;
  /** Defender alerts (security/alerts_v2); tests plant the ones a rule creation raises. */
  readonly alerts = new SecurityAlerts();
  private server?: Server;
  private readonly directory: Directory;
  private readonly throttling: GraphThrottling;
  private readonly random: () => number;
  private readonly timeoutAfterCreate: Set<string>;

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
    this.throttling = new GraphThrottling(options, this.stats);
    this.timeoutAfterCreate = new Set((options.gatewayTimeoutAfterCreate ?? []).map((e) => e.toLowerCase()));
    this.directory = new Directory(options.domains, () => this.url);
    for (const mailbox of options.mailboxes ?? []) this.addMailbox(mailbox);
    this.reports = new UsageReports(
      { available: (options.cloud ?? 'global') === 'global', ...options.reports },
      (upn) => this.directory.mailboxes.get(upn.toLowerCase())?.kind,
      () => this.url,
    );
    this.mail = new MailFlow(
      {
        isInternalDomain: (domain) =>
          this.directory.directoryDomains().some((d) => d.isVerified && d.id.toLowerCase() === domain),
        rulesOf: (email) => {
          const mailbox = this.directory.mailboxes.get(email.toLowerCase());
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
    this.throttling.start();
    return url;
  }

  /** The app-wide ceiling starts afresh now: a full budget, and its schedule (if any) from here. */
  restartLimiter(limiter?: Pick<LimiterOptions, 'shape' | 'schedule'>): void {
    this.throttling.start(limiter);
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  addMailbox(mailbox: SimulatedMailbox): void {
    this.directory.addMailbox(mailbox);
  }

  /**
   * A change made outside sinkrule, as the mailbox's user would in Outlook on the web (tests of
   * what sinkrule does when a mailbox changed after its run).
   */
  editRule(email: string, ruleId: string, changes: Partial<Omit<SimulatedRule, 'id'>>): void {
    const rule = this.directory.mailboxes.get(email.toLowerCase())?.rules.find((r) => r.id === ruleId);
    if (!rule) throw new Error(`no rule ${ruleId} in ${email}`);
    Object.assign(rule, structuredClone(changes));
  }

  /** The rules as stored (read-only rules with their hidden content). */
  rulesOf(email: string): SimulatedRule[] {
    return structuredClone(this.directory.mailboxes.get(email.toLowerCase())?.rules ?? []);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The service meters requests as they reach it: the simulator's own work on them (reading the
    // body, checking the token, a busy event loop) must not bunch paced requests into a burst.
    const arrivedAt = Date.now();
    const url = new URL(req.url ?? '/', this.url);
    if (await this.identity.handle(req, res, url.pathname)) return;
    this.stats.byMethod[req.method ?? 'GET'] = (this.stats.byMethod[req.method ?? 'GET'] ?? 0) + 1;
    if (await this.reports.handleDownload(req, res, url.pathname)) return;
    this.stats.httpRequests++;
    const clientRequestId = String(req.headers['client-request-id'] ?? randomUUID());
    const authProblem = this.identity.verifyToken(req.headers.authorization, this.resource);
    const roles = this.identity.rolesOf(req.headers.authorization);
    const bodyText = req.method === 'GET' || req.method === 'DELETE' ? '' : await readBody(req);
    let reply: Reply;
    if (authProblem) reply = this.count(errorReply(401, 'InvalidAuthenticationToken', authProblem, clientRequestId));
    else if (/^\/v1\.0\/\$batch$/i.test(url.pathname) && req.method === 'POST') {
      const answer = new AnswerScope();
      try {
        reply = await batch(bodyText, roles, clientRequestId, arrivedAt, {
          stats: this.stats,
          execute: (request, itemArrivedAt) => this.execute(request, itemArrivedAt, answer),
          count: (itemReply) => this.count(itemReply),
        });
      } finally {
        answer.answered();
      }
    } else {
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

  /** One Graph request (alone or a batch item): throttling, latency, failures, then the operation. */
  private async execute(request: ServiceRequest, arrivedAt = Date.now(), answer?: AnswerScope): Promise<Reply> {
    this.stats.requests++;
    const fail: Fail = (status, code, message, headers = {}) =>
      errorReply(status, code, message, request.clientRequestId, headers);
    const [path, search = ''] = request.path.split('?') as [string, string?];
    if (/^\/domains\/?$/i.test(path)) return this.count(this.directory.listDomains(request, fail));
    if (isReportPath(path))
      return this.count(this.reports.route(request.method, path, request.roles, request.body, fail));
    if (/^\/security\/alerts_v2\/?$/i.test(path))
      return this.count(this.alerts.list(request.method, new URLSearchParams(search), request.roles, this.url, fail));
    const mailMatch = /^\/users\/([^/]+)(\/.+)$/i.exec(path);
    if (mailMatch && isMailPath(mailMatch[2]!)) {
      const email = decodeURIComponent(mailMatch[1]!).toLowerCase();
      return this.count(
        await this.throttling.withMailboxSlot(email, () =>
          this.mailRequest(request, email, mailMatch[2]!, new URLSearchParams(search), fail, arrivedAt, answer),
        ),
      );
    }
    const match = /^\/users\/([^/]+)\/mailFolders\/inbox\/messageRules(?:\/([^/]+))?$/i.exec(path);
    if (!match)
      return this.count(fail(400, 'BadRequest', `Resource not found for the segment '${path.split('/').pop()}'.`));
    const email = decodeURIComponent(match[1]!).toLowerCase();
    const ruleId = match[2] && decodeURIComponent(match[2]);
    return this.count(
      await this.throttling.withMailboxSlot(email, async () => {
        const throttled = this.throttling.throttle(email, arrivedAt, answer);
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
    fail: Fail,
    arrivedAt: number,
    answer?: AnswerScope,
  ): Promise<Reply> {
    const throttled = this.throttling.throttle(email, arrivedAt, answer);
    if (throttled) return fail(429, throttled.code, throttled.message, { 'Retry-After': throttled.retryAfter });
    await this.latency();
    const problem = this.directory.mailboxProblem(email, fail);
    if (problem) return problem;
    return routeMail(
      this.mail,
      this.url,
      email,
      { method: request.method, rest, query, body: request.body, roles: request.roles },
      fail,
    );
  }

  /** A rules request: the permission first, then the mailbox, then the operation (rules.ts). */
  private route(request: ServiceRequest, email: string, ruleId: string | undefined, fail: Fail): Reply {
    const denied = rulesAccessDenied(request, fail);
    if (denied) return denied;
    const problem = this.directory.mailboxProblem(email, fail);
    if (problem) return problem;
    const mailbox = this.directory.mailboxes.get(email)!;
    return ruleOperation(request, mailbox.rules, ruleId, fail, {
      url: this.url,
      email,
      stats: this.stats,
      timeoutAfterCreate: this.timeoutAfterCreate,
      onCreated: (rule) => this.alerts.ruleCreated(email, rule),
    });
  }

  private count(reply: Reply): Reply {
    this.stats.byStatus[reply.status] = (this.stats.byStatus[reply.status] ?? 0) + 1;
    return reply;
  }

  private async latency(): Promise<void> {
    const mean = this.options.latencyInMs ?? 0;
    const spread = this.options.latencyJitterInMs ?? 0;
    const ms = mean + (this.random() * 2 - 1) * spread;
    if (ms > 0) await delay(ms);
  }
}
