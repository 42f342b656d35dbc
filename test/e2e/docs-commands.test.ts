import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packageRoot } from '../../src/paths.js';
import { cliPath, runCli, testStateDir } from '../helpers/cli.js';
import { docPages, expectedExitCode, shellBlocks, type ShellBlock } from '../helpers/docs.js';

/**
 * Every command the handbook shows runs as shown. Blocks marked `<!-- offline -->` need no
 * Microsoft service: each of their lines runs in bash, as a reader would paste it, with `sinkrule`
 * on the PATH as `npm install -g` puts it there (the built CLI), in a fresh folder holding a copy of
 * samples/; each must exit as its comment says (`# exit 1: …`), else 0. Commands that need a tenant
 * cannot run here, but every flag they show must be one their command's --help lists.
 */
describe('docs: every command shown runs as shown', () => {
  const blocks = docPages().flatMap(shellBlocks);
  let bin: string;
  before(async () => {
    bin = await mkdtemp(path.join(tmpdir(), 'sinkrule-docs-bin-'));
    await writeFile(path.join(bin, 'sinkrule'), `#!/bin/sh\nexec "${process.execPath}" "${cliPath}" "$@"\n`);
    await chmod(path.join(bin, 'sinkrule'), 0o755);
  });
  after(() => rm(bin, { recursive: true, force: true }));

  const runShell = (command: string, cwd: string) =>
    new Promise<{ code: number; output: string }>((resolve, reject) => {
      const child = spawn('bash', ['-c', command], {
        cwd,
        env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, SINKRULE_STATE_DIR: testStateDir },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 240_000,
        killSignal: 'SIGKILL',
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, output }));
    });

  it('runs every line of the blocks marked offline, per page in a fresh folder, with the exit code shown', async () => {
    const offline = blocks.filter((block) => block.offline);
    const pages = [...new Set(offline.map((block) => block.file))];
    let commands = 0;
    for (const page of pages) {
      const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-docs-'));
      try {
        await cp(path.join(packageRoot, 'samples'), path.join(dir, 'samples'), { recursive: true });
        for (const block of offline.filter((b) => b.file === page)) {
          for (const command of block.commands) {
            const result = await runShell(command.text, dir);
            commands++;
            assert.equal(
              result.code,
              expectedExitCode(command.text),
              `${block.file}:${command.line}: ${command.text}\n${result.output.slice(-3000)}`,
            );
          }
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    // The pages promise these offline: --help of every command, init, validate, both demos, completion.
    const shown = offline.flatMap((block) => block.commands.map((c) => c.text));
    for (const expected of [
      /^sinkrule demo\b/,
      /^sinkrule demo --from-dataverse/,
      /^sinkrule validate /,
      /^sinkrule init /,
    ])
      assert.ok(
        shown.some((text) => expected.test(text)),
        `an offline block runs ${expected}`,
      );
    assert.ok(commands >= 25, `${commands} commands ran`);
  });

  it('every flag shown after a sinkrule command, in any sh block, is one its --help lists', async () => {
    const helpOf = new Map<string, string>();
    const problems: string[] = [];
    let checked = 0;
    for (const { block, text, line } of sinkruleLines(blocks)) {
      const words = text
        .replace(/\s#.*$/, '')
        .split(/\s+/)
        .slice(1);
      const command = words[0]?.startsWith('-') ? [] : words[0] === 'audit' ? words.slice(0, 2) : words.slice(0, 1);
      const key = command.join(' ');
      if (!helpOf.has(key)) {
        const help = await runCli([...command, '--help']);
        helpOf.set(key, help.code === 0 ? help.stdout : '');
      }
      const help = helpOf.get(key)!;
      if (!help) problems.push(`${block.file}:${line}: sinkrule ${key}: no such command`);
      for (const flag of words.filter((word) => /^--[a-z]/.test(word)).map((word) => word.split('=')[0]!)) {
        checked++;
        if (!new RegExp(`(^|\\s)${flag}(\\s|$)`, 'm').test(help))
          problems.push(`${block.file}:${line}: sinkrule ${key}: ${flag} is not an option of this command`);
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(checked >= 80, `${checked} flags checked`);
  });

  it('a flag that does not exist fails the command (so a documented typo fails the docs test)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-docs-'));
    try {
      await mkdir(path.join(dir, 'x'));
      const result = await runShell(
        'sinkrule init --sink crm-sink@contoso.com --auth managed-identity --dir x --bogus-flag',
        dir,
      );
      assert.equal(result.code, 1, result.output);
      assert.match(result.output, /Unknown arguments?: bogus-flag/);
      assert.ok(!existsSync(path.join(dir, 'x', 'sinkrule.config.json')), 'nothing written');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function sinkruleLines(blocks: ShellBlock[]) {
  return blocks.flatMap((block) =>
    block.commands.filter((c) => /^sinkrule(\s|$)/.test(c.text)).map((c) => ({ block, ...c })),
  );
}
