/*
 * Runs the kernel's own virtchnl_vc_validate_vf_msg() (include/linux/avf/virtchnl.h, static
 * inline) on messages read from stdin, one per line: "<major> <minor> <opcode> <hex|->",
 * and prints its return code per line. With the argument "layouts" it prints the offsets
 * and sizes that layout-checks.h (written by the conformance test from nicmig's codec
 * tables) asks for. Built by test/unit/vfio/kernel-conformance.test.ts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;
typedef uint16_t __be16;
typedef uint32_t __be32;
typedef uint16_t __le16;
typedef uint32_t __le32;
typedef uint64_t __le64;

#include <linux/avf/virtchnl.h>

#define MEMBER_SIZE(type, member) sizeof(((struct type *)0)->member)
#define SHOW_SIZE(type) printf("%s %zu\n", #type, sizeof(struct type))
#define SHOW_MEMBER(type, member) \
	printf("%s.%s %zu %zu\n", #type, #member, offsetof(struct type, member), MEMBER_SIZE(type, member))
#define SHOW_ELEMENT(type, member) \
	printf("%s.%s %zu %zu\n", #type, #member "[]", offsetof(struct type, member), MEMBER_SIZE(type, member[0]))

#include "layout-checks.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int main(int argc, char **argv)
{
	static char line[20000];
	static u8 buf[8192];

	if (argc > 1 && strcmp(argv[1], "layouts") == 0) {
		print_layouts();
		return 0;
	}
	while (fgets(line, sizeof(line), stdin)) {
		unsigned int major, minor, opcode;
		char hex[17000];
		size_t len = 0;

		if (sscanf(line, "%u %u %u %16999s", &major, &minor, &opcode, hex) != 4) {
			fprintf(stderr, "bad input line: %s", line);
			return 2;
		}
		if (strcmp(hex, "-") != 0) {
			size_t n = strlen(hex);

			if (n % 2 != 0 || n / 2 > sizeof(buf)) {
				fprintf(stderr, "bad payload: %s\n", hex);
				return 2;
			}
			for (len = 0; len < n / 2; len++) {
				int hi = hexval(hex[2 * len]), lo = hexval(hex[2 * len + 1]);

				if (hi < 0 || lo < 0) {
					fprintf(stderr, "bad hex: %s\n", hex);
					return 2;
				}
				buf[len] = (u8)(hi * 16 + lo);
			}
		}
		struct virtchnl_version_info ver = { .major = major, .minor = minor };
		printf("%d\n", virtchnl_vc_validate_vf_msg(&ver, opcode, buf, (u16)len));
	}
	return 0;
}
