import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessError, MailboxError, TransientError } from '../../src/core/errors.js';
import type { Mailbox } from '../../src/core/mailbox.js';
import type { MailboxOutcome } from '../../src/core/outcome.js';
import type { Mode, RuleChange } from '../../src/core/plan.js';
import type { ApiProvider, ManualProvider, Provider } from '../../src/core/provider.js';
import type { MailboxRule, RuleSpec } from '../../src/core/rule.js';
import { runMailboxes } from '../../src/core/runner.js';
import { VirtualTime } from '../helpers/virtual-time.js';

const sink = 'crm-sink@contoso.com';
const desired: RuleSpec = {
  displayName: 'CRM rule',
  sequence: 1,
  isEnabled: true,
  actions: { forwardAsAttachmentTo: [{ emailAddress: { address: sink } }], stopProcessingRules: false },
  exceptions: { fromAddresses: [{ emailAddress: { address: sink } }] },
};
const mailbox = (email: string, target: Mailbox['target'] = 'graph'): Mailbox => ({ email, target, sink, line: 2 });
const rule = (id: string, overrides: Partial<MailboxRule> = {}): MailboxRule => ({
  ...desired,
  id,
  isReadOnly: false,
  hasError: false,
  ...overrides,
});

/** An in-memory API back end; `failures` lets a test script what the service answers. */
function fakeApi(
  rules: Record<string, MailboxRule[]>,
  failures: {
    read?: (email: string, attempt: number) => unknown;
    write?: (email: string, change: RuleChange) => unknown;
  } = {},
) {
  const reads = new Map<string, number>();
  const writes: Array<{ email: string; change: RuleChange }> = [];
  let nextId = 1;
  const provider: ApiProvider = {
    kind: 'api',
    target: 'graph',
    open: async () => {},
    async readRules(m) {
      const attempt = (reads.get(m.email) ?? 0) + 1;
      reads.set(m.email, attempt);
      const error = failures.read?.(m.email, attempt);
      if (error) throw error;
      return { rules: structuredClone(rules[m.email] ?? []), facts: {} };
    },
    async applyChanges(m, changes) {
      const createdRuleIds: string[] = [];
      for (const change of changes) {
        writes.push({ email: m.email, change });
        const list = (rules[m.email] ??= []);
        if (change.kind === 'create') {
          const id = `r${nextId++}`;
          list.push(rule(id));
          createdRuleIds.push(id);
        } else if (change.kind === 'update')
          Object.assign(
            list.find((r) => r.id === change.ruleId)!,
            change.rule,
          );
        else rules[m.email] = list.filter((r) => r.id !== change.ruleId);
        const error = failures.write?.(m.email, change);
        if (error) throw error;
      }
      return { createdRuleIds };
    },
    describe: () => ({}),
    close: async () => {},
  };
  return { provider, reads, writes, rules };
}

async function run(
  mode: Mode,
  mailboxes: Mailbox[],
  providers: Record<string, Provider>,
  dryRun = false,
  delays: number[] = [],
): Promise<Map<string, MailboxOutcome>> {
  const outcomes = new Map<string, MailboxOutcome>();
  const time = new VirtualTime();
  async function* rows() {
    yield* mailboxes;
  }
  const done = runMailboxes(rows(), {
    mode,
    dryRun,
    providerFor: (m) => providers[m.target]!,
    concurrencyFor: () => 4,
    desiredRuleFor: () => desired,
    retry: {
      maxRetries: 3,
      retryDelayInMs: 100,
      firstRetryDelayInMs: 10,
      maxRetryDelayInMs: 1000,
      sleep: time.sleep,
      random: () => 0.5,
    },
    clock: time.clock,
    onOutcome: (outcome) => void outcomes.set(outcome.email, outcome),
    onRetry: (_mailbox, _error, delayInMs) => void delays.push(delayInMs),
  });
  // Settle first, so a run that stops early is not an unhandled rejection while time advances.
  const settled = done.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  await time.run();
  const stopped = await settled;
  if (stopped) throw stopped.error;
  return outcomes;
}

