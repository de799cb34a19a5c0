// SPDX-License-Identifier: GPL-3.0-or-later
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "gateway.h"
#include "iptunnel.h"
#include "json.h"
#include "key.h"
#include "pool.h"

/* Bulk admin calls: how many requests in flight at once. */
#define SYNC_WINDOW 64

struct gateway {
	const struct visp_config *cfg;
	struct cjdns *cj;
	struct pool *pool;
	struct leasedb *db;
	char key[KEY_BUFLEN], ip6[IP6_BUFLEN];	/* this node, from Core_nodeInfo (lazily) */
	int64_t pid;		/* cjdroute's pid (lazily); -1 unknown */
	bool recheck;		/* ask the pid again before using it (see gateway_handle_many) */
	int claims;		/* <state_dir>/grants.lock (see claim); -1 until needed */
};

static int open_gw(struct gateway **out, const struct visp_config *cfg, struct cjdns *cj,
		   bool ro, struct verr *err)
{
	struct gateway *gw = calloc(1, sizeof(*gw));
	int ret;

	if (!gw)
		return -ENOMEM;
	gw->cfg = cfg;
	gw->cj = cj;
	gw->pid = -1;
	gw->claims = -1;
	ret = gateway_check_routes(cfg, err);
	if (ret < 0)
		goto out;
	ret = pool_new(&gw->pool, cfg->ipv4_pool, cfg->ipv6_pool, cfg->max_leases, err);
	if (ret < 0) {
		verr_wrap(err, "%s", cfg->path ? cfg->path : "config");
		goto out;
	}
	ret = (ro ? leasedb_open_ro : leasedb_open)(&gw->db, cfg->state_dir, err);
	if (ret < 0)
		goto out;
	*out = gw;
	gw = NULL;
out:
	gateway_close(gw);
	return ret;
}

int gateway_open(struct gateway **out, const struct visp_config *cfg, struct cjdns *cj,
		 struct verr *err)
{
	return open_gw(out, cfg, cj, false, err);
}

int gateway_open_ro(struct gateway **out, const struct visp_config *cfg, struct verr *err)
{
	return open_gw(out, cfg, NULL, true, err);
}

void gateway_close(struct gateway *gw)
{
	if (!gw)
		return;
	if (gw->claims >= 0)
		close(gw->claims);
	leasedb_close(gw->db);
	pool_free(gw->pool);
	free(gw);
}

struct leasedb *gateway_db(struct gateway *gw)
{
	return gw->db;
}

static int need_cjdns(struct gateway *gw, struct verr *err)
{
	int64_t old = gw->pid;
	int ret;

	if (!gw->cj)
		return verr_set(err, -ENOTCONN, "no cjdns admin connection");
	if (gw->pid >= 0 && !gw->recheck)
		return 0;
	/*
	 * A serving process outlives a restart of cjdroute, whose connection
	 * numbers start again from 0: a number recorded under the old pid must
	 * not name an entry of the new one. The node's key and address cached
	 * for the old pid go too.
	 */
	gw->recheck = false;
	gw->pid = -1;
	ret = cjdns_pid(gw->cj, &gw->pid, err);
	if (ret < 0 || gw->pid != old)
		gw->key[0] = '\0';
	return ret;
}

/*
 * This node's key and address. A lease request already knows cjdroute's
 * pid, and they cannot change without a restart: the store remembers them
 * for that pid ("pid key ip6"), which saves each request a round trip.
 */
static int node_info(struct gateway *gw, struct verr *err)
{
	char cached[160], want[32];
	uint8_t raw[KEY_BYTES];
	size_t plen;
	int ret;

	if (gw->key[0])
		return 0;
	if (!gw->cj)
		return verr_set(err, -ENOTCONN, "no cjdns admin connection");
	plen = snprintf(want, sizeof(want), "%lld ", (long long)gw->pid);
	if (gw->pid >= 0 && leasedb_meta_get(gw->db, "cjdns_node", cached, sizeof(cached), NULL) == 0 &&
	    !strncmp(cached, want, plen) &&
	    sscanf(cached + plen, "%54s %39s", gw->key, gw->ip6) == 2 &&
	    key_parse(gw->key, raw, NULL) == 0)
		return 0;
	ret = cjdns_node_info(gw->cj, gw->key, gw->ip6, err);
	if (ret == 0 && gw->pid >= 0) {
		snprintf(cached, sizeof(cached), "%s%s %s", want, gw->key, gw->ip6);
		leasedb_meta_set(gw->db, "cjdns_node", cached, NULL);	/* only a cache */
	}
	if (ret < 0)
		gw->key[0] = '\0';
	return ret;
}

static bool offers_default(const struct visp_config *cfg)
{
	struct cidr r;
	bool dflt;

	for (size_t i = 0; i < cfg->routes.n; i++)
		if (proto_parse_route(cfg->routes.v[i], &r, &dflt, NULL) == 0 && dflt)
			return true;
	return cfg->routes.n == 0;	/* no routes configured: the internet */
}

