import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { after, before, describe, it } from 'node:test';
import type { Context } from '@microsoft/microsoft-graph-client';
import type { Dispatcher } from 'undici';
import { directWire, GraphHttpHandler, graphDispatcher } from '../../src/providers/graph-transport.js';
import { createLocalCertificate } from '../../simulators/tls.js';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

describe('GraphHttpHandler (the Graph client over undici)', () => {
  let server: Server;
  let base: string;
  let handler: GraphHttpHandler;
  let dispatcher: Dispatcher;

  before(async () => {
    const certificate = await createLocalCertificate();
    server = createServer({ cert: certificate.cert, key: certificate.key }, (req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (req.url === '/moved') {
          res.writeHead(302, { location: '/echo' }).end();
        } else if (req.url === '/empty') {
          res.writeHead(204).end();
        } else if (req.url === '/slow') {
          setTimeout(() => res.writeHead(200).end('late'), 2000);
        } else {
          res.writeHead(429, [
            ['content-type', 'application/json'],
            ['retry-after', '2.128'],
            ['set-cookie', 'a=1'],
            ['set-cookie', 'b=2'],
          ]);
          res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    dispatcher = graphDispatcher(certificate.cert);
    handler = new GraphHttpHandler(directWire(dispatcher));
  });

  after(async () => {
    await dispatcher.close();
    server.closeAllConnections();
    server.close();
  });

  const send = async (url: string, options: Context['options'] = {}) => {
    const context: Context = { request: url, options };
    await handler.execute(context);
    return context.response!;
  };

  it('sends method, headers (object or Headers) and body, and hands back status, headers and body', async () => {
    for (const headers of [
      { authorization: 'Bearer t', 'content-type': 'application/json' },
      new Headers({ authorization: 'Bearer t', 'content-type': 'application/json' }),
    ]) {
      const response = await send(`${base}/echo`, { method: 'POST', headers, body: '{"a":1}' });
      assert.equal(response.status, 429);
      assert.equal(response.ok, false);
      assert.equal(response.headers.get('retry-after'), '2.128');
      assert.equal(response.headers.get('set-cookie'), 'a=1, b=2');
      const echoed = (await response.json()) as Echo;
      assert.equal(echoed.method, 'POST');
      assert.equal(echoed.headers.authorization, 'Bearer t');
      assert.equal(echoed.body, '{"a":1}');
    }
  });

  it('follows a redirect as fetch does, and gives a 204 without a body', async () => {
    const moved = await send(`${base}/moved`);
    assert.equal(((await moved.json()) as Echo).url, '/echo');
    const empty = await send(`${base}/empty`, { method: 'DELETE' });
    assert.equal(empty.status, 204);
    assert.equal(empty.body, null);
  });

  it('gives up when the signal says so, with an error the provider reads as a timeout', async () => {
    const signal = AbortSignal.timeout(100);
    // The signal's own reason: the provider tells a timeout by the signal, never by a status.
    await assert.rejects(send(`${base}/slow`, { signal }), (error: Error) => error.name === 'TimeoutError');
  });
});
