import type { EwsRule } from './ews/ews-rules.js';
import type { SimulatedMailbox } from './graph/graph-simulator.js';
import type { EwsSimulatedMailbox } from './ews/ews-simulator.js';

/**
 * Mailbox states an estate really has, written out in Graph's JSON as an admin would find them
 * (not produced by sinkrule's own rule renderer, so the simulator cannot merely agree with it).
 */
export const sinkRuleName = 'Dynamics 365 forward mailbox (sinkrule)';

const recipient = (address: string, name?: string) => ({ emailAddress: { address, ...(name ? { name } : {}) } });

export function correctSinkRule(sink: string, overrides: Record<string, unknown> = {}) {
  return {
    displayName: sinkRuleName,
    isEnabled: true,
    actions: { forwardAsAttachmentTo: [recipient(sink, 'Dynamics 365 forward mailbox')], stopProcessingRules: false },
    exceptions: { fromAddresses: [recipient(sink)], isNonDeliveryReport: true, isReadReceipt: true },
    ...overrides,
  };
}

export const foreignRules = {
  removeSpam: {
    displayName: 'Remove spam',
    isEnabled: true,
    conditions: { subjectContains: ['enter to win'] },
    actions: { delete: true, stopProcessingRules: true },
  },
  fromPartner: {
    displayName: 'From partner',
    isEnabled: true,
    conditions: { senderContains: ['ADELE'] },
    actions: { forwardTo: [recipient('AlexW@contoso.onmicrosoft.com', 'Alex Wilber')], stopProcessingRules: true },
  },
  externalRedirect: {
    displayName: 'Copy to my phone',
    isEnabled: true,
    actions: { redirectTo: [recipient('someone@gmail.com')] },
  },
  /** Uses Outlook features Graph cannot express: listed read-only with empty actions. */
  readOnly: {
    displayName: 'Print invoices (Outlook client)',
    isEnabled: true,
    isReadOnly: true,
    actions: { markAsRead: true },
  },
};

/** The demo estate, keyed by the local part of the sample users' addresses. */
export function demoMailboxes(emails: string[], sink: string): SimulatedMailbox[] {
  return emails.map((email): SimulatedMailbox => {
    const who = email.split('@')[0]!;
    switch (who) {
      case 'megan.bowen':
        return { email, kind: 'exchange-online', rules: [correctSinkRule(sink, { isEnabled: false })] };
      case 'lee.gu':
        return { email, kind: 'exchange-online', rules: [correctSinkRule('legacy-sink@contoso.com')] };
      case 'isaiah.langer':
        return {
          email,
          kind: 'exchange-online',
          rules: [correctSinkRule(sink), correctSinkRule(sink), foreignRules.removeSpam],
        };
      case 'adele.vance':
        return { email, kind: 'exchange-online', rules: [foreignRules.removeSpam, foreignRules.fromPartner] };
      case 'diego.siciliani':
        return { email, kind: 'exchange-online', rules: [foreignRules.removeSpam, correctSinkRule(sink)] };
      case 'grady.archie':
        return { email, kind: 'exchange-online', rules: [foreignRules.readOnly, foreignRules.externalRedirect] };
      case 'nestor.wilke':
        return { email, kind: 'exchange-online', rules: [correctSinkRule(sink, { exceptions: {} })] };
      case 'joni.sherman':
        return { email, kind: 'exchange-online', rules: [correctSinkRule('sales-sink@contoso.com')] };
      case 'emily.braun':
        return { email, kind: 'on-premises' }; // routed to graph by mistake: the report says to use ews
      default:
        return { email, kind: 'exchange-online' };
    }
  });
}

/** The same estate as Exchange on-premises stores it (EWS element names). */
export const ews = {
  correctSinkRule(sink: string, overrides: Partial<EwsRule> = {}): Omit<EwsRule, 'RuleId' | 'Priority'> {
    return {
      DisplayName: sinkRuleName,
      IsEnabled: true,
      Actions: { ForwardAsAttachmentToRecipients: [{ name: 'Dynamics 365 forward mailbox', address: sink }] },
      Exceptions: { FromAddresses: [{ address: sink }], IsNDR: true, IsReadReceipt: true },
      ...overrides,
    };
  },
  foreignRules: {
    removeSpam: {
      DisplayName: 'Remove spam',
      IsEnabled: true,
      Conditions: { ContainsSubjectStrings: ['enter to win'] },
      Actions: { Delete: true, StopProcessingRules: true },
    },
    fromPartner: {
      DisplayName: 'From partner',
      IsEnabled: true,
      Conditions: { ContainsSenderStrings: ['ADELE'] },
      Actions: {
        ForwardToRecipients: [{ name: 'Alex Wilber', address: 'alexw@contoso.com' }],
        StopProcessingRules: true,
      },
    },
    externalRedirect: {
      DisplayName: 'Copy to my phone',
      IsEnabled: true,
      Actions: { RedirectToRecipients: [{ address: 'someone@gmail.com' }] },
    },
    moveNewsletters: {
      DisplayName: 'Newsletters',
      IsEnabled: true,
      Conditions: { ContainsSubjectStrings: ['newsletter'] },
      Actions: {
        MoveToFolder: {
          xml: '<t:MoveToFolder><t:FolderId Id="AAMkAGYzZjZmRmNjAAA=" ChangeKey="AQAAAA=="/></t:MoveToFolder>',
        },
      },
    },
    /** Made with features EWS cannot represent (e.g. an SMS alert): IsNotSupported. */
    unsupported: {
      DisplayName: 'Text me about the boss',
      IsEnabled: true,
      IsNotSupported: true,
      Actions: { MarkAsRead: true },
    },
  } satisfies Record<string, Omit<EwsRule, 'RuleId' | 'Priority'>>,
};

/** The demo's on-premises users, keyed by local part. */
export function demoEwsMailboxes(emails: string[]): EwsSimulatedMailbox[] {
  return emails.map((email): EwsSimulatedMailbox => {
    switch (email.split('@')[0]) {
      case 'johanna.lorenz':
        return { email, outlookRuleBlobExists: true, rules: [ews.foreignRules.removeSpam] };
      case 'irvin.sayers':
        return { email, rules: [ews.correctSinkRule('legacy-sink@contoso.com'), ews.foreignRules.moveNewsletters] };
      default:
        return { email, rules: [ews.foreignRules.fromPartner] };
    }
  });
}
