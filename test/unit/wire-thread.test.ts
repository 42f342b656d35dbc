import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { TransientError } from '../../src/core/errors.js';
import { WireThread } from '../../src/providers/wire-thread.js';

const crashingWorker = fileURLToPath(new URL('../helpers/crashing-wire-worker.js', import.meta.url));
const request = (path: string) => ({ url: `https://graph.example${path}`, method: 'GET', headers: {} });

describe('the wire thread (main side)', () => {
  it('a thread that ends by itself: what it held fails as transient, the next request starts a new one', async () => {
    const wire = new WireThread(crashingWorker);
    try {
      const first = await wire.send(request('/users/a'));
      assert.equal(first.kind === 'answer' && first.answer.status, 200);
      const held = wire.send(request('/hang'));
      const crash = wire.send(request('/crash'));
      for (const outcome of await Promise.allSettled([held, crash])) {
        assert.equal(outcome.status, 'rejected');
        const error = (outcome as PromiseRejectedResult).reason as TransientError;
        assert.ok(error instanceof TransientError, String(error));
        assert.equal(error.code, 'WireThread');
        assert.match(error.message, /simulated crash/);
      }
      const after = await wire.send(request('/users/b'));
      assert.deepEqual(after.kind === 'answer' && JSON.parse(after.answer.body), {
        url: 'https://graph.example/users/b',
      });
      assert.equal(wire.restarts, 1);
    } finally {
      await wire.close();
    }
  });

  it('a thread that exits without an error: the same', async () => {
    const wire = new WireThread(crashingWorker);
    try {
      await assert.rejects(wire.send(request('/exit')), /wire thread failed: the wire thread ended \(exit code 1\)/);
      const after = await wire.send(request('/users/a'));
      assert.equal(after.kind === 'answer' && after.answer.status, 200);
      assert.equal(wire.restarts, 1);
    } finally {
      await wire.close();
    }
  });

  it('close(): what is still out fails, and so does every later request (no new thread)', async () => {
    const wire = new WireThread(crashingWorker);
    const out = assert.rejects(wire.send(request('/hang')), /wire thread was closed/);
    await wire.close();
    await out;
    await assert.rejects(wire.send(request('/users/a')), /wire thread was closed/);
    assert.equal(wire.restarts, 0);
  });

  it('after three restarts the fourth end is final: every later request fails at once', async () => {
    const wire = new WireThread(crashingWorker);
    try {
      for (let crash = 1; crash <= 4; crash++)
        await assert.rejects(wire.send(request('/crash')), TransientError, `crash ${crash}`);
      assert.equal(wire.restarts, 3);
      await assert.rejects(wire.send(request('/users/a')), /wire thread failed/);
    } finally {
      await wire.close();
    }
  });
});
