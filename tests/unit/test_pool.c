// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "pool.h"

static const char *fmt(const struct cidr *c)
{
	static char buf[CIDR_STRLEN];

	return cidr_format(c, true, buf, sizeof(buf));
}

static void bad(const char *v4, const char *v6, long max, const char *msg)
{
	struct pool *p = (struct pool *)1;
	struct verr err = { 0 };

	assert_int_equal(pool_new(&p, v4, v6, max, &err), -EINVAL);
	assert_null(p);
	if (!strstr(err.msg, msg))
		fail_msg("'%s' lacks '%s'", err.msg, msg);
}

static void rejects(void **state)
{
	bad(NULL, NULL, 0, "neither");
	bad("", "", 0, "neither");
	bad("172.23.23.1/24", NULL, 0, "not a network");
	bad("172.23.23.0/33", NULL, 0, "prefix");
	bad("fd00::/64", NULL, 0, "not an IPv4 network");
	bad(NULL, "10.0.0.0/8", 0, "not an IPv6 network");
	bad("172.23.23.0/31", NULL, 0, "too small");
	bad("172.23.23.0/32", NULL, 0, "too small");
	bad(NULL, "fd00::/127", 0, "too small");
	bad(NULL, "fc00:1::/64", 0, "cjdns");
	bad(NULL, "fc00::/7", 0, "cjdns");
	bad(NULL, "::/0", 0, "overlaps");
	bad(NULL, "ff02::/64", 0, "multicast");
	bad("127.0.0.0/24", NULL, 0, "loopback");
	bad("224.1.0.0/16", NULL, 0, "multicast");
	bad("10.0.0.0/24", NULL, -1, "negative");
	bad("bogus", NULL, 0, "bogus");
}

static void ipv4_slash30(void **state)
{
	struct pool *p = NULL;
	struct cidr c;
	uint64_t first, last, off;
	struct verr err = { 0 };

	assert_int_equal(pool_new(&p, "172.23.23.0/30", NULL, 0, &err), 0);
	assert_true(pool_range(p, AF_INET, &first, &last));
	assert_int_equal(first, 2);
	assert_int_equal(last, 2);
	assert_false(pool_range(p, AF_INET6, &first, &last));
	assert_null(pool_net(p, AF_INET6));
	assert_string_equal(pool_name(p, AF_INET), "172.23.23.0/30");
	assert_int_equal(pool_capacity(p), 1);
	assert_int_equal(pool_gateway_addr(p, AF_INET, &c), 0);
	assert_string_equal(fmt(&c), "172.23.23.1/30");
	assert_int_equal(pool_gateway_addr(p, AF_INET6, &c), -ENOENT);
	assert_int_equal(pool_addr(p, AF_INET, 2, &c), 0);
	assert_string_equal(fmt(&c), "172.23.23.2/30");
	assert_int_equal(pool_addr(p, AF_INET, 1, &c), -ERANGE);
	assert_int_equal(pool_addr(p, AF_INET, 3, &c), -ERANGE);

	cidr_parse("172.23.23.2", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), 0);
	assert_int_equal(off, 2);
	cidr_parse("172.23.23.0", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "network address"));
	cidr_parse("172.23.23.1", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "gateway"));
	cidr_parse("172.23.23.3", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "broadcast"));
	cidr_parse("172.23.23.4", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not in pool 172.23.23.0/30"));
	cidr_parse("fd00::2", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no IPv6 pool"));
	pool_free(p);
}

static void ipv6_and_dual(void **state)
{
	struct pool *p = NULL;
	struct cidr c;
	uint64_t first, last, off;
	struct verr err = { 0 };

	assert_int_equal(pool_new(&p, NULL, "fd00:1:2:3::/126", 0, &err), 0);
	assert_true(pool_range(p, AF_INET6, &first, &last));
	assert_int_equal(first, 2);
	assert_int_equal(last, 3);	/* no broadcast in IPv6 */
	assert_int_equal(pool_capacity(p), 2);
	pool_free(p);

	assert_int_equal(pool_new(&p, "10.8.0.0/16", "2001:db8:7::/48", 100, &err), 0);
	assert_true(pool_range(p, AF_INET6, &first, &last));
	assert_int_equal(last, 0xffffffffULL);	/* capped at 2^32 */
	assert_int_equal(pool_capacity(p), 100);
	assert_int_equal(pool_max_leases(p), 100);
	assert_int_equal(pool_gateway_addr(p, AF_INET6, &c), 0);
	assert_string_equal(fmt(&c), "2001:db8:7::1/48");
	assert_int_equal(pool_addr(p, AF_INET6, 0x10002, &c), 0);
	assert_string_equal(fmt(&c), "2001:db8:7::1:2/48");
	assert_int_equal(pool_offset(p, &c, &off, &err), 0);
	assert_int_equal(off, 0x10002);
	cidr_parse("2001:db8:7::1:0:0", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "2^32"));
	cidr_parse("2001:db8:7:1::5", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	cidr_parse("10.8.255.255", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "broadcast"));
	cidr_parse("10.8.255.254", &c, NULL);
	assert_int_equal(pool_offset(p, &c, &off, &err), 0);
	assert_int_equal(off, 65534);
	pool_free(p);

	assert_int_equal(pool_new(&p, "10.8.0.0/24", "fd00::/120", 0, &err), 0);
	assert_int_equal(pool_capacity(p), 253);	/* the smaller pool limits */
	pool_free(p);
	pool_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rejects),
		cmocka_unit_test(ipv4_slash30),
		cmocka_unit_test(ipv6_and_dual),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
