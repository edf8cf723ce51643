/**
 * The QMP extension of `vfio-i40evf` (docs/qmp-i40evf.md). One set of commands per VM, for
 * all of its i40evf devices, addressed by device `id`; names go under the VM's extension
 * prefix (SimDeviceContext.registerCommand adds it). Errors are GenericError with a
 * description naming what was wrong.
 */
import { genericError } from '../qmp-args.js';
import type { SimDeviceContext } from '../device.js';
import type { GuestRam } from '../ram.js';
import type { I40evfDevice, ReplayMessage } from './device.js';
import type { RingPosition } from './rings.js';
import { SimVf } from './vf.js';

/** The commands, without prefix. */
export const I40evfCommand = {
  LIST: 'i40evf-list',
  ADMIN_LOG: 'i40evf-admin-log',
  DIRTY_TRACKING: 'i40evf-dirty-tracking',
  QUIESCE: 'i40evf-quiesce',
  UNQUIESCE: 'i40evf-unquiesce',
  REPLAY: 'i40evf-replay',
  RESTORE_RINGS: 'i40evf-restore-rings',
  VF_STATE: 'i40evf-vf-state',
  ANNOUNCE: 'i40evf-announce',
  RESET: 'i40evf-reset',
} as const;

/** The event, without prefix. */
export const I40EVF_VF_RESET_EVENT = 'I40EVF_VF_RESET';

type Table = Map<string, I40evfDevice>;
const tables = new WeakMap<GuestRam, Table>();

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function base64(value: unknown, field: string): Buffer {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value)) throw genericError(`Parameter '${field}' expects base64 data`);
  return Buffer.from(value, 'base64');
}

export function positionJson(p: RingPosition): Record<string, number> {
  return { queue: p.queue, 'rx-head': p.rxHead, 'rx-tail': p.rxTail, 'tx-head': p.txHead, 'tx-tail': p.txTail };
}

const POSITION_SPEC = { object: { queue: { type: 'int' }, 'rx-head': { type: 'int' }, 'rx-tail': { type: 'int' }, 'tx-head': { type: 'int' }, 'tx-tail': { type: 'int' } } } as const;

export function describeDevice(device: I40evfDevice): Record<string, unknown> {
  const vf = device.vf;
  const facts = vf.facts();
  return {
    id: device.id,
    host: vf.pf.host,
    pf: vf.pf.name,
    vf: vf.index,
    'vsi-id': vf.vsiId,
    'guest-vsi-id': device.guestVsiId,
    status: device.status(),
    quiesced: vf.quiesced,
    'rx-dirty-tracking': vf.dirtyTracking,
    'log-records': vf.log.length,
    'log-next-sequence': vf.log.next,
    'log-reset-sequence': vf.log.resetSequence,
    resets: vf.log.resets,
    settings: { mac: vf.settings.mac, vlan: vf.settings.vlan, trust: vf.settings.trust, spoofchk: vf.settings.spoofchk },
    facts: {
      'api-version': facts.apiVersion,
      trusted: facts.trusted,
      'max-mac-filters': facts.maxMacFilters,
      'max-vlan-filters': facts.maxVlanFilters,
      'port-vlan': facts.portVlan ?? null,
      'host-mac': facts.hostMac ?? null,
      'num-queue-pairs': facts.numQueuePairs,
      'default-queue-pairs': facts.defaultQueuePairs ?? facts.numQueuePairs,
      'max-vectors': facts.maxVectors ?? 5,
      'max-mtu': facts.maxMtu ?? null,
      device: facts.device ?? 'xl710',
    },
    rings: vf.positions().map(positionJson),
    counters: { ...vf.counters },
  };
}

/**
 * Adds a device to its VM's table, registering the commands with the first one. Returns
 * the function that takes it out again (detach).
 */
export function registerI40evfDevice(context: SimDeviceContext, device: I40evfDevice): () => void {
  let table = tables.get(context.ram);
  if (!table) {
    table = new Map();
    tables.set(context.ram, table);
    registerCommands(context, table);
  }
  if (table.has(device.id)) throw new Error(`a vfio-i40evf device with id '${device.id}' is already plugged into ${context.vmName}`);
  table.set(device.id, device);
  const owned = table;
  return () => {
    if (owned.get(device.id) === device) owned.delete(device.id);
  };
}

