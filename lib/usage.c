// SPDX-License-Identifier: GPL-3.0-or-later
/* Usage counting, rate limits and quotas (usage.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "json.h"
#include "nft.h"
#include "shaper.h"
#include "units.h"
#include "usage.h"

#define T NFT_FAMILY " " USAGE_TABLE
#define SET_SIZE 65536		/* addresses counted per family and direction */
#define LISTING_MAX (64u << 20)	/* 4 sets of SET_SIZE elements, with room to spare */
#define LISTING_DEPTH 16

/* The sets and maps, by family (0: IPv4, 1: IPv6) and direction (0: down, 1: up). */
static const char *const count_set[2][2] = { { "down4", "up4" }, { "down6", "up6" } };
static const char *const class_map[2][2] = { { "class_down4", "class_up4" },
					      { "class_down6", "class_up6" } };
static const char *const block_set[2] = { "blocked4", "blocked6" };

const char *usage_quota_state_name(enum quota_state s)
{
	return s == QUOTA_BLOCKED ? "blocked" : s == QUOTA_THROTTLED ? "throttled" : "ok";
}

static uint64_t own_or(int64_t own, uint64_t dflt)
{
	return own < 0 ? dflt : (uint64_t)own;
}

static uint64_t lower_to(uint64_t rate, uint64_t cap)
{
	return rate && rate < cap ? rate : cap;
}

int64_t usage_period_start(const struct visp_config *cfg, int64_t now)
{
	return units_period_start(cfg->quota_period, now);
}

void usage_limits(const struct visp_config *cfg, const struct lease *l, int64_t period_start,
		  struct usage_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->rate_down = own_or(l->rate_down, cfg->rate_down);
	out->rate_up = own_or(l->rate_up, cfg->rate_up);
	out->quota = own_or(l->quota, cfg->quota_bytes);
	out->period_start = period_start;
	/* Usage of an ended period is history until the next fold starts the new one. */
	if (l->period_start == out->period_start) {
		out->down = (uint64_t)l->down_bytes;
		out->up = (uint64_t)l->up_bytes;
	}
	if (!out->quota || out->down + out->up < out->quota)
		return;
	out->state = cfg->quota_block ? QUOTA_BLOCKED : QUOTA_THROTTLED;
	if (out->state == QUOTA_THROTTLED) {
		out->rate_down = lower_to(out->rate_down, cfg->quota_throttle);
		out->rate_up = lower_to(out->rate_up, cfg->quota_throttle);
	}
}

static void put_rules(FILE *f, const struct usage_net *net, int fi, const char *pool)
{
	const char *ip = fi ? "ip6" : "ip", *t = net->tun, *u = net->uplink;

	/* Blocked first: what is dropped is not counted. */
	fprintf(f, "add rule " T " forward iifname \"%s\" oifname \"%s\" %s daddr %s %s daddr @%s "
		"drop\n", u, t, ip, pool, ip, block_set[fi]);
	fprintf(f, "add rule " T " forward iifname \"%s\" oifname \"%s\" %s saddr %s %s saddr @%s "
		"drop\n", t, u, ip, pool, ip, block_set[fi]);
	/* Count, then classify: a lookup that finds no class ends the rule, after the count. */
	fprintf(f, "add rule " T " forward iifname \"%s\" oifname \"%s\" %s daddr %s update @%s "
		"{ %s daddr } meta priority set %s daddr map @%s\n", u, t, ip, pool,
		count_set[fi][0], ip, ip, class_map[fi][0]);
	fprintf(f, "add rule " T " forward iifname \"%s\" oifname \"%s\" %s saddr %s update @%s "
		"{ %s saddr } meta priority set %s saddr map @%s\n", t, u, ip, pool,
		count_set[fi][1], ip, ip, class_map[fi][1]);
}

