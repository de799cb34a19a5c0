// SPDX-License-Identifier: GPL-3.0-or-later
/* The gateway's OpenMetrics text (metrics.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileutil.h"
#include "metrics.h"
#include "pool.h"
#include "usage.h"

struct row {
	struct lease l;
	struct usage_limits u;
};

struct rows {
	const struct visp_config *cfg;
	int64_t now, period_start;
	struct row *v;
	size_t n, cap;
	uint64_t held[2];	/* current leases with an address of the family */
};

static int collect(const struct lease *l, void *arg)
{
	struct rows *r = arg;
	struct usage_limits u;
	struct row *nv;
	bool current = lease_is_current(l, r->now);

	usage_limits(r->cfg, l, r->period_start, &u);
	if (!current && !u.down && !u.up)
		return 0;
	if (current) {
		r->held[0] += l->has_ipv4;
		r->held[1] += l->has_ipv6;
	}
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		nv = reallocarray(r->v, r->cap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		r->v = nv;
	}
	r->v[r->n].l = *l;
	r->v[r->n].u = u;
	r->n++;
	return 0;
}

/* A label value: backslash, double quote and newline escaped (OpenMetrics ABNF). */
static void put_value(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void put_labels(FILE *f, const struct lease *l, const char *extra, const char *extra_val)
{
	fprintf(f, "{key=\"%s\"", l->key);
	if (l->name[0]) {
		fputs(",name=\"", f);
		put_value(f, l->name);
		fputc('"', f);
	}
	if (extra)
		fprintf(f, ",%s=\"%s\"", extra, extra_val);
	fputc('}', f);
}

static void family(FILE *f, const char *name, const char *type, const char *unit, const char *help)
{
	fprintf(f, "# TYPE %s %s\n", name, type);
	if (unit)
		fprintf(f, "# UNIT %s %s\n", name, unit);
	fprintf(f, "# HELP %s %s\n", name, help);
}

static void put_leases(FILE *f, const struct rows *r)
{
	static const enum quota_state states[] = { QUOTA_OK, QUOTA_THROTTLED, QUOTA_BLOCKED };

	family(f, "visp_lease_down_bytes", "counter", "bytes",
	       "Bytes to the lease's client in the current quota period.");
	for (size_t i = 0; i < r->n; i++) {
		fputs("visp_lease_down_bytes_total", f);
		put_labels(f, &r->v[i].l, NULL, NULL);
		fprintf(f, " %llu\n", (unsigned long long)r->v[i].u.down);
	}
	family(f, "visp_lease_up_bytes", "counter", "bytes",
	       "Bytes from the lease's client in the current quota period.");
	for (size_t i = 0; i < r->n; i++) {
		fputs("visp_lease_up_bytes_total", f);
		put_labels(f, &r->v[i].l, NULL, NULL);
		fprintf(f, " %llu\n", (unsigned long long)r->v[i].u.up);
	}
	family(f, "visp_lease_rate_limit_bits_per_second", "gauge", NULL,
	       "The lease's rate limit in force, throttling included.");
	for (size_t i = 0; i < r->n; i++) {
		for (int d = 0; d < 2; d++) {
			uint64_t rate = d ? r->v[i].u.rate_up : r->v[i].u.rate_down;

			if (!rate)
				continue;
			fputs("visp_lease_rate_limit_bits_per_second", f);
			put_labels(f, &r->v[i].l, "direction", d ? "up" : "down");
			fprintf(f, " %llu\n", (unsigned long long)rate);
		}
	}
	family(f, "visp_lease_quota_bytes", "gauge", "bytes",
	       "The lease's quota per period (down and up together).");
	for (size_t i = 0; i < r->n; i++) {
		if (!r->v[i].u.quota)
			continue;
		fputs("visp_lease_quota_bytes", f);
		put_labels(f, &r->v[i].l, NULL, NULL);
		fprintf(f, " %llu\n", (unsigned long long)r->v[i].u.quota);
	}
	family(f, "visp_lease_quota_state", "stateset", NULL, "Where the lease stands against its quota.");
	for (size_t i = 0; i < r->n; i++) {
		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
			fputs("visp_lease_quota_state", f);
			put_labels(f, &r->v[i].l, "visp_lease_quota_state",
				   usage_quota_state_name(states[s]));
			fprintf(f, " %d\n", r->v[i].u.state == states[s]);
		}
	}
}

static void put_pools(FILE *f, const struct rows *r, const struct pool *pool)
{
	static const int fams[2] = { AF_INET, AF_INET6 };
	uint64_t first, last;

	family(f, "visp_pool_leases", "gauge", NULL, "Current leases holding an address of the pool.");
	for (int i = 0; i < 2; i++)
		if (pool_range(pool, fams[i], &first, &last))
			fprintf(f, "visp_pool_leases{pool=\"%s\"} %llu\n", pool_name(pool, fams[i]),
				(unsigned long long)r->held[i]);
	family(f, "visp_pool_free", "gauge", NULL, "Addresses of the pool no current lease holds.");
	for (int i = 0; i < 2; i++) {
		uint64_t size;

		if (!pool_range(pool, fams[i], &first, &last))
			continue;
		size = last - first + 1;
		fprintf(f, "visp_pool_free{pool=\"%s\"} %llu\n", pool_name(pool, fams[i]),
			(unsigned long long)(size > r->held[i] ? size - r->held[i] : 0));
	}
}

int metrics_text(struct leasedb *db, const struct visp_config *cfg, int64_t now, char **out,
		 struct verr *err)
{
	struct rows r = { .cfg = cfg, .now = now, .period_start = usage_period_start(cfg, now) };
	struct pool *pool = NULL;
	char *buf = NULL, when[32];
	size_t len = 0;
	FILE *f = NULL;
	int ret;

	*out = NULL;
	ret = pool_new(&pool, cfg->ipv4_pool, cfg->ipv6_pool, cfg->max_leases, err);
	if (ret < 0)
		goto out;
	ret = leasedb_foreach(db, collect, &r, err);
	if (ret == -ENOMEM)
		verr_set(err, ret, "out of memory");
	if (ret < 0)
		goto out;
	f = open_memstream(&buf, &len);
	if (!f) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	put_leases(f, &r);
	put_pools(f, &r, pool);
	family(f, "visp_usage_sync_timestamp_seconds", "gauge", "seconds",
	       "When usage was last folded into the lease store.");
	if (leasedb_meta_get(db, LEASEDB_META_FOLDED, when, sizeof(when), NULL) == 0 &&
	    strspn(when, "0123456789") == strlen(when) && when[0])
		fprintf(f, "visp_usage_sync_timestamp_seconds %s\n", when);
	fputs("# EOF\n", f);
	ret = memstream_finish(f, &buf, out, err);
	f = NULL;
out:
	if (f)
		fclose(f);
	free(buf);
	free(r.v);
	pool_free(pool);
	return ret;
}

int metrics_write(const char *path, const char *text, struct verr *err)
{
	int ret = file_write_atomic(path, text, strlen(text), 0644, err);

	/* The umask must not keep the collector's user from reading it. */
	if (ret == 0 && chmod(path, 0644) < 0)
		ret = verr_set(err, -errno, "cannot make '%s' readable: %s", path, strerror(errno));
	return ret;
}
