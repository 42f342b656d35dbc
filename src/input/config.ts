import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { defaultFirstRetryDelayInMs, defaultRetrySettings } from '../core/retry.js';
import { targets } from '../core/mailbox.js';
import { templatesDir } from '../paths.js';
import { mailAddress } from './address.js';
import { checkInputPath, type InputPath } from './files.js';
import { formatIssues, lineAt } from './issues.js';
import { appCredentialFields, checkAppCredential } from './auth-schema.js';
import { socConfigSchema } from '../soc/soc-config.js';

export const defaultRuleName = 'Dynamics 365 forward mailbox (sinkrule)';

const httpsUrl = z.url({ protocol: /^https$/, error: 'must be an https:// URL' });
const concurrency = (fallback: number) => z.number().int().min(1).max(256).default(fallback);

/**
 * National clouds: the authority (sign-in) host, the Graph service root, and Graph's resource
 * (application ID URI) that tokens are issued for. The resource belongs to the cloud, not to
 * where requests are sent: a proxy or private endpoint (graph.baseUrl) does not change it.
 */
export const clouds = {
  global: {
    authorityHost: 'https://login.microsoftonline.com',
    graphBaseUrl: 'https://graph.microsoft.com',
    graphResource: 'https://graph.microsoft.com',
  },
  usgov: {
    authorityHost: 'https://login.microsoftonline.us',
    graphBaseUrl: 'https://graph.microsoft.us',
    graphResource: 'https://graph.microsoft.us',
  },
  usgovdod: {
    authorityHost: 'https://login.microsoftonline.us',
    graphBaseUrl: 'https://dod-graph.microsoft.us',
    graphResource: 'https://dod-graph.microsoft.us',
  },
  china: {
    authorityHost: 'https://login.chinacloudapi.cn',
    graphBaseUrl: 'https://microsoftgraph.chinacloudapi.cn',
    graphResource: 'https://microsoftgraph.chinacloudapi.cn',
  },
} as const;

const graphSchema = z
  .strictObject({
    ...appCredentialFields,
    cloud: z.enum(Object.keys(clouds) as [keyof typeof clouds]).default('global'),
    authorityHost: httpsUrl.optional(),
    baseUrl: httpsUrl
      .refine((url) => !/\/v1\.0\/?$|\/beta\/?$/.test(url), {
        error: 'is the service root without /v1.0, e.g. https://graph.microsoft.com',
      })
      .optional(),
    // Enough mailboxes in flight to reach the service's pace at ~50 ms per request; the shared
    // gate, not this number, keeps the request rate under what the service accepts.
    concurrency: concurrency(256),
    /**
     * Requests per Graph JSON batch ($batch); 1 turns batching off. 4 by default: Exchange Online
     * runs at most 4 requests of a batch at once, so a batch of 4 costs one round trip, and a
     * quarter of the HTTP work. A run sends one at a time once the service shows a small burst
     * (providers/graph.ts).
     */
    batchSize: z.number().int().min(1).max(20).default(4),
  })
  .superRefine(checkAppCredential);

const ewsSchema = z
  .strictObject({
    url: httpsUrl.refine((url) => /\/ews\/exchange\.asmx$/i.test(url), {
      error: 'is the EWS endpoint, e.g. https://mail.contoso.com/EWS/Exchange.asmx',
    }),
    username: z.string().min(1).optional(),
    auth: z.enum(['ntlm', 'basic', 'oauth']).default('ntlm'),
    version: z
      .enum(['Exchange2010_SP2', 'Exchange2013', 'Exchange2013_SP1', 'Exchange2016'])
      .default('Exchange2013_SP1'),
    caFile: z.string().min(1).optional(),
    concurrency: concurrency(8),
    removeOutlookRuleBlob: z.boolean().default(false),
    oauth: z
      .strictObject({
        ...appCredentialFields,
        authorityHost: httpsUrl.optional(),
        scope: z.string().min(1).optional(),
      })
      .superRefine(checkAppCredential)
      .optional(),
  })
  .refine((ews) => ews.auth === 'oauth' || ews.username, {
    error: 'ews.username is required for ntlm and basic authentication (DOMAIN\\user or user@domain)',
    path: ['username'],
  })
  .refine((ews) => ews.auth !== 'oauth' || ews.oauth, {
    error: 'ews.oauth (tenantId, clientId) is required when ews.auth is oauth',
    path: ['oauth'],
  });

/**
 * Dynamics 365 (Dataverse) as the source of the forward-mailbox users and the sink. The app
 * defaults to the graph section's; the token's resource is the organisation URL.
 */