int usage_table_text(const struct usage_net *net, char **out, struct verr *err)
{
	char p4[CIDR_STRLEN], p6[CIDR_STRLEN];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	*out = NULL;
	ret = nft_check_ifname("tun", net->tun, err);
	if (ret == 0)
		ret = nft_check_ifname("uplink", net->uplink, err);
	if (ret < 0)
		return ret;
	f = open_memstream(&buf, &len);
	if (!f)
		return verr_set(err, -ENOMEM, "out of memory");
	/*
	 * Declared with "add" semantics: a table that is there keeps its sets
	 * and their counters; only the chain's rules are replaced (the pools or
	 * interfaces may have changed), in the same transaction.
	 */
	fputs("table " T " {\n", f);
	for (int fi = 0; fi < 2; fi++) {
		const char *type = fi ? "ipv6_addr" : "ipv4_addr";

		for (int d = 0; d < 2; d++) {
			fprintf(f, "\tset %s { type %s; size %d; flags dynamic; counter; }\n",
				count_set[fi][d], type, SET_SIZE);
			fprintf(f, "\tmap %s { type %s : classid; }\n", class_map[fi][d], type);
		}
		fprintf(f, "\tset %s { type %s; }\n", block_set[fi], type);
	}
	/* After visp's filter (priority filter), which drops what is not forwarded. */
	fputs("\tchain forward { type filter hook forward priority filter + 10; "
	      "policy accept; }\n}\n", f);
	fputs("flush chain " T " forward\n", f);
	if (net->pool4)
		put_rules(f, net, 0, cidr_format(net->pool4, true, p4, sizeof(p4)));
	if (net->pool6)
		put_rules(f, net, 1, cidr_format(net->pool6, true, p6, sizeof(p6)));
	return memstream_finish(f, &buf, out, err);
}

void usage_counters_free(struct usage_counters *c)
{
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

static int cmp_counter(const void *a, const void *b)
{
	const struct leasedb_counter *x = a, *y = b;

	if (x->addr.family != y->addr.family)
		return x->addr.family - y->addr.family;
	return memcmp(x->addr.addr, y->addr.addr, sizeof(x->addr.addr));
}

/* One element {"elem": {"val": "10.0.0.2", "counter": {"packets": 1, "bytes": 84}}}. */
static int add_elem(struct usage_counters *c, const struct jval *e, int fi, int d,
		    struct verr *err)
{
	const struct jval *in = json_get(e, "elem"), *ctr = json_get(in, "counter");
	const char *val = json_get_str(in, "val");
	struct leasedb_counter *nv, *x;
	long long bytes;

	if (!val || !ctr || json_get_int(ctr, "bytes", &bytes) < 0 || bytes < 0)
		return verr_set(err, -EBADMSG, "nftables: an element of %s without a counter",
				count_set[fi][d]);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		nv = reallocarray(c->v, c->cap, sizeof(*nv));
		if (!nv)
			return verr_set(err, -ENOMEM, "out of memory");
		c->v = nv;
	}
	x = &c->v[c->n];
	memset(x, 0, sizeof(*x));
	x->addr.family = fi ? AF_INET6 : AF_INET;
	x->addr.prefix = fi ? 128 : 32;
	if (inet_pton(x->addr.family, val, x->addr.addr) != 1)
		return verr_set(err, -EBADMSG, "nftables: '%s' in %s is not an address", val,
				count_set[fi][d]);
	if (d)
		x->up = (uint64_t)bytes;
	else
		x->down = (uint64_t)bytes;
	x->sets = 1u << d;
	c->n++;
	return 0;
}

/* Merge the down and up entries of each address into one. */
static void merge(struct usage_counters *c)
{
	size_t o = 0;

	if (!c->n)
		return;
	qsort(c->v, c->n, sizeof(*c->v), cmp_counter);
	for (size_t i = 0; i < c->n; i++) {
		if (o && !cmp_counter(&c->v[o - 1], &c->v[i])) {
			c->v[o - 1].down += c->v[i].down;
			c->v[o - 1].up += c->v[i].up;
			c->v[o - 1].sets |= c->v[i].sets;
			continue;
		}
		c->v[o++] = c->v[i];
	}
	c->n = o;
}

