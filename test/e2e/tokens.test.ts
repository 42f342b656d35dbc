import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { sink, startGraphWorld, type GraphWorld, type WorldOptions } from '../helpers/graph-world.js';
import { claimsOf, httpsCall, requestToken } from '../helpers/https.js';

const alex: SimulatedMailbox[] = [{ email: 'alex@contoso.com', kind: 'exchange-online' }];

async function inWorld(options: WorldOptions, body: (world: GraphWorld) => Promise<void>) {
  const world = await startGraphWorld(alex, options);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

/**
 * Entra issues a token for a resource (application ID URI); Graph's resource belongs to the cloud,
 * wherever the requests are sent (exchange-facts.md, "Tokens"). The simulators hold sinkrule to it.
 */
describe('tokens', () => {
  it(
    "asks for the cloud's Graph resource, not graph.baseUrl: a national cloud works through a private " +
      'endpoint, a wrong cloud stops with AADSTS500011',
    async () => {
      await inWorld({ cloud: 'usgov' }, async (world) => {
        const graph = {
          tenantId: world.tenantId,
          clientId: world.clientId,
          authorityHost: world.sim.url,
          baseUrl: world.sim.url,
        };
        await world.writeConfig({ sink, graph: { ...graph, cloud: 'usgov' } });
        const deploy = await world.run(['deploy', '--yes', '--report', 'r']);
        assert.equal(deploy.code, 0, deploy.stderr);
        assert.equal((await world.report('r')).run.backEnds.graph.tokenScope, 'https://graph.microsoft.us/.default');
        assert.equal(world.sim.rulesOf('alex@contoso.com').length, 1);

        const requestsBefore = world.sim.stats.requests;
        await world.writeConfig({ sink, graph }); // cloud global: Graph's resource is https://graph.microsoft.com
        const wrongCloud = await world.run(['verify', '--report', 'v']);
        assert.equal(wrongCloud.code, 1);
        assert.match(
          wrongCloud.stderr,
          /AADSTS500011: The resource principal named https:\/\/graph\.microsoft\.com was not found in the tenant/,
        );
        assert.equal(world.sim.stats.requests, requestsBefore, 'no Graph request without a token');
      });
    },
  );

  it(
    'Entra issues tokens only for resources the tenant knows, with aud, roles, appid/azp, tid and ' + 'app_displayname',
    async () => {
      await inWorld({ app: { displayName: 'sinkrule (Contoso)' } }, async (world) => {
        const credentials = { client_id: world.clientId, client_secret: world.secret };
        const unknown = await requestToken(world.sim.url, world.tenantId, {
          ...credentials,
          scope: `${world.sim.url}/.default`,
        });
        assert.equal(unknown.status, 400);
        assert.equal(unknown.body.error, 'invalid_resource');
        assert.deepEqual(unknown.body.error_codes, [500011]);
        assert.match(
          unknown.body.error_description,
          new RegExp(
            `^AADSTS500011: The resource principal named ${world.sim.url} was not found in the tenant named ` +
              `${world.tenantId}\\.`,
          ),
        );

        const errorOf = async (tenant: string, form: Record<string, string>) => {
          const answer = await requestToken(world.sim.url, tenant, form);
          return `${answer.status} ${answer.body.error} ${answer.body.error_codes}`;
        };
        const graphScope = { scope: `${world.sim.resource}/.default` };
        assert.equal(
          await errorOf('00000000-0000-0000-0000-000000000001', { ...credentials, ...graphScope }),
          '400 invalid_tenant 90002',
        );
        assert.equal(
          await errorOf(world.tenantId, {
            ...credentials,
            ...graphScope,
            client_id: '00000000-0000-0000-0000-000000000002',
          }),
          '400 unauthorized_client 700016',
        );
        assert.equal(
          await errorOf(world.tenantId, { ...credentials, ...graphScope, grant_type: 'password' }),
          '400 unsupported_grant_type 70003',
        );

        const notDefault = await requestToken(world.sim.url, world.tenantId, {
          ...credentials,
          scope: `${world.sim.resource}/MailboxSettings.ReadWrite`,
        });
        assert.equal(notDefault.body.error, 'invalid_scope', 'client credentials take <resource>/.default only');

        const granted = await requestToken(world.sim.url, world.tenantId, {
          ...credentials,
          scope: 'https://graph.microsoft.com/.default',
        });
        assert.equal(granted.status, 200);
        const claims = claimsOf(granted.body.access_token);
        assert.equal(claims.aud, 'https://graph.microsoft.com');
        assert.deepEqual(claims.roles, ['MailboxSettings.ReadWrite']);
        assert.equal(claims.appid, world.clientId);
        assert.equal(claims.azp, world.clientId);
        assert.equal(claims.tid, world.tenantId);
        assert.equal(claims.app_displayname, 'sinkrule (Contoso)');
      });
    },
  );

  it(
    'Graph refuses a token issued for another resource (401 InvalidAuthenticationToken) and one without the ' +
      'permission (403)',
    async () => {
      await inWorld({}, async (world) => {
        const get = (token: string) =>
          httpsCall('GET', `${world.sim.url}/v1.0/users/alex@contoso.com/mailFolders/inbox/messageRules`, {
            headers: { authorization: `Bearer ${token}` },
          });
        const tokenFor = async (scope: string) =>
          (
            await requestToken(world.sim.url, world.tenantId, {
              client_id: world.clientId,
              client_secret: world.secret,
              scope,
            })
          ).body.access_token as string;
        // A resource the tenant knows, but not Graph.
        const exchangeToken = await tokenFor('https://outlook.office365.com/.default');
        const wrongAudience = await get(exchangeToken);
        assert.equal(wrongAudience.status, 401);
        const error = JSON.parse(wrongAudience.text).error;
        assert.equal(error.code, 'InvalidAuthenticationToken');
        assert.equal(error.message, 'Access token validation failure. Invalid audience.');
        assert.deepEqual(Object.keys(error.innerError).sort(), ['client-request-id', 'date', 'request-id']);
        assert.equal((await get(await tokenFor(`${world.sim.resource}/.default`))).status, 200);
      });
      await inWorld({ app: { roles: [] } }, async (world) => {
        const token = (
          await requestToken(world.sim.url, world.tenantId, {
            client_id: world.clientId,
            client_secret: world.secret,
            scope: `${world.sim.resource}/.default`,
          })
        ).body.access_token as string;
        assert.equal(claimsOf(token).roles, undefined, 'Entra leaves out an empty roles claim');
        const denied = await httpsCall(
          'GET',
          `${world.sim.url}/v1.0/users/alex@contoso.com/mailFolders/inbox/messageRules`,
          { headers: { authorization: `Bearer ${token}` } },
        );
        assert.equal(denied.status, 403);
        assert.equal(JSON.parse(denied.text).error.code, 'ErrorAccessDenied');
      });
    },
  );
});