const dataverseSchema = z.strictObject({
  url: httpsUrl.refine((url) => !/\/api\/data/i.test(url), {
    error: 'is the organisation URL without /api/data, e.g. https://contoso.crm.dynamics.com',
  }),
  // The same sign-in keys as graph; what is left out is taken from graph (checked in resolveDataverse).
  ...appCredentialFields,
  authorityHost: httpsUrl.optional(),
  /** Rows per page (Prefer: odata.maxpagesize); Dataverse ignores anything above 5000. */
  pageSize: z.number().int().min(1).max(5000).default(5000),
  /** migrate: the email server profile (id or name) for mailbox records that have none. */
  emailServerProfile: z.string().trim().min(1).optional(),
});

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  /**
   * Required with --users; with --from-dataverse it is read from the forward mailbox record (and, if set, must match
   * it).
   */
  sink: mailAddress('must be the forward mailbox address, e.g. crm-sink@contoso.com').optional(),
  sinkDisplayName: z.string().min(1).default('Dynamics 365 forward mailbox'),
  defaultTarget: z.enum(targets).default('graph'),
  rule: z
    .strictObject({
      displayName: z.string().trim().min(1).max(255).default(defaultRuleName),
      template: z.string().min(1).default('forward-as-attachment.json'),
    })
    .prefault({}),
  graph: graphSchema.optional(),
  ews: ewsSchema.optional(),
  dataverse: dataverseSchema.optional(),
  /**
   * Mail domains that count as internal in the forwarding inventory, besides the directory's
   * verified domains (Graph); the only source when the app may not read domains or for EWS.
   */
  internalDomains: z
    .array(
      z.string().regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, {
        error: 'must be a domain name such as contoso.com',
      }),
    )
    .default([]),
  manual: z
    .strictObject({
      instructionsDir: z.string().min(1).optional(),
      defaultInstructions: z
        .string()
        .regex(/^[\w.-]+$/, { error: 'is a template name without .md, e.g. server-rule' })
        .default('server-rule'),
    })
    .prefault({}),
  /** The live mail probe (probe, verify --probe, deploy --canary). */
  probe: z
    .strictObject({
      from: z.email({
        error:
          'must be the address of a mailbox the app may send as (Mail.Send), e.g. ' +
          'sinkrule-probe@contoso.com; never the sink',
      }),
      timeoutInS: z.number().int().min(1).max(3600).default(120),
      pollIntervalInMs: z.number().int().min(100).max(60_000).default(5000),
    })
    .optional(),
  /** The security team's pack (notice contact, Resource Manager for soc upload). */
  soc: socConfigSchema,
  retry: z
    .strictObject({
      maxRetries: z.number().int().min(0).max(20).default(defaultRetrySettings.maxRetries),
      retryDelayInMs: z.number().int().min(1).max(60_000).default(defaultRetrySettings.retryDelayInMs),
      firstRetryDelayInMs: z.number().int().min(0).max(60_000).default(defaultFirstRetryDelayInMs),
      maxRetryDelayInMs: z.number().int().min(1_000).max(3_600_000).default(defaultRetrySettings.maxRetryDelayInMs),
    })
    .prefault({}),
});

export type GraphConfig = z.infer<typeof graphSchema> & {
  authorityHost: string;
  baseUrl: string;
  customEndpoints: boolean;
  tokenScope: string;
};
export type EwsConfig = z.infer<typeof ewsSchema> & { oauthScope: string; oauthClientId?: string };
/** The dataverse section with the app, authority and secret variable resolved (defaults from graph). */
export type DataverseConfig = z.infer<typeof dataverseSchema> & {
  authorityHost: string;
  /** Instance discovery is off for a private authority. */
  customEndpoints: boolean;
  /** Same tenant and app as the graph section: its secret (and certificate) may serve here too. */
  sharesGraphApp: boolean;
};
export type Config = Omit<z.infer<typeof configSchema>, 'graph' | 'ews' | 'dataverse'> & {
  ews?: EwsConfig;
  dataverse?: DataverseConfig;
  file: string;
  /** Absolute path of the rule template. */
  templatePath: string;
  graph?: GraphConfig;
};

/** Reads a JSON file; a syntax error becomes `file:line: …`. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(
      [`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? error}): check the path`],
      { cause: error },
    );
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const offset = Number(/position (\d+)/.exec(String(error))?.[1] ?? 0);
    throw new InputError(
      [`${file}:${lineAt(text, offset)}: not valid JSON (${(error as Error).message}): fix the syntax`],
      { cause: error },
    );
  }
}

/** Loads and validates the config file; paths in it are relative to the file. */
export async function loadConfig(file: string): Promise<Config> {
  checkInputPath(file, { namedBy: '--config', what: 'the JSON config (see samples/sinkrule.config.json)' });
  const parsed = configSchema.safeParse(await readJsonFile(file));
  if (!parsed.success) throw new InputError(formatIssues(file, parsed.error.issues));
  const { graph, ews, dataverse, ...rest } = parsed.data;
  const here = path.dirname(path.resolve(file));
  const template = rest.rule.template;
  const templatePath = path.isAbsolute(template)
    ? template
    : template.includes('/') || template.includes('\\')
      ? path.resolve(here, template)
      : path.join(templatesDir, template);
  const manual = {
    ...rest.manual,
    instructionsDir: rest.manual.instructionsDir && path.resolve(here, rest.manual.instructionsDir),
  };
  const resolvedGraph = graph && resolveGraph(graph, here);
  const config: Config = {
    ...rest,
    manual,
    file,
    templatePath,
    graph: resolvedGraph,
    ews: ews && resolveEws(ews, here),
    dataverse: dataverse && resolveDataverse(dataverse, resolvedGraph, here, file),
  };
  checkConfiguredPaths(config);
  return config;
}