static int set_index(const char *name, int *fi, int *d)
{
	for (*fi = 0; *fi < 2; (*fi)++)
		for (*d = 0; *d < 2; (*d)++)
			if (name && !strcmp(name, count_set[*fi][*d]))
				return 0;
	return -ENOENT;
}

int usage_parse_listing(const char *json, struct usage_counters *c, struct verr *err)
{
	const struct jval *items, *obj, *elems;
	struct jval *root = NULL;
	long long handle;
	int ret, n, fi, d;

	ret = json_parse_object(json, strlen(json), LISTING_MAX, LISTING_DEPTH, &root, err);
	if (ret < 0) {
		verr_wrap(err, "nftables listing");
		goto out;
	}
	items = json_get(root, "nftables");
	n = json_array_len(items);
	if (n < 0) {
		ret = verr_set(err, -EBADMSG, "nftables listing: no \"nftables\" array");
		goto out;
	}
	for (int i = 0; i < n && ret == 0; i++) {
		const struct jval *it = json_array_at(items, i);
		const char *name;

		obj = json_get(it, "table");
		name = json_get_str(obj, "name");
		if (name && !strcmp(name, USAGE_TABLE) && json_get_int(obj, "handle", &handle) == 0 &&
		    handle >= 0)
			c->handle = handle;
		obj = json_get(it, "set");
		if (!obj || set_index(json_get_str(obj, "name"), &fi, &d) < 0)
			continue;
		elems = json_get(obj, "elem");
		for (int k = 0; elems && k < json_array_len(elems) && ret == 0; k++)
			ret = add_elem(c, json_array_at(elems, k), fi, d, err);
	}
	if (ret == 0)
		merge(c);
out:
	json_val_free(root);
	return ret;
}

/* Serialises the syncs of one run_dir: two would delete the same stale element. */
static int lock_usage(const char *run_dir, int *fd, struct verr *err)
{
	char path[PATH_MAX];
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/usage.lock", run_dir) >= sizeof(path))
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	ret = file_mkdir_p(run_dir, 0755, err);
	return ret < 0 ? ret : file_lock(path, 0600, FILE_LOCK_WAIT_MS, fd, err);
}

/* The interfaces of the last tunnel up: "TUN UPLINK\n" in <run_dir>/usage.ifaces. */
static int ifaces_path(const char *run_dir, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s/usage.ifaces", run_dir) >= len ? -ENAMETOOLONG : 0;
}

static int save_ifaces(const char *run_dir, const struct usage_net *net, struct verr *err)
{
	char path[512], text[40];
	int n;

	if (ifaces_path(run_dir, path, sizeof(path)) < 0)
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	n = snprintf(text, sizeof(text), "%s %s\n", net->tun, net->uplink);
	return file_write_atomic(path, text, (size_t)n, 0644, err);
}

static bool load_ifaces(const char *run_dir, char *tun, char *uplink)
{
	char path[512];
	FILE *f;
	bool ok;

	if (ifaces_path(run_dir, path, sizeof(path)) < 0 || !(f = file_fopen_state(path)))
		return false;
	ok = fscanf(f, "%15s %15s", tun, uplink) == 2;
	fclose(f);
	return ok;
}

/* What the store's leases want of the kernel, worked out after the fold. */
struct want {
	const struct visp_config *cfg;
	int64_t now, period_start;
	struct cidr *cur;		/* current leases' addresses, sorted */
	size_t ncur, capcur;
	/* element lists being written: "a : 7650:1, " per map, "a, " per block set */
	char *maps_buf[2][2], *blocks_buf[2];
	size_t maps_len[2][2], blocks_len[2];
	FILE *mf[2][2], *bf[2];
	struct shaper_class *cls[2];	/* per direction */
	size_t ncls[2];
	unsigned next_minor;
	struct usage_report *rep;
};

