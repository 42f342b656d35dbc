import { request as httpsRequest } from 'node:https';
import type { TokenCredential } from '@azure/identity';
import { requireToken, signedInAppOf } from '../auth/graph-credential.js';
import { AccessError, describeError, MailboxError, ThrottledError, TransientError } from '../core/errors.js';
import type { Mailbox } from '../core/mailbox.js';
import type { RuleChange } from '../core/plan.js';
import type { ThrottleGate } from '../core/throttle-gate.js';
import { parseRetryAfter } from '../core/retry.js';
import type { EwsConfig } from '../input/config.js';
import { fromEwsRule, toEwsRule, unsupportedByEws, type EwsModule } from './ews-rules.js';
import type { ApiProvider, ApplyResult, MailboxState, SignedInApp } from '../core/provider.js';
import type { RuleSpec } from '../core/rule.js';

export const ewsPasswordVariable = 'SINKRULE_EWS_PASSWORD';
const ewsTypes = 'http://schemas.microsoft.com/exchange/services/2006/types';

export interface EwsProviderOptions {
  config: EwsConfig;
  /** Password of ews.username (NTLM, Basic). */
  password?: string;
  /** Modern authentication (ews.auth = oauth). */
  credential?: TokenCredential;
  gate: ThrottleGate;
  /** Allow deleting the Outlook rule blob (the user's client-only rules) where one exists. */
  removeOutlookRuleBlob: boolean;
  desiredRuleFor(mailbox: Mailbox): RuleSpec;
}

let ewsModules:
  | Promise<{
      ews: EwsModule;
      XhrApi: typeof import('@ewsjs/xhr').XhrApi;
      NtlmProvider: typeof import('@ewsjs/xhr').NtlmProvider;
    }>
  | undefined;
/** ews-javascript-api takes ~0.6 s to load (old MSAL, moment): only when EWS is used. */
function loadEws() {
  return (ewsModules ??= Promise.all([import('ews-javascript-api'), import('@ewsjs/xhr')]).then(([ews, xhr]) => ({
    ews: (ews.default ?? ews) as EwsModule,
    XhrApi: xhr.XhrApi,
    NtlmProvider: xhr.NtlmProvider,
  })));
}

const fixes = {
  impersonation:
    'Give the service account the ApplicationImpersonation role for this mailbox: New-ManagementScope -Name ' +
    '"CRM users" -RecipientRestrictionFilter "MemberOfGroup -eq \'<CRM users group DN>\'"; ' +
    'New-ManagementRoleAssignment -Name "sinkrule impersonation" -Role ApplicationImpersonation -User ' +
    '<ews.username> -CustomRecipientWriteScope "CRM users".',
  noMailbox:
    'Exchange has no mailbox for this address: if the user is in Exchange Online, set target=graph for this ' +
    'row; otherwise correct the address.',
  validation: 'Exchange rejected the rule (details above): correct the rule template or the sink address, then re-run.',
  quota:
    "The mailbox's rules quota is full (256 KB by default, 64 KB on Exchange 2010): have the user delete old " +
    'rules, or raise it with Set-Mailbox <user> -RulesQuota 256KB, then re-run.',
  blob:
    'This mailbox has Outlook client-only rules (the Outlook rule blob). Writing any rule through EWS deletes ' +
    'them. sinkrule did not write. Ask the user to recreate client-only rules as server rules, or accept the ' +
    'loss and re-run with --remove-outlook-rule-blob (or ews.removeOutlookRuleBlob: true).',
  other: 'Check the Exchange message above; re-running is safe because sinkrule re-reads every mailbox before writing.',
};

