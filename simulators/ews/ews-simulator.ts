import { createHash, randomBytes } from 'node:crypto';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { DOMParser, XMLSerializer, type Element as XmlElement } from '@xmldom/xmldom';
import { z } from 'zod';
import { close, delay, listen, readBody, seededRandom } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import { IdentitySimulator, type AppRegistration } from '../graph/identity.js';
import { challengeMessage, messageType, verifyAuthenticate, type NtlmServer } from './ntlm.js';
import {
  childNamed,
  elementChildren,
  escapeXml,
  ns,
  readRule,
  textOf,
  writeRule,
  type EwsRule,
  type EwsSection,
} from './ews-rules.js';
import type { EwsSchemaValidator } from './schema-validator.js';

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

export interface EwsSimulatorOptions {
  certificate: LocalCertificate;
  /** The service account: `DOMAIN\user` or a UPN, and its password. */
  account: { username: string; password: string };
  /** Which authentication the virtual directory offers. @default ['ntlm', 'basic'] */
  authentication?: Array<'ntlm' | 'basic' | 'bearer'>;
  /** Modern authentication: an Entra app whose tokens (audience: this server) the simulator accepts. */
  oauthApp?: AppRegistration;
  ntlmServer?: NtlmServer;
  mailboxes?: EwsSimulatedMailbox[];
  /** Validates every request body against Microsoft's schema; invalid ones get ErrorSchemaValidation. */
  validator?: EwsSchemaValidator;
  latencyInMs?: number;
  latencyJitterInMs?: number;
  /** Requests per second the account's throttling budget allows; beyond it ErrorServerBusy with BackOffMilliseconds. */
  requestsPerSecond?: number;
  /** Requests the account may send at once above its budget (the token bucket's size). @default one second's worth */
  burst?: number;
  /** Mailbox → number of its first requests answered ErrorServerBusy. */
  serverBusyFirstRequests?: Record<string, number>;
  /** BackOffMilliseconds for injected ErrorServerBusy. @default 500 */
  backOffInMs?: number;
  /** Addresses the directory knows; rule recipients outside it fail with RecipientDoesNotExist. */
  knownRecipients?: string[];
  /** See GraphSimulatorOptions.inFlightGraceInMs. @default 100 */
  inFlightGraceInMs?: number;
  /** Share of requests answered HTTP 503 (IIS request queue full). */
  serviceUnavailableRate?: number;
  /** Concurrent requests the account may have (EWSMaxConcurrency). @default 27 */
  maxConcurrency?: number;
  seed?: number;
}

export interface EwsSimulatorStats {
  requests: number;
  writes: number;
  byResponseCode: Record<string, number>;
  schemaInvalid: number;
  schemaErrors: string[];
  /**
   * Requests received while a BackOffMilliseconds window the simulator announced was open, more
   * than `inFlightGraceInMs` after announcing it (earlier ones were already on their way).
   */
  insideBackOffWindow: number;
  arrivedInFlight: number;
  /** Impersonated requests without an X-AnchorMailbox header naming the same mailbox. */
  withoutAnchorMailbox: number;
  ntlmHandshakes: number;
  /** Outlook client-only rules deleted because a request set RemoveOutlookRuleBlob. */
  outlookRuleBlobsRemoved: number;
  maxConcurrency: number;
}

const smtp = z.email();
/** Shortest BackOffMilliseconds an exhausted budget answers with. */
const minBudgetBackOffInMs = 1000;
type Fault = { code: string; message: string; backOffInMs?: number; status?: number };

/**
 * A local stand-in for Exchange Web Services on an on-premises server (/EWS/Exchange.asmx), built
 * from Microsoft's schema and the documented samples in shared/ref/ews: SOAP 1.1 with the EWS
 * schema enforced on every request, NTLM (v2) and Basic authentication, ApplicationImpersonation,
 * GetInboxRules / UpdateInboxRules with all-or-nothing rule operations and their validation errors,
 * the Outlook rule blob, the rules quota, ErrorServerBusy with BackOffMilliseconds and HTTP 503.
 */
