import { randomUUID } from 'node:crypto';

/**
 * Graph's request and answer envelopes, built from Microsoft Graph "Error responses" (the OData
 * error envelope `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`)
 * and "Use the Microsoft Graph API" (JSON bodies: a body that is not JSON → 415, malformed JSON → 400).
 */

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

export interface ServiceRequest {
  method: string;
  /** Path below /v1.0. */
  path: string;
  body?: unknown;
  roles: string[];
  clientRequestId: string;
}

/** Answers a request with Graph's error envelope. */
export type Fail = (status: number, code: string, message: string, headers?: Record<string, string>) => Reply;

/** Graph's OData error envelope. */
export function errorReply(
  status: number,
  code: string,
  message: string,
  clientRequestId: string,
  headers: Record<string, string> = {},
): Reply {
  const innerError = {
    date: new Date().toISOString().slice(0, 19),
    'request-id': randomUUID(),
    'client-request-id': clientRequestId,
  };
  return { status, headers, body: { error: { code, message, innerError } } };
}

export function parseJsonBody(text: string, contentType: string): { body: unknown } | { error: Reply } {
  if (!text) return { body: undefined };
  if (!contentType.includes('application/json')) {
    return {
      error: errorReply(
        415,
        'UnsupportedMediaType',
        'A supported MIME type could not be found that matches the content type of the response.',
        randomUUID(),
      ),
    };
  }
  try {
    return { body: JSON.parse(text) };
  } catch {
    return {
      error: errorReply(
        400,
        'BadRequest',
        'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of ' +
          'valid JSON format.',
        randomUUID(),
      ),
    };
  }
}
