import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { emptyOutcome, type MailboxOutcome } from '../../src/core/outcome.js';
import { genesisHash, sha256 } from '../../src/report/journal.js';
import type { RunInfo } from '../../src/report/run-info.js';

export const syntheticApp = {
  tenantId: '0b6b5c4e-1d9a-4c8e-9a55-2f6a1d3c7e01',
  appId: '7c1f2e3d-4b5a-4968-8776-5a4b3c2d1e0f',
};

/**
 * report.json's run section for a run of `mailboxes` that made no request (tests and benchmarks of
 * what comes after a run): the fields a real run fills in, with the caller's on top.
 */
export function syntheticRun(
  mailboxes: number,
  fields: Pick<RunInfo, 'command' | 'sink' | 'counts' | 'exitCode'> & Partial<RunInfo>,
): RunInfo {
  const at = '2026-12-01T10:00:00.000Z';
  return {
    dryRun: false,
    startedAt: at,
    finishedAt: at,
    durationInMs: 0,
    toolVersion: '0.1.0',
    identity: {
      operator: { user: 'admin', host: 'host' },
      toolVersion: '0.1.0',
      commandLine: ['sinkrule', fields.command],
      config: { file: 'sinkrule.config.json', sha256: '0'.repeat(64) },
      signedIn: {},
    },
    sinks: [fields.sink],
    ruleName: 'Dynamics 365 forward mailbox (sinkrule)',
    template: { file: 'forward-as-attachment.json', sha256: '0'.repeat(64) },
    input: { source: 'file', file: 'users.csv', sha256: sha256(`synthetic ${mailboxes}`), rows: mailboxes },
    backEnds: {},
    mailboxes,
    stoppedBy: null,
    ...fields,
  };
}

/**
 * A report folder as a deploy to `mailboxes` Graph mailboxes leaves it (report.json's run section
 * and journal.jsonl's `done` rows, hash-chained), without running one: for the SOC pack's unit
 * test and benchmark, where only the pack's own work is measured.
 */
export async function writeSyntheticDeployReport(dir: string, mailboxes: number, sink: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const journal = createWriteStream(path.join(dir, 'journal.jsonl'));
  let prev = genesisHash;
  const at = '2026-12-01T10:00:00.000Z';
  for (let i = 0; i < mailboxes; i++) {
    const row: MailboxOutcome = {
      ...emptyOutcome({ email: `user${i}@contoso.com`, target: 'graph', sink, line: i + 2 }),
      outcome: 'created',
      ruleIds: [`AQAAA${i.toString(36).padStart(6, '0')}=`],
    };
    row.after = [
      {
        id: row.ruleIds[0]!,
        displayName: 'Dynamics 365 forward mailbox (sinkrule)',
        sequence: 1,
        isEnabled: true,
        isReadOnly: false,
        hasError: false,
        actions: { forwardAsAttachmentTo: [{ emailAddress: { address: sink } }] },
      },
    ];
    const line = JSON.stringify({ seq: i + 1, at, prev, type: 'done', row });
    prev = sha256(line);
    if (!journal.write(`${line}\n`)) await once(journal, 'drain');
  }
  journal.end();
  await once(journal, 'close');
  const run = syntheticRun(mailboxes, {
    command: 'deploy',
    sink,
    counts: { created: mailboxes },
    exitCode: 0,
    journal: { file: 'journal.jsonl', entries: mailboxes, lastHash: prev },
  });
  run.identity.signedIn = {
    graph: { ...syntheticApp, appDisplayName: 'sinkrule', roles: ['MailboxSettings.ReadWrite'] },
  };
  await writeFile(path.join(dir, 'report.json'), `{\n"run": ${JSON.stringify(run, null, 2)},\n"mailboxes": [\n]\n}\n`);
}
