import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import { runCli } from '../helpers/cli.js';
import { loadConfig } from '../../src/input/config.js';
import { joined } from '../helpers/pattern.js';

/** What every command shares, through the built CLI: init, JSON errors, --quiet, help, completion. */
let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-surface-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const tenantId = '3f2a5b8c-1111-4222-8333-444455556666';
const clientId = '9a8b7c6d-1111-4222-8333-444455556666';

describe('sinkrule init', () => {
  it('writes a config that loads, a users.csv header, and the setup steps with the values filled in', async () => {
    const target = path.join(dir, 'init-cert');
    const result = await runCli([
      'init',
      '--dir',
      target,
      '--sink',
      'crm-sink@contoso.com',
      '--auth',
      'certificate',
      '--tenant-id',
      tenantId,
      '--client-id',
      clientId,
      '--certificate-path',
      'sinkrule.pfx',
      '--cloud',
      'usgov',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /Still to do: .*sinkrule\.pfx does not exist yet: make it/,
      'the certificate the steps make',
    );
    // Once the admin has made the certificate, the config loads as a run loads it.
    await writeFile(path.join(target, 'sinkrule.pfx'), 'made later');
    const config = await loadConfig(path.join(target, 'sinkrule.config.json'));
    assert.equal(config.graph?.auth, 'certificate');
    assert.equal(config.graph?.authorityHost, 'https://login.microsoftonline.us');
    assert.equal(await readFile(path.join(target, 'users.csv'), 'utf8'), 'email,displayName,target,sink\n');
    assert.match(result.stdout, new RegExp(`\\$sp = Get-MgServicePrincipal -Filter "appId eq '${clientId}'"`));
    assert.match(result.stdout, /Connect-ExchangeOnline -ExchangeEnvironmentName O365USGovGCCHigh/);
    assert.match(
      result.stdout,
      joined(
        /New-ManagementRoleAssignment -App \$sp\.AppId -Role "Application MailboxSettings\.ReadWrite" /,
        /-CustomResourceScope "sinkrule CRM users"/,
      ),
    );
    assert.match(result.stdout, /Export-PfxCertificate -Cert \$cert -FilePath sinkrule\.pfx/);
  });

  it('init then validate: the written config passes once the CRM users (and the certificate) are added', async () => {
    const managed = path.join(dir, 'init-validate-mi');
    const init = await runCli([
      'init',
      '--dir',
      managed,
      '--sink',
      'crm-sink@contoso.com',
      '--auth',
      'managed-identity',
    ]);
    assert.equal(init.code, 0, init.stderr);
    await writeFile(
      path.join(managed, 'users.csv'),
      'email,displayName,target,sink\nalex.wilber@contoso.com,Alex Wilber,,\n',
    );
    const validated = await runCli(
      ['validate', '--users', 'users.csv', '--config', 'sinkrule.config.json', '--output', 'json'],
      { cwd: managed },
    );
    assert.equal(validated.code, 0, validated.stderr);
    assert.equal(JSON.parse(validated.stdout).valid, true);

    const withCertificate = path.join(dir, 'init-validate-cert');
    const args = [
      'init',
      '--dir',
      withCertificate,
      '--sink',
      'crm-sink@contoso.com',
      '--auth',
      'certificate',
      '--tenant-id',
      tenantId,
      '--client-id',
      clientId,
      '--certificate-path',
      'app.pem',
    ];
    assert.equal((await runCli(args)).code, 0);
    await writeFile(path.join(withCertificate, 'users.csv'), 'email\nalex.wilber@contoso.com\n');
    const missing = await runCli(['validate', '--users', 'users.csv', '--config', 'sinkrule.config.json'], {
      cwd: withCertificate,
    });
    assert.equal(missing.code, 1, 'the certificate the steps make is still missing');
    assert.match(missing.stderr, /graph\.certificatePath: .*app\.pem: not found/);
    const pems = await generate([{ name: 'commonName', value: 'sinkrule-app' }], {
      keyType: 'rsa',
      keySize: 2048,
      algorithm: 'sha256',
    });
    await writeFile(path.join(withCertificate, 'app.pem'), `${pems.private}\n${pems.cert}`);
    const valid = await runCli(['validate', '--users', 'users.csv', '--config', 'sinkrule.config.json'], {
      cwd: withCertificate,
    });
    assert.equal(valid.code, 0, valid.stderr);
  });

  it('refuses to overwrite without --force (nothing changes), overwrites with it', async () => {
    const target = path.join(dir, 'init-force');
    const argsFor = (sink: string) => [
      'init',
      '--dir',
      target,
      '--sink',
      sink,
      '--auth',
      'managed-identity',
      '--back-ends',
      'graph',
      'ews',
      'manual',
      '--ews-url',
      'https://mail.contoso.com/EWS/Exchange.asmx',
      '--ews-username',
      'CONTOSO\\svc-sinkrule',
    ];
    assert.equal((await runCli(argsFor('crm-sink@contoso.com'))).code, 0);
    const config = JSON.parse(await readFile(path.join(target, 'sinkrule.config.json'), 'utf8'));
    assert.deepEqual(config.graph, { cloud: 'global', auth: 'managed-identity' });
    assert.equal(config.ews.username, 'CONTOSO\\svc-sinkrule');
    await writeFile(path.join(target, 'users.csv'), 'email\nalex@contoso.com\n');
    const refused = await runCli([...argsFor('other@contoso.com'), '--output', 'json']);
    assert.equal(refused.code, 1);
    assert.match(JSON.parse(refused.stdout).error.fix, /--force/);
    assert.equal(
      await readFile(path.join(target, 'users.csv'), 'utf8'),
      'email\nalex@contoso.com\n',
      'nothing was overwritten',
    );
    const forced = await runCli([...argsFor('other@contoso.com'), '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(
      JSON.parse(await readFile(path.join(target, 'sinkrule.config.json'), 'utf8')).sink,
      'other@contoso.com',
    );
  });

  it('--output json: the files, the config and the steps as one object', async () => {
    const target = path.join(dir, 'init-json');
    const result = await runCli([
      'init',
      '--dir',
      target,
      '--sink',
      'crm-sink@contoso.com',
      '--auth',
      'secret',
      '--tenant-id',
      tenantId,
      '--client-id',
      clientId,
      '--output',
      'json',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const parsed = JSON.parse(result.stdout);
    assert.equal(parsed.files.config, path.join(target, 'sinkrule.config.json'));
    assert.deepEqual(parsed.config.graph, { tenantId, clientId, cloud: 'global', auth: 'secret' });
    assert.ok(parsed.steps.some((step: { text: string }) => step.text.includes('SINKRULE_CLIENT_SECRET')));
  });

  it('without a terminal, names the flags it still needs', async () => {
    const result = await runCli(['init', '--dir', path.join(dir, 'init-missing'), '--auth', 'secret']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no terminal to ask on, and --sink, --tenant-id, --client-id are not given/);
  });
});

describe('--output json: one JSON object on stdout for every failure', () => {
  const cases: Array<[string, string[], RegExp]> = [
    [
      'deploy with a missing users file',
      ['deploy', '--users', 'missing.csv', '--config', 'missing.json', '--yes'],
      /--config: missing\.json: not found/,
    ],
    [
      'verify with a bad flag value',
      ['verify', '--users', 'u.csv', '--config', 'c.json', '--concurrency', 'lots'],
      /--concurrency: must be a whole number/,
    ],
    [
      'remove with an unknown flag',
      ['remove', '--users', 'u.csv', '--config', 'c.json', '--colour'],
      /Unknown argument: colour/,
    ],
    ['init with a bad tenant id', ['init', '--tenant-id', 'contoso'], /--tenant-id: must be a GUID/],
    [
      'validate with a missing config',
      ['validate', '--users', 'u.csv', '--config', 'gone.json'],
      /--config: gone\.json: not found/,
    ],
    [
      'rollback without --report',
      ['rollback', '--config', 'c.json'],
      /--report: name the report folder of the run to undo/,
    ],
    ['audit verify of a folder without a journal', ['audit', 'verify', '.'], /no journal\.jsonl/],
    [
      'audit verify with a bad --expect-hash',
      ['audit', 'verify', '.', '--expect-hash', 'abc'],
      /--expect-hash: must be the 64-hex-digit SHA-256/,
    ],
    ['demo with an unknown flag', ['demo', '--bogus'], /Unknown argument: bogus/],
    ['an unknown command', ['deplyo'], /Unknown argument: deplyo/],
    ['no command', [], /Name a command/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const result = await runCli([...args, '--output', 'json'], { cwd: dir });
      assert.equal(result.code, 1, result.stderr);
      const parsed = JSON.parse(result.stdout) as { error: { code: string; message: string; fix: string } };
      assert.deepEqual(Object.keys(parsed), ['error']);
      assert.equal(parsed.error.code, 'InputError');
      assert.match(parsed.error.message, message);
      assert.ok(parsed.error.fix.length > 10, 'a fix');
      assert.match(result.stderr, /^error: /, 'stderr is plain text (no colour without a terminal)');
    });
  }

  it('SINKRULE_OUTPUT=json does the same', async () => {
    const result = await runCli(['verify', '--users', 'u.csv', '--config', 'nope.json'], {
      cwd: dir,
      env: { SINKRULE_OUTPUT: 'json' },
    });
    assert.equal(result.code, 1);
    assert.equal(JSON.parse(result.stdout).error.code, 'InputError');
  });
});

describe('--quiet, --help, completion', () => {
  it('--quiet leaves only errors: a manual-only run prints nothing at all', async () => {
    await writeFile(path.join(dir, 'quiet.json'), JSON.stringify({ sink: 'crm-sink@contoso.com' }));
    await writeFile(path.join(dir, 'quiet.csv'), 'email,target,server\nben@contoso.com,pop3,pop.contoso.com\n');
    const result = await runCli(
      ['deploy', '--users', 'quiet.csv', '--config', 'quiet.json', '--yes', '--quiet', '--report', 'rq'],
      { cwd: dir },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, '');
    assert.ok(
      JSON.parse(await readFile(path.join(dir, 'rq', 'report.json'), 'utf8')).mailboxes.length === 1,
      'the report is still written',
    );
    const validate = await runCli(['validate', '--users', 'quiet.csv', '--config', 'quiet.json', '--quiet'], {
      cwd: dir,
    });
    assert.equal(validate.code, 0, validate.stderr);
    assert.equal(validate.stdout + validate.stderr, '', 'validate --quiet: the exit code tells');
    const failing = await runCli(['verify', '--users', 'quiet.csv', '--config', 'nope.json'], {
      cwd: dir,
      env: { SINKRULE_QUIET: '1' },
    });
    assert.equal(failing.code, 1);
    assert.match(failing.stderr, /^error: --config: nope\.json: not found/, 'errors still reach stderr');
  });

  it('every command has examples in its --help', async () => {
    for (const command of [
      ['init'],
      ['validate'],
      ['deploy'],
      ['verify'],
      ['remove'],
      ['rollback'],
      ['audit', 'verify'],
      ['soc'],
      ['soc', 'upload'],
      ['demo'],
      ['completion'],
    ]) {
      const help = await runCli([...command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /Examples:\n\s+sinkrule /, `${command.join(' ')} --help has examples`);
    }
    const completion = await runCli(['completion', '--help']);
    assert.match(completion.stdout, /sinkrule completion >> ~\/\.bashrc/);
    assert.doesNotMatch(completion.stdout, /_sinkrule_yargs_completions/, 'help, not the script');
  });

  it('prints a shell completion script, and completes command names', async () => {
    const script = await runCli(['completion']);
    assert.equal(script.code, 0);
    assert.match(script.stdout, /sinkrule --get-yargs-completions/);
    assert.match(script.stdout, /Installation: sinkrule completion >> ~\/\.bashrc/);
    const words = await runCli(['--get-yargs-completions', 'sinkrule', 've']);
    assert.match(words.stdout, /verify/);
  });
});
