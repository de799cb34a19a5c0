// SPDX-License-Identifier: GPL-3.0-or-later
/* The pure parts of the client: gateways, candidate order, state file, pin decisions. */
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
#include <unistd.h>

#include "client.h"
#include "route.h"

#define KEY1 "5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k"
#define IP1 "fccd:d5a9:d4ef:c53d:52a5:55b9:1e67:9610"
#define KEY2 "y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k"
#define IP2 "fcb6:8382:890b:a66c:0ac5:7234:6528:2b98"
#define KEY3 "jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k"
#define KEY4 "0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k"

static struct candidate cand(const char *s, enum cand_source src)
{
	struct candidate c;
	struct verr err = { 0 };

	assert_int_equal(leaseclient_parse_gateway(s, src, &c, &err), 0);
	return c;
}

static void parse_gateway(void **state)
{
	struct candidate c;
	struct verr err = { 0 };
	const char *bad[] = {
		"", "hello", KEY1 "x", "https://[" IP1 "]:12234/lease",
		"http://192.0.2.1:12234/lease", "http://[2001:db8::1]:12234/lease",
		"http://[" IP1 ":12234/lease", "http://[" IP1 "]:0/lease",
		"http://[" IP1 "]:70000/lease", "http://[" IP1 "]x", "http://[" IP1 "]/a b",
		"http://[" IP1 "]/lease?x=1", NULL
	};

	c = cand(KEY1, CAND_ARG);
	assert_string_equal(c.key, KEY1);
	assert_string_equal(c.url, "http://[" IP1 "]:12234/lease");
	assert_int_equal(c.addr[0], 0xfc);
	assert_int_equal(c.source, CAND_ARG);

	c = cand("http://[" IP2 "]:8080/visp/lease", CAND_CONFIG);
	assert_string_equal(c.key, "");
	assert_string_equal(c.url, "http://[" IP2 "]:8080/visp/lease");
	assert_int_equal(c.addr[1], 0xb6);
	/* No path: the protocol's own; no port: the protocol's port. */
	c = cand("http://[" IP2 "]", CAND_CONFIG);
	assert_string_equal(c.url, "http://[" IP2 "]:12234/lease");

	for (int i = 0; bad[i]; i++) {
		verr_clear(&err);
		assert_int_equal(leaseclient_parse_gateway(bad[i], CAND_ARG, &c, &err), -EINVAL);
		assert_true(err.msg[0]);
	}
}

static void order(void **state)
{
	struct candidate args[] = { cand(KEY2, CAND_ARG) };
	struct candidate conf[] = { cand(KEY1, CAND_CONFIG), cand(KEY2, CAND_CONFIG),
				    cand("http://[" IP1 "]:12234/lease", CAND_CONFIG) };
	struct candidate ads[] = { cand(KEY3, CAND_ANNOUNCED), cand(KEY1, CAND_ANNOUNCED) };
	struct candidate cur = cand(KEY3, CAND_CURRENT), out[16];
	size_t n;

	/* Arguments, config, announcements; each gateway once. */
	n = leaseclient_order(args, 1, conf, 3, ads, 2, NULL, 0, out, 16);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].key, KEY2);
	assert_int_equal(out[0].source, CAND_ARG);
	assert_string_equal(out[1].key, KEY1);
	assert_string_equal(out[2].key, KEY3);

	/* The current gateway stays first while it has failed only a little... */
	n = leaseclient_order(NULL, 0, conf, 3, ads, 2, &cur, LEASECLIENT_DEMOTE_AFTER - 1, out, 16);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].key, KEY3);
	assert_int_equal(out[0].source, CAND_CURRENT);
	assert_string_equal(out[1].key, KEY1);
	assert_string_equal(out[2].key, KEY2);

	/* ...and goes last after that. */
	n = leaseclient_order(NULL, 0, conf, 3, ads, 2, &cur, LEASECLIENT_DEMOTE_AFTER, out, 16);
	assert_int_equal(n, 3);
	assert_string_equal(out[0].key, KEY1);
	assert_string_equal(out[1].key, KEY2);
	assert_string_equal(out[2].key, KEY3);

	/* With arguments, a current gateway not among them is not tried. */
	n = leaseclient_order(args, 1, NULL, 0, NULL, 0, &cur, 0, out, 16);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].key, KEY2);

	/* The output bound holds. */
	n = leaseclient_order(args, 1, conf, 3, ads, 2, NULL, 0, out, 2);
	assert_int_equal(n, 2);

	/* Nothing at all: nothing to try. */
	assert_int_equal(leaseclient_order(NULL, 0, NULL, 0, NULL, 0, NULL, 0, out, 16), 0);
}

