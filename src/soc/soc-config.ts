import { z } from 'zod';

/**
 * The config's `soc` section: who the security team calls about the rollout (notice.md), and the
 * Resource Manager endpoint when it is not the cloud's own (a private endpoint, a simulator).
 */
export const socConfigSchema = z
  .strictObject({
    /** Free text: name, phone, mail, ticket queue. */
    contact: z.string().trim().min(1).max(1000).optional(),
    resourceManagerUrl: z.url({ protocol: /^https$/, error: 'must be an https:// URL' }).optional(),
  })
  .optional();

export type SocConfig = z.infer<typeof socConfigSchema>;

/**
 * Resource Manager per national cloud (exchange-facts.md, "Security operations"): where watchlists
 * are PUT, and the resource (application ID URI) its tokens are issued for.
 */
export const resourceManagerEndpoints = {
  global: 'https://management.azure.com',
  usgov: 'https://management.usgovcloudapi.net',
  usgovdod: 'https://management.usgovcloudapi.net',
  china: 'https://management.chinacloudapi.cn',
} as const;
