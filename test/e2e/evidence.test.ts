import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { SimulatedMailbox, SimulatedRule } from '../../simulators/graph/graph-simulator.js';
import { correctSinkRule, foreignRules } from '../../simulators/scenarios.js';
import { byEmail, sink, startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import { httpsCall, requestToken } from '../helpers/https.js';
import { joined } from '../helpers/pattern.js';

/** A deploy has to create, update, delete duplicates and leave alone: one mailbox for each. */
const estate = (): SimulatedMailbox[] => [
  { email: 'missing@contoso.com', kind: 'exchange-online', rules: [foreignRules.removeSpam] },
  {
    email: 'drifted@contoso.com',
    kind: 'exchange-online',
    rules: [foreignRules.fromPartner, correctSinkRule('old-sink@contoso.com', { isEnabled: false })],
  },
  {
    email: 'duplicate@contoso.com',
    kind: 'exchange-online',
    rules: [correctSinkRule('old-sink@contoso.com'), foreignRules.removeSpam, correctSinkRule(sink)],
  },
  { email: 'ok@contoso.com', kind: 'exchange-online', rules: [correctSinkRule(sink), foreignRules.externalRedirect] },
  { email: 'edited-later@contoso.com', kind: 'exchange-online' },
  { email: 'onprem@contoso.com', kind: 'on-premises' },
];

async function inWorld(
  body: (world: GraphWorld) => Promise<void>,
  mailboxes = estate(),
  app: { roles?: string[]; displayName?: string } = {},
) {
  const world = await startGraphWorld(mailboxes, { app });
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

/**
 * What a mailbox holds, in order, ids and positions aside (a recreated rule gets a new id); an
 * empty predicates object and an absent one mean the same in Graph (no conditions).
 */
const content = (rules: SimulatedRule[]) =>
  rules.map(({ id: _id, sequence: _sequence, ...rest }) =>
    Object.fromEntries(
      Object.entries(rest).filter(([, v]) => !(typeof v === 'object' && v !== null && Object.keys(v).length === 0)),
    ),
  );

const audit = (world: GraphWorld, dir: string, ...args: string[]) => world.runPlain(['audit', 'verify', dir, ...args]);

describe('evidence: report, journal, audit verify', () => {
  it(
    'report.json carries the run identity from the token (never the token or secret) and full rules; audit ' +
      'verify passes on an untouched folder',
    async () => {
      await inWorld(
        async (world) => {
          const result = await world.run(['deploy', '--yes', '--report', 'r']);
          assert.equal(result.code, 2, result.stderr); // onprem fails
          const report = await world.report('r');
          const identity = report.run.identity;
          assert.equal(identity.signedIn.graph.appDisplayName, 'CRM rule deployment');
          assert.deepEqual(identity.signedIn.graph.roles, ['MailboxSettings.ReadWrite']);
          assert.equal(identity.signedIn.graph.tenantId, world.tenantId);
          assert.equal(identity.signedIn.graph.appId, world.clientId);
          assert.equal(
            identity.config.sha256,
            createHash('sha256')
              .update(await readFile(world.configFile))
              .digest('hex'),
          );
          assert.ok(identity.operator.user && identity.operator.host);
          assert.deepEqual(identity.commandLine.slice(0, 4), ['sinkrule', 'deploy', '--yes', '--report']);
          const folder = await Promise.all(
            ['report.json', 'report.csv', 'report.html', 'journal.jsonl'].map((f) =>
              readFile(path.join(world.dir, 'r', f), 'utf8'),
            ),
          );
          for (const text of folder) {
            assert.ok(!text.includes(world.secret), 'no secret in the folder');
            assert.ok(!/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(text), 'no token in the folder');
          }
          const rows = byEmail(report.mailboxes);
          assert.equal(rows.get('missing@contoso.com')!.before.length, 0);
          assert.deepEqual(
            rows.get('missing@contoso.com')!.after[0].id,
            world.sim.rulesOf('missing@contoso.com').find((r) => r.displayName.includes('sinkrule'))!.id,
          );
          assert.equal(
            rows.get('onprem@contoso.com')!.before,
            null,
            'a mailbox that could not be read has no recorded rules',
          );
          assert.match(
            result.stdout,
            new RegExp(`last SHA-256 ${report.run.journal.lastHash}`),
            'the final hash is printed',
          );
          const verified = await audit(world, 'r', '--expect-hash', report.run.journal.lastHash);
          assert.equal(verified.code, 0, verified.stdout + verified.stderr);
          assert.match(verified.stdout, /intact: \d+ journal entries, 6 mailboxes/);
        },
        estate(),
        { displayName: 'CRM rule deployment' },
      );
    },
  );

  it('before/after are the rules as Graph answered (no conditions: {} it did not send); rollback works', async () => {
    await inWorld(async (world) => {
      // What Graph answers for a mailbox's rules, read as any client reads it.
      const token = await requestToken(world.sim.url, world.tenantId, {
        client_id: world.clientId,
        client_secret: world.secret,
        scope: `${world.sim.resource}/.default`,
      });
      const answered = async (email: string) => {
        const answer = await httpsCall('GET', `${world.sim.url}/v1.0/users/${email}/mailFolders/inbox/messageRules`, {
          headers: { authorization: `Bearer ${token.body.access_token}` },
        });
        assert.equal(answer.status, 200, answer.text);
        const rules = (JSON.parse(answer.text) as { value: Array<Record<string, unknown>> }).value;
        return rules.filter((rule) => String(rule.displayName).includes('sinkrule')).map((r) => JSON.stringify(r));
      };
      const drifted = 'drifted@contoso.com';
      const served = await answered(drifted);
      assert.equal(served.length, 1);
      assert.ok(!('conditions' in JSON.parse(served[0]!)), 'the premise: Graph sends no conditions for this rule');

      assert.equal((await world.run(['deploy', '--yes', '--report', 'r'])).code, 2);
      const row = byEmail((await world.report('r')).mailboxes).get(drifted)!;
      assert.deepEqual(
        row.before.map((rule: unknown) => JSON.stringify(rule)),
        served,
        'before: exactly the rule Graph returned, same keys in the same order, nothing added',
      );
      assert.equal(row.outcome, 'updated');
      assert.deepEqual(
        row.after.map((rule: unknown) => JSON.stringify(rule)),
        await answered(drifted),
        "after: exactly Graph's answer to the write (the rule as it now serves it)",
      );
      const created = byEmail((await world.report('r')).mailboxes).get('missing@contoso.com')!;
      assert.deepEqual(
        created.after.map((rule: unknown) => JSON.stringify(rule)),
        await answered('missing@contoso.com'),
      );
      assert.ok(
        !('@odata.context' in created.after[0]),
        "the answer's @odata.context describes the response, not the rule",
      );
      const csv = parse(await readFile(path.join(world.dir, 'r', 'report.csv')), { columns: true, bom: true }) as Array<
        Record<string, string>
      >;
      const csvRow = csv.find((r) => r.email === drifted)!;
      assert.equal(csvRow.beforeConditions, '');
      assert.equal(csvRow.beforeForwardAsAttachmentTo, 'old-sink@contoso.com');
      assert.equal((await audit(world, 'r')).code, 0);

      const rollback = await world.runPlain(['rollback', '--report', 'r', '--config', world.configFile, '--yes']);
      assert.equal(rollback.code, 2, rollback.stderr); // onprem failed in the run and fails again
      const restored = JSON.parse((await answered(drifted))[0]!);
      const { conditions, ...rest } = restored;
      assert.ok(conditions === undefined || Object.keys(conditions).length === 0, 'no conditions, as before');
      const { conditions: _none, ...original } = JSON.parse(served[0]!);
      assert.deepEqual(rest, original, 'rollback put back the rule it recorded (same id, old sink, disabled)');
    });
  });

  it(
    'audit verify names the line after each kind of edit (changed, removed, reordered, added; report.json, ' +
      'report.csv)',
    async () => {
      await inWorld(async (world) => {
        assert.equal((await world.run(['deploy', '--yes', '--report', 'r'])).code, 2);
        const journal = (await readFile(path.join(world.dir, 'r', 'journal.jsonl'), 'utf8')).split('\n').slice(0, -1);
        const edited = async (name: string, file: string, edit: (text: string) => string) => {
          await cp(path.join(world.dir, 'r'), path.join(world.dir, name), { recursive: true });
          const target = path.join(world.dir, name, file);
          await writeFile(target, edit(await readFile(target, 'utf8')));
          return audit(world, name);
        };
        const lines = (edit: (l: string[]) => string[]) => (text: string) =>
          `${edit(text.split('\n').slice(0, -1)).join('\n')}\n`;
        const doneLine = journal.findIndex((l) => l.includes('"type":"done"')); // 0-based
        const cases: Array<[string, string, (t: string) => string, RegExp]> = [
          [
            'changed',
            'journal.jsonl',
            lines((l) => l.map((x, i) => (i === doneLine ? x.replace('"outcome":"', '"outcome":"x') : x))),
            new RegExp(`line ${doneLine + 1}: was changed`),
          ],
          [
            'removed',
            'journal.jsonl',
            lines((l) => l.filter((_, i) => i !== 2)),
            /line 3: holds entry 4, but entry 3 belongs here and is missing: a line was removed/,
          ],
          [
            'reordered',
            'journal.jsonl',
            lines((l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)]),
            /line 2: holds entry 3, but entry 2 belongs here \(it is now on line 3\): lines were reordered/,
          ],
          [
            'added-middle',
            'journal.jsonl',
            lines((l) => [...l.slice(0, 3), l[2]!, ...l.slice(3)]),
            /line 4: holds entry 3 a second time: a line was added/,
          ],
          [
            'added-end',
            'journal.jsonl',
            lines((l) => [
              ...l,
              JSON.stringify({
                seq: l.length + 1,
                at: 'x',
                prev: createHash('sha256').update(l.at(-1)!).digest('hex'),
                type: 'end',
              }),
            ]),
            new RegExp(`line ${journal.length + 1}: added after the run ended`),
          ],
          [
            'last-changed',
            'journal.jsonl',
            lines((l) => [...l.slice(0, -1), l.at(-1)!.replace('"exitCode":2', '"exitCode":0')]),
            new RegExp(`line ${journal.length}: was changed`),
          ],
          [
            'json-row',
            'report.json',
            (t) => t.replace('"outcome":"failed"', '"outcome":"created"'),
            /report\.json: mailbox \d+ \(onprem@contoso\.com\) differs from journal line \d+ \(outcome\)/,
          ],
          [
            'csv-cell',
            'report.csv',
            (t) => t.replace('ok@contoso.com,', 'ok@contoso.com ,'),
            /report\.csv:\d+: differs from journal line \d+ \(ok@contoso\.com, email\)/,
          ],
          [
            'csv-row-removed',
            'report.csv',
            (t) =>
              t
                .split('\n')
                .filter((l) => !l.startsWith('missing@'))
                .join('\n'),
            joined(
              /report\.csv:\d+: differs from journal line \d+ \(missing@contoso\.com, email\)|report\.csv: the row /,
              /of missing@contoso\.com/,
            ),
          ],
        ];
        for (const [name, file, edit, expected] of cases) {
          const result = await edited(name, file, edit);
          assert.equal(result.code, 2, `${name}: ${result.stdout}${result.stderr}`);
          assert.match(result.stdout, expected, name);
        }
      });
    },
  );

  it(
    'rollback restores every mailbox exactly (creates, updates, duplicate deletions), with a conflict where a ' +
      'rule changed after the run',
    async () => {
      await inWorld(async (world) => {
        const emails = estate().map((m) => m.email);
        const before = new Map(emails.map((e) => [e, content(world.sim.rulesOf(e))]));
        assert.equal((await world.run(['deploy', '--yes', '--report', 'r'])).code, 2);
        // After the run, the user of one mailbox disables sinkrule's rule in Outlook.
        const edited = world.sim.rulesOf('edited-later@contoso.com')[0]!;
        world.sim.editRule('edited-later@contoso.com', edited.id, { isEnabled: false });
        const afterEdit = world.sim.rulesOf('edited-later@contoso.com');

        const dry = await world.runPlain([
          'rollback',
          '--report',
          'r',
          '--config',
          world.configFile,
          '--dry-run',
          '--out',
          'rb-dry',
        ]);
        assert.equal(dry.code, 2, dry.stderr);
        const writes = world.sim.stats.writes;
        const dryRows = byEmail((await world.report('rb-dry')).mailboxes);
        assert.equal(dryRows.get('missing@contoso.com')!.outcome, 'would-restore');
        assert.equal(dryRows.get('ok@contoso.com')!.outcome, 'unchanged');
        assert.equal(world.sim.stats.writes, writes, 'a dry run writes nothing');

        const noTerminal = await world.runPlain(['rollback', '--report', 'r', '--config', world.configFile]);
        assert.equal(noTerminal.code, 1, 'no --yes and no terminal: refused');
        assert.match(noTerminal.stderr, /--yes/);

        const result = await world.runPlain([
          'rollback',
          '--report',
          'r',
          '--config',
          world.configFile,
          '--yes',
          '--out',
          'rb',
        ]);
        assert.equal(result.code, 2, result.stderr);
        const rows = byEmail((await world.report('rb')).mailboxes);
        assert.equal(rows.get('edited-later@contoso.com')!.outcome, 'conflict');
        assert.match(rows.get('edited-later@contoso.com')!.drift.join(' '), /changed after the run: isEnabled/);
        assert.deepEqual(
          world.sim.rulesOf('edited-later@contoso.com'),
          afterEdit,
          'nothing written where the mailbox changed',
        );
        for (const email of ['missing@contoso.com', 'drifted@contoso.com', 'duplicate@contoso.com'])
          assert.equal(rows.get(email)!.outcome, 'restored', email);
        assert.equal(rows.get('ok@contoso.com')!.outcome, 'unchanged');
        for (const email of emails.filter((e) => e !== 'edited-later@contoso.com')) {
          assert.deepEqual(
            content(world.sim.rulesOf(email)),
            before.get(email),
            `${email}: back to its rules before the deploy, in order`,
          );
        }
        // The rollback's own folder is evidence too; rolling back again finds nothing to do.
        assert.equal((await audit(world, 'rb')).code, 0);
        const again = await world.runPlain([
          'rollback',
          '--report',
          'r',
          '--config',
          world.configFile,
          '--yes',
          '--out',
          'rb2',
        ]);
        const againRows = byEmail((await world.report('rb2')).mailboxes);
        assert.equal(again.code, 2);
        for (const email of ['missing@contoso.com', 'drifted@contoso.com', 'duplicate@contoso.com', 'ok@contoso.com'])
          assert.equal(againRows.get(email)!.outcome, 'unchanged', email);

        // A folder that fails audit verify is refused.
        await cp(path.join(world.dir, 'r'), path.join(world.dir, 'r-edited'), { recursive: true });
        const csvFile = path.join(world.dir, 'r-edited', 'report.csv');
        await writeFile(
          csvFile,
          (await readFile(csvFile, 'utf8')).replace('missing@contoso.com', 'someone@contoso.com'),
        );
        const refused = await world.runPlain([
          'rollback',
          '--report',
          'r-edited',
          '--config',
          world.configFile,
          '--yes',
        ]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /changed after the run.*report\.csv/);
      });
    },
  );

  it('verify --inventory lists every forwarding rule, targets internal or external by verified domains', async () => {
    const mailboxes: SimulatedMailbox[] = [
      {
        email: 'adele@contoso.com',
        kind: 'exchange-online',
        rules: [foreignRules.fromPartner, foreignRules.removeSpam, correctSinkRule(sink)],
      },
      {
        email: 'grady@contoso.com',
        kind: 'exchange-online',
        rules: [foreignRules.readOnly, foreignRules.externalRedirect],
      },
      { email: 'onprem@contoso.com', kind: 'on-premises' },
    ];
    await inWorld(
      async (world) => {
        const result = await world.run(['verify', '--inventory', '--report', 'v']);
        assert.equal(result.code, 2, result.stderr);
        const rows = parse(await readFile(path.join(world.dir, 'v', 'forwarding-inventory.csv')), {
          columns: true,
          bom: true,
        }) as Array<Record<string, string>>;
        const find = (mailbox: string, action: string) =>
          rows.find((r) => r.mailbox === mailbox && r.action === action);
        assert.deepEqual(
          {
            target: find('adele@contoso.com', 'forwardTo')!.target,
            scope: find('adele@contoso.com', 'forwardTo')!.scope,
            sinkrule: find('adele@contoso.com', 'forwardTo')!.sinkrule,
            enabled: find('adele@contoso.com', 'forwardTo')!.enabled,
          },
          { target: 'AlexW@contoso.onmicrosoft.com', scope: 'internal', sinkrule: 'no', enabled: 'true' },
        );
        assert.equal(find('adele@contoso.com', 'forwardAsAttachmentTo')!.sinkrule, 'yes');
        assert.equal(find('adele@contoso.com', 'forwardAsAttachmentTo')!.scope, 'internal');
        assert.equal(find('grady@contoso.com', 'redirectTo')!.scope, 'external');
        assert.ok(
          rows.some(
            (r) =>
              r.mailbox === 'grady@contoso.com' &&
              r.ruleName === foreignRules.readOnly.displayName &&
              /read-only/.test(r.note!),
          ),
        );
        assert.ok(rows.some((r) => r.mailbox === 'onprem@contoso.com' && /could not be read/.test(r.note!)));
        assert.ok(!rows.some((r) => r.ruleName === 'Remove spam'), 'rules that do not forward are not listed');
        const report = await world.report('v');
        assert.match(report.run.inventory.domainsSource, /verified domains/);
        assert.deepEqual(report.run.inventory.internalDomains, ['contoso.com', 'contoso.onmicrosoft.com']);
      },
      mailboxes,
      { roles: ['MailboxSettings.Read', 'Domain.Read.All'] },
    );
  });

  it('without Domain.Read.All the inventory falls back to config internalDomains and says so', async () => {
    const mailboxes: SimulatedMailbox[] = [
      {
        email: 'grady@contoso.com',
        kind: 'exchange-online',
        rules: [foreignRules.fromPartner, foreignRules.externalRedirect],
      },
    ];
    await inWorld(
      async (world) => {
        const url = world.sim.url;
        await world.writeConfig({
          sink,
          internalDomains: ['contoso.com'],
          graph: { tenantId: world.tenantId, clientId: world.clientId, authorityHost: url, baseUrl: url },
        });
        const result = await world.run(['verify', '--inventory', '--report', 'v']);
        assert.equal(result.code, 2, result.stderr);
        assert.match(
          result.stderr,
          joined(
            /cannot read the directory's verified /,
            /domains.*Authorization_RequestDenied.*Domain\.Read\.All.*internalDomains/s,
          ),
        );
        const rows = parse(await readFile(path.join(world.dir, 'v', 'forwarding-inventory.csv')), {
          columns: true,
          bom: true,
        }) as Array<Record<string, string>>;
        assert.equal(
          rows.find((r) => r.action === 'forwardTo')!.scope,
          'external',
          'contoso.onmicrosoft.com is not in internalDomains',
        );
        assert.equal(rows.find((r) => r.action === 'redirectTo')!.scope, 'external');
        assert.match(
          (await world.report('v')).run.inventory.domainsSource,
          /config internalDomains \(the directory's domains could not be read/,
        );
      },
      mailboxes,
      { roles: ['MailboxSettings.ReadWrite'] },
    );
  });
});
