import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import forge from 'node-forge';
import { generate } from 'selfsigned';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { managedIdentityPath, type FederatedCredential } from '../../simulators/graph/identity.js';
import { sink, startGraphWorld, type GraphWorld, type WorldOptions } from '../helpers/graph-world.js';
import { joined } from '../helpers/pattern.js';

/**
 * Every graph.auth kind, through the built CLI, against the Entra simulator: each one reaches
 * Graph when set up right and stops with exit 1 and the fix when not.
 */
const mailboxes: SimulatedMailbox[] = [
  { email: 'a@contoso.com', kind: 'exchange-online' },
  { email: 'b@contoso.com', kind: 'exchange-online' },
];
// No secret in the environment, so nothing but the kind under test can sign in.
const noSecret = { SINKRULE_CLIENT_SECRET: '' };

async function inWorld(options: WorldOptions, body: (world: GraphWorld) => Promise<void>) {
  const world = await startGraphWorld(mailboxes, options);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

const endpoints = (world: GraphWorld) => ({ authorityHost: world.sim.url, baseUrl: world.sim.url });

async function deployed(world: GraphWorld, env: NodeJS.ProcessEnv) {
  const result = await world.run(['deploy', '--yes', '--report', 'r'], { ...noSecret, ...env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(world.sim.rulesOf('b@contoso.com').length, 1, 'the rule reached the mailbox');
  return result;
}

async function refused(world: GraphWorld, env: NodeJS.ProcessEnv, expected: RegExp[]) {
  const result = await world.run(['verify', '--report', 'r'], { ...noSecret, ...env });
  assert.equal(result.code, 1, result.stderr);
  for (const pattern of expected) assert.match(result.stderr, pattern);
  assert.equal(world.sim.stats.requests, 0, 'no Graph request was sent');
  return result;
}

async function appCertificate() {
  return generate([{ name: 'commonName', value: 'sinkrule-app' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
  });
}

function pfx(pems: { private: string; cert: string }, password: string, algorithm: 'aes256' | '3des'): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(
    forge.pki.privateKeyFromPem(pems.private),
    [forge.pki.certificateFromPem(pems.cert)],
    password,
    { algorithm },
  );
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

describe('graph.auth: certificate (PEM or PFX)', () => {
  it(
    'signs in with a password-protected PFX (AES and legacy 3DES), the password from ' +
      'SINKRULE_CERTIFICATE_PASSWORD',
    async () => {
      const pems = await appCertificate();
      await inWorld({ app: { clientSecret: undefined, certificatePem: pems.cert } }, async (world) => {
        await writeFile(path.join(world.dir, 'app.pfx'), pfx(pems, 'Pa55-word', 'aes256'));
        await writeFile(path.join(world.dir, 'legacy.p12'), pfx(pems, 'Pa55-word', '3des'));
        await world.writeConfig({
          sink,
          graph: {
            tenantId: world.tenantId,
            clientId: world.clientId,
            ...endpoints(world),
            auth: 'certificate',
            certificatePath: 'app.pfx',
          },
        });
        const result = await deployed(world, { SINKRULE_CERTIFICATE_PASSWORD: 'Pa55-word' });
        assert.ok(
          !result.stderr.includes('Pa55-word') && !result.stdout.includes('Pa55-word'),
          'the password is never printed',
        );
        await world.writeConfig({
          sink,
          graph: {
            tenantId: world.tenantId,
            clientId: world.clientId,
            ...endpoints(world),
            certificatePath: 'legacy.p12',
          },
        });
        const legacy = await world.run(['verify', '--report', 'r2'], {
          ...noSecret,
          SINKRULE_CERTIFICATE_PASSWORD: 'Pa55-word',
        });
        assert.equal(legacy.code, 0, legacy.stderr);
        assert.equal(
          (await world.report('r2')).run.backEnds.graph.auth,
          'certificate',
          'the kind chosen without graph.auth is reported',
        );
      });
    },
  );

  it('a PFX without its password, with a wrong one, or a certificate the app lacks: exit 1 with the fix', async () => {
    const pems = await appCertificate();
    const other = await appCertificate();
    await inWorld({ app: { clientSecret: undefined, certificatePem: pems.cert } }, async (world) => {
      await writeFile(path.join(world.dir, 'app.pfx'), pfx(pems, 'Pa55-word', 'aes256'));
      await world.writeConfig({
        sink,
        graph: { tenantId: world.tenantId, clientId: world.clientId, ...endpoints(world), certificatePath: 'app.pfx' },
      });
      await refused(world, {}, [
        joined(
          /graph\.certificatePath: .*app\.pfx: cannot open the certificate: the file is password-protected: set /,
          /the environment variable SINKRULE_CERTIFICATE_PASSWORD/,
        ),
      ]);
      const wrong = await refused(world, { SINKRULE_CERTIFICATE_PASSWORD: 'nope-nope' }, [
        /the password in SINKRULE_CERTIFICATE_PASSWORD is wrong for this file/,
      ]);
      assert.ok(!wrong.stderr.includes('nope-nope'));
      await writeFile(path.join(world.dir, 'other.pem'), `${other.private}\n${other.cert}`);
      await writeFile(path.join(world.dir, 'cert-only.pem'), other.cert);
      await world.writeConfig({
        sink,
        graph: {
          tenantId: world.tenantId,
          clientId: world.clientId,
          ...endpoints(world),
          certificatePath: 'cert-only.pem',
        },
      });
      await refused(world, {}, [/cert-only\.pem: no readable private key/]);
      await world.writeConfig({
        sink,
        graph: {
          tenantId: world.tenantId,
          clientId: world.clientId,
          ...endpoints(world),
          certificatePath: 'other.pem',
        },
      });
      await refused(world, {}, [
        joined(
          /graph\.auth "certificate"\): AADSTS700027: The certificate with identifier used to sign the client /,
          /assertion is not registered/,
        ),
        /uploaded to the app registration/,
      ]);
      await world.writeConfig({
        sink,
        graph: { tenantId: world.tenantId, clientId: world.clientId, ...endpoints(world), auth: 'certificate' },
      });
      await refused(world, {}, [/graph\.certificatePath: is required for auth "certificate"/]);
    });
  });
});

describe('graph.auth: managed-identity (App Service / Functions endpoint)', () => {
  const identityHeader = `hdr-${randomUUID()}`;
  const systemAssigned = randomUUID();
  const userAssigned = randomUUID();
  const hosted = (tenantId = randomUUID()): WorldOptions => ({
    managedIdentity: {
      identityHeader,
      tenantId,
      identities: [
        { clientId: systemAssigned, userAssigned: false, roles: ['MailboxSettings.ReadWrite'] },
        { clientId: userAssigned, userAssigned: true, roles: ['MailboxSettings.ReadWrite'] },
      ],
    },
  });
  const environment = (world: GraphWorld, header = identityHeader) => ({
    IDENTITY_ENDPOINT: `${world.sim.url}${managedIdentityPath}`,
    IDENTITY_HEADER: header,
  });

  it('system-assigned and user-assigned identities reach Graph with no secret anywhere', async () => {
    await inWorld(hosted(), async (world) => {
      await world.writeConfig({ sink, graph: { ...endpoints(world), auth: 'managed-identity' } });
      await deployed(world, environment(world));
      await world.writeConfig({
        sink,
        graph: { ...endpoints(world), auth: 'managed-identity', managedIdentityClientId: userAssigned },
      });
      const verify = await world.run(['verify', '--report', 'r2'], { ...noSecret, ...environment(world) });
      assert.equal(verify.code, 0, verify.stderr);
      assert.equal(
        (await world.report('r2')).run.backEnds.graph.clientId,
        userAssigned,
        'the report names the identity that signed in',
      );
      assert.equal((await world.report('r2')).run.backEnds.graph.auth, 'managed-identity', 'and how it signed in');
    });
  });

  it('a wrong IDENTITY_HEADER or an identity not assigned to the resource: exit 1 with the fix', async () => {
    await inWorld(hosted(), async (world) => {
      await world.writeConfig({ sink, graph: { ...endpoints(world), auth: 'managed-identity' } });
      await refused(world, environment(world, 'stale-header'), [
        /graph\.auth "managed-identity"\)/,
        /X-IDENTITY-HEADER/,
        /managed identity/,
      ]);
      await world.writeConfig({
        sink,
        graph: { ...endpoints(world), auth: 'managed-identity', managedIdentityClientId: randomUUID() },
      });
      await refused(world, environment(world), [
        /Unable to load the proper Managed Identity/,
        /managedIdentityClientId/,
      ]);
      await world.writeConfig({
        sink,
        graph: { ...endpoints(world), auth: 'managed-identity', clientId: userAssigned },
      });
      await refused(world, environment(world), [/graph\.clientId: is not used with auth "managed-identity"/]);
    });
  });
});

describe('graph.auth: workload-identity (federated token file)', () => {
  const issuerKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issuer = 'https://token.actions.githubusercontent.com';
  const subject = 'repo:contoso/crm-ops:environment:production';
  const federated: FederatedCredential = {
    issuer,
    subject,
    issuerPublicKeyPem: issuerKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  const federatedToken = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'k1' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        iss: issuer,
        sub: subject,
        aud: 'api://AzureADTokenExchange',
        iat: now,
        nbf: now,
        exp: now + 600,
        ...claims,
      }),
    ).toString('base64url');
    return (
      `${header}.${payload}.` +
      `${sign('sha256', Buffer.from(`${header}.${payload}`), issuerKeys.privateKey).toString('base64url')}`
    );
  };
  const environment = (world: GraphWorld) => ({
    AZURE_FEDERATED_TOKEN_FILE: path.join(world.dir, 'federated-token'),
    AZURE_CLIENT_ID: world.clientId,
    AZURE_TENANT_ID: world.tenantId,
  });

  it(
    'exchanges the platform token for the app token (client id and tenant from AZURE_CLIENT_ID / ' + 'AZURE_TENANT_ID)',
    async () => {
      await inWorld({ app: { clientSecret: undefined, federatedCredentials: [federated] } }, async (world) => {
        await writeFile(path.join(world.dir, 'federated-token'), federatedToken({}));
        await world.writeConfig({ sink, graph: { ...endpoints(world), auth: 'workload-identity' } });
        await deployed(world, environment(world));
      });
    },
  );

  it('another subject, another audience, a forged signature or no token file: exit 1 with the fix', async () => {
    await inWorld({ app: { clientSecret: undefined, federatedCredentials: [federated] } }, async (world) => {
      await world.writeConfig({ sink, graph: { ...endpoints(world), auth: 'workload-identity' } });
      const tokenFile = path.join(world.dir, 'federated-token');
      await writeFile(tokenFile, federatedToken({ sub: 'repo:contoso/crm-ops:ref:refs/heads/feature' }));
      await refused(world, environment(world), [
        joined(
          /AADSTS700213: No matching federated identity record found for presented assertion subject 'repo:/,
          /contoso\/crm-ops:ref:refs\/heads\/feature'/,
        ),
        /federated credential whose issuer, subject and audience/,
      ]);
      await writeFile(tokenFile, federatedToken({ aud: 'api://SomethingElse' }));
      await refused(world, environment(world), [/AADSTS700212/]);
      const forged = federatedToken({}).split('.');
      await writeFile(tokenFile, `${forged[0]}.${forged[1]}.${Buffer.from('forged').toString('base64url')}`);
      await refused(world, environment(world), [/AADSTS50013: Assertion failed signature validation/]);
      await refused(world, { ...environment(world), AZURE_FEDERATED_TOKEN_FILE: '' }, [
        /graph\.auth is "workload-identity": set the environment variable AZURE_FEDERATED_TOKEN_FILE/,
      ]);
    });
  });
});

