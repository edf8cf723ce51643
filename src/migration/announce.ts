import { virtioNics, type VmSpec } from '../inventory/vm-spec.js';
import type { MigrationParameters } from '../qmp/schemas.js';

/**
 * Who tells the network that the guest's virtio-net NICs moved, decided before the stream
 * starts, from the destination's migration parameters (docs/configuration.md, "Announce").
 *
 * QEMU announces by itself when an incoming migration completes (process_incoming_migration_bh
 * calls qemu_announce_self with the destination's announce-* parameters: a RARP per NIC from its
 * configured MAC, and virtio-net's guest announce where the guest driver offers it), unless
 * `announce-rounds` is 0. Frames sent while the destination is still paused wait in QEMU's
 * queues and go out at `cont`. When those rounds are off, or the inventory says `always`,
 * nicmig sends `announce-self` for the NICs itself once the destination runs. Pure.
 */

export interface AnnouncedNic {
  id: string;
  mac: string;
}

export interface AnnounceTiming {
  rounds: number;
  initialMs: number;
  maxMs: number;
  stepMs: number;
}

export type AnnouncePlan =
  /** No NIC to announce (none in the inventory, or only backend-less ones). */
  | { by: 'nobody'; nics: [] }
  /** QEMU's own announce after the incoming migration, with these parameters. */
  | { by: 'qemu'; nics: AnnouncedNic[]; timing: AnnounceTiming }
  /** nicmig sends announce-self after cont; `qemu` is QEMU's own timing, when it announces too. */
  | { by: 'nicmig'; nics: AnnouncedNic[]; timing: AnnounceTiming; why: string; qemu: AnnounceTiming | null };

/** QEMU's announce timing in the destination's migration parameters, null when it does not report them. */
export function qemuAnnounceTiming(parameters: MigrationParameters): AnnounceTiming | null {
  const rounds = parameters['announce-rounds'];
  if (rounds === undefined) return null;
  return { rounds, initialMs: parameters['announce-initial'] ?? 0, maxMs: parameters['announce-max'] ?? 0, stepMs: parameters['announce-step'] ?? 0 };
}

export function planAnnounce(spec: VmSpec | undefined, destinationParameters: MigrationParameters): AnnouncePlan {
  const nics = spec ? virtioNics(spec).filter((nic) => nic.netdev.type !== 'none').map((nic) => ({ id: nic.id, mac: nic.mac })) : [];
  if (!spec || nics.length === 0) return { by: 'nobody', nics: [] };
  const qemu = qemuAnnounceTiming(destinationParameters);
  const { rounds, initialMs, maxMs, stepMs } = spec.announce;
  const timing = { rounds, initialMs, maxMs, stepMs };
  const qemuAnnounces = qemu !== null && qemu.rounds > 0;
  if (spec.announce.send === 'always') return { by: 'nicmig', nics, timing, why: "the inventory's announce.send is always", qemu: qemuAnnounces ? qemu : null };
  if (qemuAnnounces) return { by: 'qemu', nics, timing: qemu };
  const why = qemu === null ? 'the destination QEMU does not report announce-rounds' : "the destination QEMU's announce-rounds is 0";
  return { by: 'nicmig', nics, timing, why, qemu: null };
}

/** The journal's `announced` record of a plan carried out. */
export function announcedRecord(plan: Exclude<AnnouncePlan, { by: 'nobody' }>): Record<string, unknown> {
  if (plan.by === 'qemu') return { by: 'qemu', how: 'QEMU announce after the incoming migration (announce-* parameters)', nics: plan.nics, ...plan.timing };
  return { by: 'nicmig', how: 'announce-self', why: plan.why, nics: plan.nics, ...plan.timing, ...(plan.qemu ? { qemuAlso: plan.qemu } : {}) };
}
