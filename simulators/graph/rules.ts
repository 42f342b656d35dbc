import { z } from 'zod';
import { validateAgainstType } from './csdl.js';
import { newRuleId } from './identity.js';
import type { Fail, Reply, ServiceRequest } from './replies.js';
import type { GraphSimulatorStats } from './stats.js';

/**
 * Microsoft Graph v1.0 message rules (`/users/{id}/mailFolders/inbox/messageRules`), built from the
 * Graph v1.0 CSDL for `messageRule` (shared/ref/graph `messageRule.csdl.xml`), Graph "List rules",
 * "Create rule" (`mailfolder-post-messagerules.md`), "Update rule", "Delete rule" and
 * exchange-facts.md ("Microsoft Graph (v1.0) message rules"): MailboxSettings permissions,
 * required properties, whole-object PATCH, sequence renumbering and read-only rules.
 */

/** A stored rule, in Graph's JSON shape. */
export interface SimulatedRule {
  id: string;
  displayName: string;
  sequence: number;
  isEnabled: boolean;
  hasError: boolean;
  isReadOnly: boolean;
  conditions?: Record<string, unknown>;
  actions?: Record<string, unknown>;
  exceptions?: Record<string, unknown>;
}

export interface RulesContext {
  /** The simulator's base URL (for `@odata.context`). */
  url: string;
  email: string;
  stats: GraphSimulatorStats;
  /** Mailboxes whose next rule creation is committed but answered 504. */
  timeoutAfterCreate: Set<string>;
  /** Told of each created rule (Defender raises its alert on creation: security-alerts.ts). */
  onCreated?: (rule: SimulatedRule) => void;
}

const recipientAddress = z.email();

/**
 * Application permissions (the token's roles): reading rules needs MailboxSettings.Read or .ReadWrite, writing
 * .ReadWrite.
 */
export function rulesAccessDenied(request: ServiceRequest, fail: Fail): Reply | undefined {
  const granted =
    request.roles.includes('MailboxSettings.ReadWrite') ||
    (request.method === 'GET' && request.roles.includes('MailboxSettings.Read'));
  return granted ? undefined : fail(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
}

/** A rules request on a mailbox that may be used: list, get, create, update or delete. */
export function ruleOperation(
  request: ServiceRequest,
  rules: SimulatedRule[],
  ruleId: string | undefined,
  fail: Fail,
  context: RulesContext,
): Reply {
  const { method } = request;
  const { email } = context;
  const rule = ruleId === undefined ? undefined : rules.find((r) => r.id === ruleId);
  if (ruleId !== undefined && !rule)
    return fail(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  if (method === 'POST' || method === 'PATCH') {
    const problem =
      request.body === undefined ? 'The request body is empty.' : validateAgainstType(request.body, 'messageRule');
    if (problem) return fail(400, 'RequestBodyRead', problem);
  }
  const body = request.body as Record<string, unknown>;
  if (method === 'GET' && !rule)
    return {
      status: 200,
      headers: {},
      body: {
        '@odata.context':
          `${context.url}/v1.0/$metadata#users('${encodeURIComponent(email)}')/mailFolders('inbox')/` + `messageRules`,
        value: rules.map(present),
      },
    };
  if (method === 'GET' && rule) return { status: 200, headers: {}, body: present(rule) };
  if (method === 'POST' && !rule) return create(rules, body, fail, context);
  if (method === 'PATCH' && rule) return update(rules, rule, body, fail, context);
  if (method === 'DELETE' && rule) {
    context.stats.writes++;
    rules.splice(rules.indexOf(rule), 1);
    renumber(rules);
    return { status: 204, headers: {} };
  }
  return fail(405, 'ErrorInvalidRequest', `The OData request is not supported: ${method}.`);
}

function create(rules: SimulatedRule[], body: Record<string, unknown>, fail: Fail, context: RulesContext): Reply {
  const { email } = context;
  for (const required of ['displayName', 'sequence', 'actions']) {
    if (body[required] === undefined)
      return fail(400, 'ErrorInvalidRequest', `The property '${required}' is required when creating the entity.`);
  }
  const problem = recipientProblem(body);
  if (problem) return fail(400, 'ErrorInvalidRecipients', problem);
  context.stats.writes++;
  const rule: SimulatedRule = {
    id: newRuleId(),
    displayName: body.displayName as string,
    sequence: (body.sequence as number) - 0.5, // goes before the rule that had this number
    isEnabled: (body.isEnabled as boolean | undefined) ?? true,
    hasError: false,
    isReadOnly: false,
    conditions: body.conditions as Record<string, unknown> | undefined,
    actions: body.actions as Record<string, unknown>,
    exceptions: body.exceptions as Record<string, unknown> | undefined,
  };
  rules.push(rule);
  renumber(rules);
  context.onCreated?.(rule);
  // The write is committed, but the client hears only a gateway timeout.
  if (context.timeoutAfterCreate.delete(email)) return fail(504, 'UnknownError', 'Gateway Timeout');
  return {
    status: 201,
    headers: {},
    body: {
      '@odata.context':
        `${context.url}/v1.0/$metadata#users('${encodeURIComponent(email)}')/mailFolders('inbox')/messageRules/` +
        `$entity`,
      ...present(rule),
    },
  };
}

function update(
  rules: SimulatedRule[],
  rule: SimulatedRule,
  body: Record<string, unknown>,
  fail: Fail,
  context: RulesContext,
): Reply {
  if (rule.isReadOnly)
    return fail(
      400,
      'ErrorInvalidRequest',
      'The rule cannot be modified through this API because it uses features the API does not support.',
    );
  const problem = recipientProblem(body);
  if (problem) return fail(400, 'ErrorInvalidRecipients', problem);
  context.stats.writes++;
  // PATCH replaces whole conditions/actions/exceptions objects: no deep merge.
  for (const key of ['displayName', 'isEnabled', 'conditions', 'actions', 'exceptions'] as const) {
    if (body[key] !== undefined) (rule as unknown as Record<string, unknown>)[key] = body[key];
  }
  if (typeof body.sequence === 'number') {
    rule.sequence = body.sequence - 0.5;
    renumber(rules);
  }
  return { status: 200, headers: {}, body: present(rule) };
}

/** Graph shows a read-only rule with empty conditions and actions: it cannot express them. */
function present(rule: SimulatedRule): Record<string, unknown> {
  const { conditions, actions, exceptions, ...rest } = rule;
  if (rule.isReadOnly) return { ...rest, conditions: {}, actions: {} };
  return {
    ...rest,
    ...(conditions ? { conditions } : {}),
    ...(actions ? { actions } : {}),
    ...(exceptions ? { exceptions } : {}),
  };
}

function renumber(rules: SimulatedRule[]): void {
  rules.sort((a, b) => a.sequence - b.sequence).forEach((rule, i) => (rule.sequence = i + 1));
}

/** Every recipient in a rule body must be a well-formed SMTP address. */
function recipientProblem(body: Record<string, unknown>): string | undefined {
  for (const section of ['conditions', 'actions', 'exceptions']) {
    for (const value of Object.values((body[section] as Record<string, unknown>) ?? {})) {
      if (!Array.isArray(value)) continue;
      for (const item of value) {
        const address = (item as { emailAddress?: { address?: unknown } })?.emailAddress?.address;
        if (
          item &&
          typeof item === 'object' &&
          'emailAddress' in item &&
          !recipientAddress.safeParse(address).success
        ) {
          return `At least one recipient isn't valid: '${String(address)}'.`;
        }
      }
    }
  }
  return undefined;
}
