// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * A gateway's routes against the rules every client applies
 * (proto_parse_route) and against the client's own host (lib/routeguard),
 * over a fake route table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gateway.h"
#include "proto.h"
#include "routeguard.h"

static int parse(const char *s, bool *dflt)
{
	struct cidr c;

	return proto_parse_route(s, &c, dflt, NULL);
}

static void route_rules(void **state)
{
	static const char *const good[] = {
		"198.51.100.0/24", "0.0.0.0/1", "128.0.0.0/1", "2001:db8::/32", "fd00:23::/64",
		"203.0.113.7/32", "192.0.0.0/2",
	};
	static const char *const bad[] = {
		"1.2.3.4/40", "10.0.0.1/8", "nonsense", "", "default ", "::/129",
		/* cjdns's own network, and anything that overlaps it */
		"fc00::/8", "fc12:3456::/32", "fc00::/7", "8000::/1", "f000::/4",
		/* too broad for anything but a default */
		"::/1", "::/7",
		/* the host itself, link-local, multicast, reserved */
		"0.0.0.0/8", "0.1.0.0/16", "127.0.0.0/8", "127.0.0.1/32", "169.254.0.0/16",
		"169.254.3.0/24", "224.0.0.0/4", "239.1.0.0/16", "240.0.0.0/4", "255.255.255.255/32",
		"::/128", "::1/128", "fe80::/10", "fe80::/64", "ff00::/8", "ff02::/16",
	};
	bool dflt;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse(good[i], &dflt) != 0)
			fail_msg("'%s' refused", good[i]);
		assert_false(dflt);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &dflt) != -EINVAL)
			fail_msg("'%s' taken", bad[i]);
	/* Every spelling of the default route is "default". */
	assert_int_equal(parse("default", &dflt), 0);
	assert_true(dflt);
	assert_int_equal(parse("0.0.0.0/0", &dflt), 0);
	assert_true(dflt);
	assert_int_equal(parse("::/0", &dflt), 0);
	assert_true(dflt);
}

