/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_LEASEDB_H
#define VISP_LEASEDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "err.h"
#include "pool.h"

/*
 * The gateway's lease store: SQLite at <state_dir>/leases.db (WAL, 5 s busy
 * timeout, schema in PRAGMA user_version). Every change is one transaction,
 * so concurrent `lease serve` processes and a SIGKILL at any point leave it
 * consistent.
 *
 * A key has at most one row. A row outlives its lease: when the lease is
 * revoked or expires the row becomes inactive but keeps its addresses, so the
 * key gets them back on its next grant unless someone else needed them first.
 *
 * Allocation (leasedb_grant), per configured pool:
 *  1. a key with a row keeps the row's address if it is still leasable;
 *  2. else the lowest address no row has ever held (a free list of released
 *     addresses plus a high-water mark: no scan);
 *  3. else the address of the non-reserved, non-current lease that expired
 *     the longest ago (that key loses its affinity);
 *  4. else -ENOSPC "pool 172.23.23.0/24 is exhausted".
 * max_leases caps the number of current leases (-ENOSPC too). The store does
 * not validate keys beyond their length: callers use key_parse first.
 */
struct leasedb;

#define LEASEDB_KEY_MAX 54
#define LEASEDB_NAME_MAX 63

struct lease {
	char key[LEASEDB_KEY_MAX + 1];
	char name[LEASEDB_NAME_MAX + 1];	/* "" when none */
	bool has_ipv4, has_ipv6;
	struct cidr ipv4, ipv6;		/* with the pool's prefix length */
	int64_t created, expires;	/* unix seconds */
	bool active;			/* false once revoked, or expired and marked so */
	bool reserved;			/* operator's --ipv4/--ipv6: never taken by others */
	int64_t conn, conn_pid;		/* cjdns IpTunnel connection and cjdroute pid; -1: none */
	/* accounting (usage.h) */
	int64_t rate_down, rate_up;	/* bit/s; -1: the config's rate_limit; 0: none */
	int64_t quota;			/* bytes per period; -1: the config's quota; 0: none */
	int64_t down_bytes, up_bytes;	/* used since period_start */
	int64_t period_start;		/* unix seconds; 0 before the first fold */
	int64_t seen[4];		/* kernel counters last folded (d4 u4 d6 u6; leasedb_fold) */
};

/* A lease is current when it is active and not past its expiry. */
static inline bool lease_is_current(const struct lease *l, int64_t now)
{
	return l->active && l->expires > now;
}

/*
 * Open (creating state_dir 0700, whose parent must exist, and leases.db 0600
 * when missing) and bring the schema up to date. The umask is 077 while it
 * runs (process-wide: not for threaded callers). Errors: -EACCES (cannot
 * create or write), -EUCLEAN (not an SQLite database, or not visp's),
 * -ENOTSUP (newer schema), -EBUSY (locked past 5 s), -EIO. Never share a
 * handle across fork(): open one in each process.
 */
int leasedb_open(struct leasedb **out, const char *state_dir, struct verr *err);
/*
 * The same, read-only, for commands that only read (lease list, show): they
 * then work on a read-only file system and write nothing. A store that does
 * not exist yet is created as by leasedb_open. Needs the -shm file that
 * writers keep (SQLite's WAL index). A store of an older schema is upgraded
 * first, as leasedb_open would, which needs write access to it.
 */
int leasedb_open_ro(struct leasedb **out, const char *state_dir, struct verr *err);
/*
 * The state directory is shared with the unprivileged user that runs lease
 * serve, so root never follows a link in it (-ELOOP), refuses a directory
 * that others can write (-EPERM) and files with other hard links, and gives
 * what it creates there to the directory's owner. leasedb_state_open opens
 * (creating, 0600) another file there under those rules: a lock file.
 */
int leasedb_state_open(const struct leasedb *db, const char *name, struct verr *err);
void leasedb_close(struct leasedb *db);

/*
 * Grant or renew key's lease until now + lease_time. A current lease is
 * renewed with the same addresses and connection; otherwise addresses are
 * allocated as described above. name (NULL: keep) is stored. want4/want6
 * (NULL: none) reserve an address: it must be leasable in the pool (-EINVAL)
 * and not held by another key's current or reserved lease (-EADDRINUSE,
 * naming that key); an expired lease holding it loses it. *is_new (may be
 * NULL) is false only when a current lease was renewed without any change of
 * address: otherwise the caller must (re)allow the connection in cjdns, and
 * out->conn, when not -1, is a stale connection of the key to remove first.
 */
int leasedb_grant(struct leasedb *db, const struct pool *pool, const char *key, const char *name,
		  const struct cidr *want4, const struct cidr *want6, long lease_time, int64_t now,
		  struct lease *out, bool *is_new, struct verr *err);

/*
 * Group commit: every change between these two calls is one durable
 * transaction (one fsync), each change a savepoint of it, so one that fails
 * undoes only itself. Nothing a change returns is on disk before
 * leasedb_group_end(db, true, ...) returns 0; keep false undoes them all.
 * The store's writers wait meanwhile: keep a group short, nothing else in it.
 */
