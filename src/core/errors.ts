/**
 * sinkrule's error classes. Each class maps to exactly one decision the runner makes:
 *
 * | class             | decision                                                         |
 * | ----------------- | ---------------------------------------------------------------- |
 * | InputError        | stop before any work, exit 1, nothing changed                    |
 * | AccessError       | stop the whole run, exit 1 (every mailbox would fail the same way) |
 * | ThrottledError    | wait the time the service asked for, then retry                  |
 * | TransientError    | back off, re-read the mailbox, retry (never replay a write blind) |
 * | MailboxError      | record this mailbox as failed with the fix, go on with the rest  |
 *
 * Messages name the fix. Secrets never go into a message.
 */

export interface ErrorOptions {
  cause?: unknown;
}

/** Options of the errors that stop a run: the fix, when it is not already part of the message. */
export interface StopErrorOptions extends ErrorOptions {
  fix?: string;
}

/** Invalid CLI options, config, template or users file. `problems` are `file:line: what … fix` lines. */
export class InputError extends Error {
  override name = 'InputError';
  readonly fix?: string;
  constructor(
    readonly problems: readonly string[],
    options?: StopErrorOptions,
  ) {
    super(problems.join('\n'), options);
    this.fix = options?.fix;
  }
}

/**
 * sinkrule cannot use the service at all: wrong secret or password, token rejected, the server's
 * certificate not trusted. Every mailbox would fail the same way, so the run stops.
 */
export class AccessError extends Error {
  override name = 'AccessError';
  readonly fix?: string;
  constructor(message: string, options?: StopErrorOptions) {
    super(message, options);
    this.fix = options?.fix;
  }
}

/** Who the service throttled: the whole application, or one mailbox. */
export type ThrottleScope = 'app' | 'mailbox';

/** The service asked us to slow down (HTTP 429/503 with Retry-After, EWS ErrorServerBusy). */
export class ThrottledError extends Error {
  override name = 'ThrottledError';
  constructor(
    message: string,
    readonly retryAfterInMs: number | undefined,
    readonly scope: ThrottleScope,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A failure that may succeed on a later attempt: network error, timeout, 5xx, or state that
 * changed under us. The outcome of a write that failed this way is unknown, so the runner re-reads
 * the mailbox before it decides anything again.
 */
export class TransientError extends Error {
  override name = 'TransientError';
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** This mailbox cannot be brought into the desired state; `fix` tells the admin what to do. */
export class MailboxError extends Error {
  override name = 'MailboxError';
  constructor(
    readonly code: string,
    message: string,
    readonly fix: string,
    options?: ErrorOptions & { details?: readonly string[] },
  ) {
    super(message, options);
    this.details = options?.details ?? [];
  }
  readonly details: readonly string[];
}

export function isRetryable(error: unknown): error is ThrottledError | TransientError {
  return error instanceof ThrottledError || error instanceof TransientError;
}

/** Text of anything thrown, including the non-Error objects some client libraries throw. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null) {
    const record = error as Record<string, unknown>;
    for (const key of ['message', 'Message', 'faultstring']) {
      if (typeof record[key] === 'string') return record[key] as string;
    }
  }
  return String(error);
}