/** On-premises Exchange through EWS: GetInboxRules / UpdateInboxRules, impersonating each user. */
export function createEwsProvider(options: EwsProviderOptions): ApiProvider {
  const { config, gate } = options;

  async function service(mailbox: Mailbox | undefined) {
    const { ews, XhrApi, NtlmProvider } = await loadEws();
    const svc = new ews.ExchangeService(ews.ExchangeVersion[config.version as keyof typeof ews.ExchangeVersion]);
    svc.Url = new ews.Uri(config.url);
    const inner = new XhrApi({ rejectUnauthorized: true } as never);
    const seen: SeenResponse = {};
    if (config.auth === 'oauth') {
      svc.Credentials = new ews.OAuthCredentials(await requireToken(options.credential!, config.oauthScope));
    } else {
      // The library wants WebCredentials even when NTLM runs in the XHR layer.
      svc.Credentials = new ews.WebCredentials(config.username!, options.password!);
      if (config.auth === 'ntlm')
        inner.setAuthProvider(afterHandshake(new NtlmProvider(config.username!, options.password!), gate));
    }
    svc.XHRApi = observe(inner, seen, gate);
    if (mailbox) {
      svc.ImpersonatedUserId = new ews.ImpersonatedUserId(ews.ConnectingIdType.SmtpAddress, mailbox.email);
      // Routes the request to the server holding the mailbox (required for impersonation at scale).
      svc.HttpHeaders.Add('X-AnchorMailbox', mailbox.email);
    }
    return { ews, svc, seen };
  }

  const send = <T>(
    mailbox: Mailbox,
    operation: string,
    seen: SeenResponse,
    call: () => Promise<T>,
    signal?: AbortSignal,
  ) =>
    gate.send(
      mailbox.email,
      async () => {
        try {
          return await call();
        } catch (error) {
          throw await translateEwsError(error, operation, seen);
        }
      },
      signal,
    );

  let signedIn: SignedInApp | undefined;
  return {
    kind: 'api',
    target: 'ews',
    async open() {
      await checkTls(config.url);
      if (config.auth === 'oauth') signedIn = signedInAppOf(await requireToken(options.credential!, config.oauthScope));
      else await checkPassword();
    },
    signedInApp: () => signedIn,
    checkMailbox(mailbox) {
      const unsupported = unsupportedByEws(options.desiredRuleFor(mailbox));
      return (
        unsupported &&
        `the rule template uses "${unsupported}", which EWS rules cannot express: remove it from the ` +
          `template or route this row to graph`
      );
    },
    async readRules(mailbox, signal): Promise<MailboxState> {
      const { ews, svc, seen } = await service(mailbox);
      const collection = await send(mailbox, 'GetInboxRules', seen, () => svc.GetInboxRules(mailbox.email), signal);
      const blob = collection.OutlookRuleBlobExists === true;
      return {
        rules: collection.GetEnumerator().map((rule) => fromEwsRule(ews, rule)),
        facts: {
          outlookRuleBlobExists: blob,
          ...(blob && options.removeOutlookRuleBlob ? { outlookRuleBlobRemovalAllowed: true } : {}),
        },
        writeBlockedBy:
          blob && !options.removeOutlookRuleBlob
            ? new MailboxError(
                'OutlookRuleBlobExists',
                'EWS: the mailbox has an Outlook rule blob (client-only rules)',
                fixes.blob,
              )
            : undefined,
      };
    },
    async applyChanges(mailbox, changes: readonly RuleChange[], state, signal): Promise<ApplyResult> {
      const { ews, svc, seen } = await service(mailbox);
      const existing = new Map(state.rules.map((rule) => [rule.id, rule.sequence]));
      const operations = changes.map((change) => {
        if (change.kind === 'create') return new ews.CreateRuleOperation(toEwsRule(ews, change.rule));
        if (change.kind === 'update')
          return new ews.SetRuleOperation(
            toEwsRule(ews, change.rule, {
              id: change.ruleId,
              priority: existing.get(change.ruleId) ?? change.rule.sequence,
            }),
          );
        return new ews.DeleteRuleOperation(change.ruleId);
      });
      // One call for all of a mailbox's changes: Exchange applies them all or none.
      const removeBlob = state.facts.outlookRuleBlobExists === true && options.removeOutlookRuleBlob;
      await send(
        mailbox,
        'UpdateInboxRules',
        seen,
        () => svc.UpdateInboxRules(operations, removeBlob, mailbox.email),
        signal,
      );
      if (removeBlob) state.facts.outlookRuleBlobRemoved = true;
      return { createdRuleIds: [] }; // UpdateInboxRules does not return new rule ids
    },
    describe: () => ({
      ewsUrl: config.url,
      auth: config.auth,
      account: config.username ?? config.oauthClientId ?? '',
      version: config.version,
      removeOutlookRuleBlob: String(options.removeOutlookRuleBlob),
    }),
    async close() {},
  };

  /** An authenticated GET of the EWS URL: wrong credentials stop the run before any mailbox. */
  async function checkPassword(): Promise<void> {
    const { svc } = await service(undefined);
    try {
      await svc.XHRApi.xhr({
        type: 'GET',
        url: config.url,
        headers:
          config.auth === 'basic'
            ? { Authorization: `Basic ${Buffer.from(`${config.username}:${options.password}`).toString('base64')}` }
            : {},
      } as never);
    } catch (error) {
      const status = (error as { status?: number }).status;
      if (status === 401)
        throw new AccessError(
          `EWS rejected ${config.username} (HTTP 401): check ews.username (DOMAIN\\user or UPN), ` +
            `${ewsPasswordVariable} and ews.auth (${config.auth}); the virtual directory must allow ` +
            `${config.auth === 'ntlm' ? 'Windows (NTLM)' : 'Basic'} authentication.`,
          { cause: error },
        );
      if (status === undefined || status >= 500)
        throw new AccessError(`Cannot reach EWS at ${config.url}: ${describeError(error)}`, { cause: error });
    }
  }
}

