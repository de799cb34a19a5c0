// SPDX-License-Identifier: GPL-3.0-or-later
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "json.h"
#include "key.h"
#include "pool.h"

/* Bulk admin calls: how many requests in flight at once. */
#define SYNC_WINDOW 64
/*
 * Past the highest connection number we know, how far to look for strangers;
 * and past the last one found there, how far to look on. At most SCAN_MAX
 * past ours, whatever a cjdns answers.
 */
#define SCAN_SLACK 32
#define SCAN_MAX (1 << 20)
/* How long a lease sync waits for another one to finish. */
#define SYNC_LOCK_WAIT_MS 60000

struct gateway {
	const struct visp_config *cfg;
	struct cjdns *cj;
	struct pool *pool;
	struct leasedb *db;
	char key[55], ip6[40];	/* this node, from Core_nodeInfo (lazily) */
	int64_t pid;		/* cjdroute's pid (lazily); -1 unknown */
};

int gateway_open(struct gateway **out, const struct visp_config *cfg, struct cjdns *cj,
		 struct verr *err)
{
	struct gateway *gw = calloc(1, sizeof(*gw));
	int ret;

	if (!gw)
		return -ENOMEM;
	gw->cfg = cfg;
	gw->cj = cj;
	gw->pid = -1;
	ret = pool_new(&gw->pool, cfg->ipv4_pool, cfg->ipv6_pool, cfg->max_leases, err);
	if (ret < 0) {
		verr_wrap(err, "%s", cfg->path ? cfg->path : "config");
		goto out;
	}
	ret = leasedb_open(&gw->db, cfg->state_dir, err);
	if (ret < 0)
		goto out;
	*out = gw;
	gw = NULL;
out:
	gateway_close(gw);
	return ret;
}

void gateway_close(struct gateway *gw)
{
	if (!gw)
		return;
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
	if (!gw->cj)
		return verr_set(err, -ENOTCONN, "no cjdns admin connection");
	if (gw->pid < 0)
		return cjdns_pid(gw->cj, &gw->pid, err);
	return 0;
}

static int node_info(struct gateway *gw, struct verr *err)
{
	if (gw->key[0])
		return 0;
	if (!gw->cj)
		return verr_set(err, -ENOTCONN, "no cjdns admin connection");
	return cjdns_node_info(gw->cj, gw->key, gw->ip6, err);
}

static bool offers_default(const struct visp_config *cfg)
{
	for (size_t i = 0; i < cfg->routes.n; i++)
		if (!strcmp(cfg->routes.v[i], "default"))
			return true;
	return cfg->routes.n == 0;	/* no routes configured: the internet */
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
	const char *key = bval_dict_str(reply, "key"), *a4 = bval_dict_str(reply, "ip4Address");
	const char *a6 = bval_dict_str(reply, "ip6Address");
	int64_t outgoing = 0;
	struct cidr c;

	bval_dict_int(reply, "outgoing", &outgoing);
	if (!key || strcmp(key, l->key) || outgoing)
		return false;
	if (l->has_ipv4 != (a4 != NULL) || l->has_ipv6 != (a6 != NULL))
		return false;
	if (a4 && (cidr_parse_addr(a4, AF_INET, &c, NULL) < 0 ||
		   memcmp(c.addr, l->ipv4.addr, 4)))
		return false;
	if (a6 && (cidr_parse_addr(a6, AF_INET6, &c, NULL) < 0 ||
		   memcmp(c.addr, l->ipv6.addr, 16)))
		return false;
	return true;
}

static int remove_conn(struct gateway *gw, int64_t conn, struct verr *err)
{
	struct bval *a = conn_args(conn), *reply = NULL;
	int ret;

	if (!a)
		return -ENOMEM;
	ret = cjdns_call(gw->cj, "IpTunnel_removeConnection", a, &reply, err);
	/* Already gone is what we wanted. */
	if (ret == -EREMOTEIO && bval_dict_str(reply, "error") &&
	    !strcmp(bval_dict_str(reply, "error"), "not_found"))
		ret = 0;
	bval_free(a);
	bval_free(reply);
	return ret;
}

