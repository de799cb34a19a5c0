// SPDX-License-Identifier: GPL-3.0-or-later
/* Standby bookkeeping, failback, ordering (gwselect) and the kill switch's rules. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gwselect.h"
#include "killswitch.h"
#include "nft.h"

static const char *const keys[] = {
	"5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k",
	"y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k",
	"jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k",
	"0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k",
};
#define NOW 1000000

static void cands(struct candidate *v, size_t n, enum cand_source src)
{
	for (size_t i = 0; i < n; i++)
		assert_int_equal(leaseclient_parse_gateway(keys[i], src, &v[i], NULL), 0);
}

static struct client_state *hold(struct gw_book *b, const char *key, int64_t since)
{
	struct client_state *e = &b->v[b->n++];

	client_state_init(e);
	e->connected = true;
	strcpy(e->gateway, key);
	snprintf(e->lease_url, sizeof(e->lease_url), "http://[fc00::1]:12234/lease");
	e->lease.expires = NOW + 3600;
	e->leased_at = NOW - 10;
	e->since = since;
	return e;
}

/* The failed gateway goes last, the held standbys first; a failback target before all. */
static void reorder(void **state)
{
	struct gw_book *b = calloc(1, sizeof(*b));
	struct candidate v[4];

	cands(v, 4, CAND_CONFIG);
	hold(b, keys[2], NOW - 50);
	gw_reorder(v, 4, b, keys[0], NULL, NOW);
	assert_string_equal(v[0].key, keys[2]);
	assert_string_equal(v[1].key, keys[1]);
	assert_string_equal(v[2].key, keys[3]);
	assert_string_equal(v[3].key, keys[0]);

	/* No standby held: the order stays (the current gateway is retried first). */
	cands(v, 4, CAND_CONFIG);
	b->v[0].lease.expires = NOW + 30;	/* about to expire: not relied on */
	gw_reorder(v, 4, b, keys[0], NULL, NOW);
	for (int i = 0; i < 4; i++)
		assert_string_equal(v[i].key, keys[i]);

	gw_reorder(v, 4, b, NULL, keys[3], NOW);
	assert_string_equal(v[0].key, keys[3]);
	assert_string_equal(v[1].key, keys[0]);
	free(b);
}

static void failback(void **state)
{
	struct gw_book *b = calloc(1, sizeof(*b));
	struct candidate v[3];

	cands(v, 3, CAND_CONFIG);
	/* On the third: the first has held a lease 299 s, the second 400 s. */
	hold(b, keys[0], NOW - 299);
	hold(b, keys[1], NOW - 400);
	assert_ptr_equal(gw_failback(v, 3, keys[2], b, 300, NOW), &v[1]);
	assert_null(gw_failback(v, 3, keys[2], b, -1, NOW));
	assert_ptr_equal(gw_failback(v, 3, keys[2], b, 0, NOW), &v[0]);
	/* On the first: nothing comes before it. */
	assert_null(gw_failback(v, 3, keys[0], b, 0, NOW));
	/* A failure resets the clock. */
	gw_failed(b, keys[1], v[1].url, NOW, "gone");
	assert_null(gw_failback(v, 3, keys[2], b, 300, NOW));
	/* Discovered gateways are never failed back to. */
	v[0].source = CAND_ANNOUNCED;
	assert_null(gw_failback(v, 3, keys[2], b, 0, NOW));
	free(b);
}

static void discovered_order(void **state)
{
	struct candidate v[4];

	cands(v, 4, CAND_ANNOUNCED);
	v[0].rtt_us = 40000; v[0].free = 100;
	v[1].rtt_us = 9000;  v[1].free = 1;
	v[2].rtt_us = 8000;  v[2].free = 50;	/* same 5 ms bucket as v[1]: more free wins */
	v[3].rtt_us = 0;     v[3].free = 1000;	/* unknown round trip: last */
	gw_sort_discovered(v, 4);
	assert_string_equal(v[0].key, keys[2]);
	assert_string_equal(v[1].key, keys[1]);
	assert_string_equal(v[2].key, keys[0]);
	assert_string_equal(v[3].key, keys[3]);
}

struct calls {
	int leases, releases;
	const char *dead;	/* this gateway does not answer */
};

static int fake_lease(void *arg, const struct candidate *c, struct offer *o, struct verr *err)
{
	struct calls *k = arg;

	k->leases++;
	if (k->dead && !strcmp(c->key, k->dead))
		return verr_set(err, -EHOSTUNREACH, "no answer");
	memset(o, 0, sizeof(*o));
	strcpy(o->gateway_key, c->key);
	o->expires = NOW + 3600;
	return 0;
}

static int fake_release(void *arg, const char *url, struct verr *err)
{
	((struct calls *)arg)->releases++;
	return 0;
}

