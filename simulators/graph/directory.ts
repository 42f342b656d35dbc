import { newRuleId } from './identity.js';
import type { Fail, Reply, ServiceRequest } from './replies.js';
import type { SimulatedRule } from './rules.js';

/**
 * The tenant's directory as Graph shows it: users and their mailboxes, and the verified domains.
 * Built from exchange-facts.md (users without an Exchange Online mailbox → 404
 * MailboxNotEnabledForRESTAPI alternating with ResourceNotFound; unknown user → ErrorInvalidUser;
 * outside the app's RBAC for Applications scope → 403) and Microsoft Learn "List domains"
 * (`domain-list`, v1.0: permissions and the domain resource's properties).
 */

export type MailboxKind = 'exchange-online' | 'on-premises' | 'unlicensed';

export interface SimulatedMailbox {
  email: string;
  kind: MailboxKind;
  /** Outside the app's RBAC for Applications scope: every call answers 403. */
  outOfScope?: boolean;
  rules?: Array<Omit<SimulatedRule, 'id' | 'hasError' | 'isReadOnly' | 'sequence'> & Partial<SimulatedRule>>;
}

export interface DirectoryDomain {
  id: string;
  isVerified: boolean;
  isDefault?: boolean;
}

export class Directory {
  readonly mailboxes = new Map<
    string,
    { kind: MailboxKind; outOfScope: boolean; rules: SimulatedRule[]; reads: number }
  >();

  constructor(
    private readonly domains: DirectoryDomain[] | undefined,
    private readonly url: () => string,
  ) {}

  addMailbox(mailbox: SimulatedMailbox): void {
    const rules = (mailbox.rules ?? []).map((rule, i) => ({
      hasError: false,
      isReadOnly: false,
      sequence: i + 1,
      id: newRuleId(),
      ...rule,
    }));
    this.mailboxes.set(mailbox.email.toLowerCase(), {
      kind: mailbox.kind,
      outOfScope: mailbox.outOfScope ?? false,
      rules,
      reads: 0,
    });
  }

  /** Why a mailbox cannot be used at all (unknown, outside the app's scope, not in Exchange Online). */
  mailboxProblem(email: string, fail: Fail): Reply | undefined {
    const mailbox = this.mailboxes.get(email);
    if (!mailbox) return fail(404, 'ErrorInvalidUser', `The requested user '${email}' is invalid.`);
    if (mailbox.outOfScope) return fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (mailbox.kind === 'unlicensed')
      return fail(404, 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    if (mailbox.kind === 'on-premises') {
      // Observed in the field: the two codes alternate for the same mailbox.
      return mailbox.reads++ % 2 === 0
        ? fail(
            404,
            'MailboxNotEnabledForRESTAPI',
            'The mailbox is either inactive, soft-deleted, or is hosted on-premise.',
          )
        : fail(404, 'ResourceNotFound', 'Resource could not be discovered.');
    }
    return undefined;
  }

  /**
   * List domains (learn.microsoft.com/graph/api/domain-list, v1.0): application permission
   * Domain.Read.All, or the higher Domain.ReadWrite.All / Directory.Read.All; without one the
   * directory answers 403 Authorization_RequestDenied. The collection holds every domain, verified
   * or not; only GET is served here.
   */
  listDomains(request: ServiceRequest, fail: Fail): Reply {
    if (request.method !== 'GET')
      return fail(
        405,
        'Request_BadRequest',
        `The HTTP method '${request.method}' is not supported by this simulator for domains.`,
      );
    const allowed = ['Domain.Read.All', 'Domain.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
    if (!request.roles.some((role) => allowed.includes(role)))
      return fail(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    const value = this.directoryDomains().map((domain) => ({
      authenticationType: 'Managed',
      availabilityStatus: null,
      isAdminManaged: true,
      isDefault: domain.isDefault ?? false,
      isInitial: domain.id.endsWith('.onmicrosoft.com'),
      isRoot: true,
      isVerified: domain.isVerified,
      passwordNotificationWindowInDays: null,
      passwordValidityPeriodInDays: null,
      supportedServices: ['Email', 'OfficeCommunicationsOnline'],
      state: null,
      id: domain.id,
    }));
    return { status: 200, headers: {}, body: { '@odata.context': `${this.url()}/v1.0/$metadata#domains`, value } };
  }

  /** The directory's domains: what GET /domains lists, and what mail delivery counts as internal. */
  directoryDomains(): DirectoryDomain[] {
    return (
      this.domains ?? [
        { id: 'contoso.com', isVerified: true, isDefault: true },
        { id: 'contoso.onmicrosoft.com', isVerified: true, isDefault: false },
      ]
    );
  }
}
