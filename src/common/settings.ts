import type { Options as YargsOption } from 'yargs';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import type { Mode } from '../core/plan.js';
import { clouds, type Config } from '../input/config.js';
import { authKinds, guid } from '../input/auth-schema.js';
import { mailAddress } from '../input/address.js';
import { formatIssues } from '../input/issues.js';
import { capacityFlagNames, capacityFlags } from './capacity-flags.js';

/**
 * Every command-line setting, declared once: the schema validates it and gives its TypeScript
 * type, the same entry generates the yargs option (type, choices, help), and `env` names the
 * environment variable that may set it instead of the flag.
 */
const flags = {
  users: {
    schema: z.string().min(1).optional(),
    describe:
      'CSV of mailboxes (columns: email, displayName, target, sink, server, instructions, confirmed, ' +
      'dynamicsMailboxId); or --from-dataverse',
  },
  fromDataverse: {
    schema: z.boolean().default(false),
    describe:
      'Read the mailboxes from Dynamics 365 (config dataverse): active mailbox records with Incoming Email = ' +
      'Forward Mailbox, and the sink from the forward mailbox record; instead of --users',
  },
  config: { schema: z.string().min(1), describe: 'JSON config (see samples/sinkrule.config.json)' },
  sink: {
    schema: mailAddress('must be the forward mailbox address, e.g. crm-sink@contoso.com').optional(),
    describe: "Forward (sink) mailbox address; for deploy, verify and remove it overrides the config's sink",
    env: 'SINKRULE_SINK',
  },
  report: {
    schema: z.string().min(1).optional(),
    describe: 'Report folder (default: sinkrule-report-<command>-<time>)',
    describeIn: {
      rollback: 'The report folder of the run to undo (required)',
      soc: 'The report folder of the run (deploy, remove, or a --dry-run for the notice before it) (required)',
      socUpload: 'The report folder whose soc/ watchlist to upload (required)',
    },
  },
  concurrency: {
    schema: z.coerce
      .number<number>({
        error: (issue) => (issue.code === 'invalid_type' ? 'must be a whole number from 1 to 256' : undefined),
      })
      .int()
      .min(1)
      .max(256)
      .optional(),
    describe: 'Mailboxes worked on at once per back end',
    env: 'SINKRULE_CONCURRENCY',
  },
  output: {
    schema: z.enum(['text', 'json']).default('text'),
    describe:
      'Format on stdout: json gives one JSON object (the result, or {"error":{"code","message","fix"}} with exit 1)',
    env: 'SINKRULE_OUTPUT',
  },
  quiet: {
    schema: z.boolean().default(false),
    describe: 'Print only errors on stderr and no text summary (scheduled runs: the exit code and the report tell)',
    env: 'SINKRULE_QUIET',
  },
  dryRun: {
    schema: z.boolean().default(false),
    describe: 'Read every mailbox and report what would change; write nothing',
    describeIn: { socUpload: 'Show the PUT requests; send nothing' },
  },
  yes: {
    schema: z.boolean().default(false),
    describe: 'Do not ask for confirmation (required when there is no terminal)',
  },
  includeStale: {
    schema: z.boolean().default(false),
    describe:
      'With --from-dataverse: also read the active mailboxes whose Incoming Email is no longer Forward ' +
      'Mailbox; sinkrule\'s rule there is reported "stale"',
  },
  stale: {
    schema: z.boolean().default(false),
    describe:
      'With --from-dataverse: remove the rule from exactly the mailboxes verify --include-stale reports "stale"',
  },
  removeOutlookRuleBlob: {
    schema: z.boolean().default(false),
    describe:
      'EWS: write even where Outlook client-only rules exist, which deletes them (default: such mailboxes ' +
      'are reported, not written)',
  },
  sample: {
    schema: z.coerce
      .number<number>({
        error: (issue) =>
          issue.code === 'invalid_type' ? 'must be a whole number of mailboxes, at least 1' : undefined,
      })
      .int()
      .min(1)
      .optional(),
    describe: 'Work on N mailboxes spread evenly over the users file (preflight default 5; probe default: all)',
  },
  timeoutS: {
    schema: z.coerce
      .number<number>({
        error: (issue) => (issue.code === 'invalid_type' ? 'must be a number of seconds from 1 to 3600' : undefined),
      })
      .int()
      .min(1)
      .max(3600)
      .optional(),
    describe:
      "Probe: seconds to wait for the test message in the sink (overrides the config's probe.timeoutInS, default 120)",
    describeIn: { migrate: "Seconds to wait for a wave's mailbox tests before reverting the rest (default 600)" },
  },
  wave: {
    schema: z.coerce
      .number<number>({
        error: (issue) =>
          issue.code === 'invalid_type' ? 'must be a whole number of mailboxes, at least 1' : undefined,
      })
      .int()
      .min(1)
      .max(5000)
      .default(50),
    describe:
      'Mailboxes switched and tested together; the next wave starts only if this one stays under --max-failures',
  },
  maxFailures: {
    schema: z.string().min(1).default('10%'),
    describe: 'Failures a wave may have before the run stops: a count (3) or a share of the wave (10%)',
  },
  canary: {
    schema: z.coerce
      .number<number>({
        error: (issue) =>
          issue.code === 'invalid_type' ? 'must be a whole number of mailboxes, at least 1' : undefined,
      })
      .int()
      .min(1)
      .optional(),
    describe:
      'Deploy to the first N Graph mailboxes, probe them, and go on with the rest only if every probe succeeded',
  },
  probe: {
    schema: z.boolean().default(false),
    describe:
      'After the verify, send a test message through each Graph mailbox and look for it in the sink (see the ' +
      'probe command)',
  },
  resume: {
    schema: z.string().min(1).optional(),
    describe:
      'Continue the interrupted run whose report folder this is (same --users and --config): finished ' +
      'mailboxes are not touched again',
  },
  inventory: {
    schema: z.boolean().default(false),
    describe:
      'Also write forwarding-inventory.csv: every rule that forwards or redirects, each target internal or external',
  },
  out: {
    schema: z.string().min(1).optional(),
    describe: "Rollback's own report folder (default: sinkrule-report-rollback-<time>)",
    describeIn: {
      export: 'File to write the users CSV to (default: stdout; required with --assign-sinks)',
      capacity:
        'With --sinks: write the users CSV here with the sink column filled (FILE.too-busy.csv: users left out)',
    },
  },
  assignSinks: {
    schema: z.boolean().default(false),
    describe:
      "export: fill each row's sink from capacity's plan over the active forward mailbox records (volumes as " +
      'capacity reads them: the usage report, or --volumes); needs --out; too-busy users go to FILE.too-busy.csv',
  },
  expectHash: {
    schema: z
      .string()
      .regex(/^[0-9a-f]{64}$/i, { error: 'must be the 64-hex-digit SHA-256 printed at the end of the run' })
      .optional(),
    describe: "The journal's last SHA-256 as kept outside the folder (change ticket): also catches a rewritten chain",
  },
  ...capacityFlags,
  // SOC: soc upload, and the canary's watch on Defender alerts
  workspace: {
    schema: z.string().min(1, { error: 'name the Log Analytics workspace resource id' }).optional(),
    describe:
      'soc upload: resource id of the Log Analytics workspace Sentinel runs on ' +
      '(/subscriptions/…/resourceGroups/…/providers/Microsoft.OperationalInsights/workspaces/…)',
  },
  alertWaitS: {
    schema: z.coerce
      .number<number>({
        error: (issue) => (issue.code === 'invalid_type' ? 'must be a number of seconds from 0 to 3600' : undefined),
      })
      .int()
      .min(0)
      .max(3600)
      .default(300),
    describe:
      'deploy --canary: seconds to wait after each wave before reading Defender alerts ' +
      '(Defender raises them minutes after the rule is created; needs SecurityAlert.Read.All)',
  },
  stopOnAlert: {
    schema: z.boolean().default(true),
    describe:
      'deploy --canary: stop before the next wave when Defender raised an alert at or above --alert-severity ' +
      'on a mailbox of the wave (--no-stop-on-alert only lists them)',
  },
  alertSeverity: {
    schema: z.enum(['informational', 'low', 'medium', 'high']).default('high'),
    describe: 'deploy --canary: the lowest Defender alert severity that stops the rollout',
  },
  // sinkrule init
  dir: { schema: z.string().min(1).default('.'), describe: 'Folder to write sinkrule.config.json and users.csv into' },
  force: { schema: z.boolean().default(false), describe: 'Overwrite sinkrule.config.json and users.csv if they exist' },
  tenantId: {
    schema: guid.optional(),
    describe: 'Directory (tenant) ID (Entra admin center → App registrations → Overview)',
  },
  clientId: { schema: guid.optional(), describe: 'Application (client) ID of the app registration' },
  cloud: {
    schema: z.enum(Object.keys(clouds) as [keyof typeof clouds]).optional(),
    describe: 'National cloud (default global)',
  },
  auth: { schema: z.enum(authKinds).optional(), describe: 'How sinkrule signs in to Graph' },
  certificatePath: {
    schema: z.string().min(1).optional(),
    describe: 'auth certificate: PEM or PFX file (relative to --dir)',
  },
  managedIdentityClientId: {
    schema: guid.optional(),
    describe: 'auth managed-identity: client ID of a user-assigned identity (omit for system-assigned)',
  },
  backEnds: {
    schema: z
      .array(z.enum(['graph', 'ews', 'manual']))
      .min(1)
      .optional(),
    describe: 'Where the mailboxes are: graph (Exchange Online), ews (on-premises Exchange), manual (POP3 and others)',
  },
  ewsUrl: {
    schema: z
      .url({
        protocol: /^https$/,
        error: 'must be the https:// EWS URL, e.g. https://mail.contoso.com/EWS/Exchange.asmx',
      })
      .optional(),
    describe: 'ews: the EWS endpoint',
  },
  ewsUsername: { schema: z.string().min(1).optional(), describe: 'ews: the service account (CONTOSO\\svc-sinkrule)' },
} satisfies Record<string, FlagDeclaration>;

