// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "key.h"

/* From the real key tools (README.md), plus the Core_nodeInfo capture: myAddr's key -> myIp6. */
static const struct {
	const char *key;
	const char *addr;
} vectors[] = {
	{ "5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k", "fccd:d5a9:d4ef:c53d:52a5:55b9:1e67:9610" },
	{ "y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k", "fcb6:8382:890b:a66c:0ac5:7234:6528:2b98" },
	{ "jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k", "fca4:eea9:7060:c7d6:25d3:273c:b94b:eef5" },
	{ "0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k", "fc47:6362:4bbb:3af1:685d:52a3:1067:e0f5" },
	{ "kwvflnpp437rfp0u5v3g376uxv9hmcgcg6llvucslw1b4z5v9k60.k", "fc1e:be5e:fefa:8ce4:f5f4:06f8:3582:2f21" },
};

#define PEER_KEY "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.k"
#define NODE_KEY "kwvflnpp437rfp0u5v3g376uxv9hmcgcg6llvucslw1b4z5v9k60.k"

static void test_vectors(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct verr err = { 0 };
		char addr[40];

		memset(addr, 'X', sizeof(addr));
		assert_int_equal(key_addr_str(vectors[i].key, addr, &err), 0);
		assert_string_equal(addr, vectors[i].addr);
		assert_int_equal(err.code, 0);
	}
}

static void test_ip6_bytes(void **state)
{
	static const uint8_t want[16] = { 0xfc, 0xcd, 0xd5, 0xa9, 0xd4, 0xef, 0xc5, 0x3d,
					  0x52, 0xa5, 0x55, 0xb9, 0x1e, 0x67, 0x96, 0x10 };
	uint8_t key[KEY_BYTES], ip6[16];

	assert_int_equal(key_parse(vectors[0].key, key, NULL), 0);
	key_to_ip6(key, ip6);
	assert_memory_equal(ip6, want, 16);
}

static void test_format_round_trip(void **state)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		uint8_t key[KEY_BYTES];
		char s[KEY_STRLEN + 1];

		assert_int_equal(key_parse(vectors[i].key, key, NULL), 0);
		memset(s, 'X', sizeof(s));
		key_format(key, s);
		assert_string_equal(s, vectors[i].key);
	}
}

