import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { main, reportFailure } from '../../src/cli/main.js';
import { AccessError, InputError } from '../../src/core/errors.js';
import { fakeIO } from '../helpers/fake-io.js';

describe('reportFailure: how every command fails', () => {
  it('--output json: exactly one {"error":{code,message,fix}} object on stdout, exit 1, for each error class', () => {
    const cases = [
      {
        error: new InputError(['users.csv:3: invalid address: correct it']),
        code: 'InputError',
        fix: /Correct each problem listed/,
      },
      {
        error: new AccessError('Cannot get a token: AADSTS7000215: Invalid client secret provided.', {
          fix: 'Check SINKRULE_CLIENT_SECRET.',
        }),
        code: 'AccessError',
        fix: /^Check SINKRULE_CLIENT_SECRET\.$/,
      },
      { error: new TypeError('x is undefined'), code: 'UnexpectedError', fix: /report it/ },
    ];
    for (const { error, code, fix } of cases) {
      const { io, stdout, stderr } = fakeIO();
      assert.equal(reportFailure(error, io, { output: 'json', quiet: false }), 1);
      const parsed = JSON.parse(stdout());
      assert.deepEqual(
        Object.keys(parsed.error).filter((k) => k !== 'problems'),
        ['code', 'message', 'fix'],
      );
      assert.equal(parsed.error.code, code);
      assert.equal(parsed.error.message, error.message);
      assert.match(parsed.error.fix, fix);
      assert.ok(stderr().startsWith('error: '), 'the text still goes to stderr');
    }
  });

  it('text: colour only when stderr is a terminal and NO_COLOR is not set', async () => {
    const args = ['verify', '--users', 'u.csv', '--config', 'missing.json'];
    const terminal = fakeIO({ stderrIsTTY: true });
    assert.equal(await main(args, terminal.io), 1);
    assert.ok(terminal.stderr().startsWith('\x1b[31merror\x1b[0m: '));
    const noColor = fakeIO({ stderrIsTTY: true, env: { NO_COLOR: '1' } });
    await main(args, noColor.io);
    assert.ok(noColor.stderr().startsWith('error: --config: missing.json: not found'));
    const pipe = fakeIO();
    await main(args, pipe.io);
    assert.ok(!pipe.stderr().includes('\x1b'), 'no escape sequence without a terminal');
    assert.equal(pipe.stdout(), '', 'text mode: nothing on stdout');
  });
});
