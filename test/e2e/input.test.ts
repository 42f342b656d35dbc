import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';

/**
 * Bad input of every kind: exit 1, every problem as FILE:LINE (or the config key) with a fix,
 * "Nothing was changed", and not a single request to the service.
 */
describe('input validation at the edge', () => {
  let world: GraphWorld;
  before(async () => {
    world = await startGraphWorld([{ email: 'alex@contoso.com', kind: 'exchange-online' }]);
  });
  after(() => world.close());

  async function rejects(args: string[], patterns: RegExp[]) {
    const requestsBefore = world.sim.stats.requests + world.sim.identity.tokenRequests;
    const result = await world.run(args);
    assert.equal(result.code, 1, result.stderr);
    for (const pattern of patterns) assert.match(result.stderr, pattern);
    assert.match(result.stderr, /Nothing was changed/);
    assert.equal(world.sim.stats.requests + world.sim.identity.tokenRequests, requestsBefore, 'no request reached the service');
    return result;
  }

  it('lists every problem of a users file with its line, and changes nothing', async () => {
    await world.writeUsers(
      [
        'email,displayName,target,sink',
        'alex@contoso.com,Alex,,',
        'not-an-address,Bad,,',
        '',
        'ALEX@contoso.com,Alex again,,',
        `${sink},The sink,,`,
        'megan@contoso.com,Megan,exchange,',
        'lee@contoso.com,Lee,graph,not-a-sink',
        ',No address,,x@contoso.com',
      ].join('\n'),
    );
    const result = await rejects(['deploy', '--yes'], [
      /users\.csv:3: "not-an-address" is not a valid email address/,
      /users\.csv:5: ALEX@contoso\.com is listed twice \(first on line 2\)/,
      /users\.csv:6: crm-sink@contoso\.com is the forward mailbox \(sink\) itself/,
      /users\.csv:7: target "exchange" is not one of/,
      /users\.csv:8: sink "not-a-sink" is not a valid email address/,
      /users\.csv:9: email is empty/,
    ]);
    assert.ok(!/users\.csv:2:/.test(result.stderr), 'a good row is not reported');
  });

  it('rejects an unknown column, naming the known ones', async () => {
    await world.writeUsers('emial,displayName\nalex@contoso.com,Alex\n');
    await rejects(['verify'], [/users\.csv:1: unknown column "emial" in the header: use email, displayName/]);
  });

  it('reports an unclosed quote and a wrong number of fields with their line', async () => {
    await world.writeUsers('email,displayName\nalex@contoso.com,Alex,extra\nmegan@contoso.com,"Megan\n');
    await rejects(['verify'], [/users\.csv:2: .*(record|field)/i, /users\.csv:3: .*quote/i]);
  });

  it('accepts a BOM, CRLF, semicolons, quoted fields and blank lines', async () => {
    await world.writeUsers('\uFEFFEmail;displayName;target\r\n\r\n"alex@contoso.com";"Wilber; Alex";graph\r\n;;\r\n');
    const result = await world.run(['deploy', '--dry-run', '--output', 'json', '--report', 'ok']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).counts, { 'would-create': 1 });
    const report = await world.report('ok');
    assert.equal(report.mailboxes[0]!.displayName, 'Wilber; Alex');
    assert.equal(report.mailboxes[0]!.line, 3);
  });

  describe('config file', () => {
    before(() => world.writeUsers('email\nalex@contoso.com\n'));
    const graph = () => ({ tenantId: world.tenantId, clientId: world.clientId, authorityHost: world.sim.url, baseUrl: world.sim.url });

    it('names an unknown key', async () => {
      await world.writeConfig({ sink, graph: { ...graph(), tenantID: 'x' } });
      await rejects(['verify'], [/sinkrule\.config\.json: graph: unknown key "tenantID"/]);
    });

    it('names a wrong value with what is allowed', async () => {
      await world.writeConfig({ sink: 'crm-sink', graph: { ...graph(), cloud: 'germany', tenantId: 'contoso' } });
      await rejects(['verify'], [/sink: must be the forward mailbox address/, /graph\.cloud: Invalid option: expected one of "global"\|"usgov"\|"usgovdod"\|"china"/, /graph\.tenantId: must be a GUID/]);
    });

    it('gives the line of a JSON syntax error', async () => {
      await writeFile(world.configFile, '{\n  "sink": "crm-sink@contoso.com",\n  "graph": {,\n}\n');
      await rejects(['verify'], [/sinkrule\.config\.json:3: not valid JSON/]);
    });

    it('requires the section of a back end the users file routes to', async () => {
      await world.writeConfig({ sink });
      await rejects(['verify'], [/graph: missing, but the users file routes mailboxes to target "graph"/]);
    });

    it('rejects a broken rule template before any work', async () => {
      const template = path.join(world.dir, 'bad-template.json');
      await writeFile(template, JSON.stringify({ sequence: 1, isEnabled: true, actions: { forwardTo: [{ emailAddress: { address: '{{sinc}}' } }], stopProcessingRules: false } }));
      await world.writeConfig({ sink, rule: { template: './bad-template.json' }, graph: graph() });
      await rejects(['deploy', '--yes'], [/unknown placeholder \{\{sinc\}\}/, /actions: unknown key "forwardTo"/, /actions\.forwardAsAttachmentTo/]);
      await world.writeConfig({ sink, graph: graph() });
    });
  });

  it('validates command-line options', async () => {
    await world.writeConfig({ sink, graph: { tenantId: world.tenantId, clientId: world.clientId, authorityHost: world.sim.url, baseUrl: world.sim.url } });
    await rejects(['deploy', '--yes', '--concurrency', '0'], [/command line: --concurrency: Too small/]);
    await rejects(['deploy', '--yes', '--sink', 'nobody'], [/--sink: must be the forward mailbox address/]);
    await rejects(['deploy', '--yes', '--bogus'], [/Unknown argument: bogus/]);
  });
});

describe('command line', () => {
  it('--help names every command, with examples', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const text of ['deploy', 'verify', 'remove', 'demo', 'Examples:', '--dry-run']) assert.ok(result.stdout.includes(text), text);
    const deploy = await runCli(['deploy', '--help']);
    for (const text of ['--users', '--config', '--sink', '--report', '--dry-run', '--yes', '--concurrency', '--output']) assert.ok(deploy.stdout.includes(text), text);
  });

  it('without a command, says which ones exist and exits 1', async () => {
    const result = await runCli([]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /deploy, verify, remove, preflight, probe or demo/);
  });
});
