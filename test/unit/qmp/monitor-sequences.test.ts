import { describe, expect, it } from '@jest/globals';
import { QmpClient } from '../../../src/qmp/client.js';
import { QmpTimeoutError } from '../../../src/qmp/errors.js';
import { QemuMonitor } from '../../../src/qmp/monitor.js';
import { FakeQmpStream, GREETING } from '../../helpers/fake-qmp-stream.js';

/** A monitor over a fake QEMU that answers by `handler` (undefined: no answer). */
async function monitorOf(handler: (message: Record<string, unknown>) => unknown) {
  const stream = new FakeQmpStream();
  stream.autoNegotiate(handler);
  const attaching = QmpClient.attach(stream, { peerName: 'vm1 on hostA' });
  stream.send(GREETING);
  return { stream, monitor: new QemuMonitor(await attaching) };
}

describe('QemuMonitor.quitAndWait', () => {
  it('a quit that gets no answer fails with that command named, after one deadline, not two', async () => {
    const { monitor } = await monitorOf(() => undefined);
    const started = performance.now();
    const error = await monitor.quitAndWait({ quitTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpTimeoutError);
    expect((error as Error).message).toBe('quit: no reply from vm1 on hostA within 1000 ms');
    // Two deadlines would be 2000 ms; the margin is for a loaded machine's late timers.
    expect(performance.now() - started).toBeLessThan(1900);
    expect(monitor.unresponsive).toBe(true);
  });

  it('a quit that gets no answer goes to the kill at once, and resolves when the monitor closes', async () => {
    const { stream, monitor } = await monitorOf(() => undefined);
    let killedAfter = -1;
    const started = performance.now();
    const how = await monitor.quitAndWait({
      quitTimeoutMs: 1000,
      kill: async () => {
        killedAfter = performance.now() - started;
        stream.end();
      },
    });
    expect(killedAfter).toBeGreaterThanOrEqual(990);
    expect(killedAfter).toBeLessThan(1900);
    expect(how).toBe('killed');
  });

  it('a QEMU that dies before it answers quit is gone (it may have left its socket and pid file)', async () => {
    const { stream, monitor } = await monitorOf((m) => {
      if (m.execute === 'quit') queueMicrotask(() => stream.end());
      return undefined;
    });
    await expect(monitor.quitAndWait({ quitTimeoutMs: 1000 })).resolves.toBe('gone');
    await expect(monitor.quitAndWait({ quitTimeoutMs: 1000 })).resolves.toBe('gone');
  });

  it('an answered quit waits for the monitor to close', async () => {
    const { stream, monitor } = await monitorOf((m) => {
      if (m.execute !== 'quit') return undefined;
      setTimeout(() => stream.end(), 50);
      return { return: {} };
    });
    await expect(monitor.quitAndWait({ quitTimeoutMs: 1000 })).resolves.toBe('quit');
    expect(monitor.isOpen).toBe(false);
  });
});

describe('QemuMonitor.cancelMigrationAndWait', () => {
  /** QEMU whose migration goes from `from` to cancelling on migrate_cancel, and stays there. */
  function stuckInCancelling(from: string) {
    let status = from;
    return (m: Record<string, unknown>) => {
      if (m.execute === 'query-migrate') return { return: { status } };
      if (m.execute === 'migrate_cancel') {
        status = 'cancelling';
        return { return: {} };
      }
      return undefined;
    };
  }

  it('a migration cancelled in setup (its connect under way) that stays cancelling is over: it can no longer complete', async () => {
    const { monitor } = await monitorOf(stuckInCancelling('setup'));
    await expect(monitor.cancelMigrationAndWait(100)).resolves.toBe('cancelling');
  });

  it('a migration cancelled while active that does not end is a timeout naming its status', async () => {
    const { monitor } = await monitorOf(stuckInCancelling('active'));
    await expect(monitor.cancelMigrationAndWait(100)).rejects.toThrow('vm1 on hostA: the migration did not end within 100 ms of migrate_cancel (status cancelling)');
  });

  it('nothing under way: the status found, nothing sent', async () => {
    const { stream, monitor } = await monitorOf((m) => (m.execute === 'query-migrate' ? { return: { status: 'completed' } } : undefined));
    await expect(monitor.cancelMigrationAndWait(100)).resolves.toBe('completed');
    expect(stream.written.map((m) => m.execute)).toEqual(['qmp_capabilities', 'query-migrate']);
  });
});