int leasedb_group_begin(struct leasedb *db, struct verr *err);
int leasedb_group_end(struct leasedb *db, bool keep, struct verr *err);

/* key's row, current or not (see lease_is_current); -ENOENT if none. */
int leasedb_get(struct leasedb *db, const char *key, struct lease *out, struct verr *err);

/*
 * End key's lease now and drop its reservation; the row keeps the addresses
 * for affinity and the connection number, which the caller clears with
 * leasedb_set_conn(..., -1, -1) once it removed the connection from cjdns
 * (until then leasedb_expire reports it again). old (may be NULL): the lease
 * as it was. -ENOENT if key has neither an active lease nor a reservation.
 */
int leasedb_revoke(struct leasedb *db, const char *key, struct lease *old, struct verr *err);

/* Record key's cjdns connection number and cjdroute pid; conn -1 clears both. -ENOENT. */
int leasedb_set_conn(struct leasedb *db, const char *key, int64_t conn, int64_t pid,
		     struct verr *err);

/* The same for many keys in one transaction; *missing (may be NULL): keys with no row. */
struct leasedb_conn {
	const char *key;
	int64_t conn, pid;
};
int leasedb_set_conns(struct leasedb *db, const struct leasedb_conn *v, size_t n, size_t *missing,
		      struct verr *err);

/*
 * key's limits (usage.h): each pointer NULL keeps the value; -1 is the
 * config's default, 0 none, else bit/s or bytes. -ENOENT when key has no row.
 */
int leasedb_set_limits(struct leasedb *db, const char *key, const int64_t *rate_down,
		       const int64_t *rate_up, const int64_t *quota, struct verr *err);

/*
 * Fold the kernel's usage counters into the rows that hold their addresses,
 * in one transaction. Each counter counts from when its element was made;
 * a row remembers the value it last folded per family (seen), adds what
 * came since, and takes a counter below that as a new element. table_id
 * names the counters' table: when it is not the one of the last fold (meta
 * LEASEDB_META_TABLE; a reboot made a new table) they are all new. Rows
 * whose period_start differs from period_start start a new period (usage 0)
 * first. A row with an address not in v has its seen value cleared: it
 * counts from 0 when an element appears. *folded (may be NULL): counters
 * that added something. The time of the fold (now) goes to meta
 * LEASEDB_META_FOLDED.
 */
#define LEASEDB_META_TABLE "usage_table"
#define LEASEDB_META_FOLDED "usage_folded"
struct leasedb_counter {
	struct cidr addr;		/* full length */
	uint64_t down, up;		/* bytes */
	unsigned sets;			/* the caller's: which of its sets held the address */
};
int leasedb_fold(struct leasedb *db, const struct leasedb_counter *v, size_t n,
		 const char *table_id, int64_t period_start, int64_t now, size_t *folded,
		 struct verr *err);

/* Return 0 to go on; a negative value stops the walk and is returned. */
typedef int (*leasedb_cb)(const struct lease *l, void *arg);

/*
 * Every row, current or not, ordered by IPv4 then IPv6 address (rows without
 * addresses last). The rows are read first, so cb may call leasedb functions.
 */
int leasedb_foreach(struct leasedb *db, leasedb_cb cb, void *arg, struct verr *err);

/*
 * A walk over the current leases in bounded memory: up to max of them past
 * *cursor (0 to start; moved past the page) into v, in the store's own
 * order; fewer than max means the walk is over. Each page is its own
 * snapshot: a lease granted during the walk may or may not be in it.
 */
int leasedb_current_page(struct leasedb *db, int64_t *cursor, int64_t now, struct lease *v,
			 size_t max, size_t *n, struct verr *err);

/*
 * Mark the leases past their expiry inactive, then call cb (may be NULL) for
 * each non-current row that still has a cjdns connection recorded (expired
 * or revoked): when cb returns 0 the connection is cleared from the row, so
 * cb should remove it from cjdns first (mind conn_pid: a number from an
 * earlier cjdroute run means nothing). *expired (may be NULL): how many
 * leases this call marked (grants mark expired leases too, in passing).
 */
int leasedb_expire(struct leasedb *db, int64_t now, leasedb_cb cb, void *arg, long *expired,
		   struct verr *err);

/* The number of current leases. */
int leasedb_count(struct leasedb *db, int64_t now, long *current, struct verr *err);

/* A small key/value table for the callers (e.g. the last cjdroute pid seen). -ENOENT, -ERANGE. */
int leasedb_meta_get(struct leasedb *db, const char *k, char *buf, size_t len, struct verr *err);
int leasedb_meta_set(struct leasedb *db, const char *k, const char *v, struct verr *err);

/*
 * Consistency check for tests and `lease sync`: SQLite's integrity_check,
 * no address held twice, well-formed rows, the allocator's bookkeeping, and,
 * when pool is not NULL, every current lease's addresses leasable in it (a
 * changed pool shows here until the leases are renewed). -EUCLEAN with the
 * first problem found.
 */
int leasedb_check(struct leasedb *db, const struct pool *pool, int64_t now, struct verr *err);

#endif
