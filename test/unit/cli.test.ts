import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exitCodeFor } from '../../src/common/exit-code.js';
import { main } from '../../src/cli/main.js';
import { parseRunFlags, resolveSettings } from '../../src/common/settings.js';
import { AccessError, InputError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/input/config.js';
import { fakeIO } from '../helpers/fake-io.js';

/** The CLI driven in-process through main(argv, io): no child process, no network. */
describe('cli main, in-process', () => {
  let dir: string;
  let config: string;
  let users: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-cli-'));
    config = path.join(dir, 'sinkrule.config.json');
    users = path.join(dir, 'users.csv');
    await writeFile(
      config,
      JSON.stringify({
        sink: 'crm-sink@contoso.com',
        graph: {
          tenantId: '00000000-0000-0000-0000-000000000000',
          clientId: '11111111-1111-1111-1111-111111111111',
          concurrency: 16,
        },
      }),
    );
    // POP3 rows only: the whole run happens without any network.
    await writeFile(
      users,
      'email,displayName,target,server\nben@contoso.com,Ben,pop3,pop.contoso.com\nana@contoso.com,Ana,pop3,' +
        'pop.contoso.com\n',
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('runs a deploy of manual mailboxes end to end and writes the report', async () => {
    const { io, stdout, stderr } = fakeIO();
    const report = path.join(dir, 'report');
    const code = await main(
      ['deploy', '--users', users, '--config', config, '--yes', '--report', report, '--output', 'json'],
      io,
    );
    assert.equal(code, 0, stderr());
    const summary = JSON.parse(stdout());
    assert.deepEqual(summary.counts, { manual: 2 });
    const written = JSON.parse(await readFile(path.join(report, 'report.json'), 'utf8'));
    assert.equal(written.mailboxes.length, 2);
    assert.ok(
      written.mailboxes.every((row: { instructions: { file: string } }) => row.instructions.file.startsWith('manual/')),
    );
  });

  it('refuses a mutating command without a terminal and without --yes, before any work', async () => {
    const { io, stdout, stderr } = fakeIO();
    const code = await main(['remove', '--users', users, '--config', config], io);
    assert.equal(code, 1);
    assert.match(stderr(), /refusing to remove rules in 2 mailboxes without confirmation.*pass --yes/);
    assert.equal(stdout(), '', 'nothing on stdout');
  });

  it('names a bad flag and a bad environment value with their source', async () => {
    const bad = fakeIO();
    assert.equal(await main(['verify', '--users', users, '--config', config, '--sink', 'nope'], bad.io), 1);
    assert.match(bad.stderr(), /command line: --sink: must be the forward mailbox address/);
    const env = fakeIO({ env: { SINKRULE_CONCURRENCY: 'lots' } });
    assert.equal(await main(['verify', '--users', users, '--config', config], env.io), 1);
    assert.match(env.stderr(), /environment: SINKRULE_CONCURRENCY: must be a whole number/);
  });

  it('unknown commands and flags are input errors', async () => {
    const { io, stderr } = fakeIO();
    assert.equal(await main(['deploy', '--users', users, '--config', config, '--colour'], io), 1);
    assert.match(stderr(), /Unknown argument: colour/);
  });
});

describe('settings precedence: flag > environment > config file > default', () => {
  it('applies each layer without changing the loaded config', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-settings-'));
    const file = path.join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({
        sink: 'config-sink@contoso.com',
        graph: {
          tenantId: '00000000-0000-0000-0000-000000000000',
          clientId: '11111111-1111-1111-1111-111111111111',
          concurrency: 16,
        },
        ews: { url: 'https://mail.contoso.com/EWS/Exchange.asmx', username: 'u' },
      }),
    );
    const config = await loadConfig(file);
    const base = { users: 'u.csv', config: file };
    const fromConfig = resolveSettings('verify', parseRunFlags(base, {}), config);
    assert.equal(fromConfig.effective.sink, 'config-sink@contoso.com');
    assert.equal(fromConfig.effective.graph!.concurrency, 16);
    assert.equal(fromConfig.effective.ews!.concurrency, 8, 'default when neither flag, environment nor config set it');
    const env = { SINKRULE_SINK: 'env-sink@contoso.com', SINKRULE_CONCURRENCY: '3' };
    const fromEnv = resolveSettings('verify', parseRunFlags(base, env), config);
    assert.equal(fromEnv.effective.sink, 'env-sink@contoso.com');
    assert.equal(fromEnv.effective.graph!.concurrency, 3);
    const fromFlag = resolveSettings(
      'verify',
      parseRunFlags({ ...base, sink: 'flag-sink@contoso.com', concurrency: 5 }, env),
      config,
    );
    assert.equal(fromFlag.effective.sink, 'flag-sink@contoso.com');
    assert.equal(fromFlag.effective.ews!.concurrency, 5);
    assert.equal(config.sink, 'config-sink@contoso.com', 'the loaded config is never mutated');
    assert.equal(config.graph!.concurrency, 16);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('exitCodeFor', () => {
  it(
    '0 when every mailbox is in the desired state, 2 when one is not or the run stopped part-way, 1 when ' +
      'nothing could run',
    () => {
      assert.equal(exitCodeFor({ counts: { created: 3, unchanged: 1, manual: 2 } }), 0);
      assert.equal(exitCodeFor({ counts: { created: 3, failed: 1 } }), 2);
      assert.equal(exitCodeFor({ counts: { ok: 3, drifted: 1 } }), 2);
      assert.equal(exitCodeFor({ counts: { created: 3 }, error: new Error('interrupted') }), 2);
      assert.equal(exitCodeFor({ counts: { created: 3 }, error: new AccessError('token rejected') }), 1);
      assert.equal(exitCodeFor({ error: new InputError(['users.csv:2: bad']) }), 1);
      assert.equal(exitCodeFor({ error: new Error('unexpected') }), 1);
    },
  );
});
