import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { SimulatedMailbox } from '../../simulators/graph/graph-simulator.js';
import { seedInbox } from '../../simulators/graph/mail-folders.js';
import type { SimulatedActivity } from '../../simulators/graph/reports.js';
import { startGraphWorld, type GraphWorld } from '../helpers/graph-world.js';
import {
  busiestHourOf,
  capacityRoles as roles,
  capacityTenant,
  refreshDate,
  sinkName,
  tooBusyInTenant as tooBusy,
  volumesExport,
} from '../helpers/capacity-tenant.js';

const gb = 1024 ** 3;
const users = capacityTenant();
const busiestHour = new Map(users.map((u) => [u.email, busiestHourOf(u.perWorkingDay)]));

let w: GraphWorld;
const sinkCount = 20;

async function capacity(args: string[]) {
  const result = await w.run(['capacity', ...args]);
  return { ...result, json: result.stdout.trim().startsWith('{') ? JSON.parse(result.stdout) : undefined };
}
const loadsOf = (rows: Array<Record<string, string>>) => {
  const loads = new Map<string, { hour: number; users: string[] }>();
  for (const row of rows) {
    const load = loads.get(row.sink!) ?? { hour: 0, users: [] };
    load.hour += busiestHour.get(row.email!)!;
    load.users.push(row.email!);
    loads.set(row.sink!, load);
  }
  return loads;
};
const readCsv = async (file: string) =>
  parse(await readFile(file, 'utf8'), { columns: true, bom: true }) as Array<Record<string, string>>;