/** Every file or folder a config key names must be there and readable; the error names the file and the key. */
function checkConfiguredPaths(config: Config): void {
  const paths: Array<[string | undefined, string, Omit<InputPath, 'namedBy'>]> = [
    [
      config.templatePath,
      'rule.template',
      { what: 'a rule template JSON file (a bare name is looked up in templates/)' },
    ],
    [
      config.graph?.certificatePath,
      'graph.certificatePath',
      { what: 'a PEM or PFX file with the certificate and its private key' },
    ],
    [
      config.ews?.caFile,
      'ews.caFile',
      { what: 'the PEM certificate of the CA that issued the Exchange server certificate' },
    ],
    [
      config.ews?.oauth?.certificatePath,
      'ews.oauth.certificatePath',
      { what: 'a PEM or PFX file with the certificate and its private key' },
    ],
    [
      config.dataverse?.certificatePath,
      'dataverse.certificatePath',
      { what: 'a PEM or PFX file with the certificate and its private key' },
    ],
    [
      config.manual.instructionsDir,
      'manual.instructionsDir',
      { what: 'a folder of instruction templates (NAME.md)', kind: 'folder' },
    ],
  ];
  const problems = paths
    .filter(([value]) => value)
    .flatMap(([value, key, input]) => {
      try {
        checkInputPath(value!, { ...input, namedBy: `${config.file}: ${key}` });
        return [];
      } catch (error) {
        return (error as InputError).problems;
      }
    });
  if (problems.length > 0) throw new InputError(problems);
}

function resolveDataverse(
  dataverse: z.infer<typeof dataverseSchema>,
  graph: GraphConfig | undefined,
  here: string,
  file: string,
): DataverseConfig {
  const tenantId = dataverse.tenantId ?? graph?.tenantId;
  const clientId = dataverse.clientId ?? graph?.clientId;
  const sameApp =
    graph !== undefined &&
    graph.tenantId === tenantId &&
    graph.clientId === clientId &&
    (dataverse.auth ?? graph.auth) === graph.auth;
  const auth = dataverse.auth ?? (sameApp ? graph.auth : undefined);
  const needsApp = auth === undefined || auth === 'secret' || auth === 'certificate';
  if (needsApp && (!tenantId || !clientId)) {
    throw new InputError([
      `${file}: dataverse: no app: set dataverse.tenantId and dataverse.clientId (the Entra app of the ` +
        `Dataverse application user), or a graph section whose app it shares, or dataverse.auth ` +
        `"managed-identity"`,
    ]);
  }
  const certificatePath = dataverse.certificatePath
    ? path.resolve(here, dataverse.certificatePath)
    : sameApp
      ? graph.certificatePath
      : undefined;
  return {
    ...dataverse,
    url: dataverse.url.replace(/\/+$/, ''),
    tenantId,
    clientId,
    auth,
    certificatePath,
    managedIdentityClientId: dataverse.managedIdentityClientId ?? (sameApp ? graph.managedIdentityClientId : undefined),
    authorityHost: dataverse.authorityHost ?? (sameApp ? graph.authorityHost : clouds.global.authorityHost),
    customEndpoints: dataverse.authorityHost !== undefined || (sameApp && graph.customEndpoints),
    sharesGraphApp: sameApp,
  };
}

function resolveGraph(graph: z.infer<typeof graphSchema>, here: string): GraphConfig {
  const cloud = clouds[graph.cloud];
  return {
    ...graph,
    certificatePath: graph.certificatePath && path.resolve(here, graph.certificatePath),
    authorityHost: graph.authorityHost ?? cloud.authorityHost,
    baseUrl: (graph.baseUrl ?? cloud.graphBaseUrl).replace(/\/+$/, ''),
    tokenScope: `${cloud.graphResource}/.default`,
    // Explicit endpoints (a private simulator, a proxy) are not Microsoft's: no instance discovery.
    customEndpoints: graph.authorityHost !== undefined || graph.baseUrl !== undefined,
  };
}

function resolveEws(ews: z.infer<typeof ewsSchema>, here: string): EwsConfig {
  return {
    ...ews,
    caFile: ews.caFile && path.resolve(here, ews.caFile),
    oauth: ews.oauth && {
      ...ews.oauth,
      certificatePath: ews.oauth.certificatePath && path.resolve(here, ews.oauth.certificatePath),
    },
    // On-premises modern auth: the token's audience is the Exchange server's own URL.
    oauthScope: ews.oauth?.scope ?? `${new URL(ews.url).origin}/.default`,
    oauthClientId: ews.oauth?.clientId,
  };
}
