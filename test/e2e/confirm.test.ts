import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { cliPath } from '../helpers/cli.js';
import { certificate, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';

/**
 * Runs sinkrule on a real pseudo-terminal (util-linux `script`), answers the confirmation
 * question with `answer`, and returns everything the terminal showed plus the exit code.
 */
async function onTerminal(
  world: GraphWorld,
  args: string[],
  answer: string,
): Promise<{ code: number; screen: string }> {
  const command = [process.execPath, cliPath, ...args, '--users', world.usersFile, '--config', world.configFile].join(
    ' ',
  );
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: world.dir,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: (await certificate()).caFile, SINKRULE_CLIENT_SECRET: world.secret },
    timeout: 120_000, // a question that never comes must not leave the terminal waiting
    killSignal: 'SIGKILL',
  });
  let screen = '';
  let answered = false;
  const onData = (data: Buffer) => {
    screen += data.toString();
    if (!answered && screen.includes('[y/N]')) {
      answered = true;
      child.stdin.write(`${answer}\n`);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, screen };
}

describe('confirmation on a terminal', () => {
  it('deploy reads every mailbox, shows the plan and asks; "n" changes nothing, "y" applies it', async () => {
    const world = await startGraphWorld([
      { email: 'a@contoso.com', kind: 'exchange-online' },
      { email: 'b@contoso.com', kind: 'exchange-online' },
    ]);
    try {
      const declined = await onTerminal(world, ['deploy', '--report', 'r1'], 'n');
      assert.match(declined.screen, /Plan for 2 mailboxes: would-create 2/);
      assert.match(declined.screen, /Apply these changes to 2 mailboxes\? \[y\/N\]/);
      assert.match(declined.screen, /Cancelled: nothing was changed/);
      assert.equal(declined.code, 0);
      assert.equal(world.sim.stats.writes, 0);

      const accepted = await onTerminal(world, ['deploy', '--report', 'r2'], 'y');
      assert.equal(accepted.code, 0, accepted.screen);
      assert.match(accepted.screen, /created 2/);
      assert.equal(world.sim.rulesOf('a@contoso.com').length, 1);
      assert.equal(world.sim.rulesOf('b@contoso.com').length, 1);
    } finally {
      await world.close();
    }
  });
});