describe('capacity on a 2,000-user hybrid tenant', () => {
  before(async () => {
    const mailboxes: SimulatedMailbox[] = [
      ...users.map((u): SimulatedMailbox => ({
        email: u.email,
        kind: u.target === 'ews' ? 'on-premises' : 'exchange-online',
      })),
      ...Array.from({ length: sinkCount }, (_, i): SimulatedMailbox => ({
        email: sinkName(i + 1),
        kind: 'exchange-online',
      })),
    ];
    const activity: SimulatedActivity[] = users.map((u) => ({ upn: u.email, receivedPerWorkingDay: u.perWorkingDay }));
    w = await startGraphWorld(mailboxes, {
      app: { roles },
      reports: {
        refreshDate,
        displayConcealedNames: false,
        activity,
        // The first sink: 45 of 50 GB, 100 KB a message.
        mailboxUsage: [{ upn: sinkName(1), storageUsedBytes: 45 * gb, itemCount: Math.round((45 * gb) / 102_400) }],
      },
    });
    // The second sink's oldest Inbox message is a day old; the rest is recent.
    const now = Date.now();
    seedInbox(w.sim.mail, sinkName(2), [new Date(now - 24 * 3_600_000), new Date(now - 60_000)]);
    seedInbox(w.sim.mail, sinkName(1), [new Date(now - 30 * 60_000)]);
    await w.writeUsers(
      'email,displayName,target\r\n' +
        `${users.map((u) => `${u.email},"User, ${u.email.split('@')[0]}",${u.target}`).join('\r\n')}\r\n`,
    );
    await w.writeConfig({ sink: sinkName(1), graph: w.graphSection });
    // On-premises users have no row in the Exchange Online report: the admin supplies theirs in the export's columns.
    await writeFile(path.join(w.dir, 'onprem.csv'), volumesExport(users.filter((u) => u.target === 'ews')));
  });
  after(() => w.close());

  let needed = 0;
  it('with one sink: exit 2, the number of sinks needed and the too-busy users', async () => {
    const { code, json, stderr } = await capacity(['--volumes', 'onprem.csv', '--output', 'json']);
    assert.equal(code, 2, stderr);
    const total = users.filter((u) => !tooBusy.includes(u.email)).reduce((s, u) => s + busiestHour.get(u.email)!, 0);
    needed = json.sinksNeeded;
    assert.ok(needed >= Math.ceil(total / 2880) && needed <= Math.ceil(total / 2880) + 1, `${needed} for ${total}/h`);
    assert.ok(needed < sinkCount, 'the tenant has enough sinks for the next steps');
    assert.equal(json.moreSinksNeeded, needed - 1);
    assert.deepEqual(json.tooBusy.map((u: { email: string }) => u.email).sort(), [...tooBusy].sort());
    for (const email of tooBusy) assert.match(stderr, new RegExp(`Too busy: ${email}`));
    assert.match(stderr, /pair limit/);
    assert.equal(json.estimated.length, 0, 'every user has a volume: the report or the file');
    assert.equal(json.reportRefreshDate, refreshDate);
    assert.match(stderr, new RegExp(`add ${needed - 1} more sink`));
    assert.match(stderr, /server-side synchronization/);
    const [sink] = json.sinks;
    assert.equal(sink.address, sinkName(1));
    assert.equal(sink.users, 2000 - tooBusy.length);
    assert.equal(sink.storageUsedBytes, 45 * gb);
    assert.equal(sink.quotaBytes, 50 * gb);
    assert.ok(sink.daysUntilFull >= 1 && sink.daysUntilFull <= 7, `45 of 50 GB fills in days: ${sink.daysUntilFull}`);
    assert.match(stderr, /full in \d+ day\(s\).*Delete Emails After Processing off/);
  });

  it('with that many sinks, --out writes a users CSV that puts no sink over its limits', async () => {
    const sinks = Array.from({ length: needed }, (_, i) => sinkName(i + 1)).join(',');
    const { code, json, stderr } = await capacity([
      '--volumes',
      'onprem.csv',
      '--sinks',
      sinks,
      '--out',
      'spread.csv',
      '--output',
      'json',
    ]);
    assert.equal(code, 2, 'the too-busy users are left out: exit 2');
    assert.equal(json.moreSinksNeeded, 0, stderr);
    const rows = await readCsv(path.join(w.dir, 'spread.csv'));
    assert.equal(rows.length, 2000 - tooBusy.length);
    const loads = loadsOf(rows);
    assert.equal(loads.size, needed);
    const average = [...loads.values()].reduce((s, l) => s + l.hour, 0) / needed;
    const largest = Math.max(...rows.map((r) => busiestHour.get(r.email!)!));
    for (const [sink, load] of loads) {
      assert.ok(load.hour <= 0.8 * 3600 + 1e-6, `${sink}: ${load.hour} in the busiest hour`);
      assert.ok(load.hour <= average + largest + 1e-6, `${sink}: at most average + largest`);
    }
    for (const row of rows.filter((r) => r.target === 'ews'))
      assert.ok(busiestHour.get(row.email!)! <= 0.8 * 1188, `${row.email} within the pair limit`);
    // Every other column and the row order are kept, byte for byte.
    const original = (await readFile(w.usersFile, 'utf8')).split('\r\n');
    const written = (await readFile(path.join(w.dir, 'spread.csv'), 'utf8')).split('\r\n');
    assert.equal(written[0], `${original[0]},sink`);
    const kept = original.slice(1).filter((line) => line && !tooBusy.some((e) => line.startsWith(`${e},`)));
    assert.deepEqual(
      written
        .slice(1)
        .filter(Boolean)
        .map((line) => line.slice(0, line.lastIndexOf(','))),
      kept,
    );
    const left = await readCsv(path.join(w.dir, 'spread.csv.too-busy.csv'));
    assert.deepEqual(left.map((r) => r.email).sort(), [...tooBusy].sort());
    assert.ok(left.every((r) => r.reason!.length > 20));
    assert.match(stderr, /too-busy users left out/);
  });

  it('adding a sink fills it to about its share, moving almost no user between the old sinks', async () => {
    const sinks = Array.from({ length: needed + 1 }, (_, i) => sinkName(i + 1)).join(',');
    const { json, stderr } = await w
      .runPlain([
        'capacity',
        '--users',
        'spread.csv',
        '--config',
        w.configFile,
        '--volumes',
        'onprem.csv',
        '--sinks',
        sinks,
        '--out',
        'spread2.csv',
        '--output',
        'json',
      ])
      .then((r) => ({ ...r, json: JSON.parse(r.stdout) }));
    assert.equal(json.moreSinksNeeded, 0, stderr);
    const before = new Map((await readCsv(path.join(w.dir, 'spread.csv'))).map((r) => [r.email, r.sink]));
    const rows = await readCsv(path.join(w.dir, 'spread2.csv'));
    const loads = loadsOf(rows);
    const added = loads.get(sinkName(needed + 1))!;
    const share = [...loads.values()].reduce((s, l) => s + l.hour, 0) / (needed + 1);
    assert.ok(added.hour >= 0.9 * share && added.hour <= 0.8 * 3600, `new sink ${added.hour} of its share ${share}`);
    const betweenOld = rows.filter((r) => r.sink !== sinkName(needed + 1) && r.sink !== before.get(r.email)).length;
    assert.ok(betweenOld <= 5, `${betweenOld} users moved between the old sinks`);
    assert.equal(json.moved, added.users.length + betweenOld);
    assert.ok(json.moved < 2000 / (needed + 1) + 5, 'only the new sink’s share moved');
  });

  it('reports a sink whose oldest Inbox message is a day old as behind', async () => {
    const sinks = Array.from({ length: needed }, (_, i) => sinkName(i + 1)).join(',');
    const { code, json, stderr } = await w
      .runPlain([
        'capacity',
        '--users',
        'spread.csv',
        '--config',
        w.configFile,
        '--volumes',
        'onprem.csv',
        '--sinks',
        sinks,
        '--sink-deletes',
        'yes',
        '--output',
        'json',
      ])
      .then((r) => ({ ...r, json: JSON.parse(r.stdout) }));
    assert.equal(code, 2);
    const behind = json.sinks.find((s: { address: string }) => s.address === sinkName(2));
    assert.ok(behind.backlogHours >= 23.9 && behind.backlogHours < 25, String(behind.backlogHours));
    assert.equal(behind.inboxItems, 2);
    assert.match(stderr, new RegExp(`${sinkName(2)}: behind: the oldest Inbox message is 24 hours old`));
    const fine = json.sinks.find((s: { address: string }) => s.address === sinkName(1));
    assert.ok(fine.backlogHours < 1);
    assert.equal(fine.daysUntilFull, null, 'Dynamics deletes what it processed: the sink does not fill');
    assert.doesNotMatch(stderr, new RegExp(`${sinkName(1)}: behind`));
  });

  it('changed nothing: Graph saw only GETs, the report setting and the Inboxes are as they were', () => {
    assert.deepEqual(Object.keys(w.sim.stats.byMethod), ['GET']);
    assert.equal(w.sim.stats.writes, 0);
    assert.equal(w.sim.reports.displayConcealedNames, false);
    assert.equal(w.sim.mail.messagesOf(sinkName(2)).length, 2);
  });
});

