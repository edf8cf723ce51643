import { z } from 'zod';
import { VmSpecSchema } from '../inventory/vm-spec.js';

/**
 * The simulated host's control socket (DIR/host.sock): one JSON object per line each way,
 * a reply per request in order. `id` is echoed.
 */
export const StartVmOptionsSchema = z.object({
  /** -S */
  paused: z.boolean().default(false),
  /** -incoming defer */
  incoming: z.boolean().default(false),
  dirtyPagesPerSecond: z.number().nonnegative().optional(),
  fillRandom: z.boolean().optional(),
});

export const ControlRequestSchema = z.discriminatedUnion('op', [
  z.object({ id: z.unknown().optional(), op: z.literal('start-vm'), spec: VmSpecSchema, options: StartVmOptionsSchema.default({ paused: false, incoming: false }) }),
  z.object({ id: z.unknown().optional(), op: z.literal('stop-vm'), name: z.string() }),
  z.object({ id: z.unknown().optional(), op: z.literal('list-vms') }),
  z.object({ id: z.unknown().optional(), op: z.literal('host-facts') }),
]);
export type ControlRequest = z.infer<typeof ControlRequestSchema>;
export type ControlRequestInput = z.input<typeof ControlRequestSchema>;

export const VmInfoSchema = z.object({
  name: z.string(),
  qmp: z.string(),
  memoryMiB: z.number(),
  runState: z.string(),
});
export type VmInfo = z.infer<typeof VmInfoSchema>;

/** What a destination host can take, for the orchestrator's preflight. */
export const PfFactsSchema = z.object({
  name: z.string(),
  numVfs: z.number().int(),
  freeVfs: z.number().int().nullable(),
  maxMacFilters: z.number().int().nullable(),
  maxVlanFilters: z.number().int().nullable(),
  numQueuePairs: z.number().int().nullable(),
});
export type PfFacts = z.infer<typeof PfFactsSchema>;
export const SimHostFactsSchema = z.object({
  memoryAvailableMiB: z.number(),
  pfs: z.array(PfFactsSchema),
  /** The QEMU version the host's VMs present (`nicmig sim host --qemu-version`). */
  qemuVersion: z.string().optional(),
  /** Machine types and aliases its QEMU offers, as `-machine help` lists them. */
  machines: z.array(z.string()).optional(),
});
export type SimHostFacts = z.infer<typeof SimHostFactsSchema>;

export const ControlReplySchema = z.union([
  z.object({ id: z.unknown().optional(), ok: z.literal(true), vm: VmInfoSchema.optional(), vms: z.array(VmInfoSchema).optional(), facts: SimHostFactsSchema.optional() }),
  z.object({ id: z.unknown().optional(), ok: z.literal(false), error: z.object({ code: z.string(), message: z.string() }) }),
]);
export type ControlReply = z.infer<typeof ControlReplySchema>;

/** DIR/host.json: how tests and the orchestrator find a running host's sockets. */
export const HostManifestSchema = z.object({
  name: z.string(),
  pid: z.number(),
  /** The QEMU version its VMs present. */
  qemuVersion: z.string().optional(),
  control: z.string(),
  vms: z.array(VmInfoSchema),
});
export type HostManifest = z.infer<typeof HostManifestSchema>;
