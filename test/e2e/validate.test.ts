import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import { joined } from '../helpers/pattern.js';

/**
 * `sinkrule validate`: every check a deploy makes before its first request, offline. The world's
 * simulator stays up only to prove that not one request (not even for a token) reaches it.
 */
describe('sinkrule validate', () => {
  let world: GraphWorld;
  before(async () => {
    world = await startGraphWorld([]);
  });
  after(() => world.close());

  const requests = () => world.sim.stats.requests + world.sim.identity.tokenRequests;

  it('a good users file and config: exit 0, a summary, no request', async () => {
    await world.writeUsers(
      'email,displayName,target,server\nalex@contoso.com,Alex,,\nmegan@contoso.com,Megan,graph,\n' +
        'ben@contoso.com,Ben,pop3,pop.fabrikam.net\n',
    );
    const before = requests();
    const result = await world.run(['validate']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /3 mailboxes, no problems \(graph 2, pop3 1\)/);
    assert.equal(requests(), before, 'no request reached the service');

    const json = await world.run(['validate', '--output', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const summary = JSON.parse(json.stdout) as {
      valid: boolean;
      users: { rows: number; byTarget: Record<string, number> };
      peakRssInMb: number;
    };
    assert.equal(summary.valid, true);
    assert.deepEqual(summary.users.byTarget, { graph: 2, pop3: 1 });
    assert.ok(summary.peakRssInMb > 0);
  });

  it('all problems at once as FILE:LINE with a fix (rows, routes, placeholders); exit 1, no request', async () => {
    const instructions = path.join(world.dir, 'instructions');
    await mkdir(instructions, { recursive: true });
    await writeFile(
      path.join(instructions, 'needs-server.md'),
      '# Rule for {{user}}\n\nOn {{server}}, forward to {{sink}}.\n',
    );
    await world.writeConfig({
      sink,
      graph: world.graphSection,
      manual: { instructionsDir: instructions },
    });
    await world.writeUsers(
      [
        'email,displayName,target,instructions',
        'alex@contoso.com,Alex,,',
        'not-an-address,Bad,,',
        'ALEX@contoso.com,Alex again,,',
        'ben@contoso.com,Ben,pop3,needs-server',
        'irvin@contoso.com,Irvin,ews,',
        'lee@contoso.com,Lee,ews,',
      ].join('\n'),
    );
    const before = requests();
    const result = await world.run(['validate'], { SINKRULE_EWS_PASSWORD: '' });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /users\.csv:3: "not-an-address" is not a valid email address/);
    assert.match(result.stderr, /users\.csv:4: ALEX@contoso\.com is listed twice \(first on line 2\)/);
    assert.match(
      result.stderr,
      /users\.csv:5: instruction template .*needs-server\.md:3 uses \{\{server\}\}, but the row has no/,
    );
    // A route the config cannot serve is named once, with the rows' problems, not instead of them.
    assert.equal(
      result.stderr.match(/ews: missing, but the users file routes mailboxes to target "ews"/g)?.length,
      1,
      result.stderr,
    );
    assert.match(result.stderr, /Nothing was changed/);
    assert.equal(requests(), before, 'no request reached the service');
  });

  it('a broken config and a rule template with an unknown placeholder are named with file and line', async () => {
    const template = path.join(world.dir, 'rule.json');
    await writeFile(
      template,
      '{\n  "displayName": "{{ruleName}}",\n  "actions": { "forwardAsAttachmentTo": [{ "emailAddress": { ' +
        '"address": "{{sinkAdress}}" } }] }\n}\n',
    );
    await world.writeConfig({
      sink,
      rule: { template },
      graph: world.graphSection,
    });
    await world.writeUsers('email\nalex@contoso.com\n');
    const result = await world.run(['validate']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /rule\.json:3: unknown placeholder \{\{sinkAdress\}\}/);

    await world.writeConfig({ sink: 'not-a-sink', graph: { tenantId: 'x', clientId: world.clientId } });
    const config = await world.run(['validate']);
    assert.equal(config.code, 1);
    assert.match(config.stderr, /sinkrule\.config\.json: sink: /);
    assert.match(config.stderr, /sinkrule\.config\.json: graph\.tenantId: must be a GUID/);
  });

  it('a row without a sink and a config without one: the CSV line, the config file and its missing key', async () => {
    await world.writeConfig({ graph: world.graphSection });
    await world.writeUsers('email,sink\nalex@contoso.com,sales-sink@contoso.com\nmegan@contoso.com,\n');
    const result = await world.runPlain(['validate', '--users', 'users.csv', '--config', 'sinkrule.config.json']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(
      result.stderr,
      joined(
        /^error: users\.csv:3: sink is empty and sinkrule\.config\.json has no "sink" key: fill in this row's sink /,
        /column, or add "sink": "<forward mailbox address>" to sinkrule\.config\.json \(or pass --sink/m,
      ),
    );
    assert.doesNotMatch(result.stderr, /users\.csv:2:/, 'a row with its own sink needs none from the config');
    await world.writeConfig({ sink, graph: world.graphSection });
  });
});
