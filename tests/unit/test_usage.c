// SPDX-License-Identifier: GPL-3.0-or-later
/* Rates and sizes, quota periods, limits in force, the nft text and listing, folding. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "leasedb.h"
#include "pool.h"
#include "shaper.h"
#include "units.h"
#include "usage.h"

static void rates(void **state)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "10mbit", 10000000 }, { "1.5mbit", 1500000 }, { "512kbit", 512000 },
		{ "1gbps", 8000000000ULL }, { "8000", 8000 }, { "10MBit", 10000000 },
		{ "256kbit", 256000 }, { "8.5kbit", 8500 },
	};
	static const char *const bad[] = { "", "mbit", "10 mbit", "10mbits", "1.5bit", "7999",
					   "35gbit", "1.0000000001mbit", "-1mbit", ".5mbit",
					   "1.mbit", "99999999999999999999999mbit" };
	struct verr err = { 0 };
	char q[64];
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(units_parse_rate(good[i].s, &v, &err), 0);
		assert_int_equal(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		verr_clear(&err);
		assert_true(units_parse_rate(bad[i], &v, &err) < 0);
		snprintf(q, sizeof(q), "'%s'", bad[i]);
		assert_non_null(strstr(err.msg, q));
	}
	/* A lease's own: down[/up], none, default. */
	{
		int64_t d, u;

		assert_int_equal(units_parse_rates("10mbit/2mbit", &d, &u, &err), 0);
		assert_int_equal(d, 10000000);
		assert_int_equal(u, 2000000);
		assert_int_equal(units_parse_rates("4mbit", &d, &u, &err), 0);
		assert_int_equal(u, 4000000);
		assert_int_equal(units_parse_rates("none/default", &d, &u, &err), 0);
		assert_int_equal(d, 0);
		assert_int_equal(u, -1);
		assert_true(units_parse_rates("4mbit/", &d, &u, &err) < 0);
		assert_non_null(strstr(err.msg, "''"));
		assert_true(units_parse_rates("fast/1mbit", &d, &u, &err) < 0);
		assert_non_null(strstr(err.msg, "'fast'"));
		assert_int_equal(units_parse_limit("50G", false, &d, &err), 0);
		assert_int_equal(d, 50000000000LL);
	}
	assert_string_equal(units_format_rate(4000000, q, sizeof(q)), "4mbit");
	assert_string_equal(units_format_rate(1500000, q, sizeof(q)), "1500kbit");
	assert_string_equal(units_format_rate(8001, q, sizeof(q)), "8001bit");
}

static void sizes(void **state)
{
	static const struct { const char *s; uint64_t v; } good[] = {
		{ "50G", 50000000000ULL }, { "1.5G", 1500000000ULL }, { "1Gi", 1ULL << 30 },
		{ "1GiB", 1ULL << 30 }, { "500M", 500000000 }, { "123", 123 }, { "2kb", 2000 },
		{ "1.5Ki", 1536 },
	};
	static const char *const bad[] = { "0", "5X", "1.5", "G", "", "1 G", "0.0001K",
					   "2000000000000000000000T" };
	struct verr err = { 0 };
	char q[64];
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(units_parse_size(good[i].s, &v, &err), 0);
		assert_int_equal(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		verr_clear(&err);
		assert_true(units_parse_size(bad[i], &v, &err) < 0);
		snprintf(q, sizeof(q), "'%s'", bad[i]);
		assert_non_null(strstr(err.msg, q));
	}
	assert_string_equal(units_format_size(1500000000, q, sizeof(q)), "1.50G");
	assert_string_equal(units_format_size(999, q, sizeof(q)), "999");
	assert_string_equal(units_format_size(12345678, q, sizeof(q)), "12.3M");
}

static int64_t utc(int y, int mo, int d, int h)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h };

	return (int64_t)timegm(&tm);
}

