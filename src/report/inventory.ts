import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { stringify, type Stringifier } from 'csv-stringify';
import type { MailboxOutcome } from '../core/outcome.js';
import { summarizeRule, type RuleSummary } from '../core/rule.js';
import { neutralizeFormula } from './spreadsheet.js';

export const inventoryFileName = 'forwarding-inventory.csv';

const columns = [
  'mailbox',
  'route',
  'ruleId',
  'ruleName',
  'enabled',
  'sinkrule',
  'action',
  'target',
  'scope',
  'note',
] as const;
const actions = ['forwardAsAttachmentTo', 'forwardTo', 'redirectTo'] as const;

/** Where the internal domains came from, for the report. */
export interface InternalDomains {
  domains: string[];
  source: string;
}

/**
 * forwarding-inventory.csv (verify --inventory): one row per forwarding target of every rule in
 * every listed mailbox that forwards, forwards as attachment or redirects (sinkrule's or not), the
 * target marked internal or external by the organisation's domains; a rule the API cannot show
 * (read-only) and a mailbox that could not be read get a row saying so, so nothing is silently
 * left out.
 */
export class ForwardingInventory {
  rows = 0;
  private readonly csv: Stringifier;
  private readonly done: Promise<unknown>;
  private readonly internal: Set<string>;

  constructor(
    dir: string,
    readonly domains: InternalDomains,
  ) {
    this.internal = new Set(domains.domains.map((d) => d.toLowerCase()));
    this.csv = stringify({ header: true, columns: [...columns], bom: true });
    const out = createWriteStream(path.join(dir, inventoryFileName));
    this.csv.pipe(out);
    this.done = once(out, 'close');
  }

  get file(): string {
    return inventoryFileName;
  }

  async add(outcome: MailboxOutcome): Promise<void> {
    const base = { mailbox: outcome.email, route: outcome.target };
    if (outcome.outcome === 'manual' || outcome.outcome === 'confirmed-manually') {
      await this.write({
        ...base,
        note: 'no API reaches this mailbox: its rules cannot be listed here; check them on the mail server',
      });
      return;
    }
    if (outcome.outcome === 'failed' && outcome.before === null) {
      await this.write({ ...base, note: `mailbox could not be read: ${outcome.error?.code ?? 'failed'}` });
      return;
    }
    const rules: Array<{ rule: RuleSummary; ours: boolean }> = [
      ...(outcome.before ?? []).map((rule) => ({ rule: summarizeRule(rule), ours: true })),
      ...outcome.otherForwardingRules.map((rule) => ({ rule, ours: false })),
    ];
    for (const { rule, ours } of rules) {
      const common = {
        ...base,
        ruleId: rule.id ?? '',
        ruleName: rule.displayName,
        enabled: String(rule.enabled),
        sinkrule: ours ? 'yes' : 'no',
      };
      if (rule.readOnly)
        await this.write({
          ...common,
          note: 'read-only for the API: its actions cannot be shown; check it in Outlook or Exchange admin',
        });
      for (const action of actions) {
        for (const target of rule[action]) await this.write({ ...common, action, target, scope: this.scopeOf(target) });
      }
    }
  }

  async close(): Promise<void> {
    this.csv.end();
    await this.done;
  }

  private scopeOf(address: string): string {
    if (this.internal.size === 0) return 'unknown';
    const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase();
    return this.internal.has(domain) ? 'internal' : 'external';
  }

  private async write(row: Partial<Record<(typeof columns)[number], string>>): Promise<void> {
    this.rows++;
    // Rule names are chosen by mailbox users (or attackers): never let a spreadsheet run them.
    const safe = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, neutralizeFormula(v ?? '')]));
    if (!this.csv.write(safe)) await once(this.csv, 'drain');
  }
}
