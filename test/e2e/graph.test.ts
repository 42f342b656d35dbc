import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generate } from 'selfsigned';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { byEmail, sink, startGraphWorld, type GraphWorld, type WorldOptions } from '../helpers/graph-world.js';
import { httpsCall, requestToken } from '../helpers/https.js';

const fresh = (n: number, prefix = 'user'): SimulatedMailbox[] =>
  Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@contoso.com`, kind: 'exchange-online' }));

async function inWorld(
  mailboxes: SimulatedMailbox[],
  options: WorldOptions,
  body: (world: GraphWorld) => Promise<void>,
) {
  const world = await startGraphWorld(mailboxes, options);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

describe('Graph back end', () => {
  it('a wrong client secret stops the run before any mailbox is touched, with the AADSTS message', async () => {
    await inWorld(fresh(3), {}, async (world) => {
      const result = await world.run(['deploy', '--yes', '--report', 'r'], {
        SINKRULE_CLIENT_SECRET: 'wrong-secret-value',
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /AADSTS7000215: Invalid client secret/);
      assert.match(result.stderr, /SINKRULE_CLIENT_SECRET/, 'the message names the fix');
      assert.ok(!result.stderr.includes('wrong-secret-value'), 'the secret is never printed');
      assert.equal(world.sim.stats.requests, 0, 'no Graph request was sent');
      assert.equal(existsSync(path.join(world.dir, 'r')), false, 'no report for a run that reached no mailbox');
    });
  });

  it('a missing secret is an input error naming the variable', async () => {
    await inWorld(fresh(1), {}, async (world) => {
      const result = await world.run(['verify'], { SINKRULE_CLIENT_SECRET: '' });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /SINKRULE_CLIENT_SECRET/);
    });
  });

  it('authenticates with a certificate (signed client assertion) and gets one token per run', async () => {
    const pems = await generate([{ name: 'commonName', value: 'sinkrule-app' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
    });
    await inWorld(fresh(5), { app: { clientSecret: undefined, certificatePem: pems.cert } }, async (world) => {
      const certificatePath = path.join(world.dir, 'app.pem');
      await writeFile(certificatePath, `${pems.private}\n${pems.cert}`);
      const url = world.sim.url;
      await world.writeConfig({
        sink,
        graph: {
          tenantId: world.tenantId,
          clientId: world.clientId,
          authorityHost: url,
          baseUrl: url,
          certificatePath: 'app.pem',
        },
      });
      const result = await world.run(['deploy', '--yes', '--report', 'r'], { SINKRULE_CLIENT_SECRET: '' });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(world.sim.identity.tokenRequests, 1, 'the token is cached for the whole run');
      assert.equal(world.sim.rulesOf('user4@contoso.com').length, 1);
    });
  });

  it(
    'the simulator counts a request as sent inside a window from when the batch carrying the 429 ' +
      'answered, and until the wait it asked for ended',
    async () => {
      // The batch's first item is refused at once; its second takes 300 ms, so the batch (and its
      // 429) answers only then: a lone request sent meanwhile could not have known.
      const options = { latencyInMs: 300, pauseAppAt: { request: 1, retryAfterSeconds: 2 } };
      await inWorld(fresh(4), options, async (world) => {
        const token = await simToken(world);
        const rules = (user: string) => `/users/${user}@contoso.com/mailFolders/inbox/messageRules`;
        const lone = (user: string) =>
          httpsCall('GET', `${world.sim.url}/v1.0${rules(user)}`, { headers: { authorization: `Bearer ${token}` } });
        const batch = httpsJson(`${world.sim.url}/v1.0/$batch`, token, {
          requests: [
            { id: '1', method: 'GET', url: rules('user0') },
            { id: '2', method: 'GET', url: rules('user1') },
          ],
        });
        await new Promise((resolve) => setTimeout(resolve, 150));
        const early = lone('user2');
        const answered = await batch;
        const statuses = (answered.body as { responses: Array<{ id: string; status: number }> }).responses;
        assert.deepEqual(statuses.map((r) => [r.id, r.status]).sort(), [
          ['1', 429],
          ['2', 200],
        ]);
        assert.equal((await early).status, 200);
        assert.equal(world.sim.stats.insideRetryAfterWindow, 0, 'sent before the batch answered: in flight');
        await new Promise((resolve) => setTimeout(resolve, 250));
        await lone('user3');
        assert.equal(world.sim.stats.insideRetryAfterWindow, 1, 'sent after it, inside the 2 s it asked for');
      });
    },
  );

  it('honours Retry-After on throttled mailboxes: retries, converges, sends nothing inside a window', async () => {
    const throttleFirstRequests = { 'user0@contoso.com': 3, 'user1@contoso.com': 1 };
    await inWorld(fresh(6), { throttleFirstRequests, retryAfterSeconds: 1 }, async (world) => {
      const started = Date.now();
      const result = await world.run(['deploy', '--yes', '--report', 'r']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(Date.now() - started >= 3000, 'user0 waited three Retry-After windows');
      assert.equal(world.sim.stats.throttled, 4);
      assert.equal(world.sim.stats.insideRetryAfterWindow, 0);
      const rows = byEmail((await world.report('r')).mailboxes);
      assert.equal(rows.get('user0@contoso.com')!.attempts, 4);
      assert.equal(rows.get('user0@contoso.com')!.outcome, 'created');
    });
  });

  it('an app-wide request ceiling pauses every worker and the run still converges', async () => {
    await inWorld(fresh(40), { requestsPerSecond: 25 }, async (world) => {
      const result = await world.run(['deploy', '--yes', '--report', 'r', '--concurrency', '16']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok(world.sim.stats.throttled > 0, 'the ceiling was reached');
      assert.equal(world.sim.stats.insideRetryAfterWindow, 0);
      for (let i = 0; i < 40; i++) assert.equal(world.sim.rulesOf(`user${i}@contoso.com`).length, 1);
    });
  });

  it('a verify after a deploy starts at the pace the deploy learnt: no second slow start', async () => {
    // A client starved of CPU reads a 429 late, and requests it released before it could are not
    // sent inside a window it knew of: on a shared 2-core machine running the suite two files at a
    // time that took more than the default 100 ms (12 such requests in one run at load 6).
    const grace = { inFlightGraceInMs: 400 };
    await inWorld(fresh(300), { requestsPerSecond: 60, burst: 10, ...grace }, async (world) => {
      const deploy = await world.run(['deploy', '--yes', '--report', 'd', '--output', 'json']);
      assert.equal(deploy.code, 0, deploy.stderr);
      const learnt = JSON.parse(deploy.stdout).backEnds.graph;
      assert.equal(learnt.startedFrom, 'slow start');
      assert.ok(learnt.appThrottled > 0, 'the deploy found the ceiling');
      const verify = await world.run(['verify', '--report', 'v', '--output', 'json']);
      assert.equal(verify.code, 0, verify.stderr);
      const pace = JSON.parse(verify.stdout).backEnds.graph;
      assert.equal(pace.startedFrom, 'remembered');
      // Exactly the pace the deploy kept (a probe not yet confirmed is not kept).
      assert.equal(typeof learnt.keptRequestsPerSecond, 'number');
      assert.equal(pace.startRequestsPerSecond, learnt.keptRequestsPerSecond);
      // What it keeps is a pace the service accepted (60 req/s, a little above for the burst), not a
      // probe it had not confirmed; a cut late in a 10 s run may leave it lower (52 in one run).
      const kept = learnt.keptRequestsPerSecond;
      assert.ok(kept <= 66 && kept >= 30, `kept ${kept} req/s`);
      assert.equal(world.sim.stats.insideRetryAfterWindow, 0);
    });
  });

  it('a create that times out after it was committed is not replayed: the mailbox is re-read, no copy', async () => {
    await inWorld(fresh(2), { gatewayTimeoutAfterCreate: ['user0@contoso.com'] }, async (world) => {
      const result = await world.run(['deploy', '--yes', '--report', 'r']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(world.sim.rulesOf('user0@contoso.com').length, 1, 'exactly one rule');
      const row = byEmail((await world.report('r')).mailboxes).get('user0@contoso.com')!;
      assert.equal(row.outcome, 'created');
      assert.equal(row.attempts, 2);
    });
  });

  it('converges through random 503s', async () => {
    await inWorld(fresh(20), { serviceUnavailableRate: 0.2, seed: 7 }, async (world) => {
      await world.writeConfig({
        sink,
        graph: world.graphSection,
        retry: { retryDelayInMs: 50, maxRetries: 10 },
      });
      const result = await world.run(['deploy', '--yes', '--report', 'r']);
      assert.equal(result.code, 0, result.stderr);
      assert.ok((world.sim.stats.byStatus[503] ?? 0) > 0);
      for (let i = 0; i < 20; i++) assert.equal(world.sim.rulesOf(`user${i}@contoso.com`).length, 1);
    });
  });

  it('batches requests; a throttled batch item waits its own Retry-After and is retried alone', async () => {
    // A batch carries requests whose slots lie within a few milliseconds (graph-batch.ts): enough
    // mailboxes for the slow start to pass 333 req/s (a slot every 3 ms).
    await inWorld(
      fresh(200),
      { throttleFirstRequests: { 'user3@contoso.com': 1 }, retryAfterSeconds: 1 },
      async (world) => {
        const result = await world.run(['deploy', '--yes', '--report', 'r']);
        assert.equal(result.code, 0, result.stderr);
        assert.ok(world.sim.stats.batches > 0, 'requests went out as $batch');
        assert.ok(world.sim.stats.httpRequests < world.sim.stats.requests, 'fewer HTTP requests than Graph requests');
        assert.equal(world.sim.stats.throttled, 1);
        assert.equal(world.sim.stats.insideRetryAfterWindow, 0);
        assert.equal(byEmail((await world.report('r')).mailboxes).get('user3@contoso.com')!.attempts, 2);
        for (let i = 0; i < 200; i++) assert.equal(world.sim.rulesOf(`user${i}@contoso.com`).length, 1);
      },
    );
  });

  it('with graph.batchSize 1 every request goes on its own', async () => {
    await inWorld(fresh(4), {}, async (world) => {
      await world.writeConfig({
        sink,
        graph: {
          tenantId: world.tenantId,
          clientId: world.clientId,
          authorityHost: world.sim.url,
          baseUrl: world.sim.url,
          batchSize: 1,
        },
      });
      assert.equal((await world.run(['deploy', '--yes', '--report', 'r'])).code, 0);
      assert.equal(world.sim.stats.batches, 0);
      assert.equal(world.sim.stats.httpRequests, world.sim.stats.requests);
    });
  });

  it('the simulator answers bad requests as Graph documents them', async () => {
    await inWorld(fresh(1), {}, async (world) => {
      const token = await simToken(world);
      const rules = `${world.sim.url}/v1.0/users/user0@contoso.com/mailFolders/inbox/messageRules`;
      const call = async (
        method: string,
        url: string,
        body?: string,
        contentType = 'application/json',
        authorization = `Bearer ${token}`,
      ) => {
        const answer = await httpsCall(method, url, { body, headers: { 'content-type': contentType, authorization } });
        return {
          status: answer.status,
          code: answer.text ? (JSON.parse(answer.text).error?.code as string | undefined) : undefined,
        };
      };
      const rule = {
        displayName: 'r',
        sequence: 1,
        isEnabled: true,
        actions: { forwardAsAttachmentTo: [{ emailAddress: { address: sink } }] },
      };
      assert.deepEqual(await call('GET', rules, undefined, 'application/json', ''), {
        status: 401,
        code: 'InvalidAuthenticationToken',
      });
      assert.deepEqual(
        await call('POST', rules, JSON.stringify({ ...rule, forwardTo: [] })),
        { status: 400, code: 'RequestBodyRead' },
        'a property messageRule does not have',
      );
      assert.deepEqual(
        await call('POST', rules, JSON.stringify({ ...rule, isEnabled: 'yes' })),
        { status: 400, code: 'RequestBodyRead' },
        'a wrong type',
      );
      assert.deepEqual(
        await call('POST', rules, JSON.stringify({ ...rule, sequence: undefined })),
        { status: 400, code: 'ErrorInvalidRequest' },
        'sequence is required',
      );
      assert.deepEqual(
        await call(
          'POST',
          rules,
          JSON.stringify({ ...rule, actions: { forwardAsAttachmentTo: [{ emailAddress: { address: 'nobody' } }] } }),
        ),
        { status: 400, code: 'ErrorInvalidRecipients' },
      );
      assert.deepEqual(
        await call('POST', rules, '{"displayName":'),
        { status: 400, code: 'BadRequest' },
        'malformed JSON',
      );
      assert.deepEqual(await call('POST', rules, JSON.stringify(rule), 'text/plain'), {
        status: 415,
        code: 'UnsupportedMediaType',
      });
      assert.deepEqual(await call('PATCH', `${rules}/AQAAAJ5dZp8=`, JSON.stringify({ isEnabled: false })), {
        status: 404,
        code: 'ErrorItemNotFound',
      });
      assert.equal(world.sim.stats.writes, 0);
      assert.deepEqual(await call('POST', rules, JSON.stringify(rule)), { status: 201, code: undefined });
    });
  });

  it('the simulator answers $batch as Graph documents it', async () => {
    await inWorld(fresh(2), {}, async (world) => {
      const token = await simToken(world);
      const post = (body: unknown) => httpsJson(`${world.sim.url}/v1.0/$batch`, token, body);
      const list = (id: string, user = 'user0') => ({
        id,
        method: 'GET',
        url: `/users/${user}@contoso.com/mailFolders/inbox/messageRules`,
      });
      const ok = await post({
        requests: [
          list('1'),
          list('2', 'user1'),
          { id: '3', method: 'GET', url: '/users/ghost@contoso.com/mailFolders/inbox/messageRules' },
          { ...list('4'), dependsOn: ['3'] },
        ],
      });
      assert.equal(ok.status, 200);
      const statuses = Object.fromEntries(
        (ok.body as { responses: Array<{ id: string; status: number }> }).responses.map((r) => [r.id, r.status]),
      );
      assert.deepEqual(statuses, { '1': 200, '2': 200, '3': 404, '4': 424 });
      assert.equal(
        (await post({ requests: Array.from({ length: 21 }, (_, i) => list(String(i))) })).status,
        400,
        'more than 20 requests',
      );
      assert.equal((await post({ requests: [list('1'), list('1')] })).status, 400, 'duplicate ids');
      const noContentType = await post({
        requests: [
          { id: '1', method: 'POST', url: '/users/user0@contoso.com/mailFolders/inbox/messageRules', body: {} },
        ],
      });
      assert.equal(noContentType.status, 400, 'a body needs a Content-Type header');
    });
  });

  it('writes the three report files with the run section auditors need', async () => {
    await inWorld(fresh(2), {}, async (world) => {
      const result = await world.run(['deploy', '--yes', '--report', 'r']);
      assert.equal(result.code, 0);
      const report = await world.report('r');
      for (const key of [
        'command',
        'startedAt',
        'finishedAt',
        'toolVersion',
        'sink',
        'ruleName',
        'template',
        'input',
        'backEnds',
        'counts',
      ])
        assert.ok(key in report.run, key);
      assert.match(report.run.template.sha256, /^[0-9a-f]{64}$/);
      assert.match(report.run.input.sha256, /^[0-9a-f]{64}$/);
      assert.equal(report.run.backEnds.graph.tenantId, world.tenantId);
      assert.equal(report.run.backEnds.graph.clientId, world.clientId);
      for (const file of ['report.csv', 'report.html']) assert.ok(existsSync(path.join(world.dir, 'r', file)), file);
    });
  });
});

/** A token from the simulator's Entra endpoint, as the app would get it (for Graph's resource). */
async function simToken(world: GraphWorld): Promise<string> {
  const answer = await requestToken(world.sim.url, world.tenantId, {
    client_id: world.clientId,
    client_secret: world.secret,
    scope: `${world.sim.resource}/.default`,
  });
  return answer.body.access_token as string;
}

async function httpsJson(url: string, token: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const answer = await httpsCall('POST', url, {
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  return { status: answer.status, body: answer.text ? JSON.parse(answer.text) : undefined };
}
