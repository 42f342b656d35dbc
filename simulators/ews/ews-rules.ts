import type { Element as XmlElement } from '@xmldom/xmldom';

/** EWS namespaces. */
export const ns = {
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
  messages: 'http://schemas.microsoft.com/exchange/services/2006/messages',
  types: 'http://schemas.microsoft.com/exchange/services/2006/types',
  errors: 'http://schemas.microsoft.com/exchange/services/2006/errors',
};

type Kind = 'strings' | 'addresses' | 'boolean' | 'text' | 'raw';

/**
 * Children of RulePredicatesType and RuleActionsType in schema order (types.xsd), with the shape
 * of each: ArrayOfStringsType, ArrayOfEmailAddressesType, xs:boolean, an enumeration, or a complex
 * value kept verbatim. A test checks these lists against types.xsd.
 */
export const predicateElements: ReadonlyArray<[string, Kind]> = [
  ['Categories', 'strings'],
  ['ContainsBodyStrings', 'strings'],
  ['ContainsHeaderStrings', 'strings'],
  ['ContainsRecipientStrings', 'strings'],
  ['ContainsSenderStrings', 'strings'],
  ['ContainsSubjectOrBodyStrings', 'strings'],
  ['ContainsSubjectStrings', 'strings'],
  ['FlaggedForAction', 'text'],
  ['FromAddresses', 'addresses'],
  ['FromConnectedAccounts', 'strings'],
  ['HasAttachments', 'boolean'],
  ['Importance', 'text'],
  ['IsApprovalRequest', 'boolean'],
  ['IsAutomaticForward', 'boolean'],
  ['IsAutomaticReply', 'boolean'],
  ['IsEncrypted', 'boolean'],
  ['IsMeetingRequest', 'boolean'],
  ['IsMeetingResponse', 'boolean'],
  ['IsNDR', 'boolean'],
  ['IsPermissionControlled', 'boolean'],
  ['IsReadReceipt', 'boolean'],
  ['IsSigned', 'boolean'],
  ['IsVoicemail', 'boolean'],
  ['ItemClasses', 'strings'],
  ['MessageClassifications', 'strings'],
  ['NotSentToMe', 'boolean'],
  ['SentCcMe', 'boolean'],
  ['SentOnlyToMe', 'boolean'],
  ['SentToAddresses', 'addresses'],
  ['SentToMe', 'boolean'],
  ['SentToOrCcMe', 'boolean'],
  ['Sensitivity', 'text'],
  ['WithinDateRange', 'raw'],
  ['WithinSizeRange', 'raw'],
];
export const actionElements: ReadonlyArray<[string, Kind]> = [
  ['AssignCategories', 'strings'],
  ['CopyToFolder', 'raw'],
  ['Delete', 'boolean'],
  ['ForwardAsAttachmentToRecipients', 'addresses'],
  ['ForwardToRecipients', 'addresses'],
  ['MarkImportance', 'text'],
  ['MarkAsRead', 'boolean'],
  ['MoveToFolder', 'raw'],
  ['PermanentDelete', 'boolean'],
  ['RedirectToRecipients', 'addresses'],
  ['SendSMSAlertToRecipients', 'raw'],
  ['ServerReplyWithMessage', 'raw'],
  ['StopProcessingRules', 'boolean'],
];

export interface EwsAddress {
  name?: string;
  address: string;
}
export type EwsValue = string[] | EwsAddress[] | boolean | string | { xml: string };
export type EwsSection = Record<string, EwsValue>;

/** A rule as the simulated Exchange stores it. */
export interface EwsRule {
  RuleId: string;
  DisplayName: string;
  Priority: number;
  IsEnabled: boolean;
  IsNotSupported?: boolean;
  IsInError?: boolean;
  Conditions?: EwsSection;
  Exceptions?: EwsSection;
  Actions?: EwsSection;
}

export function elementChildren(element: XmlElement): XmlElement[] {
  const result: XmlElement[] = [];
  for (let node = element.firstChild; node; node = node.nextSibling)
    if (node.nodeType === 1) result.push(node as XmlElement);
  return result;
}
export function childNamed(element: XmlElement | undefined, localName: string): XmlElement | undefined {
  return element ? elementChildren(element).find((c) => c.localName === localName) : undefined;
}
export function textOf(element: XmlElement | undefined): string | undefined {
  return element?.textContent?.trim();
}