describe('graph.auth: default (DefaultAzureCredential chain) and the choice itself', () => {
  it('the chain signs in with the AZURE_* environment', async () => {
    await inWorld({}, async (world) => {
      await world.writeConfig({ sink, graph: { tenantId: world.tenantId, ...endpoints(world), auth: 'default' } });
      await deployed(world, {
        AZURE_TENANT_ID: world.tenantId,
        AZURE_CLIENT_ID: world.clientId,
        AZURE_CLIENT_SECRET: world.secret,
      });
    });
  });

  it("a chain that finds nothing: exit 1 with each credential's reason", async () => {
    await inWorld({}, async (world) => {
      await world.writeConfig({ sink, graph: { ...endpoints(world), auth: 'default' } });
      const nothing = {
        AZURE_TENANT_ID: '',
        AZURE_CLIENT_ID: '',
        AZURE_CLIENT_SECRET: '',
        AZURE_FEDERATED_TOKEN_FILE: '',
        IDENTITY_ENDPOINT: '',
        IDENTITY_HEADER: '',
      };
      await refused(world, nothing, [
        /graph\.auth "default"\): EnvironmentCredential is unavailable/,
        /No credential of the DefaultAzureCredential chain worked/,
      ]);
    });
  });

  it(
    'no auth, no secret and no certificate: exit 1 naming every choice; auth "secret" without the variable: ' +
      'exit 1',
    async () => {
      await inWorld({}, async (world) => {
        await refused(world, {}, [
          joined(
            /graph\.auth: no credential: set the environment variable SINKRULE_CLIENT_SECRET /,
            /.*certificatePath.*"managed-identity", "workload-identity" or "default"/,
          ),
        ]);
        await world.writeConfig({
          sink,
          graph: { tenantId: world.tenantId, clientId: world.clientId, ...endpoints(world), auth: 'secret' },
        });
        await refused(world, {}, [/graph\.auth is "secret": set the environment variable SINKRULE_CLIENT_SECRET/]);
        await world.writeConfig({ sink, graph: { ...endpoints(world), auth: 'kerberos' } });
        await refused(world, {}, [
          joined(
            /graph\.auth: Invalid option: expected one of /,
            /"secret"\|"certificate"\|"managed-identity"\|"workload-identity"\|"default"/,
          ),
        ]);
      });
    },
  );
});

