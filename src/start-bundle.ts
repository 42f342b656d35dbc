/**
 * Starts the bundled CLI (dist/src/cli.bundle.cjs, scripts/bundle-cli.mjs) with V8's code cache:
 * the code V8 compiled for the bundle in an earlier run, kept in the state folder (`code-cache/`).
 * Every command otherwise compiles the 4 MB bundle again (and the functions a run uses, as it first
 * calls them) before its first request: about 0.13 s of a 10,000-mailbox verify's start on this
 * machine. Node 22 does the same for ES modules (module.enableCompileCache); Node 20 offers it only
 * for a script, so the bundle is CommonJS. The launcher (bin.js) runs this file as its child's
 * main module; nothing imports it.
 *
 * V8 checks a cache against its own version and flags and the source's length only, so the file is
 * named after a hash of the bundle: a rebuild or an upgrade of the same length never runs the old
 * code. A cache V8 refuses anyway is compiled around and replaced. It is written once, when the
 * process exits, under a temporary name renamed into place, so two runs never read a half-written
 * one; it holds what that run compiled. A folder that cannot be written just means no cache.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { stateDir } from './paths.js';

const bundleFile = fileURLToPath(new URL('./cli.bundle.cjs', import.meta.url));
const cacheDir = path.join(stateDir(process.env), 'code-cache');

const bundle = readFileSync(bundleFile);
// About 10 ms for the 4 MB bundle, against the 130 it saves.
const bundleHash = createHash('sha256').update(bundle).digest('hex').slice(0, 16);
const cacheFile = path.join(cacheDir, `cli-${process.version}-${process.arch}-${bundleHash}.bin`);
const cachedData = readCache(cacheFile);
// No importModuleDynamically: Node 20 loses it for a script made from cached data, so the bundle
// has no import() at all (scripts/bundle-cli.mjs), and one that crept in fails on every run.
const script = new vm.Script((Module as unknown as { wrap(source: string): string }).wrap(bundle.toString('utf8')), {
  filename: bundleFile,
  cachedData,
});
if (!cachedData || script.cachedDataRejected) process.once('exit', () => writeCache(cacheFile, script));
const start = script.runInThisContext() as (...args: unknown[]) => void;
const module = { exports: {} };
start.call(module.exports, module.exports, createRequire(bundleFile), module, bundleFile, path.dirname(bundleFile));

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // none yet, or not readable: compile
  }
}

/**
 * After the run, so the cache holds the functions the run compiled too, not only the top level.
 * The caches of other builds go (one per state folder; each is 1-3 MB).
 */
function writeCache(file: string, compiled: vm.Script): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(temporary, compiled.createCachedData());
    renameSync(temporary, file);
    for (const other of readdirSync(path.dirname(file)))
      if (other.startsWith('cli-') && other.endsWith('.bin') && other !== path.basename(file))
        rmSync(path.join(path.dirname(file), other), { force: true });
  } catch {
    // A read-only or full disk: the next run compiles again, nothing else changes.
    try {
      rmSync(temporary, { force: true });
    } catch {
      // not even that: nothing was written
    }
  }
}
