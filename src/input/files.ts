import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { InputError } from '../core/errors.js';

export interface InputPath {
  /** Who names the path: `--users`, or `sinkrule.config.json: rule.template`. */
  namedBy: string;
  /** What it should be, for the fix: "the users CSV", "the PEM file with the certificate and its private key". */
  what: string;
  /** A regular file (default) or a folder. */
  kind?: 'file' | 'folder';
}

/**
 * Checks that a path the admin gave is a readable file (or folder) before anything opens it:
 * reading a FIFO blocks forever, a folder fails with EISDIR deep inside a library. One line with
 * the path, who named it and the fix; never a stack trace.
 */
export async function checkInputPath(file: string, input: InputPath): Promise<void> {
  const kind = input.kind ?? 'file';
  const pointAt = `point ${input.namedBy.split(': ').pop()} at ${input.what}`;
  const fail = (problem: string, cause?: unknown, fix = pointAt) =>
    new InputError([`${input.namedBy}: ${file}: ${problem}: ${fix}`], { cause });
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw fail(code === 'ENOENT' ? 'not found' : `cannot be read (${code})`, error);
  }
  if (kind === 'file' && info.isDirectory()) throw fail('is a folder, not a file');
  if (kind === 'folder' && !info.isDirectory()) throw fail('is not a folder');
  if (kind === 'file' && !info.isFile()) throw fail('is not a regular file (a pipe, socket or device)');
  try {
    await access(file, constants.R_OK | (kind === 'folder' ? constants.X_OK : 0));
  } catch (error) {
    throw fail(
      `is not readable by this user (${(error as NodeJS.ErrnoException).code})`,
      error,
      `give this user read access, or ${pointAt}`,
    );
  }
}
