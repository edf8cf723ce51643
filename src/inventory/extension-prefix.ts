import { UsageError } from '../errors.js';

/**
 * Downstream extension commands carry a vendor prefix (`__RFQDN_`), which differs between
 * builds of a patched QEMU; this one is ours unless configured otherwise (inventory
 * `qmpExtensionPrefix`, `nicmig sim host --extension-prefix`).
 */
export const DEFAULT_EXTENSION_PREFIX = '__org.nicmig_';

export const EXTENSION_PREFIX_PATTERN = /^(?:|x-|__[A-Za-z][A-Za-z0-9.-]*_)$/;

export const EXTENSION_PREFIX_HINT = "a downstream prefix looks like '__com.example_' (reverse domain between '__' and '_'), or 'x-', or empty";

export function validateExtensionPrefix(prefix: string): string {
  if (!EXTENSION_PREFIX_PATTERN.test(prefix)) {
    throw new UsageError('BAD_EXTENSION_PREFIX', `invalid QMP extension prefix '${prefix}'`, { hint: EXTENSION_PREFIX_HINT });
  }
  return prefix;
}
