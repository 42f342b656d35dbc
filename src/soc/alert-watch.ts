import { describeError } from '../core/errors.js';
import type { SecurityAlert, SecurityAlertAccess } from '../core/provider.js';
import type { Sleep } from '../core/retry.js';

/** Application permissions that let an app read Defender alerts (Graph "List alerts_v2"). */
export const alertPermissions = ['SecurityAlert.Read.All', 'SecurityAlert.ReadWrite.All'];
const severityRank: Record<string, number> = { informational: 0, low: 1, medium: 2, high: 3 };
export type AlertSeverity = 'informational' | 'low' | 'medium' | 'high';

export interface AlertWatchOptions {
  alerts?: SecurityAlertAccess;
  /** The application permissions the Graph token names (its roles claim). */
  roles: readonly string[];
  waitInMs: number;
  stopAtSeverity: AlertSeverity;
  stopOnAlert: boolean;
  clock: () => number;
  sleep: Sleep;
  signal?: AbortSignal;
  warn: (line: string) => void;
}

/** An alert on a wave's mailboxes, as the report lists it. */
export interface WaveAlert extends SecurityAlert {
  /** The wave's mailboxes among the alert's evidence. */
  waveMailboxes: string[];
  stops: boolean;
}

/** report.json run.alerts: whether sinkrule watched, how, and what it saw. */
export interface AlertWatchRecord {
  watched: boolean;
  reason?: string;
  waitInS: number;
  stopOnAlert: boolean;
  stopAtSeverity: AlertSeverity;
  alerts: WaveAlert[];
}

/**
 * deploy --canary: after a wave, waits for Defender (it raises alerts minutes after a rule is
 * created), reads the alerts created since the wave began, keeps those whose evidence names a
 * mailbox of the wave, and says whether the rollout must stop before the next wave.
 */
export class AlertWatch {
  private readonly found: WaveAlert[] = [];
  private readonly unavailable?: string;

  constructor(private readonly options: AlertWatchOptions) {
    if (!options.alerts) this.unavailable = 'the canary wave has no Graph back end to read Defender alerts with';
    else if (!options.roles.some((role) => alertPermissions.includes(role)))
      this.unavailable =
        'the app has no SecurityAlert.Read.All (its token names none of ' +
        `${alertPermissions.join(', ')}): grant it with admin consent to let canary waves stop on Defender alerts`;
    if (this.unavailable) options.warn(`Warning: cannot watch Defender alerts: ${this.unavailable}; going on`);
  }

  /** After a wave: its alerts into the record; the reason to stop, or undefined to go on. */
  async afterWave(waveStartedAt: Date, mailboxes: ReadonlySet<string>): Promise<string | undefined> {
    if (this.unavailable || mailboxes.size === 0) return undefined;
    const { waitInMs } = this.options;
    if (waitInMs > 0) {
      this.options.warn(`Waiting ${Math.round(waitInMs / 1000)} s for Defender alerts on the canary wave…`);
      await this.options.sleep(waitInMs, this.options.signal);
    }
    let alerts: SecurityAlert[];
    try {
      alerts = await this.options.alerts!.listSince(waveStartedAt, this.options.signal);
    } catch (error) {
      this.options.warn(`Warning: cannot read Defender alerts (${describeError(error)}); going on without the watch`);
      return undefined;
    }
    const threshold = severityRank[this.options.stopAtSeverity]!;
    for (const alert of alerts) {
      const waveMailboxes = alert.mailboxes.filter((mailbox) => mailboxes.has(mailbox));
      if (waveMailboxes.length === 0) continue;
      const stops = this.options.stopOnAlert && (severityRank[alert.severity.toLowerCase()] ?? -1) >= threshold;
      this.found.push({ ...alert, waveMailboxes, stops });
      this.options.warn(
        `Defender alert "${alert.title}" (${alert.severity}, ${alert.createdDateTime}) on ${waveMailboxes.join(', ')}`,
      );
    }
    const stopping = this.found.filter((alert) => alert.stops);
    if (stopping.length === 0) return undefined;
    const named = stopping
      .slice(0, 3)
      .map((alert) => `"${alert.title}" (${alert.severity}) on ${alert.waveMailboxes.join(', ')}`)
      .join('; ');
    return (
      `canary wave: Defender raised ${stopping.length} alert(s) at or above ${this.options.stopAtSeverity} ` +
      `on its mailboxes: ${named}${stopping.length > 3 ? '; …' : ''}; the other mailboxes were not touched: ` +
      'agree with the SOC (soc/notice.md, the watchlist) before deploying the rest'
    );
  }

  record(): AlertWatchRecord {
    return {
      watched: !this.unavailable,
      ...(this.unavailable ? { reason: this.unavailable } : {}),
      waitInS: Math.round(this.options.waitInMs / 1000),
      stopOnAlert: this.options.stopOnAlert,
      stopAtSeverity: this.options.stopAtSeverity,
      alerts: this.found,
    };
  }
}
