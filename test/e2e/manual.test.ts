import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Mailbox } from '../../src/core/mailbox.js';
import type { RuleSpec } from '../../src/core/rule.js';
import { samplesDir, templatesDir } from '../../src/paths.js';
import { createManualProvider } from '../../src/providers/manual.js';
import { runCli } from '../helpers/cli.js';
import { byEmail, sink, startGraphWorld } from '../helpers/graph-world.js';

const rule: RuleSpec = {
  displayName: 'CRM rule',
  sequence: 1,
  isEnabled: true,
  actions: { forwardAsAttachmentTo: [{ emailAddress: { address: sink } }] },
  exceptions: { fromAddresses: [{ emailAddress: { address: sink } }], isNonDeliveryReport: true, isReadReceipt: true },
};
const mailbox = (overrides: Partial<Mailbox> = {}): Mailbox => ({
  email: 'ben@contoso.com',
  displayName: 'Ben <Walters>',
  target: 'pop3',
  sink,
  line: 2,
  ...overrides,
});
const provider = (
  mode: 'deploy' | 'verify' | 'remove',
  instructionDirs = [path.join(samplesDir, 'instructions'), path.join(templatesDir, 'instructions')],
) =>
  createManualProvider({
    target: 'pop3',
    mode,
    instructionDirs,
    defaultInstructions: 'server-rule',
    ruleName: 'CRM rule',
    sinkName: 'CRM sink',
    desiredRuleFor: () => rule,
  });

