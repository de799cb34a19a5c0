// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * make bench helper: N leases in a store, then the time to apply their
 * counting, limits and quotas (usage_up: the table, the maps, HTB classes on
 * both interfaces) and to read and fold their usage (usage_sync, with an
 * element per address in each counting set). Prints "name value" lines.
 *
 *	usage-bench STATE_DIR RUN_DIR TUN UPLINK N RATE|none
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "leasedb.h"
#include "nft.h"
#include "pool.h"
#include "units.h"
#include "usage.h"

#define POOL "172.16.0.0/16"

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void die(const char *what, const struct verr *err)
{
	fprintf(stderr, "usage-bench: %s: %s\n", what, err->msg);
	exit(1);
}

/* An element for every lease's address in both IPv4 counting sets, as traffic would make. */
static void fill_sets(int n)
{
	size_t cap = (size_t)n * 20 + 256, len = 0;
	char *cmds = malloc(2 * cap);
	struct verr err = { 0 };

	for (int d = 0; d < 2; d++) {
		len += sprintf(cmds + len, "add element inet " USAGE_TABLE " %s { ",
			       d ? "up4" : "down4");
		for (int i = 0; i < n; i++)
			len += sprintf(cmds + len, "172.16.%d.%d, ", (i + 2) / 256, (i + 2) % 256);
		len += sprintf(cmds + len, "}\n");
	}
	if (nft_run(cmds, NULL, &err) < 0)
		die("filling the counting sets", &err);
	free(cmds);
}

int main(int argc, char **argv)
{
	struct visp_config *cfg = config_new_defaults();
	struct usage_net net = { 0 };
	struct usage_report rep;
	struct leasedb *db = NULL;
	struct pool *pool = NULL;
	struct verr err = { 0 };
	struct timespec t0;
	struct cidr p4;
	uint64_t rate = 0;
	int64_t now = time(NULL), r;
	int n;

	if (argc != 7 || !cfg)
		return 2;
	n = atoi(argv[5]);
	if (strcmp(argv[6], "none") && units_parse_rate(argv[6], &rate, &err) < 0)
		die("rate", &err);
	free(cfg->state_dir);
	free(cfg->run_dir);
	cfg->state_dir = strdup(argv[1]);
	cfg->run_dir = strdup(argv[2]);
	net.tun = argv[3];
	net.uplink = argv[4];
	cidr_parse_network(POOL, &p4, &err);
	net.pool4 = &p4;
	if (leasedb_open(&db, cfg->state_dir, &err) < 0 || pool_new(&pool, POOL, NULL, 0, &err) < 0)
		die("store", &err);
	r = rate ? (int64_t)rate : 0;
	leasedb_group_begin(db, &err);
	for (int i = 0; i < n; i++) {
		char key[64];
		struct lease l;

		snprintf(key, sizeof(key), "bench%07d%040d.k", i, 0);
		if (leasedb_grant(db, pool, key, NULL, NULL, NULL, 86400, now, &l, NULL, &err) < 0 ||
		    leasedb_set_limits(db, key, &r, &r, NULL, &err) < 0)
			die("grant", &err);
	}
	if (leasedb_group_end(db, true, &err) < 0)
		die("commit", &err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (usage_up(db, cfg, &net, now, &rep, &err) < 0)
		die("usage_up", &err);
	printf("apply_ms %.1f\n", ms_since(&t0));
	printf("apply_parts_ms %lld+%lld+%lld\n", (long long)rep.elapsed_ms[0],
	       (long long)rep.elapsed_ms[1], (long long)rep.elapsed_ms[2]);
	printf("limited %zu\n", rep.limited);
	printf("shaped %s\n", rep.shaped ? "yes" : rep.shaper.code ? rep.shaper.msg : "no");
	fill_sets(n);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (usage_sync(db, cfg, now, &rep, &err) < 0)
		die("usage_sync", &err);
	printf("sync_ms %.1f\n", ms_since(&t0));
	printf("sync_parts_ms %lld+%lld+%lld\n", (long long)rep.elapsed_ms[0],
	       (long long)rep.elapsed_ms[1], (long long)rep.elapsed_ms[2]);
	printf("stale %zu\n", rep.stale);
	leasedb_close(db);
	pool_free(pool);
	config_free(cfg);
	return 0;
}
