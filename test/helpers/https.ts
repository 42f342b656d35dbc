import { request } from 'node:https';
import { certificate } from './graph-world.js';

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One HTTPS request to a simulator from the test process, as any client would send it. This process
 * does not trust the simulators' CA through NODE_EXTRA_CA_CERTS (read only at start): it passes it.
 */
export async function httpsCall(
  method: string,
  url: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<HttpsAnswer> {
  const ca = (await certificate()).cert;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, headers: options.headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A client-credentials token request to the simulated Entra token endpoint. */
export async function requestToken(
  authority: string,
  tenantId: string,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, any> }> {
  const answer = await httpsCall('POST', `${authority}/${tenantId}/oauth2/v2.0/token`, {
    body: new URLSearchParams({ grant_type: 'client_credentials', ...form }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: answer.status, body: JSON.parse(answer.text) };
}

/** The claims of a JWT (no signature check: the test reads what the token says). */
export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}