export class EwsSimulator {
  url = '';
  readonly stats: EwsSimulatorStats = {
    requests: 0,
    writes: 0,
    byResponseCode: {},
    schemaInvalid: 0,
    schemaErrors: [],
    insideBackOffWindow: 0,
    arrivedInFlight: 0,
    withoutAnchorMailbox: 0,
    ntlmHandshakes: 0,
    outlookRuleBlobsRemoved: 0,
    maxConcurrency: 0,
  };
  /** Request and response bodies (the first 500 each), for validating them with xmllint in a test. */
  readonly capturedRequests: string[] = [];
  readonly capturedResponses: string[] = [];
  private readonly identity?: IdentitySimulator;
  private origin = '';
  private server?: Server;
  private readonly mailboxes = new Map<
    string,
    Required<Pick<EwsSimulatedMailbox, 'outlookRuleBlobExists' | 'impersonationDenied' | 'rulesQuotaBytes'>> & {
      rules: EwsRule[];
    }
  >();
  private readonly challenges = new WeakMap<Socket, Buffer>();
  private readonly random: () => number;
  private readonly busyLeft: Map<string, number>;
  private backOff = { openedAt: 0, until: 0 };
  private bucket = { tokens: 0, at: 0 };
  private inFlight = 0;

  constructor(private readonly options: EwsSimulatorOptions) {
    this.random = seededRandom(options.seed ?? 3);
    this.busyLeft = new Map(
      Object.entries(options.serverBusyFirstRequests ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    for (const mailbox of options.mailboxes ?? []) this.addMailbox(mailbox);
    // Hybrid modern auth: the Exchange server's URL is registered on the tenant as a resource.
    if (options.oauthApp)
      this.identity = new IdentitySimulator(
        options.oauthApp,
        () => this.origin,
        () => [this.origin],
      );
  }

  async start(): Promise<string> {
    const { server, url } = await listen(this.options.certificate, (req, res) => this.handle(req, res));
    this.server = server;
    this.origin = url;
    this.url = `${url}/EWS/Exchange.asmx`;
    this.bucket = { tokens: this.options.burst ?? this.options.requestsPerSecond ?? 0, at: Date.now() };
    return this.url;
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
    if (!this.authenticate(req, res)) return;
    if (req.method !== 'POST') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>You have created a service.</body></html>');
    }
    this.stats.requests++;
    this.inFlight++;
    this.stats.maxConcurrency = Math.max(this.stats.maxConcurrency, this.inFlight);
    try {
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
    } finally {
      this.inFlight--;
    }
  }

  /** NTLM (per connection), Basic or Bearer; answers 401 itself and returns false when not authenticated. */
  private authenticate(req: IncomingMessage, res: ServerResponse): boolean {
    const offered = this.options.authentication ?? (this.identity ? ['bearer'] : ['ntlm', 'basic']);
    const header = req.headers.authorization;
    const challenge = () => {
      const headers = [
        ...(offered.includes('ntlm') ? ['NTLM'] : []),
        ...(offered.includes('basic') ? ['Basic realm="mail.contoso.com"'] : []),
        ...(offered.includes('bearer') ? ['Bearer'] : []),
      ];
      res.writeHead(401, { 'www-authenticate': headers, 'content-length': '0' });
      res.end();
      return false;
    };
    if (offered.includes('ntlm') && header && /^NTLM /i.test(header)) {
      const type = messageType(header);
      if (type === 1) {
        const { header: type2, challenge: serverChallenge } = challengeMessage(
          this.options.ntlmServer ?? { domain: 'CONTOSO', computer: 'EXCH01', dnsDomain: 'contoso.local' },
        );
        this.challenges.set(req.socket, serverChallenge);
        res.writeHead(401, { 'www-authenticate': type2, 'content-length': '0' });
        res.end();
        return false;
      }
      const serverChallenge = this.challenges.get(req.socket);
      if (type !== 3 || !serverChallenge) return challenge();
      this.challenges.delete(req.socket);
      const identity = verifyAuthenticate(header, serverChallenge, (user, domain) =>
        this.matchesAccount(user, domain) ? this.options.account.password : undefined,
      );
      if (!identity) return challenge();
      this.stats.ntlmHandshakes++;
      return true;
    }
    if (offered.includes('basic') && header && /^Basic /i.test(header)) {
      const [user, ...rest] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':');
      const [domain, name] = user!.includes('\\') ? user!.split('\\') : ['', user!];
      if (this.matchesAccount(name!, domain!) && rest.join(':') === this.options.account.password) return true;
      return challenge();
    }
    if (offered.includes('bearer') && this.identity && header && /^Bearer /i.test(header)) {
      return this.identity.verifyToken(header, this.origin) === undefined || challenge();
    }
    return challenge();
  }

