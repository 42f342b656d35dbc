import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { MailboxOutcome } from '../core/outcome.js';
import { summarizeRule, type MailboxRule } from '../core/rule.js';

/** The columns both files share: the rule's three keys (mailbox, name, target), its id and origin. */
const ruleKeys = [
  'MailboxUpn',
  'RuleDisplayName',
  'ForwardTarget',
  'RuleId',
  'Route',
  'TenantId',
  'ClientAppId',
  'RunId',
] as const;
/** The Sentinel watchlist's columns, in order; MailboxUpn is its search key. */
export const watchlistColumns = [...ruleKeys, 'DeployedAtUtc'] as const;
/** leaving.csv: the same keys, and when the rule left instead of when it was deployed. */
export const leavingColumns = [...ruleKeys, 'LeftAtUtc'] as const;
export type WatchlistRow = Record<(typeof watchlistColumns)[number], string>;
export type LeavingRow = Record<(typeof leavingColumns)[number], string>;

export const watchlistSearchKey = 'MailboxUpn';
/**
 * Sentinel takes a watchlist of at most 3.8 MB from a local file (exchange-facts.md, "Security
 * operations"): each part stays under it, counted in bytes of UTF-8 with decimal megabytes.
 */
export const watchlistPartLimitInBytes = 3_800_000;

/** What a row needs besides the report row: who ran it and which run it was. */
export interface SocRowContext {
  /** Per route (graph, ews): the tenant and app the token named; empty for NTLM/basic. */
  signedIn: Record<string, { tenantId?: string; appId?: string } | undefined>;
  runId: string;
}

/** The rule's forwarding targets in one cell: lower case, sorted, joined with ';' (one sink in practice). */
export function forwardTargetOf(rule: MailboxRule): string {
  return [...new Set(summarizeRule(rule).forwardAsAttachmentTo.map((a) => a.toLowerCase()))].sort().join(';');
}

function keys(row: MailboxOutcome, rule: MailboxRule, context: SocRowContext) {
  const app = context.signedIn[row.target];
  return {
    MailboxUpn: row.email.toLowerCase(),
    RuleDisplayName: rule.displayName,
    ForwardTarget: forwardTargetOf(rule),
    RuleId: rule.id,
    Route: row.target,
    TenantId: app?.tenantId ?? '',
    ClientAppId: app?.appId ?? '',
    RunId: context.runId,
  };
}

/**
 * The watchlist row of a mailbox that holds sinkrule's rule after the run (its first rule, the
 * one deploy keeps, with the id the service returned), or undefined.
 */
export function holdingRow(row: MailboxOutcome, at: string, context: SocRowContext): WatchlistRow | undefined {
  // verify changes nothing: a compliant ("ok") mailbox holds the rule it read.
  const rule =
    row.outcome === 'failed' ? undefined : (row.after?.[0] ?? (row.outcome === 'ok' ? row.before?.[0] : undefined));
  if (!rule?.id) return undefined;
  return { ...keys(row, rule, context), DeployedAtUtc: at };
}

/** The rows of the rules a run removed from a mailbox (remove, and any command that takes rules away). */
export function leavingRows(row: MailboxOutcome, at: string, context: SocRowContext): LeavingRow[] {
  if (row.outcome !== 'removed') return [];
  return (row.before ?? [])
    .filter((rule) => rule.id && row.ruleIds.includes(rule.id))
    .map((rule) => ({ ...keys(row, rule, context), LeftAtUtc: at }));
}

/** One written part: its file (relative to the pack folder), its watchlist alias, rows and bytes. */
export interface WatchlistPart {
  file: string;
  alias: string;
  rows: number;
  bytes: number;
}

/**
 * Streams rows into CSV parts of at most `watchlistPartLimitInBytes` each, every part with its
 * header: `<name>.csv` with alias `<alias>` when one part is enough, else `<name>-1.csv`,
 * `<name>-2.csv`… with aliases `<alias>-1`, `<alias>-2`…. Memory stays flat: rows go to disk as
 * they come. Any command that adds or takes away rules (deploy, remove, migrate) feeds one.
 */
export class SocRowWriter<Row extends Record<string, string>> {
  private readonly parts: Array<{ temp: string; rows: number; bytes: number }> = [];
  private out?: WriteStream;
  private readonly header: string;

  constructor(
    private readonly dir: string,
    private readonly name: string,
    private readonly alias: string,
    private readonly columns: readonly (keyof Row & string)[],
    private readonly limitInBytes = watchlistPartLimitInBytes,
  ) {
    this.header = stringify([columns]);
  }

  get rows(): number {
    return this.parts.reduce((sum, part) => sum + part.rows, 0);
  }

  async add(row: Row): Promise<void> {
    const line = stringify([this.columns.map((column) => row[column] ?? '')]);
    const size = Buffer.byteLength(line);
    const current = this.parts.at(-1);
    if (!current || (current.rows > 0 && current.bytes + size > this.limitInBytes)) await this.startPart();
    const part = this.parts.at(-1)!;
    part.rows++;
    part.bytes += size;
    if (!this.out!.write(line)) await once(this.out!, 'drain');
  }

  private async startPart(): Promise<void> {
    await this.endPart();
    await mkdir(this.dir, { recursive: true });
    const temp = path.join(this.dir, `.${this.name}-${this.parts.length + 1}.csv.partial`);
    // A row is ~200 bytes: with the default 16 KB buffer every 80th row waited for a disk write
    // (130 waits in a 10,000-mailbox deploy's pack, after its last mailbox). A part is at most a
    // few MB, so 1 MB of buffer keeps memory flat and the waits few.
    this.out = createWriteStream(temp, { highWaterMark: 1 << 20 });
    this.parts.push({ temp, rows: 0, bytes: Buffer.byteLength(this.header) });
    this.out.write(this.header);
  }

  private async endPart(): Promise<void> {
    if (!this.out) return;
    this.out.end();
    await once(this.out, 'close');
    this.out = undefined;
  }

  /** Names the parts; no rows, no file (nothing to upload). */
  async close(): Promise<WatchlistPart[]> {
    await this.endPart();
    const single = this.parts.length === 1;
    const named: WatchlistPart[] = [];
    for (const [i, part] of this.parts.entries()) {
      const file = single ? `${this.name}.csv` : `${this.name}-${i + 1}.csv`;
      await rm(path.join(this.dir, file), { force: true });
      await rename(part.temp, path.join(this.dir, file));
      named.push({ file, alias: single ? this.alias : `${this.alias}-${i + 1}`, rows: part.rows, bytes: part.bytes });
    }
    return named;
  }
}