/** The last HTTP answer the EWS client got: the library drops Retry-After and some error fields. */
interface SeenResponse {
  body?: string;
  status?: number;
  retryAfter?: string;
}

type XhrLike = Pick<InstanceType<typeof import('@ewsjs/xhr').XhrApi>, 'xhr' | 'xhrStream' | 'disconnect' | 'apiName'>;

/** Decorates the XHR layer to keep the raw answer, which the error translation reads. */
function observe(inner: XhrLike, seen: SeenResponse, gate: ThrottleGate): XhrLike {
  // On errors @ewsjs/xhr throws the axios error with the axios response under `responseText`.
  const keep = (answer: { responseText?: unknown; status?: number; headers?: Record<string, string> } | undefined) => {
    const raw = answer?.responseText as
      { data?: unknown; status?: number; headers?: Record<string, string> } | string | undefined;
    const response = typeof raw === 'object' && raw !== null ? raw : undefined;
    seen.body = typeof raw === 'string' ? raw : typeof response?.data === 'string' ? response.data : undefined;
    seen.status = response?.status ?? answer?.status;
    seen.retryAfter = (response?.headers ?? answer?.headers)?.['retry-after'];
  };
  return {
    get apiName() {
      return inner.apiName;
    },
    // The gate let this call through, but a ServerBusy may have paused the account since (the
    // call's XML and its NTLM handshake take a while): nothing goes out inside that window.
    xhr: async (options, progress) =>
      gate
        .appWindowClosed()
        .then(() => inner.xhr(options, progress))
        .then(
          (answer) => (keep(answer as never), answer),
          (error: unknown) => {
            keep(error as never);
            throw error;
          },
        ),
    xhrStream: (options, progress) => inner.xhrStream(options, progress),
    disconnect: () => inner.disconnect(),
  };
}

/**
 * NTLM sends the call only after a negotiate/challenge round trip, which may take longer than a
 * ServerBusy window takes to open: the call itself (the request Exchange charges to the budget)
 * waits for the window after the handshake, not only before it.
 */
function afterHandshake(
  ntlm: InstanceType<typeof import('@ewsjs/xhr').NtlmProvider>,
  gate: ThrottleGate,
): InstanceType<typeof import('@ewsjs/xhr').NtlmProvider> {
  return Object.assign(Object.create(ntlm) as typeof ntlm, {
    preCall: async (request: Parameters<typeof ntlm.preCall>[0]) => {
      const authenticated = await ntlm.preCall(request);
      await gate.appWindowClosed();
      return authenticated;
    },
  });
}

/** Fails with the fix when the server's certificate is not trusted (NTLM would hide the reason). */
function checkTls(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'HEAD', timeout: 30_000 }, (res) => {
      res.resume();
      resolve();
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      const tls = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(error.code ?? '');
      reject(
        new AccessError(
          tls
            ? `The certificate of ${url} is not trusted (${error.code}): set ews.caFile to the PEM certificate ` +
                `of the CA that issued it (your internal PKI), or check that ews.url uses the name on the ` +
                `certificate.`
            : `Cannot reach EWS at ${url} (${error.code ?? error.message}): check ews.url and the network path ` +
                `to the server.`,
          { cause: error },
        ),
      );
    });
    req.end();
  });
}

type Fault = {
  faultCode?: string | null;
  responseCode?: number;
  HttpStatusCode?: number;
  message?: string;
  errorDetails?: { objects?: Record<string, string> };
};
/** What ews-javascript-api throws: SOAP faults and HTTP errors (Fault), or error responses (ResponseError). */
type ResponseError = {
  ErrorCode?: number;
  message?: string;
  serviceResponse?: { ErrorDetails?: { objects?: Record<string, string> } };
};