static int push_cur(struct want *w, const struct cidr *a)
{
	struct cidr *nv;

	if (w->ncur == w->capcur) {
		w->capcur = w->capcur ? w->capcur * 2 : 256;
		nv = reallocarray(w->cur, w->capcur, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		w->cur = nv;
	}
	w->cur[w->ncur] = *a;
	w->cur[w->ncur].prefix = cidr_bits(a);
	w->ncur++;
	return 0;
}

static int push_class(struct want *w, int d, unsigned minor, uint64_t rate)
{
	struct shaper_class *nv = reallocarray(w->cls[d], w->ncls[d] + 1, sizeof(*nv));

	if (!nv)
		return -ENOMEM;
	w->cls[d] = nv;
	w->cls[d][w->ncls[d]++] = (struct shaper_class){ .minor = (uint16_t)minor, .rate = rate };
	return 0;
}

static int want_lease(const struct lease *l, void *arg)
{
	struct want *w = arg;
	const struct cidr *a[2] = { l->has_ipv4 ? &l->ipv4 : NULL, l->has_ipv6 ? &l->ipv6 : NULL };
	uint64_t rate[2];
	struct usage_limits lim;
	char buf[CIDR_STRLEN];
	unsigned minor;
	uint32_t id;

	if (!lease_is_current(l, w->now))
		return 0;
	usage_limits(w->cfg, l, w->period_start, &lim);
	rate[0] = lim.rate_down;
	rate[1] = lim.rate_up;
	for (int fi = 0; fi < 2; fi++)
		if (a[fi] && push_cur(w, a[fi]) < 0)
			return -ENOMEM;
	if (lim.state == QUOTA_BLOCKED) {
		w->rep->blocked++;
		for (int fi = 0; fi < 2; fi++)
			if (a[fi])
				fprintf(w->bf[fi], "%s, ", cidr_format(a[fi], false, buf, sizeof(buf)));
		return 0;
	}
	if (lim.state == QUOTA_THROTTLED)
		w->rep->throttled++;
	if (!rate[0] && !rate[1])
		return 0;
	if (w->next_minor > SHAPER_MINOR_MAX)
		return 0;	/* more limited leases than HTB has classes: reported by the caller */
	minor = w->next_minor++;
	w->rep->limited++;
	id = shaper_classid((uint16_t)minor);
	for (int d = 0; d < 2; d++) {
		if (!rate[d])
			continue;
		if (push_class(w, d, minor, rate[d]) < 0)
			return -ENOMEM;
		for (int fi = 0; fi < 2; fi++)
			if (a[fi])
				fprintf(w->mf[fi][d], "%s : %x:%x, ",
					cidr_format(a[fi], false, buf, sizeof(buf)), id >> 16,
					id & 0xffff);
	}
	return 0;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct cidr *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->addr, y->addr, sizeof(x->addr));
}

static void want_free(struct want *w)
{
	for (int fi = 0; fi < 2; fi++) {
		for (int d = 0; d < 2; d++) {
			if (w->mf[fi][d])
				fclose(w->mf[fi][d]);
			free(w->maps_buf[fi][d]);
		}
		if (w->bf[fi])
			fclose(w->bf[fi]);
		free(w->blocks_buf[fi]);
	}
	free(w->cls[0]);
	free(w->cls[1]);
	free(w->cur);
}

/* "add element T name { a, b, }" (nft takes the trailing comma) from a memstream. */
static void put_elements(FILE *f, const char *name, FILE *src, char *const *buf,
			 const size_t *len)
{
	fflush(src);	/* only now are *buf and *len up to date */
	if (*len)
		fprintf(f, "add element " T " %s { %s }\n", name, *buf);
}

/*
 * One transaction: the maps and the block sets replaced, and the elements
 * of addresses no current lease holds deleted (each direction's set only
 * holds some of them).
 */
