import type { SecurityAlert, SecurityAlertAccess } from '../core/provider.js';
import type { GraphCall } from './graph-mail.js';

interface GraphAlert {
  id: string;
  title?: string;
  severity?: string;
  status?: string;
  createdDateTime?: string;
  alertWebUrl?: string;
  evidence?: Array<{
    '@odata.type'?: string;
    primaryAddress?: string;
    userAccount?: { userPrincipalName?: string | null } | null;
  }>;
}

/** The gate's key for alert reads: not a mailbox, one request at a time is plenty. */
const alertsKey = 'security/alerts_v2';

/**
 * Defender alerts through Graph v1.0 `GET /security/alerts_v2` (Graph docs "List alerts_v2":
 * application permission SecurityAlert.Read.All; `$filter` on createdDateTime with an unquoted
 * date-time literal; pages through @odata.nextLink). Mailbox evidence names the mailbox
 * (primaryAddress, userAccount.userPrincipalName), user evidence the user (userAccount).
 */
export function createGraphAlerts(call: GraphCall): SecurityAlertAccess {
  return {
    async listSince(since, signal) {
      const filter = encodeURIComponent(`createdDateTime ge ${since.toISOString()}`);
      let next: string | undefined = `/security/alerts_v2?$filter=${filter}`;
      const alerts: SecurityAlert[] = [];
      while (next) {
        const page: { value: GraphAlert[]; '@odata.nextLink'?: string } = await call(
          alertsKey,
          'read security alerts',
          { method: 'GET', url: next },
          signal,
        );
        alerts.push(...page.value.map(fromGraph));
        next = page['@odata.nextLink']?.replace(/^https?:\/\/[^/]+\/v1\.0/i, '');
      }
      return alerts;
    },
  };
}

function fromGraph(alert: GraphAlert): SecurityAlert {
  const mailboxes = new Set<string>();
  for (const evidence of alert.evidence ?? []) {
    const type = evidence['@odata.type'] ?? '';
    if (!/mailboxEvidence$|userEvidence$/.test(type)) continue;
    for (const address of [evidence.primaryAddress, evidence.userAccount?.userPrincipalName])
      if (address) mailboxes.add(address.toLowerCase());
  }
  return {
    id: alert.id,
    title: alert.title ?? '',
    severity: alert.severity ?? 'unknown',
    createdDateTime: alert.createdDateTime ?? '',
    status: alert.status ?? '',
    mailboxes: [...mailboxes],
    ...(alert.alertWebUrl ? { webUrl: alert.alertWebUrl } : {}),
  };
}
