// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "key.h"
#include "leasedb.h"
#include "pool.h"

/* Real keys (their addresses start with fc) for the tests that read like use. */
static const char *const K[4] = {
	"5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k",
	"y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k",
	"jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k",
	"0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k",
};

#define DAY 86400

struct t {
	char dir[64];		/* mkdtemp */
	char state[96];		/* dir/state: leasedb_open creates it */
	struct leasedb *db;
	struct pool *pool;
};

/* A synthetic 54-character key: the store does not insist on real ones. */
static const char *skey(char buf[LEASEDB_KEY_MAX + 1], const char *tag, int i)
{
	snprintf(buf, LEASEDB_KEY_MAX + 1, "%s%07d%0*d.k", tag, i, (int)(45 - strlen(tag)), 0);
	return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/visp-leasedb-test.XXXXXX");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->state, sizeof(t->state), "%s/state", t->dir);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	int ret;

	leasedb_close(t->db);
	pool_free(t->pool);
	chmod(t->dir, 0700);
	chmod(t->state, 0700);
	ret = nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(t);
	return ret;
}

static void open_db(struct t *t, const char *v4, const char *v6, long max)
{
	struct verr err = { 0 };

	pool_free(t->pool);
	t->pool = NULL;
	if (pool_new(&t->pool, v4, v6, max, &err) < 0)
		fail_msg("pool_new: %s", err.msg);
	if (!t->db && leasedb_open(&t->db, t->state, &err) < 0)
		fail_msg("leasedb_open: %s", err.msg);
}

static const char *fmt(const struct cidr *c)
{
	static char buf[4][CIDR_STRLEN];
	static int n;

	n = (n + 1) % 4;
	return cidr_format(c, true, buf[n], sizeof(buf[n]));
}

/* Grant that must succeed; returns "v4 v6" of the lease. */
static const char *grant(struct t *t, const char *key, int64_t now, long lt, bool *is_new)
{
	static char buf[2 * CIDR_STRLEN + 2];
	struct verr err = { 0 };
	struct lease l;

	if (leasedb_grant(t->db, t->pool, key, NULL, NULL, NULL, lt, now, &l, is_new, &err) < 0)
		fail_msg("grant %s: %s", key, err.msg);
	snprintf(buf, sizeof(buf), "%s %s", l.has_ipv4 ? fmt(&l.ipv4) : "-",
		 l.has_ipv6 ? fmt(&l.ipv6) : "-");
	return buf;
}

static void check_ok(struct t *t, int64_t now)
{
	struct verr err = { 0 };

	if (leasedb_check(t->db, t->pool, now, &err) < 0)
		fail_msg("leasedb_check: %s", err.msg);
}

static void grant_and_renew(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	struct lease l, g;
	bool is_new;

	open_db(t, "172.23.23.0/24", "fd00:23::/64", 0);
	assert_int_equal(leasedb_grant(t->db, t->pool, K[0], "alice", NULL, NULL, DAY, 1000, &l,
				       &is_new, &err), 0);
	assert_true(is_new);
	assert_string_equal(l.key, K[0]);
	assert_string_equal(l.name, "alice");
	assert_string_equal(fmt(&l.ipv4), "172.23.23.2/24");
	assert_string_equal(fmt(&l.ipv6), "fd00:23::2/64");
	assert_int_equal(l.created, 1000);
	assert_int_equal(l.expires, 1000 + DAY);
	assert_int_equal(l.conn, -1);
	assert_false(l.reserved);
	assert_int_equal(leasedb_set_conn(t->db, K[0], 7, 4242, &err), 0);

	/* Renewal: same addresses, later expiry, same connection, name kept. */
	assert_int_equal(leasedb_grant(t->db, t->pool, K[0], NULL, NULL, NULL, DAY, 2000, &l,
				       &is_new, &err), 0);
	assert_false(is_new);
	assert_string_equal(fmt(&l.ipv4), "172.23.23.2/24");
	assert_int_equal(l.created, 1000);
	assert_int_equal(l.expires, 2000 + DAY);
	assert_int_equal(l.conn, 7);
	assert_int_equal(l.conn_pid, 4242);
	assert_string_equal(l.name, "alice");
	assert_int_equal(leasedb_get(t->db, K[0], &g, &err), 0);
	assert_memory_equal(&g, &l, sizeof(g));
	assert_true(lease_is_current(&g, 2000));

	assert_string_equal(grant(t, K[1], 2000, DAY, &is_new), "172.23.23.3/24 fd00:23::3/64");
	assert_int_equal(leasedb_get(t->db, K[2], &g, &err), -ENOENT);
	assert_int_equal(leasedb_set_conn(t->db, K[2], 1, 1, &err), -ENOENT);
	assert_int_equal(leasedb_revoke(t->db, K[2], NULL, &err), -ENOENT);
	assert_int_equal(leasedb_grant(t->db, t->pool, "", NULL, NULL, NULL, DAY, 1, &l, NULL,
				       &err), -EINVAL);
	assert_int_equal(leasedb_grant(t->db, t->pool, K[2], "bad\nname", NULL, NULL, DAY, 1, &l,
				       NULL, &err), -EINVAL);
	assert_int_equal(leasedb_grant(t->db, t->pool, K[2], NULL, NULL, NULL, 0, 1, &l, NULL,
				       &err), -EINVAL);
	check_ok(t, 2000);
}

/* Callers validate keys (key_parse); the store only bounds them. */
static void keys(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	uint8_t raw[KEY_BYTES];
	char k[LEASEDB_KEY_MAX + 2];
	struct lease l;

	open_db(t, "172.23.23.0/24", NULL, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(key_parse(K[i], raw, &err), 0);
		grant(t, K[i], 0, 100, NULL);
	}
	memset(k, 'a', sizeof(k) - 1);
	k[sizeof(k) - 1] = '\0';
	assert_int_equal(leasedb_grant(t->db, t->pool, k, NULL, NULL, NULL, 100, 0, &l, NULL,
				       &err), -EINVAL);
	assert_int_equal(leasedb_get(t->db, "a key", &l, &err), -EINVAL);
	grant(t, skey(k, "synthetic", 1), 0, 100, NULL);
}