interface FlagDeclaration {
  schema: z.ZodType;
  describe: string;
  /** Help text for a group where the flag means something else (rollback's --report: the run to undo). */
  describeIn?: Partial<Record<string, string>>;
  env?: string;
}

type FlagName = keyof typeof flags;

/** The flags each kind of command takes; `global` ones every command takes (declared once, on the top level). */
export const flagGroups = {
  global: ['output', 'quiet'],
  init: [
    'dir',
    'force',
    'tenantId',
    'clientId',
    'sink',
    'cloud',
    'auth',
    'certificatePath',
    'managedIdentityClientId',
    'backEnds',
    'ewsUrl',
    'ewsUsername',
  ],
  read: ['users', 'fromDataverse', 'config', 'sink', 'report', 'concurrency', 'inventory'],
  validate: ['users', 'fromDataverse', 'config', 'sink'],
  write: [
    'users',
    'fromDataverse',
    'config',
    'sink',
    'report',
    'concurrency',
    'dryRun',
    'yes',
    'removeOutlookRuleBlob',
    'resume',
  ],
  verify: [
    'users',
    'fromDataverse',
    'includeStale',
    'config',
    'sink',
    'report',
    'concurrency',
    'inventory',
    'probe',
    'timeoutS',
  ],
  remove: [
    'users',
    'fromDataverse',
    'stale',
    'config',
    'sink',
    'report',
    'concurrency',
    'dryRun',
    'yes',
    'removeOutlookRuleBlob',
    'resume',
  ],
  deploy: [
    'users',
    'fromDataverse',
    'config',
    'sink',
    'report',
    'concurrency',
    'dryRun',
    'yes',
    'removeOutlookRuleBlob',
    'resume',
    'canary',
    'timeoutS',
    'alertWaitS',
    'stopOnAlert',
    'alertSeverity',
  ],
  preflight: ['users', 'fromDataverse', 'config', 'sink', 'sample'],
  migrate: [
    'users',
    'fromDataverse',
    'config',
    'report',
    'concurrency',
    'dryRun',
    'yes',
    'resume',
    'timeoutS',
    'wave',
    'maxFailures',
  ],
  probe: ['users', 'fromDataverse', 'config', 'sink', 'report', 'concurrency', 'sample', 'timeoutS'],
  export: [
    'fromDataverse',
    'config',
    'sink',
    'out',
    'assignSinks',
    'volumes',
    'period',
    'peakHourShare',
    'headroom',
    'allowHotSinks',
  ],
  demo: ['fromDataverse'],
  rollback: ['report', 'config', 'out', 'concurrency', 'dryRun', 'yes', 'removeOutlookRuleBlob'],
  audit: ['expectHash'],
  capacity: ['users', 'fromDataverse', 'config', 'sink', 'out', ...capacityFlagNames],
  soc: ['report', 'config'],
  socUpload: ['report', 'config', 'workspace', 'dryRun', 'yes'],
} as const satisfies Record<string, readonly FlagName[]>;

