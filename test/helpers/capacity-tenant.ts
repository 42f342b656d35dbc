import { seededRandom } from '../../simulators/http.js';

/**
 * The tenant the capacity tests plan (issue 22's "Done when"): 2,000 users with realistic volumes
 * (most 20-150 a working day, a few over 6,000), 300 of them on-premises (ews), and the figures the
 * model (docs/capacity.md) derives from the usage report the Graph simulator serves for them.
 */
export const refreshDate = '2026-11-30'; // a Monday: D30 = Sun 1 Nov … Mon 30 Nov, 21 working days
export const workingDays = 21;
/** What capacity needs from Graph: the usage reports, the report setting and the sinks' Inboxes. */
export const capacityRoles = ['Reports.Read.All', 'ReportSettings.Read.All', 'Mail.ReadBasic.All'];
export const sinkName = (i: number): string => `crm-sink${i}@contoso.com`;

export interface TenantUser {
  email: string;
  target: 'graph' | 'ews';
  /** Messages received on a working day, as the simulator counts them (weekend days a tenth). */
  perWorkingDay: number;
}

/** 2,000 users: most 20-150 a working day, a few over 6,000; 300 on-premises (ews). */
export function capacityTenant(): TenantUser[] {
  const random = seededRandom(2026);
  const users: TenantUser[] = [];
  for (let i = 0; i < 2000; i++) {
    const target = i % 20 < 3 ? 'ews' : 'graph';
    users.push({ email: `user${i}@contoso.com`, target, perWorkingDay: Math.round(20 + random() * 130) });
  }
  users[10]!.perWorkingDay = 6500; // heavy, still within a sink on its own
  users[11]!.perWorkingDay = 6800;
  users[12]!.perWorkingDay = 16_000; // 3,200 an hour: over 0.8 × 3,600 on its own
  users[20]!.perWorkingDay = 6200; // ews: 1,240 an hour, over 0.8 × 1,188 (pair limit)
  users[41]!.perWorkingDay = 6100; // ews
  return users;
}
/** The users of capacityTenant() too busy for any sink on their own. */
export const tooBusyInTenant = ['user12@contoso.com', 'user20@contoso.com', 'user41@contoso.com'];

/** The Receive Count the service reports over D30 (weekend days carry a tenth: simulators/graph/reports.ts). */
export const receiveCount = (perWorkingDay: number): number =>
  Math.round(perWorkingDay * workingDays + (perWorkingDay / 10) * 9);
/** The model (docs/capacity.md), recomputed here: busiest hour = count / working days × 0.2. */
export const busiestHourOf = (perWorkingDay: number): number => (receiveCount(perWorkingDay) / workingDays) * 0.2;

/**
 * The admin center's email activity export (the columns and BOM of the report) for these users:
 * on-premises users have no row in the Exchange Online report, so the admin supplies theirs.
 */
export function volumesExport(users: ReadonlyArray<Pick<TenantUser, 'email' | 'perWorkingDay'>>): string {
  const header =
    'Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Last Activity Date,Send Count,' +
    'Receive Count,Read Count,Meeting Created Count,Meeting Interacted Count,Assigned Products,Report Period';
  const rows = users.map(
    (u) => `${refreshDate},${u.email},${u.email},False,,${refreshDate},0,${receiveCount(u.perWorkingDay)},0,0,0,,30`,
  );
  return `\uFEFF${[header, ...rows].join('\r\n')}\r\n`;
}
