import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import { joined } from '../helpers/pattern.js';

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
    assert.equal(
      world.sim.stats.requests + world.sim.identity.tokenRequests,
      requestsBefore,
      'no request reached the service',
    );
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
    const result = await rejects(
      ['deploy', '--yes'],
      [
        /users\.csv:3: "not-an-address" is not a valid email address/,
        /users\.csv:5: ALEX@contoso\.com is listed twice \(first on line 2\)/,
        /users\.csv:6: crm-sink@contoso\.com is the forward mailbox \(sink\) itself/,
        /users\.csv:7: target "exchange" is not one of/,
        /users\.csv:8: sink "not-a-sink" is not a valid email address/,
        /users\.csv:9: email is empty/,
      ],
    );
    assert.ok(!/users\.csv:2:/.test(result.stderr), 'a good row is not reported');
  });

  it('rejects a domain label that ends with a hyphen, and other labels RFC 1035 does not allow', async () => {
    await world.writeUsers(
      'email,sink\nuser@contoso-.test,\nlee@contoso.com,sink@crm_sink.contoso.com\nmegan@10.0.0.1,\n',
    );
    await rejects(
      ['deploy', '--yes'],
      [
        joined(
          /users\.csv:2: "user@contoso-\.test" is not a valid email address \(the domain label "contoso-" /,
          /.*hyphen\): fix the email column/,
        ),
        /users\.csv:3: sink "sink@crm_sink\.contoso\.com" is not a valid email address/,
        /users\.csv:4: "megan@10\.0\.0\.1" .*all digits/,
      ],
    );
    await rejects(
      ['deploy', '--yes', '--sink', 'crm@contoso-.com'],
      [/--sink: must be the forward mailbox address.*domain label "contoso-"/],
    );
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
    const graph = () => ({
      tenantId: world.tenantId,
      clientId: world.clientId,
      authorityHost: world.sim.url,
      baseUrl: world.sim.url,
    });

    it('names an unknown key', async () => {
      await world.writeConfig({ sink, graph: { ...graph(), tenantID: 'x' } });
      await rejects(['verify'], [/sinkrule\.config\.json: graph: unknown key "tenantID"/]);
    });

    it('names a wrong value with what is allowed', async () => {
      await world.writeConfig({ sink: 'crm-sink', graph: { ...graph(), cloud: 'germany', tenantId: 'contoso' } });
      await rejects(
        ['verify'],
        [
          /sink: must be the forward mailbox address/,
          /graph\.cloud: Invalid option: expected one of "global"\|"usgov"\|"usgovdod"\|"china"/,
          /graph\.tenantId: must be a GUID/,
        ],
      );
    });

    it('gives the line of a JSON syntax error', async () => {
      await writeFile(world.configFile, '{\n  "sink": "crm-sink@contoso.com",\n  "graph": {,\n}\n');
      await rejects(['verify'], [/sinkrule\.config\.json:3: not valid JSON/]);
    });

    it('names the config file and key of a file it names that is missing, a folder, a pipe or unreadable', async () => {
      const folder = path.join(world.dir, 'a-folder');
      const pipe = path.join(world.dir, 'a-pipe');
      await mkdir(folder, { recursive: true });
      if (!existsSync(pipe)) execFileSync('mkfifo', [pipe]);
      await world.writeConfig({
        sink,
        rule: { template: './a-folder' },
        graph: { ...graph(), certificatePath: 'a-pipe' },
        manual: { instructionsDir: 'no-such-folder' },
      });
      const result = await rejects(
        ['verify'],
        [
          joined(
            /sinkrule\.config\.json: rule\.template: .*a-folder: is a folder, not a file: point rule\.template at /,
            /a rule template JSON file/,
          ),
          joined(
            /sinkrule\.config\.json: graph\.certificatePath: .*a-pipe: is not a regular file \(a pipe, socket or /,
            /device\): point graph\.certificatePath at a PEM or PFX file/,
          ),
          joined(
            /sinkrule\.config\.json: manual\.instructionsDir: .*no-such-folder: not found: point /,
            /manual\.instructionsDir at a folder/,
          ),
        ],
      );
      assert.doesNotMatch(result.stderr, /Unexpected error|\n\s+at /, 'no stack trace');
      await world.writeConfig({ sink, graph: graph() });
    });

    it('an instruction template that is a folder or a pipe is reported on the row that uses it, not read', async () => {
      const instructions = path.join(world.dir, 'instructions');
      await mkdir(path.join(instructions, 'server-rule.md'), { recursive: true });
      if (!existsSync(path.join(instructions, 'pop.md'))) execFileSync('mkfifo', [path.join(instructions, 'pop.md')]);
      await world.writeConfig({ sink, graph: graph(), manual: { instructionsDir: 'instructions' } });
      await world.writeUsers('email,target,instructions\nben@contoso.com,pop3,\npatti@contoso.com,pop3,pop\n');
      const result = await rejects(
        ['deploy', '--yes'],
        [
          /users\.csv:2: instruction template .*server-rule\.md is a folder, not a file: replace it/,
          /users\.csv:3: instruction template .*pop\.md is not a regular file \(a pipe, socket or device\)/,
        ],
      );
      assert.doesNotMatch(result.stderr, /Unexpected error|\n\s+at /, 'no stack trace');
      await world.writeConfig({ sink, graph: graph() });
      await world.writeUsers('email\nalex@contoso.com\n');
    });

    it('rejects a broken rule template naming the config key that points at it', async () => {
      const template = path.join(world.dir, 'not-json.json');
      await writeFile(template, '{ "sequence": 1,');
      await world.writeConfig({ sink, rule: { template: './not-json.json' }, graph: graph() });
      await rejects(
        ['verify'],
        [
          joined(
            /not-json\.json: the rule template is not valid JSON .*: fix the file .*sinkrule\.config\.json: /,
            /rule\.template names/,
          ),
        ],
      );
      await world.writeConfig({ sink, graph: graph() });
    });

    it('requires the section of a back end the users file routes to', async () => {
      await world.writeConfig({ sink });
      await rejects(['verify'], [/graph: missing, but the users file routes mailboxes to target "graph"/]);
    });

    it('rejects a broken rule template before any work', async () => {
      const template = path.join(world.dir, 'bad-template.json');
      await writeFile(
        template,
        JSON.stringify({
          sequence: 1,
          isEnabled: true,
          actions: { forwardTo: [{ emailAddress: { address: '{{sinc}}' } }], stopProcessingRules: false },
        }),
      );
      await world.writeConfig({ sink, rule: { template: './bad-template.json' }, graph: graph() });
      await rejects(
        ['deploy', '--yes'],
        [/unknown placeholder \{\{sinc\}\}/, /actions: unknown key "forwardTo"/, /actions\.forwardAsAttachmentTo/],
      );
      await world.writeConfig({ sink, graph: graph() });
    });
  });

  it('validates command-line options', async () => {
    await world.writeConfig({
      sink,
      graph: world.graphSection,
    });
    await rejects(['deploy', '--yes', '--concurrency', '0'], [/command line: --concurrency: Too small/]);
    await rejects(['deploy', '--yes', '--sink', 'nobody'], [/--sink: must be the forward mailbox address/]);
    await rejects(['deploy', '--yes', '--bogus'], [/Unknown argument: bogus/]);
  });
});

