import { afterEach } from '@jest/globals';
import type { MigrationStatus, RunState } from '../../../src/qmp/schemas.js';
import { encodeFrame, encodeProbe, EtherType } from '../../../src/sim/network/frame.js';
import type { SimDeviceContext } from '../../../src/sim/device.js';
import { QmpCommandRegistry } from '../../../src/sim/qmp-registry.js';
import { GuestRam } from '../../../src/sim/ram.js';
import { createI40evfDevice } from '../../../src/sim/i40e/factory.js';
import type { I40evfDevice } from '../../../src/sim/i40e/device.js';
import { SimPf, type PfLimits } from '../../../src/sim/i40e/pf.js';
import type { GuestDriverOptions } from '../../../src/sim/i40e/guest-driver.js';

/** A VM as far as a device can see it, without the QMP server: for handler-level tests. */
export class FakeVm {
  readonly ram: GuestRam;
  readonly registry = new QmpCommandRegistry('__org.nicmig_');
  readonly events: { name: string; data?: Record<string, unknown> }[] = [];
  state: RunState = 'paused';
  migration: MigrationStatus = 'none';
  readonly context: SimDeviceContext;

  constructor(
    readonly name = 'vm1',
    memoryBytes = 4 << 20,
  ) {
    this.ram = new GuestRam(memoryBytes);
    this.context = {
      vmName: name,
      ram: this.ram,
      runState: () => this.state,
      migrationStatus: () => this.migration,
      registerCommand: (definition) => {
        this.registry.registerExtension(definition);
      },
      emitEvent: (eventName, data) => this.events.push(data === undefined ? { name: eventName } : { name: eventName, data }),
      log: () => undefined,
    };
  }

  execute(name: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return this.registry.dispatch(`__org.nicmig_${name}`, args);
  }
}

export function makePf(host: string, vsiBase: number, limits: Partial<PfLimits> = {}, numVfs = 4): SimPf {
  return new SimPf({ host, name: 'enp1s0f0', numVfs, vsiBase, limits });
}

export interface Plugged {
  vm: FakeVm;
  device: I40evfDevice;
}

/** A device for spec `{mac, trust, ...}` plugged into a fake VM, the guest driver stopped. */
export function plug(pf: SimPf, spec: { mac?: string; vlan?: number; trust?: boolean; spoofchk?: boolean; vf?: number } = {}, guest: GuestDriverOptions = {}, name = 'vm1'): Plugged {
  const vm = new FakeVm(name);
  const device = createI40evfDevice(
    { type: 'vfio-i40evf', id: 'net0', pf: pf.name, vf: spec.vf ?? 'auto', trust: spec.trust ?? false, spoofchk: spec.spoofchk ?? true, ...(spec.mac ? { mac: spec.mac } : {}), ...(spec.vlan !== undefined ? { vlan: spec.vlan } : {}) },
    new Map([[pf.name, pf]]),
    { guest: { pollIntervalMs: 1000, ...guest } },
  );
  device.attach(vm.context);
  return { vm, device };
}

/** The guest MAC the i40e tests use. */
export const GUEST_MAC = '52:54:00:00:00:01';

/** A sequence-numbered probe frame to the guest, as the traffic source sends it. */
export function probe(sequence: number): Buffer {
  return encodeFrame({ dst: GUEST_MAC, src: '02:00:00:ee:ee:01', vlan: null, etherType: EtherType.PROBE, payload: encodeProbe({ stream: 1, sequence, sentAt: 0 }) });
}

/** Devices a test plugs, detached after each test whatever happened. Call at the top of a test file. */
export function detachAfterEach(): Plugged[] {
  const plugged: Plugged[] = [];
  afterEach(() => {
    for (const p of plugged.splice(0)) p.device.detach();
  });
  return plugged;
}