type GroupFlag<G extends keyof typeof flagGroups> = (typeof flagGroups)[G | 'global'][number];
type RunGroup =
  'read' | 'write' | 'deploy' | 'verify' | 'remove' | 'preflight' | 'probe' | 'export' | 'demo' | 'migrate';
/**
 * deploy, verify, remove, export and demo share one set of validated flags (each command gets the others' defaults).
 */
const runFlagNames = [
  ...new Set([
    ...flagGroups.write,
    ...flagGroups.read,
    ...flagGroups.verify,
    ...flagGroups.remove,
    ...flagGroups.deploy,
    ...flagGroups.preflight,
    ...flagGroups.probe,
    ...flagGroups.export,
    ...flagGroups.demo,
    ...flagGroups.migrate,
    ...flagGroups.global,
  ]),
] as Array<GroupFlag<RunGroup>>;

type Shape<K extends FlagName> = { [P in K]: (typeof flags)[P]['schema'] };
/** The validated flags of deploy, verify, remove, export and demo (a flag a command does not take has its default). */
export type RunFlags = z.infer<z.ZodObject<Shape<GroupFlag<RunGroup>>>>;
export type RollbackFlags = z.infer<z.ZodObject<Shape<GroupFlag<'rollback'>>>> & { report: string; config: string };
export type AuditFlags = z.infer<z.ZodObject<Shape<GroupFlag<'audit'>>>>;
export type CapacityFlags = z.infer<z.ZodObject<Shape<GroupFlag<'capacity'>>>>;
export type InitFlags = z.infer<z.ZodObject<Shape<GroupFlag<'init'>>>>;
export type SocFlags = z.infer<z.ZodObject<Shape<GroupFlag<'soc'>>>> & { report: string };
export type SocUploadFlags = z.infer<z.ZodObject<Shape<GroupFlag<'socUpload'>>>> & {
  report: string;
  workspace: string;
};
/** The flags every command takes. */
export type GlobalFlags = z.infer<z.ZodObject<Shape<(typeof flagGroups)['global'][number]>>>;

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** yargs options for a group, generated from the declarations above. */
export function yargsOptions(group: keyof typeof flagGroups): Record<string, YargsOption> {
  return Object.fromEntries(flagGroups[group].map((name) => [kebab(name), yargsOption(flags[name], group)]));
}

