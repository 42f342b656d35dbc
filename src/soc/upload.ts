import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { TokenCredential } from '@azure/identity';
import { AccessError, InputError, ThrottledError, TransientError } from '../core/errors.js';
import { parseRetryAfter, withRetry, type Sleep } from '../core/retry.js';
import type { Config } from '../input/config.js';
import { createGraphCredential } from '../auth/graph-credential.js';
import { readManifest, socDirName, type PackManifest } from './pack.js';
import { resourceManagerEndpoints } from './soc-config.js';
import { watchlistApiVersion, watchlistProperties } from './watchlist-resource.js';

/** `…/workspaces/{name}` as the Azure portal shows it (workspace → Properties → Resource ID). */
const workspacePattern = new RegExp(
  '^/subscriptions/[0-9a-f-]{36}/resourceGroups/[-\\w.()]+' +
    '/providers/Microsoft\\.OperationalInsights/workspaces/[-\\w]+$',
  'i',
);
const watchlistWrite = 'Microsoft.SecurityInsights/watchlists/write';

export interface UploadOptions {
  reportDir: string;
  /** The Log Analytics workspace's resource id. */
  workspace: string;
  dryRun: boolean;
  config: Config;
  env: NodeJS.ProcessEnv;
  clock: () => number;
  sleep: Sleep;
  signal?: AbortSignal;
  /** Each request (dry run: what would be sent) and its answer, for stdout. */
  report: (line: string) => void;
}

export interface UploadResult {
  requests: Array<{ method: 'PUT'; url: string; alias: string; rows: number; bytes: number; status?: number }>;
}

/**
 * `sinkrule soc upload`: one `PUT …/providers/Microsoft.SecurityInsights/watchlists/{alias}` per
 * watchlist part through Resource Manager (REST "Watchlists - Create Or Update", api-version
 * 2024-09-01), signed in as the graph section's app with a token for Resource Manager's resource.
 */
export async function uploadWatchlists(options: UploadOptions): Promise<UploadResult> {
  const workspace = options.workspace.replace(/\/+$/, '');
  if (!workspacePattern.test(workspace))
    throw new InputError([
      `--workspace: "${options.workspace}" is not a Log Analytics workspace resource id: use ` +
        '/subscriptions/<subscription id>/resourceGroups/<group>/providers/Microsoft.OperationalInsights/' +
        'workspaces/<name> (portal: the workspace → Properties → Resource ID)',
    ]);
  const manifest = await readManifest(options.reportDir);
  if (manifest.watchlist.length === 0)
    throw new InputError([
      `--report: ${options.reportDir}: the pack has no watchlist (no mailbox holds sinkrule's rule after that run` +
        `${manifest.leaving.length ? '; its leaving rows list the rules that left' : ''}): upload a deploy's pack`,
    ]);
  const graph = options.config.graph;
  if (!graph)
    throw new InputError([
      `${options.config.file}: graph: missing: soc upload signs in as the graph section's app (tenantId, clientId)`,
    ]);
  const base = (options.config.soc?.resourceManagerUrl ?? resourceManagerEndpoints[graph.cloud]).replace(/\/+$/, '');
  // The token's audience is the cloud's Resource Manager, wherever the requests go (as for Graph).
  const scope = `${resourceManagerEndpoints[graph.cloud]}/.default`;
  const credential = options.dryRun
    ? undefined
    : createGraphCredential(graph, options.env, options.config.file).credential;
  const result: UploadResult = { requests: [] };
  for (const part of manifest.watchlist) {
    const url = `${base}${workspace}/providers/Microsoft.SecurityInsights/watchlists/${encodeURIComponent(part.alias)}`;
    const request = { method: 'PUT' as const, url: `${url}?api-version=${watchlistApiVersion}` };
    const entry: UploadResult['requests'][number] = {
      ...request,
      alias: part.alias,
      rows: part.rows,
      bytes: part.bytes,
    };
    result.requests.push(entry);
    if (!credential) {
      options.report(`[dry run] ${request.method} ${request.url} (${part.rows} rows, ${part.bytes} bytes of CSV)`);
      continue;
    }
    const body = await bodyFor(options.reportDir, manifest, part);
    entry.status = await withRetry(() => put(request.url, body, credential, scope, graph.clientId, options), {
      ...options.config.retry,
      sleep: options.sleep,
      signal: options.signal,
    });
    options.report(
      `${request.method} ${request.url}: ${entry.status === 201 ? 'created' : 'updated'} (${part.rows} rows)`,
    );
  }
  return result;
}

async function bodyFor(dir: string, manifest: PackManifest, part: PackManifest['watchlist'][number]) {
  const csv = await readFile(path.join(dir, socDirName, part.file), 'utf8');
  const about = { runId: manifest.runId, ruleName: manifest.ruleName };
  return JSON.stringify({ properties: watchlistProperties(part, manifest.watchlist.length, csv, about) });
}

async function put(
  url: string,
  body: string,
  credential: TokenCredential,
  scope: string,
  clientId: string | undefined,
  options: UploadOptions,
): Promise<number> {
  const token = await credential.getToken(scope, { abortSignal: options.signal });
  if (!token) throw new AccessError('Cannot get a token for Resource Manager: the identity service returned none');
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      body,
      signal: options.signal,
    });
  } catch (error) {
    throw new TransientError(`Resource Manager did not answer: ${(error as Error).message}`, 'NetworkError', {
      cause: error,
    });
  }
  const text = await response.text();
  if (response.status === 200 || response.status === 201) return response.status;
  const error = parseArmError(text);
  const said = `${response.status} ${error.code}: ${error.message}`;
  if (response.status === 429)
    throw new ThrottledError(
      `Resource Manager throttled the upload (${said})`,
      parseRetryAfter((name) => response.headers.get(name), options.clock()),
      'app',
      error.code,
    );
  if (response.status >= 500) throw new TransientError(`Resource Manager failed (${said})`, error.code);
  if (response.status === 401)
    throw new AccessError(`Resource Manager refused the token (${said})`, {
      fix:
        error.code === 'InvalidAuthenticationTokenAudience'
          ? `The token must be for ${scope.replace('/.default', '')} (the cloud in graph.cloud); ` +
            'soc.resourceManagerUrl changes where requests go, not the audience.'
          : 'Check the app registration and its credential (the same as the graph section uses).',
    });
  if (response.status === 403)
    throw new AccessError(`Resource Manager denied the upload (${said})`, {
      fix: error.message.includes(watchlistWrite)
        ? `The app ${clientId ?? ''} lacks ${watchlistWrite}: assign it the role Microsoft Sentinel Contributor ` +
          'on the workspace (or its resource group), wait a few minutes, and run soc upload again.'
        : 'Assign the app the role Microsoft Sentinel Contributor on the workspace.',
    });
  throw new InputError([`Resource Manager rejected the watchlist (${said})`], {
    fix: 'Check --workspace and the pack (sinkrule soc --report <folder> writes it again).',
  });
}

function parseArmError(text: string): { code: string; message: string } {
  try {
    const error = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
    return { code: error?.code ?? 'Unknown', message: error?.message ?? text.slice(0, 300) };
  } catch {
    return { code: 'Unknown', message: text.slice(0, 300) };
  }
}
