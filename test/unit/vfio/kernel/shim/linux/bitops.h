#ifndef NICMIG_SHIM_LINUX_BITOPS_H
#define NICMIG_SHIM_LINUX_BITOPS_H
#include <linux/bits.h>
#endif
