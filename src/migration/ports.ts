import type { QemuMonitor } from '../qmp/monitor.js';

/**
 * What the orchestrator needs of a host. Implemented by the local QEMU driver, the simulated
 * host, and later the remote agent; the phases never know which one they talk to.
 */
export interface HostHandle {
  readonly name: string;
  /** Address the destination's migration listener binds to and the source connects to. */
  readonly migrationAddress: string;
  /** A monitor of the VM if it runs (or sits) on this host, else undefined. */
  connectVm(vm: string): Promise<QemuMonitor | undefined>;
  /**
   * What this host can say for certain about the VM's QEMU (docs/recover.md): it answers
   * (running or paused, with its monitor), it is gone (no process, or the host says so), or
   * it is unknown (busy, hung, unreachable) with the reason. Never throws; every wait bounded.
   */
  probeVm(vm: string): Promise<VmProbe>;
  /** What the host can take, for preflight; null fields are what this host cannot tell. */
  facts(): Promise<HostFacts>;
  /**
   * Starts the VM paused, waiting for an incoming migration (`-S -incoming defer`). The host
   * chooses the destination VFs from the VM spec (docs/architecture.md).
   */
  startIncoming(vm: string, options?: IncomingOptions): Promise<StartedVm>;
  /**
   * How this host would start the VM as a destination with these options, starting nothing:
   * from the source's command line (rewritten) or from the VM spec. Throws when it cannot
   * (an argument of the source that cannot be carried), so that preflight refuses first.
   */
  planIncoming(vm: string, options?: IncomingOptions): Promise<IncomingPlan>;
  /**
   * The command line of the VM's QEMU on this host, read from the process behind its monitor
   * (docs/destination-command-line.md); undefined where the host has none (the simulator).
   * Throws when the process cannot be found. Never waits.
   */
  readCommandLine(vm: string): Promise<SourceCommandLine | undefined>;
  /** Starts the VM from its spec on this host (`nicmig vm start`), running or paused. */
  startVm(vm: string, mode: { paused: boolean; incoming: boolean }): Promise<StartedVm>;
  /**
   * Stops the VM on this host softly (quit), then hard, each bounded (`nicmig vm stop`):
   * `quit` when it quit, `killed` when it had to be killed, `not-running` when it was not there.
   */
  stopVm(vm: string): Promise<'quit' | 'killed' | 'not-running'>;
  /**
   * Removes what this host made for the VM (its tap interfaces) once the VM's QEMU is gone from
   * it (waiting a few seconds for it to exit); resolves with the interfaces removed. Rejects,
   * removing nothing, while that QEMU still runs.
   */
  releaseVm(vm: string): Promise<string[]>;
}

export interface IncomingOptions {
  /** The source's resolved machine type (`pc-q35-7.2`), which replaces the spec's alias. */
  machineType?: string;
  /** The source's own command line: the destination is built from it instead of from the spec. */
  sourceCommandLine?: SourceCommandLine;
}

/** A VM's QEMU command line as its process on `host` runs it. */
export interface SourceCommandLine {
  host: string;
  pid: number;
  /** The binary first, as `/proc/<pid>/cmdline` has it. */
  argv: string[];
}

/** How a destination will be built: what the journal and the result record. */
export interface IncomingPlan {
  builtFrom: 'source-command-line' | 'spec';
  /** What differs from the source's command line, one line each (empty when built from the spec). */
  rewrites: string[];
}

export interface StartedVm {
  monitor: QemuMonitor;
  /** Where its QMP monitor listens, for the journal and for recover. */
  endpoint: string;
  pid?: number;
  /**
   * Ends the process (SIGKILL if it does not quit) and removes its files; what the host made
   * for the VM beside it (taps) goes with the host's releaseVm.
   */
  destroy(): Promise<void>;
  /** Where the process's stderr goes on its host, when the host keeps a log. */
  log?: string;
  /** The last lines the process wrote to its log (QEMU's own error messages), when the host keeps one. */
  logTail?(): string | undefined;
}

export interface PfFacts {
  name: string;
  numVfs: number;
  freeVfs: number | null;
  /** Filter limits for an untrusted VF on this PF (they differ between PF kernels). */
  maxMacFilters: number | null;
  maxVlanFilters: number | null;
  numQueuePairs: number | null;
}

export interface HostFacts {
  memoryAvailableMiB: number | null;
  /** Machine types the host's QEMU offers; null when any is accepted or it cannot tell. */
  machines: string[] | null;
  /** SR-IOV PFs; null when the host cannot tell. */
  pfs: PfFacts[] | null;
  /** What keeps the host from starting any VM (e.g. its QEMU binary is missing), each a sentence. */
  problems?: string[];
  /**
   * The Linux bridges of the host (in its network namespace), for tap and bridge NICs; absent
   * or null when the host has none to check (simulated) or cannot tell.
   */
  bridges?: string[] | null;
  /** QEMU's bridge helper for `netdev: {type: bridge}` NICs; absent or null when the host cannot tell. */
  bridgeHelper?: BridgeHelperFacts | null;
}

export interface BridgeHelperFacts {
  /** The helper nicmig passes to QEMU (`helper=`), or null when none was found. */
  path: string | null;
  /** Why it cannot be used (missing, not executable, its ACL unreadable), each a sentence. */
  problems: string[];
  /** The ACL it reads (bridge.conf and what that includes), when read. */
  acl: BridgeAcl | null;
}

/**
 * qemu-bridge-helper's ACL: a bridge is allowed when an `allow` names it (or `allow all`) and
 * no `deny` names it (nor `deny all`); order does not matter, deny wins.
 */
export interface BridgeAcl {
  /** The file the helper reads first (compiled into it, e.g. /etc/qemu/bridge.conf). */
  file: string;
  allowAll: boolean;
  denyAll: boolean;
  allow: string[];
  deny: string[];
}

/**
 * A fact about one VM's QEMU on one host. `paused` is any run state but running (prelaunch,
 * inmigrate, finish-migrate, postmigrate, paused...), with QEMU's words for it.
 */
export type VmPresence =
  | { state: 'running' | 'paused'; status: string; migration?: string | undefined }
  | { state: 'gone'; reason: string }
  | { state: 'unknown'; reason: string; busy: boolean };

/** A probe's fact, and the monitor it holds when the QEMU answered (the caller disconnects it). */
export interface VmProbe {
  presence: VmPresence;
  monitor?: QemuMonitor;
}
