import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Target } from '../core/mailbox.js';
import type { LearnedPace } from '../core/throttle-gate.js';
import type { Config } from '../input/config.js';
import { stateDir, stateDirVariable } from '../paths.js';

/**
 * A pace older than this is not used: the service's budget for the app may have changed (another
 * app of the tenant, a new throttling policy), and relearning costs one 429.
 */
const maxAgeInMs = 7 * 24 * 60 * 60 * 1000;

interface Entry {
  backEnd: Target;
  requestsPerSecond: number;
  learnedAt: string;
  /** The service refused a request the wire made up: its burst is small (LearnedPace.smallBurst). */
  smallBurst?: boolean;
}

/**
 * The pace each back end held at the end of the last run against the same service and account,
 * so the next run (a verify after a deploy, a nightly verify) starts there instead of learning
 * the ceiling again with a slow start and a 429 (at a 500 req/s ceiling, about 1.5 s of a 20 s
 * verify of 10,000 mailboxes). A start above what the service now allows is cut by its first 429.
 * Reading or writing the file never fails a run: without it, the run learns the pace as before.
 */
export class PaceMemory {
  private constructor(
    private readonly file: string | undefined,
    private readonly entries: Record<string, Entry>,
    private readonly clock: () => number,
  ) {}

  static open(env: NodeJS.ProcessEnv, clock: () => number): PaceMemory {
    const file = memoryFile(env);
    let entries: Record<string, Entry> = {};
    try {
      if (file) entries = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry>;
    } catch {
      // Missing or unreadable: learn afresh.
    }
    return new PaceMemory(file, typeof entries === 'object' && entries ? entries : {}, clock);
  }

  /** The remembered pace for this back end's service and account, if recent. */
  recall(target: Target, config: Config): number | undefined {
    return this.recent(target, config)?.requestsPerSecond;
  }

  /** Whether the same run that learnt that pace found the service's burst small. */
  recallSmallBurst(target: Target, config: Config): boolean {
    return this.recent(target, config)?.smallBurst === true;
  }

  private recent(target: Target, config: Config): Entry | undefined {
    const key = keyFor(target, config);
    const entry = key ? this.entries[key] : undefined;
    if (!entry || typeof entry.requestsPerSecond !== 'number' || !(entry.requestsPerSecond > 0)) return undefined;
    const age = this.clock() - Date.parse(entry.learnedAt);
    return age >= 0 && age <= maxAgeInMs ? entry : undefined;
  }

  /**
   * Keeps the paces the run learnt. Returns a warning for stderr if the file could not be written.
   * A remembered pace the run only reused (no 429, no probe) keeps its original date.
   */
  remember(paces: Array<[Target, LearnedPace | undefined]>, config: Config): string | undefined {
    if (!this.file) return undefined;
    let changed = false;
    for (const [target, pace] of paces) {
      const key = keyFor(target, config);
      if (!key || !pace || pace.source !== 'learnt') continue;
      this.entries[key] = {
        backEnd: target,
        requestsPerSecond: pace.requestsPerSecond,
        learnedAt: new Date(this.clock()).toISOString(),
        ...(pace.smallBurst ? { smallBurst: true } : {}),
      };
      changed = true;
    }
    if (!changed) return undefined;
    for (const [key, entry] of Object.entries(this.entries))
      if (!(this.clock() - Date.parse(entry.learnedAt) <= maxAgeInMs)) delete this.entries[key];
    try {
      mkdirSync(path.dirname(this.file), { recursive: true });
      const partial = `${this.file}.${process.pid}.tmp`;
      writeFileSync(partial, `${JSON.stringify(this.entries, null, 2)}\n`);
      renameSync(partial, this.file);
      return undefined;
    } catch (error) {
      return (
        `Could not keep the learnt pace in ${this.file} (${(error as Error).message}): the next run learns it ` +
        `again. Set ${stateDirVariable} to a writable folder.`
      );
    }
  }
}

function memoryFile(env: NodeJS.ProcessEnv): string | undefined {
  return path.join(stateDir(env), 'pacing.json');
}

/** The service and the account whose budget the pace is: a hash, so the file names neither. */
function keyFor(target: Target, config: Config): string | undefined {
  let identity: string | undefined;
  if (target === 'graph' && config.graph) {
    const { tenantId, clientId, baseUrl, cloud } = config.graph;
    identity = ['graph', cloud, baseUrl ?? '', tenantId, clientId].join('\n');
  } else if (target === 'ews' && config.ews) {
    const { url, username, auth, oauth } = config.ews;
    identity = ['ews', url, auth, username ?? '', oauth?.clientId ?? ''].join('\n');
  }
  return identity && createHash('sha256').update(identity.toLowerCase()).digest('hex').slice(0, 32);
}
