import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/paths.js';

const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Every file below a folder of the package, relative to the package root. */
function filesBelow(folder: string): string[] {
  return readdirSync(path.join(packageRoot, folder), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(packageRoot, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
}

/**
 * The package as npm ships it: packed, installed into an empty prefix (dependencies from the npm
 * cache or registry), run from an empty folder with nothing of the clone beside it.
 */
describe('the npm package', () => {
  it(
    'holds every runtime file and no tests; installed, `sinkrule --help` and `sinkrule demo` work from an ' +
      'empty folder',
    async (t) => {
      const work = await mkdtemp(path.join(tmpdir(), 'sinkrule-pack-'));
      t.after(() => rm(work, { recursive: true, force: true }));
      // `npm test` has just built dist/: pack it as it is (prepack would rebuild it under the running tests).
      const packed = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
        cwd: packageRoot,
      });
      const [tarball] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
      const shipped = new Set(tarball!.files.map((f) => f.path));
      const runtime = [
        ...filesBelow('dist/src'),
        ...filesBelow('dist/simulators'),
        ...filesBelow('templates'),
        ...filesBelow('samples'),
      ].filter((f) => !f.endsWith('.map'));
      assert.deepEqual(
        runtime.filter((f) => !shipped.has(f)),
        [],
        'every runtime file is in the package',
      );
      assert.ok(shipped.has('dist/simulators/graph/messageRule.csdl.xml'), "the Graph simulator's CSDL");
      assert.deepEqual(
        [...shipped].filter((f) => /^dist\/(test|bench)\/|\.test\.js$|\.ts$/.test(f)),
        [],
        'no tests, benchmarks or sources',
      );

      const prefix = path.join(work, 'prefix');
      await run(
        npm,
        [
          'install',
          '--global',
          '--prefix',
          prefix,
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          path.join(work, tarball!.filename),
        ],
        { cwd: work, timeout: 240_000 },
      );
      const sinkrule = path.join(prefix, 'bin', 'sinkrule');
      const empty = path.join(work, 'empty');
      await mkdir(empty);
      const env = { ...process.env, SINKRULE_EWS_SCHEMA_DIR: '' };

      const help = await run(sinkrule, ['--help'], { cwd: empty, env });
      for (const command of ['deploy', 'verify', 'remove', 'demo'])
        assert.match(help.stdout, new RegExp(`sinkrule ${command}`));

      const started = Date.now();
      const demo = await run(sinkrule, ['demo'], { cwd: empty, env, timeout: 120_000 });
      t.diagnostic(`installed sinkrule demo took ${((Date.now() - started) / 1000).toFixed(1)} s`);
      assert.match(demo.stdout, /sinkrule deploy: 19 of 19 mailboxes/);
      const verify = JSON.parse(
        await readFile(path.join(empty, 'sinkrule-report-demo', 'verify', 'report.json'), 'utf8'),
      );
      const deploy = JSON.parse(
        await readFile(path.join(empty, 'sinkrule-report-demo', 'deploy', 'report.json'), 'utf8'),
      );
      // The only failures are the two the demo estate is built to have: no simulator error, no HTTP 500.
      const failed = (report: {
        mailboxes: Array<{ email: string; outcome: string; error: { code: string } | null }>;
      }) =>
        report.mailboxes
          .filter((m) => m.outcome === 'failed' || m.outcome === 'missing')
          .map((m) => `${m.email.split('@')[0]}:${m.error?.code ?? m.outcome}`)
          .sort();
      assert.deepEqual(failed(deploy), [
        'emily.braun:MailboxNotEnabledForRESTAPI',
        'johanna.lorenz:OutlookRuleBlobExists',
      ]);
      assert.deepEqual(verify.run.counts, { ok: 13, manual: 3, 'confirmed-manually': 1, failed: 1, missing: 1 });
      assert.match(demo.stderr, /2 mailboxes are left for the admin/);
    },
  );
});
