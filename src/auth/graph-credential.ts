import type { AccessToken, TokenCredential } from '@azure/identity';
import { AccessError } from '../core/errors.js';
import type { DataverseConfig, EwsConfig, GraphConfig } from '../input/config.js';
import type { TokenSource } from '../input/dataverse.js';
import { createAppCredential } from './app-credential.js';
import type { AuthKind } from '../input/auth-schema.js';
import type { SignedInApp } from '../core/provider.js';

/** The environment variable holding the app's client secret; never a config key, never logged. */
export const clientSecretVariable = 'SINKRULE_CLIENT_SECRET';
export const ewsClientSecretVariable = 'SINKRULE_EWS_CLIENT_SECRET';
/** Dataverse's app secret; the graph secret serves when the dataverse section uses the same app. */
export const dataverseClientSecretVariable = 'SINKRULE_DATAVERSE_CLIENT_SECRET';

/** The credential graph.auth asks for (see auth/app-credential.ts), and the kind chosen. */
export function createGraphCredential(
  config: GraphConfig,
  env: NodeJS.ProcessEnv,
  configFile: string,
): { credential: TokenCredential; kind: AuthKind } {
  return createAppCredential(
    // Explicit endpoints (a private simulator, a proxy) are not Microsoft's: no instance discovery.
    {
      ...config,
      section: 'graph',
      disableInstanceDiscovery: config.customEndpoints,
      secretVariables: [clientSecretVariable],
    },
    env,
    configFile,
  );
}

/** The credential ews.oauth.auth asks for (on-premises modern authentication to EWS). */
export function createEwsCredential(config: EwsConfig, env: NodeJS.ProcessEnv, configFile: string): TokenCredential {
  const oauth = config.oauth!;
  return createAppCredential(
    {
      ...oauth,
      section: 'ews.oauth',
      authorityHost: oauth.authorityHost ?? 'https://login.microsoftonline.com',
      disableInstanceDiscovery: oauth.authorityHost !== undefined,
      secretVariables: [ewsClientSecretVariable],
    },
    env,
    configFile,
  ).credential;
}

/** The Dataverse application user's app (by default the graph app, whose secret then serves too). */
export function createDataverseCredential(
  config: DataverseConfig,
  env: NodeJS.ProcessEnv,
  configFile: string,
): TokenCredential {
  const secretVariables = config.sharesGraphApp
    ? [dataverseClientSecretVariable, clientSecretVariable]
    : [dataverseClientSecretVariable];
  return createAppCredential(
    { ...config, section: 'dataverse', disableInstanceDiscovery: config.customEndpoints, secretVariables },
    env,
    configFile,
  ).credential;
}

/** Dataverse's tokens for the mailbox source: the app's credential, cached, failures explained. */
export function dataverseTokens(
  config: DataverseConfig,
  env: NodeJS.ProcessEnv,
  configFile: string,
  clock: () => number,
): TokenSource {
  const credential = cachingCredential(createDataverseCredential(config, env, configFile), clock);
  return (scope, signal) => requireToken(credential, scope, signal);
}

/** Gets one token before any mailbox is touched, so wrong credentials stop the run at once. */
export async function requireToken(credential: TokenCredential, scope: string, signal?: AbortSignal): Promise<string> {
  try {
    const token = await credential.getToken(scope, { abortSignal: signal });
    if (!token) throw new Error('the identity service returned no token');
    return token.token;
  } catch (error) {
    throw credentialFailure(error);
  }
}

/** The identity library's message (AADSTS code and text) with the fix; never the secret. */
export function credentialFailure(error: unknown): AccessError {
  if (error instanceof AccessError) return error;
  const text = error instanceof Error ? error.message : String(error);
  const aadsts = /AADSTS\d+:[^\r\n]*/.exec(text)?.[0];
  return new AccessError(
    `Cannot get a token: ${aadsts ?? text.split('\n')[0]}. Check the tenant id, client id and the client ` +
      `secret (${clientSecretVariable}; ${dataverseClientSecretVariable} for Dataverse, ` +
      `${ewsClientSecretVariable} for EWS) or certificate; the secret must be the secret's value, not its id, ` +
      `and must not have expired.`,
    { cause: error },
  );
}

/**
 * What an access token says about the app that holds it: tenant (`tid`), app id (`appid`, v2
 * tokens `azp`), display name (`app_displayname`) and application permissions (`roles`). Only
 * the claims are decoded (the service checks the signature); the token itself is never kept.
 */
export function signedInAppOf(token: string): SignedInApp {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    return {
      tenantId: text(claims.tid),
      appId: text(claims.appid) ?? text(claims.azp),
      appDisplayName: text(claims.app_displayname),
      roles: Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [],
    };
  } catch {
    // Not a JWT (some on-premises servers issue opaque tokens): nothing to report.
    return { roles: [] };
  }
}

/**
 * Keeps the last token until five minutes before it expires. MSAL caches tokens too, but looking
 * one up costs more than a request's worth of CPU at a thousand requests per second.
 */
export function cachingCredential(credential: TokenCredential, clock: () => number): TokenCredential {
  let cached: AccessToken | undefined;
  let pending: Promise<AccessToken | null> | undefined;
  return {
    async getToken(scopes, options) {
      if (cached && cached.expiresOnTimestamp - clock() > 5 * 60_000) return cached;
      pending ??= credential.getToken(scopes, options).finally(() => (pending = undefined));
      const token = await pending;
      if (token) cached = token;
      return token;
    },
  };
}