describe('paths given on the command line', () => {
  let world: GraphWorld;
  before(async () => {
    world = await startGraphWorld([{ email: 'alex@contoso.com', kind: 'exchange-online' }]);
  });
  after(() => world.close());

  async function rejectsPath(args: string[], pattern: RegExp) {
    const result = await runCli(args, { cwd: world.dir, env: { SINKRULE_CLIENT_SECRET: world.secret } });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, pattern);
    assert.doesNotMatch(result.stderr, /Unexpected error|EISDIR|\n\s+at /, 'one line, no stack trace');
    assert.equal(world.sim.stats.requests + world.sim.identity.tokenRequests, 0, 'nothing reached the service');
  }

  it('a folder, a pipe or a missing file for --users or --config: one line with path and fix, exit 1', async () => {
    const pipe = path.join(world.dir, 'pipe.csv');
    execFileSync('mkfifo', [pipe]);
    await rejectsPath(
      ['verify', '--users', world.dir, '--config', world.configFile],
      /--users: .*: is a folder, not a file: point --users at the users CSV/,
    );
    await rejectsPath(
      ['verify', '--users', pipe, '--config', world.configFile],
      /--users: .*pipe\.csv: is not a regular file \(a pipe, socket or device\)/,
    );
    await rejectsPath(
      ['verify', '--users', world.usersFile, '--config', pipe],
      /--config: .*pipe\.csv: is not a regular file/,
    );
    await rejectsPath(
      ['verify', '--users', world.usersFile, '--config', world.dir],
      /--config: .*: is a folder, not a file: point --config at the JSON config/,
    );
    await rejectsPath(
      ['verify', '--users', path.join(world.dir, 'nope.csv'), '--config', world.configFile],
      /--users: .*nope\.csv: not found/,
    );
  });

  it(
    'an unreadable file: names the path and the fix',
    { skip: process.getuid?.() === 0 ? 'runs as root, who can read every file' : false },
    async () => {
      const locked = path.join(world.dir, 'locked.csv');
      await writeFile(locked, 'email\nalex@contoso.com\n');
      await chmod(locked, 0o000);
      await rejectsPath(
        ['verify', '--users', locked, '--config', world.configFile],
        /--users: .*locked\.csv: is not readable by this user \(EACCES\): give this user read access/,
      );
    },
  );
});

describe('command line', () => {
  it('--help names every command, with examples', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const text of ['deploy', 'verify', 'remove', 'export', 'demo', 'Examples:', '--dry-run', '--from-dataverse'])
      assert.ok(result.stdout.includes(text), text);
    const deploy = await runCli(['deploy', '--help']);
    for (const text of [
      '--users',
      '--from-dataverse',
      '--config',
      '--sink',
      '--report',
      '--dry-run',
      '--yes',
      '--concurrency',
      '--output',
    ])
      assert.ok(deploy.stdout.includes(text), text);
  });

  it('without a command, says which ones exist and exits 1', async () => {
    const result = await runCli([]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      joined(
        /init, validate, deploy, verify, preflight, probe, capacity, remove, migrate, export, rollback, audit, /,
        /soc, demo or completion/,
      ),
    );
  });
});
