import {
  createHash,
  createHmac,
  createPublicKey,
  constants,
  randomBytes,
  randomUUID,
  verify,
  X509Certificate,
} from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from '../http.js';

export interface AppRegistration {
  tenantId: string;
  clientId: string;
  /** Client secret the app accepts (client credentials with secret). */
  clientSecret?: string;
  /** PEM certificate whose key may sign client assertions (client credentials with certificate). */
  certificatePem?: string;
  /** Application permissions granted with admin consent. */
  roles: string[];
  /** The app's display name (the token's app_displayname claim). @default 'sinkrule' */
  displayName?: string;
  /** Federated identity credentials (workload identity federation) on the app registration. */
  federatedCredentials?: FederatedCredential[];
}

/**
 * A federated identity credential as Entra stores it on an app (issuer, subject, audiences), with
 * the public key Entra would fetch from the issuer's OpenID discovery document (jwks_uri).
 */
export interface FederatedCredential {
  issuer: string;
  subject: string;
  /** @default ['api://AzureADTokenExchange'] */
  audiences?: string[];
  issuerPublicKeyPem: string;
}

/**
 * The App Service / Functions managed identity endpoint (IDENTITY_ENDPOINT): the platform sets
 * IDENTITY_HEADER to a secret that every request must echo as X-IDENTITY-HEADER.
 */
export interface ManagedIdentityHost {
  identityHeader: string;
  tenantId: string;
  /** The system-assigned identity (if enabled) and any user-assigned ones, with their app roles. */
  identities: Array<{ clientId: string; userAssigned: boolean; roles: string[] }>;
}

/** The path the simulator serves the managed identity endpoint on (IDENTITY_ENDPOINT). */
export const managedIdentityPath = '/msi/token';

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/**
 * The two Entra ID endpoints MSAL calls for client credentials with a custom authority:
 * the OpenID configuration and the v2.0 token endpoint, with AADSTS errors as Entra words them.
 * Entra issues a token for a *resource* named by its application ID URI (scope `<resource>/.default`),
 * and only for resources that have a service principal in the tenant: any other answers
 * `invalid_resource` AADSTS500011. The token carries aud (the resource), roles (the application
 * permissions granted), appid/azp, tid and app_displayname. Tokens are JWTs signed with a key of
 * this run; `verifyToken` checks one for the resource that receives it.
 */
export class IdentitySimulator {
  private readonly key = randomBytes(32);
  /** Further resources the tenant knows (application ID URIs), e.g. a Dataverse organisation URL. */
  private readonly otherResources = new Set<string>();
  tokenRequests = 0;

  constructor(
    private readonly app: AppRegistration,
    private readonly baseUrl: () => string,
    /** Application ID URIs of the resources the tenant knows (Graph of the cloud, an Exchange server…). */
    private readonly resources: () => readonly string[],
    private readonly managedIdentity?: ManagedIdentityHost,
  ) {}

