/**
 * Numbers of the i40e admin queue and of virtchnl (Linux include/linux/avf/virtchnl.h), and
 * their names. Tables only: no bytes are read or written here.
 */

/** Admin-queue descriptor opcodes that carry virtchnl. */
export const AqOpcode = {
  SEND_MSG_TO_PF: 0x0801,
  SEND_MSG_TO_VF: 0x0802,
} as const;

/** Admin-queue descriptor flags. */
export const AqFlag = {
  DD: 0x1,
  CMP: 0x2,
  ERR: 0x4,
  VFE: 0x8,
  LB: 0x200,
  RD: 0x400,
  VFC: 0x800,
  BUF: 0x1000,
  SI: 0x2000,
  EI: 0x4000,
  FE: 0x8000,
} as const;

/** The largest admin-queue buffer, hence the largest virtchnl payload. */
export const AQ_MAX_BUFFER = 4096;

export const Op = {
  UNKNOWN: 0,
  VERSION: 1,
  RESET_VF: 2,
  GET_VF_RESOURCES: 3,
  CONFIG_TX_QUEUE: 4,
  CONFIG_RX_QUEUE: 5,
  CONFIG_VSI_QUEUES: 6,
  CONFIG_IRQ_MAP: 7,
  ENABLE_QUEUES: 8,
  DISABLE_QUEUES: 9,
  ADD_ETH_ADDR: 10,
  DEL_ETH_ADDR: 11,
  ADD_VLAN: 12,
  DEL_VLAN: 13,
  CONFIG_PROMISCUOUS_MODE: 14,
  GET_STATS: 15,
  RSVD: 16,
  EVENT: 17,
  CONFIG_RSS_HFUNC: 18,
  IWARP: 20,
  CONFIG_IWARP_IRQ_MAP: 21,
  RELEASE_IWARP_IRQ_MAP: 22,
  CONFIG_RSS_KEY: 23,
  CONFIG_RSS_LUT: 24,
  GET_RSS_HENA_CAPS: 25,
  SET_RSS_HENA: 26,
  ENABLE_VLAN_STRIPPING: 27,
  DISABLE_VLAN_STRIPPING: 28,
  REQUEST_QUEUES: 29,
  ENABLE_CHANNELS: 30,
  DISABLE_CHANNELS: 31,
  ADD_CLOUD_FILTER: 32,
  DEL_CLOUD_FILTER: 33,
  GET_SUPPORTED_RXDIDS: 44,
  ADD_RSS_CFG: 45,
  DEL_RSS_CFG: 46,
  ADD_FDIR_FILTER: 47,
  DEL_FDIR_FILTER: 48,
  GET_OFFLOAD_VLAN_V2_CAPS: 51,
  ADD_VLAN_V2: 52,
  DEL_VLAN_V2: 53,
  ENABLE_VLAN_STRIPPING_V2: 54,
  DISABLE_VLAN_STRIPPING_V2: 55,
  ENABLE_VLAN_INSERTION_V2: 56,
  DISABLE_VLAN_INSERTION_V2: 57,
} as const;
export type OpName = keyof typeof Op;

const opNames = new Map<number, OpName>(Object.entries(Op).map(([name, value]) => [value, name as OpName]));

/** The name of a virtchnl opcode, or `OP_<n>` for a number virtchnl does not define. */
export function opcodeName(opcode: number): string {
  return opNames.get(opcode) ?? `OP_${opcode}`;
}

/** virtchnl status codes (s32) the PF answers with. */
export const Status = {
  SUCCESS: 0,
  ERR_PARAM: -5,
  ERR_NO_MEMORY: -18,
  ERR_OPCODE_MISMATCH: -38,
  ERR_CQP_COMPL_ERROR: -39,
  ERR_INVALID_VF_ID: -40,
  ERR_ADMIN_QUEUE_ERROR: -53,
  ERR_NOT_SUPPORTED: -64,
} as const;
export type StatusName = keyof typeof Status;
export type VirtchnlStatus = (typeof Status)[StatusName];

const statusNames = new Map<number, StatusName>(Object.entries(Status).map(([name, value]) => [value, name as StatusName]));

export function statusName(status: number): string {
  return statusNames.get(status) ?? `STATUS_${status}`;
}