static void route_lists(void **state)
{
	const char *v[PROTO_MAX_ROUTES + 2];
	char nets[PROTO_MAX_ROUTES + 1][32];
	struct verr err = { 0 };
	struct offer o;

	v[0] = "198.51.100.0/24";
	v[1] = "::/0";
	assert_int_equal(proto_set_routes(&o, v, 2, &err), 0);
	assert_true(o.default_route);
	assert_int_equal(o.nroutes, 1);
	/* One bad route spoils the list, and the error names it. */
	v[1] = "fc00::/8";
	assert_int_equal(proto_set_routes(&o, v, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "fc00::/8 overlaps fc00::/8"));
	v[1] = "1.2.3.4/40";
	assert_int_equal(proto_set_routes(&o, v, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'1.2.3.4/40' has a bad prefix length"));
	/* No more routes than an offer holds; "default" takes no slot. */
	for (int i = 0; i <= PROTO_MAX_ROUTES; i++) {
		snprintf(nets[i], sizeof(nets[i]), "198.51.%d.0/24", i);
		v[i] = nets[i];
	}
	assert_int_equal(proto_set_routes(&o, v, PROTO_MAX_ROUTES + 1, &err), -E2BIG);
	v[PROTO_MAX_ROUTES] = "default";
	assert_int_equal(proto_set_routes(&o, v, PROTO_MAX_ROUTES + 1, &err), 0);
	assert_int_equal(o.nroutes, PROTO_MAX_ROUTES);
	assert_true(o.default_route);
}

static const char *offer_json(const char *routes, char *buf, size_t len)
{
	snprintf(buf, len,
		 "{\"public_key\":\"5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k\","
		 "\"gateway_key\":\"y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k\","
		 "\"ipv4_address\":\"172.23.23.2/24\",\"routes\":%s,"
		 "\"gateways\":[],\"nameservers\":[],\"expires\":\"2099-01-01T00:00:00Z\"}", routes);
	return buf;
}

static void offer_routes(void **state)
{
	struct verr err = { 0 };
	struct offer o;
	char buf[1024];

	offer_json("[\"0.0.0.0/0\",\"::/0\"]", buf, sizeof(buf));
	assert_int_equal(proto_parse_offer(buf, strlen(buf), &o, &err), 0);
	assert_true(o.default_route);
	assert_int_equal(o.nroutes, 0);
	offer_json("[\"203.0.113.0/24\",\"fc00::/8\"]", buf, sizeof(buf));
	assert_int_equal(proto_parse_offer(buf, strlen(buf), &o, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "\"routes\" holds a bad route"));
	offer_json("[\"127.0.0.0/8\"]", buf, sizeof(buf));
	assert_int_equal(proto_parse_offer(buf, strlen(buf), &o, NULL), -EBADMSG);
}

static void gateway_routes(void **state)
{
	struct visp_config *cfg = config_new_defaults();
	struct verr err = { 0 };

	assert_non_null(cfg);
	assert_int_equal(gateway_check_routes(cfg, &err), 0);	/* none: the default */
	assert_int_equal(strlist_add(&cfg->routes, "default"), 0);
	assert_int_equal(strlist_add(&cfg->routes, "198.51.100.0/24"), 0);
	assert_int_equal(gateway_check_routes(cfg, &err), 0);
	assert_int_equal(strlist_add(&cfg->routes, "fc00::/8"), 0);
	assert_int_equal(gateway_check_routes(cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "routes: route fc00::/8 overlaps"));
	config_free(cfg);
}

/* ---- the client's host ---- */

enum { ETH = 2, LAN = 3, TUN = 9, VPN = 11 };

static struct netlink_route rt(const char *dst, const char *gw, int ifindex, int proto)
{
	struct netlink_route r = { .ifindex = ifindex, .table = RT_TABLE_MAIN,
				   .protocol = proto, .type = RTN_UNICAST };

	assert_int_equal(cidr_parse(dst, &r.dst, NULL), 0);
	if (gw) {
		r.has_gateway = true;
		assert_int_equal(cidr_parse(gw, &r.gateway, NULL), 0);
	}
	return r;
}

static void host(struct route_list *l4, struct route_list *l6)
{
	struct netlink_route v4[] = {
		rt("0.0.0.0/0", "198.51.100.1", ETH, RTPROT_DHCP),
		rt("198.51.100.0/24", NULL, ETH, RTPROT_KERNEL),
		rt("192.0.2.0/24", NULL, LAN, RTPROT_KERNEL),
		rt("203.0.113.192/26", "198.51.100.254", ETH, RTPROT_STATIC),
		/* a pin */
		rt("203.0.113.11/32", "198.51.100.1", ETH, VISP_RTPROT),
		/* the tunnel's own: cjdns's /1 pair, a lease route of visp's */
		rt("0.0.0.0/1", NULL, TUN, CJDNS_RTPROT),
		rt("128.0.0.0/1", NULL, TUN, CJDNS_RTPROT),
		rt("203.0.113.64/26", NULL, TUN, VISP_RTPROT),
	};
	struct netlink_route v6[] = {
		rt("::/0", "2001:db8:1::1", ETH, RTPROT_RA),
		rt("2001:db8:1::/64", NULL, ETH, RTPROT_KERNEL),
		/* its gateway outside every on-link network ("onlink") */
		rt("2001:db8:7::/48", "2001:db8:9::1", ETH, RTPROT_STATIC),
		rt("fc00::/8", NULL, TUN, RTPROT_KERNEL),
	};
	struct netlink_route other = rt("203.0.113.200/29", "192.0.2.1", LAN, RTPROT_STATIC);

	memset(l4, 0, sizeof(*l4));
	memset(l6, 0, sizeof(*l6));
	for (size_t i = 0; i < sizeof(v4) / sizeof(v4[0]); i++)
		assert_int_equal(route_list_add(l4, &v4[i]), 0);
	for (size_t i = 0; i < sizeof(v6) / sizeof(v6[0]); i++)
		assert_int_equal(route_list_add(l6, &v6[i]), 0);
	/* Another table's routes are not what a lease route would meet. */
	other.table = 100;
	assert_int_equal(route_list_add(l4, &other), 0);
}

/* Check an offer of the routes in list (comma-separated) against g. */
static int check(const struct routeguard *g, const char *list, struct verr *err)
{
	char copy[256], *save = NULL;
	const char *v[8];
	size_t n = 0;
	struct offer o;

	memset(&o, 0, sizeof(o));
	snprintf(copy, sizeof(copy), "%s", list);
	for (char *t = strtok_r(copy, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save))
		v[n++] = t;
	assert_int_equal(proto_set_routes(&o, v, n, NULL), 0);
	verr_clear(err);
	return routeguard_check(g, &o, err);
}

static void guard(void **state)
{
	static const struct {
		const char *routes, *why;	/* why: NULL when taken */
	} cases[] = {
		/* Routes of the internet beside the host's own: taken. */
		{ "default", NULL },
		{ "0.0.0.0/0,::/0", NULL },
		{ "203.0.113.32/27", NULL },
		{ "2001:db8:2::/48", NULL },
		/* A covering route leaves the host's longer one the match. */
		{ "203.0.113.128/25", NULL },
		/* The tunnel's own routes are not the host's. */
		{ "203.0.113.64/26", NULL },
		/* Another table's route is not met. */
		{ "203.0.113.200/29", NULL },
		/* On-link networks: equal, cover, inside. */
		{ "192.0.2.0/24", "equals the on-link network 192.0.2.0/24" },
		{ "192.0.0.0/16", "covers the on-link network 192.0.2.0/24" },
		{ "192.0.2.64/26", "lies inside the on-link network 192.0.2.0/24" },
		{ "2001:db8:1::/64", "equals the on-link network 2001:db8:1::/64" },
		{ "2001:db8::/32", "the on-link network 2001:db8:1::/64" },
		/* The path to the gateway: next hops. */
		{ "2001:db8:1::1/128", "lies inside the on-link network 2001:db8:1::/64" },
		{ "2001:db8:9::/64", "covers the next hop (the path to the gateway) 2001:db8:9::1" },
		/* A pin, an underlay peer. */
		{ "203.0.113.11/32", "equals the pinned peer route 203.0.113.11" },
		{ "203.0.113.8/29", "covers the pinned peer route 203.0.113.11" },
		{ "203.0.113.16/28", "covers the underlay peer 203.0.113.20" },
		{ "2001:db8:5::/48", "covers the underlay peer 2001:db8:5::9" },
		/* Another route of the host's: not equal. */
		{ "203.0.113.192/26", "equals the host's route 203.0.113.192/26" },
		/* The whole offer goes with one bad route. */
		{ "default,203.0.113.32/27,192.0.2.0/24", "192.0.2.0/24 of the lease equals" },
	};
	struct route_list l4, l6;
	struct routeguard *g = NULL;
	struct verr err = { 0 };
	struct cidr peer;

	host(&l4, &l6);
	assert_int_equal(routeguard_new(&g, &l4, &l6, TUN, &err), 0);
	assert_int_equal(cidr_parse("203.0.113.20", &peer, NULL), 0);
	assert_int_equal(routeguard_add_peer(g, &peer, &err), 0);
	assert_int_equal(cidr_parse("2001:db8:5::9/64", &peer, NULL), 0);	/* prefix ignored */
	assert_int_equal(routeguard_add_peer(g, &peer, &err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret = check(g, cases[i].routes, &err);

		if (!cases[i].why && ret != 0)
			fail_msg("%s: refused: %s", cases[i].routes, err.msg);
		if (cases[i].why && (ret != -EBADMSG || !strstr(err.msg, cases[i].why)))
			fail_msg("%s: %d '%s', want '%s'", cases[i].routes, ret, err.msg,
				 cases[i].why);
	}
	routeguard_free(g);
	route_list_free(&l4);
	route_list_free(&l6);
}

/* Someone else's /1 (another VPN's default) stops a default lease; nothing else does. */
static void guard_default(void **state)
{
	struct route_list l4 = { 0 }, l6 = { 0 };
	struct netlink_route vpn = rt("128.0.0.0/1", "10.8.0.1", VPN, RTPROT_BOOT);
	struct routeguard *g = NULL;
	struct verr err = { 0 };

	assert_int_equal(route_list_add(&l4, &vpn), 0);
	assert_int_equal(routeguard_new(&g, &l4, &l6, TUN, &err), 0);
	assert_int_equal(check(g, "default", &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "128.0.0.0/1 (its default) of the lease equals the host's "
				   "route 128.0.0.0/1"));
	assert_int_equal(check(g, "198.51.100.0/24", &err), 0);
	routeguard_free(g);
	route_list_free(&l4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(route_rules),
		cmocka_unit_test(route_lists),
		cmocka_unit_test(offer_routes),
		cmocka_unit_test(gateway_routes),
		cmocka_unit_test(guard),
		cmocka_unit_test(guard_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
