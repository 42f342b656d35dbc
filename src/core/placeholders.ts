/**
 * `{{name}}` and `{{name|fallback}}` placeholders, shared by the rule template and the manual
 * instruction templates.
 */
const pattern = /\{\{\s*([A-Za-z][\w-]*)?\s*(?:\|([^}]*))?\}\}/g;

export interface Placeholder {
  name: string;
  fallback?: string;
  line: number;
}

/** Every placeholder in a text, with the line it is on (for `file:line` messages). */
export function findPlaceholders(text: string): Placeholder[] {
  const found: Placeholder[] = [];
  for (const match of text.matchAll(pattern)) {
    const line = text.slice(0, match.index).split('\n').length;
    found.push({ name: match[1] ?? '', fallback: match[2], line });
  }
  return found;
}

/** Replaces placeholders; a missing value takes the fallback, or stays empty. */
export function fillPlaceholders(text: string, values: Readonly<Record<string, string | undefined>>): string {
  return text.replace(
    pattern,
    (_, name: string | undefined, fallback: string | undefined) => (name && values[name]) || fallback || '',
  );
}
