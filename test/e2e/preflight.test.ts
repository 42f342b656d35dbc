import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { startEwsWorld } from '../helpers/ews-world.js';
import { sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';

const probeFrom = 'sinkrule-probe@contoso.com';
const allRoles = ['MailboxSettings.ReadWrite', 'Mail.Send', 'Mail.ReadWrite', 'Domain.Read.All'];
const users = Array.from({ length: 8 }, (_, i): SimulatedMailbox => ({
  email: `user${i}@contoso.com`,
  kind: 'exchange-online',
}));

async function inWorld(
  options: { roles?: string[]; mailboxes?: SimulatedMailbox[]; config?: Record<string, unknown> },
  body: (w: GraphWorld) => Promise<void>,
) {
  const mailboxes = options.mailboxes ?? users;
  const w = await startGraphWorld(
    [{ email: sink, kind: 'exchange-online' }, { email: probeFrom, kind: 'exchange-online' }, ...mailboxes],
    { app: { roles: options.roles ?? allRoles } },
  );
  try {
    await w.writeConfig({
      sink,
      graph: { tenantId: w.tenantId, clientId: w.clientId, authorityHost: w.sim.url, baseUrl: w.sim.url },
      probe: { from: probeFrom },
      ...options.config,
    });
    await w.writeUsers(`email\n${mailboxes.map((m) => m.email).join('\n')}\n`);
    await body(w);
  } finally {
    await w.close();
  }
}

type Check = { check: string; status: string; detail: string; fix: string };
async function preflight(
  w: GraphWorld,
  args: string[] = [],
): Promise<{ code: number; checks: Map<string, Check>; stderr: string }> {
  const result = await w.run(['preflight', '--output', 'json', ...args]);
  const parsed = result.stdout ? (JSON.parse(result.stdout) as { checks: Check[] }) : { checks: [] };
  return { code: result.code, checks: new Map(parsed.checks.map((c) => [c.check, c])), stderr: result.stderr };
}

describe('preflight', () => {
  it('passes a ready tenant, reads a sample spread over the file and writes nothing', async () => {
    await inWorld({}, async (w) => {
      const { code, checks, stderr } = await preflight(w, ['--sample', '3']);
      assert.equal(code, 0, stderr);
      for (const name of ['token', 'permission', 'sink-mailbox', 'sink-domain', 'sample-access', 'probe'])
        assert.equal(checks.get(name)?.status, 'pass', `${name}: ${checks.get(name)?.detail}`);
      assert.equal(checks.get('ews')?.status, 'skip');
      assert.equal(checks.get('dataverse')?.status, 'skip');
      assert.match(checks.get('sample-access')!.detail, /3 mailboxes spread/);
      assert.equal(w.sim.stats.writes, 0);
      assert.equal(existsSync(path.join(w.dir, 'sinkrule-report-preflight')), false);
    });
  });

  it('fails on a missing role, with the permission to grant', async () => {
    await inWorld({ roles: ['Mail.Send'] }, async (w) => {
      const { code, checks } = await preflight(w);
      assert.equal(code, 2);
      assert.equal(checks.get('permission')!.status, 'fail');
      assert.match(checks.get('permission')!.detail, /MailboxSettings\.ReadWrite is missing/);
      assert.match(checks.get('permission')!.fix, /MailboxSettings\.ReadWrite/);
      assert.equal(checks.get('sample-access')!.status, 'fail', 'Graph refuses to list rules without the permission');
      assert.equal(checks.get('probe')!.status, 'fail');
      assert.match(checks.get('probe')!.detail, /Mail\.ReadWrite/);
      assert.equal(
        checks.get('sink-domain')!.status,
        'warn',
        'no Domain.Read.All: cannot tell, and says which permission',
      );
      assert.match(checks.get('sink-domain')!.fix, /Domain\.Read\.All/);
    });
  });

  it('fails on an external sink: NDR 5.7.520', async () => {
    await inWorld({ config: { sink: 'crm@partner-example.net' } }, async (w) => {
      const { code, checks } = await preflight(w);
      assert.equal(code, 2);
      assert.equal(checks.get('sink-domain')!.status, 'fail');
      assert.match(
        checks.get('sink-domain')!.detail,
        /crm@partner-example\.net: not in the tenant's verified domains .*5\.7\.520/,
      );
      assert.match(checks.get('sink-domain')!.fix, /your own domains/);
      assert.equal(checks.get('sink-mailbox')!.status, 'fail');
    });
  });

  it("fails on a mailbox outside the app's RBAC scope, naming it and the scope fix", async () => {
    const mailboxes = users.map((m, i) => (i === 6 ? { ...m, outOfScope: true } : m));
    await inWorld({ mailboxes }, async (w) => {
      const { code, checks } = await preflight(w, ['--sample', '8']);
      assert.equal(code, 2);
      const sample = checks.get('sample-access')!;
      assert.equal(sample.status, 'fail');
      assert.match(sample.detail, /7 of 8 sample mailboxes readable; user6@contoso\.com \(line 8\): ErrorAccessDenied/);
      assert.match(sample.fix, /RBAC for Applications scope/);
    });
  });

  it('stops with exit 1 on invalid input', async () => {
    await inWorld({}, async (w) => {
      const result = await w.run(['preflight', '--sample', 'many']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /--sample: must be a whole number/);
    });
  });

  it('fails the token check on a wrong secret, with the AADSTS message', async () => {
    await inWorld({}, async (w) => {
      const result = await w.run(['preflight'], { SINKRULE_CLIENT_SECRET: 'wrong-secret-value' });
      assert.equal(result.code, 2);
      assert.match(result.stdout, /fail {2}token {9}Cannot get a token.*AADSTS7000215/);
      assert.ok(!result.stdout.includes('wrong-secret-value'));
    });
  });

  it('checks EWS impersonation on a sample on-premises mailbox; no Graph checks without Graph rows', async () => {
    const world = await startEwsWorld([{ email: 'onprem1@contoso.com', impersonationDenied: true }]);
    try {
      const result = await world.run(['preflight', '--output', 'json']);
      assert.equal(result.code, 2, result.stderr);
      const checks = new Map((JSON.parse(result.stdout) as { checks: Check[] }).checks.map((c) => [c.check, c]));
      assert.equal(checks.get('ews')!.status, 'fail');
      assert.match(checks.get('ews')!.detail, /onprem1@contoso\.com: ErrorImpersonateUserDenied/);
      assert.match(checks.get('ews')!.fix, /ApplicationImpersonation|impersonat/i);
      assert.equal(checks.get('token')!.status, 'skip');
    } finally {
      await world.close();
    }
  });
});