static int kernel_text(struct want *w, const struct usage_counters *c, char **out,
		       struct verr *err)
{
	char *buf = NULL, abuf[CIDR_STRLEN];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	*out = NULL;
	if (!f)
		return verr_set(err, -ENOMEM, "out of memory");
	for (int fi = 0; fi < 2; fi++) {
		for (int d = 0; d < 2; d++) {
			fprintf(f, "flush map " T " %s\n", class_map[fi][d]);
			put_elements(f, class_map[fi][d], w->mf[fi][d], &w->maps_buf[fi][d],
				     &w->maps_len[fi][d]);
		}
		fprintf(f, "flush set " T " %s\n", block_set[fi]);
		put_elements(f, block_set[fi], w->bf[fi], &w->blocks_buf[fi], &w->blocks_len[fi]);
	}
	if (w->ncur)
		qsort(w->cur, w->ncur, sizeof(*w->cur), cmp_addr);
	for (size_t i = 0; i < c->n; i++) {
		const struct leasedb_counter *x = &c->v[i];
		int fi = x->addr.family == AF_INET6;

		if (w->ncur && bsearch(&x->addr, w->cur, w->ncur, sizeof(*w->cur), cmp_addr))
			continue;
		w->rep->stale++;
		cidr_format(&x->addr, false, abuf, sizeof(abuf));
		/* Only the sets that hold it: deleting a missing element fails the transaction. */
		for (int d = 0; d < 2; d++)
			if (x->sets & (1u << d))
				fprintf(f, "delete element " T " %s { %s }\n", count_set[fi][d],
					abuf);
	}
	return memstream_finish(f, &buf, out, err);
}

/* The table's identity across folds: a reboot starts handles again, so the boot id too. */
static void table_id(int64_t handle, char *buf, size_t len)
{
	char boot[64];

	nft_boot_id(boot, sizeof(boot));
	snprintf(buf, len, "%s/%lld", boot, (long long)handle);
}

/* The HTB side: down classes on the tun, up on the uplink; none there, no qdisc. */
static void shape(struct want *w, const char *run_dir, struct usage_report *rep)
{
	char ifs[2][16];
	struct verr e;
	bool ok = true;

	if (!load_ifaces(run_dir, ifs[0], ifs[1])) {
		if (w->ncls[0] || w->ncls[1])
			verr_set(&rep->shaper, -ENOENT, "no interfaces recorded (run 'visp tunnel "
				 "up'): rate limits are not applied");
		return;
	}
	/* Each interface on its own: one that cannot be shaped leaves the other shaped. */
	for (int d = 0; d < 2; d++) {
		e = (struct verr){ 0 };
		if ((w->ncls[d] ? shaper_apply(ifs[d], w->cls[d], w->ncls[d], &e)
				: shaper_remove(ifs[d], &e)) < 0) {
			if (ok)
				rep->shaper = e;
			ok = false;
		}
	}
	if (ok && w->next_minor > SHAPER_MINOR_MAX + 1)
		verr_set(&rep->shaper, -E2BIG, "more than %u limited leases: the rest are not "
			 "limited", SHAPER_MINOR_MAX);
	rep->shaped = ok && !rep->shaper.code;
}

/*
 * The table's handle and the counting sets' elements. Not "list table": it
 * would bring the class maps too, as many elements again, for nothing.
 * -ENOENT when the table is not there.
 */
static int read_counters(struct usage_counters *c, struct verr *err)
{
	char *out = NULL, cmd[128];
	int ret;

	ret = nft_run_json("list tables " NFT_FAMILY, &out, err);
	if (ret == 0)
		ret = usage_parse_listing(out, c, err);
	if (ret == 0 && c->handle < 0)
		ret = -ENOENT;
	for (int k = 0; ret == 0 && k < 4; k++) {
		free(out);
		out = NULL;
		snprintf(cmd, sizeof(cmd), "list set " T " %s", count_set[k / 2][k % 2]);
		ret = nft_run_json(cmd, &out, err);
		if (ret == 0)
			ret = usage_parse_listing(out, c, err);
	}
	free(out);
	return ret;
}

static int sync_locked(struct leasedb *db, const struct visp_config *cfg, int64_t now,
		       struct usage_report *rep, struct verr *err)
{
	struct want w = { .cfg = cfg, .now = now, .period_start = usage_period_start(cfg, now),
			  .next_minor = 1, .rep = rep };
	struct usage_counters c = { .handle = -1 };
	char *tx = NULL, id[128];
	int64_t t0 = mono_ms(), t1;
	int ret;

