import { QmpCommandError } from '../qmp/errors.js';
import type { QemuMonitor } from '../qmp/monitor.js';
import { parseCapture, type CaptureRecord } from '../vfio/capture.js';
import type { DestinationFacts } from '../vfio/facts.js';
import { destinationFacts, I40evfClient, type AdminLog, type I40evfDeviceInfo, type RingPosition } from '../vfio/i40evf-client.js';
import { stateToJson } from '../vfio/json.js';
import { checkCompatibility, compareVfToDestination, planReplay, type PlannedMessage } from '../vfio/plan.js';
import { reduceCapture } from '../vfio/reduce.js';
import type { VfState } from '../vfio/state.js';
import { compareStateJson } from '../vfio/verify-json.js';
import { MigrationError } from './errors.js';
import type { VmSpec } from '../inventory/vm-spec.js';
import type { JournalEvent } from './journal.js';
import type { HostFacts } from './ports.js';
import type { MigrationStrategy, ReplayReport, StrategyPlan } from './strategy.js';

interface DeviceMigration {
  id: string;
  source: I40evfDeviceInfo;
  /** Records read before the switchover (outside the downtime). */
  records: CaptureRecord[];
  resetSequence: number;
  nextSequence: number;
  state: VfState | undefined;
  facts: DestinationFacts | undefined;
  positions: RingPosition[];
  plan: PlannedMessage[];
  /** The final state as the destination must read it back (JSON form), made with the plan. */
  expected: unknown;
  quiesced: boolean;
}

/** Each way the destination VF differs from what the source VF holds, with the two values named. */
function differences(state: VfState, facts: DestinationFacts): string[] {
  return compareVfToDestination(state, facts).map((d) => `${d.message} (${d.field}: source ${String(d.source)}, destination ${String(d.destination)})`);
}

function decode(log: AdminLog): CaptureRecord[] {
  const parsed = parseCapture(Buffer.from(log.capture, 'base64'));
  if (parsed.error) throw new MigrationError('failed', 'replay', `device ${log.id}: the admin log the device returned is damaged: ${parsed.error.message}`);
  return parsed.records;
}

/**
 * The VF replay strategy (DESIGN.md): capture the source VF's admin log, reduce it to the
 * VF's state, and rebuild that state on the destination VF with the shortest valid message
 * list, inside the switchover, then verify it by reading the destination back.
 */
export class VfReplayStrategy implements MigrationStrategy {
  readonly name = 'vf-replay' as const;
  readonly hasReplayPhase = true;
  readonly switchoverRecords: readonly JournalEvent[] = ['source-vf-quiesced'];
  private readonly devices = new Map<string, DeviceMigration>();
  private sourceClient: I40evfClient | undefined;
  /** Ready once the final state is reduced and planned (overlaps the stream's last pass). */
  private planned: Promise<void> | undefined;

  async preflight(source: QemuMonitor): Promise<string[]> {
    const client = new I40evfClient(source);
    this.sourceClient = client;
    let devices: I40evfDeviceInfo[];
    try {
      devices = await client.list();
    } catch (error) {
      if (error instanceof QmpCommandError && error.errorClass === 'CommandNotFound') {
        return [`the source QEMU has no vfio-i40evf extension (${source.extensionName('i40evf-list')}): is it the patched QEMU, and is the prefix right (qmpExtensionPrefix)?`];
      }
      throw error;
    }
    if (devices.length === 0) return ['the VM has no vfio-i40evf device on the source'];
    const reasons: string[] = [];
    const logs = await Promise.all(devices.map((device) => client.adminLog(device.id)));
    devices.forEach((device, index) => {
      const log = logs[index] as AdminLog;
      const records = decode(log);
      // What the PF applied depends on the source VF's trust (i40e answers an untrusted VF's
      // promiscuous request with success and applies nothing).
      const { state } = reduceCapture(records, { sourceTrusted: device.facts.trusted });
      if (device.quiesced) reasons.push(`device ${device.id}: the source VF is quiesced (a migration in flight, or one that ended badly: run nicmig recover)`);
      if (state.unmodelled.size > 0) reasons.push(`device ${device.id}: the guest used admin-queue opcodes nicmig cannot replay (${[...state.unmodelled.keys()].join(', ')})`);
      this.devices.set(device.id, {
        id: device.id,
        source: device,
        records,
        resetSequence: log['reset-sequence'],
        nextSequence: log['next-sequence'],
        state,
        facts: undefined,
        positions: [],
        plan: [],
        expected: undefined,
        quiesced: false,
      });
    });
    return reasons;
  }

  /** The destination PFs' limits against each VF's state, before anything starts there. */
  checkDestinationHost(spec: VmSpec, facts: HostFacts): string[] {
    const reasons: string[] = [];
    for (const device of this.devices.values()) {
      const specDevice = spec.devices.find((d) => d.type === 'vfio-i40evf' && d.id === device.id);
      if (!specDevice || specDevice.type !== 'vfio-i40evf' || !device.state) continue;
      const pf = facts.pfs?.find((p) => p.name === specDevice.pf);
      if (!pf || pf.maxMacFilters === null || pf.maxVlanFilters === null) continue;
      const source = destinationFacts(device.source);
      const destination: DestinationFacts = {
        ...source,
        trusted: specDevice.trust,
        maxMacFilters: pf.maxMacFilters,
        maxVlanFilters: pf.maxVlanFilters,
        numQueuePairs: pf.numQueuePairs ?? source.numQueuePairs,
        portVlan: specDevice.vlan ?? null,
      };
      for (const reason of differences(device.state, destination)) reasons.push(`device ${device.id} on the destination PF ${pf.name}: ${reason}`);
    }
    return reasons;
  }

