import { randomUUID } from 'node:crypto';
import { AccessError, describeError, MailboxError } from './errors.js';
import type { Mailbox } from './mailbox.js';
import { outcomeError, type ProbeRecord } from './outcome.js';
import type { MailboxPlan } from './plan.js';
import type { FoundMessage, MailAccess } from './provider.js';
import type { MailboxRule } from './rule.js';
import { withRetry, type Clock, type RetryOptions, type Sleep } from './retry.js';

export interface ProbeSettings {
  /** The mailbox test messages come from (never a sink: the rule's exception skips its mail). */
  from: string;
  /** How long to look for the forwarded copy in the sink. */
  timeoutInMs: number;
  /** How often the sink (and the mailbox, for an NDR) is looked at while waiting. */
  pollIntervalInMs: number;
}

export interface ProberOptions extends ProbeSettings {
  mail: MailAccess;
  clock: Clock;
  sleep: Sleep;
  retry: Omit<RetryOptions, 'signal' | 'onRetry' | 'sleep'>;
  signal?: AbortSignal;
  /** Unique text for each test message's subject. @default SR- + 12 hex digits */
  newMarker?: () => string;
  /** Optional words on why nothing arrived (e.g. what the mailbox's rules show). */
  explainMissing?: (mailbox: Mailbox) => Promise<string | undefined>;
}

/** Subject prefix of every test message: lets an admin (and a transport rule) recognise them. */
export const probeSubjectPrefix = 'sinkrule probe';
/** Messages older than this before the probe started are not looked at (clock skew margin). */
const clockSkewInMs = 5 * 60_000;
/** An enhanced status code in an NDR ("550 5.7.520 Access denied …"). */
const statusCodePattern = /\b([45]\.\d{1,3}\.\d{1,3})\b/;

/**
 * The live mail probe: sends a uniquely marked message to a mailbox, waits for the mailbox's rule
 * to deliver it to the sink as an item attachment, and tells apart what went wrong (nothing came,
 * it came inline or redirected, an NDR came back to the mailbox). Then it deletes every copy it
 * made. One Prober serves a whole run: the sinks are listed once per poll for all waiting probes.
 */
export class Prober {
  private readonly since: Date;
  private readonly sinkLists = new Map<
    string,
    { at: number; pending: boolean; list: Promise<FoundMessage[] | MailboxError> }
  >();

  constructor(private readonly options: ProberOptions) {
    this.since = new Date(options.clock() - clockSkewInMs);
  }