int gateway_check_routes(const struct visp_config *cfg, struct verr *err)
{
	struct offer o;
	int ret = proto_set_routes(&o, (const char *const *)cfg->routes.v, cfg->routes.n, err);

	if (ret < 0)
		verr_wrap(err, "%s: routes", cfg->path ? cfg->path : "config");
	return ret;
}

/*
 * The allowConnection arguments of a lease. The prefix tells the client's
 * cjdns which routes to install: 0 gives it the /1 pair (a default route
 * that beats the host's own), the pool's prefix just the pool's network.
 */
static struct bval *allow_args(const struct gateway *gw, const struct lease *l)
{
	struct bval *a = bval_new_dict();
	bool dflt = offers_default(gw->cfg);
	char buf[CIDR_STRLEN];

	if (!a)
		return NULL;
	if (bval_dict_set(a, "publicKeyOfAuthorizedNode", bval_new_cstr(l->key)) < 0)
		goto fail;
	if (l->has_ipv4 &&
	    (bval_dict_set(a, "ip4Address", bval_new_cstr(cidr_format(&l->ipv4, false, buf,
								       sizeof(buf)))) < 0 ||
	     bval_dict_set(a, "ip4Prefix", bval_new_int(dflt ? 0 : l->ipv4.prefix)) < 0 ||
	     bval_dict_set(a, "ip4Alloc", bval_new_int(32)) < 0))
		goto fail;
	if (l->has_ipv6 &&
	    (bval_dict_set(a, "ip6Address", bval_new_cstr(cidr_format(&l->ipv6, false, buf,
								       sizeof(buf)))) < 0 ||
	     bval_dict_set(a, "ip6Prefix", bval_new_int(dflt ? 0 : l->ipv6.prefix)) < 0 ||
	     bval_dict_set(a, "ip6Alloc", bval_new_int(128)) < 0))
		goto fail;
	return a;
fail:
	bval_free(a);
	return NULL;
}

static struct bval *conn_args(int64_t conn)
{
	struct bval *a = bval_new_dict();

	if (a && bval_dict_set(a, "connection", bval_new_int(conn)) < 0) {
		bval_free(a);
		return NULL;
	}
	return a;
}

/* Does a showConnection reply describe exactly this lease? */
static bool entry_matches(const struct bval *reply, const struct lease *l)
{
	struct iptunnel_conn tc;

	if (iptunnel_parse_conn(reply, &tc) < 0 || strcmp(tc.key, l->key) || tc.outgoing)
		return false;
	if (l->has_ipv4 != tc.has4 || l->has_ipv6 != tc.has6)
		return false;
	return (!tc.has4 || !memcmp(tc.ip4.addr, l->ipv4.addr, 4)) &&
	       (!tc.has6 || !memcmp(tc.ip6.addr, l->ipv6.addr, 16));
}

/* Make cjdns allow l (stale entry removed first) and record the new number. */
static int allow_lease(struct gateway *gw, const struct lease *l, struct verr *err)
{
	struct bval *a = NULL, *reply = NULL;
	int64_t conn;
	int ret;

	if (l->conn >= 0 && l->conn_pid == gw->pid) {
		ret = cjdns_remove_connection(gw->cj, l->conn, err);
		if (ret < 0)
			return ret;
	}
	a = allow_args(gw, l);
	if (!a)
		return -ENOMEM;
	ret = cjdns_call(gw->cj, "IpTunnel_allowConnection", a, &reply, err);
	if (ret == 0 && bval_dict_int(reply, "connection", &conn) < 0)
		ret = verr_set(err, -EBADMSG, "IpTunnel_allowConnection: reply has no connection");
	if (ret == 0)
		ret = leasedb_set_conn(gw->db, l->key, conn, gw->pid, err);
	bval_free(a);
	bval_free(reply);
	return ret;
}

/* Is l's recorded connection in place in this cjdroute, exactly as it should be? */
static bool conn_in_place(struct gateway *gw, const struct lease *l)
{
	struct bval *a, *reply = NULL;
	bool ok;

	if (l->conn < 0 || l->conn_pid != gw->pid)
		return false;
	a = conn_args(l->conn);
	ok = a && cjdns_call(gw->cj, "IpTunnel_showConnection", a, &reply, NULL) == 0 &&
	     entry_matches(reply, l);
	bval_free(a);
	bval_free(reply);
	return ok;
}

/*
 * A lease request between its allowConnection and the recording of the
 * number has made an entry the store does not know yet: a lease sync
 * scanning for strays meanwhile must not remove it, or that client has
 * none until the next sync. The request claims its key for that time: a
 * write lock on one byte of grants.lock, at an offset hashed from the key
 * (an open file description lock: a killed process loses it, and a
 * collision only makes a sync leave a stray for the next one).
 */
