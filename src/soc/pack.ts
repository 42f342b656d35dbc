import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { InputError } from '../core/errors.js';
import { journalLines } from '../report/journal.js';
import type { RunInfo } from '../report/run-info.js';
import { exclusionKql } from './exclusion-kql.js';
import { renderNotice } from './notice.js';
import { recordPack } from './pack-state.js';
import {
  holdingRow,
  leavingColumns,
  leavingRows,
  SocRowWriter,
  watchlistColumns,
  type LeavingRow,
  type SocRowContext,
  type WatchlistPart,
  type WatchlistRow,
} from './watchlist.js';
import { armTemplate, templateLimitInBytes, watchlistProperties } from './watchlist-resource.js';

export const socDirName = 'soc';
export const watchlistAlias = 'sinkrule';
export const manifestFile = 'pack.json';

/** soc/pack.json: what the pack holds, for `soc upload` and for people. */
export interface PackManifest {
  runId: string;
  command: string;
  dryRun: boolean;
  ruleName: string;
  generatedAt: string;
  watchlist: WatchlistPart[];
  leaving: WatchlistPart[];
  templates: Array<{ file: string; aliases: string[]; bytes: number }>;
  files: string[];
}

export interface SocPackOptions {
  /** The config's soc.contact. */
  contact?: string;
  clock: () => number;
  env: NodeJS.ProcessEnv;
}

/** Commands whose runs add, change or take away rules: their report folders get a pack. */
export const packCommands: ReadonlySet<string> = new Set(['deploy', 'remove', 'rollback']);

/**
 * Writes `<report>/soc/` from the report folder alone (report.json's run section, the journal's
 * rows with their times): the same pack after the run and on demand (`sinkrule soc`).
 */
export async function writeSocPack(
  reportDir: string,
  options: SocPackOptions,
): Promise<{ manifest: PackManifest; warnings: string[] }> {
  const run = await readReportRun(reportDir);
  const dir = path.join(reportDir, socDirName);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const runId = (run.journal?.lastHash ?? '').slice(0, 16);
  const context: SocRowContext = { signedIn: run.identity.signedIn, runId };
  const holding = new SocRowWriter<WatchlistRow>(dir, 'watchlist', watchlistAlias, watchlistColumns);
  const leaving = new SocRowWriter<LeavingRow>(dir, 'leaving', `${watchlistAlias}-leaving`, leavingColumns);
  if (!run.dryRun) {
    for await (const { entry } of journalLines(reportDir, 'done')) {
      if (entry?.type !== 'done') continue;
      const row = holdingRow(entry.row, entry.at, context);
      if (row) await holding.add(row);
      for (const left of leavingRows(entry.row, entry.at, context)) await leaving.add(left);
    }
  }
  const parts = await holding.close();
  const leavingParts = await leaving.close();
  const generatedAt = new Date(options.clock()).toISOString();
  const files = [...parts.map((p) => p.file), ...leavingParts.map((p) => p.file)];
  const templates: PackManifest['templates'] = [];
  if (parts.length > 0) {
    const kql = exclusionKql(
      parts.map((p) => p.alias),
      { ruleName: run.ruleName, generatedAt },
    );
    await writeFile(path.join(dir, 'exclusion.kql'), kql);
    files.push('exclusion.kql');
    for (const template of await writeTemplates(dir, parts, { runId, ruleName: run.ruleName })) {
      templates.push(template);
      files.push(template.file);
    }
  }
  const notice = renderNotice({
    run,
    holding: holding.rows,
    leaving: leaving.rows,
    parts,
    leavingParts,
    contact: options.contact,
    generatedAt,
  });
  await writeFile(path.join(dir, 'notice.md'), notice);
  files.push('notice.md');
  const manifest: PackManifest = {
    runId,
    command: run.command,
    dryRun: run.dryRun,
    ruleName: run.ruleName,
    generatedAt,
    watchlist: parts,
    leaving: leavingParts,
    templates,
    files: [...files, manifestFile],
  };
  await writeFile(path.join(dir, manifestFile), `${JSON.stringify(manifest, null, 2)}\n`);
  const warning = recordPack(options.env, run.input.sha256, { writtenAt: generatedAt, dir: path.resolve(dir) });
  return { manifest, warnings: warning ? [warning] : [] };
}

/** One template for every part when together they fit Resource Manager's limit, else one per part. */
async function writeTemplates(
  dir: string,
  parts: WatchlistPart[],
  about: { runId: string; ruleName: string },
): Promise<PackManifest['templates']> {
  const load = async (part: WatchlistPart) => ({
    alias: part.alias,
    properties: watchlistProperties(part, parts.length, await readFile(path.join(dir, part.file), 'utf8'), about),
  });
  const together = parts.reduce((sum, part) => sum + part.bytes, 0) < templateLimitInBytes * 0.9;
  const groups = parts.length === 1 || together ? [parts] : parts.map((part) => [part]);
  const written: PackManifest['templates'] = [];
  for (const [i, group] of groups.entries()) {
    const file = groups.length === 1 ? 'watchlist.arm.json' : `watchlist-${i + 1}.arm.json`;
    const text = `${JSON.stringify(armTemplate(await Promise.all(group.map(load))), null, 2)}\n`;
    await writeFile(path.join(dir, file), text);
    written.push({ file, aliases: group.map((p) => p.alias), bytes: Buffer.byteLength(text) });
  }
  return written;
}

/** report.json's run section, read without loading the mailbox rows (one per line after it). */
export async function readReportRun(reportDir: string): Promise<RunInfo> {
  const file = path.join(reportDir, 'report.json');
  if (!existsSync(file))
    throw new InputError([
      `--report: ${reportDir} has no report.json: name the report folder of a sinkrule run (deploy, remove, verify)`,
    ]);
  const head: string[] = [];
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (line === '"mailboxes": [') return (JSON.parse(`${head.join('\n')}\n"mailboxes": []}`) as { run: RunInfo }).run;
    head.push(line);
  }
  return (JSON.parse(head.join('\n')) as { run: RunInfo }).run;
}

/** soc/pack.json of a report folder, or the fix when there is none. */
export async function readManifest(reportDir: string): Promise<PackManifest> {
  const file = path.join(reportDir, socDirName, manifestFile);
  if (!existsSync(file))
    throw new InputError([`--report: ${reportDir} has no ${socDirName}/${manifestFile}: write it with sinkrule soc`], {
      fix: `Run sinkrule soc --report ${reportDir} first.`,
    });
  return JSON.parse(await readFile(file, 'utf8')) as PackManifest;
}
