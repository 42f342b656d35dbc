import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { startDataverseWorld, type DataverseWorld } from '../helpers/dataverse-world.js';
import { busiestHourOf, capacityRoles, refreshDate, volumesExport } from '../helpers/capacity-tenant.js';

const sinkA = 'crm-sink-a@contoso.com';
const sinkB = 'crm-sink-b@contoso.com';
const retired = 'crm-sink-old@contoso.com';
/** 40 users at 400 a working day: about 83 each in the busiest hour, 3,337 together: two sinks. */
const users = Array.from({ length: 40 }, (_, i) => ({ email: `user${i}@contoso.com`, perWorkingDay: 400 }));
/** 16,000 a working day: 3,337 in the busiest hour on their own, over 0.8 × 3,600. */
const heavy = { email: 'heavy@contoso.com', perWorkingDay: 16_000 };
const everyone = [...users, heavy];
const busiestHour = new Map(everyone.map((u) => [u.email, busiestHourOf(u.perWorkingDay)]));
const readCsv = async (file: string) =>
  parse(await readFile(file, 'utf8'), { columns: true, bom: true }) as Array<Record<string, string>>;
const loadsOf = (rows: Array<Record<string, string>>) => {
  const loads = new Map<string, number>();
  for (const row of rows) loads.set(row.sink!, (loads.get(row.sink!) ?? 0) + busiestHour.get(row.email!)!);
  return loads;
};

describe("export --from-dataverse --assign-sinks: each row's sink from capacity's plan", () => {
  let w: DataverseWorld;
  before(async () => {
    const forward = { incomingemaildeliverymethod: 2 as const, incomingemailstatus: 1 as const };
    w = await startDataverseWorld({
      graphRoles: capacityRoles,
      graphMailboxes: [...everyone.map((u) => u.email), sinkA, sinkB, retired].map((email) => ({
        email,
        kind: 'exchange-online' as const,
      })),
      graphReports: {
        refreshDate,
        displayConcealedNames: false,
        activity: everyone.map((u) => ({ upn: u.email, receivedPerWorkingDay: u.perWorkingDay })),
      },
      records: [
        { name: 'Sink A', emailaddress: sinkA, ...forward },
        { name: 'Sink B', emailaddress: sinkB, ...forward },
        { name: 'Old sink', emailaddress: retired, ...forward, statecode: 1 },
        ...everyone.map((u, i) => ({
          name: `User ${i}`,
          emailaddress: u.email,
          incomingemaildeliverymethod: 3 as const,
          isforwardmailbox: false,
        })),
      ],
    });
  });
  after(() => w.close());

  it('spreads the users over the active forward mailboxes, none over its limit; the too-busy user apart', async () => {
    const { code, stderr } = await w.run(['export', '--from-dataverse', '--assign-sinks', '--out', 'users.csv']);
    assert.equal(code, 2, 'a too-busy user is left out: exit 2');
    const rows = await readCsv(path.join(w.dir, 'users.csv'));
    assert.deepEqual(rows.map((r) => r.email).sort(), users.map((u) => u.email).sort());
    assert.ok(rows.every((r) => r.target === 'graph' && r.dynamicsMailboxId));
    const loads = loadsOf(rows);
    assert.deepEqual([...loads.keys()].sort(), [sinkA, sinkB], 'only the active forward mailboxes, both used');
    for (const [sink, hour] of loads) assert.ok(hour <= 0.8 * 3600, `${sink}: ${hour} in the busiest hour`);
    const left = await readCsv(path.join(w.dir, 'users.csv.too-busy.csv'));
    assert.deepEqual(
      left.map((r) => r.email),
      [heavy.email],
    );
    assert.match(left[0]!.reason!, /exceed 0\.8 × 3600/);
    assert.match(stderr, /Too busy: heavy@contoso\.com \(graph\)/);
    assert.match(stderr, /too-busy users left out, in users\.csv\.too-busy\.csv/);
    assert.match(stderr, /Read the email activity report \(D30\)/);
    assert.doesNotMatch(stderr, new RegExp(retired));
  });

  it('keeps the users on the sink the config names and fills the other to its share (--volumes counts)', async () => {
    await w.writeConfig({ ...w.baseConfig, sink: sinkA });
    await writeFile(path.join(w.dir, 'volumes.csv'), volumesExport(everyone));
    const { code, stderr } = await w.run([
      'export',
      '--from-dataverse',
      '--assign-sinks',
      '--volumes',
      'volumes.csv',
      '--out',
      'kept.csv',
    ]);
    assert.equal(code, 2, stderr);
    const rows = await readCsv(path.join(w.dir, 'kept.csv'));
    const onB = rows.filter((r) => r.sink === sinkB).length;
    const loads = loadsOf(rows);
    const share = (loads.get(sinkA)! + loads.get(sinkB)!) / 2;
    assert.ok(loads.get(sinkA)! <= 0.8 * 3600 && loads.get(sinkB)! >= 0.9 * share, JSON.stringify([...loads]));
    // Everyone's rule forwarded to sink A: only the users sink B takes moved, nobody was without a sink.
    assert.match(stderr, new RegExp(`\\(${onB} users moved from their sink, 0 given one;`));
  });

  it('changed nothing in Dynamics 365 or Exchange', () => {
    assert.equal(w.dataverse.writes.length, 0);
    assert.equal(w.dataverse.stats.byStatus[405], undefined);
    assert.deepEqual(Object.keys(w.graph.stats.byMethod), ['GET']);
  });

  it('needs --out (the too-busy file goes beside it): exit 1 before any request', async () => {
    const before = w.dataverse.stats.requests;
    const { code, stderr } = await w.run(['export', '--from-dataverse', '--assign-sinks']);
    assert.equal(code, 1);
    assert.match(stderr, /--assign-sinks writes the users CSV and FILE\.too-busy\.csv beside it: .*--out FILE/);
    assert.equal(w.dataverse.stats.requests, before);
  });

  it('refuses the sink-plan flags without --assign-sinks instead of ignoring them: exit 1, nothing read', async () => {
    const before = w.dataverse.stats.requests;
    const { code, stderr } = await w.run(['export', '--from-dataverse', '--headroom', '0.7', '--allow-hot-sinks']);
    assert.equal(code, 1);
    assert.match(
      stderr,
      /--headroom, --allow-hot-sinks are read only to assign the sinks: add --assign-sinks, or leave them out/,
    );
    assert.equal(w.dataverse.stats.requests, before);
    const volumes = await w.run(['export', '--from-dataverse', '--volumes', 'activity.csv']);
    assert.equal(volumes.code, 1);
    assert.match(volumes.stderr, /--volumes is read only to assign the sinks: add --assign-sinks, or leave it out/);
  });
});
