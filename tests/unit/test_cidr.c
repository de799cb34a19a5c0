// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "cidr.h"

static void parse_and_format(void **state)
{
	struct cidr c;
	char buf[CIDR_STRLEN];

	assert_int_equal(cidr_parse("172.23.23.0/24", &c, NULL), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_string_equal(cidr_format(&c, true, buf, sizeof(buf)), "172.23.23.0/24");
	assert_int_equal(cidr_parse("2001:db8::/48", &c, NULL), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_string_equal(cidr_format(&c, false, buf, sizeof(buf)), "2001:db8::");
	assert_int_equal(cidr_parse("10.0.0.1", &c, NULL), 0);
	assert_int_equal(c.prefix, 32);
}

static void rejects(void **state)
{
	const char *bad[] = { "", "/24", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
			      "10.0.0.0/8x", "10.0.0/8", "fc00::/129", "hello", "10.0.0.0/ 8",
			      "1.2.3.4.5/32", "10.0.0.0/08", NULL };
	struct verr err = { 0 };
	struct cidr c;

	for (int i = 0; bad[i]; i++)
		assert_int_equal(cidr_parse(bad[i], &c, &err), -EINVAL);
	assert_int_equal(cidr_parse_network("172.23.23.1/24", &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a network"));
	assert_int_equal(cidr_parse_addr("10.0.0.1", AF_INET6, &c, NULL), -EINVAL);
}

static void math(void **state)
{
	struct cidr net, a, b;
	uint64_t off;
	char buf[CIDR_STRLEN];

	cidr_parse("172.23.23.0/24", &net, NULL);
	assert_int_equal(cidr_size(&net), 256);
	assert_int_equal(cidr_host(&net, 1, &a), 0);
	assert_string_equal(cidr_format(&a, false, buf, sizeof(buf)), "172.23.23.1");
	assert_int_equal(cidr_host(&net, 256, &a), -ERANGE);
	cidr_parse("172.23.23.77", &a, NULL);
	assert_true(cidr_contains(&net, &a));
	assert_int_equal(cidr_offset(&net, &a, &off), 0);
	assert_int_equal(off, 77);
	cidr_parse("172.23.24.1", &a, NULL);
	assert_false(cidr_contains(&net, &a));
	assert_int_equal(cidr_offset(&net, &a, &off), -ERANGE);

	cidr_parse("fd00:1:2:3::/64", &net, NULL);
	assert_int_equal(cidr_host(&net, 0x10002, &a), 0);
	assert_string_equal(cidr_format(&a, false, buf, sizeof(buf)), "fd00:1:2:3::1:2");
	assert_int_equal(cidr_offset(&net, &a, &off), 0);
	assert_int_equal(off, 0x10002);
	assert_true(cidr_is_ula(&net));
	assert_false(cidr_is_cjdns(&net));

	cidr_parse("10.0.0.0/8", &a, NULL);
	cidr_parse("10.20.0.0/16", &b, NULL);
	assert_true(cidr_overlap(&a, &b));
	cidr_parse("11.0.0.0/8", &b, NULL);
	assert_false(cidr_overlap(&a, &b));
	cidr_parse("fc12::1", &a, NULL);
	assert_true(cidr_is_cjdns(&a));

	/* A base that is not a network counts from its network. */
	cidr_parse("10.0.0.5/24", &net, NULL);
	assert_int_equal(cidr_host(&net, 255, &a), 0);
	assert_string_equal(cidr_format(&a, false, buf, sizeof(buf)), "10.0.0.255");
	cidr_parse("10.0.0.1", &a, NULL);
	assert_int_equal(cidr_offset(&net, &a, &off), 0);
	assert_int_equal(off, 1);
	memset(&a, 0, sizeof(a));
	assert_string_equal(cidr_format(&a, true, buf, sizeof(buf)), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_and_format),
		cmocka_unit_test(rejects),
		cmocka_unit_test(math),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
