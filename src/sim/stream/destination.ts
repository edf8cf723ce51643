import net from 'node:net';
import type { MigrationStatus } from '../../qmp/schemas.js';
import { PAGE_SIZE } from '../ram.js';
import type { SimVm } from '../vm.js';
import type { MigrationTarget } from './uri.js';
import { encodeLoaded, encodeRefused, StreamDecoder, type StreamItem } from './wire.js';

/** Why a load failed (QEMU's error_report on stderr) and the errno qemu_loadvm_state() returns. */
class LoadFailure extends Error {
  constructor(
    message: string,
    readonly errno = 'Invalid argument',
  ) {
    super(message);
  }
}

/**
 * The destination side (`-incoming defer` + `migrate-incoming`): listens, accepts one
 * connection, rebuilds RAM and device state from the stream, then runs or stays paused.
 * Any failure ends the VM process with exit code 1, as QEMU 7.2 does; with `exit-on-error`
 * false (QEMU 9.1+) the process stays, the migration `failed` with the error as `error-desc`.
 */
export class IncomingMigration {
  status: MigrationStatus = 'none';
  private server: net.Server | undefined;
  private socket: net.Socket | undefined;
  private socketAddress: Record<string, unknown>[] | undefined;
  private readonly decoder = new StreamDecoder();
  private work: Promise<void> = Promise.resolve();
  private sourceWasRunning = true;
  private failed = false;
  private aborted = false;
  private errorDesc: string | undefined;
  pagesLoaded = 0;

  constructor(
    private readonly vm: SimVm,
    private readonly options: { exitOnError: boolean } = { exitOnError: true },
  ) {}

  async listen(target: MigrationTarget): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const onListening = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (target.kind === 'tcp') server.listen(target.port, target.host, onListening);
      else server.listen(target.path, onListening);
    });
    const address = server.address();
    if (address && typeof address === 'object' && target.kind === 'tcp') {
      const ipv6 = net.isIPv6(target.host);
      this.socketAddress = [{ port: String(address.port), ...(ipv6 ? { ipv6: true } : { ipv4: true }), host: target.host, type: 'inet' }];
    } else if (target.kind === 'unix') {
      this.socketAddress = [{ path: target.path, type: 'unix' }];
    }
    // 10.0: the incoming state moves to `setup` (event with the `events` capability only);
    // 7.2 sent its event before it looked at the URI (announceSetup).
    if (this.vm.profile.incomingSetupIsAState) this.setStatus('setup');
  }

  /**
   * QEMU 7.2's qemu_start_incoming_migration() sends `setup` itself, before it parses the URI
   * and not through the state machine: the event goes out even for a URI it then refuses, with
   * or without the `events` capability, and the incoming state stays `none` until a source
   * connects.
   */
  static announceSetup(vm: SimVm): void {
    if (vm.profile.incomingSetupIsAState) return;
    for (const device of vm.devices) device.onMigrationStatus?.('setup', 'destination');
    vm.emitEvent('MIGRATION', { status: 'setup' });
  }

  info(): Record<string, unknown> {
    // A failed incoming migration (10.0, exit-on-error false) reports its error, no address.
    if (this.status === 'failed') return { status: 'failed', ...(this.errorDesc === undefined ? {} : { 'error-desc': this.errorDesc }) };
    const address = this.socketAddress && this.status !== 'completed' ? { 'socket-address': this.socketAddress } : {};
    return this.status === 'none' ? address : { status: this.status, ...address };
  }

  abort(): void {
    this.aborted = true;
    this.server?.close();
    this.socket?.destroy();
  }

  private setStatus(status: MigrationStatus): void {
    this.status = status;
    if (!this.aborted) this.vm.migrationEvent(status, 'destination');
  }

  private accept(socket: net.Socket): void {
    // One source per migrate-incoming: stop listening once it is here.
    this.server?.close();
    this.server = undefined;
    if (this.socket) {
      socket.destroy();
      return;
    }
    this.socket = socket;
    socket.setNoDelay(true);
    this.setStatus('active');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      let items: StreamItem[];
      try {
        items = this.decoder.push(chunk);
      } catch (error) {
        this.fail(error);
        return;
      }
      if (items.length === 0) return;
      this.work = this.work.then(() => this.apply(items)).catch((error: unknown) => this.fail(error));
    });
    socket.on('close', () => {
      this.work = this.work.then(() => {
        if (!this.decoder.complete) this.fail(new LoadFailure('load of migration failed: Input/output error', 'Input/output error'));
      });
    });
  }

  private async apply(items: StreamItem[]): Promise<void> {
    const ram = this.vm.ram;
    for (const item of items) {
      if (this.failed) return;
      switch (item.kind) {
        case 'header':
          if (item.pageSize !== PAGE_SIZE || item.pageCount !== ram.pageCount) {
            throw new LoadFailure(
              `Length mismatch: pc.ram: 0x${(item.pageCount * item.pageSize).toString(16)} in != 0x${ram.size.toString(16)}: Invalid argument`,
            );
          }
          break;
        case 'page':
          ram.write(item.page * PAGE_SIZE, item.bytes, { markDirty: false });
          this.pagesLoaded++;
          break;
        case 'zero':
          ram.bytes.fill(0, item.page * PAGE_SIZE, (item.page + 1) * PAGE_SIZE);
          this.pagesLoaded++;
          break;
        case 'pass':
          break;
        case 'device': {
          const device = this.vm.devices.find((candidate) => candidate.id === item.id);
          if (!device?.loadState) {
            throw new LoadFailure(`Unknown savevm section or instance '${item.id}' 0. Make sure that your current VM setup matches your saved VM setup, including any hotplugged devices`);
          }
          try {
            this.socket?.pause();
            await device.loadState(item.state);
          } catch (error) {
            const why = error instanceof Error ? error.message : String(error);
            throw new LoadFailure(`error while loading state for instance 0x0 of device '${item.id}': ${why}`);
          } finally {
            this.socket?.resume();
          }
          break;
        }
        case 'runstate':
          this.sourceWasRunning = item.wasRunning;
          break;
        case 'eof':
          this.finish();
          break;
      }
    }
  }

  /** process_incoming_migration_bh(): run (or stay paused), then `completed`. */
  private finish(): void {
    if (this.vm.capability('return-path')) this.socket?.write(encodeLoaded());
    this.socket?.end();
    if (this.sourceWasRunning && this.vm.autostart) this.vm.vmStart();
    else this.vm.setRunState('paused');
    this.setStatus('completed');
  }

  private fail(error: unknown): void {
    if (this.failed || this.aborted) return;
    this.failed = true;
    const message = error instanceof Error ? error.message : String(error);
    this.vm.log(`vm ${this.vm.name}: incoming migration failed: ${message}`);
    if (this.vm.capability('return-path') && this.socket && !this.socket.destroyed) this.socket.end(encodeRefused(message));
    else this.socket?.destroy();
    // QEMU's error-desc names only the errno; the why went to its stderr (here: the log).
    this.errorDesc = `load of migration failed: ${error instanceof LoadFailure ? error.errno : 'Invalid argument'}`;
    this.setStatus('failed');
    // QEMU: error_report() and exit(EXIT_FAILURE), unless exit-on-error was false.
    if (this.options.exitOnError) void this.vm.exit(1, `load of migration failed: ${message}`);
  }
}
