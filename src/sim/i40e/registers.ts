/** The VF's BAR0 registers the simulated device traps (shared/REFERENCE-virtchnl.md). */
export const Register = {
  QTX_TAIL: (queue: number): number => 0x0000 + 4 * queue,
  QRX_TAIL: (queue: number): number => 0x2000 + 4 * queue,
  VFINT_DYN_CTLN1: (vector: number): number => 0x3800 + 4 * vector,
  VFINT_ICR01: 0x4800,
  VFINT_ICR0_ENA1: 0x5000,
  VFINT_DYN_CTL01: 0x5c00,
  VF_ARQBAH1: 0x6000,
  VF_ATQH1: 0x6400,
  VF_ATQLEN1: 0x6800,
  VF_ARQBAL1: 0x6c00,
  VF_ARQT1: 0x7000,
  VF_ARQH1: 0x7400,
  VF_ATQBAH1: 0x7800,
  VF_ATQBAL1: 0x7c00,
  VF_ARQLEN1: 0x8000,
  VF_ATQT1: 0x8400,
  VFGEN_RSTAT: 0x8800,
} as const;

/** VFGEN_RSTAT values: reset in progress, completed, VF active. */
export const ResetState = { IN_PROGRESS: 0, COMPLETED: 1, VF_ACTIVE: 2 } as const;

export const MAX_QUEUES = 16;

/** The queue a tail register offset belongs to, or null. */
export function tailRegisterQueue(offset: number): { kind: 'rx' | 'tx'; queue: number } | null {
  if (offset >= 0x0000 && offset < 0x0000 + 4 * MAX_QUEUES && offset % 4 === 0) return { kind: 'tx', queue: offset / 4 };
  if (offset >= 0x2000 && offset < 0x2000 + 4 * MAX_QUEUES && offset % 4 === 0) return { kind: 'rx', queue: (offset - 0x2000) / 4 };
  return null;
}