/* Whatever the bytes, the text is 52 alphabet chars whose last carries a single bit. */
static void test_format_any_bytes(void **state)
{
	static const char alphabet[] = "0123456789bcdfghjklmnpqrstuvwxyz";
	uint8_t key[KEY_BYTES];
	char s[KEY_STRLEN + 1];

	for (int fill = 0; fill < 256; fill += 51) {
		for (size_t i = 0; i < KEY_BYTES; i++)
			key[i] = (uint8_t)(fill + 7 * i);
		key_format(key, s);
		assert_int_equal(strlen(s), KEY_STRLEN);
		assert_string_equal(s + 52, ".k");
		assert_int_equal(strspn(s, alphabet), 52);
		assert_true(s[51] == '0' || s[51] == '1');
	}
	memset(key, 0xff, sizeof(key));
	key_format(key, s);
	assert_string_equal(s, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1.k");
	memset(key, 0, sizeof(key));
	key_format(key, s);
	assert_string_equal(s, "0000000000000000000000000000000000000000000000000000.k");
}

static void test_errors(void **state)
{
	static const struct {
		const char *key;
		const char *msg;
	} bad[] = {
		{ "", "key must be 52 characters long" },
		{ "abc.k", "key must be 52 characters long" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x.k", "key must be 52 characters long" },
		{ "05sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.k", "key must be 52 characters long" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0", "key must end in .k" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.K", "key must end in .k" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0..", "key must end in .k" },
		/* cjdns accepts this one and ignores the tail; visp does not */
		{ PEER_KEY "GARBAGE", "key must end in .k" },
		{ PEER_KEY ".k", "key must be 52 characters long" },
		/* 'a' (not in the alphabet), uppercase, other letters cjdns leaves out */
		{ "ash08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.k", "failed to base-32 decode key" },
		{ "5SH08ZRR9WFS9ULYUPN1KP6PRY7Q0H6YB80S48K044FR9Z2P4XZ0.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xZ0.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xe0.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xi0.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xo0.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x.0.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x\xc3\xa9.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4x\xff\xff.k", "failed to base-32 decode key" },
		/* leftover bits: the last char's top 4 bits are past bit 255 */
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz2.k", "failed to base-32 decode key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xzz.k", "failed to base-32 decode key" },
		/* decodes, but the address is not in fc00::/8 (the capture's case) */
		{ "rp281rv3psppbbqr1n30wrk9rpy83rxkmkcfzzbx3zp9d2p5uv41.k", "not a valid cjdns public key" },
		{ "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz1.k", "not a valid cjdns public key" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t key[KEY_BYTES], untouched[KEY_BYTES];
		struct verr err = { 0 };
		char addr[40];

		memset(key, 0xa5, sizeof(key));
		memcpy(untouched, key, sizeof(key));
		if (key_parse(bad[i].key, key, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i].key);
		assert_int_equal(err.code, -EINVAL);
		if (strcmp(err.msg, bad[i].msg))
			fail_msg("'%s': '%s', wanted '%s'", bad[i].key, err.msg, bad[i].msg);
		assert_memory_equal(key, untouched, sizeof(key));
		assert_int_equal(key_addr_str(bad[i].key, addr, NULL), -EINVAL);
	}
	{
		uint8_t key[KEY_BYTES];
		struct verr err = { 0 };

		assert_int_equal(key_parse(NULL, key, &err), -EINVAL);
		assert_string_equal(err.msg, "key must be 52 characters long");
	}
}

static void test_from_addr(void **state)
{
	struct verr err = { 0 };
	char key[KEY_STRLEN + 1], addr[40];

	/* peerStats addr */
	assert_int_equal(key_from_addr("v21.0000.0000.0000.0013." PEER_KEY, key, &err), 0);
	assert_string_equal(key, PEER_KEY);
	/* Core_nodeInfo myAddr, whose key must hash to that reply's myIp6 */
	assert_int_equal(key_from_addr("v21.0000.0000.0000.0001." NODE_KEY, key, &err), 0);
	assert_string_equal(key, NODE_KEY);
	assert_int_equal(key_addr_str(key, addr, &err), 0);
	assert_string_equal(addr, "fc1e:be5e:fefa:8ce4:f5f4:06f8:3582:2f21");
	/* other versions and label shapes */
	assert_int_equal(key_from_addr("v20.0000.0000.0000.0015." PEER_KEY, key, NULL), 0);
	assert_int_equal(key_from_addr("v9.13." PEER_KEY, key, NULL), 0);
	assert_string_equal(key, PEER_KEY);
}

static void test_from_addr_errors(void **state)
{
	static const struct {
		const char *addr;
		const char *msg;
	} bad[] = {
		{ "", "malformed cjdns address" },
		{ PEER_KEY, "malformed cjdns address" },
		{ "v21." PEER_KEY, "malformed cjdns address" },
		{ "v21.." PEER_KEY, "malformed cjdns address" },
		{ "x21.0000.0000.0000.0013." PEER_KEY, "malformed cjdns address" },
		{ "v.0000.0000.0000.0013." PEER_KEY, "malformed cjdns address" },
		{ "v21x0000.0000.0000.0013." PEER_KEY, "malformed cjdns address" },
		{ "v21.0000.0000.0000.0013" PEER_KEY, "malformed cjdns address" },
		{ "v21.0000..0000.0013." PEER_KEY, "malformed cjdns address" },
		{ ".v21.0000.0000.0000.0013." PEER_KEY, "malformed cjdns address" },
		{ "v21.0000.0000.0000.0013.." PEER_KEY, "malformed cjdns address" },
		{ "v21..0000.0000.0000.0013." PEER_KEY, "malformed cjdns address" },
		{ "v21.0000.00g0.0000.0013." PEER_KEY, "malformed cjdns address" },
		{ "v21.0000.0000.0000.0013." PEER_KEY "GARBAGE", "malformed cjdns address" },
		{ "v21.0000.0000.0000.0013." PEER_KEY ".k", "malformed cjdns address" },
		{ "v21.0000.0000.0000.0013.5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0",
		  "malformed cjdns address" },
		/* well formed, but the key itself is bad */
		{ "v21.0000.0000.0000.0013.rp281rv3psppbbqr1n30wrk9rpy83rxkmkcfzzbx3zp9d2p5uv41.k",
		  "not a valid cjdns public key" },
		{ "v21.0000.0000.0000.0013.ash08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.k",
		  "failed to base-32 decode key" },
		{ "v21.0000.0000.0000.0013.0" PEER_KEY, "malformed cjdns address" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct verr err = { 0 };
		char key[KEY_STRLEN + 1] = "untouched";

		if (key_from_addr(bad[i].addr, key, &err) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i].addr);
		if (strcmp(err.msg, bad[i].msg))
			fail_msg("'%s': '%s', wanted '%s'", bad[i].addr, err.msg, bad[i].msg);
		assert_string_equal(key, "untouched");
	}
	assert_int_equal(key_from_addr(NULL, NULL, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_ip6_bytes),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_any_bytes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_from_addr),
		cmocka_unit_test(test_from_addr_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
