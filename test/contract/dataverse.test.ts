import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { DataverseSimulator } from '../../simulators/dataverse/dataverse-simulator.js';
import { compileFilter } from '../../simulators/dataverse/odata-filter.js';
import { GraphSimulator } from '../../simulators/graph/graph-simulator.js';
import { certificate } from '../helpers/graph-world.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/**
 * The Dataverse simulator answers as the Web API documentation says, including what it refuses:
 * a simulator that accepted any query would let a wrong client pass.
 */
describe('Dataverse simulator (what the Web API accepts and refuses)', () => {
  const app = { tenantId: randomUUID(), clientId: randomUUID(), clientSecret: 'secret-value', roles: [] };
  let graph: GraphSimulator;
  let dataverse: DataverseSimulator;
  let ca: string;
  let token: string;

  const call = (url: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: body === undefined ? 'GET' : 'POST', ca, headers }, (res) => {
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
    call(
      `${graph.url}/${app.tenantId}/oauth2/v2.0/token`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.clientId,
        client_secret: app.clientSecret,
        scope: `${resource}/.default`,
      }).toString(),
    );
  const query = (params: string, prefer = '') =>
    call(`${dataverse.url}/api/data/v9.2/mailboxes?${params}`, {
      authorization: `Bearer ${token}`,
      ...(prefer ? { prefer } : {}),
    });

  before(async () => {
    const cert = await certificate();
    ca = cert.cert;
    graph = new GraphSimulator({ certificate: cert, app });
    await graph.start();
    const mailboxes = Array.from({ length: 5 }, (_, i) => ({
      name: `User ${i}`,
      emailaddress: `User${i}@contoso.com`,
      incomingemaildeliverymethod: 3 as const,
      isforwardmailbox: false,
    }));
    dataverse = new DataverseSimulator({
      certificate: cert,
      identity: graph.identity,
      applicationUsers: [{ appId: app.clientId, canReadMailboxes: true }],
      mailboxes: [...mailboxes, { name: 'Sink', incomingemaildeliverymethod: 2 }],
    });
    await dataverse.start();
    token = (await tokenFor(dataverse.url)).body.access_token;
  });
  after(async () => {
    await Promise.all([graph.stop(), dataverse.stop()]);
  });

  it(
    'refuses unknown columns in $filter (0x80060888) and $select (0x0), $skip, wrong types and unknown entity ' +
      'sets',
    async () => {
      const unknownFilter = await query(`$filter=${encodeURIComponent('emailadress eq null')}`);
      assert.equal(unknownFilter.status, 400);
      assert.deepEqual(unknownFilter.body, {
        error: {
          code: '0x80060888',
          message: "Could not find a property named 'emailadress' on type 'Microsoft.Dynamics.CRM.mailbox'.",
        },
      });
      const unknownSelect = await query('$select=Name');
      assert.equal(unknownSelect.status, 400);
      assert.equal(unknownSelect.body.error.code, '0x0');
      assert.equal((await query('$skip=2')).status, 400, 'Dataverse does not support $skip');
      const wrongType = await query(`$filter=${encodeURIComponent('isforwardmailbox eq 3')}`);
      assert.equal(wrongType.status, 400);
      assert.match(wrongType.body.error.message, /incompatible types/);
      assert.equal((await query(`$filter=${encodeURIComponent('statecode eq')}`)).status, 400);
      const segment = await call(`${dataverse.url}/api/data/v9.2/Mailboxes`, { authorization: `Bearer ${token}` });
      assert.equal(segment.status, 404);
      assert.deepEqual(segment.body, {
        error: { code: '0x8006088a', message: "Resource not found for the segment 'Mailboxes'." },
      });
    },
  );

  it('pages by Prefer: odata.maxpagesize with @odata.nextLink; labels only when asked; at most 5000', async () => {
    const first = await query(
      `$select=name,isforwardmailbox&$filter=${encodeURIComponent('isforwardmailbox eq false')}`,
      'odata.maxpagesize=2',
    );
    assert.equal(first.status, 200);
    assert.equal(first.headers['preference-applied'], 'odata.maxpagesize=2');
    assert.equal(first.body.value.length, 2);
    assert.equal(
      first.body.value[0]['isforwardmailbox@OData.Community.Display.V1.FormattedValue'],
      undefined,
      'no label unless asked',
    );
    const names: string[] = first.body.value.map((row: { name: string }) => row.name);
    for (let next = first.body['@odata.nextLink']; next;) {
      const page = await call(next, { authorization: `Bearer ${token}`, prefer: 'odata.maxpagesize=2' });
      names.push(...page.body.value.map((row: { name: string }) => row.name));
      next = page.body['@odata.nextLink'];
    }
    assert.deepEqual(names.sort(), ['User 0', 'User 1', 'User 2', 'User 3', 'User 4'], 'every row once');
    const labelled = await query(
      '$select=isforwardmailbox',
      'odata.maxpagesize=9000,odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
    );
    assert.match(String(labelled.headers['preference-applied']), /odata\.maxpagesize=5000/);
    assert.equal(
      labelled.body.value.find((row: { isforwardmailbox: boolean }) => row.isforwardmailbox)[
        'isforwardmailbox@OData.Community.Display.V1.FormattedValue'
      ],
      'Yes',
      'isforwardmailbox defaults to Yes, as documented',
    );
  });

  it("refuses a token for another resource (401) and an unknown resource's token request (AADSTS500011)", async () => {
    const graphToken = (await tokenFor(graph.resource)).body.access_token;
    assert.ok(graphToken, 'Entra issues a Graph token');
    const refused = await call(`${dataverse.url}/api/data/v9.2/mailboxes`, { authorization: `Bearer ${graphToken}` });
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /^Bearer error="invalid_token"/);
    const unknown = await tokenFor('https://contoso.crm.dynamics.com');
    assert.equal(unknown.status, 400);
    assert.match(
      unknown.body.error_description,
      /^AADSTS500011: The resource principal named https:\/\/contoso.crm.dynamics.com was not found/,
    );
  });

  it('$filter: and/or/not, parentheses, null and case-insensitive text, as OData defines them', () => {
    const columns = { a: 'Edm.Int32', b: 'Edm.Boolean', c: 'Edm.String' } as const;
    const match = (filter: string, row: Record<string, unknown>) => compileFilter(filter, columns, 'T')(row);
    assert.equal(match('a eq 3 and b eq false', { a: 3, b: false }), true);
    assert.equal(match('a eq 3 and (b eq true or c eq null)', { a: 3, b: false, c: null }), true);
    assert.equal(match('not (a ne 3)', { a: 3 }), true);
    assert.equal(match("c eq 'O''Brien@Contoso.com'", { c: "o'brien@contoso.com" }), true);
    assert.equal(match('a ge 2 and a lt 3', { a: 3 }), false);
    assert.throws(() => match('a eq 3 and', {}), /Syntax error/);
    assert.throws(() => match('a eq 3 xor b eq true', {}), /Syntax error/);
  });
});
