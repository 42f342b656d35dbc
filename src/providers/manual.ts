import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathProblem } from '../input/files.js';
import type { Mailbox, Target } from '../core/mailbox.js';
import type { Mode } from '../core/plan.js';
import { fillPlaceholders, findPlaceholders } from '../core/placeholders.js';
import { canonicalSection, type RuleSpec } from '../core/rule.js';
import { escapeHtml } from '../report/html-template.js';
import type { ManualProvider, ManualWork } from '../core/provider.js';

export interface ManualProviderOptions {
  target: Extract<Target, 'pop3' | 'manual'>;
  mode: Mode;
  /** Folders searched for `<name>.md`, first match wins (the operator's folder first). */
  instructionDirs: string[];
  /** Template for rows with an empty `instructions` column. */
  defaultInstructions: string;
  ruleName: string;
  sinkName: string;
  desiredRuleFor(mailbox: Mailbox): RuleSpec;
}

/** The values a template may use. */
const variables = ['user', 'userName', 'sink', 'sinkName', 'ruleName', 'server', 'exceptions'] as const;
type Variable = (typeof variables)[number];
const known: ReadonlySet<string> = new Set(variables);
/** Row columns behind the variables a row may leave empty. */
const optionalFromRow: Partial<Record<Variable, string>> = { server: 'server', userName: 'displayName' };

interface Template {
  name: string;
  file: string;
  text: string;
}

/**
 * Mailboxes no API reaches (POP3 servers and others): no network at all. Each mailbox gets
 * instructions rendered from a Markdown template, with the check procedure for deploy and verify,
 * or the removal procedure for remove; the admin confirms the work in the users file.
 */
export function createManualProvider(options: ManualProviderOptions): ManualProvider {
  const cache = new Map<string, Template | string>();

  /** The template file, or why it cannot be used. */
  function load(name: string): Template | string {
    const cached = cache.get(name);
    if (cached) return cached;
    const file = options.instructionDirs
      .map((dir) => path.join(dir, `${name}.md`))
      .find((candidate) => existsSync(candidate));
    let result: Template | string;
    if (!/^[\w.-]+$/.test(name) || !file) {
      result =
        `instructions "${name}" not found (looked for ${name}.md in ${options.instructionDirs.join(', ')}): ` +
        `fix the instructions column or add the file to manual.instructionsDir`;
    } else if (pathProblem(file)) {
      result =
        `instruction template ${file} ${pathProblem(file)!.problem}: replace it with a readable Markdown file ` +
        `in manual.instructionsDir`;
    } else {
      const text = readFileSync(file, 'utf8');
      const unknown = findPlaceholders(text).find((p) => !known.has(p.name));
      result = unknown
        ? `instruction template ${file}:${unknown.line}: unknown placeholder {{${unknown.name}}}: use ` +
          `${variables.map((v) => `{{${v}}}`).join(', ')}`
        : { name, file, text };
    }
    cache.set(name, result);
    return result;
  }

  /** The documents for this command: creation (+ check) or removal. */
  function documentsFor(mailbox: Mailbox): Template[] | string {
    const name = mailbox.instructions ?? options.defaultInstructions;
    const names =
      options.mode === 'remove'
        ? [typeof load(`${name}-remove`) === 'string' ? 'remove-rule' : `${name}-remove`]
        : [name, 'check'];
    const templates = names.map(load);
    const problem = templates.find((t): t is string => typeof t === 'string');
    return problem ?? (templates as Template[]);
  }

  function valuesFor(mailbox: Mailbox): Record<Variable, string | undefined> {
    return {
      user: mailbox.email,
      userName: mailbox.displayName ?? mailbox.email,
      sink: mailbox.sink,
      sinkName: options.sinkName,
      ruleName: options.ruleName,
      server: mailbox.server,
      exceptions: describeExceptions(options.desiredRuleFor(mailbox)),
    };
  }

  return {
    kind: 'manual',
    target: options.target,
    async open() {},
    checkMailbox(mailbox) {
      const documents = documentsFor(mailbox);
      if (typeof documents === 'string') return documents;
      const values = valuesFor(mailbox);
      for (const template of documents) {
        const lacking = findPlaceholders(template.text).find(
          (p) => p.fallback === undefined && !values[p.name as Variable],
        );
        if (lacking) {
          return (
            `instruction template ${template.file}:${lacking.line} uses {{${lacking.name}}}, but the row has ` +
            `no ${optionalFromRow[lacking.name as Variable] ?? lacking.name}: fill that column or give the ` +
            `placeholder a fallback ({{${lacking.name}|…}})`
          );
        }
      }
      return undefined;
    },
    instructionsFor(mailbox): ManualWork {
      const documents = documentsFor(mailbox);
      if (typeof documents === 'string') throw new Error(documents); // checkMailbox ran before: a bug
      const values = valuesFor(mailbox);
      const escaped = Object.fromEntries(
        Object.entries(values).map(([k, v]) => [k, v === undefined ? undefined : escapeHtml(v)]),
      );
      const join = (vals: Record<string, string | undefined>) =>
        documents.map((t) => fillPlaceholders(t.text, vals)).join('\n');
      const server = mailbox.server ?? '(server not named)';
      return {
        template: documents[0]!.name,
        server,
        confirmed: mailbox.confirmed,
        markdown: join(values),
        markdownForHtml: join(escaped),
      };
    },
    describe: () => ({
      instructions: options.instructionDirs.join(', '),
      defaultInstructions: options.defaultInstructions,
    }),
    async close() {},
  };
}

const exceptionWords: Record<string, (value: unknown) => string> = {
  fromAddresses: (value) => `messages from ${(value as string[]).join(', ')}`,
  isNonDeliveryReport: () => 'non-delivery reports (bounces)',
  isReadReceipt: () => 'read receipts',
  isAutomaticReply: () => 'automatic replies',
  isAutomaticForward: () => 'automatically forwarded messages',
  isMeetingRequest: () => 'meeting requests',
  isMeetingResponse: () => 'meeting responses',
};

/** The template's exceptions in words: "messages from crm-sink@contoso.com; read receipts". */
export function describeExceptions(rule: RuleSpec): string {
  const entries = Object.entries(canonicalSection(rule.exceptions));
  if (entries.length === 0) return 'none';
  return entries.map(([key, value]) => exceptionWords[key]?.(value) ?? `${key} ${JSON.stringify(value)}`).join('; ');
}