  private matchesAccount(user: string, domain: string): boolean {
    const configured = this.options.account.username.toLowerCase();
    const candidates = [user.toLowerCase(), `${domain.toLowerCase()}\\${user.toLowerCase()}`];
    return (
      candidates.includes(configured) ||
      configured.split('\\').pop() === user.toLowerCase() ||
      configured === `${user}`.toLowerCase()
    );
  }

  private async soap(
    req: IncomingMessage,
    xml: string,
    arrivedAt: number,
  ): Promise<{ status: number; code: string; xml: string }> {
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
    const throttled = this.throttle(impersonated, arrivedAt);
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
        return response(
          'GetInboxRules',
          undefined,
          `<m:OutlookRuleBlobExists>${mailbox.outlookRuleBlobExists}</m:OutlookRuleBlobExists><m:InboxRules>${[
            ...mailbox.rules,
          ]
            .sort((a, b) => a.Priority - b.Priority)
            .map(writeRule)
            .join('')}</m:InboxRules>`,
        );
      case 'UpdateInboxRules':
        return this.update(operation, mailbox);
      default:
        return fault({
          code: 'ErrorInvalidRequest',
          message: `The request is invalid: ${operation.localName} is not simulated.`,
        });
    }
  }

  /** UpdateInboxRules: every operation is validated first; one error rejects them all. */
  private update(
    operation: XmlElement,
    mailbox: { rules: EwsRule[]; outlookRuleBlobExists: boolean; rulesQuotaBytes: number },
  ) {
    const removeBlob = textOf(childNamed(operation, 'RemoveOutlookRuleBlob')) === 'true';
    if (mailbox.outlookRuleBlobExists && !removeBlob) {
      return response('UpdateInboxRules', {
        code: 'ErrorOutlookRuleBlobExists',
        message:
          'The operation cannot be performed because rules were saved by Outlook. To save rules from this client, set RemoveOutlookRuleBlob to true.',
      });
    }
    const serializer = new XMLSerializer();
    const serialize = (e: XmlElement) => serializer.serializeToString(e as never);
    const rules = structuredClone(mailbox.rules);
    const errors: string[] = [];
    elementChildren(childNamed(operation, 'Operations')!).forEach((op, index) => {
      const fail = (field: string, code: string, message: string, value = '') =>
        errors.push(
          `<t:RuleOperationError><t:OperationIndex>${index}</t:OperationIndex><t:ValidationErrors><t:Error><t:FieldURI>${field}</t:FieldURI><t:ErrorCode>${code}</t:ErrorCode><t:ErrorMessage>${escapeXml(message)}</t:ErrorMessage><t:FieldValue>${escapeXml(value)}</t:FieldValue></t:Error></t:ValidationErrors></t:RuleOperationError>`,
        );
      const ruleElement = childNamed(op, 'Rule');
      const rule = ruleElement && readRule(ruleElement, serialize);
      const id = op.localName === 'DeleteRuleOperation' ? textOf(childNamed(op, 'RuleId')) : rule?.RuleId;
      const existing = rules.find((r) => r.RuleId === id);
      if (op.localName === 'CreateRuleOperation' && rule?.RuleId)
        return fail('RuleId', 'CreateWithRuleId', 'A rule ID cannot be specified when creating a rule.', rule.RuleId);
      if (op.localName !== 'CreateRuleOperation' && !existing)
        return fail('RuleId', 'RuleNotFound', 'The rule was not found.', id ?? '');
      if (existing?.IsNotSupported)
        return fail('IsNotSupported', 'UnsupportedRule', 'The operation on this unsupported rule is not allowed.');
      if (op.localName === 'DeleteRuleOperation') return void rules.splice(rules.indexOf(existing!), 1);
      const problem = ruleProblem(rule!, this.options.knownRecipients);
      if (problem) return fail(problem.field, problem.code, problem.message, problem.value);
      if (existing) Object.assign(existing, rule, { RuleId: existing.RuleId, IsInError: undefined });
      else rules.push({ ...rule!, RuleId: newId(), Priority: rule!.Priority - 0.5 });
    });
    if (errors.length > 0) {
      return response(
        'UpdateInboxRules',
        {
          code: 'ErrorInboxRulesValidationError',
          message: 'A validation error occurred while executing the rule operation.',
        },
        `<m:RuleOperationErrors>${errors.join('')}</m:RuleOperationErrors>`,
      );
    }
    if (
      rules
        .filter((r) => r.IsEnabled)
        .map(writeRule)
        .join('').length > mailbox.rulesQuotaBytes
    ) {
      return response('UpdateInboxRules', {
        code: 'ErrorRulesOverQuota',
        message: 'The rules in this mailbox exceed the rules quota.',
      });
    }
    rules.sort((a, b) => a.Priority - b.Priority).forEach((rule, i) => (rule.Priority = i + 1));
    if (removeBlob && mailbox.outlookRuleBlobExists) {
      this.stats.outlookRuleBlobsRemoved++;
      mailbox.outlookRuleBlobExists = false;
    }
    mailbox.rules = rules;
    this.stats.writes++;
    return response('UpdateInboxRules');
  }

  /** The account's budget: ErrorServerBusy (with BackOffMilliseconds) or too many connections. */
  private throttle(mailbox: string | undefined, arrivedAt: number): Fault | undefined {
    const now = Date.now();
    if (this.backOff.until > arrivedAt) {
      if (arrivedAt - this.backOff.openedAt > (this.options.inFlightGraceInMs ?? 100)) this.stats.insideBackOffWindow++;
      else this.stats.arrivedInFlight++;
    }
    if (this.inFlight > (this.options.maxConcurrency ?? 27))
      return {
        code: 'ErrorExceededConnectionCount',
        message:
          'You have exceeded the available concurrent connections for your account. Try again once your other requests have completed.',
      };
    const busy = (backOffInMs: number): Fault => {
      if (this.backOff.until <= now) this.backOff = { openedAt: now, until: now + backOffInMs };
      else this.backOff.until = Math.max(this.backOff.until, now + backOffInMs);
      return {
        code: 'ErrorServerBusy',
        message: 'The server cannot service this request right now. Try again later.',
        backOffInMs,
      };
    };
    const left = mailbox ? (this.busyLeft.get(mailbox) ?? 0) : 0;
    if (left > 0) {
      this.busyLeft.set(mailbox!, left - 1);
      return busy(this.options.backOffInMs ?? 500);
    }
    const rate = this.options.requestsPerSecond;
    if (!rate) return undefined;
    // The budget is charged when the request arrived, like the window: a simulator busy with
    // schema checks must not see requests that came apart as a burst.
    this.bucket.tokens = Math.min(
      this.options.burst ?? rate,
      this.bucket.tokens + (Math.max(0, arrivedAt - this.bucket.at) / 1000) * rate,
    );
    this.bucket.at = Math.max(this.bucket.at, arrivedAt);
    this.bucket.tokens -= 1;
    // An exhausted budget answers with BackOffMilliseconds of at least a second (Exchange's budgets
    // recharge per second; the field has been seen asking for minutes: exchange-facts.md, EWS errors).
    return this.bucket.tokens < 0
      ? busy(Math.max(minBudgetBackOffInMs, Math.ceil(((1 - this.bucket.tokens) / rate) * 1000)))
      : undefined;
  }

  private count(code: string): void {
    this.stats.byResponseCode[code] = (this.stats.byResponseCode[code] ?? 0) + 1;
  }

  private async latency(): Promise<void> {
    const ms = (this.options.latencyInMs ?? 0) + (this.random() * 2 - 1) * (this.options.latencyJitterInMs ?? 0);
    if (ms > 0) await delay(ms);
  }
}

