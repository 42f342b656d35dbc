import { z } from 'zod';

/** Where an admin finds the tenant and client ids. */
const whereInEntra = 'Entra admin center → App registrations → Overview';

export const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, {
  error: `must be a GUID such as 00000000-0000-0000-0000-000000000000 (${whereInEntra})`,
});

/**
 * How sinkrule signs in to a Microsoft service (Graph, EWS with modern auth, Dataverse):
 * - `secret`: client secret of the app registration, from an environment variable;
 * - `certificate`: PEM or PFX/PKCS#12 file with the app's certificate and private key;
 * - `managed-identity`: the Azure resource's own identity (App Service, Functions, Automation, Arc, VMs);
 * - `workload-identity`: a federated token from the platform (Kubernetes, GitHub Actions, Azure
 *   Pipelines) in the file named by AZURE_FEDERATED_TOKEN_FILE, exchanged for the app's token;
 * - `default`: @azure/identity's DefaultAzureCredential chain (environment, workload identity,
 *   managed identity, Azure CLI, Azure PowerShell, Azure Developer CLI).
 */
export const authKinds = ['secret', 'certificate', 'managed-identity', 'workload-identity', 'default'] as const;
export type AuthKind = (typeof authKinds)[number];

/**
 * The keys every section that signs in to Entra ID shares; a section spreads them into its own
 * strict object and adds `.superRefine(checkAppCredential)`.
 */
export const appCredentialFields = {
  /** Directory (tenant) ID. Required for secret and certificate; workload-identity falls back to AZURE_TENANT_ID. */
  tenantId: guid.optional(),
  /** Application (client) ID. Required for secret and certificate; workload-identity falls back to AZURE_CLIENT_ID. */
  clientId: guid.optional(),
  auth: z.enum(authKinds).optional(),
  /** PEM or PFX/PKCS#12 with the certificate and its private key (auth: certificate). */
  certificatePath: z.string().min(1).optional(),
  /** Client ID of a user-assigned managed identity (auth: managed-identity or default). */
  managedIdentityClientId: guid.optional(),
};

type AppCredentialInput = {
  tenantId?: string;
  clientId?: string;
  auth?: AuthKind;
  certificatePath?: string;
  managedIdentityClientId?: string;
};

/** The rules that span keys: which kind needs which key, and keys that would be ignored. */
export function checkAppCredential(section: AppCredentialInput, ctx: z.RefinementCtx): void {
  const kind = section.auth;
  const needsApp = kind === undefined || kind === 'secret' || kind === 'certificate';
  for (const key of ['tenantId', 'clientId'] as const) {
    if (needsApp && !section[key])
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `is required${kind ? ` for auth "${kind}"` : ''} (${whereInEntra})`,
      });
  }
  if (kind === 'certificate' && !section.certificatePath) {
    ctx.addIssue({
      code: 'custom',
      path: ['certificatePath'],
      message: 'is required for auth "certificate": a PEM or PFX file with the certificate and its private key',
    });
  }
  if (section.certificatePath && kind !== undefined && kind !== 'certificate') {
    ctx.addIssue({
      code: 'custom',
      path: ['certificatePath'],
      message: `is used only with auth "certificate" (auth is "${kind}"): remove it or set auth to certificate`,
    });
  }
  if (section.managedIdentityClientId && kind !== 'managed-identity' && kind !== 'default') {
    ctx.addIssue({
      code: 'custom',
      path: ['managedIdentityClientId'],
      message: 'is used only with auth "managed-identity" or "default": remove it or set auth',
    });
  }
  if (kind === 'managed-identity' && section.clientId) {
    ctx.addIssue({
      code: 'custom',
      path: ['clientId'],
      message:
        'is not used with auth "managed-identity" (the managed identity signs in, not an app registration): ' +
        "remove it, or put a user-assigned identity's client id in managedIdentityClientId",
    });
  }
}