static void periods(void **state)
{
	struct verr err = { 0 };
	enum units_period p;

	setenv("TZ", "UTC", 1);
	tzset();
	/* Thursday 3 December 2026, 10:00. */
	assert_int_equal(units_period_start(PERIOD_DAY, utc(2026, 12, 3, 10)), utc(2026, 12, 3, 0));
	assert_int_equal(units_period_start(PERIOD_WEEK, utc(2026, 12, 3, 10)), utc(2026, 11, 30, 0));
	assert_int_equal(units_period_start(PERIOD_MONTH, utc(2026, 12, 3, 10)), utc(2026, 12, 1, 0));
	/* A Sunday belongs to the week that began on the Monday before. */
	assert_int_equal(units_period_start(PERIOD_WEEK, utc(2026, 12, 6, 23)), utc(2026, 11, 30, 0));
	assert_int_equal(units_period_start(PERIOD_WEEK, utc(2026, 12, 7, 0)), utc(2026, 12, 7, 0));
	assert_int_equal(units_parse_period("week", &p, &err), 0);
	assert_int_equal(p, PERIOD_WEEK);
	assert_true(units_parse_period("fortnight", &p, &err) < 0);
	assert_non_null(strstr(err.msg, "'fortnight'"));
}

static void limits(void **state)
{
	struct visp_config *cfg = config_new_defaults();
	struct lease l = { .rate_down = -1, .rate_up = -1, .quota = -1 };
	struct usage_limits u;
	int64_t now;

	setenv("TZ", "UTC", 1);
	tzset();
	now = utc(2026, 12, 3, 10);
	cfg->rate_down = 10000000;
	cfg->rate_up = 2000000;
	cfg->quota_bytes = 1000;
	cfg->quota_period = PERIOD_DAY;
	l.period_start = utc(2026, 12, 3, 0);
	l.down_bytes = 600;
	l.up_bytes = 300;
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.rate_down, 10000000);
	assert_int_equal(u.rate_up, 2000000);
	assert_int_equal(u.state, QUOTA_OK);
	assert_int_equal(u.down, 600);
	/* Over: throttled to the throttle rate, never above a lower limit. */
	l.up_bytes = 400;
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.state, QUOTA_THROTTLED);
	assert_int_equal(u.rate_down, 256000);
	l.rate_up = 100000;
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.rate_up, 100000);
	cfg->quota_block = true;
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.state, QUOTA_BLOCKED);
	/* The lease's own: none lifts the default; a raised quota lifts the block. */
	l.rate_down = 0;
	l.quota = 2000;
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.state, QUOTA_OK);
	assert_int_equal(u.rate_down, 0);
	l.quota = 0;
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.quota, 0);
	assert_int_equal(u.state, QUOTA_OK);
	/* Yesterday's usage does not count today. */
	l.quota = -1;
	l.period_start = utc(2026, 12, 2, 0);
	usage_limits(cfg, &l, usage_period_start(cfg, now), &u);
	assert_int_equal(u.down, 0);
	assert_int_equal(u.state, QUOTA_OK);
	config_free(cfg);
}

/* rate_limit and quota in the config: parsed, and bad values quoted with the line. */
static void config_keys(void **state)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "{\"rate_limit\": \"fast\"}", "'fast'" },
		{ "{\"rate_limit\": 10}", "must be a rate" },
		{ "{\"rate_limit\": {\"down\": 10}}", "must be strings" },
		{ "{\"rate_limit\": {\"down\": \"1mbit\", \"sideways\": \"1mbit\"}}",
		  "'sideways' is not a key of rate_limit" },
		{ "{\"quota\": {\"bytes\": \"50X\"}}", "'50X'" },
		{ "{\"quota\": {\"bytes\": \"50G\", \"period\": \"year\"}}", "'year'" },
		{ "{\"quota\": {\"bytes\": \"50G\", \"over\": \"drop\"}}", "\"throttle\" or" },
		{ "{\"quota\": {\"period\": \"day\"}}", "no \"bytes\"" },
		{ "{\"quota\": \"50G\"}", "must be an object" },
	};
	const char *good = "{\"rate_limit\": {\"down\": \"10mbit\", \"up\": \"2mbit\"},\n"
			   " \"quota\": {\"bytes\": \"50G\", \"period\": \"week\", \"over\": \"block\","
			   " \"throttle\": \"128kbit\"}}";
	struct visp_config *cfg = config_new_defaults();
	struct verr err = { 0 };

	assert_int_equal(cfg->quota_period, PERIOD_MONTH);
	assert_int_equal(cfg->quota_throttle, 256000);
	assert_int_equal(config_parse(cfg, good, strlen(good), "t.conf", &err), 0);
	assert_int_equal(cfg->rate_down, 10000000);
	assert_int_equal(cfg->rate_up, 2000000);
	assert_int_equal(cfg->quota_bytes, 50000000000ULL);
	assert_int_equal(cfg->quota_period, PERIOD_WEEK);
	assert_true(cfg->quota_block);
	assert_int_equal(cfg->quota_throttle, 128000);
	assert_int_equal(config_parse(cfg, "{\"rate_limit\": \"5mbit\"}", 23, "t.conf", &err), 0);
	assert_int_equal(cfg->rate_up, 5000000);
	config_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = config_new_defaults();
		verr_clear(&err);
		assert_int_equal(config_parse(cfg, bad[i].text, strlen(bad[i].text), "t.conf", &err),
				 -EINVAL);
		if (!strstr(err.msg, bad[i].want) || !strstr(err.msg, "t.conf:1"))
			fail_msg("%s: %s", bad[i].text, err.msg);
		config_free(cfg);
	}
}

