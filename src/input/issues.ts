import type { z } from 'zod';

/**
 * `where: a.b.c: message` lines (`prefix` goes before the key, e.g. `--` for flags) from a schema library's issues,
 * with the unknown keys named.
 */
export function formatIssues(where: string, issues: readonly z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const key = issue.path.length ? `${prefix}${issue.path.map(String).join('.')}` : '';
    const at = key ? `${where}: ${key}` : where;
    if (issue.code === 'unrecognized_keys') {
      return (
        `${at}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}: ` +
        `remove or correct ${issue.keys.length > 1 ? 'them' : 'it'} (see the README's config reference)`
      );
    }
    return `${at}: ${issue.message}`;
  });
}

/** 1-based line of a character offset, for JSON syntax errors. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
