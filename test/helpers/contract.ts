import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { CliResult } from './cli.js';
import { byEmail } from './graph-world.js';

/** Mailbox states every back end must handle the same way. */
export type Scenario =
  | 'missing' // no rules at all
  | 'disabled' // sinkrule's rule, switched off
  | 'drifted' // sinkrule's rule, forwarding to an old sink
  | 'duplicate' // two of sinkrule's rules, one drifted, plus a foreign rule
  | 'readonly' // a rule the API cannot express (one of them even carries sinkrule's name)
  | 'foreign' // rules of the user's own, some forwarding elsewhere
  | 'ok' // exactly the desired rule
  | 'no-mailbox' // user without a mailbox this back end can reach
  | 'unknown' // address unknown to the directory
  | 'denied'; // the app or account may not touch this mailbox

export interface ScenarioMailbox {
  email: string;
  scenario: Scenario;
}

/** A rule as the contract compares it, whatever the back end stores. */
export interface RuleView {
  displayName: string;
  isEnabled: boolean;
  readOnly: boolean;
  forwardAsAttachmentTo: string[];
  exceptionFrom: string[];
  exceptNonDeliveryReports: boolean;
  exceptReadReceipts: boolean;
  /** The stored rule without its position, to prove foreign rules were not changed. */
  raw: unknown;
}