  /** Handles the request if it is an identity endpoint; returns false otherwise. */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (pathname === managedIdentityPath && this.managedIdentity) {
      this.managedIdentityToken(req, res, this.managedIdentity);
      return true;
    }
    const match = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.exec(pathname);
    if (!match) return false;
    const [, tenant, endpoint] = match;
    if (tenant !== this.app.tenantId) {
      aadError(
        res,
        400,
        'invalid_tenant',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing ` +
          `into the correct cloud.`,
      );
      return true;
    }
    if (endpoint!.startsWith('v2.0')) this.openIdConfiguration(res, tenant!);
    else await this.token(req, res, tenant!);
    return true;
  }

  /** Makes the tenant know another resource (a Dataverse environment registers its organisation URL). */
  /** Resources the tenant has a service principal for: its services' and the ones added (Dataverse). */
  private knows(resource: string): boolean {
    return this.resources().includes(resource) || this.otherResources.has(resource);
  }

  addResource(resource: string): void {
    this.otherResources.add(resource);
  }

  /** Why the resource `audience` must refuse this Authorization header, or undefined if it is valid for it. */
  verifyToken(authorization: string | undefined, audience: string): string | undefined {
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    if (!token) return 'Access token is empty.';
    const [header, payload, signature] = token.split('.');
    if (!header || !payload || signature !== this.sign(`${header}.${payload}`))
      return 'Access token validation failure. Invalid signature.';
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { aud: string; exp: number };
    if (claims.aud !== audience) return 'Access token validation failure. Invalid audience.';
    if (claims.exp * 1000 < Date.now()) return 'Lifetime validation failed, the token is expired.';
    return undefined;
  }

  /** The claims of a Bearer token (read after verifyToken accepted it). */
  claimsOf(authorization: string | undefined): { appid?: string; aud?: string; roles?: string[] } {
    const payload = authorization?.split('.')[1];
    return payload ? JSON.parse(Buffer.from(payload, 'base64url').toString()) : {};
  }

  rolesOf(authorization: string | undefined): string[] {
    const payload = authorization?.split('.')[1];
    return payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString()).roles ?? []) : [];
  }

  private openIdConfiguration(res: ServerResponse, tenant: string): void {
    const root = `${this.baseUrl()}/${tenant}`;
    sendJson(res, 200, {
      token_endpoint: `${root}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${root}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${root}/v2.0`,
      authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${root}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${root}/oauth2/v2.0/logout`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
    });
  }

  private async token(req: IncomingMessage, res: ServerResponse, tenant: string): Promise<void> {
    this.tokenRequests++;
    const form = new URLSearchParams(await readBody(req));
    if (form.get('grant_type') !== 'client_credentials') {
      return aadError(res, 400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    }
    if (form.get('client_id') !== this.app.clientId) {
      return aadError(
        res,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${form.get('client_id')}' was not found in the directory '${tenant}'.`,
      );
    }
    const scope = form.get('scope') ?? '';
    // Client credentials take exactly one `<application ID URI>/.default` scope.
    const resource = /^(\S+)\/\.default$/.exec(scope.trim())?.[1];
    if (!resource) {
      return aadError(
        res,
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value ` +
          `with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    if (!this.knows(resource)) {
      return aadError(
        res,
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${tenant}. This can ` +
          `happen if the application has not been installed by the administrator of the tenant or consented to ` +
          `by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    const problem = form.has('client_assertion')
      ? this.checkClientAssertion(form, `${this.baseUrl()}/${tenant}/oauth2/v2.0/token`)
      : this.checkSecret(form.get('client_secret'));
    if (problem) return aadError(res, 401, 'invalid_client', problem.code, problem.text);
    const { token } = this.mint(resource, tenant, {
      clientId: this.app.clientId,
      displayName: this.app.displayName ?? 'sinkrule',
      roles: this.app.roles,
    });
    sendJson(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token });
  }

  private checkSecret(secret: string | null): { code: number; text: string } | undefined {
    if (this.app.clientSecret && secret === this.app.clientSecret) return undefined;
    return {
      code: 7000215,
      text:
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret ` +
        `value, not the client secret ID, for a secret added to app '${this.app.clientId}'.`,
    };
  }

  /**
   * A client_assertion is either the app's own, signed with its certificate (iss = sub = client
   * id), or a federated token from another issuer that a federated credential on the app accepts.
   */
  private checkClientAssertion(
    form: URLSearchParams,
    tokenEndpoint: string,
  ): { code: number; text: string } | undefined {
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      return { code: 700027, text: 'Client assertion failed signature validation.' };
    }
    const assertion = decodeJwt(form.get('client_assertion') ?? '');
    if (!assertion) return { code: 50027, text: 'JWT token is invalid or malformed.' };
    if (assertion.claims.iss !== this.app.clientId) return this.checkFederatedAssertion(assertion);
    return this.checkAssertion(form, tokenEndpoint);
  }

  /**
   * Workload identity federation (Microsoft identity platform docs, "Workload identity
   * federation" and the AADSTS error reference): the token's issuer, subject and audience must
   * match one federated credential of the app exactly, its signature must verify with the
   * issuer's key, and it must be within its lifetime.
   */
  private checkFederatedAssertion(assertion: DecodedJwt): { code: number; text: string } | undefined {
    const { iss, sub } = assertion.claims;
    const audiences = ([] as unknown[]).concat(assertion.claims.aud ?? []).map(String);
    const credentials = this.app.federatedCredentials ?? [];
    const hint =
      'Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.';
    const byIssuer = credentials.filter((c) => c.issuer === iss);
    if (byIssuer.length === 0)
      return {
        code: 700211,
        text: `No matching federated identity record found for presented assertion issuer '${iss}'. ${hint}`,
      };
    const bySubject = byIssuer.filter((c) => c.subject === sub);
    if (bySubject.length === 0)
      return {
        code: 700213,
        text: `No matching federated identity record found for presented assertion subject '${sub}'. ${hint}`,
      };
    const match = bySubject.find((c) =>
      (c.audiences ?? ['api://AzureADTokenExchange']).some((a) => audiences.includes(a)),
    );
    if (!match)
      return {
        code: 700212,
        text:
          `No matching federated identity record found for presented assertion audience ` +
          `'${audiences.join(',')}'. ${hint}`,
      };
    if (
      assertion.header.alg !== 'RS256' ||
      !verify(
        'sha256',
        Buffer.from(assertion.signedPart),
        createPublicKey(match.issuerPublicKeyPem),
        assertion.signature,
      )
    ) {
      return { code: 50013, text: 'Assertion failed signature validation.' };
    }
    if (typeof assertion.claims.exp !== 'number' || assertion.claims.exp * 1000 < Date.now())
      return { code: 700024, text: 'Client assertion is not within its valid time range.' };
    return undefined;
  }

  /**
   * App Service / Functions managed identity endpoint (docs: "How to use managed identities for
   * App Service and Azure Functions", REST endpoint reference): GET with `resource` and
   * `api-version=2019-08-01`, X-IDENTITY-HEADER equal to IDENTITY_HEADER, and `client_id` for a
   * user-assigned identity; answers { access_token, expires_on, resource, token_type, client_id }.
   * Errors use the platform's { statusCode, message, correlationId } shape.
   */
  private managedIdentityToken(req: IncomingMessage, res: ServerResponse, host: ManagedIdentityHost): void {
    this.tokenRequests++;
    const url = new URL(req.url ?? '/', 'https://localhost');
    const fail = (status: number, message: string) =>
      sendJson(res, status, { statusCode: status, message, correlationId: randomUUID() });
    if (req.method !== 'GET') return fail(405, 'The requested resource does not support http method.');
    if (req.headers['x-identity-header'] !== host.identityHeader)
      return fail(401, 'The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.');
    if (url.searchParams.get('api-version') !== '2019-08-01')
      return fail(
        400,
        `The api-version '${url.searchParams.get('api-version') ?? ''}' is not supported: use 2019-08-01.`,
      );
    const resource = url.searchParams.get('resource');
    if (!resource) return fail(400, 'The resource parameter is required.');
    if (!this.knows(resource.replace(/\/$/, ''))) {
      return fail(
        400,
        `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${host.tenantId}.`,
      );
    }
    const clientId = url.searchParams.get('client_id');
    const identity = clientId
      ? host.identities.find((i) => i.userAssigned && i.clientId.toLowerCase() === clientId.toLowerCase())
      : host.identities.find((i) => !i.userAssigned);
    if (!identity) return fail(400, 'Unable to load the proper Managed Identity.');
    const { token, expiresOn } = this.mint(resource.replace(/\/$/, ''), host.tenantId, {
      clientId: identity.clientId,
      displayName: 'managed identity',
      roles: identity.roles,
    });
    sendJson(res, 200, {
      access_token: token,
      expires_on: String(expiresOn),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    });
  }

  /** An app-only access token for `resource`, as Entra issues it to a service principal. */
  private mint(
    resource: string,
    tenant: string,
    principal: { clientId: string; displayName: string; roles: string[] },
  ): { token: string; expiresOn: number } {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
    const claims = {
      aud: resource,
      iss: `https://sts.windows.net/${tenant}/`,
      iat: now,
      nbf: now,
      exp: now + 3599,
      app_displayname: principal.displayName,
      appid: principal.clientId,
      azp: principal.clientId,
      idtyp: 'app',
      ...(principal.roles.length > 0 ? { roles: principal.roles } : {}), // Entra omits an empty roles claim
      tid: tenant,
      ver: '1.0',
    };
    const payload = base64url(JSON.stringify(claims));
    return { token: `${header}.${payload}.${this.sign(`${header}.${payload}`)}`, expiresOn: claims.exp };
  }

  /** RFC 7523 client assertion signed with the registered certificate's key (RS256 or PS256). */
  private checkAssertion(form: URLSearchParams, tokenEndpoint: string): { code: number; text: string } | undefined {
    const failed = { code: 700027, text: 'Client assertion failed signature validation.' };
    if (!this.app.certificatePem)
      return {
        code: 700027,
        text:
          `The certificate with identifier used to sign the client assertion is not registered on application. ` +
          `[Reason - The key was not found.]`,
      };
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return failed;
    const [header, payload, signature] = (form.get('client_assertion') ?? '').split('.');
    if (!header || !payload || !signature) return failed;
    const head = JSON.parse(Buffer.from(header, 'base64url').toString()) as {
      alg: string;
      x5t?: string;
      'x5t#S256'?: string;
    };
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as {
      aud: string;
      iss: string;
      sub: string;
      exp: number;
    };
    const certificate = new X509Certificate(this.app.certificatePem);
    const thumbprint = Buffer.from(certificate.fingerprint.replace(/:/g, ''), 'hex').toString('base64url');
    const thumbprint256 = Buffer.from(certificate.fingerprint256.replace(/:/g, ''), 'hex').toString('base64url');
    if (head.x5t !== thumbprint && head['x5t#S256'] !== thumbprint256) {
      return {
        code: 700027,
        text:
          `The certificate with identifier used to sign the client assertion is not registered on application. ` +
          `[Reason - The key was not found.]`,
      };
    }
    const key = createPublicKey(this.app.certificatePem);
    const padding = head.alg === 'PS256' ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING;
    const ok = verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      { key, padding, saltLength: 32 },
      Buffer.from(signature, 'base64url'),
    );
    if (!ok) return failed;
    if (claims.aud !== tokenEndpoint || claims.iss !== this.app.clientId || claims.sub !== this.app.clientId)
      return { code: 700021, text: 'Client assertion audience claim does not match Realm issuer.' };
    if (claims.exp * 1000 < Date.now())
      return { code: 700024, text: 'Client assertion is not within its valid time range.' };
    return undefined;
  }

  private sign(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }
}

interface DecodedJwt {
  header: { alg?: string; kid?: string };
  claims: { iss?: string; sub?: string; aud?: string | string[]; exp?: number };
  signedPart: string;
  signature: Buffer;
}

function decodeJwt(token: string): DecodedJwt | undefined {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || signature === undefined) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(header, 'base64url').toString()),
      claims: JSON.parse(Buffer.from(payload, 'base64url').toString()),
      signedPart: `${header}.${payload}`,
      signature: Buffer.from(signature, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

function aadError(res: ServerResponse, status: number, error: string, code: number, text: string): void {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  sendJson(res, status, {
    error,
    error_description:
      `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} ` + `Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

/**
 * Each national cloud's Microsoft Graph, Exchange Online and Azure Resource Manager resources
 * (application ID URIs), as Microsoft's national-cloud deployment docs list them (Resource Manager:
 * exchange-facts.md, "Security operations"): the resources every tenant knows.
 */
export const cloudResources = {
  global: {
    graph: 'https://graph.microsoft.com',
    exchangeOnline: 'https://outlook.office365.com',
    resourceManager: 'https://management.azure.com',
  },
  usgov: {
    graph: 'https://graph.microsoft.us',
    exchangeOnline: 'https://outlook.office365.us',
    resourceManager: 'https://management.usgovcloudapi.net',
  },
  usgovdod: {
    graph: 'https://dod-graph.microsoft.us',
    exchangeOnline: 'https://outlook-dod.office365.us',
    resourceManager: 'https://management.usgovcloudapi.net',
  },
  china: {
    graph: 'https://microsoftgraph.chinacloudapi.cn',
    exchangeOnline: 'https://partner.outlook.cn',
    resourceManager: 'https://management.chinacloudapi.cn',
  },
} as const;
export type CloudName = keyof typeof cloudResources;

/** Graph-style opaque rule ids, like "AQAAAJ5dZp8=". */
export function newRuleId(): string {
  return createHash('sha1').update(randomBytes(16)).digest().subarray(0, 8).toString('base64');
}