describe('capacity errors: the fix named, exit 1, nothing written', () => {
  const few = Array.from({ length: 10 }, (_, i): SimulatedMailbox => ({
    email: `u${i}@contoso.com`,
    kind: 'exchange-online',
  }));
  const activity = few.map((m) => ({ upn: m.email, receivedPerWorkingDay: 50 }));
  async function inWorld(appRoles: string[], body: (w: GraphWorld) => Promise<void>, concealed = false) {
    const world = await startGraphWorld([...few, { email: sinkName(1), kind: 'exchange-online' }], {
      app: { roles: appRoles },
      reports: { refreshDate, activity, displayConcealedNames: concealed },
    });
    try {
      await world.writeConfig({ sink: sinkName(1), graph: world.graphSection });
      await world.writeUsers(`email\n${few.map((m) => m.email).join('\n')}\n`);
      await body(world);
    } finally {
      await world.close();
    }
  }
  const spread = ['--sinks', `${sinkName(1)},${sinkName(2)}`, '--out', 'out.csv'];
  const nothingWritten = (world: GraphWorld) => {
    assert.equal(existsSync(path.join(world.dir, 'out.csv')), false);
    assert.equal(existsSync(path.join(world.dir, 'out.csv.too-busy.csv')), false);
  };

  it('names Reports.Read.All when the app lacks it', async () => {
    await inWorld(['Mail.ReadBasic.All'], async (world) => {
      const { code, stderr } = await world.run(['capacity', ...spread]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /S2SUnauthorized/);
      assert.match(stderr, /Reports\.Read\.All/);
      assert.match(stderr, /--volumes/);
      nothingWritten(world);
    });
  });

  it('stops on concealed names with the admin center switch and the PATCH', async () => {
    await inWorld(
      roles,
      async (world) => {
        const { code, stderr, stdout } = await world.run(['capacity', ...spread, '--output', 'json']);
        assert.equal(code, 1, stderr);
        assert.match(stderr, /conceals user names/);
        assert.match(stderr, /PATCH https:\/\/graph\.microsoft\.com\/v1\.0\/admin\/reportSettings/);
        assert.match(stderr, /ReportSettings\.ReadWrite\.All/);
        assert.equal(JSON.parse(stdout).error.code, 'AccessError');
        assert.equal(world.sim.reports.displayConcealedNames, true, 'sinkrule only reads the setting');
        nothingWritten(world);
      },
      true,
    );
  });

  it('stops on a report whose names are hashes even when the setting cannot be read', async () => {
    await inWorld(
      ['Reports.Read.All'],
      async (world) => {
        const { code, stderr } = await world.run(['capacity', ...spread]);
        assert.equal(code, 1, stderr);
        assert.match(stderr, /32-hex-digit hashes/);
        assert.match(stderr, /ReportSettings\.Read\.All/);
        nothingWritten(world);
      },
      true,
    );
  });

  it('points a national cloud to --volumes', async () => {
    await inWorld(roles, async (world) => {
      await world.writeConfig({ sink: sinkName(1), graph: { ...world.graphSection, cloud: 'usgov' } });
      const { code, stderr } = await world.run(['capacity', ...spread]);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /US Government L4/);
      assert.match(stderr, /--volumes FILE/);
      assert.equal(world.sim.stats.httpRequests, 0, 'stopped before any request');
      nothingWritten(world);
    });
  });

  it('refuses a --volumes file that is not the export, with file:line', async () => {
    await inWorld(roles, async (world) => {
      await writeFile(path.join(world.dir, 'wrong.csv'), 'email,volume\nu1@contoso.com,40\n');
      const { code, stderr } = await world.run(['capacity', ...spread, '--volumes', 'wrong.csv']);
      assert.equal(code, 1, stderr);
      assert.match(stderr, /wrong\.csv:1: not the Microsoft 365 email activity user details report/);
      assert.match(stderr, /"Receive Count"/);
      assert.match(stderr, /admin center/);
      nothingWritten(world);
      const bad =
        'Report Refresh Date,User Principal Name,Receive Count,Report Period\n2026-11-30,u1@contoso.com,many,30\n';
      await writeFile(path.join(world.dir, 'bad.csv'), bad);
      const second = await world.run(['capacity', ...spread, '--volumes', 'bad.csv']);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /bad\.csv:2: Receive Count "many" must be a whole number/);
      nothingWritten(world);
    });
  });
});
