import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { loadConfig } from '../../src/input/config.js';
import { fakeIO } from '../helpers/fake-io.js';

describe('sinkrule init on a terminal', () => {
  it('asks for what the flags did not give, again after a wrong answer, and writes a config that loads', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-init-'));
    try {
      const replies = [
        'not-an-address',
        'crm-sink@contoso.com',
        'graph',
        'china',
        'workload-identity',
        '3f2a5b8c-1111-4222-8333-444455556666',
        '9a8b7c6d-1111-4222-8333-444455556666',
      ];
      const { io, questions, stdout, stderr } = fakeIO({ stdinIsTTY: true, replies });
      assert.equal(await main(['init', '--dir', dir], io), 0, stderr());
      assert.deepEqual(questions, [
        'Forward (sink) mailbox address',
        'Forward (sink) mailbox address',
        'Back ends, comma-separated: graph (Exchange Online), ews (on-premises), manual (POP3)',
        'Cloud (global, usgov, usgovdod, china)',
        'How sinkrule signs in (secret, certificate, managed-identity, workload-identity, default)',
        'Directory (tenant) ID',
        'Application (client) ID',
      ]);
      assert.match(stderr(), /The forward mailbox address, e\.g\. crm-sink@contoso\.com/);
      const config = await loadConfig(path.join(dir, 'sinkrule.config.json'));
      assert.equal(config.graph?.auth, 'workload-identity');
      assert.equal(config.graph?.authorityHost, 'https://login.chinacloudapi.cn');
      assert.match(stdout(), /Federated credentials → Add credential/);
      assert.match(stdout(), /Connect-ExchangeOnline -ExchangeEnvironmentName O365China/);
      assert.equal(await readFile(path.join(dir, 'users.csv'), 'utf8'), 'email,displayName,target,sink\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
