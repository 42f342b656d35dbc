import graphClient, { type GraphError } from '@microsoft/microsoft-graph-client';
import type { TokenCredential } from '@azure/identity';
import { credentialFailure, requireToken, signedInAppOf } from '../auth/graph-credential.js';
import { AccessError, MailboxError, ThrottledError, TransientError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { RuleChange } from '../core/plan.js';
import { parseRetryAfter, type Clock } from '../core/retry.js';
import type { MailboxRule, RuleSpec } from '../core/rule.js';
import { NotSentError, type PacedSlot, type ThrottleGate } from '../core/throttle-gate.js';
import type { GraphConfig } from '../input/config.js';
import type { ApiProvider, ApplyResult, MailboxState, SignedInApp } from '../core/provider.js';
import { GraphBatcher, maxBatchItems, type BatchItemRequest, type BatchItemResponse } from './graph-batch.js';
import { createGraphMail } from './graph-mail.js';
import { createGraphAlerts } from './graph-alerts.js';
import { GraphHttpHandler, type GraphWire, type SlotCarrier } from './graph-transport.js';
import { throttleScopeOf } from './graph-throttle.js';

const { Client, AuthenticationHandler, TelemetryHandler } = graphClient;

export interface GraphProviderOptions {
  config: GraphConfig;
  credential: TokenCredential;
  gate: ThrottleGate;
  clock: Clock;
  /** A request with no answer after this long counts as a timeout (its effect is unknown). @default 60000 */
  requestTimeoutInMs?: number;
  /** Requests per JSON batch; 1 sends each request on its own. @default 1 (the config's default is 4) */
  batchSize?: number;
  /** What puts requests on the wire (the wire thread, wire-thread.ts). @default undici on this thread */
  wire?: GraphWire;
}

/** Codes Graph answers with when the user has no Exchange Online mailbox Graph can reach. */
export const noMailboxCodes: ReadonlySet<string> = new Set([
  'MailboxNotEnabledForRESTAPI',
  'MailboxNotSupportedForRESTAPI',
  'ResourceNotFound',
  'ErrorInvalidUser',
  'ErrorNonExistentMailbox',
]);
/** Codes the identity library's errors surface as, once the Graph client has wrapped them. */
const credentialCodes = new Set([
  'AuthenticationError',
  'AuthenticationRequiredError',
  'CredentialUnavailableError',
  'AccessError',
]);

/** Exchange Online through Microsoft Graph v1.0: /users/{upn}/mailFolders/inbox/messageRules. */
export function createGraphProvider(options: GraphProviderOptions): ApiProvider {
  const { config, credential, gate, clock } = options;
  // The token is for the cloud's Graph resource, whatever host the requests go to (config.ts).
  const scope = config.tokenScope;
  const timeoutInMs = options.requestTimeoutInMs ?? 60_000;
  // No RetryHandler: the client's own retries would replay POSTs after a 504 (duplicate rules)
  // and ignore the run-wide throttle windows. The core's retry loop re-reads instead.
  const auth = new AuthenticationHandler({ getAccessToken: () => accessToken(credential, scope) });
  const telemetry = new TelemetryHandler();
  auth.setNext(telemetry);
  telemetry.setNext(new GraphHttpHandler(options.wire));
  const client = Client.initWithMiddleware({
    baseUrl: `${config.baseUrl}/`,
    defaultVersion: 'v1.0',
    middleware: auth,
    // The client attaches the token only to Microsoft's Graph hosts and these (bare host names).
    customHosts: config.customEndpoints ? new Set([new URL(config.baseUrl).hostname]) : undefined,
  });

  const rulesPath = (mailbox: Mailbox) => `/users/${encodeURIComponent(mailbox.email)}/mailFolders/inbox/messageRules`;
  // JSON batches (graph.batchSize), until the service shows its burst is small (gate.smallBurst):
  // a batch's items are metered together, and 4 of them nearly empty a bucket of 5 (1 % of
  // 500 req/s), so any two batches a little closer than their interval drew a 429. One at a time,
  // a 10,000-mailbox verify against that bucket reached 0.75 (batches of 4: 0.52-0.68).
  const batcher =
    (options.batchSize ?? 1) > 1
      ? new GraphBatcher(postBatch, Math.min(options.batchSize!, maxBatchItems), () => gate.pausedUntil, clock)
      : undefined;

  /** One request for a mailbox (the gate's key): through the gate, alone or in a batch, errors translated. */
  const call = <T>(key: string, operation: string, request: BatchItemRequest, signal?: AbortSignal): Promise<T> =>
    gate.send(
      key,
      async (paced) => {
        // A batch's items reach the service at once; a small burst takes one at a time (see below).
        if (batcher && !gate.smallBurst) {
          const item = await batcher.send(key, request, paced); // a failed batch rejects with a translated error
          if (item.status >= 400) throw translateGraphError(itemError(item), operation, clock);
          return item.body as T;
        }
        // Only the timeout: once the run is aborted the gate lets no new request through, and
        // linking every request to the run's signal would pile registrations onto it.
        const timeout = AbortSignal.timeout(timeoutInMs);
        const slot: SlotCarrier['slot'] = { ...paced, mailboxes: [key.toLowerCase()] };
        const api = client.api(request.url).options({ signal: timeout, slot } as never);
        try {
          const method =
            request.method === 'DELETE' ? 'delete' : (request.method.toLowerCase() as 'get' | 'post' | 'patch');
          return (await (method === 'get' || method === 'delete' ? api[method]() : api[method](request.body))) as T;
        } catch (error) {
          throw notSent(slot) ?? translateGraphError(error, operation, clock, timeout.aborted);
        } finally {
          paced.madeUp ||= slot.madeUp; // for the gate (PacedSlot.madeUp)
        }
      },
      signal,
    );

  /** Posts a JSON batch as one Graph request at its slot (the batch as a whole has its own timeout). */
  async function postBatch(requests: object[], paced: PacedSlot & { mailboxes: string[] }) {
    const timeout = AbortSignal.timeout(timeoutInMs);
    const slot: SlotCarrier['slot'] = { ...paced };
    try {
      return await client
        .api('/$batch')
        .options({ signal: timeout, slot } as never)
        .post({ requests });
    } catch (error) {
      throw notSent(slot) ?? translateGraphError(error, 'batch', clock, timeout.aborted);
    } finally {
      paced.madeUp ||= slot.madeUp;
    }
  }

  let signedIn: SignedInApp | undefined;
  return {
    kind: 'api',
    target: 'graph',
    async open(signal) {
      signedIn = signedInAppOf(await requireToken(credential, scope, signal));
    },
    signedInApp: () => signedIn,
    async verifiedDomains(signal) {
      // One directory read at the start (Domain.Read.All), outside the mailboxes' gate.
      const domains: string[] = [];
      let next: string | undefined = '/domains';
      while (next) {
        const timeout = AbortSignal.timeout(timeoutInMs);
        const page: { value: Array<{ id: string; isVerified?: boolean }>; '@odata.nextLink'?: string } = await client
          .api(next)
          .options({ signal: signal ? AbortSignal.any([signal, timeout]) : timeout } as never)
          .get()
          .catch((error: unknown) => {
            throw translateGraphError(error, 'read domains', clock, timeout.aborted);
          });
        domains.push(...page.value.filter((domain) => domain.isVerified).map((domain) => domain.id.toLowerCase()));
        next = page['@odata.nextLink']?.replace(/^https?:\/\/[^/]+\/v1\.0/i, '');
      }
      return domains;
    },
    async readRules(mailbox, signal) {
      const rules: MailboxRule[] = [];
      let next: string | undefined = rulesPath(mailbox);
      while (next) {
        const page: { value: GraphRule[]; '@odata.nextLink'?: string } = await call(
          mailbox.email,
          'read',
          { method: 'GET', url: next },
          signal,
        );
        rules.push(...page.value.map(fromGraph));
        // Next pages come as absolute URLs; requests (and batch items) take the part after /v1.0.
        next = page['@odata.nextLink']?.replace(/^https?:\/\/[^/]+\/v1\.0/i, '');
      }
      return { rules, facts: {} } satisfies MailboxState;
    },
    async applyChanges(mailbox, changes: readonly RuleChange[], _state, signal): Promise<ApplyResult> {
      const createdRuleIds: string[] = [];
      const writtenRules: MailboxRule[] = [];
      for (const change of changes) {
        if (change.kind === 'create') {
          const created: GraphRule = await call(
            mailbox.email,
            'create',
            { method: 'POST', url: rulesPath(mailbox), body: toGraph(change.rule, true) },
            signal,
          );
          createdRuleIds.push(created.id);
          const answered = asReturned(created);
          if (answered) writtenRules.push(answered);
        } else if (change.kind === 'update') {
          const updated: GraphRule | undefined = await call(
            mailbox.email,
            'update',
            {
              method: 'PATCH',
              url: `${rulesPath(mailbox)}/${encodeURIComponent(change.ruleId)}`,
              body: toGraph(change.rule, false),
            },
            signal,
          );
          // PATCH answers 200 with the rule (some deployments 204 without a body).
          const answered = updated?.id ? asReturned(updated) : undefined;
          if (answered) writtenRules.push(answered);
        } else {
          await deleteRule(mailbox, change.ruleId, signal);
        }
      }
      return { createdRuleIds, writtenRules };
    },
    mail: createGraphMail(call),
    securityAlerts: createGraphAlerts(call),
    describe: () => ({
      graphEndpoint: config.baseUrl,
      tokenScope: config.tokenScope,
      authorityHost: config.authorityHost,
      auth: config.auth ?? '',
      tenantId: config.tenantId ?? '',
      clientId: config.clientId ?? config.managedIdentityClientId ?? '',
      batchSize: String(options.batchSize ?? 1),
    }),
    async close() {},
  };

  async function deleteRule(mailbox: Mailbox, ruleId: string, signal?: AbortSignal): Promise<void> {
    try {
      await call(
        mailbox.email,
        'delete',
        { method: 'DELETE', url: `${rulesPath(mailbox)}/${encodeURIComponent(ruleId)}` },
        signal,
      );
    } catch (error) {
      // Deleting a rule that is already gone has the effect we wanted.
      if (!(error instanceof MailboxError && error.code === 'ErrorItemNotFound')) throw error;
    }
  }
}

/**
 * The token for each request, from the (caching) credential. In place of the client's
 * TokenCredentialAuthenticationProvider, which builds an Error, stack trace and all, before every
 * request in case the token is missing: about 90 µs of the main thread per request on this machine
 * (a CPU profile of a 10,000-mailbox verify), on the thread whose timers keep the pace. Not
 * requireToken: a failure here comes mid-run and goes through translateGraphError as the identity
 * library raised it (a network error is transient there, not a wrong secret).
 */
async function accessToken(credential: TokenCredential, scope: string): Promise<string> {
  const token = await credential.getToken(scope);
  if (!token) throw credentialFailure(new Error('the identity service returned no token'));
  return token.token;
}

/** The request never left: the wire held it back for a window (the gate paces it again). */
function notSent(slot: SlotCarrier['slot']): NotSentError | undefined {
  return slot?.heldUntil === undefined ? undefined : new NotSentError(slot.heldUntil);
}

/** A failed batch item in the shape of the Graph client's GraphError, for one translation path. */
function itemError(item: BatchItemResponse): { statusCode: number; code?: string; message: string; headers: Headers } {
  const error = (item.body as { error?: { code?: string; message?: string } } | undefined)?.error;
  return {
    statusCode: item.status,
    code: error?.code,
    message: error?.message ?? `HTTP ${item.status}`,
    headers: new Headers(item.headers),
  };
}

interface GraphRule extends RuleSpec {
  id: string;
  isReadOnly?: boolean;
  hasError?: boolean;
  '@odata.context'?: string;
}

/**
 * The rule exactly as Graph returned it: the report's `before`/`after` are an auditor's record of
 * what the service said, so nothing is added (Graph leaves out `conditions`/`exceptions` a rule does
 * not have; the core reads a missing section as "none"). Only the answer's `@odata.context` goes: it
 * describes the response, not the rule. undefined when the rule lacks what every documented answer
 * carries (then it is not a rule sinkrule can judge).
 */
function asReturned(rule: GraphRule): MailboxRule | undefined {
  const { '@odata.context': _context, ...returned } = rule;
  return missingProperties(rule).length === 0 ? returned : undefined;
}

const missingProperties = (rule: GraphRule) =>
  (['id', 'displayName', 'sequence', 'isEnabled'] as const).filter((key) => rule[key] == null);

/** A rule read from a mailbox; one sinkrule cannot judge fails the mailbox (never guessed at). */
function fromGraph(rule: GraphRule): MailboxRule {
  const returned = asReturned(rule);
  if (returned) return returned;
  throw new MailboxError(
    'UnexpectedRuleShape',
    `Graph returned a rule without ${missingProperties(rule).join(', ')}: ${JSON.stringify(rule)}`,
    "Look at the mailbox's rules in Outlook on the web and report this answer to sinkrule's maintainers.",
  );
}

/** PATCH replaces whole conditions/actions/exceptions objects, so all three are always sent. */
function toGraph(rule: RuleSpec, create: boolean): Record<string, unknown> {
  return {
    displayName: rule.displayName,
    ...(create ? { sequence: rule.sequence } : {}),
    isEnabled: rule.isEnabled,
    conditions: rule.conditions ?? {},
    actions: rule.actions,
    exceptions: rule.exceptions ?? {},
  };
}

const fixes = {
  noMailbox:
    'The user has no Exchange Online mailbox Graph can reach (on-premises, unlicensed, inactive or ' +
    'soft-deleted?). If the mailbox is on-premises, set target=ews for this row; if it was just licensed, ' +
    'wait 15 minutes and re-run; otherwise correct the address.',
  accessDenied:
    'Grant the app the application permission MailboxSettings.ReadWrite (admin consent). If RBAC for ' +
    'Applications scopes the app, add this mailbox to the scope (New-ManagementRoleAssignment -App ' +
    '<clientId> -Role "Application MailboxSettings.ReadWrite" -CustomResourceScope <scope>) and check with ' +
    'Test-ServicePrincipalAuthorization; with a legacy application access policy, add the user to its group.',
  mailAccessDenied:
    'The probe needs the application permissions Mail.Send and Mail.ReadWrite (admin consent). If RBAC for ' +
    'Applications scopes the app, assign "Application Mail.Send" and "Application Mail.ReadWrite" with the ' +
    'same -CustomResourceScope as the rules permission, and make sure the scope includes the sink and ' +
    'probe.from.',
  directoryDenied:
    'Grant the app the application permission Domain.Read.All (admin consent) so sinkrule can read the ' +
    "tenant's verified domains.",
  rejected:
    'Exchange rejected the rule as sent: check the rule template (rule.template) against the Graph ' +
    'messageRule reference, then re-run.',
  other: 'Check the service message above; re-running is safe because sinkrule re-reads every mailbox before writing.',
};

/** Maps a Graph client error to sinkrule's error classes. Never turns an error into "no rules". */
export function translateGraphError(error: unknown, operation: string, clock: Clock, timedOut = false): Error {
  if (
    error instanceof AccessError ||
    error instanceof ThrottledError ||
    error instanceof TransientError ||
    error instanceof MailboxError
  )
    return error;
  const graphError = error as Partial<GraphError>;
  const status = graphError.statusCode ?? -1;
  const code = graphError.code ?? `HTTP${status}`;
  const message = graphError.message || `HTTP ${status}`;
  const what = `Graph ${operation}: ${code}: ${message}`;
  if (credentialCodes.has(code)) return credentialFailure(error);
  if (timedOut)
    return new TransientError(`Graph ${operation}: no answer in time; the request's effect is unknown`, 'Timeout', {
      cause: error,
    });
  if (status === 429 || (status === 503 && graphError.headers?.get('retry-after'))) {
    const retryAfterInMs = parseRetryAfter((name) => graphError.headers?.get(name), clock());
    const scope = throttleScopeOf(status, message, graphError.headers?.get('retry-after'))!;
    return new ThrottledError(what, retryAfterInMs, scope, code, { cause: error });
  }
  if (status <= 0 || status >= 500) return new TransientError(what, code, { cause: error });
  if (status === 401) {
    return new AccessError(
      `${what}. Graph rejected the app's token: grant admin consent for the application permission ` +
        `MailboxSettings.ReadWrite, and check graph.cloud/graph.baseUrl match the tenant's cloud.`,
      { cause: error },
    );
  }
  if (status === 403) return new MailboxError(code, what, accessFix(operation), { cause: error });
  if (status === 404 && code === 'ErrorItemNotFound' && operation === 'update') {
    return new TransientError(`${what} (the rule changed while sinkrule worked; it re-reads the mailbox)`, code, {
      cause: error,
    });
  }
  if (status === 404 && noMailboxCodes.has(code))
    return new MailboxError(code, what, fixes.noMailbox, { cause: error });
  if (status === 400) return new MailboxError(code, what, fixes.rejected, { cause: error });
  return new MailboxError(code, what, fixes.other, { cause: error });
}

/** The permission behind a 403 depends on what was asked: rules, mail (the probe) or the directory. */
function accessFix(operation: string): string {
  if (/mail|attachment/.test(operation)) return fixes.mailAccessDenied;
  if (/domains/.test(operation)) return fixes.directoryDenied;
  return fixes.accessDenied;
}
