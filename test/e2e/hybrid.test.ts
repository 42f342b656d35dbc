import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { EwsSimulator } from '../../simulators/ews/ews-simulator.js';
import { ews } from '../../simulators/scenarios.js';
import { schemaValidator, serviceAccount } from '../helpers/ews-world.js';
import { ewsSchemaDir } from '../../simulators/ews/schema-validator.js';
import { byEmail, certificate, sink, startGraphWorld } from '../helpers/graph-world.js';
import { joined } from '../helpers/pattern.js';

describe('hybrid runs', () => {
  it('routes each row to Graph, EWS or manual in one run with one report, and removes again', async () => {
    const world = await startGraphWorld([
      { email: 'cloud1@contoso.com', kind: 'exchange-online' },
      { email: 'cloud2@contoso.com', kind: 'exchange-online' },
    ]);
    let ewsSim: EwsSimulator | undefined;
    try {
      ewsSim = new EwsSimulator({
        certificate: await certificate(),
        account: { username: serviceAccount, password: 'onprem-password' },
        validator: await schemaValidator(),
        mailboxes: [
          { email: 'onprem1@contoso.com' },
          { email: 'onprem2@contoso.com', rules: [ews.foreignRules.removeSpam] },
        ],
      });
      const ewsUrl = await ewsSim.start();
      await world.writeConfig({
        sink,
        defaultTarget: 'ews',
        graph: {
          tenantId: world.tenantId,
          clientId: world.clientId,
          authorityHost: world.sim.url,
          baseUrl: world.sim.url,
          concurrency: 3,
        },
        ews: { url: ewsUrl, username: serviceAccount, concurrency: 2 },
      });
      await world.writeUsers(
        'email,target,server\ncloud1@contoso.com,graph,\nonprem1@contoso.com,,\ncloud2@contoso.com,graph,\n' +
          'onprem2@contoso.com,ews,\npop@contoso.com,pop3,pop.fabrikam.net\n',
      );
      const env = { SINKRULE_EWS_PASSWORD: 'onprem-password' };
      const deploy = await world.run(['deploy', '--yes', '--report', 'd'], env);
      assert.equal(deploy.code, 0, deploy.stderr);
      const report = await world.report('d');
      const routes = Object.fromEntries(
        report.mailboxes.map((m) => [m.email.split('@')[0], `${m.target}:${m.outcome}`]),
      );
      assert.deepEqual(routes, {
        cloud1: 'graph:created',
        cloud2: 'graph:created',
        onprem1: 'ews:created',
        onprem2: 'ews:created',
        pop: 'pop3:manual',
      });
      assert.deepEqual(Object.keys(report.run.backEnds).sort(), ['ews', 'graph', 'pop3']);
      assert.equal(world.sim.rulesOf('cloud2@contoso.com').length, 1);
      assert.equal(ewsSim.rulesOf('onprem2@contoso.com').length, 2);
      assert.ok(ewsSim.stats.maxConcurrency <= 2, 'EWS kept its own concurrency limit');

      const verify = await world.run(['verify', '--report', 'v', '--output', 'json'], env);
      assert.deepEqual(JSON.parse(verify.stdout).counts, { ok: 4, manual: 1 });
      const remove = await world.run(['remove', '--yes', '--report', 'x'], env);
      assert.equal(remove.code, 0);
      assert.equal(ewsSim.rulesOf('onprem1@contoso.com').length, 0);
      assert.deepEqual(
        ewsSim.rulesOf('onprem2@contoso.com').map((r) => r.DisplayName),
        ['Remove spam'],
      );
      assert.equal(world.sim.rulesOf('cloud1@contoso.com').length, 0);
      assert.equal(byEmail((await world.report('x')).mailboxes).get('pop@contoso.com')!.outcome, 'manual');
      assert.equal(ewsSim.stats.schemaInvalid, 0);
    } finally {
      await ewsSim?.stop();
      await world.close();
    }
  });

  it('the demo runs the hybrid estate end to end and writes the reports', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-demo-test-'));
    try {
      const result = await runCli(['demo', '--report', 'out'], { cwd: dir });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /sinkrule deploy: 19 of 19 mailboxes/);
      assert.match(result.stdout, /sinkrule verify: 19 of 19 mailboxes/);
      assert.match(
        result.stderr,
        ewsSchemaDir()
          ? /every request checked against Microsoft's schema/
          : /schema check off: Microsoft's EWS schema was not found/,
      );
      for (const file of [
        'deploy/report.json',
        'deploy/report.csv',
        'deploy/report.html',
        'deploy/manual-instructions.html',
        'verify/report.html',
      ]) {
        assert.ok(existsSync(path.join(dir, 'out', file)), file);
      }
      const verify = JSON.parse(await readFile(path.join(dir, 'out', 'verify', 'report.json'), 'utf8'));
      assert.deepEqual(verify.run.counts, { ok: 13, manual: 3, 'confirmed-manually': 1, failed: 1, missing: 1 });
      // The closing text speaks from the reports: the two mailboxes left, each with its outcome and fix.
      const closing = result.stderr.slice(result.stderr.lastIndexOf('Verify: '));
      assert.match(
        closing,
        joined(
          /^Verify: 13 of 19 mailboxes have the rule; 4 are POP3\/manual \(instructions written, 1 confirmed /,
          /done\)\.\n3 manual mailboxes wait for the rule to be made by hand/,
        ),
      );
      // The three still waiting (not the confirmed one), each with the instruction file to follow.
      const waiting = [...closing.matchAll(/^- (\S+) \((pop3|manual), [^)]+\): (.+\.md)$/gm)];
      assert.deepEqual(
        waiting.map((m) => m[1]).sort(),
        verify.mailboxes
          .filter((m: { outcome: string }) => m.outcome === 'manual')
          .map((m: { email: string }) => m.email)
          .sort(),
      );
      assert.equal(waiting.length, 3);
      assert.ok(!closing.includes('miriam.graham@contoso.com'), 'the confirmed one is not waiting');
      for (const [, email, , file] of waiting) {
        assert.equal(file, path.join(dir, 'out', 'deploy', 'manual', `${email}.md`));
        assert.match(await readFile(file!, 'utf8'), new RegExp(email!.replace(/\./g, '\\.')), `${file} is ${email}'s`);
      }
      assert.match(closing, /\n2 mailboxes are left for the admin:\n/);
      assert.match(
        closing,
        joined(
          /- emily\.braun@contoso\.com \(graph\): failed \((MailboxNotEnabledForRESTAPI|ResourceNotFound)\): .*set /,
          /target=ews/,
        ),
      );
      assert.match(
        closing,
        /- johanna\.lorenz@contoso\.com \(ews\): missing \(OutlookRuleBlobExists\): .*--remove-outlook-rule-blob/,
      );
      assert.doesNotMatch(closing, /converged/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
