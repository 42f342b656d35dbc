import { createHash, randomBytes } from 'node:crypto';
import { XMLSerializer, type Element as XmlElement } from '@xmldom/xmldom';
import { z } from 'zod';
import {
  childNamed,
  elementChildren,
  escapeXml,
  readRule,
  textOf,
  writeRule,
  type EwsRule,
  type EwsSection,
} from './ews-rules.js';
import { response, type SoapReply } from './soap.js';
import type { EwsSimulatorStats } from './stats.js';

/**
 * GetInboxRules and UpdateInboxRules, built from exchange-facts.md ("EWS") and shared/ref/ews
 * (messages.xsd, types.xsd `RuleValidationErrorCodeType`, the README's ResponseCode reference,
 * `UpdateInboxRules.response.ErrorInboxRulesValidationError.RECONSTRUCTED.xml`): all-or-nothing
 * rule operations with their validation errors, the Outlook rule blob and the rules quota.
 */

/** A mailbox as the server stores it. */
export interface StoredMailbox {
  rules: EwsRule[];
  outlookRuleBlobExists: boolean;
  impersonationDenied: boolean;
  rulesQuotaBytes: number;
}

const smtp = z.email();

export function getInboxRules(mailbox: StoredMailbox): SoapReply {
  return response(
    'GetInboxRules',
    undefined,
    `<m:OutlookRuleBlobExists>${mailbox.outlookRuleBlobExists}</m:OutlookRuleBlobExists><m:InboxRules>${[
      ...mailbox.rules,
    ]
      .sort((a, b) => a.Priority - b.Priority)
      .map(writeRule)
      .join('')}</m:InboxRules>`,
  );
}

/** UpdateInboxRules: every operation is validated first; one error rejects them all. */
export function updateInboxRules(
  operation: XmlElement,
  mailbox: StoredMailbox,
  stats: EwsSimulatorStats,
  knownRecipients: string[] | undefined,
): SoapReply {
  const removeBlob = textOf(childNamed(operation, 'RemoveOutlookRuleBlob')) === 'true';
  if (mailbox.outlookRuleBlobExists && !removeBlob) {
    return response('UpdateInboxRules', {
      code: 'ErrorOutlookRuleBlobExists',
      message:
        'The operation cannot be performed because rules were saved by Outlook. To save rules from this ' +
        'client, set RemoveOutlookRuleBlob to true.',
    });
  }
  const serializer = new XMLSerializer();
  const serialize = (e: XmlElement) => serializer.serializeToString(e as never);
  const rules = structuredClone(mailbox.rules);
  const errors: string[] = [];
  elementChildren(childNamed(operation, 'Operations')!).forEach((op, index) => {
    const fail = (field: string, code: string, message: string, value = '') =>
      errors.push(
        `<t:RuleOperationError><t:OperationIndex>${index}</t:OperationIndex><t:ValidationErrors><t:Error>` +
          `<t:FieldURI>${field}</t:FieldURI><t:ErrorCode>${code}</t:ErrorCode><t:ErrorMessage>` +
          `${escapeXml(message)}</t:ErrorMessage><t:FieldValue>${escapeXml(value)}</t:FieldValue></t:Error></` +
          `t:ValidationErrors></t:RuleOperationError>`,
      );
    const ruleElement = childNamed(op, 'Rule');
    const rule = ruleElement && readRule(ruleElement, serialize);
    const id = op.localName === 'DeleteRuleOperation' ? textOf(childNamed(op, 'RuleId')) : rule?.RuleId;
    const existing = rules.find((r) => r.RuleId === id);
    if (op.localName === 'CreateRuleOperation' && rule?.RuleId)
      return fail('RuleId', 'CreateWithRuleId', 'A rule ID cannot be specified when creating a rule.', rule.RuleId);
    if (op.localName !== 'CreateRuleOperation' && !existing)
      return fail('RuleId', 'RuleNotFound', 'The rule was not found.', id ?? '');
    if (existing?.IsNotSupported)
      return fail('IsNotSupported', 'UnsupportedRule', 'The operation on this unsupported rule is not allowed.');
    if (op.localName === 'DeleteRuleOperation') return void rules.splice(rules.indexOf(existing!), 1);
    const problem = ruleProblem(rule!, knownRecipients);
    if (problem) return fail(problem.field, problem.code, problem.message, problem.value);
    if (existing) Object.assign(existing, rule, { RuleId: existing.RuleId, IsInError: undefined });
    else rules.push({ ...rule!, RuleId: newId(), Priority: rule!.Priority - 0.5 });
  });
  if (errors.length > 0) {
    return response(
      'UpdateInboxRules',
      {
        code: 'ErrorInboxRulesValidationError',
        message: 'A validation error occurred while executing the rule operation.',
      },
      `<m:RuleOperationErrors>${errors.join('')}</m:RuleOperationErrors>`,
    );
  }
  if (
    rules
      .filter((r) => r.IsEnabled)
      .map(writeRule)
      .join('').length > mailbox.rulesQuotaBytes
  ) {
    return response('UpdateInboxRules', {
      code: 'ErrorRulesOverQuota',
      message: 'The rules in this mailbox exceed the rules quota.',
    });
  }
  rules.sort((a, b) => a.Priority - b.Priority).forEach((rule, i) => (rule.Priority = i + 1));
  if (removeBlob && mailbox.outlookRuleBlobExists) {
    stats.outlookRuleBlobsRemoved++;
    mailbox.outlookRuleBlobExists = false;
  }
  mailbox.rules = rules;
  stats.writes++;
  return response('UpdateInboxRules');
}

/** What Exchange checks in a rule it is asked to save. */
function ruleProblem(
  rule: Omit<EwsRule, 'RuleId'>,
  knownRecipients?: string[],
): { field: string; code: string; message: string; value?: string } | undefined {
  const known = knownRecipients && new Set(knownRecipients.map((a) => a.toLowerCase()));
  if (!rule.DisplayName) return { field: 'DisplayName', code: 'EmptyValueFound', message: 'The value is empty.' };
  const actions = rule.Actions ?? {};
  if (Object.keys(actions).length === 0)
    return { field: 'Actions', code: 'MissingAction', message: 'The rule must contain at least one action.' };
  const sections: Array<[string, EwsSection | undefined]> = [
    ['Condition', rule.Conditions],
    ['Exception', rule.Exceptions],
    ['Action', rule.Actions],
  ];
  for (const [prefix, section] of sections) {
    for (const [name, value] of Object.entries(section ?? {})) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        if (typeof item !== 'object') continue;
        if (!smtp.safeParse(item.address).success)
          return {
            field: `${prefix}:${name}`,
            code: 'InvalidAddress',
            message: 'The e-mail address is invalid.',
            value: item.address,
          };
        if (prefix === 'Action' && known && !known.has(item.address.toLowerCase())) {
          return {
            field: `${prefix}:${name}`,
            code: 'RecipientDoesNotExist',
            message: 'The recipient does not exist.',
            value: item.address,
          };
        }
      }
    }
  }
  return undefined;
}

/** EWS-style opaque rule ids, like "dCsAAABjzvA=". */
export function newId(): string {
  return createHash('sha1').update(randomBytes(16)).digest().subarray(0, 8).toString('base64');
}
