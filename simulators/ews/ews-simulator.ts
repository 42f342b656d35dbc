import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DOMParser } from '@xmldom/xmldom';
import { close, delay, listen, readBody, seededRandom } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import { IdentitySimulator, type AppRegistration } from '../graph/identity.js';
import { EwsAuthentication, type EwsAuthOptions } from './auth.js';
import { childNamed, elementChildren, textOf, type EwsRule } from './ews-rules.js';
import { getInboxRules, newId, updateInboxRules, type StoredMailbox } from './inbox-rules.js';
import type { EwsSchemaValidator } from './schema-validator.js';
import { fault, response, type SoapReply } from './soap.js';
import { emptyEwsStats, type EwsSimulatorStats } from './stats.js';
import { EwsThrottling, type EwsThrottlingOptions } from './throttling.js';
import type { LimiterOptions } from '../limiters.js';

/**
 * A local stand-in for Exchange Web Services on an on-premises server (/EWS/Exchange.asmx), built
 * from Microsoft's schema and the documented samples in shared/ref/ews: SOAP 1.1 with the EWS
 * schema enforced on every request, NTLM (v2) and Basic authentication, ApplicationImpersonation,
 * GetInboxRules / UpdateInboxRules with all-or-nothing rule operations and their validation errors,
 * the Outlook rule blob, the rules quota, ErrorServerBusy with BackOffMilliseconds and HTTP 503.
 * This file routes each request; each area lives in its own file with the documents it follows:
 * auth.ts (NTLM, Basic, Bearer), inbox-rules.ts and ews-rules.ts (the rule operations and the rule
 * XML), throttling.ts (ErrorServerBusy, connection count), soap.ts (responses and faults),
 * schema-validator.ts (the EWS schema), stats.ts (what a run reports).
 */

export type { EwsSimulatorStats } from './stats.js';

export interface EwsSimulatedMailbox {
  email: string;
  rules?: Array<Omit<EwsRule, 'RuleId' | 'Priority'> & Partial<Pick<EwsRule, 'RuleId' | 'Priority'>>>;
  /** Outlook has stored client-only rules in the mailbox (the "rule blob"). */
  outlookRuleBlobExists?: boolean;
  /** The service account may not impersonate this user (outside the management scope). */
  impersonationDenied?: boolean;
  /** Rules quota in bytes (Exchange default 256 KB; Exchange 2010: 64 KB). */
  rulesQuotaBytes?: number;
}

export interface EwsSimulatorOptions extends EwsAuthOptions, EwsThrottlingOptions {
  certificate: LocalCertificate;
  /** Modern authentication: an Entra app whose tokens (audience: this server) the simulator accepts. */
  oauthApp?: AppRegistration;
  mailboxes?: EwsSimulatedMailbox[];
  /** Validates every request body against Microsoft's schema; invalid ones get ErrorSchemaValidation. */
  validator?: EwsSchemaValidator;
  latencyInMs?: number;
  latencyJitterInMs?: number;
  /** Addresses the directory knows; rule recipients outside it fail with RecipientDoesNotExist. */
  knownRecipients?: string[];
  /** Share of requests answered HTTP 503 (IIS request queue full). */
  serviceUnavailableRate?: number;
  seed?: number;
}

export class EwsSimulator {
  url = '';
  readonly stats: EwsSimulatorStats = emptyEwsStats();
  /** Request and response bodies (the first 500 each), for validating them with xmllint in a test. */
  readonly capturedRequests: string[] = [];
  readonly capturedResponses: string[] = [];
  private readonly identity?: IdentitySimulator;
  private origin = '';
  private server?: Server;
  private readonly mailboxes = new Map<string, StoredMailbox>();
  private readonly random: () => number;
  private readonly throttling: EwsThrottling;
  private readonly authentication: EwsAuthentication;

  constructor(private readonly options: EwsSimulatorOptions) {
    this.random = seededRandom(options.seed ?? 3);
    this.throttling = new EwsThrottling(options, this.stats);
    for (const mailbox of options.mailboxes ?? []) this.addMailbox(mailbox);
    // Hybrid modern auth: the Exchange server's URL is registered on the tenant as a resource.
    if (options.oauthApp)
      this.identity = new IdentitySimulator(
        options.oauthApp,
        () => this.origin,
        () => [this.origin],
      );
    this.authentication = new EwsAuthentication(options, this.stats, this.identity, () => this.origin);
  }

  async start(): Promise<string> {
    const { server, url } = await listen(this.options.certificate, (req, res) => this.handle(req, res));
    this.server = server;
    this.origin = url;
    this.url = `${url}/EWS/Exchange.asmx`;
    this.throttling.start();
    return this.url;
  }

