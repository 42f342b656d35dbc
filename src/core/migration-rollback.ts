import { AccessError } from './errors.js';
import type { RecordStore } from './migration-wave.js';
import { restorePatch, type MigrationRecord, type RecordJournalEvent } from './migration.js';
import { emptyOutcome, outcomeError, type MailboxOutcome } from './outcome.js';
import type { ApiProvider } from './provider.js';
import { rollbackMailbox, type RollbackMailbox } from './rollback.js';
import type { RunnerOptions } from './runner.js';

/** A mailbox of a migrate run to roll back: its rule (as rollback knows it) and its Dynamics 365 record. */
export interface MigrationRollbackMailbox extends RollbackMailbox {
  migration: MigrationRecord;
}

/**
 * Undoes migrate for one mailbox: the rule first (put back from its recorded body, as rollback does
 * for any run), then the record (the columns migrate wrote, back to what they were, with If-Match),
 * so the mailbox is never without both. A record someone changed after the run is a conflict and
 * is left alone; so is the record of a mailbox whose rule could not be put back.
 */
export async function rollbackMigration(
  mailbox: MigrationRollbackMailbox,
  provider: ApiProvider,
  options: RunnerOptions,
  store: RecordStore,
  journal?: { append(event: RecordJournalEvent): Promise<void> },
): Promise<MailboxOutcome> {
  const { migration } = mailbox;
  const ruleTouched = Boolean(mailbox.recorded.before && mailbox.recorded.after);
  const outcome = ruleTouched ? await rollbackMailbox(mailbox, provider, options) : unchanged(mailbox);
  outcome.record = migration;
  if (!migration.switchedAt || outcome.outcome === 'failed' || outcome.outcome === 'conflict') return outcome;
  try {
    const now = (await store.read([migration.mailboxId], options.signal)).get(migration.mailboxId);
    const before = migration.before;
    const asBefore =
      now?.incomingEmailDeliveryMethod === before.incomingEmailDeliveryMethod &&
      (!migration.profileSet || now.emailServerProfileId === before.emailServerProfileId);
    if (!now || asBefore) return outcome;
    const left = migration.after;
    if (left && now.incomingEmailDeliveryMethod !== left.incomingEmailDeliveryMethod) {
      outcome.outcome = 'conflict';
      outcome.drift.push(
        `the mailbox record was changed after the run: Incoming Email is ` +
          `"${now.labels.incomingEmailDeliveryMethod}", the run left "${left.labels.incomingEmailDeliveryMethod}"`,
      );
      return outcome;
    }
    const patch = restorePatch(before, migration.profileSet);
    outcome.changes.push(
      `put mailbox record "${before.name}" back to Incoming Email "${before.labels.incomingEmailDeliveryMethod}"`,
    );
    if (options.dryRun) {
      outcome.outcome = 'would-restore';
      return outcome;
    }
    const base = { email: mailbox.email, mailboxId: migration.mailboxId, step: 'restore' } as const;
    await journal?.append({ type: 'record-write', ...base, mailbox, patch, before: now });
    try {
      const { at } = await store.update(
        now,
        patch,
        (record) => record.incomingEmailDeliveryMethod === before.incomingEmailDeliveryMethod,
        options.signal,
      );
      await journal?.append({ type: 'record-written', ...base, takenAt: at ?? '' });
    } catch (error) {
      await journal?.append({ type: 'record-write-failed', ...base, error: outcomeError(error).message });
      throw error;
    }
    outcome.outcome = 'restored';
  } catch (error) {
    if (error instanceof AccessError || options.signal?.aborted) throw error;
    outcome.outcome = 'failed';
    outcome.error = outcomeError(error);
  }
  return outcome;
}

function unchanged(mailbox: MigrationRollbackMailbox): MailboxOutcome {
  const outcome = emptyOutcome(mailbox);
  outcome.outcome = 'unchanged';
  return outcome;
}
