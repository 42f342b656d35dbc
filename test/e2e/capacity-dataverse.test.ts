import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startDataverseWorld } from '../helpers/dataverse-world.js';

const sinkA = 'crm-sink-a@contoso.com';
const sinkB = 'crm-sink-b@contoso.com';
const users = Array.from({ length: 6 }, (_, i) => `user${i}@contoso.com`);

describe('capacity --from-dataverse', () => {
  it("reads each forward mailbox record's Delete Emails after Processing, changes nothing in Dynamics", async () => {
    const w = await startDataverseWorld({
      graphRoles: ['Mail.ReadBasic.All'],
      graphMailboxes: [...users, sinkA, sinkB].map((email) => ({ email, kind: 'exchange-online' as const })),
      records: [
        {
          name: 'Sink A',
          emailaddress: sinkA,
          incomingemaildeliverymethod: 2,
          incomingemailstatus: 1,
          processanddeleteemails: true,
        },
        { name: 'Sink B', emailaddress: sinkB, incomingemaildeliverymethod: 2, incomingemailstatus: 1 },
        ...users.map((email, i) => ({
          name: `User ${i}`,
          emailaddress: email,
          incomingemaildeliverymethod: 3 as const,
          isforwardmailbox: false,
        })),
      ],
    });
    try {
      await w.writeConfig({ ...w.baseConfig, sink: sinkA });
      const header = 'Report Refresh Date,User Principal Name,Receive Count,Report Period';
      await writeFile(
        path.join(w.dir, 'volumes.csv'),
        `\uFEFF${header}\n${users.map((u) => `2026-11-30,${u},1050,30`).join('\n')}\n`,
      );
      const result = await w.run([
        'capacity',
        '--from-dataverse',
        '--volumes',
        'volumes.csv',
        '--sinks',
        `${sinkA},${sinkB}`,
        '--output',
        'json',
      ]);
      const plan = JSON.parse(result.stdout);
      assert.equal(result.code, 0, result.stderr);
      const bySink = new Map(plan.sinks.map((s: { address: string }) => [s.address, s]));
      assert.equal((bySink.get(sinkA) as { deletesAfterProcessing: boolean }).deletesAfterProcessing, true);
      assert.equal((bySink.get(sinkB) as { deletesAfterProcessing: boolean }).deletesAfterProcessing, false);
      assert.equal(plan.estimated.length, 0);
      assert.match(result.stderr, /Reports\.Read\.All/, 'the report could not be read: said, and the file used alone');
      // --sink-deletes overrides the records.
      const forced = JSON.parse(
        (
          await w.run([
            'capacity',
            '--from-dataverse',
            '--volumes',
            'volumes.csv',
            '--sink-deletes',
            'no',
            '--output',
            'json',
          ])
        ).stdout,
      );
      assert.equal(forced.sinks[0].deletesAfterProcessing, false);
      assert.equal(w.dataverse.stats.byStatus[405], undefined, 'Dataverse answers only GETs: none refused');
      assert.deepEqual(Object.keys(w.graph.stats.byMethod), ['GET']);
    } finally {
      await w.close();
    }
  });
});
