import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TokenCredential } from '@azure/identity';
import { ThrottleGate } from '../../src/core/throttle-gate.js';
import type { Mailbox } from '../../src/core/mailbox.js';
import type { GraphConfig } from '../../src/input/config.js';
import { createGraphProvider } from '../../src/providers/graph.js';
import type { GraphWire, WireRequest } from '../../src/providers/graph-transport.js';

const config = {
  tenantId: '00000000-0000-0000-0000-000000000001',
  clientId: '00000000-0000-0000-0000-000000000002',
  cloud: 'global',
  baseUrl: 'https://graph.test',
  authorityHost: 'https://login.test',
  customEndpoints: true,
  tokenScope: 'https://graph.test/.default',
  concurrency: 4,
  batchSize: 4,
} as unknown as GraphConfig;
const credential: TokenCredential = {
  getToken: async () => ({ token: 'token', expiresOnTimestamp: Date.now() + 3_600_000 }),
};
const json = { 'content-type': 'application/json' };
const mailbox = (email: string) => ({ email, line: 2 }) as unknown as Mailbox;
const refused = {
  status: 429,
  headers: { 'Retry-After': '1', 'Content-Type': 'application/json' },
  body: { error: { code: 'TooManyRequests', message: 'Please retry again later.' } },
};

describe('Graph provider: JSON batches until the service shows a small burst', () => {
  it('after a 429 for a batch the wire had made up, each request goes on its own', async () => {
    const sent: WireRequest[] = [];
    // The wire answers the first batch with an app-wide 429 for its item, marked made up (as the
    // wire thread marks a request it sent faster than the pace); everything after with no rules.
    const wire: GraphWire = async (request) => {
      sent.push(request);
      if (request.url.endsWith('/$batch')) {
        const [item] = (JSON.parse(request.body!) as { requests: Array<{ id: string }> }).requests;
        const first = sent.length === 1;
        const answer = first ? { id: item!.id, ...refused } : { id: item!.id, status: 200, body: { value: [] } };
        return {
          kind: 'answer',
          answer: { status: 200, headers: json, body: JSON.stringify({ responses: [answer] }) },
          ...(first ? { madeUp: true as const } : {}),
        };
      }
      return { kind: 'answer', answer: { status: 200, headers: json, body: '{"value":[]}' } };
    };
    // Holding a remembered pace (in learning, a made-up 429 says nothing of the burst).
    const clock = Date.now;
    const gate = new ThrottleGate({ clock, sleep: (ms) => sleep(ms), rememberedRequestsPerSecond: 100 });
    const provider = createGraphProvider({ config, credential, gate, clock, batchSize: 4, wire });
    await assert.rejects(provider.readRules(mailbox('a@contoso.com')), { name: 'ThrottledError' });
    assert.equal(gate.smallBurst, true);
    assert.deepEqual((await provider.readRules(mailbox('b@contoso.com'))).rules, []);
    assert.deepEqual(
      sent.map((request) => new URL(request.url).pathname),
      ['/v1.0/$batch', '/v1.0/users/b%40contoso.com/mailFolders/inbox/messageRules'],
    );
  });
});
