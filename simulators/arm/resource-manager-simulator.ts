import { randomUUID } from 'node:crypto';
import type { Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { close, listen, readBody, sendJson } from '../http.js';
import type { LocalCertificate } from '../tls.js';
import { cloudResources, type CloudName, type IdentitySimulator } from '../graph/identity.js';
import { watchlistBodySchema } from './watchlist-schema.js';

export interface SimulatedWorkspace {
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  /** Client ids holding Microsoft Sentinel Contributor on the workspace (or above it). */
  sentinelContributors: string[];
}

export interface ResourceManagerSimulatorOptions {
  certificate: LocalCertificate;
  /** The tenant's Entra ID (the Graph simulator's): it issues and checks the tokens. */
  identity: IdentitySimulator;
  /** @default 'global' */
  cloud?: CloudName;
  workspaces: SimulatedWorkspace[];
}

/** One request as the simulator saw it, for tests. */
export interface ArmRequest {
  method: string;
  path: string;
  apiVersion: string | null;
  audience?: string;
  status: number;
  body?: unknown;
}

/** API versions of Microsoft.SecurityInsights/watchlists (azure-rest-api-specs stable folders). */
const watchlistApiVersions = ['2021-10-01', '2022-11-01', '2023-02-01', '2024-03-01', '2024-09-01', '2025-09-01'];
/** Sentinel's local-upload limit (exchange-facts.md, "Security operations"). */
const rawContentLimitInBytes = 3_800_000;
const watchlistWrite = 'Microsoft.SecurityInsights/watchlists/write';
const watchlistPath = new RegExp(
  '^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\\.OperationalInsights/workspaces/([^/]+)' +
    '/providers/Microsoft\\.SecurityInsights/watchlists/([^/]+)$',
  'i',
);

/**
 * Azure Resource Manager for Sentinel watchlists: REST "Watchlists - Create Or Update" (PUT
 * …/workspaces/{ws}/providers/Microsoft.SecurityInsights/watchlists/{alias}?api-version=…) answers
 * 201 when it created the watchlist, 200 when it replaced it. Resource Manager's documented
 * errors ("Troubleshoot common Azure deployment errors", exchange-facts.md): 401
 * AuthenticationFailed without a token, InvalidAuthenticationToken for a bad one,
 * InvalidAuthenticationTokenAudience for a token of another resource; 400
 * MissingApiVersionParameter / NoRegisteredProviderFound for the api-version; 403
 * AuthorizationFailed naming the action Microsoft.SecurityInsights/watchlists/write when the
 * caller lacks a role that grants it (Microsoft Sentinel Contributor); 404 ParentResourceNotFound
 * for an unknown workspace. The body is checked against the REST spec (watchlist-schema.ts).
 */
export class ResourceManagerSimulator {
  url = '';
  readonly requests: ArmRequest[] = [];
  /** Stored watchlists by workspace path and alias. */
  readonly watchlists = new Map<string, Record<string, unknown>>();
  private server?: Server;
  private readonly resource: string;

  constructor(private readonly options: ResourceManagerSimulatorOptions) {
    this.resource = cloudResources[options.cloud ?? 'global'].resourceManager;
  }

  async start(): Promise<string> {
    const { server, url } = await listen(this.options.certificate, (req, res) => this.handle(req, res));
    this.server = server;
    this.url = url;
    return url;
  }

  async stop(): Promise<void> {
    if (this.server) await close(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const record: ArmRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      apiVersion: url.searchParams.get('api-version'),
      audience: audienceOf(req.headers.authorization),
      status: 0,
    };
    this.requests.push(record);
    const bodyText = req.method === 'PUT' ? await readBody(req, 8 * 1024 * 1024) : '';
    const reply = this.answer(req, url, bodyText, record);
    record.status = reply.status;
    sendJson(res, reply.status, reply.body, {
      'x-ms-request-id': randomUUID(),
      'x-ms-correlation-request-id': randomUUID(),
    });
  }

  private answer(req: IncomingMessage, url: URL, bodyText: string, record: ArmRequest): Reply {
    const authorization = req.headers.authorization;
    if (!authorization)
      return armError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    const problem = this.options.identity.verifyToken(authorization, this.resource);
    if (problem?.includes('audience')) {
      const allowed = [`${this.resource}/`, this.resource];
      return armError(
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${record.audience}'. ` +
          `It should exactly match with one of the allowed audiences ${allowed.map((a) => `'${a}'`).join(',')}.`,
      );
    }
    if (problem) return armError(401, 'InvalidAuthenticationToken', `The access token is invalid. ${problem}`);
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion)
      return armError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    const match = watchlistPath.exec(url.pathname);
    if (!match) return armError(404, 'InvalidResourceType', `The resource type could not be found: ${url.pathname}.`);
    if (!watchlistApiVersions.includes(apiVersion))
      return armError(
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location 'westeurope' and API version '${apiVersion}' for type ` +
          `'watchlists'. The supported api-versions are '${watchlistApiVersions.join(', ')}'.`,
      );
    const [, subscriptionId, resourceGroup, workspaceName, alias] = match as unknown as string[];
    const workspace = this.options.workspaces.find(
      (w) =>
        w.subscriptionId.toLowerCase() === subscriptionId!.toLowerCase() &&
        w.resourceGroup.toLowerCase() === resourceGroup!.toLowerCase() &&
        w.name.toLowerCase() === workspaceName!.toLowerCase(),
    );
    if (!workspace)
      return armError(
        404,
        'ParentResourceNotFound',
        `Can not perform requested operation on nested resource. Parent resource '${workspaceName}' not found.`,
      );
    if (req.method !== 'PUT')
      return armError(405, 'MethodNotAllowed', `The simulator serves only PUT for watchlists, not ${req.method}.`);
    const appId = this.options.identity.claimsOf(authorization).appid ?? '';
    if (!workspace.sentinelContributors.includes(appId))
      return armError(
        403,
        'AuthorizationFailed',
        `The client '${appId}' with object id '${appId}' does not have authorization to perform action ` +
          `'${watchlistWrite}' over scope '${url.pathname}' or the scope is invalid. ` +
          'If access was recently granted, please refresh your credentials.',
      );
    return this.put(url.pathname, alias!, bodyText, record);
  }

  private put(path: string, alias: string, bodyText: string, record: ArmRequest): Reply {
    let body: unknown;
    try {
      body = JSON.parse(bodyText);
    } catch {
      return armError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
    }
    record.body = body;
    const parsed = watchlistBodySchema.safeParse(body);
    if (!parsed.success)
      return armError(400, 'BadRequest', `Invalid watchlist: ${parsed.error.issues.map(describeIssue).join('; ')}`);
    const properties = parsed.data.properties;
    if (properties.source === 'Local file') {
      if (!properties.rawContent) return armError(400, 'BadRequest', 'A "Local file" watchlist needs rawContent.');
      if (Buffer.byteLength(properties.rawContent) > rawContentLimitInBytes)
        return armError(400, 'BadRequest', 'The watchlist file is larger than 3.8 MB: upload it from Azure Storage.');
      const header = (properties.rawContent.split(/\r?\n/)[properties.numberOfLinesToSkip ?? 0] ?? '').split(',');
      if (!header.map((column) => column.replace(/^"|"$/g, '')).includes(properties.itemsSearchKey))
        return armError(
          400,
          'BadRequest',
          `The search key '${properties.itemsSearchKey}' is not a column of the watchlist's header.`,
        );
    }
    const existed = this.watchlists.has(path);
    const now = new Date().toISOString();
    const stored = {
      id: path,
      name: alias,
      type: 'Microsoft.SecurityInsights/Watchlists',
      etag: `"${randomUUID()}"`,
      properties: {
        ...properties,
        watchlistAlias: alias,
        watchlistId: randomUUID(),
        created: (this.watchlists.get(path)?.properties as { created?: string } | undefined)?.created ?? now,
        updated: now,
        uploadStatus: 'Complete',
      },
    };
    this.watchlists.set(path, stored);
    const { rawContent: _rawContent, ...shown } = stored.properties;
    return { status: existed ? 200 : 201, body: { ...stored, properties: shown } };
  }
}

interface Reply {
  status: number;
  body: unknown;
}

/** Resource Manager's error envelope (CloudError). */
function armError(status: number, code: string, message: string): Reply {
  return { status, body: { error: { code, message } } };
}

function describeIssue(issue: { path: PropertyKey[]; message: string }): string {
  return `${issue.path.map(String).join('.') || 'body'}: ${issue.message}`;
}

function audienceOf(authorization: string | undefined): string | undefined {
  try {
    const payload = authorization?.split(' ')[1]?.split('.')[1];
    return payload ? (JSON.parse(Buffer.from(payload, 'base64url').toString()) as { aud?: string }).aud : undefined;
  } catch {
    return undefined;
  }
}