static void affinity_after_revoke(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	struct lease old, l;
	bool is_new;

	open_db(t, "172.23.23.0/24", NULL, 0);
	grant(t, K[0], 100, DAY, NULL);
	grant(t, K[1], 100, DAY, NULL);
	assert_int_equal(leasedb_set_conn(t->db, K[0], 3, 99, &err), 0);
	assert_int_equal(leasedb_revoke(t->db, K[0], &old, &err), 0);
	assert_string_equal(fmt(&old.ipv4), "172.23.23.2/24");
	assert_int_equal(old.conn, 3);
	assert_int_equal(leasedb_revoke(t->db, K[0], &old, &err), -ENOENT);
	assert_int_equal(leasedb_get(t->db, K[0], &l, &err), 0);
	assert_false(l.active);
	assert_false(lease_is_current(&l, 100));
	assert_int_equal(l.conn, 3);	/* until the caller says it is gone from cjdns */

	/* .2 is remembered for K[0]: a newcomer gets .4. */
	assert_string_equal(grant(t, K[2], 200, DAY, NULL), "172.23.23.4/24 -");
	assert_string_equal(grant(t, K[0], 300, DAY, &is_new), "172.23.23.2/24 -");
	assert_true(is_new);
	check_ok(t, 300);
}

/* The sync's walk: each current lease once, in pages, whatever came before it. */
static void current_pages(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char k[LEASEDB_KEY_MAX + 1], seen[24] = { 0 };
	struct lease v[4], old;
	int64_t cursor = 0;
	size_t n = 4, pages = 0;

	open_db(t, "10.1.0.0/24", NULL, 0);
	for (int i = 0; i < 20; i++)	/* keys sort in the reverse of their rows */
		grant(t, skey(k, "cur", 99 - i), 100, i % 5 == 4 ? 10 : DAY, NULL);
	assert_int_equal(leasedb_revoke(t->db, skey(k, "cur", 99 - 7), &old, &err), 0);
	while (n == 4) {
		assert_int_equal(leasedb_current_page(t->db, &cursor, 200, v, 4, &n, &err), 0);
		for (size_t j = 0; j < n; j++) {
			char num[8] = { 0 };
			int i;

			memcpy(num, v[j].key + 3, 7);
			i = 99 - atoi(num);

			assert_true(i >= 0 && i < 24);
			assert_true(lease_is_current(&v[j], 200));
			seen[i]++;
		}
		if (pages++ == 0)	/* granted during the walk: found at its end */
			grant(t, skey(k, "cur", 99 - 20), 150, DAY, NULL);
	}
	for (int i = 0; i < 21; i++)
		assert_int_equal(seen[i], i == 7 || i % 5 == 4 ? 0 : 1);
	assert_int_equal(pages, 5);	/* 16 current: 4 full pages, then an empty one */
}

static int collect(const struct lease *l, void *arg)
{
	char *s = arg;

	strcat(s, l->key[0] == '5' ? "A" : l->key[0] == 'y' ? "B" : l->key[0] == 'j' ? "C" : "D");
	return 0;
}

static int fail_cb(const struct lease *l, void *arg)
{
	return -EHOSTUNREACH;
}