	ret = read_counters(&c, err);
	if (ret == -ENOENT || ret == -EPERM) {
		/* No tunnel up since boot, or not root: nothing counted here. */
		verr_clear(err);
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	rep->counting = true;
	table_id(c.handle, id, sizeof(id));
	ret = leasedb_fold(db, c.v, c.n, id, w.period_start, now, &rep->folded, err);
	if (ret < 0)
		goto out;
	for (int fi = 0; fi < 2; fi++) {
		for (int d = 0; d < 2; d++)
			w.mf[fi][d] = open_memstream(&w.maps_buf[fi][d], &w.maps_len[fi][d]);
		w.bf[fi] = open_memstream(&w.blocks_buf[fi], &w.blocks_len[fi]);
		if (!w.mf[fi][0] || !w.mf[fi][1] || !w.bf[fi]) {
			ret = verr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	ret = leasedb_foreach(db, want_lease, &w, err);
	if (ret == -ENOMEM)
		verr_set(err, ret, "out of memory");
	if (ret == 0)
		ret = kernel_text(&w, &c, &tx, err);
	t1 = mono_ms();
	rep->elapsed_ms[0] = t1 - t0;
	if (ret == 0)
		ret = nft_run(tx, NULL, err);
	if (ret < 0)
		goto out;
	rep->elapsed_ms[1] = mono_ms() - t1;
	t1 = mono_ms();
	shape(&w, cfg->run_dir, rep);
	rep->elapsed_ms[2] = mono_ms() - t1;
out:
	want_free(&w);
	usage_counters_free(&c);
	free(tx);
	return ret;
}

/* Under the lock: net's table and rules first when given (tunnel up), then the sync. */
static int up_or_sync(struct leasedb *db, const struct visp_config *cfg,
		      const struct usage_net *net, int64_t now, struct usage_report *rep,
		      struct verr *err)
{
	char *text = NULL;
	int fd = -1, ret = 0;

	memset(rep, 0, sizeof(*rep));
	if (net)
		ret = usage_table_text(net, &text, err);
	if (ret == 0)
		ret = lock_usage(cfg->run_dir, &fd, err);
	if (ret == 0 && net)
		ret = nft_run(text, NULL, err);
	if (ret == 0 && net)
		ret = save_ifaces(cfg->run_dir, net, err);
	if (ret == 0)
		ret = sync_locked(db, cfg, now, rep, err);
	if (ret < 0)
		verr_wrap(err, "usage");
	if (fd >= 0)
		close(fd);
	free(text);
	return ret;
}

int usage_sync(struct leasedb *db, const struct visp_config *cfg, int64_t now,
	       struct usage_report *rep, struct verr *err)
{
	return up_or_sync(db, cfg, NULL, now, rep, err);
}

int usage_up(struct leasedb *db, const struct visp_config *cfg, const struct usage_net *net,
	     int64_t now, struct usage_report *rep, struct verr *err)
{
	return up_or_sync(db, cfg, net, now, rep, err);
}

int usage_down(const char *run_dir, struct verr *err)
{
	char ifs[2][16], path[512];
	int fd = -1, ret;

	ret = lock_usage(run_dir, &fd, err);
	if (ret < 0)
		return ret;
	/* "add" first so that the delete cannot fail. */
	ret = nft_run("add table " T "\ndelete table " T "\n", NULL, err);
	if (ret == 0 && load_ifaces(run_dir, ifs[0], ifs[1])) {
		ret = shaper_remove(ifs[0], err);
		if (ret == 0)
			ret = shaper_remove(ifs[1], err);
	}
	if (ret == 0 && ifaces_path(run_dir, path, sizeof(path)) == 0 && unlink(path) < 0 &&
	    errno != ENOENT)
		ret = verr_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
	close(fd);
	return ret;
}