describe('runner, in-process with a fake back end', () => {
  it('creates, repairs, removes duplicates, leaves compliant mailboxes alone; other rules never touched', async () => {
    const foreign = rule('f1', { displayName: 'My own rule', actions: { moveToFolder: 'x' } });
    const api = fakeApi({
      'ok@contoso.com': [rule('a'), foreign],
      'off@contoso.com': [rule('b', { isEnabled: false })],
      'twice@contoso.com': [rule('c'), rule('d', { sequence: 5 })],
    });
    const emails = ['new@contoso.com', 'ok@contoso.com', 'off@contoso.com', 'twice@contoso.com'];
    const outcomes = await run(
      'deploy',
      emails.map((e) => mailbox(e)),
      { graph: api.provider },
    );
    assert.deepEqual(
      emails.map((e) => outcomes.get(e)!.outcome),
      ['created', 'unchanged', 'updated', 'updated'],
    );
    assert.deepEqual(api.rules['ok@contoso.com'], [rule('a'), foreign], 'compliant mailbox untouched');
    assert.deepEqual(
      api.rules['twice@contoso.com']!.map((r) => r.id),
      ['c'],
      'the duplicate was deleted, the best match kept',
    );
    assert.ok(api.writes.every((w) => !('ruleId' in w.change) || w.change.ruleId !== 'f1'));
    const again = await run(
      'deploy',
      emails.map((e) => mailbox(e)),
      { graph: api.provider },
    );
    assert.ok(
      [...again.values()].every((o) => o.outcome === 'unchanged'),
      'deploy is idempotent',
    );
  });

  it('a dry run reads and plans but writes nothing', async () => {
    const api = fakeApi({ 'off@contoso.com': [rule('b', { isEnabled: false })] });
    const outcomes = await run(
      'deploy',
      [mailbox('new@contoso.com'), mailbox('off@contoso.com')],
      { graph: api.provider },
      true,
    );
    assert.deepEqual([...outcomes.values()].map((o) => o.outcome).sort(), ['would-create', 'would-update']);
    assert.equal(api.writes.length, 0);
  });

  it('after a write whose fate is unknown it re-reads instead of replaying: one rule, not two', async () => {
    const api = fakeApi(
      {},
      {
        write: (_e, change) =>
          change.kind === 'create'
            ? new TransientError('timed out after the create was committed', 'Timeout')
            : undefined,
      },
    );
    const delays: number[] = [];
    const outcomes = await run('deploy', [mailbox('new@contoso.com')], { graph: api.provider }, false, delays);
    assert.equal(outcomes.get('new@contoso.com')!.outcome, 'created');
    assert.equal(outcomes.get('new@contoso.com')!.attempts, 2);
    assert.equal(api.rules['new@contoso.com']!.length, 1, 'exactly one rule');
    assert.equal(api.writes.length, 1);
    // No fast retry after a write: the service gets the whole back-off (75 ms of 100) to show it.
    assert.deepEqual(delays, [75]);
  });

  it('retries a read that failed for a transient reason almost at once, once', async () => {
    const api = fakeApi(
      {},
      { read: (_e, attempt) => (attempt <= 2 ? new TransientError('503', 'ServiceUnavailable') : undefined) },
    );
    const delays: number[] = [];
    const outcomes = await run('deploy', [mailbox('new@contoso.com')], { graph: api.provider }, false, delays);
    assert.equal(outcomes.get('new@contoso.com')!.outcome, 'created');
    assert.deepEqual(delays, [8, 75], 'first 10 ms with equal jitter, then the back-off from 100 ms');
  });

  it('records a mailbox error as failed with its fix and goes on; an access error stops the run', async () => {
    const api = fakeApi(
      {},
      {
        read: (email) =>
          email === 'gone@contoso.com'
            ? new MailboxError('ErrorInvalidUser', 'no such user', 'correct the address')
            : undefined,
      },
    );
    const outcomes = await run('verify', [mailbox('gone@contoso.com'), mailbox('new@contoso.com')], {
      graph: api.provider,
    });
    assert.equal(outcomes.get('gone@contoso.com')!.outcome, 'failed');
    assert.equal(outcomes.get('gone@contoso.com')!.error!.fix, 'correct the address');
    assert.equal(outcomes.get('new@contoso.com')!.outcome, 'missing');
    const denied = fakeApi({}, { read: () => new AccessError('token rejected') });
    await assert.rejects(
      run('verify', [mailbox('a@contoso.com'), mailbox('b@contoso.com')], { graph: denied.provider }),
      AccessError,
    );
  });

  it('hands manual mailboxes to their back end explicitly: instructions, no reads or writes', async () => {
    const api = fakeApi({});
    const manual: ManualProvider = {
      kind: 'manual',
      target: 'pop3',
      open: async () => {},
      instructionsFor: (m) => ({
        template: 'server-rule',
        server: 'pop.contoso.com',
        confirmed: m.email.startsWith('done') ? '2026-11-01 by admin' : undefined,
        markdown: '# do it',
        markdownForHtml: '# do it',
      }),
      describe: () => ({}),
      close: async () => {},
    };
    const outcomes = await run(
      'deploy',
      [mailbox('ben@contoso.com', 'pop3'), mailbox('done@contoso.com', 'pop3'), mailbox('new@contoso.com')],
      { graph: api.provider, pop3: manual },
    );
    assert.equal(outcomes.get('ben@contoso.com')!.outcome, 'manual');
    assert.equal(outcomes.get('done@contoso.com')!.outcome, 'confirmed-manually');
    assert.equal(outcomes.get('new@contoso.com')!.outcome, 'created');
    assert.deepEqual([...api.reads.keys()], ['new@contoso.com'], 'the API back end never saw a manual mailbox');
  });

  it(
    'stale mailboxes (verify --include-stale): our rule is "stale", none is "absent"; a row with a problem ' +
      'fails without a request',
    async () => {
      const api = fakeApi({ 'sss@contoso.com': [rule('a')] });
      const stale = (email: string): Mailbox => ({
        ...mailbox(email),
        staleBecause: 'Server-Side Synchronization or Email Router',
      });
      const noAddress: Mailbox = {
        ...mailbox(''),
        displayName: 'Nora',
        dynamicsMailboxId: 'id-1',
        problem: { code: 'NoEmailAddress', message: 'no address', fix: 'enter it' },
      };
      const outcomes = await run('verify', [stale('sss@contoso.com'), stale('clean@contoso.com'), noAddress], {
        graph: api.provider,
      });
      assert.equal(outcomes.get('sss@contoso.com')!.outcome, 'stale');
      assert.match(outcomes.get('sss@contoso.com')!.notes.join(), /Server-Side Synchronization/);
      assert.equal(outcomes.get('clean@contoso.com')!.outcome, 'absent');
      assert.equal(outcomes.get('')!.outcome, 'failed');
      assert.equal(outcomes.get('')!.error!.code, 'NoEmailAddress');
      assert.deepEqual(outcomes.get('')!.facts, { dynamicsMailboxId: 'id-1' });
      assert.deepEqual(
        [...api.reads.keys()].sort(),
        ['clean@contoso.com', 'sss@contoso.com'],
        'no request for the row without an address',
      );
    },
  );

  it('a source that fails part-way stops the run after the mailboxes under way finish', async () => {
    const api = fakeApi({});
    const outcomes = new Map<string, MailboxOutcome>();
    async function* failing() {
      yield mailbox('a@contoso.com');
      yield mailbox('b@contoso.com');
      throw new AccessError('Dataverse refused access');
    }
    let outcomesWhenStopped = -1;
    const time = new VirtualTime();
    const stopped = runMailboxes(failing(), {
      mode: 'deploy',
      dryRun: false,
      providerFor: () => api.provider,
      concurrencyFor: () => 4,
      desiredRuleFor: () => desired,
      retry: { maxRetries: 3, retryDelayInMs: 100, maxRetryDelayInMs: 1000, sleep: time.sleep },
      clock: time.clock,
      // Outcomes are recorded a little later, as a report writer's would be.
      onOutcome: (outcome) => time.sleep(10).then(() => void outcomes.set(outcome.email, outcome)),
    }).catch((error: unknown) => {
      outcomesWhenStopped = outcomes.size;
      throw error;
    });
    const settled = stopped.catch((error: unknown) => error);
    await time.run();
    assert.match(String(await settled), /Dataverse refused access/);
    assert.equal(
      outcomesWhenStopped,
      2,
      'the run ended only after both rows read before the failure had their outcome',
    );
  });
});