function registerCommands(context: SimDeviceContext, table: Table): void {
  const find = (args: Record<string, unknown>): I40evfDevice => {
    const id = String(args.id);
    const device = table.get(id);
    if (!device) {
      const known = [...table.keys()];
      throw genericError(`Device '${id}' is not a vfio-i40evf device of this VM${known.length > 0 ? ` (its vfio-i40evf devices: ${known.join(', ')})` : ' (it has none)'}`);
    }
    return device;
  };
  const idOnly = { id: { type: 'str' } } as const;

  context.registerCommand({ name: I40evfCommand.LIST, handler: () => [...table.values()].map(describeDevice) });

  context.registerCommand({
    name: I40evfCommand.ADMIN_LOG,
    args: { ...idOnly, since: { type: 'int', optional: true } },
    handler: (args) => {
      const device = find(args);
      const since = typeof args.since === 'number' ? args.since : 0;
      if (since < 0) throw genericError(`Parameter 'since' must not be negative`);
      const vf = device.vf;
      const records = vf.log.since(since);
      const capture = vf.capture(since);
      return {
        id: device.id,
        'first-sequence': capture.first,
        'next-sequence': capture.next,
        'reset-sequence': vf.log.resetSequence,
        resets: vf.log.resets,
        records: records.map((r) => ({ sequence: r.sequence, direction: SimVf.directionName(r.direction), opcode: r.opcode, status: r.status, length: r.payload.length })),
        capture: capture.bytes.toString('base64'),
      };
    },
  });

  context.registerCommand({
    name: I40evfCommand.DIRTY_TRACKING,
    args: { ...idOnly, enable: { type: 'bool' } },
    handler: (args) => {
      const device = find(args);
      device.vf.setDirtyTracking(args.enable === true);
      return { id: device.id, enabled: device.vf.dirtyTracking };
    },
  });

  context.registerCommand({
    name: I40evfCommand.QUIESCE,
    args: idOnly,
    handler: (args) => {
      const device = find(args);
      const result = device.vf.quiesce();
      return { id: device.id, queues: result.positions.map(positionJson), 'dirty-pages': result.pagesMarked };
    },
  });

  context.registerCommand({
    name: I40evfCommand.UNQUIESCE,
    args: idOnly,
    handler: (args) => {
      const device = find(args);
      if (device.awaitingReplay) throw genericError(`Device '${device.id}': the VF has not been replayed since the migration; un-quiescing it would DMA into a ring the PF does not know`);
      return { id: device.id, queues: device.vf.unquiesce().map(positionJson) };
    },
  });

  context.registerCommand({
    name: I40evfCommand.REPLAY,
    args: {
      ...idOnly,
      messages: { type: { list: { object: { opcode: { type: 'int' }, payload: { type: 'str' } } } } },
      'guest-vsi-id': { type: 'int', optional: true },
    },
    handler: (args) => {
      const device = find(args);
      const list = args.messages as { opcode: number; payload: string }[];
      const messages: ReplayMessage[] = list.map((m, i) => {
        if (m.opcode < 0 || m.opcode > 0xffff) throw genericError(`Parameter 'messages[${i}].opcode' must be a virtchnl opcode (0..65535)`);
        const payload = base64(m.payload, `messages[${i}].payload`);
        if (payload.length > 4096) throw genericError(`Parameter 'messages[${i}].payload' is ${payload.length} bytes; the admin queue takes at most 4096`);
        return { opcode: m.opcode, payload };
      });
      const guestVsi = typeof args['guest-vsi-id'] === 'number' ? args['guest-vsi-id'] : undefined;
      const { results, completed } = device.replay(messages, guestVsi);
      return {
        id: device.id,
        'vsi-id': device.vf.vsiId,
        'guest-vsi-id': device.guestVsiId,
        completed,
        results: results.map((r) => ({ opcode: r.opcode, name: r.name, status: r.status, 'status-name': r.statusName, reply: r.reply.toString('base64') })),
      };
    },
  });

  context.registerCommand({
    name: I40evfCommand.RESTORE_RINGS,
    args: { ...idOnly, queues: { type: { list: POSITION_SPEC }, optional: true } },
    handler: (args) => {
      const device = find(args);
      const queues = args.queues as Record<string, number>[] | undefined;
      const positions = queues?.map((q) => ({ queue: q.queue ?? 0, rxHead: q['rx-head'] ?? 0, rxTail: q['rx-tail'] ?? 0, txHead: q['tx-head'] ?? 0, txTail: q['tx-tail'] ?? 0 }));
      try {
        return { id: device.id, queues: device.restoreRings(positions).map(positionJson) };
      } catch (error) {
        throw genericError(`Device '${device.id}': cannot restore ring positions: ${(error as Error).message}`);
      }
    },
  });

  context.registerCommand({
    name: I40evfCommand.VF_STATE,
    args: idOnly,
    handler: (args) => {
      const device = find(args);
      return { id: device.id, 'vsi-id': device.vf.vsiId, state: device.vfState() };
    },
  });

  context.registerCommand({
    name: I40evfCommand.ANNOUNCE,
    args: idOnly,
    handler: (args) => {
      const device = find(args);
      return { id: device.id, frames: device.vf.announce() };
    },
  });

  context.registerCommand({
    name: I40evfCommand.RESET,
    args: idOnly,
    handler: (args) => {
      const device = find(args);
      device.vf.pfReset();
      device.awaitingReplay = false;
      return { id: device.id };
    },
  });
}
