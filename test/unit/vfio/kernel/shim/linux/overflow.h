/*
 * struct_size() as the kernel's linux/overflow.h defines it: sizeof(*p) plus count
 * elements of the flexible array, saturating at SIZE_MAX instead of wrapping.
 */
#ifndef NICMIG_SHIM_LINUX_OVERFLOW_H
#define NICMIG_SHIM_LINUX_OVERFLOW_H
#include <stddef.h>
#include <stdint.h>

static inline size_t nicmig_size_mul(size_t a, size_t b)
{
	size_t r;
	return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX : r;
}

static inline size_t nicmig_size_add(size_t a, size_t b)
{
	size_t r;
	return __builtin_add_overflow(a, b, &r) ? SIZE_MAX : r;
}

#define flex_array_size(p, member, count) nicmig_size_mul((size_t)(count), sizeof(*(p)->member))
#define struct_size(p, member, count) nicmig_size_add(sizeof(*(p)), flex_array_size(p, member, count))
#endif
