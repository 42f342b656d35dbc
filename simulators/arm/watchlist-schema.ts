import { z } from 'zod';

/**
 * Microsoft.SecurityInsights/watchlists as the published REST spec defines it
 * (azure-rest-api-specs, specification/securityinsights/resource-manager/Microsoft.SecurityInsights/
 * stable/2024-09-01/Watchlists.json, definitions Watchlist and WatchlistProperties): displayName,
 * provider and itemsSearchKey are required; source "must be included in the request" and accepts
 * only "Local file" and "Remote storage"; contentType "for now, only text/csv is valid". The
 * read-only properties (watchlistId, created, updated, createdBy, updatedBy, uploadStatus…) are
 * left out: a request that sets them is not what a client should send. Unknown keys are refused.
 */
export const watchlistPropertiesSchema = z.strictObject({
  displayName: z.string().min(1),
  provider: z.string().min(1),
  source: z.enum(['Local file', 'Remote storage']),
  description: z.string().optional(),
  watchlistType: z.string().optional(),
  watchlistAlias: z.string().optional(),
  labels: z.array(z.string()).optional(),
  defaultDuration: z
    .string()
    .regex(/^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/)
    .optional(),
  tenantId: z.string().optional(),
  numberOfLinesToSkip: z.number().int().min(0).optional(),
  rawContent: z.string().optional(),
  itemsSearchKey: z.string().min(1),
  contentType: z.literal('text/csv').optional(),
});

/** The PUT body: a Watchlist resource (ResourceWithEtag: etag may be sent, the rest is read-only). */
export const watchlistBodySchema = z.strictObject({
  etag: z.string().optional(),
  properties: watchlistPropertiesSchema,
});

/**
 * The same resource inside an ARM template (Resource Manager's deploymentTemplate.json schema,
 * 2019-04-01, and "Extension resource types": `scope` names the parent, here the workspace): type,
 * apiVersion and name are required.
 */
export const watchlistTemplateResourceSchema = z.strictObject({
  type: z.literal('Microsoft.SecurityInsights/watchlists'),
  apiVersion: z.literal('2024-09-01'),
  name: z.string().regex(/^[\w-]{1,64}$/),
  scope: z.string().min(1),
  properties: watchlistPropertiesSchema,
  dependsOn: z.array(z.string()).optional(),
});

export const deploymentTemplateSchema = z.strictObject({
  $schema: z.literal('https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#'),
  contentVersion: z.string().regex(/^\d+(\.\d+){3}$/),
  metadata: z.record(z.string(), z.unknown()).optional(),
  parameters: z.record(
    z.string(),
    z.strictObject({
      type: z.enum(['string', 'securestring', 'int', 'bool', 'object', 'secureObject', 'array']),
      defaultValue: z.unknown().optional(),
      metadata: z.record(z.string(), z.unknown()).optional(),
    }),
  ),
  variables: z.record(z.string(), z.unknown()).optional(),
  resources: z.array(watchlistTemplateResourceSchema).min(1),
  outputs: z.record(z.string(), z.unknown()).optional(),
});