  async probe(mailbox: Mailbox): Promise<ProbeRecord> {
    const { clock } = this.options;
    const marker = this.options.newMarker?.() ?? `SR-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const record = (fields: Partial<ProbeRecord>): ProbeRecord => ({
      outcome: 'probe-failure',
      reason: null,
      ndrStatus: null,
      marker,
      sentAt: null,
      completedAt: new Date(clock()).toISOString(),
      detail: '',
      cleanedUp: false,
      ...fields,
    });
    const subject = `${probeSubjectPrefix} ${marker}`;
    const body =
      `Test message from sinkrule: it checks that the Dynamics 365 forward rule in ${mailbox.email} delivers ` +
      `incoming mail to ${mailbox.sink} as an attachment. It is deleted automatically; nothing to do.`;
    let sentAt: string;
    try {
      sentAt = new Date(clock()).toISOString();
      await this.retry(() =>
        this.options.mail.send(this.options.from, mailbox.email, subject, body, this.options.signal),
      );
    } catch (error) {
      if (error instanceof AccessError || this.options.signal?.aborted) throw error;
      const problem = outcomeError(error);
      return record({
        reason: 'error',
        detail:
          `the test message could not be sent from ${this.options.from}: ${problem.code}: ${problem.message}. ` +
          `${problem.fix}`,
      });
    }
    let verdict: Partial<ProbeRecord>;
    try {
      verdict = await this.watch(mailbox, marker);
    } catch (error) {
      if (error instanceof AccessError || this.options.signal?.aborted) throw error;
      const problem = outcomeError(error);
      verdict = {
        reason: 'error',
        detail: `looking for the test message failed: ${problem.code}: ${problem.message}. ${problem.fix}`,
      };
    }
    const cleanUp = await this.cleanUp(mailbox, marker, subject);
    return record({
      ...verdict,
      sentAt,
      completedAt: new Date(clock()).toISOString(),
      cleanedUp: cleanUp.ok,
      detail: [verdict.detail, cleanUp.note].filter(Boolean).join(' '),
    });
  }

  /** Polls the sink (and the mailbox, for an NDR) until a verdict or the timeout. */
  private async watch(mailbox: Mailbox, marker: string): Promise<Partial<ProbeRecord>> {
    const { clock, sleep, timeoutInMs, pollIntervalInMs } = this.options;
    const deadline = clock() + timeoutInMs;
    for (;;) {
      await sleep(Math.max(0, Math.min(pollIntervalInMs, deadline - clock())), this.options.signal);
      // A sink sinkrule cannot read (external, outside the app's scope) can still bounce an NDR.
      const sink = await this.sinkMessages(mailbox.sink);
      const inSink = sink instanceof MailboxError ? [] : sink.filter((m) => m.subject.includes(marker));
      if (inSink.length > 0) return this.judgeArrival(mailbox, inSink, marker);
      const ndr = (
        await this.retry(() =>
          this.options.mail.findMessages(mailbox.email, { since: this.since }, this.options.signal),
        )
      ).find((m) => isNdrFor(m, marker, this.options.from));
      if (ndr) {
        const status = statusCodePattern.exec(ndr.bodyText)?.[1] ?? 'unknown';
        return {
          reason: 'ndr',
          ndrStatus: status,
          detail: `a non-delivery report (${status}) came back to ${mailbox.email}: ${ndrAdvice(status, mailbox.sink)}`,
        };
      }
      if (clock() >= deadline && sink instanceof MailboxError) {
        return {
          reason: 'error',
          detail:
            `sinkrule cannot read ${mailbox.sink} to look for the test message: ${sink.code}: ${sink.message}. ` +
            `${sink.fix}`,
        };
      }
      if (clock() >= deadline) {
        const why =
          (await this.options.explainMissing?.(mailbox).catch(() => undefined)) ||
          'Check that the rule exists and is enabled, that no earlier rule stops processing, and that no ' +
            'transport rule drops it.';
        return {
          reason: 'not-arrived',
          detail:
            `the test message did not reach ${mailbox.sink} within ${Math.round(timeoutInMs / 1000)} s. ${why} ` +
            'If server-side synchronization deletes processed mail from the sink, it may have processed the ' +
            'message before sinkrule looked.',
        };
      }
    }
  }

  /** The copy in the sink proves the rule works only if it carries the original as an item attachment. */
  private async judgeArrival(mailbox: Mailbox, inSink: FoundMessage[], marker: string): Promise<Partial<ProbeRecord>> {
    for (const message of inSink) {
      for (const attachment of message.attachments.filter((a) => a.kind === 'item')) {
        const itemSubject = await this.retry(() =>
          this.options.mail.attachedItemSubject(mailbox.sink, message.id, attachment.id, this.options.signal),
        );
        if (itemSubject.includes(marker))
          return {
            outcome: 'probe-success',
            detail: `arrived in ${mailbox.sink} as an attachment (item attachment "${itemSubject}").`,
          };
      }
    }
    const first = inSink[0]!;
    const how =
      first.from === this.options.from.toLowerCase()
        ? `redirected (it kept the sender ${this.options.from})`
        : `forwarded inline (subject "${first.subject}", no item attachment)`;
    return {
      reason: 'not-as-attachment',
      detail:
        `arrived in ${mailbox.sink} ${how}: server-side synchronization needs the original as an attachment. A ` +
        `rule with forwardTo or redirectTo does this; run sinkrule deploy to put sinkrule's rule ` +
        `(forwardAsAttachmentTo) in place and remove the other rule.`,
    };
  }

  /**
   * One listing of a sink serves every probe waiting on it while it runs and for half a poll
   * interval after: the sink sees every probe, and Exchange allows 4 requests at once per mailbox.
   */
  private sinkMessages(sink: string): Promise<FoundMessage[] | MailboxError> {
    const key = sink.toLowerCase();
    const now = this.options.clock();
    const cached = this.sinkLists.get(key);
    if (cached && (cached.pending || now - cached.at < this.options.pollIntervalInMs / 2)) return cached.list;
    const list = this.retry(() =>
      this.options.mail.findMessages(sink, { since: this.since }, this.options.signal),
    ).catch((error: unknown) => {
      if (error instanceof MailboxError) return error;
      throw error;
    });
    const entry = { at: now, pending: true, list };
    this.sinkLists.set(key, entry);
    list.then(
      () => Object.assign(entry, { at: this.options.clock(), pending: false }),
      () => this.sinkLists.delete(key),
    );
    return list;
  }

  /**
   * Deletes the test message wherever it went: the mailbox (the original and any NDR), the sink
   * (the forwarded copy) and the sender's Sent Items, so server-side sync does not track it.
   */
  private async cleanUp(mailbox: Mailbox, marker: string, subject: string): Promise<{ ok: boolean; note?: string }> {
    const { mail, signal } = this.options;
    // The sink and the sender see every probe: their copies are found in the shared sink listing
    // and by exact subject, not by listing everything each time (that would grow with the run).
    const finders: Array<[string, () => Promise<FoundMessage[]>]> = [
      [mailbox.email, () => this.retry(() => mail.findMessages(mailbox.email, { since: this.since }, signal))],
      [
        mailbox.sink,
        async () => this.sinkMessages(mailbox.sink).then((list) => (list instanceof MailboxError ? [] : list)),
      ],
      [
        this.options.from,
        () => this.retry(() => mail.findMessages(this.options.from, { since: this.since, subject }, signal)),
      ],
    ];
    const failures: string[] = [];
    for (const [place, find] of finders) {
      try {
        const messages = await find();
        for (const message of messages.filter((m) => m.subject.includes(marker))) {
          await this.retry(() => this.options.mail.deleteMessage(place, message.id, this.options.signal));
        }
      } catch (error) {
        if (error instanceof AccessError || this.options.signal?.aborted) throw error;
        // A sink outside the tenant holds nothing sinkrule could delete (nor reach).
        if (place === mailbox.sink && error instanceof MailboxError && error.code === 'ErrorInvalidUser') continue;
        failures.push(`${place}: ${describeError(error)}`);
      }
    }
    if (failures.length === 0) return { ok: true };
    return {
      ok: false,
      note:
        `Clean-up incomplete: delete the messages with "${marker}" in the subject by hand ` +
        `(${failures.join('; ')}).`,
    };
  }

  private retry<T>(task: () => Promise<T>): Promise<T> {
    return withRetry(task, { ...this.options.retry, sleep: this.options.sleep, signal: this.options.signal });
  }
}

