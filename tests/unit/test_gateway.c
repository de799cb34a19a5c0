// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * lease sync against a fake cjdns in a thread that keeps IpTunnel entries
 * the way cjdroute does (one rising counter, never reused) and can lose the
 * replies to one key's allowConnection while still carrying them out: the
 * faults tests/netns/faults-cjdns.sh found with a real network and the
 * simulator, at unit scale.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bencode.h"
#include "cjdns.h"
#include "config.h"
#include "gateway.h"
#include "leasedb.h"

/* Keys from shared/cjdns/README.md. */
static const char *const keys[] = {
	"5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k",
	"y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k",
	"jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k",
};

#define MAX_ENTRIES 1024

struct fake {
	int fd, port;
	pthread_t thread;
	volatile int stop;
	pthread_mutex_t lock;
	int64_t pid, counter;
	const char *lose_key;	/* allowConnection for it is done, its reply lost */
	int requests;
	/* Called (under lock) before answering showConnection for hook_at. */
	void (*hook)(struct fake *f, void *arg);
	int64_t hook_at;
	void *hook_arg;
	struct entry {
		bool used;
		char key[64], ip4[32], ip6[64];
	} e[MAX_ENTRIES];
};

static int64_t add_entry(struct fake *f, const char *key, const char *ip4, const char *ip6)
{
	int64_t n = f->counter++;

	assert_true(n < MAX_ENTRIES);
	f->e[n].used = true;
	snprintf(f->e[n].key, sizeof(f->e[n].key), "%s", key);
	snprintf(f->e[n].ip4, sizeof(f->e[n].ip4), "%s", ip4 ? ip4 : "");
	snprintf(f->e[n].ip6, sizeof(f->e[n].ip6), "%s", ip6 ? ip6 : "");
	return n;
}

/* Fill reply for one request; false: send nothing. */
static bool handle(struct fake *f, const char *fn, const struct bval *args, struct bval *reply)
{
	int64_t c = -1;

	bval_dict_int(args, "connection", &c);
	f->requests++;
	if (f->hook && !strcmp(fn, "IpTunnel_showConnection") && c == f->hook_at) {
		f->hook(f, f->hook_arg);
		f->hook = NULL;
	}
	if (!strcmp(fn, "Core_pid")) {
		bval_dict_set(reply, "pid", bval_new_int(f->pid));
	} else if (!strcmp(fn, "IpTunnel_allowConnection")) {
		const char *key = bval_dict_str(args, "publicKeyOfAuthorizedNode");

		c = add_entry(f, key ? key : "", bval_dict_str(args, "ip4Address"),
			      bval_dict_str(args, "ip6Address"));
		if (f->lose_key && key && !strcmp(key, f->lose_key))
			return false;
		bval_dict_set(reply, "connection", bval_new_int(c));
	} else if (!strcmp(fn, "IpTunnel_showConnection")) {
		if (c < 0 || c >= f->counter || !f->e[c].used) {
			bval_dict_set(reply, "error", bval_new_cstr("connection not found"));
			return true;
		}
		bval_dict_set(reply, "key", bval_new_cstr(f->e[c].key));
		bval_dict_set(reply, "outgoing", bval_new_int(0));
		if (f->e[c].ip4[0])
			bval_dict_set(reply, "ip4Address", bval_new_cstr(f->e[c].ip4));
		if (f->e[c].ip6[0])
			bval_dict_set(reply, "ip6Address", bval_new_cstr(f->e[c].ip6));
	} else if (!strcmp(fn, "IpTunnel_removeConnection")) {
		if (c < 0 || c >= f->counter || !f->e[c].used) {
			bval_dict_set(reply, "error", bval_new_cstr("not_found"));
			return true;
		}
		f->e[c].used = false;
	} else {
		bval_dict_set(reply, "error", bval_new_cstr("not implemented by the fake"));
		return true;
	}
	bval_dict_set(reply, "error", bval_new_cstr("none"));
	return true;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char buf[2048];

	while (!f->stop) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct timeval tv = { 0, 20000 };
		struct bval *req = NULL, *reply = bval_new_dict();
		const char *q, *txid;
		char *enc = NULL;
		size_t len;
		ssize_t n;

		setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recvfrom(f->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n > 0 && bencode_decode(buf, n, &req, NULL) == 0 && (q = bval_dict_str(req, "q"))) {
			txid = bval_dict_str(req, "txid");
			if (txid)
				bval_dict_set(reply, "txid", bval_new_cstr(txid));
			pthread_mutex_lock(&f->lock);
			if (handle(f, q, bval_dict_get(req, "args"), reply) &&
			    bencode_encode(reply, &enc, &len) == 0)
				sendto(f->fd, enc, len, 0, (struct sockaddr *)&from, fl);
			pthread_mutex_unlock(&f->lock);
		}
		free(enc);
		bval_free(req);
		bval_free(reply);
	}
	return NULL;
}