static off_t claim_offset(const char *key)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h & 0x7fffffff;
}

static int claims_open(struct gateway *gw, struct verr *err)
{
	int fd;

	if (gw->claims >= 0)
		return 0;
	/* No link followed, owned by the state directory's owner (leasedb.h). */
	fd = leasedb_state_open(gw->db, "grants.lock", err);
	if (fd < 0)
		return fd;
	gw->claims = fd;
	return 0;
}

static int claim_op(struct gateway *gw, const char *key, int cmd, short type, struct verr *err)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = claim_offset(key),
			    .l_len = 1 };
	int ret = claims_open(gw, err);

	while (ret == 0 && fcntl(gw->claims, cmd, &fl) < 0)
		if (errno != EINTR)
			ret = verr_set(err, -errno, "cannot lock grants.lock: %s", strerror(errno));
	return ret < 0 ? ret : fl.l_type;
}

int gateway_claim(struct gateway *gw, const char *key, struct verr *err)
{
	int ret = claim_op(gw, key, F_OFD_SETLKW, F_WRLCK, err);

	return ret < 0 ? ret : 0;
}

void gateway_unclaim(struct gateway *gw, const char *key)
{
	claim_op(gw, key, F_OFD_SETLK, F_UNLCK, NULL);
}

/* Does another process hold key's claim? */
static bool claimed(struct gateway *gw, const char *key)
{
	return claim_op(gw, key, F_OFD_GETLK, F_WRLCK, NULL) == F_WRLCK;
}

/* The cjdns half of a grant whose lease is on disk: allow it unless it is in place. */
static int grant_apply(struct gateway *gw, const char *key, bool is_new, struct lease *out,
		       struct verr *err)
{
	int ret;

	if (!is_new && conn_in_place(gw, out))
		return 0;
	ret = gateway_claim(gw, key, err);
	if (ret < 0)
		return ret;
	ret = allow_lease(gw, out, err);
	gateway_unclaim(gw, key);
	if (ret == 0)
		ret = leasedb_get(gw->db, key, out, err);
	return ret;
}

void gateway_grant_many(struct gateway *gw, struct gateway_grant *v, size_t n)
{
	struct verr gerr = { 0 };
	uint8_t raw[KEY_BYTES];
	int ret;

	for (size_t i = 0; i < n; i++) {
		verr_clear(&v[i].err);
		v[i].ret = key_parse(v[i].key, raw, &v[i].err);
		if (v[i].ret < 0)
			verr_wrap(&v[i].err, "'%s'", v[i].key);
	}
	/* cjdns first: a gateway whose cjdns is down hands out nothing. */
	gw->recheck = true;
	ret = need_cjdns(gw, &gerr);
	if (ret == 0)
		ret = leasedb_group_begin(gw->db, &gerr);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (v[i].ret == 0)
			v[i].ret = leasedb_grant(gw->db, gw->pool, v[i].key, v[i].name, v[i].want4,
						 v[i].want6, gw->cfg->lease_time,
						 (int64_t)time(NULL), &v[i].lease, &v[i].is_new,
						 &v[i].err);
	/* Nobody is told of a lease, nor is it allowed, before the group is on disk. */
	if (ret == 0)
		ret = leasedb_group_end(gw->db, true, &gerr);
	for (size_t i = 0; i < n; i++) {
		if (v[i].ret < 0)
			continue;
		if (ret < 0) {
			v[i].ret = ret;
			v[i].err = gerr;
			continue;
		}
		/*
		 * The same key twice in a group (a client that asked twice at once):
		 * the second renewal must see the connection the first one made, or
		 * it allows the key a second time and cjdns holds a duplicate.
		 */
		for (size_t j = 0; j < i; j++)
			if (v[j].ret == 0 && !strcmp(v[j].key, v[i].key)) {
				v[i].is_new = false;
				v[i].ret = leasedb_get(gw->db, v[i].key, &v[i].lease, &v[i].err);
				break;
			}
		if (v[i].ret == 0)
			v[i].ret = grant_apply(gw, v[i].key, v[i].is_new, &v[i].lease, &v[i].err);
	}
}

int gateway_grant(struct gateway *gw, const char *key, const char *name, const struct cidr *want4,
		  const struct cidr *want6, struct lease *out, struct verr *err)
{
	struct gateway_grant g = { .key = key, .name = name, .want4 = want4, .want6 = want6 };

	gateway_grant_many(gw, &g, 1);
	*out = g.lease;
	*err = g.err;
	return g.ret;
}