/** A report addressed back to the mailbox about the forwarded test message. */
function isNdrFor(message: FoundMessage, marker: string, from: string): boolean {
  return (
    message.subject.includes(marker) && message.from !== from.toLowerCase() && statusCodePattern.test(message.bodyText)
  );
}

function ndrAdvice(status: string, sink: string): string {
  if (status === '5.7.520')
    return (
      `Exchange Online blocks automatic forwarding to external recipients, and ${sink} is outside the tenant's ` +
      `verified domains. Use a sink mailbox in your own tenant (sinkrule preflight checks this).`
    );
  if (status.startsWith('5.1.')) return `${sink} does not exist: correct the sink address.`;
  return 'see the NDR in the mailbox for the reason.';
}

/** The record for a mailbox the probe cannot reach (EWS, POP3, manual): check by hand. */
export function probeNotRun(mailbox: Mailbox, clock: Clock): ProbeRecord {
  return {
    outcome: 'probe-not-run',
    reason: null,
    ndrStatus: null,
    marker: null,
    sentAt: null,
    completedAt: new Date(clock()).toISOString(),
    detail:
      `sinkrule probes Exchange Online (Graph) mailboxes only. Check this one by hand: send a message to ` +
      `${mailbox.email} from another mailbox, look for it in ${mailbox.sink} as an attachment, then delete ` +
      `both copies.`,
    cleanedUp: true,
  };
}

/**
 * Why a mailbox's rules would not deliver a message to the sink, from what they show: no rule,
 * a disabled or drifted one, or an earlier enabled rule without conditions that stops processing.
 */
export function explainFromRules(rules: readonly MailboxRule[], plan: MailboxPlan): string | undefined {
  if (plan.compliance === 'missing') return 'The mailbox has no sinkrule rule: run sinkrule deploy.';
  const ours = plan.keeper!;
  const stopper = rules
    .filter(
      (rule) =>
        rule !== ours && rule.isEnabled && rule.sequence < ours.sequence && rule.actions.stopProcessingRules === true,
    )
    .sort((a, b) => a.sequence - b.sequence)[0];
  const parts: string[] = [];
  if (!ours.isEnabled) parts.push("sinkrule's rule is disabled (sinkrule deploy enables it).");
  else if (plan.compliance !== 'ok')
    parts.push(`sinkrule's rule differs from the template (${plan.drift.join('; ')}): run sinkrule deploy.`);
  if (stopper)
    parts.push(
      `The rule "${stopper.displayName}" (position ${stopper.sequence}) runs earlier and stops processing ` +
        `more rules${Object.keys(stopper.conditions ?? {}).length ? ' for the messages it matches' : ''}: move ` +
        `sinkrule's rule first (sinkrule deploy creates it at position 1) or clear its "stop processing more ` +
        `rules".`,
    );
  return parts.join(' ') || undefined;
}