static void table_text(void **state)
{
	struct cidr p4, p6;
	struct usage_net net = { .tun = "tun0", .uplink = "eth1", .pool4 = &p4, .pool6 = &p6 };
	struct verr err = { 0 };
	char *text = NULL;

	assert_int_equal(cidr_parse_network("172.23.23.0/24", &p4, &err), 0);
	assert_int_equal(cidr_parse_network("2001:db8:23::/64", &p6, &err), 0);
	assert_int_equal(usage_table_text(&net, &text, &err), 0);
	assert_non_null(strstr(text, "set down4 { type ipv4_addr; size 65536; flags dynamic; "
				     "counter; }"));
	assert_non_null(strstr(text, "flush chain inet visp_usage forward\n"));
	assert_non_null(strstr(text, "iifname \"eth1\" oifname \"tun0\" ip daddr 172.23.23.0/24 "
				     "update @down4 { ip daddr } meta priority set ip daddr map "
				     "@class_down4"));
	assert_non_null(strstr(text, "iifname \"tun0\" oifname \"eth1\" ip6 saddr "
				     "2001:db8:23::/64 update @up6 { ip6 saddr }"));
	/* The table itself is never deleted: its counters stay. */
	assert_null(strstr(text, "delete"));
	free(text);
	net.uplink = "eth\"1";
	assert_true(usage_table_text(&net, &text, &err) < 0);
	assert_null(text);
	assert_non_null(strstr(err.msg, "'eth\"1'"));
}

static const char listing[] =
	"{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}},"
	" {\"table\": {\"family\": \"inet\", \"name\": \"visp_usage\", \"handle\": 7}},"
	" {\"set\": {\"family\": \"inet\", \"name\": \"down4\", \"table\": \"visp_usage\","
	"  \"elem\": [{\"elem\": {\"val\": \"172.23.23.3\", \"counter\": {\"packets\": 2,"
	"  \"bytes\": 3000}}}, {\"elem\": {\"val\": \"172.23.23.2\", \"counter\":"
	"  {\"packets\": 1, \"bytes\": 1000}}}]}},"
	" {\"set\": {\"family\": \"inet\", \"name\": \"up4\", \"table\": \"visp_usage\","
	"  \"elem\": [{\"elem\": {\"val\": \"172.23.23.2\", \"counter\": {\"packets\": 1,"
	"  \"bytes\": 100}}}]}},"
	" {\"set\": {\"family\": \"inet\", \"name\": \"down6\", \"table\": \"visp_usage\"}},"
	" {\"map\": {\"family\": \"inet\", \"name\": \"class_down4\", \"table\": \"visp_usage\","
	"  \"elem\": [[\"172.23.23.2\", \"7650:1\"]]}}]}";