int gateway_revoke(struct gateway *gw, const char *key, struct lease *old, struct verr *err)
{
	struct lease l;
	int ret;

	ret = leasedb_revoke(gw->db, key, &l, err);
	if (ret < 0)
		return ret;
	if (old)
		*old = l;
	if (l.conn < 0 || !gw->cj)
		return 0;	/* lease sync removes the connection later */
	ret = need_cjdns(gw, err);
	if (ret == 0 && l.conn_pid == gw->pid)
		ret = cjdns_remove_connection(gw->cj, l.conn, err);
	/*
	 * The store already says revoked (that is what counts, and a second
	 * revoke would only say "no lease"): tell what is left to do.
	 */
	if (ret < 0)
		return verr_wrap(err, "revoked in the lease store, but cjdns may still allow %s "
				 "until 'visp lease sync'", key);
	return leasedb_set_conn(gw->db, key, -1, -1, err);
}

/* ---- lease sync ---- */

/*
 * Leases are synced SYNC_CHUNK at a time, the requests of each step of a
 * chunk kept in flight together: memory stays bounded whatever the store
 * holds, and the pipeline drains only once per chunk.
 */
#define SYNC_CHUNK 256

struct expire_ctx {
	struct gateway *gw;
	struct sync_report *rep;
};

static int expire_one(const struct lease *l, void *arg)
{
	struct expire_ctx *c = arg;
	int ret = 0;

	/* A number from an earlier cjdroute run names nothing now. */
	if (l->conn_pid == c->gw->pid)
		ret = cjdns_remove_connection(c->gw->cj, l->conn, NULL);
	if (ret == 0)
		c->rep->removed_expired++;
	return ret;
}

/* The requests of one bulk call. */
struct batch {
	struct cjdns_req r[SYNC_CHUNK];
	size_t idx[SYNC_CHUNK];		/* what each request is about (a lease, a number) */
	size_t n;
};

static int batch_add(struct batch *b, const char *fn, struct bval *args, size_t idx)
{
	if (!args)
		return -ENOMEM;
	b->r[b->n] = (struct cjdns_req){ .fn = fn, .args = args };
	b->idx[b->n++] = idx;
	return 0;
}

static int batch_run(struct gateway *gw, struct batch *b, struct verr *err)
{
	return cjdns_call_many(gw->cj, b->r, b->n, SYNC_WINDOW, err);
}

static void batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		bval_free(b->r[i].args);
		bval_free(b->r[i].reply);
	}
	b->n = 0;
}

/* Connection numbers of this cjdroute that belong to current leases. */
struct conns {
	int64_t *v;
	size_t n, cap;
};

static int conns_add(struct conns *c, int64_t conn)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		int64_t *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = conn;
	return 0;
}

/*
 * Bring one chunk of current leases in line: which are in place (one
 * showConnection each; IpTunnel_listConnections cannot be used, it aborts
 * cjdroute once its reply passes 64 KiB, about 9,000 entries), remove the
 * wrong entries of this run (a duplicate would shadow the new one), allow
 * what is missing, and record the new numbers in one transaction.
 */
static int sync_chunk(struct gateway *gw, struct lease *v, size_t n, struct batch *b,
		      struct conns *ours, struct sync_report *rep, struct verr *err)
{
	struct leasedb_conn rec[SYNC_CHUNK];
	bool ok[SYNC_CHUNK] = { false };
	size_t nrec = 0;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < n; i++)
		if (v[i].conn >= 0 && v[i].conn_pid == gw->pid)
			ret = batch_add(b, "IpTunnel_showConnection", conn_args(v[i].conn), i);
	if (ret == 0)
		ret = batch_run(gw, b, err);
	for (size_t j = 0; ret == 0 && j < b->n; j++)
		ok[b->idx[j]] = b->r[j].ret == 0 && entry_matches(b->r[j].reply, &v[b->idx[j]]);
	batch_clear(b);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (!ok[i] && v[i].conn >= 0 && v[i].conn_pid == gw->pid)
			ret = batch_add(b, "IpTunnel_removeConnection", conn_args(v[i].conn), i);
	if (ret == 0)
		ret = batch_run(gw, b, err);
	batch_clear(b);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		if (ok[i]) {
			rep->checked++;
			ret = conns_add(ours, v[i].conn);
		} else {
			ret = batch_add(b, "IpTunnel_allowConnection", allow_args(gw, &v[i]), i);
		}
	}
	if (ret == 0)
		ret = batch_run(gw, b, err);
	/*
	 * What was added is recorded even when some requests failed (cjdns
	 * went away mid-batch): left unrecorded, those entries would all be
	 * duplicates for the next sync.
	 */
	for (size_t j = 0; j < b->n; j++) {
		int64_t conn;

		if (b->r[j].ret < 0 || bval_dict_int(b->r[j].reply, "connection", &conn) < 0) {
			rep->failed++;
			continue;
		}
		rec[nrec++] = (struct leasedb_conn){ v[b->idx[j]].key, conn, gw->pid };
		if (ret == 0)
			ret = conns_add(ours, conn);
	}
	batch_clear(b);
	if (nrec) {
		int r = leasedb_set_conns(gw->db, rec, nrec, NULL, ret < 0 ? NULL : err);

		if (r == 0)
			rep->added += nrec;
		else if (ret == 0)
			ret = r;
	}
	return ret;
}