struct t {
	char dir[64];
	struct fake *f;
	struct visp_config *cfg;
	struct cjdns *cj;
	struct gateway *gw;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct fake *f = calloc(1, sizeof(*f));

	strcpy(t->dir, "/tmp/visp-test-gateway.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(f->fd, (struct sockaddr *)&sa, &sl);
	f->port = ntohs(sa.sin_port);
	f->pid = 1000;
	pthread_mutex_init(&f->lock, NULL);
	pthread_create(&f->thread, NULL, fake_main, f);
	t->f = f;
	t->cfg = config_new_defaults();
	free(t->cfg->state_dir);
	t->cfg->state_dir = strdup(t->dir);
	t->cfg->ipv4_pool = strdup("10.99.0.0/24");
	t->cfg->lease_time = 3600;
	assert_int_equal(cjdns_open(&t->cj, "127.0.0.1", f->port, NULL, NULL), 0);
	cjdns_set_timeout(t->cj, 300, 3);	/* generous: valgrind runs these too */
	assert_int_equal(gateway_open(&t->gw, t->cfg, t->cj, NULL), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	char path[128];

	gateway_close(t->gw);
	cjdns_close(t->cj);
	config_free(t->cfg);
	t->f->stop = 1;
	pthread_join(t->f->thread, NULL);
	close(t->f->fd);
	free(t->f);
	for (const char *const *s = (const char *const[]){ "leases.db", "leases.db-wal", "leases.db-shm",
								  "leases.lock", "sync.lock", "grants.lock", NULL }; *s; s++) {
		snprintf(path, sizeof(path), "%s/%s", t->dir, *s);
		unlink(path);
	}
	rmdir(t->dir);
	free(t);
	return 0;
}

static int count_entries(struct fake *f)
{
	int n = 0;

	pthread_mutex_lock(&f->lock);
	for (int64_t i = 0; i < f->counter; i++)
		n += f->e[i].used;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* cjdroute restarted: no entries, a new pid, the counter from 0. */
static void restart_locked(struct fake *f, void *arg)
{
	memset(f->e, 0, sizeof(f->e));
	f->counter = 0;
	f->pid++;
}

static void restart(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	restart_locked(f, NULL);
	pthread_mutex_unlock(&f->lock);
}

/* A new visp run: the gateway asks cjdns for its pid again. */
static void rerun(struct t *t)
{
	gateway_close(t->gw);
	t->gw = NULL;
	assert_int_equal(gateway_open(&t->gw, t->cfg, t->cj, NULL), 0);
}

/*
 * An allowConnection carried out but answered too late or never (retried,
 * or its process killed) leaves an entry above every number the store
 * knows. The scan for duplicates stopped 16 numbers past the highest
 * recorded one, so a sync reported success with such duplicates still in
 * cjdns (faults-cjdns.sh: a lease with two entries after a clean sync). It
 * now goes on for as long as entries turn up.
 */
static void orphans_above_the_store(void **state)
{
	struct t *t = *state;
	struct sync_report rep;
	struct verr err = { 0 };
	struct lease l;

	assert_int_equal(gateway_grant(t->gw, keys[0], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_grant(t->gw, keys[1], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);	/* records the pid */
	pthread_mutex_lock(&t->f->lock);
	for (int i = 0; i < 40; i++)
		add_entry(t->f, keys[i % 2], "10.99.0.2", NULL);
	pthread_mutex_unlock(&t->f->lock);
	assert_int_equal(count_entries(t->f), 42);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(rep.checked, 2);
	assert_int_equal(rep.removed_dups, 40);
	assert_int_equal(count_entries(t->f), 2);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(rep.removed_dups, 0);
}

/*
 * A sync whose bulk allowConnection failed for one lease (its replies
 * lost) threw away what it had added for all the others: unrecorded, every
 * one of those entries was a duplicate for the next sync to remove, and
 * every lease had to be added again. What was added is recorded now.
 */
static void sync_keeps_what_it_added(void **state)
{
	struct t *t = *state;
	struct sync_report rep;
	struct verr err = { 0 };
	struct lease l;

	for (int i = 0; i < 3; i++)
		assert_int_equal(gateway_grant(t->gw, keys[i], NULL, NULL, NULL, &l, &err), 0);
	restart(t->f);
	rerun(t);
	t->f->lose_key = keys[1];
	assert_int_equal(gateway_sync(t->gw, &rep, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "no answer"));
	assert_int_equal(rep.added, 2);
	assert_int_equal(rep.failed, 1);
	/* keys[1]'s allowConnection was carried out on every try: 3 entries. */
	assert_int_equal(count_entries(t->f), 5);
	t->f->lose_key = NULL;
	rerun(t);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(rep.checked, 2);
	assert_int_equal(rep.added, 1);
	assert_int_equal(rep.removed_dups, 3);
	assert_int_equal(count_entries(t->f), 3);
}

/*
 * A lease request of another process between its allowConnection and the
 * recording of the number: the sync must not take that entry for a stray
 * and remove it (that client would have none until the next sync). The
 * request holds its key's claim meanwhile; once it lets go (it recorded
 * the number, or it was killed), a stray is removed.
 */
static void grant_in_progress(void **state)
{
	struct t *t = *state;
	struct gateway *other = NULL;
	struct sync_report rep;
	struct verr err = { 0 };
	struct lease l;

	assert_int_equal(gateway_grant(t->gw, keys[0], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_grant(t->gw, keys[1], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_open(&other, t->cfg, t->cj, NULL), 0);
	assert_int_equal(gateway_claim(other, keys[1], &err), 0);
	pthread_mutex_lock(&t->f->lock);
	add_entry(t->f, keys[1], "10.99.0.3", NULL);	/* its entry, not recorded yet */
	pthread_mutex_unlock(&t->f->lock);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(rep.checked, 2);
	assert_int_equal(rep.removed_dups, 0);
	assert_int_equal(count_entries(t->f), 3);
	gateway_unclaim(other, keys[1]);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(rep.removed_dups, 1);
	assert_int_equal(count_entries(t->f), 2);
	gateway_close(other);
}

/*
 * Grants that arrived together share one group commit: each has its own
 * result, a bad key fails alone, and a key asked for twice in the group is
 * allowed in cjdns once (the second renewal sees the first's entry).
 */
static void grant_many(void **state)
{
	struct t *t = *state;
	struct gateway_grant g[4] = {
		{ .key = keys[0] }, { .key = "not a key" }, { .key = keys[1] }, { .key = keys[0] },
	};
	struct verr err = { 0 };
	struct lease l;

	gateway_grant_many(t->gw, g, 4);
	assert_int_equal(g[0].ret, 0);
	assert_int_equal(g[1].ret, -EINVAL);
	assert_non_null(strstr(g[1].err.msg, "not a key"));
	assert_int_equal(g[2].ret, 0);
	assert_int_equal(g[3].ret, 0);
	assert_false(cidr_equal(&g[0].lease.ipv4, &g[2].lease.ipv4));
	assert_true(cidr_equal(&g[0].lease.ipv4, &g[3].lease.ipv4));
	assert_int_equal(g[3].lease.conn, g[0].lease.conn);
	assert_int_equal(count_entries(t->f), 2);
	assert_int_equal(leasedb_get(gateway_db(t->gw), keys[1], &l, &err), 0);
	assert_int_equal(l.conn, g[2].lease.conn);
	assert_int_equal(leasedb_check(gateway_db(t->gw), NULL, time(NULL), &err), 0);
}

/*
 * A serving process (one gateway open across many requests) outlives a
 * restart of cjdroute: the next group asks the pid again, so the lease is
 * allowed anew and recorded under the new pid, not the one it started with.
 */
static void grant_after_restart(void **state)
{
	struct t *t = *state;
	struct gateway_grant g = { .key = keys[0] };

	gateway_grant_many(t->gw, &g, 1);
	assert_int_equal(g.ret, 0);
	assert_int_equal(g.lease.conn_pid, 1000);
	restart(t->f);
	gateway_grant_many(t->gw, &g, 1);
	assert_int_equal(g.ret, 0);
	assert_int_equal(g.lease.conn_pid, 1001);
	assert_int_equal(count_entries(t->f), 1);
}

/* A lease serve of another process granting keys[0] again: stale entry out, new one in. */
struct regrant {
	struct leasedb *db;
	int64_t conn;
};

static void regrant(struct fake *f, void *arg)
{
	struct regrant *g = arg;

	f->e[0].used = false;
	g->conn = add_entry(f, keys[0], "10.99.0.2", NULL);
	assert_int_equal(leasedb_set_conn(g->db, keys[0], g->conn, f->pid, NULL), 0);
}

/*
 * A sync read the store before it scanned for duplicates, so an entry a
 * grant made and recorded meanwhile (lease serve does not wait for syncs)
 * looked like a duplicate and was removed: that client had no entry until
 * the next sync. The store is asked again before anything is removed.
 */
static void grant_during_scan(void **state)
{
	struct t *t = *state;
	struct regrant g = { 0 };
	struct sync_report rep;
	struct verr err = { 0 };
	struct lease l;

	assert_int_equal(gateway_grant(t->gw, keys[0], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_grant(t->gw, keys[1], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(leasedb_open(&g.db, t->dir, &err), 0);
	t->f->hook = regrant;
	t->f->hook_arg = &g;
	t->f->hook_at = 2;	/* the first number the scan asks about */
	rerun(t);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_null(t->f->hook);	/* it ran */
	assert_int_equal(rep.removed_dups, 0);
	assert_true(t->f->e[g.conn].used);
	assert_int_equal(leasedb_get(g.db, keys[0], &l, &err), 0);
	assert_int_equal(l.conn, g.conn);
	assert_int_equal(count_entries(t->f), 2);
	leasedb_close(g.db);
}

/*
 * cjdroute restarting under a sync lost what the sync had added before,
 * and the rest was recorded under the old pid: the sync said it succeeded
 * with clients missing (faults-cjdns.sh, a restart under a sync through the
 * proxy). It now asks for the pid again at the end and syncs once more.
 */
static void restart_during_sync(void **state)
{
	struct t *t = *state;
	struct sync_report rep;
	struct verr err = { 0 };
	struct lease l;

	for (int i = 0; i < 3; i++)
		assert_int_equal(gateway_grant(t->gw, keys[i], NULL, NULL, NULL, &l, &err), 0);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	restart(t->f);
	rerun(t);
	/* The scan of the sync after the restart asks about 3: cjdroute restarts then. */
	t->f->hook = restart_locked;
	t->f->hook_at = 3;
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_null(t->f->hook);
	assert_true(rep.restarted_during);
	assert_int_equal(rep.added, 3);
	assert_int_equal(count_entries(t->f), 3);
	rerun(t);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	assert_int_equal(rep.checked, 3);
	assert_false(rep.restarted);
}

struct holder {
	char path[128];
	int fd;
	int requests_at_release;
	struct fake *f;
};

static void *hold_lock(void *arg)
{
	struct holder *h = arg;
	struct timespec ts = { 0, 300 * 1000000 };

	nanosleep(&ts, NULL);
	pthread_mutex_lock(&h->f->lock);
	h->requests_at_release = h->f->requests;
	pthread_mutex_unlock(&h->f->lock);
	close(h->fd);
	return NULL;
}

/*
 * Two syncs at once removed each other's fresh entries as duplicates (each
 * scan knows only its own): faults-cjdns.sh saw every lease without an
 * entry after two racing syncs. A sync now waits for the one under way.
 */
static void one_sync_at_a_time(void **state)
{
	struct t *t = *state;
	struct holder h = { .f = t->f };
	struct sync_report rep;
	struct verr err = { 0 };
	struct lease l;
	pthread_t th;

	assert_int_equal(gateway_grant(t->gw, keys[0], NULL, NULL, NULL, &l, &err), 0);
	snprintf(h.path, sizeof(h.path), "%s/sync.lock", t->dir);
	h.fd = open(h.path, O_RDWR | O_CREAT, 0600);
	assert_true(h.fd >= 0);
	assert_int_equal(flock(h.fd, LOCK_EX), 0);
	t->f->requests = 0;
	rerun(t);
	pthread_create(&th, NULL, hold_lock, &h);
	assert_int_equal(gateway_sync(t->gw, &rep, &err), 0);
	pthread_join(th, NULL);
	/* Not one admin request before the other "sync" let go. */
	assert_int_equal(h.requests_at_release, 0);
	assert_true(t->f->requests > 0);
	unlink(h.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(orphans_above_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(sync_keeps_what_it_added, setup, teardown),
		cmocka_unit_test_setup_teardown(grant_during_scan, setup, teardown),
		cmocka_unit_test_setup_teardown(grant_in_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(grant_many, setup, teardown),
		cmocka_unit_test_setup_teardown(grant_after_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(one_sync_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(restart_during_sync, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
