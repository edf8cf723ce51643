import { afterEach, beforeEach, expect, it, jest } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { describeWithQemu, QemuHarness, type QemuProcess } from '../helpers/qemu.js';

jest.setTimeout(60_000);

describeWithQemu('nicmig qmp against real QEMU', () => {
  let harness: QemuHarness;
  let qemu: QemuProcess;
  let endpoint: string;
  beforeEach(async () => {
    harness = new QemuHarness('e2e-qmp');
    qemu = harness.start({ name: 'vm1' });
    // Wait until the socket answers, then let go: QEMU serves one monitor client at a time.
    await (await qemu.connect()).close();
    endpoint = `unix:${qemu.qmpPath}`;
  });
  afterEach(async () => {
    await harness.cleanup();
  });

  it('prints the return value as JSON and exits 0', async () => {
    const result = await runCli(['qmp', endpoint, 'query-status']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'running', running: true });
    expect(result.stderr).toBe('');
  });

  it('passes JSON arguments, and --json prints the same single document', async () => {
    const set = await runCli(['qmp', endpoint, 'migrate-set-parameters', '{"downtime-limit": 512}']);
    expect(set.code).toBe(0);
    const result = await runCli(['qmp', endpoint, 'query-migrate-parameters', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ 'downtime-limit': 512 });
  });

  it('prints a QMP error class and description on stderr and exits 24', async () => {
    const result = await runCli(['qmp', endpoint, 'migrate-set-parameters', '{"downtime-limit": "soon"}']);
    expect(result.code).toBe(24);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/GenericError/);
    expect(result.stderr).toMatch(/downtime-limit/);
    expect(result.stderr).toMatch(/QMP_COMMAND_FAILED/);
  });

  it('under --json reports the QMP error as a document on stdout with exit 24', async () => {
    const result = await runCli(['qmp', endpoint, 'no-such-command', '--json']);
    expect(result.code).toBe(24);
    const document = JSON.parse(result.stdout);
    expect(document).toMatchObject({ status: 'error', error: { code: 'QMP_COMMAND_FAILED', details: { errorClass: 'CommandNotFound' } } });
  });

  it('refuses arguments that are not a JSON object with exit 2, before connecting', async () => {
    const result = await runCli(['qmp', endpoint, 'migrate', '{uri: nope}']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/BAD_ARGUMENTS_JSON/);
    const list = await runCli(['qmp', endpoint, 'migrate', '[1]']);
    expect(list.code).toBe(2);
  });

  it('--events runs the command after listening and prints NDJSON until --for elapses', async () => {
    const result = await runCli(['qmp', endpoint, 'stop', '--events', '--for', '1']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual(expect.arrayContaining([{ return: {} }, expect.objectContaining({ event: 'STOP' })]));
    const status = await runCli(['qmp', endpoint, 'query-status']);
    expect(JSON.parse(status.stdout)).toMatchObject({ status: 'paused' });
  });

  it('--events ends with exit 0 when QEMU shuts down', async () => {
    const result = await runCli(['qmp', endpoint, 'quit', '--events']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/"SHUTDOWN"/);
    await qemu.exited;
  });

  it('exits 20 naming the endpoint when nothing listens there', async () => {
    const result = await runCli(['qmp', `unix:${harness.dir}/absent.qmp`, 'query-status']);
    expect(result.code).toBe(20);
    expect(result.stderr).toMatch(/absent\.qmp/);
    expect(result.stderr).toMatch(/QMP_CONNECT_FAILED/);
  });

  it('exits 2 on a malformed endpoint', async () => {
    const result = await runCli(['qmp', 'localhost:4444', 'query-status']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/BAD_ENDPOINT/);
  });
});