static int cmp_conn(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Run one batch of showConnections and sort what it found: an entry for a
 * key the store knows is removed unless it is that key's recorded entry;
 * anything else is counted and left alone. *seen: the highest number that
 * holds an entry.
 */
static int sort_strangers(struct gateway *gw, struct batch *b, struct batch *rm, int64_t *seen,
			  struct sync_report *rep, struct verr *err)
{
	int ret = batch_run(gw, b, err);

	for (size_t j = 0; ret == 0 && j < b->n; j++) {
		int64_t c = (int64_t)b->idx[j];
		const char *key = bval_dict_str(b->r[j].reply, "key");
		struct iptunnel_conn tc;
		struct lease l;

		if (b->r[j].ret < 0)
			continue;	/* not found: a removed number */
		if (c > *seen)
			*seen = c;
		/* By its key alone: an entry with a malformed address is sorted too. */
		iptunnel_parse_conn(b->r[j].reply, &tc);
		if (!key || tc.outgoing)
			continue;	/* this node's own connectTo: not a lease */
		/* First: a request that releases its claim has recorded its number. */
		if (claimed(gw, key))
			continue;
		ret = leasedb_get(gw->db, key, &l, NULL);
		if (ret == -ENOENT || ret == -EINVAL) {
			rep->foreign++;
			ret = 0;
			continue;
		}
		if (ret < 0) {
			verr_set(err, ret, "lease store: cannot look up %s", key);
			break;
		}
		/* Our list was read before: a grant may have made and recorded it since. */
		if (l.conn == c && l.conn_pid == gw->pid)
			continue;
		ret = batch_add(rm, "IpTunnel_removeConnection", conn_args(c), (size_t)c);
	}
	if (ret == 0)
		ret = batch_run(gw, rm, err);
	for (size_t j = 0; ret == 0 && j < rm->n; j++)
		rep->removed_dups += rm->r[j].ret == 0;
	batch_clear(b);
	batch_clear(rm);
	return ret;
}

/*
 * Find the entries visp did not make and the stale ones it did, without
 * IpTunnel_listConnections: connection numbers rise and are never reused,
 * so look at every number up to the highest we know plus SCAN_SLACK, but
 * ours, and on past that for as long as entries keep turning up near the
 * end: an allowConnection carried out whose reply was lost (retried, or
 * its process killed before recording the number) leaves an entry above
 * every number the store knows. At most SCAN_MAX past ours, whatever
 * cjdns answers. An entry for a key the store knows (a duplicate, a
 * revoked lease whose number was lost in a crash) is removed: it would
 * shadow the right entry or keep a revoked client connected.
 */
#define SCAN_SLACK 32
#define SCAN_MAX (1 << 20)

static int scan_strangers(struct gateway *gw, struct conns *ours, struct batch *b,
			  struct batch *rm, struct sync_report *rep, struct verr *err)
{
	int64_t top = -1, end, seen = -1;
	size_t k = 0;
	int ret = 0;

	if (ours->n) {
		qsort(ours->v, ours->n, sizeof(*ours->v), cmp_conn);
		top = ours->v[ours->n - 1];
	}
	end = top + SCAN_SLACK;
	for (int64_t c = 0; ret == 0 && c <= end; c++) {
		while (k < ours->n && ours->v[k] < c)
			k++;
		if (k == ours->n || ours->v[k] != c)
			ret = batch_add(b, "IpTunnel_showConnection", conn_args(c), (size_t)c);
		if (ret == 0 && b->n && (b->n == SYNC_CHUNK || c == end)) {
			ret = sort_strangers(gw, b, rm, &seen, rep, err);
			if (seen + SCAN_SLACK > end)
				end = seen + SCAN_SLACK < top + SCAN_MAX ? seen + SCAN_SLACK
									 : top + SCAN_MAX;
		}
	}
	return ret;
}

/*
 * One sync at a time (a timer's, tunnel up's, an operator's): two would
 * each allow what the other is allowing, and take the other's fresh
 * entries for strangers. Waited for with a deadline: a sync is bounded by
 * its admin timeouts.
 */
#define SYNC_LOCK_WAIT_MS 60000

static int sync_lock(struct gateway *gw, int *fd, struct verr *err)
{
	char path[PATH_MAX];
	int ret;

	snprintf(path, sizeof(path), "%s/sync.lock", gw->cfg->state_dir);
	/* No link followed, owned by the state directory's owner (leasedb.h). */
	*fd = leasedb_state_open(gw->db, "sync.lock", err);
	if (*fd < 0)
		return *fd;
	ret = file_flock(*fd, SYNC_LOCK_WAIT_MS);
	if (ret == -EBUSY)
		return verr_set(err, ret, "another lease sync has held '%s' for over %d s", path,
				SYNC_LOCK_WAIT_MS / 1000);
	if (ret < 0)
		return verr_set(err, ret, "cannot lock '%s': %s", path, strerror(-ret));
	return 0;
}

/* One pass against the cjdroute of gw->pid: expire, verify, add, remove strangers. */
static int sync_once(struct gateway *gw, struct sync_report *rep, struct verr *err)
{
	struct expire_ctx ec = { .gw = gw, .rep = rep };
	struct batch *b = calloc(2, sizeof(*b));
	struct lease *v = calloc(SYNC_CHUNK, sizeof(*v));
	struct conns ours = { 0 };
	int64_t now = time(NULL);
	int64_t cursor = 0;
	size_t n = SYNC_CHUNK;
	int ret = -ENOMEM;

	if (!b || !v)
		goto out;
	ret = leasedb_expire(gw->db, now, expire_one, &ec, NULL, err);
	while (ret == 0 && n == SYNC_CHUNK) {
		ret = leasedb_current_page(gw->db, &cursor, now, v, SYNC_CHUNK, &n, err);
		if (ret == 0)
			ret = sync_chunk(gw, v, n, &b[0], &ours, rep, err);
	}
	if (ret == 0)
		ret = scan_strangers(gw, &ours, &b[0], &b[1], rep, err);
out:
	if (b) {
		batch_clear(&b[0]);
		batch_clear(&b[1]);
	}
	free(b);
	free(v);
	free(ours.v);
	return ret;
}

int gateway_sync(struct gateway *gw, struct sync_report *rep, struct verr *err)
{
	char last[32] = "", pidstr[32];
	int64_t pid = -1, first = -1;
	int lockfd = -1, ret;

	memset(rep, 0, sizeof(*rep));
	ret = sync_lock(gw, &lockfd, err);
	if (ret < 0)
		goto out;
	/* A store that is not consistent must not be pushed into cjdns. */
	ret = leasedb_check(gw->db, NULL, time(NULL), err);
	if (ret == 0)
		ret = need_cjdns(gw, err);
	if (ret < 0)
		goto out;
	snprintf(pidstr, sizeof(pidstr), "%lld", (long long)gw->pid);
	if (leasedb_meta_get(gw->db, "cjdns_pid", last, sizeof(last), NULL) == 0)
		rep->restarted = strcmp(last, pidstr) != 0;
	/*
	 * A cjdroute that restarts under a sync loses what was added before,
	 * and what comes after is recorded under the old pid: the sync would
	 * succeed with clients missing. Its pid is asked again at the end, and
	 * the sync done once more if it changed.
	 */
	for (int pass = 0;; pass++) {
		ret = sync_once(gw, rep, err);
		if (ret == 0)
			ret = cjdns_pid(gw->cj, &pid, err);
		if (ret < 0 || pid == gw->pid)
			break;
		if (pass) {
			ret = verr_set(err, -EAGAIN, "cjdroute restarted during the sync, twice (pid "
				       "%lld, %lld, %lld): run it again", (long long)first,
				       (long long)gw->pid, (long long)pid);
			break;
		}
		first = gw->pid;
		gw->pid = pid;
		memset(rep, 0, sizeof(*rep));
		rep->restarted = rep->restarted_during = true;
	}
	snprintf(pidstr, sizeof(pidstr), "%lld", (long long)gw->pid);
	if (ret == 0)
		ret = leasedb_meta_set(gw->db, "cjdns_pid", pidstr, err);
	if (ret == 0 && rep->failed)
		ret = verr_set(err, -EIO, "%ld lease(s) could not be applied to cjdns", rep->failed);
out:
	if (lockfd >= 0)
		close(lockfd);	/* and the lock goes with it */
	return ret;
}

/* ---- the lease protocol ---- */

/* The protocol view of a lease. */
static int gateway_offer(struct gateway *gw, const struct lease *l, struct offer *o,
			 struct verr *err)
{
	const struct visp_config *cfg = gw->cfg;
	int ret;

	memset(o, 0, sizeof(*o));
	ret = node_info(gw, err);
	if (ret < 0)
		return ret;
	strcpy(o->public_key, l->key);
	strcpy(o->gateway_key, gw->key);
	o->has_ipv4 = l->has_ipv4;
	o->has_ipv6 = l->has_ipv6;
	o->ipv4 = l->ipv4;
	o->ipv6 = l->ipv6;
	o->expires = l->expires;
	/* Checked when the gateway was opened: every route is one a client takes. */
	proto_set_routes(o, (const char *const *)cfg->routes.v, cfg->routes.n, NULL);
	o->default_route = offers_default(cfg);
	for (int fam = 0; fam < 2; fam++)
		if (pool_gateway_addr(gw->pool, fam ? AF_INET6 : AF_INET,
				      &o->gateways[o->ngateways]) == 0)
			o->ngateways++;
	for (size_t i = 0; i < cfg->nameservers.n && o->nnameservers < PROTO_MAX_ADDRS; i++)
		if (cidr_parse_addr(cfg->nameservers.v[i], AF_UNSPEC,
				    &o->nameservers[o->nnameservers], NULL) == 0)
			o->nnameservers++;
	return 0;
}

/*
 * An error reply: msg is what the requester is told; err (the log's line)
 * keeps the library's own reason when there is one, else msg.
 */
static int reply_error(int status, const char *msg, char **json, struct verr *err)
{
	if (err->code)
		verr_wrap(err, "%s", msg);
	else
		verr_set(err, -EPERM, "%s", msg);
	*json = proto_error_json(msg);
	return *json ? status : 500;
}

/* Is the request's source address the fc00::/8 address of key? */
static bool from_key(const struct http_request *req, const char *key)
{
	struct cidr src, want;
	uint8_t raw[KEY_BYTES];

	if (cidr_parse_addr(req->remote_addr, AF_INET6, &src, NULL) < 0 ||
	    key_parse(key, raw, NULL) < 0)
		return false;
	want.family = AF_INET6;
	key_to_ip6(raw, want.addr);
	return !memcmp(src.addr, want.addr, 16);
}

/* allowlist: one key per line, '#' starts a comment. */
static bool allowed(const struct visp_config *cfg, const char *key)
{
	char line[256];
	bool found = false;
	FILE *f;

	if (strcmp(cfg->policy, "allowlist"))
		return true;
	f = fopen(cfg->allowlist, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		line[strcspn(line, "#")] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, " \t\r\n");
		*end = '\0';
		found = !strcmp(p, key);
	}
	fclose(f);
	return found;
}