/* Make cjdns allow l (stale entry removed first) and record the new number. */
static int allow_lease(struct gateway *gw, const struct lease *l, struct verr *err)
{
	struct bval *a = NULL, *reply = NULL;
	int64_t conn;
	int ret;

	if (l->conn >= 0 && l->conn_pid == gw->pid) {
		ret = remove_conn(gw, l->conn, err);
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

int gateway_grant(struct gateway *gw, const char *key, const char *name, const struct cidr *want4,
		  const struct cidr *want6, struct lease *out, struct verr *err)
{
	uint8_t raw[KEY_BYTES];
	bool is_new = true;
	int ret;

	ret = key_parse(key, raw, err);
	if (ret < 0)
		return verr_wrap(err, "'%s'", key);
	/* cjdns first: a gateway whose cjdns is down hands out nothing. */
	ret = need_cjdns(gw, err);
	if (ret < 0)
		return ret;
	ret = leasedb_grant(gw->db, gw->pool, key, name, want4, want6, gw->cfg->lease_time,
			    (int64_t)time(NULL), out, &is_new, err);
	if (ret < 0)
		return ret;
	if (!is_new && conn_in_place(gw, out))
		return 0;
	ret = allow_lease(gw, out, err);
	if (ret == 0)
		ret = leasedb_get(gw->db, key, out, err);
	return ret;
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
		ret = remove_conn(gw, l.conn, err);
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

struct leases {
	struct lease *v;
	size_t n, cap;
};

static int collect(const struct lease *l, void *arg)
{
	struct leases *ls = arg;

	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 256;
		struct lease *v = realloc(ls->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		ls->v = v;
		ls->cap = cap;
	}
	ls->v[ls->n++] = *l;
	return 0;
}

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
		ret = remove_conn(c->gw, l->conn, NULL);
	if (ret == 0)
		c->rep->removed_expired++;
	return ret;
}

/* Free the requests of a bulk call. */
static void free_reqs(struct cjdns_req *reqs, size_t n)
{
	for (size_t i = 0; reqs && i < n; i++) {
		bval_free(reqs[i].args);
		bval_free(reqs[i].reply);
	}
	free(reqs);
}

/*
 * Which current leases are in place? One showConnection per lease, many in
 * flight: IpTunnel_listConnections cannot be used, it aborts cjdroute once
 * its reply passes 64 KiB (about 9,000 entries).
 */
static int verify_in_place(struct gateway *gw, struct lease **cur, size_t n, bool *ok,
			   struct verr *err)
{
	struct cjdns_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t m = 0;
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	int ret = -ENOMEM;

	if (!reqs || !idx)
		goto out;
	for (size_t i = 0; i < n; i++) {
		ok[i] = false;
		if (cur[i]->conn < 0 || cur[i]->conn_pid != gw->pid)
			continue;
		reqs[m].fn = "IpTunnel_showConnection";
		reqs[m].args = conn_args(cur[i]->conn);
		if (!reqs[m].args)
			goto out;
		idx[m++] = i;
	}
	ret = cjdns_call_many(gw->cj, reqs, m, SYNC_WINDOW, err);
	if (ret < 0)
		goto out;
	for (size_t j = 0; j < m; j++)
		ok[idx[j]] = reqs[j].ret == 0 && entry_matches(reqs[j].reply, cur[idx[j]]);
out:
	free_reqs(reqs, m);
	free(idx);
	return ret;
}

/* Allow every lease that is not in place, many requests in flight. */
static int add_missing(struct gateway *gw, struct lease **cur, size_t n, const bool *ok,
		       struct sync_report *rep, struct verr *err)
{
	struct cjdns_req *reqs = calloc(n ? n : 1, sizeof(*reqs));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	size_t m = 0;
	int ret = -ENOMEM;

	if (!reqs || !idx)
		goto out;
	/* Wrong entries of this run go first: a duplicate would shadow the new one. */
	for (size_t i = 0; i < n; i++) {
		if (ok[i] || cur[i]->conn < 0 || cur[i]->conn_pid != gw->pid)
			continue;
		reqs[m].fn = "IpTunnel_removeConnection";
		if (!(reqs[m].args = conn_args(cur[i]->conn)))
			goto out;
		m++;
	}
	ret = cjdns_call_many(gw->cj, reqs, m, SYNC_WINDOW, err);
	if (ret < 0)
		goto out;
	free_reqs(reqs, m);
	reqs = calloc(n ? n : 1, sizeof(*reqs));
	m = 0;
	ret = -ENOMEM;
	if (!reqs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (ok[i])
			continue;
		reqs[m].fn = "IpTunnel_allowConnection";
		if (!(reqs[m].args = allow_args(gw, cur[i])))
			goto out;
		idx[m++] = i;
	}
	/*
	 * What was added is recorded even when some requests failed: left
	 * unrecorded, those entries would all be duplicates for the next sync.
	 */
	ret = cjdns_call_many(gw->cj, reqs, m, SYNC_WINDOW, err);
	for (size_t j = 0; j < m; j++) {
		struct lease *l = cur[idx[j]];
		int64_t conn;

		if (reqs[j].ret < 0 || bval_dict_int(reqs[j].reply, "connection", &conn) < 0 ||
		    leasedb_set_conn(gw->db, l->key, conn, gw->pid, NULL) < 0) {
			rep->failed++;
			continue;
		}
		l->conn = conn;
		l->conn_pid = gw->pid;
		rep->added++;
	}
	if (ret < 0)
		goto out;
	ret = 0;
out:
	free_reqs(reqs, m);
	free(idx);
	return ret;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp((*(struct lease *const *)a)->key, (*(struct lease *const *)b)->key);
}

static int cmp_conn(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Find entries visp did not make, and duplicates of our keys, without
 * IpTunnel_listConnections: connection numbers rise and are never reused,
 * so look at every number up to the highest we know plus a little, skipping
 * our own, and on past that for as long as entries keep turning up there.
 * An allowConnection whose reply was lost (retried, or its process killed
 * before it recorded the number) leaves an entry above every number the
 * store knows, up to a window of requests and their retries above it. A
 * duplicate for one of our keys is removed (it would shadow the right
 * entry); anything else is counted and left alone.
 */
static int scan_strangers(struct gateway *gw, struct lease **cur, size_t n,
			  struct sync_report *rep, struct verr *err)
{
	int64_t *ours = calloc(n ? n : 1, sizeof(*ours)), top = -1, lo = 0, hi, seen = -1;
	struct lease **bykey = calloc(n ? n : 1, sizeof(*bykey));
	struct cjdns_req *reqs = NULL, *rm = NULL;
	size_t nours = 0, m = 0, nrm = 0, cap = 0, k = 0;
	int ret = -ENOMEM;

	if (!ours || !bykey)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bykey[i] = cur[i];
		if (cur[i]->conn >= 0 && cur[i]->conn_pid == gw->pid) {
			ours[nours++] = cur[i]->conn;
			if (cur[i]->conn > top)
				top = cur[i]->conn;
		}
	}
	qsort(ours, nours, sizeof(*ours), cmp_conn);
	qsort(bykey, n, sizeof(*bykey), cmp_key);
	for (hi = top + SCAN_SLACK; lo <= hi && hi <= top + SCAN_MAX;
	     lo = hi + 1, hi = seen + SCAN_SLACK) {
		free_reqs(reqs, m);
		m = 0;
		reqs = calloc(hi - lo + 1, sizeof(*reqs));
		if (!reqs) {
			ret = -ENOMEM;
			goto out;
		}
		for (int64_t c = lo; c <= hi; c++) {
			while (k < nours && ours[k] < c)
				k++;
			if (k < nours && ours[k] == c)
				continue;
			reqs[m].fn = "IpTunnel_showConnection";
			if (!(reqs[m++].args = conn_args(c))) {
				ret = -ENOMEM;
				goto out;
			}
		}
		ret = cjdns_call_many(gw->cj, reqs, m, SYNC_WINDOW, err);
		if (ret < 0)
			goto out;
		seen = hi - SCAN_SLACK;	/* ends the loop unless an entry is near the end */
		for (size_t j = 0; j < m; j++) {
			const char *key;
			struct lease probe, *pp = &probe, **hit;
			int64_t outgoing = 0, conn = 0;

			if (reqs[j].ret < 0)
				continue;	/* not found: a removed number */
			key = bval_dict_str(reqs[j].reply, "key");
			bval_dict_int(reqs[j].reply, "outgoing", &outgoing);
			bval_dict_int(reqs[j].args, "connection", &conn);
			if (conn > seen)
				seen = conn;
			if (!key || outgoing)
				continue;	/* this node's own connectTo: not a lease */
			snprintf(probe.key, sizeof(probe.key), "%s", key);
			hit = bsearch(&pp, bykey, n, sizeof(*bykey), cmp_key);
			if (!hit) {
				rep->foreign++;
				continue;
			}
			/*
			 * Our list was read before the scan: a grant (lease serve)
			 * may have made and recorded this very entry since. Removing
			 * it would leave that client without one until the next sync.
			 */
			if (leasedb_get(gw->db, key, &probe, NULL) == 0 && probe.conn == conn &&
			    probe.conn_pid == gw->pid)
				continue;
			if (nrm == cap) {
				struct cjdns_req *v = realloc(rm, (cap ? cap * 2 : 64) * sizeof(*v));

				if (!v) {
					ret = -ENOMEM;
					goto out;
				}
				rm = v;
				cap = cap ? cap * 2 : 64;
			}
			rm[nrm] = (struct cjdns_req){ .fn = "IpTunnel_removeConnection" };
			if (!(rm[nrm++].args = conn_args(conn))) {
				ret = -ENOMEM;
				goto out;
			}
		}
	}
	ret = cjdns_call_many(gw->cj, rm, nrm, SYNC_WINDOW, err);
	if (ret < 0)
		goto out;
	for (size_t j = 0; j < nrm; j++)
		rep->removed_dups += rm[j].ret == 0;
	ret = 0;
out:
	free_reqs(reqs, m);
	free_reqs(rm, nrm);
	free(ours);
	free(bykey);
	return ret;
}

/*
 * One lease sync at a time. Two at once each take the entries the other
 * just made for duplicates (they are not in its own list) and remove them:
 * found by tests/netns/faults-cjdns.sh, every lease was left without an
 * entry until the next sync. An flock on <state_dir>/sync.lock, waited for
 * with a deadline (a sync is bounded by its admin timeouts).
 */
static int lock_sync(struct gateway *gw, int *fd, struct verr *err)
{
	struct timespec ts;
	char path[4096];
	int waited = 0;

	snprintf(path, sizeof(path), "%s/sync.lock", gw->cfg->state_dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return verr_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	while (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return verr_set(err, -errno, "cannot lock '%s': %s", path, strerror(errno));
		if (waited >= SYNC_LOCK_WAIT_MS)
			return verr_set(err, -EBUSY, "another lease sync has held '%s' for over %d s",
					path, SYNC_LOCK_WAIT_MS / 1000);
		ts = (struct timespec){ .tv_nsec = 20 * 1000000 };
		nanosleep(&ts, NULL);
		waited += 20;
	}
	return 0;
}

/* One pass: expire, verify, add what is missing, remove duplicates. */
static int sync_once(struct gateway *gw, struct sync_report *rep, struct verr *err)
{
	struct expire_ctx ec = { .gw = gw, .rep = rep };
	struct leases all = { 0 };
	struct lease **cur = NULL;
	int64_t now = time(NULL);
	char last[32] = "", pidstr[32];
	bool *ok = NULL;
	size_t n = 0;
	int ret;

	ret = need_cjdns(gw, err);
	if (ret < 0)
		goto out;
	snprintf(pidstr, sizeof(pidstr), "%lld", (long long)gw->pid);
	if (leasedb_meta_get(gw->db, "cjdns_pid", last, sizeof(last), NULL) == 0)
		rep->restarted = strcmp(last, pidstr) != 0;
	ret = leasedb_expire(gw->db, now, expire_one, &ec, NULL, err);
	if (ret < 0)
		goto out;
	ret = leasedb_foreach(gw->db, collect, &all, err);
	if (ret < 0)
		goto out;
	cur = calloc(all.n ? all.n : 1, sizeof(*cur));
	ok = calloc(all.n ? all.n : 1, sizeof(*ok));
	if (!cur || !ok) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < all.n; i++)
		if (lease_is_current(&all.v[i], now))
			cur[n++] = &all.v[i];
	ret = verify_in_place(gw, cur, n, ok, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		rep->checked += ok[i];
	ret = add_missing(gw, cur, n, ok, rep, err);
	if (ret < 0)
		goto out;
	ret = scan_strangers(gw, cur, n, rep, err);
	if (ret < 0)
		goto out;
	ret = leasedb_meta_set(gw->db, "cjdns_pid", pidstr, err);
out:
	free(all.v);
	free(cur);
	free(ok);
	return ret;
}

int gateway_sync(struct gateway *gw, struct sync_report *rep, struct verr *err)
{
	int64_t pid = -1, first = -1;
	int ret, lock = -1;

	memset(rep, 0, sizeof(*rep));
	ret = lock_sync(gw, &lock, err);
	if (ret < 0)
		goto out;
	/* A store that is not consistent must not be pushed into cjdns. */
	ret = leasedb_check(gw->db, NULL, time(NULL), err);
	if (ret < 0)
		goto out;
	/*
	 * A cjdroute that restarts under a sync loses what was added before,
	 * and what comes after is recorded under the old pid: the sync would
	 * report success with clients missing (faults-cjdns.sh). Its pid is
	 * asked again at the end, and the sync done again once if it changed.
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
	if (ret == 0 && rep->failed)
		ret = verr_set(err, -EIO, "%ld lease(s) could not be applied to cjdns", rep->failed);
out:
	if (lock >= 0)
		close(lock);	/* and with it the lock */
	return ret;
}

/* ---- the lease protocol ---- */

int gateway_offer(struct gateway *gw, const struct lease *l, struct offer *o, struct verr *err)
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
	o->default_route = offers_default(cfg);
	for (size_t i = 0; i < cfg->routes.n && o->nroutes < PROTO_MAX_ROUTES; i++)
		if (strcmp(cfg->routes.v[i], "default") &&
		    cidr_parse_network(cfg->routes.v[i], &o->routes[o->nroutes], NULL) == 0)
			o->nroutes++;
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

static int handle_post(struct gateway *gw, const struct http_request *req, char **json,
		       struct verr *err)
{
	struct lease l;
	char key[55];
	int ret;

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
	ret = gateway_grant(gw, key, NULL, NULL, NULL, &l, err);
	if (ret == -ENOSPC) {
		*json = proto_error_json(err->msg);	/* "pool ... is exhausted" */
		return *json ? 503 : 500;
	}
	if (ret < 0)
		return reply_error(503, "the gateway cannot grant leases right now", json, err);
	return lease_reply(gw, &l, json, err);
}

/*
 * GET and DELETE name the key in the query (?public_key=KEY) and, like
 * POST, must come from its address.
 */
static int query_key(const struct http_request *req, char key[55])
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
	char key[55];
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

int gateway_handle(struct gateway *gw, const struct http_request *req, char **json,
		   struct verr *err)
{
	const char *m = req->method;

	*json = NULL;
	verr_clear(err);
	if (!strcmp(req->path, "/lease")) {
		if (!strcmp(m, "POST"))
			return handle_post(gw, req, json, err);
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
