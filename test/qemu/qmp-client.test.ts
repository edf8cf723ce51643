import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { QmpClient } from '../../src/qmp/client.js';
import { QmpCommandError, QmpDisconnectedError } from '../../src/qmp/errors.js';
import { QemuMonitor } from '../../src/qmp/monitor.js';
import { describeEachQemu, kvmUsable, QemuHarness } from '../helpers/qemu.js';
import { TranscriptRecorder } from '../helpers/transcript.js';

jest.setTimeout(60_000);

describeEachQemu('QMP client against real QEMU', (installed) => {
  let harness: QemuHarness;
  beforeEach(() => {
    harness = new QemuHarness('qmp', installed.binary);
  });
  afterEach(async () => {
    await harness.cleanup();
  });

  const accel = kvmUsable() ? 'kvm' : 'tcg';

  it('reads the greeting, negotiates, and reports the same version as query-version', async () => {
    const recorder = new TranscriptRecorder('negotiation', 'greeting, qmp_capabilities, query-version, query-status, query-commands', accel);
    const qemu = harness.start({ name: 'vm1' });
    const client = await qemu.connect({ onTraffic: recorder.side('vm1') });
    const monitor = new QemuMonitor(client);
    expect(client.greeting.QMP.capabilities).toContain('oob');
    const version = await monitor.queryVersion();
    expect(version.qemu).toEqual(client.greeting.QMP.version.qemu);
    expect(`${version.qemu.major}.${version.qemu.minor}`).toBe(installed.version);
    expect(await monitor.queryStatus()).toMatchObject({ running: true, status: 'running' });
    const commands = await monitor.queryCommands();
    for (const name of ['migrate', 'migrate-incoming', 'migrate-continue', 'migrate_cancel', 'announce-self', 'cont', 'stop']) {
      expect(commands).toContain(name);
    }
    recorder.save();
  });

  it('answers CommandNotFound to a command sent before negotiation', async () => {
    const recorder = new TranscriptRecorder('before-negotiation', 'query-status before qmp_capabilities, then after it', accel);
    const qemu = harness.start({ name: 'vm1' });
    const client = await qemu.connect({ negotiate: false, onTraffic: recorder.side('vm1') });
    const error = await client.execute('query-status').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QmpCommandError);
    expect((error as QmpCommandError).errorClass).toBe('CommandNotFound');
    await client.execute('qmp_capabilities', {});
    await expect(client.execute('query-status')).resolves.toMatchObject({ status: 'running' });
    recorder.save();
  });

  it('pipelines 200 commands and routes every reply to its caller', async () => {
    const qemu = harness.start({ name: 'vm1' });
    const client = await qemu.connect({ maxInFlight: 32 });
    const names = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? 'query-version' : i % 3 === 1 ? 'query-status' : 'query-name'));
    const replies = await Promise.all(names.map((name) => client.execute(name)));
    replies.forEach((reply, i) => {
      if (names[i] === 'query-version') expect(reply).toHaveProperty('qemu');
      else if (names[i] === 'query-status') expect(reply).toHaveProperty('status', 'running');
      else expect(reply).toEqual({ name: 'vm1' });
    });
    expect(client.stats.sent).toBe(201);
    expect(client.stats.dropped).toBe(0);
  });

  it('delivers STOP and RESUME to listeners registered before stop and cont', async () => {
    const recorder = new TranscriptRecorder('stop-cont', 'stop then cont with their events and statuses', accel);
    const qemu = harness.start({ name: 'vm1' });
    const monitor = new QemuMonitor(await qemu.connect({ onTraffic: recorder.side('vm1') }));
    const stopped = monitor.client.waitFor('STOP', undefined, 10_000);
    await monitor.stop();
    const stop = await stopped;
    expect(stop.timestamp?.seconds).toBeGreaterThan(1_600_000_000);
    expect(await monitor.queryStatus()).toMatchObject({ running: false, status: 'paused' });
    const resumed = monitor.client.waitFor('RESUME', undefined, 10_000);
    await monitor.cont();
    await resumed;
    expect(await monitor.queryStatus()).toMatchObject({ running: true, status: 'running' });
    recorder.save();
  });

  it('reports QEMU error classes as QmpCommandError', async () => {
    const recorder = new TranscriptRecorder('error-classes', 'CommandNotFound, GenericError, DeviceNotFound, DeviceNotActive', accel);
    const qemu = harness.start({ name: 'vm1' });
    const client = await qemu.connect({ onTraffic: recorder.side('vm1') });
    const classOf = (name: string, args?: Record<string, unknown>) =>
      client.execute(name, args).then(
        () => 'no error',
        (e: unknown) => (e instanceof QmpCommandError ? e.errorClass : String(e)),
      );
    expect(await classOf('no-such-command')).toBe('CommandNotFound');
    expect(await classOf('migrate-set-parameters', { 'downtime-limit': 'soon' })).toBe('GenericError');
    expect(await classOf('cont', { bogus: 1 })).toBe('GenericError');
    expect(await classOf('device_del', { id: 'no-such-device' })).toBe('DeviceNotFound');
    expect(await classOf('balloon', { value: 1 << 20 })).toBe('DeviceNotActive');
    expect(await classOf('migrate-continue', { state: 'pre-switchover' })).toBe('GenericError');
    // The connection is still fine after errors.
    await expect(client.execute('query-status')).resolves.toHaveProperty('running', true);
    recorder.save();
  });

  it('fails every pending command with the disconnect when QEMU is killed, not at their deadline', async () => {
    const qemu = harness.start({ name: 'vm1' });
    const client = await qemu.connect({ maxInFlight: 8 });
    // A stopped process answers nothing, so the commands stay in flight (and queued).
    qemu.child.kill('SIGSTOP');
    const pending = Array.from({ length: 20 }, () => client.execute('query-status', undefined, { timeoutMs: 60_000 }).catch((e: unknown) => e));
    await new Promise((resolve) => setImmediate(resolve));
    qemu.child.kill('SIGKILL');
    const errors = await Promise.all(pending);
    // a command that waited for its 60 s deadline would fail with QmpTimeoutError instead
    for (const error of errors) expect(error).toBeInstanceOf(QmpDisconnectedError);
    expect(new Set(errors).size).toBe(1);
    await qemu.exited;
  });

  it('fails with QMP_CONNECT_FAILED when nothing listens at the endpoint', async () => {
    await expect(QmpClient.connect(`unix:${harness.dir}/nothing.qmp`, { greetingTimeoutMs: 2000 })).rejects.toMatchObject({
      code: 'QMP_CONNECT_FAILED',
    });
  });
});