static int lease_reply(struct gateway *gw, const struct lease *l, char **json, struct verr *err)
{
	struct offer o;

	if (gateway_offer(gw, l, &o, err) < 0)
		return reply_error(503, "the gateway's cjdns is not answering", json, err);
	*json = proto_offer_json(&o);
	return *json ? 200 : 500;
}

/* A POST /lease up to its grant: 0 when key may be granted, else the status of the reply. */
static int post_check(struct gateway *gw, const struct http_request *req, char key[KEY_BUFLEN],
		      char **json, struct verr *err)
{
	if (req->content_length < 0)
		return reply_error(411, "a body with Content-Length is required", json, err);
	if (proto_parse_lease_request(req->body ? req->body : "", req->body_len, key, err) < 0) {
		*json = proto_error_json(err->msg);	/* the requester's own mistake: say it */
		return *json ? 400 : 500;
	}
	if (!from_key(req, key))
		return reply_error(403, "the request does not come from the key's address", json, err);
	if (!allowed(gw->cfg, key))
		return reply_error(403, "this key is not on the gateway's allowlist", json, err);
	return 0;
}

/* The reply to a POST /lease once its grant is done (ret, err: the grant's). */
static int post_reply(struct gateway *gw, int ret, const struct lease *l, char **json,
		      struct verr *err)
{
	if (ret == -ENOSPC) {
		*json = proto_error_json(err->msg);	/* "pool ... is exhausted" */
		return *json ? 503 : 500;
	}
	if (ret < 0)
		return reply_error(503, "the gateway cannot grant leases right now", json, err);
	return lease_reply(gw, l, json, err);
}

