import { watchlistSearchKey, type WatchlistPart } from './watchlist.js';

/** The Microsoft.SecurityInsights API version sinkrule writes watchlists with (REST and ARM). */
export const watchlistApiVersion = '2024-09-01';
/**
 * Resource Manager refuses a template above 4 MB (docs: "Resolve errors for job size exceeded",
 * template limits); sinkrule keeps each template under 4,000,000 bytes, which leaves room for
 * the deployment's own wrapping.
 */
export const templateLimitInBytes = 4_000_000;

/** The body of PUT …/watchlists/{alias}, and the ARM resource's properties (REST spec WatchlistProperties). */
export interface WatchlistProperties {
  displayName: string;
  provider: string;
  /** 2024-09-01 accepts "Local file" (rawContent) and "Remote storage" (SAS URI). */
  source: 'Local file';
  description: string;
  itemsSearchKey: string;
  contentType: 'text/csv';
  numberOfLinesToSkip: number;
  rawContent: string;
}

export function watchlistProperties(
  part: WatchlistPart,
  parts: number,
  csv: string,
  about: { runId: string; ruleName: string },
): WatchlistProperties {
  const which = parts > 1 ? ` (part ${part.alias.split('-').pop()} of ${parts})` : '';
  return {
    displayName: `sinkrule forward-mailbox rules${which}`,
    provider: 'sinkrule',
    source: 'Local file',
    description:
      `Mailboxes holding sinkrule's rule "${about.ruleName}" (run ${about.runId}). ` +
      "A rule is sinkrule's only when mailbox, rule name and forward target all match a row.",
    itemsSearchKey: watchlistSearchKey,
    contentType: 'text/csv',
    numberOfLinesToSkip: 0,
    rawContent: csv,
  };
}

/**
 * An ARM template that creates or updates the given watchlists in the workspace named by the
 * `workspaceName` parameter (the resource group is the deployment's):
 * `az deployment group create -g <rg> --template-file watchlist.arm.json -p workspaceName=<ws>`.
 */
export function armTemplate(watchlists: Array<{ alias: string; properties: WatchlistProperties }>): object {
  return {
    $schema: 'https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#',
    contentVersion: '1.0.0.0',
    metadata: { description: "sinkrule: the Sentinel watchlist of sinkrule's forward-mailbox rules" },
    parameters: {
      workspaceName: {
        type: 'string',
        metadata: { description: 'The Log Analytics workspace Microsoft Sentinel runs on (in this resource group)' },
      },
    },
    resources: watchlists.map(({ alias, properties }) => ({
      type: 'Microsoft.SecurityInsights/watchlists',
      apiVersion: watchlistApiVersion,
      // An extension resource of the workspace, as Sentinel's own content templates deploy watchlists.
      scope: "[format('Microsoft.OperationalInsights/workspaces/{0}', parameters('workspaceName'))]",
      name: alias,
      properties,
    })),
  };
}

/** The template files: one for every part when that fits the limit, else one per part. */
export function armTemplateFiles(
  watchlists: Array<{ alias: string; properties: WatchlistProperties }>,
): Array<{ file: string; text: string; aliases: string[] }> {
  const whole = `${JSON.stringify(armTemplate(watchlists), null, 2)}\n`;
  if (watchlists.length <= 1 || Buffer.byteLength(whole) <= templateLimitInBytes)
    return [{ file: 'watchlist.arm.json', text: whole, aliases: watchlists.map((w) => w.alias) }];
  return watchlists.map((watchlist, i) => ({
    file: `watchlist-${i + 1}.arm.json`,
    text: `${JSON.stringify(armTemplate([watchlist]), null, 2)}\n`,
    aliases: [watchlist.alias],
  }));
}