/** Maps what ews-javascript-api throws (not Error instances) to sinkrule's error classes. */
export async function translateEwsError(error: unknown, operation: string, seen: SeenResponse = {}): Promise<Error> {
  if (error instanceof AccessError) return error;
  const { ews } = await loadEws();
  const fault = error as Fault & ResponseError;
  const code =
    (fault.faultCode ? fault.faultCode.replace(/^\w+:/, '') : undefined) ??
    (fault.ErrorCode ? ews.ServiceError[fault.ErrorCode] : undefined) ??
    (fault.responseCode !== undefined ? ews.ServiceError[fault.responseCode] : 'Unknown');
  const message = `EWS ${operation}: ${code}: ${fault.message ?? describeError(error)}`;
  const details = fault.errorDetails?.objects ?? fault.serviceResponse?.ErrorDetails?.objects ?? {};
  if (fault.HttpStatusCode === 401)
    return new AccessError(
      `EWS rejected the credentials (HTTP 401) during the run: check ews.username and ${ewsPasswordVariable}.`,
      { cause: error },
    );
  if (fault.HttpStatusCode === 503 || seen.status === 503) {
    // IIS's request queue was full for this request. That says nothing about the account's
    // budget (ErrorServerBusy does), so only this mailbox backs off, honouring any Retry-After.
    const retryAfterInMs = parseRetryAfter(
      (name) => (name === 'retry-after' ? seen.retryAfter : undefined),
      Date.now(),
    );
    const text = `EWS ${operation}: HTTP 503: the server's request queue is full`;
    return retryAfterInMs === undefined
      ? new TransientError(text, 'HTTP503', { cause: error })
      : new ThrottledError(text, retryAfterInMs, 'mailbox', 'HTTP503', { cause: error });
  }
  switch (code) {
    case 'ErrorServerBusy':
    case 'ErrorExceededConnectionCount':
    case 'ErrorTooManyObjectsOpened': {
      const backOff = Number(details.BackOffMilliseconds);
      // The budget is the service account's: every worker must slow down, not just this one.
      return new ThrottledError(message, Number.isFinite(backOff) ? backOff : undefined, 'app', code, { cause: error });
    }
    case 'ErrorNonExistentMailbox':
      return new MailboxError(code, message, fixes.noMailbox, { cause: error });
    case 'ErrorImpersonateUserDenied':
    case 'ErrorImpersonationDenied':
      return new MailboxError(code, message, fixes.impersonation, { cause: error });
    case 'ErrorInboxRulesValidationError':
      return new MailboxError(code, message, fixes.validation, {
        cause: error,
        details: await validationDetails(seen.body),
      });
    case 'ErrorRulesOverQuota':
      return new MailboxError(code, message, fixes.quota, { cause: error });
    case 'ErrorOutlookRuleBlobExists':
      return new MailboxError(code, message, fixes.blob, { cause: error });
    case 'ErrorInternalServerError':
    case 'ErrorMailboxStoreUnavailable':
    case 'ErrorConnectionFailed':
      return new TransientError(message, code, { cause: error });
  }
  if (!fault.faultCode && !fault.ErrorCode && fault.HttpStatusCode === undefined) {
    // No SOAP answer at all: a network failure (NTLM surfaces it as "reading 'headers'").
    return new TransientError(
      `EWS ${operation}: no answer from the server (${fault.message ?? describeError(error)})`,
      'NetworkError',
      { cause: error },
    );
  }
  return new MailboxError(code, message, fixes.other, { cause: error });
}

/**
 * Each RuleOperationError in Exchange's own words (FieldURI, ErrorCode, ErrorMessage, FieldValue),
 * read from the raw answer: ews-javascript-api 0.15.3 loses the FieldURI (it looks "Action:X" up
 * in an enum whose names have no colon).
 */
async function validationDetails(body: string | undefined): Promise<string[]> {
  if (!body) return [];
  const { DOMParser } = await import('@xmldom/xmldom');
  const doc = new DOMParser().parseFromString(body, 'text/xml');
  const lines: string[] = [];
  const operationErrors = doc.getElementsByTagNameNS(ewsTypes, 'RuleOperationError');
  for (let i = 0; i < operationErrors.length; i++) {
    const operationError = operationErrors[i]!;
    const index = operationError.getElementsByTagNameNS(ewsTypes, 'OperationIndex')[0]?.textContent;
    const errors = operationError.getElementsByTagNameNS(ewsTypes, 'Error');
    for (let j = 0; j < errors.length; j++) {
      const text = (name: string) => errors[j]!.getElementsByTagNameNS(ewsTypes, name)[0]?.textContent?.trim() ?? '';
      lines.push(
        `operation ${index}: ${text('FieldURI')}: ${text('ErrorCode')}: ` +
          `${text('ErrorMessage')}${text('FieldValue') ? ` (value "${text('FieldValue')}")` : ''}`,
      );
    }
  }
  return lines;
}