/** Reads a Conditions/Exceptions/Actions element; unknown children are kept verbatim. */
export function readSection(
  element: XmlElement | undefined,
  kinds: ReadonlyArray<[string, Kind]>,
  serialize: (e: XmlElement) => string,
): EwsSection | undefined {
  if (!element) return undefined;
  const section: EwsSection = {};
  const kindOf = new Map(kinds);
  for (const child of elementChildren(element)) {
    const name = child.localName!;
    switch (kindOf.get(name) ?? 'raw') {
      case 'strings':
        section[name] = elementChildren(child).map((s) => s.textContent ?? '');
        break;
      case 'addresses':
        section[name] = elementChildren(child).map((a) => ({
          name: textOf(childNamed(a, 'Name')),
          address: textOf(childNamed(a, 'EmailAddress')) ?? '',
        }));
        break;
      case 'boolean':
        section[name] = textOf(child) === 'true' || textOf(child) === '1';
        break;
      case 'text':
        section[name] = textOf(child) ?? '';
        break;
      case 'raw':
        section[name] = { xml: serialize(child) };
    }
  }
  return section;
}

export function readRule(
  element: XmlElement,
  serialize: (e: XmlElement) => string,
): Omit<EwsRule, 'RuleId'> & { RuleId?: string } {
  const get = (name: string) => textOf(childNamed(element, name));
  return {
    RuleId: get('RuleId'),
    DisplayName: get('DisplayName') ?? '',
    Priority: Number(get('Priority') ?? '1'),
    IsEnabled: get('IsEnabled') === 'true',
    IsNotSupported: get('IsNotSupported') === 'true' ? true : undefined,
    IsInError: get('IsInError') === 'true' ? true : undefined,
    Conditions: readSection(childNamed(element, 'Conditions'), predicateElements, serialize),
    Exceptions: readSection(childNamed(element, 'Exceptions'), predicateElements, serialize),
    Actions: readSection(childNamed(element, 'Actions'), actionElements, serialize),
  };
}

export function escapeXml(value: string): string {
  return value.replace(
    /[<>&"']/g,
    (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[ch]!,
  );
}

function writeSection(tag: string, section: EwsSection | undefined, kinds: ReadonlyArray<[string, Kind]>): string {
  if (!section) return '';
  const parts: string[] = [];
  for (const [name, kind] of kinds) {
    const value = section[name];
    if (value === undefined) continue;
    if (kind === 'strings')
      parts.push(
        `<t:${name}>${(value as string[]).map((s) => `<t:String>${escapeXml(s)}</t:String>`).join('')}</t:${name}>`,
      );
    else if (kind === 'addresses') {
      const addresses = (value as EwsAddress[]).map(
        (a) =>
          `<t:Address>${a.name ? `<t:Name>${escapeXml(a.name)}</t:Name>` : ''}<t:EmailAddress>` +
          `${escapeXml(a.address)}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox` +
          `</t:MailboxType></t:Address>`,
      );
      parts.push(`<t:${name}>${addresses.join('')}</t:${name}>`);
    } else if (kind === 'boolean') parts.push(`<t:${name}>${value ? 'true' : 'false'}</t:${name}>`);
    else if (kind === 'text') parts.push(`<t:${name}>${escapeXml(value as string)}</t:${name}>`);
    else parts.push((value as { xml: string }).xml);
  }
  return `<t:${tag}>${parts.join('')}</t:${tag}>`;
}

/**
 * A Rule element in schema order (RuleId, DisplayName, Priority, IsEnabled, IsNotSupported, IsInError, Conditions,
 * Exceptions, Actions).
 */
export function writeRule(rule: EwsRule): string {
  return (
    `<t:Rule><t:RuleId>${escapeXml(rule.RuleId)}</t:RuleId>` +
    `<t:DisplayName>${escapeXml(rule.DisplayName)}</t:DisplayName>` +
    `<t:Priority>${rule.Priority}</t:Priority><t:IsEnabled>${rule.IsEnabled}</t:IsEnabled>` +
    (rule.IsNotSupported ? '<t:IsNotSupported>true</t:IsNotSupported>' : '') +
    (rule.IsInError ? '<t:IsInError>true</t:IsInError>' : '') +
    writeSection('Conditions', rule.Conditions, predicateElements) +
    writeSection('Exceptions', rule.Exceptions, predicateElements) +
    writeSection('Actions', rule.Actions, actionElements) +
    '</t:Rule>'
  );
}