export interface ContractWorld {
  sink: string;
  ruleName: string;
  secrets: string[];
  dir: string;
  run(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
  report(dir: string): Promise<{ run: Record<string, any>; mailboxes: Array<Record<string, any>> }>;
  rules(email: string): RuleView[];
  writes(): number;
  insideRetryAfterWindow(): number;
  close(): Promise<void>;
}

export type WorldFactory = (mailboxes: ScenarioMailbox[]) => Promise<ContractWorld>;

const scenarios: Scenario[] = [
  'missing',
  'disabled',
  'drifted',
  'duplicate',
  'readonly',
  'foreign',
  'ok',
  'no-mailbox',
  'unknown',
  'denied',
];
export const population: ScenarioMailbox[] = scenarios.map((scenario) => ({
  email: `${scenario}@contoso.com`,
  scenario,
}));
const reachable = population.filter((m) => !['no-mailbox', 'unknown', 'denied'].includes(m.scenario));

async function withWorld(
  factory: WorldFactory,
  mailboxes: ScenarioMailbox[],
  body: (world: ContractWorld) => Promise<void>,
): Promise<void> {
  const world = await factory(mailboxes);
  try {
    await body(world);
  } finally {
    await world.close();
  }
}

function ours(world: ContractWorld, email: string): RuleView[] {
  return world.rules(email).filter((r) => !r.readOnly && r.displayName.toLowerCase() === world.ruleName.toLowerCase());
}
function foreign(world: ContractWorld, email: string): unknown[] {
  return world
    .rules(email)
    .filter((r) => r.readOnly || r.displayName.toLowerCase() !== world.ruleName.toLowerCase())
    .map((r) => r.raw);
}

function assertDesired(world: ContractWorld, email: string): void {
  const found = ours(world, email);
  assert.equal(found.length, 1, `${email}: exactly one sinkrule rule`);
  const rule = found[0]!;
  assert.equal(rule.isEnabled, true, `${email}: enabled`);
  assert.deepEqual(
    rule.forwardAsAttachmentTo.map((a) => a.toLowerCase()),
    [world.sink],
    `${email}: forwards as attachment to the sink`,
  );
  assert.deepEqual(
    rule.exceptionFrom.map((a) => a.toLowerCase()),
    [world.sink],
    `${email}: loop guard for mail from the sink`,
  );
  assert.equal(rule.exceptNonDeliveryReports, true, `${email}: NDRs excepted`);
  assert.equal(rule.exceptReadReceipts, true, `${email}: read receipts excepted`);
}

/** Files of a report folder must not contain any secret. */
async function assertNoSecrets(world: ContractWorld, result: CliResult, reportDir: string): Promise<void> {
  const texts = [result.stdout, result.stderr];
  // Every file of the report folder, its subfolders (manual/, soc/) included.
  for (const entry of await readdir(path.join(world.dir, reportDir), { recursive: true, withFileTypes: true }))
    if (entry.isFile()) texts.push(await readFile(path.join(entry.parentPath, entry.name), 'utf8'));
  for (const secret of world.secrets)
    for (const text of texts) assert.ok(!text.includes(secret), 'a secret leaked into output or report');
}

/**
 * The contract every back end passes: the same commands, outcomes, exit codes and guarantees
 * (foreign rules untouched, re-runs write nothing, dry runs write nothing), end to end through the
 * built CLI against that back end's simulator.
 */
export function contractSuite(name: string, factory: WorldFactory): void {
  describe(`contract: ${name}`, () => {
    it('deploy converges every reachable mailbox, leaves foreign rules alone, reports the rest as failed', async () => {
      await withWorld(factory, population, async (world) => {
        const foreignBefore = new Map(population.map((m) => [m.email, foreign(world, m.email)]));
        const result = await world.run(['deploy', '--yes', '--report', 'r1']);
        assert.equal(result.code, 2, result.stderr);
        const report = await world.report('r1');
        const outcomes = Object.fromEntries(report.mailboxes.map((m) => [m.email.split('@')[0], m.outcome]));
        assert.deepEqual(outcomes, {
          missing: 'created',
          disabled: 'updated',
          drifted: 'updated',
          duplicate: 'updated',
          readonly: 'created',
          foreign: 'created',
          ok: 'unchanged',
          'no-mailbox': 'failed',
          unknown: 'failed',
          denied: 'failed',
        });
        for (const { email } of reachable) {
          assertDesired(world, email);
          assert.deepEqual(foreign(world, email), foreignBefore.get(email), `${email}: foreign rules unchanged`);
        }
        const rows = byEmail(report.mailboxes);
        for (const email of ['no-mailbox@contoso.com', 'unknown@contoso.com', 'denied@contoso.com']) {
          const row = rows.get(email)!;
          assert.ok(row.error.code && row.error.fix.length > 20, `${email}: error code and fix in the report`);
        }
        assert.match(rows.get('denied@contoso.com')!.error.fix, /ApplicationImpersonation|MailboxSettings\.ReadWrite/);
        assert.ok(
          rows.get('foreign@contoso.com')!.otherForwardingRules.length >= 2,
          'foreign forwarding rules are listed for auditors',
        );
        assert.ok(
          rows.get('readonly@contoso.com')!.notes.some((n: string) => /read-only/.test(n)),
          'read-only rule with our name is reported',
        );
        // Full rule objects, ids included, as the service returned them (before) and as left (after).
        const drifted = rows.get('drifted@contoso.com')!;
        assert.equal(drifted.before.length, 1);
        assert.equal(drifted.before[0].actions.forwardAsAttachmentTo[0].emailAddress.address, 'old-sink@contoso.com');
        assert.ok(drifted.before[0].id && drifted.before[0].exceptions, 'every property of the rule, id included');
        assert.equal(drifted.after[0].actions.forwardAsAttachmentTo[0].emailAddress.address, world.sink);
        assert.equal(drifted.after[0].id, drifted.before[0].id, 'updated in place');
        const duplicate = rows.get('duplicate@contoso.com')!;
        assert.equal(duplicate.before.length, 2, 'both rules carrying the name are recorded');
        assert.equal(duplicate.after.length, 1);
        assert.equal(report.run.counts.created, 3);
        assert.equal(world.insideRetryAfterWindow(), 0);
        await assertNoSecrets(world, result, 'r1');
      });
    });

    it('a second deploy writes nothing', async () => {
      await withWorld(factory, reachable, async (world) => {
        assert.equal((await world.run(['deploy', '--yes', '--report', 'r1'])).code, 0);
        const writes = world.writes();
        const second = await world.run(['deploy', '--yes', '--report', 'r2', '--output', 'json']);
        assert.equal(second.code, 0, second.stderr);
        assert.equal(world.writes(), writes, 'no write on a converged estate');
        assert.deepEqual(JSON.parse(second.stdout).counts, { unchanged: reachable.length });
      });
    });

    it('verify classifies every mailbox, writes nothing and exits 2 when any is not compliant', async () => {
      await withWorld(factory, population, async (world) => {
        const result = await world.run(['verify', '--report', 'v1']);
        assert.equal(result.code, 2);
        assert.equal(world.writes(), 0);
        const outcomes = Object.fromEntries(
          (await world.report('v1')).mailboxes.map((m) => [m.email.split('@')[0], m.outcome]),
        );
        assert.deepEqual(outcomes, {
          missing: 'missing',
          disabled: 'disabled',
          drifted: 'drifted',
          duplicate: 'duplicate',
          readonly: 'missing',
          foreign: 'missing',
          ok: 'ok',
          'no-mailbox': 'failed',
          unknown: 'failed',
          denied: 'failed',
        });
      });
      await withWorld(
        factory,
        population.filter((m) => m.scenario === 'ok'),
        async (world) => {
          assert.equal((await world.run(['verify', '--report', 'v2'])).code, 0, 'a compliant estate exits 0');
        },
      );
    });

    it('dry runs read everything and write nothing', async () => {
      await withWorld(factory, reachable, async (world) => {
        const deploy = await world.run(['deploy', '--dry-run', '--report', 'd1']);
        assert.equal(deploy.code, 0, deploy.stderr);
        const outcomes = Object.fromEntries(
          (await world.report('d1')).mailboxes.map((m) => [m.email.split('@')[0], m.outcome]),
        );
        assert.equal(outcomes.missing, 'would-create');
        assert.equal(outcomes.drifted, 'would-update');
        assert.equal(outcomes.ok, 'unchanged');
        const remove = await world.run(['remove', '--dry-run', '--report', 'd2']);
        assert.equal(remove.code, 0);
        const removeOutcomes = Object.fromEntries(
          (await world.report('d2')).mailboxes.map((m) => [m.email.split('@')[0], m.outcome]),
        );
        assert.equal(removeOutcomes.ok, 'would-remove');
        assert.equal(removeOutcomes.missing, 'absent');
        assert.equal(world.writes(), 0);
        assert.match(deploy.stdout, /dry run/);
      });
    });

    it("remove deletes only sinkrule's rules; a second remove finds them absent", async () => {
      await withWorld(factory, reachable, async (world) => {
        const foreignBefore = new Map(reachable.map((m) => [m.email, foreign(world, m.email)]));
        const result = await world.run(['remove', '--yes', '--report', 'x1']);
        assert.equal(result.code, 0, result.stderr);
        for (const { email } of reachable) {
          assert.equal(ours(world, email).length, 0, `${email}: no sinkrule rule left`);
          assert.deepEqual(foreign(world, email), foreignBefore.get(email), `${email}: foreign rules unchanged`);
        }
        const outcomes = Object.fromEntries(
          (await world.report('x1')).mailboxes.map((m) => [m.email.split('@')[0], m.outcome]),
        );
        assert.equal(outcomes.duplicate, 'removed');
        assert.equal(outcomes.missing, 'absent');
        assert.equal(outcomes.readonly, 'absent');
        const writes = world.writes();
        const again = await world.run(['remove', '--yes', '--report', 'x2', '--output', 'json']);
        assert.deepEqual(JSON.parse(again.stdout).counts, { absent: reachable.length });
        assert.equal(world.writes(), writes);
      });
    });

    it('refuses to write without --yes when there is no terminal to confirm on', async () => {
      await withWorld(factory, reachable, async (world) => {
        for (const command of ['deploy', 'remove']) {
          const result = await world.run([command, '--report', 'n']);
          assert.equal(result.code, 1);
          assert.match(result.stderr, /--yes/);
        }
        assert.equal(world.writes(), 0);
      });
    });
  });
}
