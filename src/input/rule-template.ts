import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import type { RuleSpec } from '../core/rule.js';
import { formatIssues } from './issues.js';
import { fillPlaceholders, findPlaceholders } from '../core/placeholders.js';

/** Placeholders a rule template may use in any string value. */
export interface RuleVariables {
  sink: string;
  sinkName: string;
  ruleName: string;
}
const variableNames: ReadonlySet<string> = new Set<keyof RuleVariables>(['sink', 'sinkName', 'ruleName']);

// Property names from the Graph v1.0 metadata (messageRulePredicates, messageRuleActions): a typo
// in a template is caught here, before a single mailbox is touched.
const recipientList = z.array(
  z.strictObject({ emailAddress: z.strictObject({ address: z.string(), name: z.string().optional() }) }),
);
const strings = z.array(z.string());
const predicates = z
  .strictObject({
    bodyContains: strings,
    bodyOrSubjectContains: strings,
    categories: strings,
    fromAddresses: recipientList,
    hasAttachments: z.boolean(),
    headerContains: strings,
    importance: z.enum(['low', 'normal', 'high']),
    isApprovalRequest: z.boolean(),
    isAutomaticForward: z.boolean(),
    isAutomaticReply: z.boolean(),
    isEncrypted: z.boolean(),
    isMeetingRequest: z.boolean(),
    isMeetingResponse: z.boolean(),
    isNonDeliveryReport: z.boolean(),
    isPermissionControlled: z.boolean(),
    isReadReceipt: z.boolean(),
    isSigned: z.boolean(),
    isVoicemail: z.boolean(),
    notSentToMe: z.boolean(),
    recipientContains: strings,
    senderContains: strings,
    sensitivity: z.enum(['normal', 'personal', 'private', 'confidential']),
    sentCcMe: z.boolean(),
    sentOnlyToMe: z.boolean(),
    sentToAddresses: recipientList,
    sentToMe: z.boolean(),
    sentToOrCcMe: z.boolean(),
    subjectContains: strings,
  })
  .partial();
const actions = z.strictObject({
  forwardAsAttachmentTo: recipientList.min(1),
  stopProcessingRules: z.boolean(),
  assignCategories: strings.optional(),
  markAsRead: z.boolean().optional(),
});
const templateSchema = z.strictObject({
  sequence: z.number().int().min(1),
  isEnabled: z.boolean(),
  conditions: predicates.default({}),
  actions,
  exceptions: predicates.default({}),
});

export interface RuleTemplate {
  file: string;
  sha256: string;
  render(variables: RuleVariables): RuleSpec;
}

/**
 * Loads a rule template (Graph messageRule JSON without `displayName`, which comes from the config,
 * with `{{sink}}`, `{{sinkName}}`, `{{ruleName}}` placeholders) and checks it can only produce a
 * "forward as attachment to the sink" rule.
 */
export async function loadRuleTemplate(file: string, namedBy = 'rule.template'): Promise<RuleTemplate> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(
      [`${namedBy}: ${file}: cannot read the rule template (${(error as NodeJS.ErrnoException).code}): fix the path`],
      { cause: error },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new InputError(
      [`${file}: the rule template is not valid JSON (${(error as Error).message}): fix the file ${namedBy} names`],
      { cause: error },
    );
  }
  const problems = [...unknownVariables(file, text)];
  const parsed = templateSchema.safeParse(raw);
  if (!parsed.success) problems.push(...formatIssues(file, parsed.error.issues));
  else if (!parsed.data.actions.forwardAsAttachmentTo.some((r) => r.emailAddress.address === '{{sink}}')) {
    problems.push(
      `${file}: actions.forwardAsAttachmentTo must include {"emailAddress":{"address":"{{sink}}"}}: the rule ` +
        `exists to forward to the sink`,
    );
  }
  if (problems.length > 0)
    throw new InputError([
      ...problems,
      `${namedBy} names this template: fix the template, or point the key at another one`,
    ]);
  const shape = parsed.data!;
  return {
    file,
    sha256: createHash('sha256').update(text).digest('hex'),
    render: (variables) => ({
      displayName: variables.ruleName,
      ...(substitute(shape, variables) as Omit<RuleSpec, 'displayName'>),
    }),
  };
}

function* unknownVariables(file: string, text: string): Generator<string> {
  for (const { name, line } of findPlaceholders(text)) {
    if (!variableNames.has(name))
      yield (
        `${file}:${line}: unknown placeholder {{${name}}}: use one of ` +
        `${[...variableNames].map((v) => `{{${v}}}`).join(', ')}`
      );
  }
}

/** Replaces placeholders inside string values only, so no value can change the JSON's shape. */
function substitute(value: unknown, variables: RuleVariables): unknown {
  if (typeof value === 'string') return fillPlaceholders(value, variables as unknown as Record<string, string>);
  if (Array.isArray(value)) return value.map((item) => substitute(item, variables));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, variables)]));
  return value;
}