/** What Exchange checks in a rule it is asked to save. */
function ruleProblem(
  rule: Omit<EwsRule, 'RuleId'>,
  knownRecipients?: string[],
): { field: string; code: string; message: string; value?: string } | undefined {
  const known = knownRecipients && new Set(knownRecipients.map((a) => a.toLowerCase()));
  if (!rule.DisplayName) return { field: 'DisplayName', code: 'EmptyValueFound', message: 'The value is empty.' };
  const actions = rule.Actions ?? {};
  if (Object.keys(actions).length === 0)
    return { field: 'Actions', code: 'MissingAction', message: 'The rule must contain at least one action.' };
  const sections: Array<[string, EwsSection | undefined]> = [
    ['Condition', rule.Conditions],
    ['Exception', rule.Exceptions],
    ['Action', rule.Actions],
  ];
  for (const [prefix, section] of sections) {
    for (const [name, value] of Object.entries(section ?? {})) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        if (typeof item !== 'object') continue;
        if (!smtp.safeParse(item.address).success)
          return {
            field: `${prefix}:${name}`,
            code: 'InvalidAddress',
            message: 'The e-mail address is invalid.',
            value: item.address,
          };
        if (prefix === 'Action' && known && !known.has(item.address.toLowerCase())) {
          return {
            field: `${prefix}:${name}`,
            code: 'RecipientDoesNotExist',
            message: 'The recipient does not exist.',
            value: item.address,
          };
        }
      }
    }
  }
  return undefined;
}