describe('ews.oauth.auth: the same kinds for on-premises modern authentication', () => {
  it('a PFX certificate signs in to the Exchange server; a federated token of another subject is refused', async () => {
    const { startEwsWorld } = await import('../helpers/ews-world.js');
    const pems = await appCertificate();
    const issuerKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const federatedCredentials: FederatedCredential[] = [
      {
        issuer: 'https://issuer.contoso.com',
        subject: 'system:serviceaccount:crm:sinkrule',
        issuerPublicKeyPem: issuerKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    ];
    const app = {
      tenantId: randomUUID(),
      clientId: randomUUID(),
      certificatePem: pems.cert,
      federatedCredentials,
      roles: [],
    };
    const world = await startEwsWorld([{ email: 'a@contoso.com' }], { oauthApp: app });
    try {
      const origin = new URL(world.sim.url).origin;
      await writeFile(path.join(world.dir, 'ews-app.pfx'), pfx(pems, 'ews-pfx-pw', 'aes256'));
      await world.writeConfig({
        auth: 'oauth',
        username: undefined,
        oauth: {
          tenantId: app.tenantId,
          clientId: app.clientId,
          authorityHost: origin,
          auth: 'certificate',
          certificatePath: 'ews-app.pfx',
        },
      });
      const result = await world.run(['deploy', '--yes', '--report', 'r'], {
        SINKRULE_EWS_PASSWORD: '',
        SINKRULE_CERTIFICATE_PASSWORD: 'ews-pfx-pw',
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(world.sim.rulesOf('a@contoso.com').length, 1);
      const now = Math.floor(Date.now() / 1000);
      const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url');
      const payload = Buffer.from(
        JSON.stringify({
          iss: 'https://issuer.contoso.com',
          sub: 'system:serviceaccount:default:other',
          aud: 'api://AzureADTokenExchange',
          exp: now + 600,
        }),
      ).toString('base64url');
      await writeFile(
        path.join(world.dir, 'token'),
        `${header}.${payload}.` +
          `${sign('sha256', Buffer.from(`${header}.${payload}`), issuerKeys.privateKey).toString('base64url')}`,
      );
      await world.writeConfig({
        auth: 'oauth',
        username: undefined,
        oauth: { tenantId: app.tenantId, clientId: app.clientId, authorityHost: origin, auth: 'workload-identity' },
      });
      const refusedRun = await world.run(['verify', '--report', 'r2'], {
        SINKRULE_EWS_PASSWORD: '',
        AZURE_FEDERATED_TOKEN_FILE: path.join(world.dir, 'token'),
      });
      assert.equal(refusedRun.code, 1);
      assert.match(refusedRun.stderr, /ews\.oauth\.auth "workload-identity"\): AADSTS700213/);
    } finally {
      await world.close();
    }
  });
});
