import type { CliIO } from '../common/io.js';
import type { CapacityFlags } from '../common/settings.js';
import { cachingCredential, createGraphCredential } from '../auth/graph-credential.js';
import { AccessError, InputError } from '../core/errors.js';
import { concealedNamesFix, concealmentProblem, type ListedUser, type Volume } from '../core/capacity-plan.js';
import type { Config } from '../input/config.js';
import { readVolumesFile, type EmailActivityRow } from '../input/usage-report.js';
import { createCapacityGraph, type CapacityGraph } from '../providers/graph-reports.js';

/**
 * Where `capacity` (and `export --assign-sinks`) get each user's volume: the usage report through
 * Graph, the admin center's export (`--volumes FILE`), or both, the file's row winning
 * (docs/capacity.md, "Where the figures come from").
 */
export type VolumeFlags = Pick<CapacityFlags, 'volumes' | 'period'>;

/** Clouds without the usage reports API (reportRoot pages: "Global service" only). */
const cloudsWithoutReports: Readonly<Record<string, string>> = {
  usgov: 'US Government L4',
  usgovdod: 'US Government L5 (DoD)',
  china: 'China (21Vianet)',
};

/**
 * Checks, before any request, that the volumes can be read at all, and reads the --volumes file
 * (refused at FILE:line when it is not the export). `reportsMissing` names a cloud without the API.
 */
export async function openVolumeSources(
  flags: VolumeFlags,
  config: Config,
): Promise<{ fileRows: EmailActivityRow[]; reportsMissing?: string }> {
  const cloud = config.graph?.cloud ?? 'global';
  const reportsMissing = cloudsWithoutReports[cloud];
  if (reportsMissing && !flags.volumes)
    throw new InputError(
      [
        `${config.file}: graph.cloud is ${cloud}: Microsoft 365 usage reports have no API in ${reportsMissing} ` +
          '(Graph reportRoot is a global-service API)',
      ],
      {
        fix:
          'Export Reports → Usage → Email activity → User details from the Microsoft 365 admin center as CSV ' +
          'and pass it with --volumes FILE.',
      },
    );
  if (!config.graph && !flags.volumes)
    throw new InputError([`${config.file}: no graph section: the volumes come from Microsoft Graph's usage report`], {
      fix:
        'Add the graph section to the config, or pass --volumes FILE with the email activity report ' +
        'exported from the Microsoft 365 admin center.',
    });
  return { fileRows: flags.volumes ? await readVolumesFile(flags.volumes) : [], reportsMissing };
}

/** Graph's usage reports and the sinks' Inboxes, with the config's app (undefined without a graph section). */
export function capacityGraph(config: Config, io: CliIO): CapacityGraph | undefined {
  if (!config.graph) return undefined;
  const { credential } = createGraphCredential(config.graph, io.env, config.file);
  return createCapacityGraph({
    config: config.graph,
    credential: cachingCredential(credential, io.clock),
    clock: io.clock,
    retry: { ...config.retry, sleep: io.sleep, signal: io.signal },
  });
}

/**
 * Each listed user's volume by lower-case address: the email activity report (when `graph` is
 * given), refused when it cannot be matched to the list (concealed names), merged with the
 * --volumes file's rows, which win.
 */
export async function readVolumes(
  graph: CapacityGraph | undefined,
  flags: VolumeFlags,
  users: readonly ListedUser[],
  fileRows: readonly EmailActivityRow[],
  progress: (text: string) => void,
): Promise<Map<string, Volume>> {
  const reportRows = graph ? await readReport(graph, flags, users, progress) : [];
  const volumes = new Map<string, Volume>();
  for (const row of [...reportRows, ...fileRows])
    volumes.set(row.upn.toLowerCase(), {
      receiveCount: row.receiveCount,
      refreshDate: row.refreshDate,
      periodDays: row.periodDays,
    });
  return volumes;
}

/** The email activity report, refused when it cannot be matched to the list (concealed names). */
async function readReport(
  graph: CapacityGraph,
  flags: VolumeFlags,
  users: readonly ListedUser[],
  progress: (text: string) => void,
): Promise<EmailActivityRow[]> {
  let rows: EmailActivityRow[];
  try {
    rows = await graph.emailActivity(flags.period);
  } catch (error) {
    if (!(error instanceof AccessError) || !flags.volumes) throw error;
    progress(`Warning: ${error.message}: using --volumes ${flags.volumes} alone. ${error.fix ?? ''}`);
    return [];
  }
  const settings = await graph.reportSettings();
  if ('unreadable' in settings) progress(`Warning: report settings not read: ${settings.unreadable}.`);
  const listed = users.filter((u) => u.target === 'graph').map((u) => u.email);
  const concealed = 'displayConcealedNames' in settings ? settings.displayConcealedNames : undefined;
  const problem = concealmentProblem(
    listed,
    rows.map((r) => r.upn),
    concealed,
  );
  if (problem && !flags.volumes)
    throw new AccessError(`Cannot plan from the usage report: ${problem}; planning on it would count every user as 0`, {
      fix: concealedNamesFix,
    });
  if (problem) {
    progress(`Warning: usage report ignored: ${problem}; using --volumes ${flags.volumes} alone.`);
    return [];
  }
  progress(
    `Read the email activity report (${flags.period}): ${rows.length} rows, refreshed ${rows[0]?.refreshDate ?? '-'}.`,
  );
  return rows;
}