function yargsOption(flag: FlagDeclaration, group: string): YargsOption {
  const inner = unwrap(flag.schema);
  const required = !flag.schema.safeParse(undefined).success && !flag.env;
  const text = flag.describeIn?.[group] ?? flag.describe;
  const describe = flag.env ? `${text} [env ${flag.env}]` : text;
  if (inner instanceof z.ZodBoolean) return { type: 'boolean', describe };
  if (inner instanceof z.ZodArray && inner.element instanceof z.ZodEnum)
    return { type: 'array', choices: inner.element.options as string[], describe };
  if (inner instanceof z.ZodEnum) return { choices: inner.options as string[], describe };
  if (inner instanceof z.ZodNumber) return { type: 'number', describe, demandOption: required };
  return { type: 'string', describe, demandOption: required };
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault || current instanceof z.ZodNullable) {
    current = current.unwrap() as z.ZodType;
  }
  return current;
}

/**
 * Validates the parsed flags, with each unset flag taken from its environment variable: the only
 * place command-line input is checked. Precedence: flag > environment > config file > default
 * (the config file layer is applied by resolveSettings).
 */
export function parseRunFlags(argv: Record<string, unknown>, env: NodeJS.ProcessEnv): RunFlags {
  return parseFlags(runFlagNames, argv, env) as RunFlags;
}

export function parseRollbackFlags(argv: Record<string, unknown>, env: NodeJS.ProcessEnv): RollbackFlags {
  const parsed = parseFlags([...flagGroups.rollback, ...flagGroups.global], argv, env) as RollbackFlags;
  if (!parsed.report)
    throw new InputError([
      'command line: --report: name the report folder of the run to undo, e.g. --report ' +
        'sinkrule-report-deploy-20261129-1401',
    ]);
  return parsed;
}

