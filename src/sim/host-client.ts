import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { z } from 'zod';
import type { VmSpecSchema } from '../inventory/vm-spec.js';
import { ControlReplySchema, HostManifestSchema, type ControlReply, type HostManifest, type SimHostFacts, type VmInfo } from './control-protocol.js';
import { SimError } from './errors.js';
import type { StartVmOptions } from './host.js';

/** Reads DIR/host.json of a running simulated host. */
export function readHostManifest(dir: string): HostManifest {
  const file = path.join(dir, 'host.json');
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new SimError('SIM_CONTROL_FAILED', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return HostManifestSchema.parse(raw);
}

/** A client of a simulated host's control socket (DIR/host.sock): one request at a time, in order. */
export class SimHostClient {
  private buffered = '';
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (reply: ControlReply) => void; reject: (error: Error) => void }>();

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString('utf8');
      let index: number;
      while ((index = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, index);
        this.buffered = this.buffered.slice(index + 1);
        const reply = ControlReplySchema.parse(JSON.parse(line));
        const waiter = this.waiting.get(Number(reply.id));
        this.waiting.delete(Number(reply.id));
        waiter?.resolve(reply);
      }
    });
    socket.on('close', () => {
      for (const waiter of this.waiting.values()) waiter.reject(new SimError('SIM_CONTROL_FAILED', 'the simulated host closed its control socket'));
      this.waiting.clear();
    });
    socket.on('error', () => undefined);
  }

  /** Connects to `DIR/host.sock` (or a socket path). */
  static connect(dirOrSocket: string): Promise<SimHostClient> {
    const socketPath = dirOrSocket.endsWith('.sock') ? dirOrSocket : path.join(dirOrSocket, 'host.sock');
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('error', (error) => reject(new SimError('SIM_CONTROL_FAILED', `cannot connect to ${socketPath}: ${error.message}`, { cause: error })));
      socket.once('connect', () => resolve(new SimHostClient(socket)));
    });
  }

  async startVm(spec: z.input<typeof VmSpecSchema>, options: StartVmOptions = {}): Promise<VmInfo> {
    const reply = await this.request({ op: 'start-vm', spec, options });
    if (!reply.vm) throw new SimError('SIM_CONTROL_FAILED', 'start-vm: no VM in the reply');
    return reply.vm;
  }

  async stopVm(name: string): Promise<void> {
    await this.request({ op: 'stop-vm', name });
  }

  async hostFacts(): Promise<SimHostFacts> {
    const reply = await this.request({ op: 'host-facts' });
    if (!reply.facts) throw new SimError('SIM_CONTROL_FAILED', 'host-facts: no facts in the reply');
    return reply.facts;
  }

  async listVms(): Promise<VmInfo[]> {
    return (await this.request({ op: 'list-vms' })).vms ?? [];
  }

  close(): void {
    this.socket.end();
  }

  private async request(body: Record<string, unknown>): Promise<Extract<ControlReply, { ok: true }>> {
    const id = this.nextId++;
    const reply = await new Promise<ControlReply>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.write(`${JSON.stringify({ ...body, id })}\n`);
    });
    if (!reply.ok) throw new SimError(reply.error.code.startsWith('SIM_') ? (reply.error.code as 'SIM_CONTROL_FAILED') : 'SIM_CONTROL_FAILED', reply.error.message);
    return reply;
  }
}
