/**
 * `GET /v1.0/domains` (Graph "List domains", `api-reference/v1.0/api/domain-list.md`): application
 * permission `Domain.Read.All` (or the higher `Domain.ReadWrite.All`, `Directory.Read.All`,
 * `Directory.ReadWrite.All`). Directory endpoints answer a missing permission with
 * `403 Authorization_RequestDenied` "Insufficient privileges to complete the operation.", not
 * Outlook's `ErrorAccessDenied`.
 */

export interface SimulatedDomain {
  id: string;
  isVerified: boolean;
  isDefault?: boolean;
  isInitial?: boolean;
}

const readRoles = ['Domain.Read.All', 'Domain.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];

/** Every mailbox's domain, verified, and the tenant's initial <name>.onmicrosoft.com domain. */
export function tenantDomains(emails: string[], tenantId: string): SimulatedDomain[] {
  const names = [...new Set(emails.map((e) => e.split('@')[1]!.toLowerCase()))];
  return [
    ...names.map((id, i) => ({ id, isVerified: true, isDefault: i === 0 })),
    { id: `t${tenantId.slice(0, 8)}.onmicrosoft.com`, isVerified: true, isInitial: true },
  ];
}

export function domainsReply<R>(
  domains: SimulatedDomain[],
  roles: string[],
  baseUrl: string,
  fail: (status: number, code: string, message: string) => R,
): R | { status: number; headers: Record<string, string>; body: unknown } {
  if (!roles.some((role) => readRoles.includes(role)))
    return fail(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  return {
    status: 200,
    headers: {},
    body: {
      '@odata.context': `${baseUrl}/v1.0/$metadata#domains`,
      value: domains.map((d) => ({
        authenticationType: 'Managed',
        availabilityStatus: null,
        id: d.id,
        isAdminManaged: true,
        isDefault: d.isDefault ?? false,
        isInitial: d.isInitial ?? false,
        isRoot: true,
        isVerified: d.isVerified,
        passwordNotificationWindowInDays: null,
        passwordValidityPeriodInDays: null,
        supportedServices: d.isVerified ? ['Email', 'OfficeCommunicationsOnline'] : [],
        state: null,
      })),
    },
  };
}