static void parse_listing(void **state)
{
	static const char *const hostile[] = {
		"{\"nftables\": [{\"table\": {\"handle\": 1}}, {\"set\": {\"name\": \"down4\","
		" \"elem\": [{\"elem\": {\"val\": \"172.23.23.2\"}}]}}]}",
		"{\"nftables\": [{\"table\": {\"handle\": 1}}, {\"set\": {\"name\": \"down4\","
		" \"elem\": [{\"elem\": {\"val\": \"fc00::1\", \"counter\": {\"bytes\": 1}}}]}}]}",
		"{\"nftables\": [{\"table\": {\"handle\": 1}}, {\"set\": {\"name\": \"up6\","
		" \"elem\": [{\"elem\": {\"val\": \"::1\", \"counter\": {\"bytes\": -1}}}]}}]}",
		"{\"nftables\": {}}", "[1]", "{\"nftables\": [", "",
	};
	struct usage_counters c = { .handle = -1 };
	struct verr err = { 0 };

	/* Another table's handle is not ours; a listing of a set alone has none. */
	assert_int_equal(usage_parse_listing("{\"nftables\": [{\"table\": {\"name\": \"visp\","
					     " \"handle\": 3}}, {\"set\": {\"name\": \"down4\"}}]}",
					     &c, &err), 0);
	assert_int_equal(c.handle, -1);
	assert_int_equal(c.n, 0);
	assert_int_equal(usage_parse_listing(listing, &c, &err), 0);
	assert_int_equal(c.handle, 7);
	assert_int_equal(c.n, 2);
	/* Sorted and merged: one entry per address, both directions. */
	assert_int_equal(c.v[0].addr.addr[3], 2);
	assert_int_equal(c.v[0].down, 1000);
	assert_int_equal(c.v[0].up, 100);
	assert_int_equal(c.v[0].sets, 3);
	assert_int_equal(c.v[1].down, 3000);
	assert_int_equal(c.v[1].sets, 1);
	/* Listings add up: the same elements again count twice (each listing is its own set). */
	assert_int_equal(usage_parse_listing(listing, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.v[0].down, 2000);
	usage_counters_free(&c);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		c = (struct usage_counters){ .handle = -1 };
		assert_true(usage_parse_listing(hostile[i], &c, &err) < 0);
		usage_counters_free(&c);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Counter values as the kernel would show them for address 172.23.23.X. */
static struct leasedb_counter ctr(int x, uint64_t down, uint64_t up)
{
	struct leasedb_counter c = { .down = down, .up = up };
	struct verr err = { 0 };
	char s[32];

	snprintf(s, sizeof(s), "172.23.23.%d", x);
	assert_int_equal(cidr_parse_addr(s, AF_INET, &c.addr, &err), 0);
	return c;
}

static void fold(void **state)
{
	char dir[] = "/tmp/visp-usage-test.XXXXXX", sdir[64];
	const char *ka = "5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k";
	const char *kb = "y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k";
	struct leasedb *db = NULL;
	struct pool *pool = NULL;
	struct verr err = { 0 };
	struct lease la, lb;
	struct leasedb_counter c[2];
	int64_t day1 = 1000 * 86400, day2 = day1 + 86400, now = day1 + 60;
	size_t folded;
	int64_t rd = 4000000, q = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(sdir, sizeof(sdir), "%s/state", dir);
	assert_int_equal(leasedb_open(&db, sdir, &err), 0);
	assert_int_equal(pool_new(&pool, "172.23.23.0/24", NULL, 0, &err), 0);
	assert_int_equal(leasedb_grant(db, pool, ka, NULL, NULL, NULL, 3600, now, &la, NULL, &err), 0);
	assert_int_equal(leasedb_grant(db, pool, kb, NULL, NULL, NULL, 3600, now, &lb, NULL, &err), 0);
	assert_int_equal(la.rate_down, -1);
	assert_int_equal(la.quota, -1);
	assert_int_equal(la.ipv4.addr[3], 2);
	assert_int_equal(lb.ipv4.addr[3], 3);

	c[0] = ctr(2, 1000, 100);
	assert_int_equal(leasedb_fold(db, c, 1, "boot/1", day1, now, &folded, &err), 0);
	assert_int_equal(folded, 1);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.down_bytes, 1000);
	assert_int_equal(la.up_bytes, 100);
	assert_int_equal(la.period_start, day1);
	/* Folding the same counters again adds nothing; growth adds the growth. */
	assert_int_equal(leasedb_fold(db, c, 1, "boot/1", day1, now, &folded, &err), 0);
	c[0] = ctr(2, 1500, 100);
	c[1] = ctr(3, 70, 7);
	assert_int_equal(leasedb_fold(db, c, 2, "boot/1", day1, now, &folded, &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.down_bytes, 1500);
	assert_int_equal(leasedb_get(db, kb, &lb, &err), 0);
	assert_int_equal(lb.down_bytes, 70);
	/* A counter below the last one is a new element: all of it counts. */
	c[0] = ctr(2, 200, 100);
	assert_int_equal(leasedb_fold(db, c, 1, "boot/1", day1, now, &folded, &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.down_bytes, 1700);
	/* b's element went (revoked): its seen value is cleared, its total kept. */
	assert_int_equal(leasedb_get(db, kb, &lb, &err), 0);
	assert_int_equal(lb.down_bytes, 70);
	assert_int_equal(lb.seen[0], 0);
	/* A new table (reboot): its counters are all new, even above the old ones. */
	c[0] = ctr(2, 5000, 100);
	assert_int_equal(leasedb_fold(db, c, 1, "boot2/1", day1, now, &folded, &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.down_bytes, 6700);
	assert_int_equal(la.up_bytes, 200);
	/* The next period starts from zero, with what came since the last fold. */
	c[0] = ctr(2, 5600, 100);
	assert_int_equal(leasedb_fold(db, c, 1, "boot2/1", day2, day2 + 5, &folded, &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.down_bytes, 600);
	assert_int_equal(la.up_bytes, 0);
	assert_int_equal(la.period_start, day2);
	/* Limits: NULL keeps, -1 is the default, 0 none. */
	assert_int_equal(leasedb_set_limits(db, ka, &rd, &rd, NULL, &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.rate_down, 4000000);
	assert_int_equal(la.quota, -1);
	rd = -1;
	assert_int_equal(leasedb_set_limits(db, ka, &rd, NULL, &q, &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.rate_down, -1);
	assert_int_equal(la.rate_up, 4000000);
	assert_int_equal(la.quota, 0);
	assert_int_equal(leasedb_set_limits(db, "nokey", &rd, NULL, NULL, &err), -ENOENT);
	/* A grant keeps limits and usage. */
	assert_int_equal(leasedb_grant(db, pool, ka, NULL, NULL, NULL, 3600, day2 + 9, &la, NULL,
				       &err), 0);
	assert_int_equal(leasedb_get(db, ka, &la, &err), 0);
	assert_int_equal(la.rate_up, 4000000);
	assert_int_equal(la.down_bytes, 600);
	assert_int_equal(leasedb_check(db, pool, day2 + 9, &err), 0);
	leasedb_close(db);
	pool_free(pool);
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/*
 * Leases' classes: one each, never the root qdisc's own major (its
 * classes are the groups), in groups of consecutive leases under one child
 * major, and no child major in the kernel's qdisc hash bucket of handle 0
 * (where every HTB leaf's default pfifo is: lookups there walk them all).
 */
static void classids(void **state)
{
	uint32_t prev = 0;
	unsigned groups = 0;

	(void)state;
	for (unsigned m = 1; m <= SHAPER_MINOR_MAX; m++) {
		uint32_t id = shaper_classid((uint16_t)m), major = id >> 16, minor = id & 0xffff;

		assert_true(major != 0 && major != SHAPER_MAJOR && major < 0xffff);
		assert_int_not_equal((major << 16) * 0x61c88647u >> 28, 0);
		/* Distinct: ascending, the minors 1, 2, ... under each major. */
		if (major == prev >> 16) {
			assert_int_equal(minor, (prev & 0xffff) + 1);
		} else {
			assert_true(major > prev >> 16);
			assert_int_equal(minor, 1);
			groups++;
		}
		prev = id;
	}
	/* A few hundred classes per child at most: the kernel walks them all per new class. */
	assert_true(groups >= SHAPER_MINOR_MAX / 256);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rates),
		cmocka_unit_test(sizes),
		cmocka_unit_test(periods),
		cmocka_unit_test(limits),
		cmocka_unit_test(config_keys),
		cmocka_unit_test(table_text),
		cmocka_unit_test(parse_listing),
		cmocka_unit_test(fold),
		cmocka_unit_test(classids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
