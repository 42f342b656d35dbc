import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { certificate } from '../helpers/world.js';
import { startGraphWorld } from '../helpers/graph-world.js';

// The reference client of `npm run bench -- --reference`: its figures mean something only if it
// reads every mailbox once it is accepted and sends nothing inside a window the service opened.
describe('bench fixed-rate client (the reference of npm run bench -- --reference)', () => {
  it('reads every mailbox at its rate and sends nothing inside a Retry-After window', async () => {
    const mailboxes = Array.from({ length: 30 }, (_, i) => ({
      email: `user${i}@contoso.com`,
      kind: 'exchange-online' as const,
    }));
    const world = await startGraphWorld(mailboxes, { pauseAppAt: { request: 20, retryAfterSeconds: 1 } });
    try {
      const script = fileURLToPath(new URL('../../bench/fixed-rate-client.js', import.meta.url));
      const url = world.graphSection.baseUrl as string;
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          script,
          ...['--url', url, '--tenant', world.tenantId, '--client-id', world.clientId],
          ...['--resource', world.sim.resource, '--rate', '40', '--requests', '60', '--mailboxes', '30'],
        ],
        {
          env: {
            ...process.env,
            NODE_EXTRA_CA_CERTS: (await certificate()).caFile,
            SINKRULE_CLIENT_SECRET: world.secret,
          },
        },
      );
      const result = JSON.parse(stdout) as {
        accepted: number;
        refused: number;
        windows: number;
        firstSentAt: number;
        lastAnsweredAt: number;
      };
      assert.equal(result.accepted, 60);
      assert.equal(result.refused, 1);
      assert.equal(result.windows, 1);
      assert.equal(world.sim.stats.insideRetryAfterWindow, 0);
      // What reached the service: the 60 reads and the refused one sent again, nothing more.
      assert.equal(world.sim.stats.requests, 61);
      // 60 reads at 40/s take 1.5 s from the first, the window one more: a client that ignored
      // the rate or the window would not.
      const seconds = (result.lastAnsweredAt - result.firstSentAt) / 1000;
      assert.ok(seconds >= 2.4, `took ${seconds.toFixed(2)} s`);
      assert.ok(!stdout.includes(world.secret));
    } finally {
      await world.close();
    }
  });
});
