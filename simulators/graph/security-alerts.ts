import { randomUUID } from 'node:crypto';

/** What a test plants: the alert Defender raises some time after a rule is created in a mailbox. */
export interface PlantedAlert {
  title?: string;
  severity?: 'informational' | 'low' | 'medium' | 'high';
  /** How long after the rule's creation Defender raises it (minutes in the field). @default 0 */
  delayInMs?: number;
}

interface StoredAlert {
  id: string;
  title: string;
  severity: string;
  createdAt: number;
  mailbox: string;
}

type Fail = (status: number, code: string, message: string) => { status: number; headers: Record<string, string> };

/** The permissions Graph's "List alerts_v2" accepts for an app (least privileged first). */
const readPermissions = ['SecurityAlert.Read.All', 'SecurityAlert.ReadWrite.All'];

/**
 * Defender alerts as Graph v1.0 serves them (`GET /security/alerts_v2`, docs "List alerts_v2" and
 * the "alert" resource type): application permission SecurityAlert.Read.All (or ReadWrite.All),
 * otherwise 403; `$filter` on createdDateTime with an OData date-time literal, which is unquoted
 * (a quoted value is a string, and OData refuses to compare Edm.DateTimeOffset with Edm.String:
 * 400 BadRequest); evidence of type #microsoft.graph.security.mailboxEvidence and userEvidence
 * naming the mailbox. Alerts appear only once Defender raised them (the test's delay after the
 * rule creation, as the default alert policy "Creation of forwarding/redirect rule" does).
 */
export class SecurityAlerts {
  private readonly planted = new Map<string, PlantedAlert[]>();
  private readonly raised: StoredAlert[] = [];
  /** Reads of alerts_v2, for tests. */
  reads = 0;

  /** Defender will raise `alert` for this mailbox when a rule is created in it. */
  raiseOnRuleCreation(email: string, alert: PlantedAlert = {}): void {
    const key = email.toLowerCase();
    this.planted.set(key, [...(this.planted.get(key) ?? []), alert]);
  }

  /** Called by the Graph simulator when a message rule is created. */
  ruleCreated(email: string, rule: { actions?: Record<string, unknown> }): void {
    const key = email.toLowerCase();
    const forwards = ['forwardAsAttachmentTo', 'forwardTo', 'redirectTo'].some(
      (action) => Array.isArray(rule.actions?.[action]) && (rule.actions![action] as unknown[]).length > 0,
    );
    if (!forwards) return;
    for (const alert of this.planted.get(key) ?? []) {
      this.raised.push({
        id: `da${randomUUID().replace(/-/g, '')}`,
        title: alert.title ?? 'Creation of forwarding/redirect rule',
        severity: alert.severity ?? 'informational',
        createdAt: Date.now() + (alert.delayInMs ?? 0),
        mailbox: key,
      });
    }
    this.planted.delete(key);
  }

  /** GET /security/alerts_v2. */
  list(method: string, query: URLSearchParams, roles: readonly string[], baseUrl: string, fail: Fail) {
    if (method !== 'GET') return fail(405, 'MethodNotAllowed', `The HTTP method '${method}' is not allowed.`);
    if (!roles.some((role) => readPermissions.includes(role)))
      return fail(
        403,
        'Forbidden',
        `Missing application roles. API required roles: ${readPermissions.join(', ')}. ` +
          `Application roles: ${roles.join(', ') || 'none'}.`,
      );
    this.reads++;
    const filter = query.get('$filter');
    let since = -Infinity;
    if (filter !== null) {
      const match = /^\s*createdDateTime\s+(ge|gt)\s+(.+?)\s*$/.exec(filter);
      if (!match) return fail(400, 'BadRequest', `Invalid filter clause: '${filter}' is not supported here.`);
      const literal = match[2]!;
      if (/^'.*'$/.test(literal))
        return fail(
          400,
          'BadRequest',
          "Invalid filter clause: The types 'Edm.DateTimeOffset' and 'Edm.String' are not compatible.",
        );
      since = Date.parse(literal);
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(literal) || Number.isNaN(since))
        return fail(400, 'BadRequest', `Invalid filter clause: '${literal}' is not a valid DateTimeOffset.`);
      if (match[1] === 'gt') since += 1;
    }
    const now = Date.now();
    const value = this.raised
      .filter((alert) => alert.createdAt <= now && alert.createdAt >= since)
      .map((alert) => present(alert));
    return {
      status: 200,
      headers: {},
      body: { '@odata.context': `${baseUrl}/v1.0/$metadata#security/alerts_v2`, value },
    };
  }
}

function present(alert: StoredAlert): Record<string, unknown> {
  const created = new Date(alert.createdAt).toISOString();
  return {
    '@odata.type': '#microsoft.graph.security.alert',
    id: alert.id,
    providerAlertId: alert.id,
    incidentId: null,
    status: 'new',
    severity: alert.severity,
    classification: null,
    determination: null,
    serviceSource: 'microsoftDefenderForOffice365',
    detectionSource: 'microsoftDefenderForOffice365',
    title: alert.title,
    description: 'A user created an inbox rule that forwards or redirects mail.',
    category: 'Exfiltration',
    createdDateTime: created,
    lastUpdateDateTime: created,
    firstActivityDateTime: created,
    lastActivityDateTime: created,
    alertWebUrl: `https://security.microsoft.com/alerts/${alert.id}`,
    evidence: [
      {
        '@odata.type': '#microsoft.graph.security.mailboxEvidence',
        createdDateTime: created,
        verdict: 'suspicious',
        roles: [],
        displayName: alert.mailbox.split('@')[0],
        primaryAddress: alert.mailbox,
        userAccount: { accountName: alert.mailbox.split('@')[0], userPrincipalName: alert.mailbox },
      },
      {
        '@odata.type': '#microsoft.graph.security.userEvidence',
        createdDateTime: created,
        verdict: 'suspicious',
        roles: ['compromised'],
        userAccount: { accountName: alert.mailbox.split('@')[0], userPrincipalName: alert.mailbox },
      },
    ],
  };
}
