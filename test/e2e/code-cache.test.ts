import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { toolVersion } from '../../src/paths.js';
import { runCli } from '../helpers/cli.js';

/**
 * The launcher starts the bundled CLI from V8's code cache in the state folder (start-bundle.ts).
 * A cache is only ever a shortcut: whatever is in the folder, the command does the same.
 */
describe('the compiled-code cache', () => {
  // cli-<Node version>-<arch>-<hash of the bundle>.bin: the cache of this build.
  const cacheName = new RegExp(`^cli-${process.version.replace(/\./g, '\\.')}-${process.arch}-[0-9a-f]{16}\\.bin$`);
  const cacheOf = async (stateDir: string) => {
    const files = await readdir(path.join(stateDir, 'code-cache'));
    assert.equal(files.length, 1, `one cache, no temporary file: ${files.join(', ')}`);
    assert.match(files[0]!, cacheName);
    return path.join(stateDir, 'code-cache', files[0]!);
  };
  const inStateDir = async (body: (stateDir: string) => Promise<void>) => {
    const stateDir = await mkdtemp(path.join(tmpdir(), 'sinkrule-code-cache-'));
    try {
      await body(stateDir);
    } finally {
      await rm(stateDir, { recursive: true, force: true });
    }
  };
  const version = async (stateDir: string) => {
    const result = await runCli(['--version'], { env: { SINKRULE_STATE_DIR: stateDir } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), toolVersion);
  };

  it('is written by the first run, kept by the next ones, with no temporary file left', async () => {
    await inStateDir(async (stateDir) => {
      await version(stateDir);
      const cache = await cacheOf(stateDir);
      const written = await stat(cache);
      assert.ok(written.size > 100_000, `V8's code for the bundle (${written.size} bytes)`);
      await version(stateDir);
      assert.equal((await stat(cache)).mtimeMs, written.mtimeMs, 'a cache V8 accepted is not written again');
      assert.equal(await cacheOf(stateDir), cache);
    });
  });

  it('one V8 refuses (damaged) is compiled around and replaced; the caches of other builds go', async () => {
    await inStateDir(async (stateDir) => {
      await version(stateDir);
      const cache = await cacheOf(stateDir);
      const damaged = Buffer.alloc((await stat(cache)).size, 0x5a);
      await writeFile(cache, damaged);
      const otherBuild = path.join(
        stateDir,
        'code-cache',
        `cli-${process.version}-${process.arch}-0123456789abcdef.bin`,
      );
      await writeFile(otherBuild, 'the cache of an earlier build');
      await version(stateDir);
      assert.equal(await cacheOf(stateDir), cache, "the earlier build's cache is gone");
      assert.notDeepEqual(await readFile(cache), damaged, 'a cache V8 accepts again');
      await version(stateDir);
    });
  });

  it('a state folder that cannot be written leaves the command as it was', async () => {
    await inStateDir(async (stateDir) => {
      const notAFolder = path.join(stateDir, 'file');
      await writeFile(notAFolder, 'not a folder');
      await version(notAFolder);
      assert.equal(await readFile(notAFolder, 'utf8'), 'not a folder');
    });
  });
});
