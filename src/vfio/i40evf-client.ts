import { z } from 'zod';
import type { QemuMonitor } from '../qmp/monitor.js';
import type { DestinationFacts } from './facts.js';

/**
 * Client of the patched QEMU's vfio-i40evf QMP extension (docs/qmp-i40evf.md). Commands are
 * sent under the monitor's extension prefix. Every method only builds the call: callers may
 * issue several without awaiting in between, and QEMU runs them in order (pipelining).
 */

const RingPositionSchema = z.looseObject({
  queue: z.number().int(),
  'rx-head': z.number().int(),
  'rx-tail': z.number().int(),
  'tx-head': z.number().int(),
  'tx-tail': z.number().int(),
});
export type RingPosition = z.infer<typeof RingPositionSchema>;

const FactsSchema = z.looseObject({
  'api-version': z.looseObject({ major: z.number().int(), minor: z.number().int() }),
  trusted: z.boolean(),
  'max-mac-filters': z.number().int(),
  'max-vlan-filters': z.number().int(),
  'port-vlan': z.number().int().nullable(),
  'host-mac': z.string().nullable(),
  'num-queue-pairs': z.number().int(),
  'default-queue-pairs': z.number().int(),
  'max-vectors': z.number().int(),
  'max-mtu': z.number().int().nullable(),
  /** absent from hosts older than the per-device policy: XL710 */
  device: z.enum(['xl710', 'x722']).optional(),
});

export const I40evfDeviceInfoSchema = z.looseObject({
  id: z.string(),
  host: z.string().optional(),
  pf: z.string(),
  vf: z.number().int(),
  'vsi-id': z.number().int(),
  'guest-vsi-id': z.number().int().nullable(),
  status: z.string(),
  quiesced: z.boolean(),
  'rx-dirty-tracking': z.boolean(),
  'log-records': z.number().int(),
  'log-next-sequence': z.number().int(),
  facts: FactsSchema,
  rings: z.array(RingPositionSchema),
});
export type I40evfDeviceInfo = z.infer<typeof I40evfDeviceInfoSchema>;

const AdminLogSchema = z.looseObject({
  id: z.string(),
  'first-sequence': z.number().int().nullable(),
  'next-sequence': z.number().int(),
  'reset-sequence': z.number().int(),
  resets: z.number().int(),
  capture: z.string(),
});
export type AdminLog = z.infer<typeof AdminLogSchema>;

const QuiesceSchema = z.looseObject({ id: z.string(), queues: z.array(RingPositionSchema), 'dirty-pages': z.number().int().optional() });
const ReplaySchema = z.looseObject({
  id: z.string(),
  'vsi-id': z.number().int(),
  completed: z.boolean(),
  results: z.array(z.looseObject({ opcode: z.number().int(), name: z.string(), status: z.number().int(), 'status-name': z.string(), reply: z.string() })),
});
export type ReplayResult = z.infer<typeof ReplaySchema>;
const VfStateSchema = z.looseObject({ id: z.string(), 'vsi-id': z.number().int(), state: z.record(z.string(), z.unknown()) });
const IdSchema = z.looseObject({ id: z.string() });

export class I40evfClient {
  constructor(private readonly monitor: QemuMonitor) {}

  list(): Promise<I40evfDeviceInfo[]> {
    return this.monitor.executeExtension('i40evf-list', undefined, { schema: z.array(I40evfDeviceInfoSchema) });
  }

  adminLog(id: string, since?: number): Promise<AdminLog> {
    return this.monitor.executeExtension('i40evf-admin-log', since === undefined ? { id } : { id, since }, { schema: AdminLogSchema });
  }

  dirtyTracking(id: string, enable: boolean): Promise<unknown> {
    return this.monitor.executeExtension('i40evf-dirty-tracking', { id, enable }, { schema: IdSchema });
  }

  quiesce(id: string): Promise<RingPosition[]> {
    return this.monitor.executeExtension('i40evf-quiesce', { id }, { schema: QuiesceSchema }).then((r) => r.queues);
  }

  unquiesce(id: string): Promise<unknown> {
    return this.monitor.executeExtension('i40evf-unquiesce', { id }, { schema: IdSchema });
  }

  replay(id: string, messages: { opcode: number; payload: Buffer }[], guestVsiId?: number): Promise<ReplayResult> {
    const args: Record<string, unknown> = { id, messages: messages.map((m) => ({ opcode: m.opcode, payload: m.payload.toString('base64') })) };
    if (guestVsiId !== undefined) args['guest-vsi-id'] = guestVsiId;
    return this.monitor.executeExtension('i40evf-replay', args, { schema: ReplaySchema });
  }

  restoreRings(id: string, queues: RingPosition[]): Promise<unknown> {
    return this.monitor.executeExtension('i40evf-restore-rings', { id, queues }, { schema: IdSchema });
  }

  vfState(id: string): Promise<Record<string, unknown>> {
    return this.monitor.executeExtension('i40evf-vf-state', { id }, { schema: VfStateSchema }).then((r) => r.state);
  }

  announce(id: string): Promise<unknown> {
    return this.monitor.executeExtension('i40evf-announce', { id }, { schema: IdSchema });
  }

  reset(id: string): Promise<unknown> {
    return this.monitor.executeExtension('i40evf-reset', { id }, { schema: IdSchema });
  }
}

/** The planner's view of a destination VF, from its `i40evf-list` entry. */
export function destinationFacts(device: I40evfDeviceInfo): DestinationFacts {
  const f = device.facts;
  return {
    vsiId: device['vsi-id'],
    apiVersion: { major: f['api-version'].major, minor: f['api-version'].minor },
    trusted: f.trusted,
    maxMacFilters: f['max-mac-filters'],
    maxVlanFilters: f['max-vlan-filters'],
    portVlan: f['port-vlan'],
    hostMac: f['host-mac'],
    numQueuePairs: f['num-queue-pairs'],
    defaultQueuePairs: f['default-queue-pairs'],
    maxVectors: f['max-vectors'],
    ...(f['max-mtu'] === null ? {} : { maxMtu: f['max-mtu'] }),
    ...(f.device === undefined ? {} : { device: f.device }),
    vfId: device.vf,
  };
}
