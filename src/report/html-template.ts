import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { templatesDir } from '../paths.js';

/** HTML escaping and template filling: a leaf every page writer (report, handbook, manual provider) uses. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** Fills `{{name}}` slots of an HTML template in templates/ with already-escaped fragments. */
export async function fillHtmlTemplate(name: string, slots: Record<string, string>): Promise<string> {
  const template = await readFile(path.join(templatesDir, name), 'utf8');
  return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => slots[key] ?? '');
}
