/**
 * Which kernel nicmig's virtchnl rules were checked against: the message validator
 * `virtchnl_vc_validate_vf_msg()` and the struct layouts of include/linux/avf/virtchnl.h,
 * from Debian's header package. scripts/fetch-kernel-header.sh downloads exactly this
 * package (falling back to the suite's current one, and saying so) and the conformance
 * test (test/unit/vfio/kernel-conformance.test.ts) compiles the validator from it.
 */
export const KERNEL_REFERENCE = {
  /** Debian suite the package came from */
  suite: 'bookworm-backports',
  package: 'linux-headers-6.12.95+deb12-common',
  version: '6.12.95-1~bpo12+1',
  /** the header inside the package, below /usr/src/<package-dir>/ */
  header: 'include/linux/avf/virtchnl.h',
} as const;

/** Where the fetch script leaves the header: <root>/tmp/kernel-headers/include/linux/avf/virtchnl.h */
export const KERNEL_HEADER_CACHE = 'tmp/kernel-headers';
