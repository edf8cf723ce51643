/**
 * The QEMU versions a simulated host can present (a `kind: sim` host's `qemuVersion`,
 * `nicmig sim host --qemu-version`): those whose behaviour the conformance suite measured
 * against the real QEMU and whose QMP schema is recorded (fixtures/qmp/schema/).
 */
export const SIM_QEMU_VERSIONS = ['7.2', '10.0'] as const;
export type SimQemuVersion = (typeof SIM_QEMU_VERSIONS)[number];
export const DEFAULT_SIM_QEMU_VERSION: SimQemuVersion = '7.2';

export function isSimQemuVersion(text: string): text is SimQemuVersion {
  return (SIM_QEMU_VERSIONS as readonly string[]).includes(text);
}

/**
 * YAML reads `qemuVersion: 10.0` as the number 10 and `7.2` as 7.2: back to the text an
 * operator wrote (an integer gets its `.0`). Anything else is left for the schema to refuse.
 */
export function simQemuVersionText(value: unknown): unknown {
  if (typeof value !== 'number' || !Number.isFinite(value)) return value;
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}