describe('manual instructions: rendering', () => {
  it('fills every value, adds the check procedure, and escapes row values for the HTML page', () => {
    const work = provider('deploy').instructionsFor(mailbox({ server: 'pop.fabrikam.net' }));
    const markdown = work.markdown;
    assert.match(markdown, /\| Mailbox \| `ben@contoso\.com` \|/);
    assert.match(markdown, /\*\*Name:\*\* `CRM rule`/);
    assert.match(markdown, /forward as attachment\* to `crm-sink@contoso\.com`/);
    assert.match(
      markdown,
      /\*\*Except:\*\* messages from crm-sink@contoso\.com; non-delivery reports \(bounces\); read receipts/,
    );
    assert.match(markdown, /pop\.fabrikam\.net/);
    assert.match(markdown, /## Check that it works/);
    assert.doesNotMatch(markdown, /\{\{/);
    assert.match(markdown, /Ben <Walters>/, 'the Markdown file keeps the raw name');
    assert.match(work.markdownForHtml, /Ben &#60;Walters&#62;/, 'the HTML page gets it escaped');
  });

  it('uses fallbacks for empty optional columns and the removal procedure for remove', () => {
    const deploy = provider('deploy').instructionsFor(mailbox());
    assert.match(deploy.markdown, /the user's mail server/);
    const remove = provider('remove').instructionsFor(mailbox());
    assert.match(remove.markdown, /# Remove the forward-mailbox rule/);
    assert.doesNotMatch(remove.markdown, /## Check that it works/);
  });

  it('names a missing template, an unknown placeholder and a lacking row value, with file and line', async () => {
    assert.match(provider('deploy').checkMailbox!(mailbox({ instructions: 'nope' }))!, /instructions "nope" not found/);
    assert.match(
      provider('deploy').checkMailbox!(mailbox({ instructions: 'contoso-pop3' }))!,
      /contoso-pop3\.md:\d+ uses \{\{server\}\}, but the row has no server/,
    );
    assert.equal(
      provider('deploy').checkMailbox!(mailbox({ instructions: 'contoso-pop3', server: 'mail.contoso.local' })),
      undefined,
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-templates-'));
    await writeFile(path.join(dir, 'broken.md'), '# Rule\n\nsend to {{sinkAddress}}\n');
    assert.match(
      provider('deploy', [dir]).checkMailbox!(mailbox({ instructions: 'broken' }))!,
      /broken\.md:3: unknown placeholder \{\{sinkAddress\}\}/,
    );
    await rm(dir, { recursive: true });
  });
});

describe('manual instructions: end to end', () => {
  it('a mixed Graph + POP3 CSV gives automated outcomes and instructions in one run and one report', async () => {
    const world = await startGraphWorld([{ email: 'alex@contoso.com', kind: 'exchange-online' }]);
    try {
      await world.writeConfig({
        sink,
        graph: world.graphSection,
        manual: { instructionsDir: path.join(samplesDir, 'instructions') },
      });
      await world.writeUsers(
        [
          'email,displayName,target,server,instructions,confirmed',
          'alex@contoso.com,Alex,graph,,,',
          'ben@contoso.com,Ben,pop3,pop.fabrikam.net,,',
          'patti@contoso.com,Patti,pop3,mail.contoso.local,contoso-pop3,',
          'miriam@contoso.com,Miriam,pop3,mail.contoso.local,contoso-pop3,2026-11-20 j.doe',
          'hen@contoso.com,Henrietta,manual,Lotus Domino,outlook-client,',
        ].join('\n'),
      );
      const deploy = await world.run(['deploy', '--yes', '--report', 'd']);
      assert.equal(deploy.code, 0, deploy.stderr);
      assert.equal(world.sim.rulesOf('alex@contoso.com').length, 1);
      const rows = byEmail((await world.report('d')).mailboxes);
      assert.equal(rows.get('alex@contoso.com')!.outcome, 'created');
      assert.equal(rows.get('ben@contoso.com')!.outcome, 'manual');
      assert.equal(rows.get('miriam@contoso.com')!.outcome, 'confirmed-manually');
      assert.equal(rows.get('patti@contoso.com')!.instructions.file, 'manual/patti@contoso.com.md');
      assert.equal(
        rows.get('patti@contoso.com')!.instructions.markdown,
        undefined,
        'report.json keeps a reference, not the text',
      );
      for (const email of ['ben', 'patti', 'miriam', 'hen'])
        assert.ok(existsSync(path.join(world.dir, 'd', 'manual', `${email}@contoso.com.md`)));
      assert.match(
        await readFile(path.join(world.dir, 'd', 'manual', 'hen@contoso.com.md'), 'utf8'),
        /runs only while\s+Outlook is running/,
      );
      const handbook = await readFile(path.join(world.dir, 'd', 'manual-instructions.html'), 'utf8');
      assert.ok(
        handbook.indexOf('Lotus Domino') < handbook.indexOf('mail.contoso.local') &&
          handbook.indexOf('mail.contoso.local') < handbook.indexOf('pop.fabrikam.net'),
        'grouped by server',
      );
      assert.doesNotMatch(handbook, /<script|<link|\ssrc=/i, 'self-contained: opens offline');
      assert.match(
        await readFile(path.join(world.dir, 'd', 'report.html'), 'utf8'),
        /href="manual-instructions\.html"/,
      );
      const csv = await readFile(path.join(world.dir, 'd', 'report.csv'), 'utf8');
      assert.match(csv, /ben@contoso\.com,Ben,pop3,.*,manual,.*manual\/ben@contoso\.com\.md/);
      assert.equal(world.sim.stats.requests, 2, 'only the Graph mailbox was contacted (list + create)');

      const verify = await world.run(['verify', '--report', 'v', '--output', 'json']);
      assert.equal(verify.code, 0, 'manual rows never make verify fail on their own');
      assert.deepEqual(JSON.parse(verify.stdout).counts, { ok: 1, manual: 3, 'confirmed-manually': 1 });

      const remove = await world.run(['remove', '--yes', '--report', 'x']);
      assert.equal(remove.code, 0);
      assert.match(
        await readFile(path.join(world.dir, 'x', 'manual', 'miriam@contoso.com.md'), 'utf8'),
        /# Remove the forward-mailbox rule/,
      );
      assert.equal(byEmail((await world.report('x')).mailboxes).get('miriam@contoso.com')!.outcome, 'manual');
    } finally {
      await world.close();
    }
  });

  it('a users file with only manual rows needs no back-end config and exits 0', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-manual-'));
    try {
      await writeFile(path.join(dir, 'users.csv'), 'email,target,server\nben@contoso.com,pop3,pop.fabrikam.net\n');
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ sink }));
      const result = await runCli(
        ['deploy', '--users', 'users.csv', '--config', 'config.json', '--yes', '--report', 'r'],
        { cwd: dir },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /manual 1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bad manual rows stop the run before anything happens, with file and line', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sinkrule-manual-'));
    try {
      await writeFile(
        path.join(dir, 'users.csv'),
        'email,target,server,instructions,confirmed\nben@contoso.com,pop3,,nope,\npatti@contoso.com,pop3,,,' +
          'yesterday\nalex@contoso.com,graph,,,2026-11-20\n',
      );
      await writeFile(path.join(dir, 'config.json'), JSON.stringify({ sink }));
      const result = await runCli(
        ['deploy', '--users', 'users.csv', '--config', 'config.json', '--yes', '--report', 'r'],
        { cwd: dir },
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /users\.csv:2: instructions "nope" not found/);
      assert.match(result.stderr, /users\.csv:3: confirmed "yesterday" is not a date/);
      assert.match(
        result.stderr,
        /users\.csv:4: the confirmed and instructions columns apply to pop3 and manual rows only/,
      );
      assert.equal(existsSync(path.join(dir, 'r')), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
