/* Just enough of the kernel's linux/bits.h for include/linux/avf/virtchnl.h in user space. */
#ifndef NICMIG_SHIM_LINUX_BITS_H
#define NICMIG_SHIM_LINUX_BITS_H
#define BIT(nr) (1UL << (nr))
#define BIT_ULL(nr) (1ULL << (nr))
#endif
