import { rename, writeFile } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';

/** What becomes of one row of the users file (by its email, unique in a validated file). */
export type RowDecision = { sink: string } | { leaveOut: string } | undefined;

export interface SinkColumnResult {
  /** The users file with the sink column filled and the left-out rows removed. */
  users: string;
  /** The left-out rows with a `reason` column (header included), or undefined when none. */
  leftOut: string | undefined;
}

interface CsvRecord {
  start: number;
  /** End of the record's content, before its line break. */
  contentEnd: number;
  /** After its line break. */
  end: number;
  /** [start, end) of each field. */
  fields: Array<[number, number]>;
}

/**
 * Rewrites the users CSV with each row's sink set, byte for byte otherwise: every other column,
 * quoting, line breaks, empty lines and row order stay as they were. A file without a `sink`
 * column gets one at the end. Rows the decision leaves out are returned separately with the reason.
 * The file was validated before (users-csv.ts): this scanner only needs RFC 4180's quoting.
 */
export function fillSinkColumn(
  text: string,
  delimiter: string,
  decide: (email: string) => RowDecision,
): SinkColumnResult {
  const bom = text.startsWith('\uFEFF') ? '\uFEFF' : '';
  const records = scan(text, bom.length, delimiter);
  const header = records.find((r) => !isBlank(text, r));
  if (!header) return { users: text, leftOut: undefined };
  const names = header.fields.map(([a, b]) => unquote(text.slice(a, b)).trim().toLowerCase());
  const sinkIndex = names.indexOf('sink');
  const emailIndex = names.indexOf('email');
  const emailOf = (r: CsvRecord) => {
    const field = r.fields[emailIndex];
    return field ? unquote(text.slice(field[0], field[1])).trim() : '';
  };
  const quote = (value: string) =>
    value.includes(delimiter) || /["\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
  const withField = (r: CsvRecord, index: number, value: string) => {
    if (index < r.fields.length) {
      const [a, b] = r.fields[index]!;
      return text.slice(r.start, a) + quote(value) + text.slice(b, r.end);
    }
    return text.slice(r.start, r.contentEnd) + delimiter + quote(value) + text.slice(r.contentEnd, r.end);
  };
  const appended = (r: CsvRecord, value: string) =>
    text.slice(r.start, r.contentEnd) + delimiter + quote(value) + lineBreakOf(text, r);
  let users = bom;
  let leftOut = '';
  for (const record of records) {
    if (record === header) {
      users += sinkIndex >= 0 ? text.slice(record.start, record.end) : withField(record, names.length, 'sink');
      leftOut += appended(record, 'reason');
      continue;
    }
    const decision = isBlank(text, record) ? undefined : decide(emailOf(record));
    // A row without a decision keeps its sink; with the column added it gets an empty one (same field count).
    if (!decision)
      users +=
        sinkIndex >= 0 || isBlank(text, record)
          ? text.slice(record.start, record.end)
          : withField(record, names.length, '');
    else if ('sink' in decision) users += withField(record, sinkIndex >= 0 ? sinkIndex : names.length, decision.sink);
    else leftOut += appended(record, decision.leaveOut);
  }
  const hasLeftOut = leftOut.split(/\r?\n/).filter(Boolean).length > 1;
  return { users, leftOut: hasLeftOut ? bom + leftOut : undefined };
}

/** Writes the file whole or not at all (a temporary file renamed into place). */
export async function writeWhole(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, file);
}

export async function readText(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

function scan(text: string, from: number, delimiter: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let i = from;
  while (i < text.length) {
    const start = i;
    const fields: Array<[number, number]> = [];
    let fieldStart = i;
    let quoted = false;
    let contentEnd = text.length;
    let end = text.length;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') i++;
        else if (ch === '"') quoted = false;
        continue;
      }
      if (ch === '"') quoted = true;
      else if (ch === delimiter) {
        fields.push([fieldStart, i]);
        fieldStart = i + 1;
      } else if (ch === '\r' || ch === '\n') {
        contentEnd = i;
        end = ch === '\r' && text[i + 1] === '\n' ? i + 2 : i + 1;
        break;
      }
    }
    fields.push([fieldStart, Math.min(i, contentEnd)]);
    records.push({ start, contentEnd: Math.min(contentEnd, text.length), end, fields });
    i = end;
  }
  return records;
}

const isBlank = (text: string, r: CsvRecord) => text.slice(r.start, r.contentEnd).trim() === '';
const lineBreakOf = (text: string, r: CsvRecord) => text.slice(r.contentEnd, r.end) || '\n';
const unquote = (value: string) =>
  /^\s*".*"\s*$/s.test(value) ? value.trim().slice(1, -1).replace(/""/g, '"') : value;
