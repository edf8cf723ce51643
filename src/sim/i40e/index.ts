/** The simulated Intel XL710 (i40e) and the patched QEMU device `vfio-i40evf`. */
export { AdminLog, type AdminLogRecord } from './admin-log.js';
export { I40evfDevice, type I40evfDeviceOptions, type I40evfStatus, type ReplayMessage, type ReplayResult } from './device.js';
export { createI40evfDevice, type I40evfFactoryOptions, type PfLookup, type VfioI40evfSpec } from './factory.js';
export { GuestIavfDriver, type GuestDriverOptions, type GuestDriverStats, type GuestVfPort } from './guest-driver.js';
export { defaultPfLimits, KERNEL_LIMITS, pfFacts, SimPf, type PfLimits, type SimPfOptions, type VfInventoryEntry } from './pf.js';
export { I40evfCommand, I40EVF_VF_RESET_EVENT, describeDevice, positionJson } from './qmp.js';
export { Register } from './registers.js';
export type { RingPosition } from './rings.js';
export { SimVf, type QuiesceResult, type VfAdminSettings, type VfCounters, type VfResetInitiator } from './vf.js';