/** soc and soc upload: --report names the run's folder; upload also needs --workspace. */
export function parseSocFlags<G extends 'soc' | 'socUpload'>(
  group: G,
  argv: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): G extends 'soc' ? SocFlags : SocUploadFlags {
  const parsed = parseFlags([...flagGroups[group], ...flagGroups.global], argv, env) as Record<string, unknown>;
  const missing = [
    !parsed.report && '--report: name the report folder of the run, e.g. --report sinkrule-report-deploy-20261129-1401',
    group === 'socUpload' && !parsed.workspace && '--workspace: name the Log Analytics workspace resource id',
  ].filter((problem): problem is string => Boolean(problem));
  if (missing.length) throw new InputError(missing.map((problem) => `command line: ${problem}`));
  return parsed as G extends 'soc' ? SocFlags : SocUploadFlags;
}

export function parseAuditFlags(argv: Record<string, unknown>, env: NodeJS.ProcessEnv): AuditFlags {
  return parseFlags([...flagGroups.audit, ...flagGroups.global], argv, env);
}

/** Validates the named flags (flag, else environment variable, else default). */
export function parseFlags<K extends FlagName>(
  names: readonly K[],
  argv: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): z.infer<z.ZodObject<Shape<K>>> {
  const input: Record<string, unknown> = {};
  const fromEnvironment = new Map<string, string>();
  for (const name of names) {
    const flag: FlagDeclaration = flags[name];
    input[name] = argv[name];
    if (input[name] === undefined && flag.env && env[flag.env]) {
      input[name] =
        unwrap(flag.schema) instanceof z.ZodBoolean ? /^(1|true|yes)$/i.test(env[flag.env]!) : env[flag.env];
      fromEnvironment.set(name, flag.env);
    }
  }
  const schema = z.strictObject(Object.fromEntries(names.map((name) => [name, flags[name].schema])) as Shape<K>);
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new InputError(
      parsed.error.issues.flatMap((issue) => {
        const variable = fromEnvironment.get(String(issue.path[0]));
        return variable
          ? [`environment: ${variable}: ${issue.message}`]
          : formatIssues(
              'command line',
              [{ ...issue, path: issue.path.map((key, i) => (i === 0 ? kebab(String(key)) : key)) }],
              '--',
            );
      }),
    );
  }
  return parsed.data as z.infer<z.ZodObject<Shape<K>>>;
}

/**
 * The global flags, read before (and independently of) the full parse, so that even a command
 * line yargs rejects is answered in the format asked for. Anything unreadable falls back to the
 * default: the full parse then reports it.
 */
export function earlyGlobalFlags(argv: readonly string[], env: NodeJS.ProcessEnv): GlobalFlags {
  const raw: Record<string, unknown> = {};
  argv.forEach((arg, i) => {
    if (arg === '--output') raw.output = argv[i + 1];
    else if (arg.startsWith('--output=')) raw.output = arg.slice('--output='.length);
    else if (arg === '--quiet') raw.quiet = true;
  });
  try {
    return parseFlags(flagGroups.global, raw, env);
  } catch {
    return { output: 'text', quiet: raw.quiet === true };
  }
}

/** Every command that works on a users file. */
export type CommandName = Mode | 'probe' | 'preflight' | 'migrate';

/** What a run works with: the config with every flag and environment override applied. */
export interface RunSettings extends RunFlags {
  command: CommandName;
  /** The config file's values, overridden by flags and environment (never mutated afterwards). */
  effective: Config;
}

/** Applies the overrides to the config: flag > environment > config file > default. */
export function resolveSettings(command: CommandName, runFlags: RunFlags, config: Config): RunSettings {
  return { ...runFlags, command, effective: effectiveConfig(runFlags, config) };
}

/** The config with the flags that override it applied (deploy, verify, remove and rollback). */
export function effectiveConfig(
  runFlags: Partial<Pick<RunFlags, 'sink' | 'concurrency' | 'removeOutlookRuleBlob' | 'timeoutS'>>,
  config: Config,
): Config {
  const concurrency = runFlags.concurrency;
  return {
    ...config,
    sink: runFlags.sink ?? config.sink,
    graph: config.graph && { ...config.graph, concurrency: concurrency ?? config.graph.concurrency },
    ews: config.ews && {
      ...config.ews,
      concurrency: concurrency ?? config.ews.concurrency,
      removeOutlookRuleBlob: Boolean(runFlags.removeOutlookRuleBlob) || config.ews.removeOutlookRuleBlob,
    },
    probe: config.probe && { ...config.probe, timeoutInS: runFlags.timeoutS ?? config.probe.timeoutInS },
  };
}
