/**
 * Starts the bundled CLI (dist/src/cli.bundle.cjs, scripts/bundle-cli.mjs) with V8's code cache:
 * the machine code V8 compiled for the bundle in an earlier run, kept in the state folder
 * (`code-cache/`). Every command otherwise compiles the 4 MB bundle again (and the functions a run
 * uses, as it first calls them) before its first request: about 0.17 s of a 10,000-mailbox verify's
 * start on this machine, 1 % of it at 500 req/s. Node 22 does the same for ES modules
 * (module.enableCompileCache); Node 20 offers it only for a script, so the bundle is CommonJS.
 *
 * V8 checks a cache against the source and its own version and flags, and refuses one that does
 * not match (`cachedDataRejected`): the run then compiles as usual and leaves a fresh cache. The
 * cache is written once, when the process exits, to a temporary name renamed into place, so two
 * runs never read a half-written one. A folder that cannot be written just means no cache.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { stateDir } from './paths.js';

export const bundleFile = fileURLToPath(new URL('./cli.bundle.cjs', import.meta.url));

/** Runs the bundle in this process, from the code cache in `cacheDir` when there is a usable one. */
export function startBundle(cacheDir: string = path.join(stateDir(process.env), 'code-cache')): void {
  const source = readFileSync(bundleFile, 'utf8');
  // One file per Node version: switching versions back and forth does not throw the other's away.
  const cacheFile = path.join(cacheDir, `cli-${process.version}-${process.arch}.bin`);
  const cachedData = readCache(cacheFile);
  // No importModuleDynamically: Node 20 loses it for a script made from cached data, so the bundle
  // has no import() at all (scripts/bundle-cli.mjs), and one that crept in fails on every run.
  const script = new vm.Script((Module as unknown as { wrap(source: string): string }).wrap(source), {
    filename: bundleFile,
    cachedData,
  });
  if (!cachedData || script.cachedDataRejected) process.once('exit', () => writeCache(cacheFile, script));
  const start = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} };
  start.call(module.exports, module.exports, createRequire(bundleFile), module, bundleFile, path.dirname(bundleFile));
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // none yet, or not readable: compile
  }
}

/** After the run, so the cache holds the functions the run compiled too, not only the top level. */
function writeCache(file: string, script: vm.Script): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, script.createCachedData());
    renameSync(temporary, file);
  } catch {
    // A read-only or full disk: the next run compiles again, nothing else changes.
  }
}

// Started by the launcher (bin.js) as the process's main module; importing it runs nothing.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) startBundle();
