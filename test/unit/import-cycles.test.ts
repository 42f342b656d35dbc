import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { packageRoot } from '../../src/paths.js';

// `npm run lint` runs scripts/check-cycles.mjs: eslint's import-x/no-cycle skips type-only imports,
// which is how two cycles once went unnoticed.
const checker = path.join(packageRoot, 'scripts/check-cycles.mjs');
const check = (cwd: string, ...folders: string[]) =>
  spawnSync(process.execPath, [checker, ...folders], { cwd, encoding: 'utf8' });

describe('import cycles', () => {
  it('finds a cycle made only of type imports, and passes the same files without it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-cycles-'));
    try {
      await writeFile(path.join(dir, 'run.ts'), "import type { Step } from './step.js';\nexport type Run = Step[];\n");
      await writeFile(path.join(dir, 'step.ts'), "import type { Run } from './run.js';\nexport type Step = Run;\n");
      const planted = check(dir, '.');
      assert.equal(planted.status, 1, planted.stdout + planted.stderr);
      assert.match(planted.stderr, /import cycle: run\.ts ↔ step\.ts/);
      assert.match(planted.stdout, /2 modules, 1 import cycles/);

      await writeFile(path.join(dir, 'step.ts'), 'export type Step = string;\n');
      const clean = check(dir, '.');
      assert.equal(clean.status, 0, clean.stderr);
      assert.match(clean.stdout, /2 modules, 0 import cycles/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('sinkrule itself has none', () => {
    const result = check(packageRoot);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /, 0 import cycles/);
  });
});
