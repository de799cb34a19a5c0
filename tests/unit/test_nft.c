// SPDX-License-Identifier: GPL-3.0-or-later
/* The text of visp's nftables table: the gateway part and the table transaction. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nft.h"

static struct cidr net(const char *s)
{
	struct cidr c;

	assert_int_equal(cidr_parse_network(s, &c, NULL), 0);
	return c;
}

static void gateway_v4_only(void **state)
{
	struct cidr p4 = net("172.23.23.0/24");
	struct nft_gateway gw = { .tun = "tun0", .uplink = "eth0", .pool4 = &p4 };
	char *text = NULL;

	assert_int_equal(nft_gateway_text(&gw, &text, NULL), 0);
	assert_string_equal(text,
		"\tchain gw_forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tiifname \"tun0\" oifname \"eth0\" ip saddr 172.23.23.0/24 accept\n"
		"\t\tiifname \"tun0\" oifname \"eth0\" drop\n"
		"\t\tiifname \"eth0\" oifname \"tun0\" ct state established,related accept\n"
		"\t\tiifname \"eth0\" oifname \"tun0\" drop\n"
		"\t}\n"
		"\tchain gw_mss {\n"
		"\t\ttype filter hook forward priority mangle; policy accept;\n"
		"\t\tiifname \"tun0\" oifname \"eth0\" tcp flags syn / syn,rst "
		"tcp option maxseg size set rt mtu\n"
		"\t\tiifname \"eth0\" oifname \"tun0\" tcp flags syn / syn,rst "
		"tcp option maxseg size set rt mtu\n"
		"\t}\n"
		"\tchain gw_postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\toifname \"eth0\" ip saddr 172.23.23.0/24 masquerade\n"
		"\t}\n");
	free(text);
}

/* The lease endpoint trusts fc00::/8 sources: only the tun may bring them. */
static void gateway_endpoint_only_through_tun(void **state)
{
	struct cidr p4 = net("172.23.23.0/24");
	struct nft_gateway gw = { .tun = "tun0", .uplink = "eth0", .pool4 = &p4,
				  .listen_port = 12234 };
	char *text = NULL;

	assert_int_equal(nft_gateway_text(&gw, &text, NULL), 0);
	assert_non_null(strstr(text,
		"\tchain gw_input {\n"
		"\t\ttype filter hook input priority filter; policy accept;\n"
		"\t\tiifname \"tun0\" tcp dport 12234 accept\n"
		"\t\tiifname \"lo\" tcp dport 12234 accept\n"
		"\t\ttcp dport 12234 drop\n"
		"\t}\n"));
	free(text);
	gw.listen_port = 0;
	assert_int_equal(nft_gateway_text(&gw, &text, NULL), 0);
	assert_null(strstr(text, "gw_input"));
	free(text);
}

static void gateway_ula_is_nated(void **state)
{
	struct cidr p4 = net("10.99.0.0/16"), p6 = net("fd12:3456::/64");
	struct nft_gateway gw = { .tun = "tun0", .uplink = "wan", .pool4 = &p4, .pool6 = &p6,
				  .nat6 = true };
	char *text = NULL;

	assert_int_equal(nft_gateway_text(&gw, &text, NULL), 0);
	assert_non_null(strstr(text, "iifname \"tun0\" oifname \"wan\" ip6 saddr fd12:3456::/64 accept\n"));
	assert_non_null(strstr(text, "oifname \"wan\" ip saddr 10.99.0.0/16 masquerade\n"));
	assert_non_null(strstr(text, "oifname \"wan\" ip6 saddr fd12:3456::/64 masquerade\n"));
	/* The pools' accept rules come before the catch-all drop. */
	assert_true(strstr(text, "ip6 saddr fd12:3456::/64 accept") <
		    strstr(text, "oifname \"wan\" drop"));
	free(text);
}