static void tend(void **state)
{
	struct gw_book *b = calloc(1, sizeof(*b));
	struct calls k = { .dead = keys[1] };
	struct gw_hooks h = { fake_lease, fake_release, NULL, &k };
	struct candidate v[4];
	bool changed;

	cands(v, 4, CAND_CONFIG);
	/* Current is the first; the second is dead: the third becomes the standby. */
	assert_int_equal(gw_tend(b, v, 4, keys[0], NULL, 1, NOW, &h, &changed), 1);
	assert_true(changed);
	assert_int_equal(k.leases, 2);
	assert_true(gw_held(gw_book_find(b, keys[2]), NOW));
	assert_false(gw_held(gw_book_find(b, keys[1]), NOW));

	/* Right after: nothing to do, no request (the dead one is in back-off). */
	k.leases = 0;
	assert_int_equal(gw_tend(b, v, 4, keys[0], NULL, 1, NOW + 10, &h, &changed), 1);
	assert_false(changed);
	assert_int_equal(k.leases, 0);

	/* After the back-off the dead one, now alive and preferred, is leased; the third goes. */
	k.dead = NULL;
	assert_int_equal(gw_tend(b, v, 4, keys[0], NULL, 1, NOW + GW_BACKOFF_MIN, &h, &changed), 1);
	assert_true(gw_held(gw_book_find(b, keys[1]), NOW + GW_BACKOFF_MIN));
	assert_null(gw_book_find(b, keys[2]));
	assert_int_equal(k.releases, 1);

	/* The skipped gateway (failed in this run) is not asked. */
	k.leases = 0;
	gw_failed(b, keys[1], v[1].url, NOW + 100, "dead");
	assert_int_equal(gw_tend(b, v, 4, keys[0], keys[1], 1, NOW + 1000, &h, &changed), 1);
	assert_false(gw_held(gw_book_find(b, keys[1]), NOW + 1000));
	assert_true(gw_held(gw_book_find(b, keys[2]), NOW + 1000));

	/* Disconnect: every lease known is released, failed ones too. */
	k.releases = 0;
	gw_release_all(b, &h);
	assert_int_equal(k.releases, 2);
	assert_int_equal(b->n, 0);
	free(b);
}

static void book_files(void **state)
{
	char dir[] = "/tmp/visp-gwselect-test.XXXXXX", cmd[128];
	struct gw_book *b = calloc(1, sizeof(*b)), *c = calloc(1, sizeof(*c));
	struct verr err = { 0 };

	char offer[512];

	assert_non_null(mkdtemp(dir));
	/* A held record must carry a whole lease to be read back. */
	snprintf(offer, sizeof(offer), "{\"public_key\": \"%s\", \"gateway_key\": \"%s\", "
		 "\"ipv4_address\": \"172.23.23.2/24\", \"routes\": [\"default\"], "
		 "\"gateways\": [\"172.23.23.1\"], \"nameservers\": [], "
		 "\"expires\": \"2099-01-01T00:00:00Z\"}", keys[0], keys[1]);
	assert_int_equal(proto_parse_offer(offer, strlen(offer), &hold(b, keys[1], NOW - 5)->lease,
					   &err), 0);
	gw_failed(b, keys[2], "http://[fc00::2]:12234/lease", NOW, "why");
	assert_int_equal(gw_book_save(dir, b, &err), 0);
	gw_book_load(dir, c);
	assert_int_equal(c->n, 2);
	assert_true(gw_book_find(c, keys[1])->connected);
	assert_int_equal(gw_book_find(c, keys[1])->since, NOW - 5);
	assert_int_equal(gw_book_find(c, keys[2])->failures, 1);
	gw_book_remove(b, keys[1]);
	assert_int_equal(gw_book_save(dir, b, &err), 0);
	gw_book_load(dir, c);
	assert_int_equal(c->n, 1);
	assert_null(gw_book_find(c, keys[1]));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(b);
	free(c);
}

static void killswitch_rules(void **state)
{
	struct ks_peer p[2];
	struct cidr allow[1], own[1];
	struct killswitch ks = { .tun = "tun0", .uplink = "eth0", .peers = p, .npeers = 2,
				 .allow = allow, .nallow = 1, .own = own, .nown = 1 };
	struct verr err = { 0 };
	char *t = NULL, boot[64], line[100];

	assert_int_equal(cidr_parse_addr("198.51.100.9", AF_UNSPEC, &p[0].addr, NULL), 0);
	p[0].port = 4000;
	assert_int_equal(cidr_parse_addr("2001:db8::9", AF_UNSPEC, &p[1].addr, NULL), 0);
	p[1].port = 4001;
	assert_int_equal(cidr_parse_network("10.0.0.0/8", &allow[0], NULL), 0);
	assert_int_equal(cidr_parse_addr("192.0.2.2", AF_UNSPEC, &own[0], NULL), 0);
	assert_int_equal(killswitch_text(&ks, &t, &err), 0);
	nft_boot_id(boot, sizeof(boot));
	snprintf(line, sizeof(line), NFT_BOOT_LINE "%s\n", boot);
	assert_memory_equal(t, line, strlen(line));
	assert_false(nft_part_stale(t));
	assert_non_null(strstr(t, "chain ks_output {"));
	assert_non_null(strstr(t, "chain ks_forward {"));
	assert_non_null(strstr(t, "oifname \"tun0\" ip saddr { 192.0.2.2 } reject"));
	assert_non_null(strstr(t, "ip daddr 198.51.100.9 udp dport 4000 accept"));
	assert_non_null(strstr(t, "ip6 daddr 2001:db8::9 udp dport 4001 accept"));
	assert_non_null(strstr(t, "ip daddr { 10.0.0.0/8 } accept"));
	assert_non_null(strstr(t, "oifname \"eth0\" udp sport 68 udp dport 67 accept"));
	assert_non_null(strstr(t, "iifname \"tun0\" accept"));
	/* The last rule of each chain refuses. */
	assert_non_null(strstr(t, "reject with icmpx type admin-prohibited\n\t}\n\tchain ks_forward"));
	free(t);

	/* Another boot's part is stale; a part without the line never is. */
	assert_true(nft_part_stale(NFT_BOOT_LINE "00000000-0000-0000-0000-000000000000\n\tchain x {}"));
	assert_false(nft_part_stale("\tchain gw_input {}"));

	ks.tun = "tun\"0";
	assert_int_equal(killswitch_text(&ks, &t, &err), -EINVAL);
	assert_null(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reorder),
		cmocka_unit_test(failback),
		cmocka_unit_test(discovered_order),
		cmocka_unit_test(tend),
		cmocka_unit_test(book_files),
		cmocka_unit_test(killswitch_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