  /** The plan as it would be on a VF like the source's (the destination's facts come later). */
  describePlan(): StrategyPlan {
    return {
      devices: [...this.devices.values()].map((device) => {
        const state = device.state as VfState;
        const facts = destinationFacts(device.source);
        let replayMessages = -1;
        try {
          replayMessages = planReplay(state, facts).length;
        } catch {
          // Not plannable on the source's own facts; preflight said why.
        }
        let rxBufferBytes = 0;
        for (const [queue, pair] of state.queuePairs) {
          if (((state.enabledQueues.rx >>> queue) & 1) === 1) rxBufferBytes += pair.rx.ringLen * pair.rx.databufferSize;
        }
        return { id: device.id, captured: device.records.length, replayMessages, rxBufferBytes };
      }),
    };
  }

  async afterDestinationStarted(destination: QemuMonitor): Promise<string[]> {
    const client = new I40evfClient(destination);
    const devices = await client.list();
    const reasons: string[] = [];
    for (const device of this.devices.values()) {
      const target = devices.find((d) => d.id === device.id);
      if (!target) {
        reasons.push(`device ${device.id}: the destination VM has no vfio-i40evf device of that id`);
        continue;
      }
      device.facts = destinationFacts(target);
      if (device.state) for (const reason of differences(device.state, device.facts)) reasons.push(`device ${device.id} on the destination PF ${target.pf}: ${reason}`);
    }
    return reasons;
  }

  async beforePrecopy(source: QemuMonitor): Promise<void> {
    const client = new I40evfClient(source);
    await Promise.all([...this.devices.keys()].map((id) => client.dirtyTracking(id, true)));
  }

  atSwitchover(source: QemuMonitor): Promise<void> {
    // Only sends (no await before the last execute), so that migrate-continue goes right behind.
    const client = new I40evfClient(source);
    const quiesces: Promise<RingPosition[]>[] = [];
    const pending = [...this.devices.values()].map((device) => {
      const quiesced = client.quiesce(device.id);
      quiesces.push(quiesced);
      const delta = client.adminLog(device.id, device.nextSequence);
      return Promise.all([quiesced, delta]).then(async ([positions, log]) => {
        device.quiesced = true;
        device.positions = positions;
        // A reset in the meantime invalidates what was read before: read the whole log again.
        const records = log['reset-sequence'] === device.resetSequence ? [...device.records, ...decode(log)] : decode(await client.adminLog(device.id));
        const wasActive = device.state?.active === true;
        device.state = reduceCapture(records, { sourceTrusted: device.source.facts.trusted }).state;
        device.records = records;
        // Reset (by the PF, or by the guest before it stopped) and not brought up again: the
        // guest re-initialises it once it runs, which it can only do where the VF stays bound.
        if (wasActive && !device.state.active) {
          throw new MigrationError('failed', 'switchover', `device ${device.id}: the VF was reset during the switchover and is not active; the guest brings it up again on the source`);
        }
        if (!device.facts) throw new MigrationError('failed', 'switchover', `device ${device.id}: no destination facts`);
        const reasons = checkCompatibility(device.state, device.facts);
        if (reasons.length > 0) throw new MigrationError('failed', 'switchover', `device ${device.id}: the final VF state does not fit the destination: ${reasons.join('; ')}`);
        device.plan = planReplay(device.state, device.facts);
        // Made here, while the final pass streams, not in the downtime after it.
        device.expected = JSON.parse(JSON.stringify(stateToJson(device.state)));
      });
    });
    this.planned = Promise.all(pending).then(() => undefined);
    this.planned.catch(() => undefined);
    // The quiesce must have succeeded; reducing and planning overlap the final pass.
    return Promise.all(quiesces).then(() => undefined);
  }

  async beforeResume(destination: QemuMonitor): Promise<ReplayReport> {
    await this.planned;
    const client = new I40evfClient(destination);
    const devices = [...this.devices.values()];
    // One pipelined batch per device: replay, restore rings, read back.
    const results = await Promise.all(
      devices.map((device) =>
        Promise.all([
          client.replay(device.id, device.plan, device.source['guest-vsi-id'] ?? device.source['vsi-id']),
          client.restoreRings(device.id, device.positions),
          client.vfState(device.id),
        ]),
      ),
    );
    const differences: string[] = [];
    let replayed = 0;
    let captured = 0;
    devices.forEach((device, index) => {
      const [replay, , readBack] = results[index] as [Awaited<ReturnType<I40evfClient['replay']>>, unknown, Record<string, unknown>];
      replayed += replay.results.length;
      captured += device.records.length;
      for (const result of replay.results) {
        if (result.status !== 0) differences.push(`device ${device.id}: the destination PF refused ${result.name} (${result['status-name']})`);
      }
      if (!replay.completed) differences.push(`device ${device.id}: the replay stopped before its end`);
      for (const difference of compareStateJson(device.expected, readBack)) differences.push(`device ${device.id}: ${difference}`);
    });
    return { captured, replayed, verified: differences.length === 0, differences };
  }

  async afterResume(destination: QemuMonitor): Promise<number> {
    const client = new I40evfClient(destination);
    await Promise.all([...this.devices.keys()].map((id) => client.announce(id)));
    return this.devices.size;
  }

  async cleanupSource(source: QemuMonitor): Promise<void> {
    const client = new I40evfClient(source);
    await Promise.all([...this.devices.keys()].map((id) => client.reset(id)));
  }

  async rollbackSource(source: QemuMonitor | undefined): Promise<void> {
    const client = source ? new I40evfClient(source) : this.sourceClient;
    if (!client) return;
    await Promise.all(
      [...this.devices.values()].map(async (device) => {
        if (device.quiesced) await client.unquiesce(device.id);
        await client.dirtyTracking(device.id, false);
        device.quiesced = false;
      }),
    );
  }
}