static void gateway_routed_v6_not_nated(void **state)
{
	struct cidr p6 = net("2001:db8:1:0:1::/80");
	struct nft_gateway gw = { .tun = "tun0", .uplink = "eth0", .pool6 = &p6 };
	char *text = NULL;

	assert_int_equal(nft_gateway_text(&gw, &text, NULL), 0);
	assert_non_null(strstr(text, "ip6 saddr 2001:db8:1:0:1::/80 accept"));
	assert_null(strstr(text, "masquerade"));
	/* Nothing to NAT: no postrouting chain at all. */
	assert_null(strstr(text, "gw_postrouting"));
	assert_non_null(strstr(text, "chain gw_mss"));
	free(text);
}

static void gateway_refuses(void **state)
{
	struct cidr p4 = net("172.23.23.0/24"), p6 = net("fd00::/64");
	struct nft_gateway gw = { .tun = "tun0", .uplink = "eth0", .pool4 = &p4 };
	const char *bad[] = { "", "a\"b", "a\\b", "a b", "a/b", "waytoolonginterface", "x\n", NULL };
	struct verr err = { 0 };
	char *text = NULL;

	for (int i = 0; bad[i]; i++) {
		gw.uplink = bad[i];
		assert_int_equal(nft_gateway_text(&gw, &text, &err), -EINVAL);
		assert_null(text);
		assert_non_null(strstr(err.msg, "uplink interface name"));
		gw.uplink = "eth0";
		gw.tun = bad[i];
		assert_int_equal(nft_gateway_text(&gw, &text, &err), -EINVAL);
		assert_null(text);
		gw.tun = "tun0";
	}
	gw.uplink = "tun0";
	assert_int_equal(nft_gateway_text(&gw, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "is the tun device"));
	gw.uplink = "eth0";
	gw.pool4 = NULL;
	assert_int_equal(nft_gateway_text(&gw, &text, &err), -EINVAL);
	/* Families swapped. */
	gw.pool4 = &p6;
	assert_int_equal(nft_gateway_text(&gw, &text, &err), -EINVAL);
	gw.pool4 = NULL;
	gw.pool6 = &p4;
	assert_int_equal(nft_gateway_text(&gw, &text, &err), -EINVAL);
	assert_null(text);
}

static void table_replaces_atomically(void **state)
{
	const char *parts[] = { "\tchain gw_a {\n\t}\n", "\tchain share_b {\n\t}" };
	char *text = NULL;

	assert_int_equal(nft_table_text(parts, 2, &text, NULL), 0);
	assert_string_equal(text,
		"add table inet visp\n"
		"delete table inet visp\n"
		"table inet visp {\n"
		"\tchain gw_a {\n\t}\n"
		"\tchain share_b {\n\t}\n"
		"}\n");
	free(text);
}

static void table_without_parts_is_deleted(void **state)
{
	char *text = NULL;

	assert_int_equal(nft_table_text(NULL, 0, &text, NULL), 0);
	assert_string_equal(text, "add table inet visp\ndelete table inet visp\n");
	free(text);
}

static void part_names_checked(void **state)
{
	struct verr err = { 0 };
	char *text = NULL;

	assert_int_equal(nft_part_read("/nonexistent", "../etc", &text, &err), -EINVAL);
	assert_int_equal(nft_part_read("/nonexistent", "", &text, &err), -EINVAL);
	assert_int_equal(nft_part_read("/nonexistent", "Gateway", &text, &err), -EINVAL);
	assert_int_equal(nft_part_read("/nonexistent", "gateway", &text, &err), -ENOENT);
	assert_null(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gateway_v4_only),
		cmocka_unit_test(gateway_endpoint_only_through_tun),
		cmocka_unit_test(gateway_ula_is_nated),
		cmocka_unit_test(gateway_routed_v6_not_nated),
		cmocka_unit_test(gateway_refuses),
		cmocka_unit_test(table_replaces_atomically),
		cmocka_unit_test(table_without_parts_is_deleted),
		cmocka_unit_test(part_names_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