static void lladdr(void **state)
{
	struct cidr a;
	char buf[CIDR_STRLEN];
	int port;
	const char *bad[] = { "", "192.0.2.1", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536",
			      "[2001:db8::1]", "[2001:db8::1]1234", "2001:db8::1:1234x",
			      "hello:1234", "[fe80::1%eth0]:1234", NULL };

	assert_int_equal(iptunnel_parse_lladdr("203.0.113.11:23456", &a, &port), 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(port, 23456);
	assert_string_equal(cidr_format(&a, true, buf, sizeof(buf)), "203.0.113.11/32");
	assert_int_equal(iptunnel_parse_lladdr("[2001:db8::7]:1", &a, &port), 0);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(a.prefix, 128);
	for (int i = 0; bad[i]; i++)
		assert_int_equal(iptunnel_parse_lladdr(bad[i], &a, &port), -EINVAL);
}

static void state_roundtrip(void **state)
{
	char dir[] = "/tmp/visp-test-client.XXXXXX", path[128];
	struct client_state st, back;
	struct verr err = { 0 };
	FILE *f;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(client_state_load(dir, &back, &err), -ENOENT);

	client_state_init(&st);
	st.connected = true;
	strcpy(st.gateway, KEY2);
	strcpy(st.lease_url, "http://[" IP2 "]:12234/lease");
	st.conn = 7;
	strcpy(st.tun, "tun0");
	strcpy(st.lease.public_key, KEY1);
	strcpy(st.lease.gateway_key, KEY2);
	st.lease.has_ipv4 = true;
	assert_int_equal(cidr_parse("172.23.23.2/24", &st.lease.ipv4, NULL), 0);
	st.lease.has_ipv6 = true;
	assert_int_equal(cidr_parse("2001:db8:1::2/64", &st.lease.ipv6, NULL), 0);
	st.lease.default_route = true;
	st.lease.nroutes = 1;
	assert_int_equal(cidr_parse("198.51.100.0/24", &st.lease.routes[0], NULL), 0);
	st.lease.ngateways = 1;
	assert_int_equal(cidr_parse("172.23.23.1", &st.lease.gateways[0], NULL), 0);
	st.lease.nnameservers = 1;
	assert_int_equal(cidr_parse("192.0.2.53", &st.lease.nameservers[0], NULL), 0);
	st.lease.expires = 2000000000;
	st.since = 1700000000;
	st.leased_at = 1700000100;
	st.prefix4 = 0;
	st.nroutes = 2;
	assert_int_equal(cidr_parse("198.51.100.0/24", &st.routes[0], NULL), 0);
	assert_int_equal(cidr_parse("::/1", &st.routes[1], NULL), 0);
	st.dns = true;
	st.failures = 2;
	strcpy(st.last_error, "no echo reply from 172.23.23.1 \"quoted\"");

	assert_int_equal(client_state_save(dir, &st, &err), 0);
	assert_int_equal(client_state_load(dir, &back, &err), 0);
	assert_true(back.connected);
	assert_string_equal(back.gateway, KEY2);
	assert_string_equal(back.lease_url, st.lease_url);
	assert_int_equal(back.conn, 7);
	assert_string_equal(back.tun, "tun0");
	assert_string_equal(back.lease.public_key, KEY1);
	assert_true(cidr_equal(&back.lease.ipv4, &st.lease.ipv4));
	assert_true(cidr_equal(&back.lease.ipv6, &st.lease.ipv6));
	assert_true(back.lease.default_route);
	assert_int_equal(back.lease.nroutes, 1);
	assert_int_equal(back.lease.ngateways, 1);
	assert_int_equal(back.lease.nnameservers, 1);
	assert_int_equal(back.lease.expires, 2000000000);
	assert_int_equal(back.since, 1700000000);
	assert_int_equal(back.leased_at, 1700000100);
	assert_int_equal(back.prefix4, 0);
	assert_int_equal(back.prefix6, -1);
	assert_int_equal(back.nroutes, 2);
	assert_true(cidr_equal(&back.routes[1], &st.routes[1]));
	assert_true(back.dns);
	assert_int_equal(back.failures, 2);
	assert_string_equal(back.last_error, st.last_error);

	/* Disconnected with a last gateway and a failure count: no lease needed. */
	client_state_init(&st);
	strcpy(st.gateway, KEY3);
	st.failures = 4;
	assert_int_equal(client_state_save(dir, &st, &err), 0);
	assert_int_equal(client_state_load(dir, &back, &err), 0);
	assert_false(back.connected);
	assert_string_equal(back.gateway, KEY3);
	assert_int_equal(back.failures, 4);
	assert_int_equal(back.conn, -1);

	/* Damage is noticed, and leaves a clean state behind. */
	snprintf(path, sizeof(path), "%s/" CLIENT_STATE_FILE, dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"connected\": true, \"gateway\": 5}", f);
	fclose(f);
	assert_int_equal(client_state_load(dir, &back, &err), -EBADMSG);
	assert_false(back.connected);
	assert_int_equal(back.conn, -1);

	assert_int_equal(client_state_remove(dir, &err), 0);
	assert_int_equal(client_state_remove(dir, &err), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- pins against a fake routing table ---- */

enum { ETH = 2, TUN = 9, WLAN = 3 };

static struct netlink_route rt(const char *dst, const char *gw, int ifindex, int proto,
			       uint32_t metric)
{
	struct netlink_route r = { .ifindex = ifindex, .table = RT_TABLE_MAIN,
				   .protocol = proto, .type = RTN_UNICAST, .metric = metric };

	assert_int_equal(cidr_parse(dst, &r.dst, NULL), 0);
	if (gw) {
		r.has_gateway = true;
		assert_int_equal(cidr_parse(gw, &r.gateway, NULL), 0);
	}
	return r;
}

static void fake_table(struct route_list *l)
{
	struct netlink_route v[] = {
		rt("0.0.0.0/0", "198.51.100.1", ETH, RTPROT_DHCP, 100),
		rt("0.0.0.0/0", "192.0.2.1", WLAN, RTPROT_DHCP, 600),
		rt("198.51.100.0/24", NULL, ETH, RTPROT_KERNEL, 100),
		rt("203.0.113.128/25", "198.51.100.254", ETH, RTPROT_STATIC, 0),
		/* What cjdns adds for a default lease, and a visp route on the tun. */
		rt("0.0.0.0/1", NULL, TUN, CJDNS_RTPROT, 0),
		rt("128.0.0.0/1", NULL, TUN, CJDNS_RTPROT, 0),
		rt("203.0.113.0/24", NULL, TUN, VISP_RTPROT, 0),
		/* Existing pins: one right, one via a gateway gone, one for a peer gone. */
		rt("203.0.113.11/32", "198.51.100.1", ETH, VISP_RTPROT, 0),
		rt("203.0.113.12/32", "198.51.100.9", ETH, VISP_RTPROT, 0),
		rt("203.0.113.99/32", "198.51.100.1", ETH, VISP_RTPROT, 0),
		/* Someone else's host route. */
		rt("203.0.113.50/32", "198.51.100.7", ETH, RTPROT_STATIC, 0),
	};
	struct netlink_route other = rt("192.0.2.77/32", "198.51.100.1", ETH, VISP_RTPROT, 0);

	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(route_list_add(l, &v[i]), 0);
	/* Not in the main table: neither a pin nor a way out. */
	other.table = 100;
	assert_int_equal(route_list_add(l, &other), 0);
}

static enum pin_action decide(const struct route_list *l, const char *peer, struct pin *p)
{
	struct cidr a;

	assert_int_equal(cidr_parse(peer, &a, NULL), 0);
	return route_pin_decide(l, &a, TUN, p);
}

static void pin_decisions(void **state)
{
	struct route_list l;
	struct pin p;
	char buf[CIDR_STRLEN];

	fake_table(&l);
	/* Reached through the default route: pinned via its gateway, not via the tun. */
	assert_int_equal(decide(&l, "203.0.113.20", &p), PIN_ADD);
	assert_string_equal(cidr_format(&p.route.dst, true, buf, sizeof(buf)), "203.0.113.20/32");
	assert_string_equal(cidr_format(&p.route.gateway, false, buf, sizeof(buf)), "198.51.100.1");
	assert_int_equal(p.route.ifindex, ETH);
	assert_int_equal(p.route.protocol, VISP_RTPROT);
	assert_int_equal(p.route.table, RT_TABLE_MAIN);
	/* The longest prefix wins over the default route. */
	assert_int_equal(decide(&l, "203.0.113.200", &p), PIN_ADD);
	assert_string_equal(cidr_format(&p.route.gateway, false, buf, sizeof(buf)),
			    "198.51.100.254");
	/* On-link: nothing to pin. */
	assert_int_equal(decide(&l, "198.51.100.7", &p), PIN_DIRECT);
	/* Pinned already, right or wrong. */
	assert_int_equal(decide(&l, "203.0.113.11", &p), PIN_KEEP);
	assert_int_equal(decide(&l, "203.0.113.12", &p), PIN_REPLACE);
	assert_string_equal(cidr_format(&p.old.gateway, false, buf, sizeof(buf)), "198.51.100.9");
	assert_string_equal(cidr_format(&p.route.gateway, false, buf, sizeof(buf)), "198.51.100.1");
	/* Someone else's host route is left alone. */
	assert_int_equal(decide(&l, "203.0.113.50", &p), PIN_HOSTROUTE);
	/* No IPv6 route at all. */
	assert_int_equal(decide(&l, "2001:db8::1", &p), PIN_NOROUTE);
	route_list_free(&l);
}

static void pin_lowest_metric(void **state)
{
	struct route_list l = { 0 };
	struct netlink_route a = rt("0.0.0.0/0", "192.0.2.1", WLAN, RTPROT_DHCP, 600);
	struct netlink_route b = rt("0.0.0.0/0", "198.51.100.1", ETH, RTPROT_DHCP, 100);
	struct pin p;

	assert_int_equal(route_list_add(&l, &a), 0);
	assert_int_equal(route_list_add(&l, &b), 0);
	assert_int_equal(decide(&l, "203.0.113.5", &p), PIN_ADD);
	assert_int_equal(p.route.ifindex, ETH);
	route_list_free(&l);
	/* Only the tunnel's routes: no way to pin. */
	a = rt("0.0.0.0/1", NULL, TUN, CJDNS_RTPROT, 0);
	assert_int_equal(route_list_add(&l, &a), 0);
	assert_int_equal(decide(&l, "1.2.3.4", &p), PIN_NOROUTE);
	route_list_free(&l);
}

static size_t count(const struct pin *plan, size_t n, enum pin_action a)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += plan[i].action == a;
	return c;
}

static void pin_plan(void **state)
{
	struct route_list l4, l6 = { 0 };
	struct cidr peers[4];
	struct pin *plan = NULL;
	char buf[CIDR_STRLEN];
	size_t n = 0;

	fake_table(&l4);
	assert_int_equal(cidr_parse("203.0.113.11", &peers[0], NULL), 0);
	assert_int_equal(cidr_parse("203.0.113.12", &peers[1], NULL), 0);
	assert_int_equal(cidr_parse("198.51.100.7", &peers[2], NULL), 0);
	assert_int_equal(cidr_parse("203.0.113.11", &peers[3], NULL), 0);	/* twice */
	assert_int_equal(route_pin_plan(&l4, &l6, peers, 4, TUN, false, &plan, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(count(plan, n, PIN_KEEP), 1);
	assert_int_equal(count(plan, n, PIN_REPLACE), 1);
	assert_int_equal(count(plan, n, PIN_DIRECT), 1);
	/* The pin of the peer that is gone goes; nobody else's route does. */
	assert_int_equal(count(plan, n, PIN_REMOVE), 1);
	assert_int_equal(plan[3].action, PIN_REMOVE);
	assert_string_equal(cidr_format(&plan[3].peer, true, buf, sizeof(buf)), "203.0.113.99/32");
	free(plan);

	/* --unpin: every pin, nothing else. */
	assert_int_equal(route_pin_plan(&l4, &l6, peers, 4, TUN, true, &plan, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count(plan, n, PIN_REMOVE), 3);
	free(plan);
	route_list_free(&l4);
}

/*
 * The route generator's name for a lease's prefix is the leased address,
 * unmasked: cjdroute v21.1 answered "no_such_route" to the masked network,
 * so visp left a stale /0 behind that the next lease's routes brought back.
 */
static void routegen_prefix(void **state)
{
	struct cidr v4, v6;
	struct verr err = { 0 };
	char buf[CIDR_STRLEN];

	assert_int_equal(cidr_parse("172.23.23.2/24", &v4, &err), 0);
	assert_int_equal(cidr_parse("fd00:23::2/64", &v6, &err), 0);
	assert_string_equal(iptunnel_routegen_prefix(&v4, 0, buf, sizeof(buf)), "172.23.23.2/0");
	assert_string_equal(iptunnel_routegen_prefix(&v4, 24, buf, sizeof(buf)), "172.23.23.2/24");
	assert_string_equal(iptunnel_routegen_prefix(&v6, 64, buf, sizeof(buf)), "fd00:23::2/64");
	assert_string_equal(iptunnel_routegen_prefix(&v6, 0, buf, sizeof(buf)), "fd00:23::2/0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_gateway),
		cmocka_unit_test(order),
		cmocka_unit_test(lladdr),
		cmocka_unit_test(state_roundtrip),
		cmocka_unit_test(pin_decisions),
		cmocka_unit_test(pin_lowest_metric),
		cmocka_unit_test(pin_plan),
		cmocka_unit_test(routegen_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
