import { existsSync } from 'node:fs';
import type { TokenCredential } from '@azure/identity';
import { AccessError, InputError } from '../core/errors.js';
import type { AuthKind } from '../input/auth-schema.js';
import { loadCertificate } from './certificate.js';

/** Where a section signs in; the same for Graph, EWS modern auth and Dataverse. */
export interface AppCredentialSettings {
  /** The config section, for messages: `graph`, `ews.oauth`, `dataverse`. */
  section: string;
  auth?: AuthKind;
  tenantId?: string;
  clientId?: string;
  /** Absolute path (resolved against the config file). */
  certificatePath?: string;
  managedIdentityClientId?: string;
  authorityHost: string;
  /** True for an authority that is not Microsoft's (a private endpoint, a simulator). */
  disableInstanceDiscovery: boolean;
  /** Environment variables that may hold this section's client secret, first set wins. */
  secretVariables: readonly string[];
}

/** The workload identity convention (Kubernetes, GitHub Actions, Azure Pipelines). */
export const workloadIdentityVariables = {
  tokenFile: 'AZURE_FEDERATED_TOKEN_FILE',
  clientId: 'AZURE_CLIENT_ID',
  tenantId: 'AZURE_TENANT_ID',
} as const;

/**
 * @azure/identity takes about 110 ms to load, a fifth of sinkrule's start: it is loaded when the
 * first token is asked for, so `--help`, `validate` and manual-only runs never load it.
 */
const identity = () => import('@azure/identity');

/** A credential whose settings are checked; the library is loaded and the object built on first use. */
type CredentialFactory = () => Promise<TokenCredential>;

/**
 * The credential a section's settings ask for. Everything that can be checked without the
 * network is checked here (InputError, exit 1); a token the service refuses later becomes an
 * AccessError whose fix fits the kind.
 */
export function createAppCredential(
  settings: AppCredentialSettings,
  env: NodeJS.ProcessEnv,
  configFile: string,
): { credential: TokenCredential; kind: AuthKind } {
  const kind = chooseKind(settings, env, configFile);
  return {
    credential: explainFailures(buildCredential(kind, settings, env, configFile), kind, settings),
    kind,
  };
}

/** Without `auth`: the secret if its variable is set, else the certificate if configured. */
function chooseKind(settings: AppCredentialSettings, env: NodeJS.ProcessEnv, configFile: string): AuthKind {
  if (settings.auth) return settings.auth;
  if (secretFrom(settings, env)) return 'secret';
  if (settings.certificatePath) return 'certificate';
  throw new InputError([
    `${configFile}: ${settings.section}.auth: no credential: set the environment variable ` +
      `${settings.secretVariables.join(' or ')} to the app's client secret, set ` +
      `${settings.section}.certificatePath, or set ${settings.section}.auth to "managed-identity", ` +
      `"workload-identity" or "default"`,
  ]);
}

function secretFrom(settings: AppCredentialSettings, env: NodeJS.ProcessEnv): string | undefined {
  return settings.secretVariables.map((name) => env[name]).find(Boolean);
}

function buildCredential(
  kind: AuthKind,
  settings: AppCredentialSettings,
  env: NodeJS.ProcessEnv,
  configFile: string,
): CredentialFactory {
  const { section } = settings;
  const options = {
    authorityHost: settings.authorityHost,
    disableInstanceDiscovery: settings.disableInstanceDiscovery,
    retryOptions: { maxRetries: 2 },
  };
  switch (kind) {
    case 'secret': {
      const secret = secretFrom(settings, env);
      if (!secret)
        throw new InputError([
          `${configFile}: ${section}.auth is "secret": set the environment variable ` +
            `${settings.secretVariables.join(' or ')} to the app's client secret (its value, not its id)`,
        ]);
      return async () =>
        new (await identity()).ClientSecretCredential(settings.tenantId!, settings.clientId!, secret, options);
    }
    case 'certificate': {
      const certificate = loadCertificate(settings.certificatePath!, `${configFile}: ${section}.certificatePath`, env);
      return async () =>
        new (await identity()).ClientCertificateCredential(
          settings.tenantId!,
          settings.clientId!,
          { certificate },
          options,
        );
    }
    case 'managed-identity':
      // MSAL finds the identity endpoint itself (App Service/Functions: IDENTITY_ENDPOINT and
      // IDENTITY_HEADER; Arc; otherwise the VM's instance metadata service).
      return async () =>
        new (await identity()).ManagedIdentityCredential({
          clientId: settings.managedIdentityClientId,
          retryOptions: { maxRetries: 2 },
        });
    case 'workload-identity': {
      const tokenFilePath = env[workloadIdentityVariables.tokenFile];
      const clientId = settings.clientId ?? env[workloadIdentityVariables.clientId];
      const tenantId = settings.tenantId ?? env[workloadIdentityVariables.tenantId];
      const missing = [
        !tokenFilePath &&
          `the environment variable ${workloadIdentityVariables.tokenFile} (the federated token file your ` +
            `platform writes)`,
        !clientId && `${section}.clientId or ${workloadIdentityVariables.clientId}`,
        !tenantId && `${section}.tenantId or ${workloadIdentityVariables.tenantId}`,
      ].filter(Boolean);
      if (missing.length)
        throw new InputError([`${configFile}: ${section}.auth is "workload-identity": set ${missing.join(', ')}`]);
      if (!existsSync(tokenFilePath!))
        throw new InputError([
          `${workloadIdentityVariables.tokenFile}: ${tokenFilePath} does not exist: check the pipeline's or ` +
            `pod's workload identity setup`,
        ]);
      return async () =>
        new (await identity()).WorkloadIdentityCredential({ ...options, tenantId, clientId, tokenFilePath });
    }
    case 'default':
      return async () =>
        new (await identity()).DefaultAzureCredential({
          ...options,
          tenantId: settings.tenantId,
          managedIdentityClientId: settings.managedIdentityClientId,
          workloadIdentityClientId: settings.clientId,
        });
  }
}