  /** The app-wide ceiling starts afresh now: a full budget, and its schedule (if any) from here. */
  restartLimiter(limiter?: Pick<LimiterOptions, 'shape' | 'schedule'>): void {
    this.throttling.start(limiter);
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  addMailbox(mailbox: EwsSimulatedMailbox): void {
    const rules = (mailbox.rules ?? []).map((rule, i) => ({ RuleId: newId(), Priority: i + 1, ...rule }));
    this.mailboxes.set(mailbox.email.toLowerCase(), {
      rules,
      outlookRuleBlobExists: mailbox.outlookRuleBlobExists ?? false,
      impersonationDenied: mailbox.impersonationDenied ?? false,
      rulesQuotaBytes: mailbox.rulesQuotaBytes ?? 256 * 1024,
    });
  }

  rulesOf(email: string): EwsRule[] {
    return structuredClone(this.mailboxes.get(email.toLowerCase())?.rules ?? []);
  }

  outlookRuleBlobExists(email: string): boolean | undefined {
    return this.mailboxes.get(email.toLowerCase())?.outlookRuleBlobExists;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // When the request reached the server: whether the client sent it inside a BackOff window is
    // judged by this, not by when the simulator got round to it (latency, schema check).
    const arrivedAt = Date.now();
    const pathname = new URL(req.url ?? '/', 'https://x').pathname;
    if (this.identity && (await this.identity.handle(req, res, pathname))) return;
    if (pathname.toLowerCase() !== '/ews/exchange.asmx') {
      res.writeHead(404, { 'content-type': 'text/html' });
      return void res.end('<html><body>404 - Not Found</body></html>');
    }
    const body = await readBody(req);
    if (!this.authentication.authenticate(req, res)) return;
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>You have created a service.</body></html>');
    }
    this.stats.requests++;
    await this.throttling.withConnection(async () => {
      await this.latency();
      if (this.random() < (this.options.serviceUnavailableRate ?? 0)) {
        res.writeHead(503, { 'content-type': 'text/html' }); // IIS: "Service Unavailable", no Retry-After
        return void res.end('<html><body>Service Unavailable</body></html>');
      }
      if (this.capturedRequests.length < 500) this.capturedRequests.push(body);
      const reply = await this.soap(req, body, arrivedAt);
      this.count(reply.code);
      if (this.capturedResponses.length < 500) this.capturedResponses.push(reply.xml);
      res.writeHead(reply.status, { 'content-type': 'text/xml; charset=utf-8' });
      res.end(reply.xml);
    });
  }

  private async soap(req: IncomingMessage, xml: string, arrivedAt: number): Promise<SoapReply> {
    if (this.options.validator) {
      const result = await this.options.validator.validate(xml);
      if (!result.ok) {
        this.stats.schemaInvalid++;
        this.stats.schemaErrors.push(...result.errors);
        return fault({
          code: 'ErrorSchemaValidation',
          message: `The request failed schema validation: ${result.errors[0] ?? ''}`,
        });
      }
    }
    const doc = new DOMParser().parseFromString(xml, 'text/xml');
    const envelope = doc.documentElement!;
    const header = childNamed(envelope, 'Header');
    const operation = elementChildren(childNamed(envelope, 'Body')!)[0]!;
    const sid = childNamed(childNamed(header, 'ExchangeImpersonation'), 'ConnectingSID');
    const impersonated = textOf(
      childNamed(sid, 'PrimarySmtpAddress') ?? childNamed(sid, 'SmtpAddress') ?? childNamed(sid, 'PrincipalName'),
    )?.toLowerCase();
    const throttled = this.throttling.throttle(impersonated, arrivedAt);
    if (throttled) return fault(throttled);
    if (!impersonated)
      return response(operation.localName!, {
        code: 'ErrorAccessDenied',
        message: 'Access is denied. Check credentials and try again.',
      });
    const anchor = String(req.headers['x-anchormailbox'] ?? '').toLowerCase();
    if (anchor !== impersonated) this.stats.withoutAnchorMailbox++;
    const mailbox = this.mailboxes.get(impersonated);
    if (!mailbox)
      return fault({ code: 'ErrorNonExistentMailbox', message: 'The SMTP address has no mailbox associated with it.' });
    if (mailbox.impersonationDenied)
      return fault({
        code: 'ErrorImpersonateUserDenied',
        message: 'The account does not have permission to impersonate the requested user.',
      });
    const target = textOf(childNamed(operation, 'MailboxSmtpAddress'))?.toLowerCase();
    if (target && target !== impersonated)
      return response(operation.localName!, {
        code: 'ErrorAccessDenied',
        message: 'Access is denied. Check credentials and try again.',
      });
    switch (operation.localName) {
      case 'GetInboxRules':
        return getInboxRules(mailbox);
      case 'UpdateInboxRules':
        return updateInboxRules(operation, mailbox, this.stats, this.options.knownRecipients);
      default:
        return fault({
          code: 'ErrorInvalidRequest',
          message: `The request is invalid: ${operation.localName} is not simulated.`,
        });
    }
  }

  private count(code: string): void {
    this.stats.byResponseCode[code] = (this.stats.byResponseCode[code] ?? 0) + 1;
  }

  private async latency(): Promise<void> {
    const ms = (this.options.latencyInMs ?? 0) + (this.random() * 2 - 1) * (this.options.latencyJitterInMs ?? 0);
    if (ms > 0) await delay(ms);
  }
}