/*
 * GET and DELETE name the key in the query (?public_key=KEY) and, like
 * POST, must come from its address.
 */
static int query_key(const struct http_request *req, char key[KEY_BUFLEN])
{
	const char *q = req->query;
	uint8_t raw[KEY_BYTES];

	if (strncmp(q, "public_key=", 11) || strlen(q + 11) != KEY_STRLEN)
		return -EINVAL;
	memcpy(key, q + 11, KEY_STRLEN + 1);
	return key_parse(key, raw, NULL);
}

static int handle_lease_get_delete(struct gateway *gw, const struct http_request *req, char **json,
				   struct verr *err)
{
	bool del = !strcmp(req->method, "DELETE");
	struct lease l;
	char key[KEY_BUFLEN];
	int ret;

	if (query_key(req, key) < 0)
		return reply_error(400, "name the key: ?public_key=KEY", json, err);
	if (!from_key(req, key))
		return reply_error(403, "the request does not come from the key's address", json, err);
	ret = leasedb_get(gw->db, key, &l, err);
	if (ret == -ENOENT || (ret == 0 && !lease_is_current(&l, time(NULL)))) {
		verr_clear(err);
		return reply_error(404, "no lease for this key", json, err);
	}
	if (ret < 0)
		return reply_error(503, "the lease store is not available", json, err);
	if (!del)
		return lease_reply(gw, &l, json, err);
	ret = gateway_revoke(gw, key, NULL, err);
	if (ret < 0 && ret != -ENOENT)
		return reply_error(503, "the lease could not be released", json, err);
	*json = strdup("{\"released\":true}");
	return *json ? 200 : 500;
}