/** The fix for a token the service refused, per kind. */
function fixFor(kind: AuthKind, settings: AppCredentialSettings): string {
  const { section } = settings;
  switch (kind) {
    case 'secret':
      return (
        `Check ${section}.tenantId, ${section}.clientId and ${settings.secretVariables.join(' / ')}: it must ` +
        `be the secret's value, not its id, and must not have expired.`
      );
    case 'certificate':
      return (
        `Check ${section}.tenantId and ${section}.clientId, and that the certificate in ` +
        `${section}.certificatePath is uploaded to the app registration (Certificates & secrets) and not ` +
        `expired.`
      );
    case 'managed-identity':
      return (
        `sinkrule must run on an Azure resource with a managed identity (App Service, Functions, Automation, ` +
        `Arc, a VM), which sets IDENTITY_ENDPOINT/IDENTITY_HEADER or offers the instance metadata service; for ` +
        `a user-assigned identity set ${section}.managedIdentityClientId to its client id, and assign it to ` +
        `the resource.`
      );
    case 'workload-identity':
      return (
        `Check that the app registration has a federated credential whose issuer, subject and audience ` +
        `(api://AzureADTokenExchange) match the token in ${workloadIdentityVariables.tokenFile}, and that ` +
        `${section}.clientId/${workloadIdentityVariables.clientId} and ` +
        `${section}.tenantId/${workloadIdentityVariables.tenantId} name that app.`
      );
    case 'default':
      return (
        `No credential of the DefaultAzureCredential chain worked (environment ` +
        `AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, workload identity, managed identity, az login, ` +
        `Connect-AzAccount): set up one of them, or choose ${section}.auth explicitly.`
      );
  }
}

/** Token failures as an AccessError naming the kind and the fix; never the secret. */
function explainFailures(create: CredentialFactory, kind: AuthKind, settings: AppCredentialSettings): TokenCredential {
  let credential: Promise<TokenCredential> | undefined;
  return {
    async getToken(scopes, options) {
      try {
        credential ??= create();
        return await (await credential).getToken(scopes, options);
      } catch (error) {
        if (error instanceof AccessError || options?.abortSignal?.aborted) throw error;
        throw new AccessError(`Cannot get a token (${settings.section}.auth "${kind}"): ${serviceMessage(error)}`, {
          cause: error,
          fix: fixFor(kind, settings),
        });
      }
    },
  };
}

/**
 * The AADSTS line when there is one, else the library's first line (without its troubleshooting
 * link); for a chain (default), each credential's reason.
 */
function serviceMessage(error: unknown): string {
  const chain = (error as { errors?: unknown[] }).errors;
  if (Array.isArray(chain) && chain.length) return chain.map(serviceMessage).join('; ');
  const text = error instanceof Error ? error.message : String(error);
  const aadsts = /AADSTS\d+:[^\r\n]*?(?=\s*Trace ID:|$)/m.exec(text)?.[0];
  return (aadsts ?? text.split('\n')[0] ?? '').replace(/\s*To troubleshoot, visit \S+\.?/, '').trim();
}
