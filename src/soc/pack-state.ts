import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stateDir } from '../paths.js';

/**
 * Which mailbox lists a SOC pack was written for: the SHA-256 of the users file (or of the rows
 * Dataverse returned), as the report records it, with when and where. preflight reads it to warn
 * before a rollout the SOC has not been told about. No names or addresses: a hash, a time, a path.
 */
interface PackRecord {
  writtenAt: string;
  dir: string;
}

const fileOf = (env: NodeJS.ProcessEnv) => path.join(stateDir(env), 'soc-packs.json');

function read(env: NodeJS.ProcessEnv): Record<string, PackRecord> {
  try {
    const value = JSON.parse(readFileSync(fileOf(env), 'utf8')) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, PackRecord>) : {};
  } catch {
    return {}; // never written (or unreadable): no pack is known
  }
}

/** Notes that a pack was written for this list; returns a warning when the state cannot be kept. */
export function recordPack(env: NodeJS.ProcessEnv, inputSha256: string, record: PackRecord): string | undefined {
  const file = fileOf(env);
  try {
    const records = { ...read(env), [inputSha256]: record };
    mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, `${JSON.stringify(records, null, 2)}\n`);
    renameSync(partial, file);
    return undefined;
  } catch (error) {
    const reason = (error as Error).message;
    return `Could not note the SOC pack in ${file} (${reason}): preflight will not know it was written.`;
  }
}

/** The pack written for this list, if any. */
export function packFor(env: NodeJS.ProcessEnv, inputSha256: string): PackRecord | undefined {
  return read(env)[inputSha256];
}