static int handle_tunnels(struct gateway *gw, char **json, struct verr *err)
{
	struct json *j = NULL;
	struct offer o;
	struct lease none = { .conn = -1, .conn_pid = -1 };
	char url[128], buf[CIDR_STRLEN];
	const char *text;
	long cur = 0;
	int64_t cap;

	if (gateway_offer(gw, &none, &o, err) < 0)
		return reply_error(503, "the gateway's cjdns is not answering", json, err);
	leasedb_count(gw->db, time(NULL), &cur, NULL);
	cap = (int64_t)pool_capacity(gw->pool);
	snprintf(url, sizeof(url), "http://[%s]:%d/lease", gw->ip6, VISP_LEASE_PORT);
	j = json_new(false);
	if (!j)
		return 500;
	json_arr(j);
	json_obj(j);
	json_kstr(j, "public_key", gw->key);
	json_kstr(j, "lease", url);
	json_key(j, "routes");
	json_arr(j);
	if (o.default_route)
		json_str(j, "default");
	for (int i = 0; i < o.nroutes; i++)
		json_str(j, cidr_format(&o.routes[i], true, buf, sizeof(buf)));
	json_end_arr(j);
	json_kbool(j, "ipv4", pool_net(gw->pool, AF_INET) != NULL);
	json_kbool(j, "ipv6", pool_net(gw->pool, AF_INET6) != NULL);
	json_kint(j, "free", cap > cur ? cap - cur : 0);
	json_end_obj(j);
	json_end_arr(j);
	text = json_text(j, NULL);
	*json = text ? strdup(text) : NULL;
	json_free(j);
	return *json ? 200 : 500;
}

static int handle_nameservers(struct gateway *gw, char **json)
{
	struct json *j = json_new(false);
	const char *text;

	if (!j)
		return 500;
	json_arr(j);
	for (size_t i = 0; i < gw->cfg->nameservers.n; i++)
		json_str(j, gw->cfg->nameservers.v[i]);
	json_end_arr(j);
	text = json_text(j, NULL);
	*json = text ? strdup(text) : NULL;
	json_free(j);
	return *json ? 200 : 500;
}

const char *gateway_allow(const char *path)
{
	if (!strcmp(path, "/lease"))
		return "GET, POST, DELETE";
	if (!strcmp(path, "/tunnels") || !strcmp(path, "/nameservers"))
		return "GET";
	return NULL;
}

/* Answer one request, but a POST /lease that may be granted: 0, and its key in key. */
static int route(struct gateway *gw, const struct http_request *req, char key[KEY_BUFLEN],
		 char **json, struct verr *err)
{
	const char *m = req->method;

	*json = NULL;
	verr_clear(err);
	if (!strcmp(req->path, "/lease")) {
		if (!strcmp(m, "POST"))
			return post_check(gw, req, key, json, err);
		if (!strcmp(m, "GET") || !strcmp(m, "DELETE"))
			return handle_lease_get_delete(gw, req, json, err);
		return reply_error(405, "use GET, POST or DELETE", json, err);
	}
	if (!strcmp(req->path, "/tunnels") || !strcmp(req->path, "/nameservers")) {
		if (strcmp(m, "GET"))
			return reply_error(405, "use GET", json, err);
		return req->path[1] == 't' ? handle_tunnels(gw, json, err) : handle_nameservers(gw, json);
	}
	return reply_error(404, "no such resource", json, err);
}

/*
 * The grants of every POST /lease among the jobs go through one group
 * commit (gateway_grant_many); the other requests are answered one by one.
 */
void gateway_handle_many(struct gateway *gw, struct gateway_job *v, size_t n)
{
	struct gateway_grant *g = calloc(n, sizeof(*g));
	char (*keys)[KEY_BUFLEN] = calloc(n, sizeof(*keys));
	size_t *who = calloc(n, sizeof(*who)), ng = 0;

	gw->recheck = true;	/* a serving process: cjdroute may have restarted since */
	for (size_t i = 0; i < n; i++) {
		if (!g || !keys || !who) {
			verr_set(&v[i].err, -ENOMEM, "out of memory");
			v[i].json = NULL;
			v[i].status = 503;
			continue;
		}
		v[i].status = route(gw, v[i].req, keys[ng], &v[i].json, &v[i].err);
		if (v[i].status == 0) {
			g[ng].key = keys[ng];
			who[ng++] = i;
		}
	}
	if (ng)
		gateway_grant_many(gw, g, ng);
	for (size_t k = 0; k < ng; k++) {
		struct gateway_job *j = &v[who[k]];

		j->err = g[k].err;
		j->status = post_reply(gw, g[k].ret, &g[k].lease, &j->json, &j->err);
	}
	free(g);
	free(keys);
	free(who);
}

int gateway_handle(struct gateway *gw, const struct http_request *req, char **json,
		   struct verr *err)
{
	struct gateway_job j = { .req = req };

	gateway_handle_many(gw, &j, 1);
	*json = j.json;
	*err = j.err;
	return j.status;
}
