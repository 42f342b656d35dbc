import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { packageRoot } from '../../src/paths.js';
import { sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import { correctSinkRule } from '../../simulators/scenarios.js';
import { joined } from '../helpers/pattern.js';

const mailboxes = (n: number): SimulatedMailbox[] =>
  Array.from({ length: n }, (_, i) => ({ email: `user${i}@contoso.com`, kind: 'exchange-online' }));

const journalOf = async (world: GraphWorld, dir: string) =>
  (await readFile(path.join(world.dir, dir, 'journal.jsonl'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { seq: number; type: string; email?: string; row?: { email: string } });

/**
 * Starts a deploy as its own process (the CLI itself, not the launcher, so the kill reaches the
 * process that writes) and kills it with SIGKILL once `doneBeforeKill` mailboxes are in the journal.
 */
async function deployAndKill(
  world: GraphWorld,
  dir: string,
  doneBeforeKill: number | ((entries: Array<{ type: string }>) => boolean),
  command = 'deploy',
): Promise<void> {
  const killNow =
    typeof doneBeforeKill === 'number'
      ? (entries: Array<{ type: string }>) => entries.filter((e) => e.type === 'done').length >= doneBeforeKill
      : doneBeforeKill;
  const child = spawn(
    process.execPath,
    [
      path.join(packageRoot, 'dist/src/cli.js'),
      command,
      '--yes',
      '--concurrency',
      '4',
      '--report',
      dir,
      '--users',
      world.usersFile,
      '--config',
      world.configFile,
    ],
    {
      cwd: world.dir,
      env: { ...process.env, ...world.env },
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  for (;;) {
    await delay(20);
    if (await journalOf(world, dir).then(killNow, () => false)) break;
  }
  child.kill('SIGKILL');
  await exited;
  // Requests the process sent just before it died are still being answered (the simulator's
  // latency): wait until the service is quiet, so a test's snapshot is taken after they land.
  for (let last = -1; last !== world.sim.stats.requests;) {
    last = world.sim.stats.requests;
    await delay(300);
  }
}

describe('resume after kill -9', () => {
  it(
    'a deploy killed mid-run resumes to a complete report with one correct rule per mailbox; finished ' +
      'mailboxes are not touched again',
    async () => {
      const world = await startGraphWorld(mailboxes(120), { latencyInMs: 25 });
      try {
        await deployAndKill(world, 'r', 30);
        const killed = await journalOf(world, 'r');
        const finished = new Set(killed.filter((e) => e.type === 'done').map((e) => e.row!.email));
        const inFlight = new Set(
          killed
            .filter((e) => e.type === 'write')
            .map((e) => e.email!)
            .filter((email) => !finished.has(email)),
        );
        assert.ok(finished.size >= 30 && finished.size < 120, `killed part-way (${finished.size} finished)`);
        assert.equal(killed.at(-1)!.type === 'end', false, 'the run never ended');
        const requestsBefore = world.sim.stats.requests;

        const result = await world.run(['deploy', '--yes', '--resume', 'r']);
        assert.equal(result.code, 0, result.stderr);
        const report = await world.report('r');
        const emails = report.mailboxes.map((m) => m.email);
        assert.equal(emails.length, 120, 'every row of the input once');
        assert.equal(new Set(emails).size, 120);
        for (let i = 0; i < 120; i++) {
          const ours = world.sim.rulesOf(`user${i}@contoso.com`).filter((r) => r.displayName.includes('sinkrule'));
          assert.equal(ours.length, 1, `user${i}: exactly one rule`);
          assert.equal(
            (ours[0]!.actions!.forwardAsAttachmentTo as Array<{ emailAddress: { address: string } }>)[0]!.emailAddress
              .address,
            sink,
          );
        }
        // Finished mailboxes: neither read nor written again (2 requests per remaining mailbox: read + create).
        const remaining = 120 - finished.size;
        assert.ok(
          world.sim.stats.requests - requestsBefore <= remaining * 2,
          `${world.sim.stats.requests - requestsBefore} requests for ${remaining} remaining mailboxes`,
        );
        // A mailbox whose create was in flight at the kill is re-read, found done, not duplicated.
        for (const email of inFlight)
          assert.match(report.mailboxes.find((m) => m.email === email)!.outcome, /^(created|unchanged)$/);
        const after = await journalOf(world, 'r');
        assert.deepEqual(
          after.slice(0, killed.length),
          killed,
          'the chain continues after the entries of the killed run',
        );
        assert.equal(after[killed.length]!.type, 'resume');
        assert.equal(report.run.counts.created + (report.run.counts.unchanged ?? 0), 120);
        const audit = await world.runPlain(['audit', 'verify', 'r']);
        assert.equal(audit.code, 0, audit.stdout);
      } finally {
        await world.close();
      }
    },
  );

  it('refuses to resume with another users file or config (exit 1), and changes nothing', async () => {
    const world = await startGraphWorld(mailboxes(40), { latencyInMs: 25 });
    try {
      await deployAndKill(world, 'r', 5);
      const writes = world.sim.stats.writes;
      const journal = await readFile(path.join(world.dir, 'r', 'journal.jsonl'), 'utf8');
      const users = await readFile(world.usersFile, 'utf8');
      await world.writeUsers(`${users}late@contoso.com\n`);
      const otherUsers = await world.run(['deploy', '--yes', '--resume', 'r']);
      assert.equal(otherUsers.code, 1);
      assert.match(otherUsers.stderr, /--resume r: the users file differs from the run's/);
      await writeFile(world.usersFile, users);
      const config = JSON.parse(await readFile(world.configFile, 'utf8'));
      await world.writeConfig({ ...config, graph: { ...config.graph, concurrency: 8 } });
      const otherConfig = await world.run(['deploy', '--yes', '--resume', 'r']);
      assert.equal(otherConfig.code, 1);
      assert.match(otherConfig.stderr, /the config differs from the run's/);
      const remove = await world.run(['remove', '--yes', '--resume', 'r']);
      assert.equal(remove.code, 1);
      assert.match(remove.stderr, /records a deploy run, not remove/);
      assert.equal(world.sim.stats.writes, writes, 'nothing was written');
      assert.equal(
        await readFile(path.join(world.dir, 'r', 'journal.jsonl'), 'utf8'),
        journal,
        'the journal is untouched',
      );
    } finally {
      await world.close();
    }
  });

  it('remove --resume finishes a killed remove: no sinkrule rule left, every row once', async () => {
    const withRule = Array.from({ length: 60 }, (_, i): SimulatedMailbox => ({
      email: `user${i}@contoso.com`,
      kind: 'exchange-online',
      rules: [correctSinkRule(sink)],
    }));
    const world = await startGraphWorld(withRule, { latencyInMs: 25 });
    try {
      await deployAndKill(world, 'r', 10, 'remove');
      const result = await world.run(['remove', '--yes', '--resume', 'r']);
      assert.equal(result.code, 0, result.stderr);
      const report = await world.report('r');
      assert.equal(new Set(report.mailboxes.map((m) => m.email)).size, 60);
      assert.equal(report.mailboxes.length, 60);
      for (let i = 0; i < 60; i++) assert.equal(world.sim.rulesOf(`user${i}@contoso.com`).length, 0, `user${i}`);
      assert.equal((await world.runPlain(['audit', 'verify', 'r'])).code, 0);
    } finally {
      await world.close();
    }
  });

  it('a run killed inside a Retry-After window: the resumed run sends nothing before that window ends', async () => {
    const world = await startGraphWorld(mailboxes(60), {
      latencyInMs: 25,
      pauseAppAt: { request: 40, retryAfterSeconds: 5 },
    });
    try {
      await deployAndKill(world, 'r', (entries) => entries.some((e) => e.type === 'window'));
      const killed = await journalOf(world, 'r');
      const window = killed.find((e) => e.type === 'window') as unknown as { target: string; until: string };
      assert.equal(window.target, 'graph');
      const requestsBefore = world.sim.stats.requests;
      const result = await world.run(['deploy', '--yes', '--resume', 'r']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, joined(/graph: the interrupted run was asked to wait until /, /.*; waiting \d s/));
      assert.ok(world.sim.stats.requests > requestsBefore, 'the resumed run did its work');
      assert.equal(
        world.sim.stats.insideRetryAfterWindow,
        0,
        'nothing sent inside the window the killed run was given',
      );
      assert.ok(Date.now() >= Date.parse(window.until), 'the resumed run finished after the window');
      const report = await world.report('r');
      assert.equal(new Set(report.mailboxes.map((m) => m.email)).size, 60);
    } finally {
      await world.close();
    }
  });
});