function envelope(body: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${ns.soap}"><s:Header>` +
    `<h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4" Version="V2017_07_11" xmlns:h="${ns.types}" xmlns="${ns.types}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"/>` +
    `</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">${body}</s:Body></s:Envelope>`
  );
}

/** An operation's response (ResponseMessageType: MessageText, ResponseCode, DescriptiveLinkKey, then the operation's own elements). */
function response(operation: string, error?: Fault, extra = ''): { status: number; code: string; xml: string } {
  const head = error
    ? `<m:MessageText>${escapeXml(error.message)}</m:MessageText><m:ResponseCode>${error.code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`
    : '<m:ResponseCode>NoError</m:ResponseCode>';
  const xml = envelope(
    `<m:${operation}Response ResponseClass="${error ? 'Error' : 'Success'}" xmlns:m="${ns.messages}" xmlns:t="${ns.types}">${head}${extra}</m:${operation}Response>`,
  );
  return { status: 200, code: error?.code ?? 'NoError', xml };
}

/** A SOAP fault as Exchange sends them, with HTTP 500. */
function fault(error: Fault): { status: number; code: string; xml: string } {
  const backOff =
    error.backOffInMs === undefined
      ? ''
      : `<t:MessageXml xmlns:t="${ns.types}"><t:Value Name="BackOffMilliseconds">${error.backOffInMs}</t:Value></t:MessageXml>`;
  const xml = envelope(
    `<s:Fault><faultcode xmlns:a="${ns.types}">a:${error.code}</faultcode><faultstring xml:lang="en-US">${escapeXml(error.message)}</faultstring>` +
      `<detail><e:ResponseCode xmlns:e="${ns.errors}">${error.code}</e:ResponseCode><e:Message xmlns:e="${ns.errors}">${escapeXml(error.message)}</e:Message>${backOff}</detail></s:Fault>`,
  );
  return { status: error.status ?? 500, code: error.code, xml };
}

/** EWS-style opaque rule ids, like "dCsAAABjzvA=". */
function newId(): string {
  return createHash('sha1').update(randomBytes(16)).digest().subarray(0, 8).toString('base64');
}
