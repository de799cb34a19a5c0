// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp share without the kernel: the text of the share part of the nft
 * table, and the state files that roles keep (kstate) as far as they can be
 * read without root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kstate.h"
#include "nft.h"

static void share_one_lan(void **state)
{
	const char *lans[] = { "lan0" };
	struct nft_share sh = { .tun = "tun0", .lans = lans, .nlans = 1, .uplink = "eth0" };
	char *text = NULL;

	assert_int_equal(nft_share_text(&sh, &text, NULL), 0);
	assert_string_equal(text,
		"\tchain share_forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tiifname \"tun0\" oifname { \"lan0\" } ct state established,related accept\n"
		"\t\tiifname \"tun0\" oifname { \"lan0\" } drop\n"
		"\t\tiifname { \"lan0\" } oifname != { \"tun0\", \"lan0\" } ct direction reply accept\n"
		"\t\tiifname { \"lan0\" } oifname != { \"tun0\", \"lan0\" } drop\n"
		"\t}\n"
		"\tchain share_mss {\n"
		"\t\ttype filter hook forward priority mangle; policy accept;\n"
		"\t\tiifname { \"lan0\" } oifname \"tun0\" tcp flags syn / syn,rst "
		"tcp option maxseg size set rt mtu\n"
		"\t\tiifname \"tun0\" oifname { \"lan0\" } tcp flags syn / syn,rst "
		"tcp option maxseg size set rt mtu\n"
		"\t}\n"
		"\tchain share_postrouting {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tiifname { \"lan0\" } oifname \"tun0\" masquerade\n"
		"\t}\n");
	/* Without fallback the uplink is nowhere in the rules: the catch-all drop covers it. */
	assert_null(strstr(text, "eth0"));
	free(text);
}

static void share_fallback_opens_the_uplink(void **state)
{
	const char *lans[] = { "lan0", "wlan1" };
	struct nft_share sh = { .tun = "tun0", .lans = lans, .nlans = 2, .uplink = "eth0",
				.fallback = true };
	char *text = NULL;

	assert_int_equal(nft_share_text(&sh, &text, NULL), 0);
	assert_non_null(strstr(text, "iifname { \"lan0\", \"wlan1\" } oifname != "
				     "{ \"tun0\", \"eth0\", \"lan0\", \"wlan1\" } drop\n"));
	assert_non_null(strstr(text, "iifname { \"lan0\", \"wlan1\" } oifname \"eth0\" masquerade\n"));
	assert_non_null(strstr(text, "iifname \"eth0\" oifname { \"lan0\", \"wlan1\" } ct state "
				     "established,related accept\n"));
	/* The uplink's replies are let in before anything else from it is dropped. */
	assert_true(strstr(text, "iifname \"eth0\" oifname { \"lan0\", \"wlan1\" } ct state") <
		    strstr(text, "iifname \"eth0\" oifname { \"lan0\", \"wlan1\" } drop"));
	free(text);
}

static void share_refuses(void **state)
{
	const char *tun[] = { "tun0" }, *up[] = { "eth0" }, *twice[] = { "lan0", "lan0" },
		   *bad[] = { "la\"n" }, *ok[] = { "lan0" };
	struct nft_share sh = { .tun = "tun0", .uplink = "eth0" };
	struct verr err = { 0 };
	char *text = NULL;

	assert_int_equal(nft_share_text(&sh, &text, &err), -EINVAL);	/* no LAN */
	assert_non_null(strstr(err.msg, "no LAN"));
	sh.nlans = 1;
	sh.lans = tun;
	assert_int_equal(nft_share_text(&sh, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "tun"));
	sh.lans = up;
	assert_int_equal(nft_share_text(&sh, &text, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "uplink"));
	sh.lans = bad;
	assert_int_equal(nft_share_text(&sh, &text, &err), -EINVAL);
	sh.lans = twice;
	sh.nlans = 2;
	assert_int_equal(nft_share_text(&sh, &text, &err), -EINVAL);
	sh.lans = ok;
	sh.nlans = 1;
	sh.uplink = NULL;
	sh.fallback = true;
	assert_int_equal(nft_share_text(&sh, &text, &err), -EINVAL);	/* fallback, no uplink */
	sh.fallback = false;
	assert_int_equal(nft_share_text(&sh, &text, &err), 0);
	assert_null(strstr(text, "masquerade\n\t\tiifname"));	/* one masquerade only */
	free(text);
}

static char *temp_dir(void)
{
	char *dir = strdup("/tmp/visp-test-share.XXXXXX");

	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void remove_dir(char *dir, const char *const *names)
{
	char path[256];

	for (; *names; names++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *names);
		unlink(path);
	}
	rmdir(dir);
	free(dir);
}

static void kstate_sees_other_roles(void **state)
{
	static const char *const files[] = { "tunnel.state", "share.state", NULL };
	struct kstate_item fwd = { .kind = KSTATE_SYSCTL }, addr = { .kind = KSTATE_ADDR };
	char *dir = temp_dir();
	struct kstate *k = NULL;

	write_file(dir, "tunnel.state",
		   "# what 'visp tunnel up' added\n"
		   "addr tun0 172.23.23.1/24\n"
		   "nft gateway\n"
		   "sysctl net/ipv4/ip_forward 0 1\n"
		   "restore net/ipv4/ip_forward net/ipv4/conf/eth0/forwarding 1\n");
	assert_int_equal(kstate_open(&k, dir, "share", NULL), 0);
	strcpy(fwd.name, "net/ipv4/ip_forward");
	strcpy(addr.ifname, "tun0");
	assert_int_equal(cidr_parse("172.23.23.1/24", &addr.c, NULL), 0);
	/* The gateway's records are not share's, but they are visp's. */
	assert_false(kstate_recorded(k, &fwd, false));
	assert_true(kstate_recorded(k, &fwd, true));
	assert_true(kstate_recorded(k, &addr, true));
	strcpy(fwd.name, "net/ipv6/conf/all/forwarding");
	assert_false(kstate_recorded(k, &fwd, true));
	kstate_free(k);
	remove_dir(dir, files);
}

static void kstate_refuses_damaged_state(void **state)
{
	static const char *const files[] = { "share.state", NULL };
	char *dir = temp_dir();
	struct kstate *k = NULL;
	struct verr err = { 0 };

	/* A sysctl line without its original value is not visp's writing. */
	write_file(dir, "share.state", "nft share\nsysctl net/ipv4/ip_forward 1\n");
	assert_int_equal(kstate_open(&k, dir, "share", &err), -EBADMSG);
	assert_null(k);
	assert_non_null(strstr(err.msg, "share.state:2"));
	assert_int_equal(kstate_open(&k, dir, "../etc", &err), -EINVAL);
	assert_int_equal(kstate_open(&k, dir, "Share", &err), -EINVAL);
	assert_null(k);
	remove_dir(dir, files);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(share_one_lan),
		cmocka_unit_test(share_fallback_opens_the_uplink),
		cmocka_unit_test(share_refuses),
		cmocka_unit_test(kstate_sees_other_roles),
		cmocka_unit_test(kstate_refuses_damaged_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
