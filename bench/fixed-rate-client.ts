/**
 * The reference client of `npm run bench -- --reference 0.9`: what this machine lets a client reach
 * against a cell's limiter when it knows the ceiling beforehand and needs no controller. It reads
 * the rules of `--requests` mailboxes (a verify's requests) at a fixed `--rate`: slots a late timer
 * missed are made up (at most 20 ms of them), but never two requests within half an interval of
 * each other, so a stall never turns into a burst; it stops at every
 * Retry-After until it ends, and sends a refused or failed request again until all have an answer.
 * It is the same simulator, machine and process boundary as the CLI's cells, with none of the CLI's
 * work beside the requests: the gap between its efficiency and the CLI's is the client's own.
 *
 *   node dist/bench/fixed-rate-client.js --url U --tenant T --client-id C --resource R --rate 450
 *     --requests 10000 --mailboxes 10000        (the app's secret in SINKRULE_CLIENT_SECRET)
 *
 * Prints one JSON line: { accepted, refused, failed, windows, firstSentAt, lastAnsweredAt } (epoch ms).
 * A 4xx other than 429 ends it with exit code 1: the cell is misconfigured, not throttled.
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, request } from 'undici';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    tenant: { type: 'string' },
    'client-id': { type: 'string' },
    resource: { type: 'string' },
    rate: { type: 'string' },
    requests: { type: 'string' },
    mailboxes: { type: 'string' },
  },
});
const url = values.url!;
const rate = Number(values.rate);
const total = Number(values.requests);
const mailboxes = Number(values.mailboxes);
const secret = process.env.SINKRULE_CLIENT_SECRET;
if (!secret || !(rate > 0) || !(total > 0) || !(mailboxes > 0)) throw new Error('fixed-rate-client: see its usage');

const token = await request(`${url}/${values.tenant}/oauth2/v2.0/token`, {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: values['client-id']!,
    client_secret: secret,
    scope: `${values.resource}/.default`,
  }).toString(),
}).then(async (response) => {
  const body = (await response.body.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`fixed-rate-client: no token (HTTP ${response.statusCode})`);
  return body.access_token;
});

const pool = new Pool(url, { connections: 256 });
const stats = { accepted: 0, refused: 0, failed: 0, windows: 0, firstSentAt: 0, lastAnsweredAt: 0 };
/** Mailbox indexes still to read: refused and failed ones go back at the end. */
const todo = Array.from({ length: total }, (_, i) => total - 1 - i);
let closedUntil = 0;
let inFlight = 0;

async function read(index: number): Promise<void> {
  inFlight++;
  try {
    const response = await pool.request({
      method: 'GET',
      path: `/v1.0/users/user${index % mailboxes}%40contoso.com/mailFolders/inbox/messageRules`,
      headers: { authorization: `Bearer ${token}` },
    });
    await response.body.text();
    stats.lastAnsweredAt = Date.now();
    if (response.statusCode === 200) {
      stats.accepted++;
      return;
    }
    if (response.statusCode !== 429 && response.statusCode < 500)
      throw new Error(`fixed-rate-client: HTTP ${response.statusCode} for user${index}: not a cell to measure`);
    todo.unshift(index);
    if (response.statusCode !== 429) {
      stats.failed++;
      return;
    }
    stats.refused++;
    // The simulators send whole seconds; anything else counts as one.
    const seconds = Number(response.headers['retry-after']);
    const until = Date.now() + (Number.isFinite(seconds) && seconds > 0 ? seconds : 1) * 1000;
    if (Date.now() >= closedUntil) stats.windows++;
    closedUntil = Math.max(closedUntil, until);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('fixed-rate-client:')) {
      console.error(error.message);
      process.exit(1);
    }
    stats.failed++;
    todo.unshift(index);
  } finally {
    inFlight--;
  }
}

const intervalInMs = 1000 / rate;
const maxCatchUpInMs = 20;
let nextAt = performance.now();
let lastSentAt = Number.NEGATIVE_INFINITY;
while (stats.accepted < total) {
  const now = performance.now();
  const sendAt = Math.max(nextAt, lastSentAt + intervalInMs / 2);
  if (Date.now() < closedUntil) {
    await sleep(closedUntil - Date.now());
    nextAt = performance.now();
  } else if (todo.length === 0) {
    await sleep(1); // the last answers are on their way; refused ones come back to todo
  } else if (now >= sendAt) {
    stats.firstSentAt ||= Date.now();
    void read(todo.pop()!);
    lastSentAt = now;
    nextAt = Math.max(nextAt, now - maxCatchUpInMs) + intervalInMs;
  } else await sleep(sendAt - now);
}
while (inFlight > 0) await sleep(1);
await pool.close();
console.log(JSON.stringify(stats));