static void affinity_after_expiry(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char seen[16] = "";
	struct lease l;
	long n = -1;

	open_db(t, "172.23.23.0/24", "fd00:23::/64", 0);
	grant(t, K[0], 0, 100, NULL);				/* .2, expires 100 */
	grant(t, K[1], 0, 1000, NULL);				/* .3 */
	assert_int_equal(leasedb_set_conn(t->db, K[0], 5, 1, &err), 0);
	assert_int_equal(leasedb_set_conn(t->db, K[1], 6, 1, &err), 0);
	assert_int_equal(leasedb_count(t->db, 50, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(leasedb_count(t->db, 150, &n, &err), 0);
	assert_int_equal(n, 1);

	/* A failing callback keeps the connection recorded for the next run. */
	assert_int_equal(leasedb_expire(t->db, 150, fail_cb, NULL, &n, &err), -EHOSTUNREACH);
	assert_int_equal(n, 1);
	assert_int_equal(leasedb_expire(t->db, 150, collect, seen, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_string_equal(seen, "A");
	assert_int_equal(leasedb_get(t->db, K[0], &l, &err), 0);
	assert_false(l.active);
	assert_int_equal(l.conn, -1);
	seen[0] = '\0';
	assert_int_equal(leasedb_expire(t->db, 150, collect, seen, &n, &err), 0);
	assert_string_equal(seen, "");

	/* Expired, not forgotten: a newcomer gets .4 and K[0] gets .2 back. */
	assert_string_equal(grant(t, K[2], 200, 100, NULL), "172.23.23.4/24 fd00:23::4/64");
	assert_string_equal(grant(t, K[0], 300, 100, NULL), "172.23.23.2/24 fd00:23::2/64");

	/* Not marked by leasedb_expire yet: still K[2]'s own. */
	assert_string_equal(grant(t, K[2], 500, 100, NULL), "172.23.23.4/24 fd00:23::4/64");

	seen[0] = '\0';
	assert_int_equal(leasedb_foreach(t->db, collect, seen, &err), 0);
	assert_string_equal(seen, "ABC");
	assert_int_equal(leasedb_foreach(t->db, fail_cb, NULL, &err), -EHOSTUNREACH);
	check_ok(t, 500);
}

static void exhaustion_and_steal(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char k[8][LEASEDB_KEY_MAX + 1];
	struct lease l;
	bool is_new;

	/* A /30 has exactly one leasable address. */
	open_db(t, "172.23.23.0/30", NULL, 0);
	assert_string_equal(grant(t, K[0], 0, 100, NULL), "172.23.23.2/30 -");
	assert_int_equal(leasedb_grant(t->db, t->pool, K[1], NULL, NULL, NULL, 100, 50, &l, NULL,
				       &err), -ENOSPC);
	assert_string_equal(err.msg, "pool 172.23.23.0/30 is exhausted");
	assert_int_equal(leasedb_get(t->db, K[1], &l, &err), -ENOENT);	/* rolled back */
	assert_string_equal(grant(t, K[0], 60, 100, &is_new), "172.23.23.2/30 -");
	assert_false(is_new);
	/* Past its expiry, K[0]'s address goes to whoever needs it. */
	assert_string_equal(grant(t, K[1], 200, 100, NULL), "172.23.23.2/30 -");
	assert_int_equal(leasedb_get(t->db, K[0], &l, &err), -ENOENT);
	assert_int_equal(leasedb_grant(t->db, t->pool, K[0], NULL, NULL, NULL, 100, 250, &l, NULL,
				       &err), -ENOSPC);
	check_ok(t, 250);

	/* The lease that expired the longest ago gives way first. */
	assert_int_equal(leasedb_revoke(t->db, K[1], NULL, &err), 0);
	open_db(t, "10.9.0.0/29", NULL, 0);	/* .2 to .6 */
	for (int i = 0; i < 5; i++)
		grant(t, skey(k[i], "s", i), i, 100, NULL);
	assert_int_equal(leasedb_set_conn(t->db, k[0], 9, 1, &err), 0);
	assert_int_equal(leasedb_grant(t->db, t->pool, skey(k[5], "s", 5), NULL, NULL, NULL, 100,
				       50, &l, NULL, &err), -ENOSPC);
	assert_string_equal(err.msg, "pool 10.9.0.0/29 is exhausted");
	grant(t, k[2], 150, 100, NULL);					/* renewed: keeps .4 */
	assert_string_equal(grant(t, k[5], 200, 100, NULL), "10.9.0.2/29 -");	/* k0's */
	assert_int_equal(leasedb_get(t->db, k[0], &l, &err), 0);	/* kept: it has a conn */
	assert_false(l.has_ipv4);
	assert_false(l.active);
	assert_int_equal(l.conn, 9);
	assert_string_equal(grant(t, k[0], 201, 100, NULL), "10.9.0.3/29 -");	/* k1's */
	assert_string_equal(grant(t, k[2], 202, 100, NULL), "10.9.0.4/29 -");
	check_ok(t, 202);
}

static void max_leases(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	struct lease l;
	long n;

	open_db(t, "172.23.23.0/24", NULL, 2);
	grant(t, K[0], 0, 100, NULL);
	grant(t, K[1], 0, 100, NULL);
	assert_int_equal(leasedb_grant(t->db, t->pool, K[2], NULL, NULL, NULL, 100, 10, &l, NULL,
				       &err), -ENOSPC);
	assert_string_equal(err.msg, "max_leases (2) reached");
	grant(t, K[1], 10, 100, NULL);		/* renewing is always fine */
	assert_int_equal(leasedb_revoke(t->db, K[0], NULL, &err), 0);
	assert_string_equal(grant(t, K[2], 20, 100, NULL), "172.23.23.4/24 -");
	assert_int_equal(leasedb_grant(t->db, t->pool, K[0], NULL, NULL, NULL, 100, 30, &l, NULL,
				       &err), -ENOSPC);
	/* Expiry frees a slot even before leasedb_expire runs. */
	assert_string_equal(grant(t, K[0], 150, 100, NULL), "172.23.23.2/24 -");
	assert_int_equal(leasedb_count(t->db, 150, &n, &err), 0);
	assert_int_equal(n, 1);
	check_ok(t, 150);
}

static void reserve(struct t *t, const char *key, const char *addr, int64_t now, int expect,
		    const char *msg)
{
	struct verr err = { 0 };
	struct cidr want;
	struct lease l;
	int ret;

	assert_int_equal(cidr_parse(addr, &want, NULL), 0);
	ret = leasedb_grant(t->db, t->pool, key, NULL, want.family == AF_INET ? &want : NULL,
			    want.family == AF_INET6 ? &want : NULL, 100, now, &l, NULL, &err);
	if (ret != expect)
		fail_msg("reserve %s for %s: %d (%s), expected %d", addr, key, ret, err.msg,
			 expect);
	if (msg && !strstr(err.msg, msg))
		fail_msg("'%s' lacks '%s'", err.msg, msg);
	if (ret == 0) {
		assert_true(l.reserved);
		want.prefix = want.family == AF_INET ? 24 : 64;
		assert_true(cidr_equal(want.family == AF_INET ? &l.ipv4 : &l.ipv6, &want));
	}
}

static void reservations(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char k[8][LEASEDB_KEY_MAX + 1];
	struct lease l;

	open_db(t, "172.23.23.0/24", "fd00:23::/64", 0);
	reserve(t, K[0], "172.23.23.5", 0, 0, NULL);
	assert_int_equal(leasedb_get(t->db, K[0], &l, &err), 0);
	assert_string_equal(fmt(&l.ipv6), "fd00:23::2/64");
	reserve(t, K[1], "172.23.23.5", 0, -EADDRINUSE, "172.23.23.5 is leased to " "5n251q3f");
	reserve(t, K[1], "172.23.23.0", 0, -EINVAL, "network address");
	reserve(t, K[1], "172.23.23.1", 0, -EINVAL, "gateway");
	reserve(t, K[1], "172.23.23.255", 0, -EINVAL, "broadcast");
	reserve(t, K[1], "10.1.1.1", 0, -EINVAL, "not in pool 172.23.23.0/24");
	reserve(t, K[1], "fd00:24::9", 0, -EINVAL, "not in pool fd00:23::/64");
	assert_int_equal(leasedb_get(t->db, K[1], &l, &err), -ENOENT);

	/* The allocator steps over the reservation. */
	for (int i = 0; i < 4; i++)
		grant(t, skey(k[i], "r", i), 0, 100, NULL);
	assert_int_equal(leasedb_get(t->db, k[3], &l, &err), 0);
	assert_string_equal(fmt(&l.ipv4), "172.23.23.6/24");

	/* A reservation outlives its lease... */
	reserve(t, K[1], "172.23.23.5", 500, -EADDRINUSE, "reserved for 5n251q3f");
	/* ...an ordinary expired lease gives way to the operator. */
	reserve(t, K[1], "172.23.23.2", 500, 0, NULL);
	assert_int_equal(leasedb_get(t->db, k[0], &l, &err), 0);
	assert_false(l.has_ipv4);
	assert_true(l.has_ipv6);

	/* Moving a reservation frees the old address for the next newcomer. */
	reserve(t, K[0], "172.23.23.77", 600, 0, NULL);
	assert_string_equal(grant(t, skey(k[5], "r", 5), 600, 100, NULL),
			    "172.23.23.5/24 fd00:23::8/64");
	reserve(t, K[0], "fd00:23::abcd", 600, 0, NULL);
	assert_int_equal(leasedb_get(t->db, K[0], &l, &err), 0);
	assert_string_equal(fmt(&l.ipv4), "172.23.23.77/24");	/* kept */
	/* Revoking drops the reservation but not the affinity. */
	assert_int_equal(leasedb_revoke(t->db, K[0], NULL, &err), 0);
	assert_int_equal(leasedb_get(t->db, K[0], &l, &err), 0);
	assert_false(l.reserved);
	assert_string_equal(grant(t, K[0], 700, 100, NULL), "172.23.23.77/24 fd00:23::abcd/64");
	check_ok(t, 700);
}

/*
 * A group of grants is one transaction: nothing of it is visible (nor on
 * disk) before the end, a grant that fails undoes only itself, and a
 * group ended without keeping undoes them all.
 */
static void group_commit(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	struct leasedb *other = NULL;
	struct cidr taken;
	struct lease l;

	open_db(t, "172.23.23.0/24", "fd00:23::/64", 0);
	assert_int_equal(leasedb_open(&other, t->state, &err), 0);
	assert_int_equal(leasedb_group_begin(t->db, &err), 0);
	assert_string_equal(grant(t, K[0], 100, DAY, NULL), "172.23.23.2/24 fd00:23::2/64");
	/* The address K[0] got within the group is taken for K[1] too. */
	assert_int_equal(cidr_parse_addr("172.23.23.2", AF_INET, &taken, &err), 0);
	assert_int_equal(leasedb_grant(t->db, t->pool, K[1], NULL, &taken, NULL, DAY, 100, &l,
				       NULL, &err), -EADDRINUSE);
	assert_string_equal(grant(t, K[2], 100, DAY, NULL), "172.23.23.3/24 fd00:23::3/64");
	assert_int_equal(leasedb_get(other, K[0], &l, &err), -ENOENT);	/* not yet */
	assert_int_equal(leasedb_group_end(t->db, true, &err), 0);
	assert_int_equal(leasedb_get(other, K[0], &l, &err), 0);
	assert_int_equal(leasedb_get(other, K[2], &l, &err), 0);
	assert_int_equal(leasedb_get(other, K[1], &l, &err), -ENOENT);
	check_ok(t, 100);

	assert_int_equal(leasedb_group_begin(t->db, &err), 0);
	grant(t, K[3], 200, DAY, NULL);
	assert_int_equal(leasedb_group_end(t->db, false, &err), 0);
	assert_int_equal(leasedb_get(t->db, K[3], &l, &err), -ENOENT);
	/* Outside a group, a grant is its own transaction again. */
	assert_string_equal(grant(t, K[3], 200, DAY, NULL), "172.23.23.4/24 fd00:23::4/64");
	assert_int_equal(leasedb_get(other, K[3], &l, &err), 0);
	check_ok(t, 200);
	leasedb_close(other);
}

static void ipv6_only(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	struct lease l;

	open_db(t, NULL, "2001:db8:5::/126", 0);
	reserve(t, K[0], "172.23.23.5", 0, -EINVAL, "no IPv4 pool");
	assert_string_equal(grant(t, K[0], 0, 100, NULL), "- 2001:db8:5::2/126");
	assert_string_equal(grant(t, K[1], 0, 100, NULL), "- 2001:db8:5::3/126");
	assert_int_equal(leasedb_grant(t->db, t->pool, K[2], NULL, NULL, NULL, 100, 0, &l, NULL,
				       &err), -ENOSPC);
	assert_string_equal(err.msg, "pool 2001:db8:5::/126 is exhausted");
	check_ok(t, 0);

	open_db(t, NULL, "2001:db8:6::/48", 0);
	assert_string_equal(grant(t, K[2], 200, 100, NULL), "- 2001:db8:6::2/48");
	check_ok(t, 200);
}

static void pool_changes(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	bool is_new;

	open_db(t, "172.23.23.0/24", NULL, 0);
	grant(t, K[0], 0, 100, NULL);
	grant(t, K[1], 0, 100, NULL);
	assert_int_equal(leasedb_revoke(t->db, K[1], NULL, &err), 0);

	/* An IPv6 pool appears: renewals add an address. */
	open_db(t, "172.23.23.0/24", "fd00:23::/64", 0);
	assert_int_equal(leasedb_check(t->db, t->pool, 10, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "no address from pool fd00:23::/64"));
	assert_string_equal(grant(t, K[0], 10, 100, &is_new), "172.23.23.2/24 fd00:23::2/64");
	assert_true(is_new);

	/* The IPv4 pool grows in place: addresses stay, the prefix follows. */
	open_db(t, "172.23.22.0/23", "fd00:23::/64", 0);
	assert_string_equal(grant(t, K[0], 20, 100, &is_new), "172.23.23.2/23 fd00:23::2/64");
	assert_true(is_new);
	assert_string_equal(grant(t, K[2], 20, 100, NULL), "172.23.22.2/23 fd00:23::3/64");
	check_ok(t, 20);

	/* Another network: leases move on renewal; K[1]'s old .3 stays remembered. */
	open_db(t, "10.5.0.0/24", "fd00:23::/64", 0);
	assert_int_equal(leasedb_check(t->db, t->pool, 30, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "not in pool 10.5.0.0/24"));
	assert_string_equal(grant(t, K[2], 30, 100, NULL), "10.5.0.2/24 fd00:23::3/64");
	assert_string_equal(grant(t, K[0], 30, 100, NULL), "10.5.0.3/24 fd00:23::2/64");
	check_ok(t, 30);

	/* And back: K[1] still gets its .3; the bottom is reused, skipping it. */
	open_db(t, "172.23.23.0/24", NULL, 0);
	assert_string_equal(grant(t, K[1], 40, 100, NULL), "172.23.23.3/24 -");
	assert_string_equal(grant(t, K[3], 40, 100, NULL), "172.23.23.2/24 -");
	assert_string_equal(grant(t, K[0], 40, 100, NULL), "172.23.23.4/24 -");
	check_ok(t, 135);	/* K[2] still has a 10.5.0.0/24 lease until 130 */
}

static void meta(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char buf[8];

	open_db(t, "172.23.23.0/24", NULL, 0);
	assert_int_equal(leasedb_meta_get(t->db, "cjdns_pid", buf, sizeof(buf), &err), -ENOENT);
	assert_int_equal(leasedb_meta_set(t->db, "cjdns_pid", "4242", &err), 0);
	assert_int_equal(leasedb_meta_set(t->db, "cjdns_pid", "4243", &err), 0);
	assert_int_equal(leasedb_meta_get(t->db, "cjdns_pid", buf, sizeof(buf), &err), 0);
	assert_string_equal(buf, "4243");
	assert_int_equal(leasedb_meta_set(t->db, "long", "12345678", &err), 0);
	assert_int_equal(leasedb_meta_get(t->db, "long", buf, sizeof(buf), &err), -ERANGE);
}

static mode_t mode_of(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", dir, name);
	if (stat(path, &st) < 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	return st.st_mode & 07777;
}

static void permissions(void **state)
{
	struct t *t = *state;
	mode_t old = umask(0);

	open_db(t, "172.23.23.0/24", NULL, 0);
	assert_int_equal(umask(old), 0);	/* leasedb_open put it back */
	grant(t, K[0], 0, 100, NULL);		/* -wal and -shm exist while it is open */
	assert_int_equal(mode_of(t->state, ""), 0700);
	assert_int_equal(mode_of(t->state, "/leases.db"), 0600);
	assert_int_equal(mode_of(t->state, "/leases.db-wal") & 077, 0);
	assert_int_equal(mode_of(t->state, "/leases.db-shm") & 077, 0);
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, text, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", text, sqlite3_errmsg(db));
	sqlite3_close(db);
}

static int64_t sql_int(const char *path, const char *text)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, text, -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void schema_version(void **state)
{
	struct t *t = *state;
	struct leasedb *db = NULL;
	struct verr err = { 0 };
	char path[160];

	open_db(t, "172.23.23.0/24", NULL, 0);
	leasedb_close(t->db);
	t->db = NULL;
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 2);
	assert_int_equal(sql_int(path, "PRAGMA application_id"), 0x76697370);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM pragma_journal_mode "
				 "WHERE journal_mode = 'wal'"), 1);
	/* Reopening an up-to-date store changes nothing. */
	assert_int_equal(leasedb_open(&db, t->state, &err), 0);
	leasedb_close(db);
	sql(path, "PRAGMA user_version = 3");
	assert_int_equal(leasedb_open(&db, t->state, &err), -ENOTSUP);
	assert_null(db);
	assert_non_null(strstr(err.msg, "schema version 3, newer than this visp's 2"));

	/* Somebody else's database. */
	unlink(path);
	sql(path, "CREATE TABLE t (x); PRAGMA user_version = 1");
	assert_int_equal(leasedb_open(&db, t->state, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "not a visp lease store"));
}

/* A store of schema 1, as visp made it before accounting (its leases table as shipped). */
static void make_v1(const char *path)
{
	sql(path, "CREATE TABLE leases ("
		  " key TEXT NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 54),"
		  " name TEXT CHECK (length(name) <= 63),"
		  " ipv4 BLOB UNIQUE, plen4 INTEGER, ipv6 BLOB UNIQUE, plen6 INTEGER,"
		  " created INTEGER NOT NULL, expires INTEGER NOT NULL,"
		  " active INTEGER NOT NULL CHECK (active IN (0, 1)),"
		  " reserved INTEGER NOT NULL CHECK (reserved IN (0, 1)),"
		  " conn INTEGER, conn_pid INTEGER);"
		  "CREATE INDEX leases_expiry ON leases (active, expires);"
		  "CREATE TABLE alloc (family INTEGER PRIMARY KEY, pool TEXT NOT NULL,"
		  " hw INTEGER NOT NULL);"
		  "CREATE TABLE free_addrs (family INTEGER NOT NULL, off INTEGER NOT NULL,"
		  " PRIMARY KEY (family, off)) WITHOUT ROWID;"
		  "CREATE TABLE meta (k TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"
		  "CREATE TABLE counts (name TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL)"
		  " WITHOUT ROWID;"
		  "INSERT INTO counts VALUES ('active', 1);"
		  "INSERT INTO leases VALUES ('5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k',"
		  " 'alice', x'ac171702', 24, NULL, NULL, 1, 4000000000, 1, 0, 3, 77);"
		  "PRAGMA user_version = 1; PRAGMA application_id = 1986622320;");
}

/*
 * A schema-1 store opened by open: upgraded, its lease kept with the
 * config's limits (-1) and no usage yet.
 */
static void check_v1_upgrade(void **state,
			     int (*open)(struct leasedb **, const char *, struct verr *))
{
	struct t *t = *state;
	struct leasedb *db = NULL;
	struct verr err = { 0 };
	struct lease l;
	char path[160];

	assert_int_equal(mkdir(t->state, 0700), 0);
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	make_v1(path);
	assert_int_equal(open(&db, t->state, &err), 0);
	assert_int_equal(sql_int(path, "PRAGMA user_version"), 2);
	assert_int_equal(leasedb_get(db, K[0], &l, &err), 0);
	assert_string_equal(l.name, "alice");
	assert_int_equal(l.ipv4.addr[3], 2);
	assert_int_equal(l.conn, 3);
	assert_int_equal(l.rate_down, -1);
	assert_int_equal(l.rate_up, -1);
	assert_int_equal(l.quota, -1);
	assert_int_equal(l.down_bytes, 0);
	assert_int_equal(l.period_start, 0);
	leasedb_close(db);
}

static void migrate_v1(void **state)
{
	check_v1_upgrade(state, leasedb_open);
}

/*
 * The same store, first opened by a reader (lease list after an upgrade of
 * visp): upgraded, as a writer would, rather than refused.
 */
static void migrate_v1_ro(void **state)
{
	check_v1_upgrade(state, leasedb_open_ro);
}

/*
 * Readers open read-only: a store written before reads the same, nothing is
 * written (no lock file, no change to the file), and a missing state
 * directory or store is created as by leasedb_open.
 */
static void read_only_open(void **state)
{
	struct t *t = *state;
	char key[LEASEDB_KEY_MAX + 1], path[160];
	struct verr err = { 0 };
	struct leasedb *db = NULL;
	struct lease l;
	struct stat before, after;

	assert_int_equal(leasedb_open_ro(&db, t->state, &err), 0);
	leasedb_close(db);
	db = NULL;
	open_db(t, "172.23.23.0/24", NULL, 0);
	grant(t, skey(key, "ro", 1), 1000, DAY, NULL);
	leasedb_close(t->db);
	t->db = NULL;
	snprintf(path, sizeof(path), "%s/leases.lock", t->state);
	unlink(path);
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(leasedb_open_ro(&db, t->state, &err), 0);
	assert_int_equal(leasedb_get(db, key, &l, &err), 0);
	assert_string_equal(fmt(&l.ipv4), "172.23.23.2/24");
	assert_int_equal(leasedb_grant(db, t->pool, skey(key, "ro", 2), NULL, NULL, NULL, DAY,
				       1000, &l, NULL, &err), -EACCES);
	leasedb_close(db);
	assert_int_equal(stat(path, &after), 0);
	assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
	snprintf(path, sizeof(path), "%s/leases.lock", t->state);
	assert_int_equal(access(path, F_OK), -1);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void corrupt(void **state)
{
	struct t *t = *state;
	struct leasedb *db = NULL;
	struct verr err = { 0 };
	char path[160], junk[4096];
	char k[LEASEDB_KEY_MAX + 1];
	int ret;

	assert_int_equal(mkdir(t->state, 0700), 0);
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	write_file(path, "this is not a database\n", 23);
	assert_int_equal(leasedb_open(&db, t->state, &err), -EUCLEAN);
	assert_null(db);
	assert_non_null(strstr(err.msg, "leases.db': file is not a database"));

	/* A real store whose pages were overwritten: caught by open or by the check. */
	unlink(path);
	open_db(t, "10.0.0.0/16", NULL, 0);
	for (int i = 0; i < 300; i++)
		grant(t, skey(k, "c", i), 0, 100, NULL);
	leasedb_close(t->db);
	t->db = NULL;
	/* The store keeps its WAL: move the pages into the file first. */
	sql(path, "PRAGMA wal_checkpoint(TRUNCATE)");
	memset(junk, 0x5a, sizeof(junk));
	{
		int fd = open(path, O_WRONLY);

		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096 * 3), (ssize_t)sizeof(junk));
		close(fd);
	}
	ret = leasedb_open(&db, t->state, &err);
	if (ret == 0) {
		ret = leasedb_check(db, t->pool, 0, &err);
		leasedb_close(db);
	}
	assert_int_equal(ret, -EUCLEAN);
	assert_non_null(strstr(err.msg, "leases.db"));
}

/* A state directory visp cannot write to: as root, find out as nobody. */
static void read_only(void **state)
{
	struct t *t = *state;
	struct leasedb *db = NULL;
	struct verr err = { 0 };
	char path[160];
	int status, ret;
	pid_t pid;

	assert_int_equal(mkdir(t->state, 0755), 0);
	assert_int_equal(chmod(t->dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		if (chmod(t->state, 0555) < 0 && geteuid() != 65534)
			_exit(11);
		/* No store yet: it cannot be created. */
		ret = leasedb_open(&db, t->state, &err);
		if (ret != -EACCES || !strstr(err.msg, "not writable") ||
		    !strstr(err.msg, "Permission denied"))
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* A store that exists but whose directory is read-only (no -wal, -shm possible). */
	open_db(t, "172.23.23.0/24", NULL, 0);
	grant(t, K[0], 0, 100, NULL);
	leasedb_close(t->db);
	t->db = NULL;
	if (geteuid() == 0)
		assert_int_equal(chown(path, 65534, 65534), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
			_exit(10);
		chmod(t->state, 0555);
		ret = leasedb_open(&db, t->state, &err);
		if (ret == 0) {
			ret = leasedb_grant(db, t->pool, K[1], NULL, NULL, NULL, 100, 0, NULL,
					    NULL, &err);
			leasedb_close(db);
			_exit(13);
		}
		if (ret != -EACCES || !strstr(err.msg, "not writable"))
			_exit(14);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A bad allocator entry is found: leasedb_check is not vacuous. */
static void check_finds_problems(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char path[160];

	open_db(t, "172.23.23.0/24", NULL, 0);
	grant(t, K[0], 0, 100, NULL);
	grant(t, K[1], 0, 100, NULL);
	check_ok(t, 0);
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	sql(path, "INSERT INTO free_addrs VALUES (4, 3)");
	assert_int_equal(leasedb_check(t->db, t->pool, 0, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "172.23.23.3 is both free and leased"));
	sql(path, "DELETE FROM free_addrs; UPDATE alloc SET hw = hw + 1");
	assert_int_equal(leasedb_check(t->db, t->pool, 0, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "2 held and 0 free"));
	sql(path, "UPDATE alloc SET hw = hw - 1;"
	    "UPDATE leases SET ipv4 = x'ac171700' WHERE ipv4 = x'ac171702'");
	assert_int_equal(leasedb_check(t->db, t->pool, 0, &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "network address"));
}

#define NPROC 8
#define PER_PROC 50

static int cmp_cidr(const void *a, const void *b)
{
	return memcmp(((const struct cidr *)a)->addr, ((const struct cidr *)b)->addr, 16);
}

struct all {
	struct cidr v4[NPROC * PER_PROC + 1], v6[NPROC * PER_PROC + 1];
	int n;
};

static int gather(const struct lease *l, void *arg)
{
	struct all *a = arg;

	if (a->n >= NPROC * PER_PROC || !l->has_ipv4 || !l->has_ipv6)
		return -E2BIG;
	a->v4[a->n] = l->ipv4;
	a->v6[a->n] = l->ipv6;
	a->n++;
	return 0;
}

static void concurrent_grants(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	static struct all all;
	char k[LEASEDB_KEY_MAX + 1];
	int go[2], status, bad = 0;
	pid_t pids[NPROC];
	struct cidr want;

	open_db(t, "10.1.0.0/22", "fd00:1::/64", 0);
	leasedb_close(t->db);	/* never share a connection across fork */
	t->db = NULL;
	assert_int_equal(pipe(go), 0);
	for (int p = 0; p < NPROC; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct leasedb *db = NULL;
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) != 0)	/* everyone starts together */
				_exit(3);
			/* A connection per grant, like `lease serve`: opens and closes race too. */
			for (int i = 0; i < PER_PROC; i++) {
				if (leasedb_open(&db, t->state, &err) < 0)
					_exit(2);
				if (leasedb_grant(db, t->pool, skey(k, "p", p * 1000 + i), NULL,
						  NULL, NULL, 3600, 1000, NULL, NULL, &err) < 0)
					_exit(4);
				leasedb_close(db);
			}
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int p = 0; p < NPROC; p++) {
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	assert_int_equal(bad, 0);
	open_db(t, "10.1.0.0/22", "fd00:1::/64", 0);
	memset(&all, 0, sizeof(all));
	assert_int_equal(leasedb_foreach(t->db, gather, &all, &err), 0);
	assert_int_equal(all.n, NPROC * PER_PROC);
	qsort(all.v4, all.n, sizeof(all.v4[0]), cmp_cidr);
	qsort(all.v6, all.n, sizeof(all.v6[0]), cmp_cidr);
	/* 400 distinct addresses, and the lowest ones: .2 up to offset 401. */
	for (int i = 0; i < all.n; i++) {
		pool_addr(t->pool, AF_INET, 2 + i, &want);
		assert_true(cidr_equal(&all.v4[i], &want));
		pool_addr(t->pool, AF_INET6, 2 + i, &want);
		assert_true(cidr_equal(&all.v6[i], &want));
	}
	check_ok(t, 1000);
}

static int clear_cb(const struct lease *l, void *arg)
{
	return 0;
}

/* What a busy gateway does, forever, until killed. */
static void churn(const char *state_dir, const struct pool *pool, int64_t base, int ready)
{
	struct leasedb *db = NULL;
	char k[LEASEDB_KEY_MAX + 1];
	struct verr err = { 0 };
	struct cidr want;
	int ret;

	if (leasedb_open(&db, state_dir, &err) < 0)
		_exit(2);
	if (write(ready, "r", 1) != 1)
		_exit(3);
	srand(getpid());
	for (int64_t i = 0;; i++) {
		int64_t now = base + i;
		int op = rand() % 10;

		skey(k, "x", rand() % 300);
		switch (op) {
		case 6:
			ret = leasedb_revoke(db, k, NULL, &err);
			break;
		case 7:
			ret = leasedb_set_conn(db, k, i, getpid(), &err);
			break;
		case 8:
			ret = leasedb_expire(db, now, clear_cb, NULL, NULL, &err);
			break;
		case 9:
			pool_addr(pool, AF_INET, 2 + rand() % 253, &want);
			ret = leasedb_grant(db, pool, k, NULL, &want, NULL, 50, now, NULL, NULL,
					    &err);
			break;
		default:
			ret = leasedb_grant(db, pool, k, "churn", NULL, NULL, 50, now, NULL, NULL,
					    &err);
			break;
		}
		if (ret < 0 && ret != -ENOENT && ret != -ENOSPC && ret != -EADDRINUSE)
			_exit(4);
	}
}

static void sigkill_loop(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char path[160], c;
	int status, ready[2];
	long n;
	pid_t pid;

	/* Fewer addresses than keys: expiry, stealing and the free list all run. */
	open_db(t, "172.23.23.0/24", "fd00:23::/120", 0);
	leasedb_close(t->db);
	t->db = NULL;
	snprintf(path, sizeof(path), "%s/leases.db", t->state);
	unlink(path);
	srand(time(NULL));
	for (int iter = 0; iter < 30; iter++) {
		assert_int_equal(pipe(ready), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(ready[0]);
			churn(t->state, t->pool, (int64_t)iter * 1000000, ready[1]);
		}
		close(ready[1]);
		/* Every third kill may land in leasedb_open (schema creation, the first time). */
		if (iter % 3 && read(ready[0], &c, 1) != 1)
			fail_msg("iteration %d: the child died before it was ready", iter);
		usleep(rand() % (iter % 3 ? 30000 : 3000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		close(ready[0]);
		if (!WIFSIGNALED(status))
			fail_msg("iteration %d: the child exited with %d", iter,
				 WEXITSTATUS(status));
		assert_int_equal(leasedb_open(&t->db, t->state, &err), 0);
		assert_int_equal(sql_int(path, "SELECT count(*) FROM pragma_integrity_check"
					 " WHERE integrity_check = 'ok'"), 1);
		/* now = 0: every active lease must be whole and in its pool. */
		check_ok(t, 0);
		assert_int_equal(leasedb_count(t->db, 0, &n, &err), 0);
		leasedb_close(t->db);
		t->db = NULL;
	}
}

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Not timed: prints seconds per 1000 grants at the start and near the end. */
static void twenty_thousand(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char k[LEASEDB_KEY_MAX + 1];
	double t0 = 0, first = 0, last = 0;
	long n;

	open_db(t, "10.64.0.0/16", "2001:db8:64::/64", 60000);
	for (int i = 0; i < 20000; i++) {
		if (i % 1000 == 0)
			t0 = secs();
		if (leasedb_grant(t->db, t->pool, skey(k, "bulk", i), NULL, NULL, NULL, DAY, 5000,
				  NULL, NULL, &err) < 0)
			fail_msg("grant %d: %s", i, err.msg);
		if (i == 999)
			first = secs() - t0;
		if (i == 19999)
			last = secs() - t0;
	}
	fprintf(stderr, "# 20000 grants: %.3f s per 1000 at the start, %.3f s per 1000 "
		"at the end\n", first, last);
	assert_int_equal(leasedb_count(t->db, 5000, &n, &err), 0);
	assert_int_equal(n, 20000);
	assert_string_equal(grant(t, skey(k, "bulk", 19999), 6000, DAY, NULL),
			    "10.64.78.33/16 2001:db8:64::4e21/64");
	t0 = secs();
	check_ok(t, 6000);
	fprintf(stderr, "# leasedb_check of 20000 leases: %.3f s\n", secs() - t0);
}

/* A full pool of expired leases: every newcomer takes the oldest one's address. */
static void steal_at_scale(void **state)
{
	struct t *t = *state;
	struct verr err = { 0 };
	char k[LEASEDB_KEY_MAX + 1];
	struct lease l;
	double t0;
	int i;

	open_db(t, "10.32.0.0/18", NULL, 0);
	for (i = 0; i < 16381; i++)
		grant(t, skey(k, "old", i), 0, 100, NULL);
	assert_int_equal(leasedb_grant(t->db, t->pool, skey(k, "new", 0), NULL, NULL, NULL, 100,
				       50, &l, NULL, &err), -ENOSPC);
	t0 = secs();
	for (i = 0; i < 1000; i++)
		grant(t, skey(k, "new", i), 20000 + i, 100, NULL);
	fprintf(stderr, "# pool of 16381 full of expired leases: %.3f s per 1000 grants\n",
		secs() - t0);
	/* The oldest went first, in order. */
	assert_int_equal(leasedb_get(t->db, skey(k, "new", 999), &l, &err), 0);
	assert_string_equal(fmt(&l.ipv4), "10.32.3.233/18");	/* offset 1001 */
	assert_int_equal(leasedb_get(t->db, skey(k, "old", 999), &l, &err), -ENOENT);
	assert_string_equal(grant(t, skey(k, "old", 1000), 30000, 100, NULL), "10.32.3.234/18 -");
	check_ok(t, 30000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(grant_and_renew, setup, teardown),
		cmocka_unit_test_setup_teardown(read_only_open, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_v1, setup, teardown),
		cmocka_unit_test_setup_teardown(migrate_v1_ro, setup, teardown),
		cmocka_unit_test_setup_teardown(keys, setup, teardown),
		cmocka_unit_test_setup_teardown(affinity_after_revoke, setup, teardown),
		cmocka_unit_test_setup_teardown(affinity_after_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(exhaustion_and_steal, setup, teardown),
		cmocka_unit_test_setup_teardown(max_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(reservations, setup, teardown),
		cmocka_unit_test_setup_teardown(group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(ipv6_only, setup, teardown),
		cmocka_unit_test_setup_teardown(pool_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(meta, setup, teardown),
		cmocka_unit_test_setup_teardown(current_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(schema_version, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(read_only, setup, teardown),
		cmocka_unit_test_setup_teardown(check_finds_problems, setup, teardown),
		cmocka_unit_test_setup_teardown(concurrent_grants, setup, teardown),
		cmocka_unit_test_setup_teardown(sigkill_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(twenty_thousand, setup, teardown),
		cmocka_unit_test_setup_teardown(steal_at_scale, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
