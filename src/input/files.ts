import { accessSync, constants, statSync } from 'node:fs';
import { InputError } from '../core/errors.js';

export interface InputPath {
  /** Who names the path: `--users`, or `sinkrule.config.json: rule.template`. */
  namedBy: string;
  /** What it should be, for the fix: "the users CSV", "a PEM file with the certificate and its private key". */
  what: string;
  /** A regular file (default) or a folder. */
  kind?: 'file' | 'folder';
}

/**
 * Why a path cannot be read as a file (or folder), or undefined if it can. Checked before anything
 * opens it: reading a FIFO blocks forever, a folder fails with EISDIR deep inside a library.
 */
export function pathProblem(
  file: string,
  kind: 'file' | 'folder' = 'file',
): { problem: string; unreadable?: true } | undefined {
  let info;
  try {
    info = statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: code === 'ENOENT' ? 'not found' : `cannot be read (${code})` };
  }
  if (kind === 'file' && info.isDirectory()) return { problem: 'is a folder, not a file' };
  if (kind === 'folder' && !info.isDirectory()) return { problem: 'is not a folder' };
  if (kind === 'file' && !info.isFile()) return { problem: 'is not a regular file (a pipe, socket or device)' };
  try {
    accessSync(file, constants.R_OK | (kind === 'folder' ? constants.X_OK : 0));
  } catch (error) {
    return { problem: `is not readable by this user (${(error as NodeJS.ErrnoException).code})`, unreadable: true };
  }
  return undefined;
}

/** Throws one InputError line with the path, who named it and the fix; never a stack trace. */
export function checkInputPath(file: string, input: InputPath): void {
  const found = pathProblem(file, input.kind);
  if (!found) return;
  const pointAt = `point ${input.namedBy.split(': ').pop()} at ${input.what}`;
  throw new InputError([
    `${input.namedBy}: ${file}: ${found.problem}: ` +
      `${found.unreadable ? `give this user read access, or ${pointAt}` : pointAt}`,
  ]);
}
