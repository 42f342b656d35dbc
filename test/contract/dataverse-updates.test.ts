import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { DataverseSimulator } from '../../simulators/dataverse/dataverse-simulator.js';
import { GraphSimulator } from '../../simulators/graph/graph-simulator.js';
import { certificate } from '../helpers/graph-world.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const profileId = 'aaaaaaaa-0000-0000-0000-000000000001';

/**
 * The Dataverse simulator's mailbox writes answer as "Update and delete table rows", "Perform
 * conditional operations" and exchange-facts.md ("Dataverse mailbox updates") say, refusals included:
 * a stale If-Match, a missing privilege, the upsert a PATCH without If-Match makes, and the
 * asynchronous "Test & Enable".
 */
describe('Dataverse simulator: mailbox updates (If-Match, privileges, upsert, the asynchronous test)', () => {
  const writer = { tenantId: randomUUID(), clientId: randomUUID(), clientSecret: 'secret-value', roles: [] };
  let graph: GraphSimulator;
  let dataverse: DataverseSimulator;
  /** The same app in an environment where its security role cannot write mailboxes. */
  let readOnly: DataverseSimulator;
  let ca: string;
  const tokens = new Map<string, string>();

  const call = (method: string, url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method, ca, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }),
        );
      });
      req.on('error', reject);
      req.end(body);
    });
  const tokenFor = async (resource: string) =>
    (
      await call(
        'POST',
        `${graph.url}/${writer.tenantId}/oauth2/v2.0/token`,
        { 'content-type': 'application/x-www-form-urlencoded' },
        new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: writer.clientId,
          client_secret: writer.clientSecret,
          scope: `${resource}/.default`,
        }).toString(),
      )
    ).body.access_token as string;
  const record = (n: number, env = dataverse) =>
    call('GET', `${env.url}/api/data/v9.2/mailboxes(${id(n)})`, { authorization: `Bearer ${tokens.get(env.url)}` });
  const patch = (n: number, body: unknown, ifMatch?: string, env = dataverse) =>
    call(
      'PATCH',
      `${env.url}/api/data/v9.2/mailboxes(${id(n)})`,
      {
        authorization: `Bearer ${tokens.get(env.url)}`,
        'content-type': 'application/json',
        ...(ifMatch ? { 'if-match': ifMatch } : {}),
      },
      JSON.stringify(body),
    );

  before(async () => {
    const cert = await certificate();
    ca = cert.cert;
    graph = new GraphSimulator({ certificate: cert, app: writer });
    await graph.start();
    const user = (n: number, testResult: 'success' | 'failure' | 'never') => ({
      mailboxid: id(n),
      name: `User ${n}`,
      emailaddress: `user${n}@contoso.com`,
      incomingemaildeliverymethod: 3 as const,
      isforwardmailbox: false,
      emailServerProfileId: profileId,
      testResult,
    });
    const environment = (canWriteMailboxes: boolean) =>
      new DataverseSimulator({
        certificate: cert,
        identity: graph.identity,
        applicationUsers: [{ appId: writer.clientId, canReadMailboxes: true, canWriteMailboxes }],
        mailboxes: [user(1, 'success'), user(2, 'failure'), user(3, 'never')],
        emailServerProfiles: [{ emailserverprofileid: profileId, name: 'Exchange Online' }],
        testDelayInMs: 50,
      });
    dataverse = environment(true);
    readOnly = environment(false);
    for (const env of [dataverse, readOnly]) tokens.set(await env.start(), await tokenFor(env.url));
  });
  after(async () => {
    await Promise.all([graph.stop(), dataverse.stop(), readOnly.stop()]);
  });

  it('a stale If-Match answers 412 0x80060882 and changes nothing; every write gives a new etag', async () => {
    const read = await record(1);
    const etag = read.body['@odata.etag'] as string;
    assert.match(etag, /^W\/"\d+"$/);
    const first = await patch(1, { incomingemaildeliverymethod: 3 }, etag);
    assert.equal(first.status, 204);
    const after = (await record(1)).body['@odata.etag'];
    assert.notEqual(after, etag, 'a write changes the etag');
    const stale = await patch(1, { incomingemaildeliverymethod: 2 }, etag);
    assert.equal(stale.status, 412);
    assert.deepEqual(stale.body, {
      error: {
        code: '0x80060882',
        message: "The version of the existing record doesn't match the RowVersion property provided.",
      },
    });
    assert.equal((await record(1)).body.incomingemaildeliverymethod, 3);
  });

  it('without If-Match a PATCH to an unknown id creates the row (upsert); If-Match: * does not', async () => {
    assert.equal((await patch(77, { name: 'created by upsert' }, '*')).status, 404);
    assert.equal((await record(77)).status, 404);
    assert.equal((await patch(77, { name: 'created by upsert' })).status, 204);
    assert.equal((await record(77)).body.name, 'created by upsert');
  });

  it("an application user without Write on Mailbox gets 403 0x80040220 in Dataverse's error shape", async () => {
    const etag = (await record(2, readOnly)).body['@odata.etag'];
    const refused = await patch(2, { incomingemaildeliverymethod: 2 }, etag, readOnly);
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error.code, '0x80040220');
    assert.match(refused.body.error.message, /is missing prvWriteMailbox privilege .* for entity 'mailbox'/);
    assert.deepEqual(Object.keys(refused.body), ['error']);
  });

  it('refuses read-only columns and a bind to a profile that does not exist', async () => {
    const etag = (await record(2)).body['@odata.etag'];
    assert.equal((await patch(2, { incomingemailstatus: 1 }, etag)).status, 400, 'the test result is the service’s');
    const bind = await patch(2, { 'emailserverprofile@odata.bind': `/emailserverprofiles(${id(5)})` }, etag);
    assert.equal(bind.status, 404);
    assert.equal(bind.body.error.code, '0x80040217');
  });

  it('Test & Enable runs later: Success, Failure, or never; the result is a write of its own (new etag)', async () => {
    const switched = new Map<number, string>();
    for (const n of [1, 2, 3]) {
      const etag = (await record(n)).body['@odata.etag'];
      const answer = await patch(n, { incomingemaildeliverymethod: 2, testemailconfigurationscheduled: true }, etag);
      assert.equal(answer.status, 204);
      switched.set(n, (await record(n)).body['@odata.etag']);
      assert.equal((await record(n)).body.testmailboxaccesscompletedon, null, 'not tested yet');
    }
    await delay(300);
    const [one, two, three] = await Promise.all([record(1), record(2), record(3)]);
    assert.equal(one.body.incomingemailstatus, 1);
    assert.match(one.body.testmailboxaccesscompletedon, /^\d{4}-\d\d-\d\dT/);
    assert.notEqual(one.body['@odata.etag'], switched.get(1));
    assert.equal(two.body.incomingemailstatus, 2);
    assert.equal(three.body.testmailboxaccesscompletedon, null, 'never completes');
    assert.equal(three.body['@odata.etag'], switched.get(3));
  });
});
