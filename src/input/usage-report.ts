import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { z } from 'zod';
import { InputError } from '../core/errors.js';
import { checkInputPath } from './files.js';

/**
 * The Microsoft 365 usage reports sinkrule reads, as CSV (UTF-8 with a byte order mark): what
 * `GET /reports/getEmailActivityUserDetail(period='D30')` and `getMailboxUsageDetail(period='D7')`
 * download (Graph "reportRoot: getEmailActivityUserDetail" / "getMailboxUsageDetail", column lists
 * there) and what the Microsoft 365 admin center exports from Reports → Usage. Only the columns
 * sinkrule uses are checked; the others may come and go.
 */

/** One user's line of the email activity report. */
export interface EmailActivityRow {
  upn: string;
  receiveCount: number;
  /** Report Refresh Date, YYYY-MM-DD: the last day the period covers. */
  refreshDate: string;
  /** Report Period in days (7, 30, 90 or 180). */
  periodDays: number;
  line: number;
}

/** One mailbox's line of the mailbox usage report. */
export interface MailboxUsageRow {
  upn: string;
  refreshDate: string;
  itemCount?: number;
  storageUsedBytes?: number;
  quotaBytes?: number;
  line: number;
}

const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { error: 'must be a date YYYY-MM-DD' });
const count = (what: string) =>
  z
    .string()
    .regex(/^\d+$/, { error: `must be a whole number of ${what}, 0 or more` })
    .transform(Number);
const optionalCount = (what: string) =>
  z
    .string()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(count(what).optional());
const upn = z.string().min(1, { error: 'is empty: every row names the user' });

export const emailActivityReport = {
  title: 'email activity user details',
  adminCenter: 'Microsoft 365 admin center → Reports → Usage → Email activity → User details → Export',
  row: z.object({
    'Report Refresh Date': date,
    'User Principal Name': upn,
    'Receive Count': count('messages'),
    'Report Period': z
      .string()
      .regex(/^(7|30|90|180)$/, { error: 'must be the report period in days: 7, 30, 90 or 180' })
      .transform(Number),
  }),
  toRow: (r: Record<string, unknown>, line: number): EmailActivityRow => ({
    upn: r['User Principal Name'] as string,
    receiveCount: r['Receive Count'] as number,
    refreshDate: r['Report Refresh Date'] as string,
    periodDays: r['Report Period'] as number,
    line,
  }),
};

export const mailboxUsageReport = {
  title: 'mailbox usage details',
  adminCenter: 'Microsoft 365 admin center → Reports → Usage → Exchange → Mailbox usage → Export',
  row: z.object({
    'Report Refresh Date': date,
    'User Principal Name': upn,
    'Item Count': optionalCount('items'),
    'Storage Used (Byte)': optionalCount('bytes'),
    'Prohibit Send/Receive Quota (Byte)': optionalCount('bytes'),
  }),
  toRow: (r: Record<string, unknown>, line: number): MailboxUsageRow => ({
    upn: r['User Principal Name'] as string,
    refreshDate: r['Report Refresh Date'] as string,
    itemCount: r['Item Count'] as number | undefined,
    storageUsedBytes: r['Storage Used (Byte)'] as number | undefined,
    quotaBytes: r['Prohibit Send/Receive Quota (Byte)'] as number | undefined,
    line,
  }),
};

type ReportKind<T> = {
  title: string;
  adminCenter: string;
  row: z.ZodObject;
  toRow: (r: Record<string, unknown>, line: number) => T;
};

const maxProblemsShown = 200;

/**
 * Reads a usage report CSV from `input` (`source` names it in messages: a file, or the report the
 * service sent). Every bad line is collected; a header without the report's columns means the
 * file is not that report. Throws one InputError listing `source:line: what … fix`.
 */
export async function readUsageReport<T extends { upn: string }>(
  input: Readable,
  source: string,
  kind: ReportKind<T>,
): Promise<T[]> {
  const parser = input.pipe(parse({ bom: true, info: true, relax_column_count: true, skip_empty_lines: true }));
  const required = Object.keys(kind.row.shape);
  const problems: string[] = [];
  const rows: T[] = [];
  const seen = new Map<string, number>();
  let header: string[] | undefined;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const line = info.lines;
      if (!header) {
        header = record.map((name) => name.trim());
        const missing = required.filter((column) => !header!.includes(column));
        if (missing.length > 0) {
          parser.destroy();
          throw new InputError([
            `${source}:${line}: not the Microsoft 365 ${kind.title} report: ` +
              `the header has no ${missing.map((m) => `"${m}"`).join(', ')}: ` +
              `export the report from the ${kind.adminCenter} (CSV), unchanged`,
          ]);
        }
        continue;
      }
      const values = Object.fromEntries(header.map((name, i) => [name, (record[i] ?? '').trim()]));
      const parsed = kind.row.safeParse(values);
      if (!parsed.success) {
        const texts = parsed.error.issues.map(
          (issue) => `${String(issue.path[0])} "${values[String(issue.path[0])] ?? ''}" ${issue.message}`,
        );
        problems.push(`${source}:${line}: ${texts.join('; ')}`);
        continue;
      }
      const row = kind.toRow(parsed.data as Record<string, unknown>, line);
      const key = row.upn.toLowerCase();
      const first = seen.get(key);
      if (first !== undefined) {
        if (problems.length < maxProblemsShown)
          problems.push(
            `${source}:${line}: ${row.upn} is listed twice (first on line ${first}): keep one row per user`,
          );
        continue;
      }
      seen.set(key, line);
      rows.push(row);
    }
  } catch (error) {
    if (error instanceof InputError) throw error;
    const at = /line (\d+)/.exec(String((error as Error).message))?.[1];
    throw new InputError(
      [`${source}:${at ?? 1}: not a readable CSV (${(error as Error).message}): export the report again, unchanged`],
      { cause: error },
    );
  }
  if (!header)
    problems.push(`${source}:1: the file is empty: export the ${kind.title} report from the ${kind.adminCenter}`);
  const more = problems.length - maxProblemsShown;
  if (more > 0) problems.splice(maxProblemsShown, Infinity, `${source}: … and ${more} more problems`);
  if (problems.length > 0) throw new InputError(problems);
  return rows;
}

/** `--volumes FILE`: the email activity report as the admin center exports it. */
export async function readVolumesFile(file: string): Promise<EmailActivityRow[]> {
  checkInputPath(file, {
    namedBy: '--volumes',
    what: `the email activity report CSV (${emailActivityReport.adminCenter})`,
  });
  return readUsageReport(createReadStream(file), file, emailActivityReport);
}