/** vf_cap_flags bits (VIRTCHNL_VF_OFFLOAD_* and VIRTCHNL_VF_CAP_* of the 6.12 header). */
export const Cap = {
  L2: 0x1,
  RDMA: 0x2,
  RSS_AQ: 0x8,
  RSS_REG: 0x10,
  WB_ON_ITR: 0x20,
  REQ_QUEUES: 0x40,
  ADV_LINK_SPEED: 0x80,
  CRC: 0x400,
  TC_U32: 0x800,
  VLAN_V2: 0x8000,
  VLAN: 0x10000,
  RX_POLLING: 0x20000,
  RSS_PCTYPE_V2: 0x40000,
  RSS_PF: 0x80000,
  ENCAP: 0x100000,
  ENCAP_CSUM: 0x200000,
  RX_ENCAP_CSUM: 0x400000,
  ADQ: 0x800000,
  USO: 0x2000000,
  RX_FLEX_DESC: 0x4000000,
  ADV_RSS_PF: 0x8000000,
  FDIR_PF: 0x10000000,
} as const;

/** Names of the set capability bits; unknown bits as `0x...`. */
export function capabilityNames(flags: number): string[] {
  const names: string[] = [];
  let rest = flags >>> 0;
  for (const [name, bit] of Object.entries(Cap)) {
    if ((rest & bit) !== 0) {
      names.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  for (let bit = 0; bit < 32; bit++) {
    const mask = (2 ** bit) >>> 0;
    if ((rest & mask) !== 0) names.push(`0x${mask.toString(16)}`);
  }
  return names;
}

export const EventCode = {
  UNKNOWN: 0,
  LINK_CHANGE: 1,
  RESET_IMPENDING: 2,
  PF_DRIVER_CLOSE: 3,
} as const;

const eventNames = new Map<number, string>(Object.entries(EventCode).map(([name, value]) => [value, name]));

export function eventName(event: number): string {
  return eventNames.get(event) ?? `EVENT_${event}`;
}

export const EventSeverity = { INFO: 0, CERTAIN_DOOM: 255 } as const;

/** virtchnl_ether_addr.type */
export const MacType = { LEGACY: 0, PRIMARY: 1, EXTRA: 2 } as const;
export type MacTypeName = 'legacy' | 'primary' | 'extra';
export const macTypeNames: readonly MacTypeName[] = ['legacy', 'primary', 'extra'];

export const PromiscFlag = { UNICAST: 0x1, MULTICAST: 0x2 } as const;

/** virtchnl_rss_algorithm */
export const RssAlgorithm = {
  TOEPLITZ_ASYMMETRIC: 0,
  R_ASYMMETRIC: 1,
  TOEPLITZ_SYMMETRIC: 2,
  XOR_SYMMETRIC: 3,
} as const;

export const VSI_TYPE_SRIOV = 6;

export const VIRTCHNL_VERSION = { major: 1, minor: 1 } as const;

/** i40e facts the PF applies to a VF (i40e_virtchnl_pf.h / i40e.h). */
export const I40E = {
  MAX_VF_QUEUES: 16,
  RSS_KEY_SIZE: 52,
  RSS_LUT_SIZE: 64,
  MAX_VLAN_ID: 4095,
  MAX_UNTRUSTED_MACS: 18,
  MAX_UNTRUSTED_VLANS: 16,
  RING_ALIGN: 128,
  MAX_DATABUFFER_SIZE: 16 * 1024 - 128,
  MIN_PKT_SIZE: 64,
  MAX_PKT_SIZE_EXCLUSIVE: 16 * 1024,
  MAX_ITR_INDEX: 3,
  DEFAULT_MAX_MTU: 9706,
  /**
   * I40E_DEFAULT_RSS_HENA (i40e_txrx.h): IPv4 and IPv6 UDP, TCP, SCTP, other and fragments,
   * and L2 payload (I40E_FILTER_PCTYPE_* bits 31, 33-36, 41, 43-46, 63)
   */
  DEFAULT_RSS_HENA: 0x8000_7a1e_8000_0000n,
  /** I40E_DEFAULT_RSS_HENA_EXPANDED: adds TCP SYN without ACK and unicast/multicast UDP (29, 30, 32, 39, 40, 42) */
  DEFAULT_RSS_HENA_EXPANDED: 0x8000_7f9f_e000_0000n,
} as const;
