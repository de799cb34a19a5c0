// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The lease store (leasedb.h). Addresses are stored as they are (4 or 16
 * byte BLOBs, which SQLite orders like numbers), so a row means the same
 * thing whatever the configuration says today. Allocation bookkeeping is kept
 * per family, relative to the pool it was made for (table alloc): a
 * high-water mark hw (offsets at or above it were never handed out, except
 * reservations, which are skipped) and free_addrs, the offsets below hw that
 * no row holds. When the configured pool changes, both are reset (hw = the
 * first leasable offset, no free entries): the allocator then walks up from
 * the bottom, skipping addresses rows still hold.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asan.h"
#include "dl.h"
#include "fileutil.h"
#include "hugeheap.h"
#include "leasedb.h"

/* Loaded when a store is opened (dl.h): most commands never open one. */
#define SQLITE_SYMS(X)								\
	X(sqlite3_bind_blob) X(sqlite3_bind_int) X(sqlite3_bind_int64)		\
	X(sqlite3_bind_null) X(sqlite3_bind_parameter_count)			\
	X(sqlite3_bind_text) X(sqlite3_busy_timeout) X(sqlite3_changes)		\
	X(sqlite3_clear_bindings) X(sqlite3_close)				\
	X(sqlite3_column_blob) X(sqlite3_column_bytes)				\
	X(sqlite3_column_int) X(sqlite3_column_int64)				\
	X(sqlite3_column_text) X(sqlite3_column_type) X(sqlite3_config)	\
	X(sqlite3_db_config) X(sqlite3_errmsg) X(sqlite3_errstr)		\
	X(sqlite3_exec) X(sqlite3_extended_result_codes)			\
	X(sqlite3_file_control) X(sqlite3_finalize)				\
	X(sqlite3_get_autocommit) X(sqlite3_open_v2)				\
	X(sqlite3_prepare_v2) X(sqlite3_prepare_v3) X(sqlite3_reset)		\
	X(sqlite3_step) X(sqlite3_system_errno)					\
	X(sqlite3_wal_autocheckpoint)
DL_LIBRARY(sqlite, "libsqlite3.so.0", SQLITE_SYMS)

#define LEASEDB_FILE "leases.db"
#define LEASEDB_LOCK "leases.lock"
#define LEASEDB_SCHEMA 2
#define LEASEDB_APP_ID 0x76697370	/* "visp" */
#define LEASEDB_BUSY_MS 5000
#define WAL_PAGES 32		/* checkpoint in passing (see keep_wal) */

/*
 * migrations[v] takes the schema from version v - 1 to v, in the same
 * transaction as the user_version bump. Append; never edit a shipped entry.
 */
static const char *const migrations[LEASEDB_SCHEMA + 1] = {
	[1] =
	"CREATE TABLE leases ("
	" key TEXT NOT NULL PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 54),"
	" name TEXT CHECK (length(name) <= 63),"
	" ipv4 BLOB UNIQUE CHECK (ipv4 IS NULL OR (typeof(ipv4) = 'blob' AND length(ipv4) = 4)),"
	" plen4 INTEGER CHECK (plen4 BETWEEN 0 AND 32),"
	" ipv6 BLOB UNIQUE CHECK (ipv6 IS NULL OR (typeof(ipv6) = 'blob' AND length(ipv6) = 16)),"
	" plen6 INTEGER CHECK (plen6 BETWEEN 0 AND 128),"
	" created INTEGER NOT NULL,"
	" expires INTEGER NOT NULL,"
	" active INTEGER NOT NULL CHECK (active IN (0, 1)),"
	" reserved INTEGER NOT NULL CHECK (reserved IN (0, 1)),"
	" conn INTEGER,"
	" conn_pid INTEGER,"
	" CHECK ((ipv4 IS NULL) = (plen4 IS NULL) AND (ipv6 IS NULL) = (plen6 IS NULL))"
	");"
	"CREATE INDEX leases_expiry ON leases (active, expires);"
	"CREATE TABLE alloc (family INTEGER PRIMARY KEY, pool TEXT NOT NULL,"
	" hw INTEGER NOT NULL);"
	"CREATE TABLE free_addrs (family INTEGER NOT NULL, off INTEGER NOT NULL,"
	" PRIMARY KEY (family, off)) WITHOUT ROWID;"
	"CREATE TABLE meta (k TEXT NOT NULL PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID;"
	/* max_leases needs the number of active rows on every grant: count it as they change. */
	"CREATE TABLE counts (name TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO counts VALUES ('active', 0);"
	"CREATE TRIGGER leases_ins AFTER INSERT ON leases WHEN new.active = 1 BEGIN"
	" UPDATE counts SET n = n + 1 WHERE name = 'active'; END;"
	"CREATE TRIGGER leases_del AFTER DELETE ON leases WHEN old.active = 1 BEGIN"
	" UPDATE counts SET n = n - 1 WHERE name = 'active'; END;"
	"CREATE TRIGGER leases_upd AFTER UPDATE OF active ON leases"
	" WHEN old.active <> new.active BEGIN"
	" UPDATE counts SET n = n + new.active - old.active WHERE name = 'active'; END;",
	/*
	 * Accounting: per-lease limits (NULL: the config's default, 0: none),
	 * this period's usage, and the kernel's counters as last folded
	 * (seen_*: per family and direction, see leasedb_fold).
	 */
	[2] =
	"ALTER TABLE leases ADD COLUMN rate_down INTEGER CHECK (rate_down >= 0);"
	"ALTER TABLE leases ADD COLUMN rate_up INTEGER CHECK (rate_up >= 0);"
	"ALTER TABLE leases ADD COLUMN quota INTEGER CHECK (quota >= 0);"
	"ALTER TABLE leases ADD COLUMN down_bytes INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE leases ADD COLUMN up_bytes INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE leases ADD COLUMN period_start INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE leases ADD COLUMN seen_d4 INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE leases ADD COLUMN seen_u4 INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE leases ADD COLUMN seen_d6 INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE leases ADD COLUMN seen_u6 INTEGER NOT NULL DEFAULT 0;",
};

#define BASE_COLS "key, name, ipv4, plen4, ipv6, plen6, created, expires, active, " \
		  "reserved, conn, conn_pid"
#define COLS BASE_COLS ", rate_down, rate_up, quota, down_bytes, up_bytes, period_start, " \
	     "seen_d4, seen_u4, seen_d6, seen_u6"
#define NCOLS 22

enum stmt {
	S_GET, S_HOLDER4, S_HOLDER6, S_COUNT, S_UPSERT,
	S_ALLOC_GET, S_ALLOC_SET, S_FREE_RESET, S_FREE_MIN, S_FREE_DEL, S_FREE_ADD,
	S_STEAL4, S_STEAL6, S_DROP4, S_DROP6, S_GC,
	S_REVOKE, S_SET_CONN, S_EXPIRE, S_STALE, S_CLEAR_CONN, S_ALL,
	S_META_GET, S_META_SET, S_PAGE, S_EVERY,
	S_LIMITS, S_PERIOD, S_UNSEE, S_FOLD4, S_FOLD6,
	S_NSTMT
};

static const char *const sql[S_NSTMT] = {
	[S_GET] = "SELECT " COLS " FROM leases WHERE key = ?1",
	[S_HOLDER4] = "SELECT " COLS " FROM leases WHERE ipv4 = ?1",
	[S_HOLDER6] = "SELECT " COLS " FROM leases WHERE ipv6 = ?1",
	/* Active rows past their expiry are few: grants mark them (S_EXPIRE). */
	[S_COUNT] = "SELECT (SELECT n FROM counts WHERE name = 'active') - (SELECT count(*)"
		    " FROM leases WHERE active = 1 AND expires <= ?1)",
	[S_UPSERT] = "INSERT INTO leases (" BASE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
		     " ?10, ?11, ?12) ON CONFLICT (key) DO UPDATE SET name = ?2, ipv4 = ?3,"
		     " plen4 = ?4, ipv6 = ?5, plen6 = ?6, created = ?7, expires = ?8,"
		     " active = ?9, reserved = ?10, conn = ?11, conn_pid = ?12",
	[S_ALLOC_GET] = "SELECT pool, hw FROM alloc WHERE family = ?1",
	[S_ALLOC_SET] = "INSERT OR REPLACE INTO alloc (family, pool, hw) VALUES (?1, ?2, ?3)",
	[S_FREE_RESET] = "DELETE FROM free_addrs WHERE family = ?1",
	[S_FREE_MIN] = "SELECT min(off) FROM free_addrs WHERE family = ?1",
	[S_FREE_DEL] = "DELETE FROM free_addrs WHERE family = ?1 AND off = ?2",
	[S_FREE_ADD] = "INSERT OR IGNORE INTO free_addrs (family, off) VALUES (?1, ?2)",
	/*
	 * The lease that expired the longest ago is the least likely to come
	 * back. Grants mark expired leases inactive first, so walking the
	 * (active, expires) index stops at the first match; the unary + keeps
	 * the planner off the address index, which would mean a scan and a sort.
	 */
	[S_STEAL4] = "SELECT key, ipv4 FROM leases WHERE active = 0 AND reserved = 0"
		     " AND +ipv4 BETWEEN ?1 AND ?2 AND key <> ?3 ORDER BY expires LIMIT 1",
	[S_STEAL6] = "SELECT key, ipv6 FROM leases WHERE active = 0 AND reserved = 0"
		     " AND +ipv6 BETWEEN ?1 AND ?2 AND key <> ?3 ORDER BY expires LIMIT 1",
	[S_DROP4] = "UPDATE leases SET ipv4 = NULL, plen4 = NULL, active = 0 WHERE key = ?1",
	[S_DROP6] = "UPDATE leases SET ipv6 = NULL, plen6 = NULL, active = 0 WHERE key = ?1",
	/* A row with nothing left to remember is dropped. */
	[S_GC] = "DELETE FROM leases WHERE key = ?1 AND ipv4 IS NULL AND ipv6 IS NULL"
		 " AND conn IS NULL AND active = 0 AND reserved = 0",
	[S_REVOKE] = "UPDATE leases SET active = 0, reserved = 0 WHERE key = ?1",
	[S_SET_CONN] = "UPDATE leases SET conn = ?2, conn_pid = ?3 WHERE key = ?1",
	[S_EXPIRE] = "UPDATE leases SET active = 0 WHERE active = 1 AND expires <= ?1",
	[S_STALE] = "SELECT " COLS " FROM leases WHERE conn IS NOT NULL"
		    " AND NOT (active = 1 AND expires > ?1) ORDER BY key",
	[S_CLEAR_CONN] = "UPDATE leases SET conn = NULL, conn_pid = NULL WHERE key = ?1"
			 " AND conn = ?2 AND conn_pid IS ?3 AND NOT (active = 1 AND expires > ?4)",
	[S_ALL] = "SELECT " COLS " FROM leases"
		  " ORDER BY ipv4 IS NULL, ipv4, ipv6 IS NULL, ipv6, key",
	[S_META_GET] = "SELECT v FROM meta WHERE k = ?1",
	[S_META_SET] = "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)",
	/*
	 * Walks in rowid order, the table's own: a page of leases is a run of
	 * neighbouring rows, so the connection numbers a sync then records
	 * dirty a few pages, not (in key order) most of the table each time.
	 */
	[S_PAGE] = "SELECT " COLS ", rowid FROM leases WHERE rowid > ?1 AND active = 1"
		   " AND expires > ?2 ORDER BY rowid LIMIT ?3",
	[S_EVERY] = "SELECT " COLS " FROM leases",
	/* NULL keeps a value: -1 (the config's default) is stored as NULL. */
	[S_LIMITS] = "UPDATE leases SET"
		     " rate_down = CASE WHEN ?2 IS NULL THEN rate_down WHEN ?2 < 0 THEN NULL"
		     " ELSE ?2 END,"
		     " rate_up = CASE WHEN ?3 IS NULL THEN rate_up WHEN ?3 < 0 THEN NULL"
		     " ELSE ?3 END,"
		     " quota = CASE WHEN ?4 IS NULL THEN quota WHEN ?4 < 0 THEN NULL ELSE ?4 END"
		     " WHERE key = ?1",
	[S_PERIOD] = "UPDATE leases SET down_bytes = 0, up_bytes = 0, period_start = ?1"
		     " WHERE period_start <> ?1",
	[S_UNSEE] = "UPDATE leases SET seen_d4 = 0, seen_u4 = 0, seen_d6 = 0, seen_u6 = 0"
		    " WHERE seen_d4 OR seen_u4 OR seen_d6 OR seen_u6",
	[S_FOLD4] = "UPDATE leases SET down_bytes = down_bytes + ?2, up_bytes = up_bytes + ?3,"
		    " seen_d4 = ?4, seen_u4 = ?5 WHERE key = ?1",
	[S_FOLD6] = "UPDATE leases SET down_bytes = down_bytes + ?2, up_bytes = up_bytes + ?3,"
		    " seen_d6 = ?4, seen_u6 = ?5 WHERE key = ?1",
};

struct leasedb {
	sqlite3 *db;
	char *path;
	char *dir;		/* the state directory, symlinks resolved */
	uid_t uid;		/* its owner: what root creates there is theirs */
	gid_t gid;
	sqlite3_stmt *st[S_NSTMT];
	int lockfd;		/* the writers' queue (see begin); -1 when none could be opened */
	bool group;		/* inside leasedb_group_begin: changes are savepoints */
};

/* What differs between the two families. */
struct fam {
	int family;		/* AF_INET, AF_INET6 */
	int id;			/* 4 or 6: what the tables store */
	int len;		/* address bytes */
	enum stmt holder, steal, drop;
};

static const struct fam fams[2] = {
	{ AF_INET, 4, 4, S_HOLDER4, S_STEAL4, S_DROP4 },
	{ AF_INET6, 6, 16, S_HOLDER6, S_STEAL6, S_DROP6 },
};

static int errno_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CANTOPEN:
		return -EACCES;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_FULL:
		/*
		 * Not -ENOSPC: in visp that is an exhausted pool or max_leases,
		 * which lease serve tells the requester as it is and exit_code
		 * makes 6 ("unavailable"). A full disk is the command failing (1),
		 * and none of the requester's business.
		 */
		return -EIO;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		return -EIO;
	}
}

/*
 * Call before anything else touches the connection: the message is the last
 * call's. SQLite's own words ("disk I/O error", "unable to open database
 * file") do not say why; the system call that failed does: on a full disk,
 * growing the -wal or -shm file fails with ENOSPC and SQLite says only
 * "disk I/O error". Its errno is appended.
 */
static int sqlerr(struct leasedb *db, int rc, struct verr *err)
{
	const char *msg = db->db ? sym_sqlite3_errmsg(db->db) : sym_sqlite3_errstr(rc);
	int sys = db->db ? sym_sqlite3_system_errno(db->db) : 0;

	switch (rc & 0xff) {
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		if (sys)
			return verr_set(err, errno_of(rc), "lease store '%s': %s (%s)", db->path,
					msg, strerror(sys));
	}
	return verr_set(err, errno_of(rc), "lease store '%s': %s", db->path, msg);
}

static int prep(struct leasedb *db, enum stmt id, sqlite3_stmt **out, struct verr *err)
{
	int rc;

	if (!db->st[id]) {
		rc = sym_sqlite3_prepare_v3(db->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&db->st[id], NULL);
		if (rc != SQLITE_OK)
			return sqlerr(db, rc, err);
	}
	*out = db->st[id];
	return 0;
}

static void done(sqlite3_stmt *s)
{
	if (s) {
		sym_sqlite3_reset(s);
		sym_sqlite3_clear_bindings(s);
	}
}

/* Step s once: 1 for a row, 0 when done, or -errno. */
static int step(struct leasedb *db, sqlite3_stmt *s, struct verr *err)
{
	int rc = sym_sqlite3_step(s);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sqlerr(db, rc, err);
}

static int exec(struct leasedb *db, const char *text, struct verr *err)
{
	int rc = sym_sqlite3_exec(db->db, text, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sqlerr(db, rc, err);
}

enum txn {
	READ,		/* a consistent snapshot; never waits in WAL mode */
	WRITE,		/* one writer at a time */
	DURABLE,	/* WRITE, and on disk once committed: addresses handed out */
};

/*
 * Writers queue on a flock of leases.lock before SQLite's own write lock.
 * SQLite's busy handler polls with sleeps growing to 100 ms, so with a few
 * dozen concurrent lease requests on a small machine most of them slept
 * while the lock was free, and some gave up after the 5 s busy timeout
 * ("database is locked"). flock waiters sleep in the kernel and wake when
 * the holder unlocks; a holder that dies releases it. Transactions hold it
 * for a fraction of a millisecond and never across a call to cjdns.
 */
static void writers_lock(struct leasedb *db)
{
	if (db->lockfd >= 0)
		file_flock(db->lockfd, -1);
}

static void writers_unlock(struct leasedb *db)
{
	if (db->lockfd >= 0)
		flock(db->lockfd, LOCK_UN);
}

/*
 * Writers take the write lock up front: two grants never read the same
 * free address. The connection runs with synchronous = NORMAL, which in WAL
 * mode survives any crash of visp but may lose the last commits to a power
 * cut: fine for connection numbers (cjdns loses them too) and the like, not
 * for a lease a client was told about. DURABLE commits sync the WAL.
 */
static int begin(struct leasedb *db, enum txn mode, struct verr *err)
{
	int ret;

	if (db->group)
		return exec(db, "SAVEPOINT one", err);
	if (mode == READ)
		return exec(db, "BEGIN", err);
	writers_lock(db);
	ret = exec(db, mode == DURABLE ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
		   err);
	if (ret == 0)
		ret = exec(db, "BEGIN IMMEDIATE", err);
	if (ret < 0)
		writers_unlock(db);
	return ret;
}

static int commit(struct leasedb *db, struct verr *err)
{
	int ret;

	if (db->group)
		return exec(db, "RELEASE one", err);
	ret = exec(db, "COMMIT", err);

	writers_unlock(db);
	return ret;
}

static void rollback(struct leasedb *db)
{
	if (db->group) {
		sym_sqlite3_exec(db->db, "ROLLBACK TO one; RELEASE one", NULL, NULL, NULL);
		return;
	}
	if (!sym_sqlite3_get_autocommit(db->db))
		sym_sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	writers_unlock(db);
}

static int check_key(const char *key, struct verr *err)
{
	size_t len = key ? strlen(key) : 0;

	if (len == 0 || len > LEASEDB_KEY_MAX)
		return verr_set(err, -EINVAL, "'%.60s' is not a public key (bad length)",
				key ? key : "");
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)key[i] <= ' ' || (unsigned char)key[i] >= 0x7f)
			return verr_set(err, -EINVAL, "public key has a bad character");
	return 0;
}

static int check_name(const char *name, struct verr *err)
{
	if (strlen(name) > LEASEDB_NAME_MAX)
		return verr_set(err, -EINVAL, "name '%.20s...' is longer than %d bytes", name,
				LEASEDB_NAME_MAX);
	for (const char *p = name; *p; p++)
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return verr_set(err, -EINVAL, "name has a control character");
	return 0;
}

static void col_addr(sqlite3_stmt *s, int col, int family, struct cidr *out, bool *has)
{
	int len = family == AF_INET ? 4 : 16;

	*has = false;
	memset(out, 0, sizeof(*out));
	if (sym_sqlite3_column_type(s, col) != SQLITE_BLOB || sym_sqlite3_column_bytes(s, col) != len)
		return;
	out->family = family;
	memcpy(out->addr, sym_sqlite3_column_blob(s, col), len);
	out->prefix = sym_sqlite3_column_int(s, col + 1);
	*has = true;
}

static int64_t col_opt(sqlite3_stmt *s, int col)
{
	return sym_sqlite3_column_type(s, col) == SQLITE_NULL ? -1 : sym_sqlite3_column_int64(s, col);
}

/* A row of COLS. */
static void col_lease(sqlite3_stmt *s, struct lease *l)
{
	const unsigned char *t;

	memset(l, 0, sizeof(*l));
	t = sym_sqlite3_column_text(s, 0);
	snprintf(l->key, sizeof(l->key), "%s", t ? (const char *)t : "");
	t = sym_sqlite3_column_text(s, 1);
	snprintf(l->name, sizeof(l->name), "%s", t ? (const char *)t : "");
	col_addr(s, 2, AF_INET, &l->ipv4, &l->has_ipv4);
	col_addr(s, 4, AF_INET6, &l->ipv6, &l->has_ipv6);
	l->created = sym_sqlite3_column_int64(s, 6);
	l->expires = sym_sqlite3_column_int64(s, 7);
	l->active = sym_sqlite3_column_int(s, 8);
	l->reserved = sym_sqlite3_column_int(s, 9);
	l->conn = col_opt(s, 10);
	l->conn_pid = l->conn < 0 ? -1 : col_opt(s, 11);
	l->rate_down = col_opt(s, 12);
	l->rate_up = col_opt(s, 13);
	l->quota = col_opt(s, 14);
	l->down_bytes = sym_sqlite3_column_int64(s, 15);
	l->up_bytes = sym_sqlite3_column_int64(s, 16);
	l->period_start = sym_sqlite3_column_int64(s, 17);
	for (int i = 0; i < 4; i++)
		l->seen[i] = sym_sqlite3_column_int64(s, 18 + i);
}

static bool lease_has(const struct lease *l, int fi)
{
	return fi == 0 ? l->has_ipv4 : l->has_ipv6;
}

static struct cidr *lease_addr(struct lease *l, int fi)
{
	return fi == 0 ? &l->ipv4 : &l->ipv6;
}

static void lease_set(struct lease *l, int fi, const struct cidr *a)
{
	if (fi == 0) {
		l->has_ipv4 = a != NULL;
		if (a)
			l->ipv4 = *a;
	} else {
		l->has_ipv6 = a != NULL;
		if (a)
			l->ipv6 = *a;
	}
}

/* One lease by key (S_GET) or by address (S_HOLDER4/6); *found says whether. */
static int lookup(struct leasedb *db, enum stmt id, const void *k, int klen, struct lease *out,
		  bool *found, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	*found = false;
	ret = prep(db, id, &s, err);
	if (ret < 0)
		goto out;
	if (id == S_GET)
		sym_sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	else
		sym_sqlite3_bind_blob(s, 1, k, klen, SQLITE_STATIC);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	if (ret == 1) {
		col_lease(s, out);
		*found = true;
	}
	ret = 0;
out:
	done(s);
	return ret;
}

/* The address at offset off of fam fi's pool. */
static int off_addr(const struct pool *pool, int fi, uint64_t off, struct cidr *out,
		    struct verr *err)
{
	if (pool_addr(pool, fams[fi].family, off, out) < 0)
		return verr_set(err, -ERANGE, "offset %llu is not leasable in pool %s",
				(unsigned long long)off, pool_name(pool, fams[fi].family));
	return 0;
}

static int held(struct leasedb *db, int fi, const struct cidr *a, struct lease *holder,
		bool *found, struct verr *err)
{
	return lookup(db, fams[fi].holder, a->addr, fams[fi].len, holder, found, err);
}

/* Run a statement that takes (?1 text, ?2 int64) or fewer and returns no rows. */
static int run(struct leasedb *db, enum stmt id, const char *t, int64_t i, bool bind_i,
	       struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, id, &s, err);
	if (ret < 0)
		goto out;
	if (t)
		sym_sqlite3_bind_text(s, 1, t, -1, SQLITE_STATIC);
	if (bind_i)
		sym_sqlite3_bind_int64(s, t ? 2 : 1, i);
	ret = step(db, s, err);
	if (ret > 0)
		ret = 0;
out:
	done(s);
	return ret;
}

static int free_op(struct leasedb *db, enum stmt id, int fi, uint64_t off, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, id, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_int(s, 1, fams[fi].id);
	sym_sqlite3_bind_int64(s, 2, (int64_t)off);
	ret = step(db, s, err);
	if (ret > 0)
		ret = 0;
out:
	done(s);
	return ret;
}

static int alloc_set(struct leasedb *db, const struct pool *pool, int fi, uint64_t hw,
		     struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, S_ALLOC_SET, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_int(s, 1, fams[fi].id);
	sym_sqlite3_bind_text(s, 2, pool_name(pool, fams[fi].family), -1, SQLITE_STATIC);
	sym_sqlite3_bind_int64(s, 3, (int64_t)hw);
	ret = step(db, s, err);
	if (ret > 0)
		ret = 0;
out:
	done(s);
	return ret;
}

/*
 * The high-water mark of fam fi for the configured pool. Bookkeeping made for
 * another pool is reset here (see the top of the file).
 */
static int alloc_get(struct leasedb *db, const struct pool *pool, int fi, uint64_t *hw,
		     struct verr *err)
{
	sqlite3_stmt *s = NULL;
	uint64_t first, last;
	const unsigned char *name;
	bool same = false;
	int ret;

	pool_range(pool, fams[fi].family, &first, &last);
	ret = prep(db, S_ALLOC_GET, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_int(s, 1, fams[fi].id);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	if (ret == 1) {
		name = sym_sqlite3_column_text(s, 0);
		*hw = (uint64_t)sym_sqlite3_column_int64(s, 1);
		same = name && !strcmp((const char *)name, pool_name(pool, fams[fi].family)) &&
		       *hw >= first && *hw <= last + 1;
	}
	done(s);
	s = NULL;
	ret = 0;
	if (same)
		goto out;
	*hw = first;
	ret = run(db, S_FREE_RESET, NULL, fams[fi].id, true, err);
	if (ret < 0)
		goto out;
	ret = alloc_set(db, pool, fi, *hw, err);
out:
	done(s);
	return ret;
}

/* The lowest offset no row holds: the free list first, then the high-water mark. */
static int alloc_fresh(struct leasedb *db, const struct pool *pool, int fi, uint64_t *off,
		       bool *found, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	struct lease holder;
	struct cidr a;
	uint64_t first, last, hw, m;
	bool is_held, any;
	int ret;

	*found = false;
	pool_range(pool, fams[fi].family, &first, &last);
	ret = alloc_get(db, pool, fi, &hw, err);
	if (ret < 0)
		goto out;
	for (;;) {
		ret = prep(db, S_FREE_MIN, &s, err);
		if (ret < 0)
			goto out;
		sym_sqlite3_bind_int(s, 1, fams[fi].id);
		ret = step(db, s, err);
		if (ret < 0)
			goto out;
		any = sym_sqlite3_column_type(s, 0) != SQLITE_NULL;
		m = (uint64_t)sym_sqlite3_column_int64(s, 0);
		done(s);
		s = NULL;
		if (!any)
			break;
		ret = free_op(db, S_FREE_DEL, fi, m, err);
		if (ret < 0)
			goto out;
		/* Never trust bookkeeping over the rows themselves. */
		if (m < first || m >= hw)
			continue;
		ret = off_addr(pool, fi, m, &a, err);
		if (ret < 0)
			goto out;
		ret = held(db, fi, &a, &holder, &is_held, err);
		if (ret < 0)
			goto out;
		if (!is_held) {
			*off = m;
			*found = true;
			goto out;
		}
	}
	/* Reservations may sit above the mark: step over them. */
	for (; hw <= last; hw++) {
		ret = off_addr(pool, fi, hw, &a, err);
		if (ret < 0)
			goto out;
		ret = held(db, fi, &a, &holder, &is_held, err);
		if (ret < 0)
			goto out;
		if (!is_held) {
			*off = hw++;
			*found = true;
			break;
		}
	}
	ret = alloc_set(db, pool, fi, hw, err);
out:
	done(s);
	return ret;
}

/* Take the address of the lease that expired the longest ago (not key's own). */
static int steal(struct leasedb *db, const struct pool *pool, int fi, const char *key,
		 struct cidr *out, bool *found, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	struct cidr lo, hi;
	uint64_t first, last;
	char *victim = NULL;
	int ret;

	*found = false;
	pool_range(pool, fams[fi].family, &first, &last);
	ret = off_addr(pool, fi, first, &lo, err);
	if (ret < 0)
		goto out;
	ret = off_addr(pool, fi, last, &hi, err);
	if (ret < 0)
		goto out;
	ret = prep(db, fams[fi].steal, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_blob(s, 1, lo.addr, fams[fi].len, SQLITE_STATIC);
	sym_sqlite3_bind_blob(s, 2, hi.addr, fams[fi].len, SQLITE_STATIC);
	sym_sqlite3_bind_text(s, 3, key, -1, SQLITE_STATIC);
	ret = step(db, s, err);
	if (ret <= 0)
		goto out;
	victim = strdup((const char *)sym_sqlite3_column_text(s, 0));
	if (!victim) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*out = lo;
	memcpy(out->addr, sym_sqlite3_column_blob(s, 1), fams[fi].len);
	done(s);
	s = NULL;
	ret = run(db, fams[fi].drop, victim, 0, false, err);
	if (ret < 0)
		goto out;
	ret = run(db, S_GC, victim, 0, false, err);
	if (ret < 0)
		goto out;
	*found = true;
out:
	done(s);
	free(victim);
	return ret;
}

/* off is no longer held: below the high-water mark it goes on the free list. */
static int release(struct leasedb *db, const struct pool *pool, int fi, uint64_t off,
		   struct verr *err)
{
	uint64_t hw;
	int ret;

	ret = alloc_get(db, pool, fi, &hw, err);
	if (ret < 0 || off >= hw)
		goto out;
	ret = free_op(db, S_FREE_ADD, fi, off, err);
out:
	return ret;
}

/* Take a reserved address, making sure nobody else needs it. */
static int take_wanted(struct leasedb *db, const struct pool *pool, int fi, const char *key,
		       const struct cidr *want, int64_t now, struct cidr *out, uint64_t *offp,
		       struct verr *err)
{
	struct lease holder;
	char a[CIDR_STRLEN];
	uint64_t off, hw;
	bool found;
	int ret;

	ret = pool_offset(pool, want, &off, err);
	if (ret < 0)
		goto out;
	*offp = off;
	ret = off_addr(pool, fi, off, out, err);
	if (ret < 0)
		goto out;
	ret = held(db, fi, out, &holder, &found, err);
	if (ret < 0)
		goto out;
	cidr_format(out, false, a, sizeof(a));
	if (found && strcmp(holder.key, key)) {
		ret = -EADDRINUSE;
		if (lease_is_current(&holder, now)) {
			verr_set(err, ret, "%s is leased to %s%s%s%s", a, holder.key,
				 *holder.name ? " (" : "", holder.name, *holder.name ? ")" : "");
			goto out;
		}
		if (holder.reserved) {
			verr_set(err, ret, "%s is reserved for %s%s%s%s", a, holder.key,
				 *holder.name ? " (" : "", holder.name, *holder.name ? ")" : "");
			goto out;
		}
		/* An expired lease's affinity gives way to the operator. */
		ret = run(db, fams[fi].drop, holder.key, 0, false, err);
		if (ret < 0)
			goto out;
		ret = run(db, S_GC, holder.key, 0, false, err);
		goto out;
	}
	if (found)
		goto out;
	ret = alloc_get(db, pool, fi, &hw, err);
	if (ret < 0 || off >= hw)
		goto out;
	ret = free_op(db, S_FREE_DEL, fi, off, err);
out:
	return ret;
}

/*
 * Settle res's address of fam fi (res starts as key's row, or empty) per the
 * rules in leasedb.h; *changed is set when it differs from what it was.
 */
static int assign(struct leasedb *db, const struct pool *pool, int fi, const char *key,
		  const struct cidr *want, int64_t now, struct lease *res, bool *changed,
		  struct verr *err)
{
	int family = fams[fi].family;
	const struct cidr *net = pool_net(pool, family);
	struct cidr *cur = lease_addr(res, fi), a;
	uint64_t hoff = 0, off = 0;
	bool have = false, found;
	int ret = 0;

	if (!net && want) {
		ret = pool_offset(pool, want, &off, err);	/* says there is no such pool */
		goto out;
	}
	if (!net) {
		/* No pool of this family (any more): the lease carries no such address. */
		if (lease_has(res, fi))
			*changed = true;
		lease_set(res, fi, NULL);
		goto out;
	}
	have = lease_has(res, fi) && pool_offset(pool, cur, &hoff, NULL) == 0;
	if (want) {
		ret = take_wanted(db, pool, fi, key, want, now, &a, &off, err);
		if (ret < 0)
			goto out;
		if (have && off == hoff) {
			*changed |= cur->prefix != net->prefix;
			cur->prefix = net->prefix;
			goto out;
		}
		if (have) {
			ret = release(db, pool, fi, hoff, err);
			if (ret < 0)
				goto out;
		}
	} else if (have) {
		if (cur->prefix != net->prefix) {
			cur->prefix = net->prefix;
			*changed = true;
		}
		goto out;
	} else {
		ret = alloc_fresh(db, pool, fi, &off, &found, err);
		if (ret < 0)
			goto out;
		if (found)
			ret = off_addr(pool, fi, off, &a, err);
		else
			ret = steal(db, pool, fi, key, &a, &found, err);
		if (ret < 0)
			goto out;
		if (!found) {
			ret = verr_set(err, -ENOSPC, "pool %s is exhausted",
				       pool_name(pool, family));
			goto out;
		}
	}
	a.prefix = net->prefix;
	lease_set(res, fi, &a);
	*changed = true;
out:
	return ret;
}

static int count_current(struct leasedb *db, int64_t now, long *n, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, S_COUNT, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_int64(s, 1, now);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	*n = sym_sqlite3_column_int64(s, 0);
	ret = 0;
out:
	done(s);
	return ret;
}

static void bind_addr(sqlite3_stmt *s, int col, const struct lease *l, int fi)
{
	const struct cidr *a = fi == 0 ? &l->ipv4 : &l->ipv6;

	if (!lease_has(l, fi)) {
		sym_sqlite3_bind_null(s, col);
		sym_sqlite3_bind_null(s, col + 1);
		return;
	}
	sym_sqlite3_bind_blob(s, col, a->addr, fams[fi].len, SQLITE_STATIC);
	sym_sqlite3_bind_int(s, col + 1, a->prefix);
}

static int upsert(struct leasedb *db, const struct lease *l, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, S_UPSERT, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_text(s, 1, l->key, -1, SQLITE_STATIC);
	if (*l->name)
		sym_sqlite3_bind_text(s, 2, l->name, -1, SQLITE_STATIC);
	bind_addr(s, 3, l, 0);
	bind_addr(s, 5, l, 1);
	sym_sqlite3_bind_int64(s, 7, l->created);
	sym_sqlite3_bind_int64(s, 8, l->expires);
	sym_sqlite3_bind_int(s, 9, l->active);
	sym_sqlite3_bind_int(s, 10, l->reserved);
	if (l->conn >= 0) {
		sym_sqlite3_bind_int64(s, 11, l->conn);
		if (l->conn_pid >= 0)
			sym_sqlite3_bind_int64(s, 12, l->conn_pid);
	}
	ret = step(db, s, err);
	if (ret > 0)
		ret = 0;
out:
	done(s);
	return ret;
}

int leasedb_grant(struct leasedb *db, const struct pool *pool, const char *key, const char *name,
		  const struct cidr *want4, const struct cidr *want6, long lease_time, int64_t now,
		  struct lease *out, bool *is_new, struct verr *err)
{
	const struct cidr *want[2] = { want4, want6 };
	struct lease res;
	bool found, current, changed = false;
	long n;
	int ret;

	ret = check_key(key, err);
	if (ret < 0)
		goto out;
	if (name) {
		ret = check_name(name, err);
		if (ret < 0)
			goto out;
	}
	ret = -EINVAL;
	if (lease_time <= 0) {
		verr_set(err, ret, "lease time %ld is not positive", lease_time);
		goto out;
	}
	if ((want4 && want4->family != AF_INET) || (want6 && want6->family != AF_INET6)) {
		verr_set(err, ret, "reserved address of the wrong family");
		goto out;
	}
	ret = begin(db, DURABLE, err);
	if (ret < 0)
		goto out;
	/* Cheap (an index range) and keeps S_COUNT cheap; connections stay recorded. */
	ret = run(db, S_EXPIRE, NULL, now, true, err);
	if (ret < 0)
		goto out;
	ret = lookup(db, S_GET, key, 0, &res, &found, err);
	if (ret < 0)
		goto out;
	current = found && lease_is_current(&res, now);
	if (!found) {
		memset(&res, 0, sizeof(res));
		snprintf(res.key, sizeof(res.key), "%s", key);
		res.conn = res.conn_pid = -1;
		res.rate_down = res.rate_up = res.quota = -1;	/* NULL in the new row */
	}
	if (!current && pool_max_leases(pool) > 0) {
		ret = count_current(db, now, &n, err);
		if (ret < 0)
			goto out;
		if (n >= pool_max_leases(pool)) {
			ret = verr_set(err, -ENOSPC, "max_leases (%ld) reached",
				       pool_max_leases(pool));
			goto out;
		}
	}
	for (int fi = 0; fi < 2; fi++) {
		ret = assign(db, pool, fi, key, want[fi], now, &res, &changed, err);
		if (ret < 0)
			goto out;
	}
	if (!current)
		res.created = now;
	res.expires = now + lease_time;
	res.active = true;
	res.reserved = res.reserved || want4 || want6;
	if (name)
		snprintf(res.name, sizeof(res.name), "%s", name);
	ret = upsert(db, &res, err);
	if (ret < 0)
		goto out;
	ret = commit(db, err);
	if (ret < 0)
		goto out;
	if (out)
		*out = res;
	if (is_new)
		*is_new = !current || changed;
out:
	if (ret < 0)
		rollback(db);
	return ret;
}

/*
 * Group commit: the changes between leasedb_group_begin and _end are each a
 * savepoint of one durable transaction, so a change that fails undoes only
 * itself, and the group costs one fsync of the WAL however many it holds.
 */
int leasedb_group_begin(struct leasedb *db, struct verr *err)
{
	int ret = begin(db, DURABLE, err);

	if (ret == 0)
		db->group = true;
	return ret;
}

int leasedb_group_end(struct leasedb *db, bool keep, struct verr *err)
{
	int ret = 0;

	if (!db->group)
		return 0;
	db->group = false;
	/* An I/O error or a full disk makes SQLite roll back the whole transaction. */
	if (keep && sym_sqlite3_get_autocommit(db->db))
		ret = verr_set(err, -EIO, "lease store: the group's transaction was rolled back");
	else if (keep)
		ret = commit(db, err);
	if (ret < 0 || !keep)
		rollback(db);
	return ret;
}

int leasedb_get(struct leasedb *db, const char *key, struct lease *out, struct verr *err)
{
	bool found;
	int ret;

	ret = check_key(key, err);
	if (ret < 0)
		return ret;
	ret = lookup(db, S_GET, key, 0, out, &found, err);
	if (ret == 0 && !found)
		ret = verr_set(err, -ENOENT, "%s has no lease", key);
	return ret;
}

int leasedb_revoke(struct leasedb *db, const char *key, struct lease *old, struct verr *err)
{
	struct lease l;
	bool found;
	int ret;

	ret = check_key(key, err);
	if (ret < 0)
		goto out;
	ret = begin(db, DURABLE, err);
	if (ret < 0)
		goto out;
	ret = lookup(db, S_GET, key, 0, &l, &found, err);
	if (ret < 0)
		goto out;
	if (!found || (!l.active && !l.reserved)) {
		ret = verr_set(err, -ENOENT, "%s has no lease", key);
		goto out;
	}
	ret = run(db, S_REVOKE, key, 0, false, err);
	if (ret < 0)
		goto out;
	ret = commit(db, err);
	if (ret < 0)
		goto out;
	if (old)
		*old = l;
out:
	if (ret < 0)
		rollback(db);
	return ret;
}

int leasedb_set_conns(struct leasedb *db, const struct leasedb_conn *v, size_t n, size_t *missing,
		      struct verr *err)
{
	sqlite3_stmt *s = NULL;
	size_t lost = 0;
	int ret;

	for (size_t i = 0; i < n; i++) {
		ret = check_key(v[i].key, err);
		if (ret < 0)
			return ret;
	}
	ret = begin(db, WRITE, err);
	if (ret < 0)
		goto out;
	/*
	 * A sync records thousands of numbers, a few hundred at a time: let
	 * the WAL grow meanwhile and the next other write checkpoint it all,
	 * rather than checkpoint after every batch (three quarters of the time).
	 */
	sym_sqlite3_wal_autocheckpoint(db->db, 0);
	ret = prep(db, S_SET_CONN, &s, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		sym_sqlite3_bind_text(s, 1, v[i].key, -1, SQLITE_STATIC);
		if (v[i].conn >= 0) {
			sym_sqlite3_bind_int64(s, 2, v[i].conn);
			if (v[i].pid >= 0)
				sym_sqlite3_bind_int64(s, 3, v[i].pid);
		}
		ret = step(db, s, err);
		if (ret < 0)
			goto out;
		lost += sym_sqlite3_changes(db->db) == 0;
		done(s);
	}
	ret = commit(db, err);
	if (ret == 0 && missing)
		*missing = lost;
out:
	done(s);
	if (ret < 0)
		rollback(db);
	sym_sqlite3_wal_autocheckpoint(db->db, WAL_PAGES);
	return ret;
}

int leasedb_set_conn(struct leasedb *db, const char *key, int64_t conn, int64_t pid,
		     struct verr *err)
{
	struct leasedb_conn c = { .key = key, .conn = conn, .pid = pid };
	size_t missing = 0;
	int ret;

	ret = leasedb_set_conns(db, &c, 1, &missing, err);
	if (ret == 0 && missing)
		ret = verr_set(err, -ENOENT, "%s has no lease", key);
	return ret;
}

/* Inside a transaction. */
static int meta_put(struct leasedb *db, const char *k, const char *v, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, S_META_SET, &s, err);
	if (ret < 0)
		return ret;
	sym_sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	sym_sqlite3_bind_text(s, 2, v, -1, SQLITE_STATIC);
	ret = step(db, s, err);
	done(s);
	return ret < 0 ? ret : 0;
}

static void bind_opt(sqlite3_stmt *s, int col, const int64_t *v)
{
	if (v)
		sym_sqlite3_bind_int64(s, col, *v);
}

int leasedb_set_limits(struct leasedb *db, const char *key, const int64_t *rate_down,
		       const int64_t *rate_up, const int64_t *quota, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = begin(db, WRITE, err);
	if (ret < 0)
		return ret;
	ret = prep(db, S_LIMITS, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	bind_opt(s, 2, rate_down);
	bind_opt(s, 3, rate_up);
	bind_opt(s, 4, quota);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	ret = sym_sqlite3_changes(db->db) ? commit(db, err)
					  : verr_set(err, -ENOENT, "no lease for '%s'", key);
out:
	done(s);
	if (ret < 0)
		rollback(db);
	return ret;
}

/*
 * What one counter pair adds: the kernel counts from the moment its element
 * was made. A counter below what was last seen belongs to a new element
 * (deleted and made again): all of it is new.
 */
static int64_t counter_delta(int64_t cur, int64_t seen)
{
	return cur >= seen ? cur - seen : cur;
}

struct fold {
	const char *key;
	int fi;
	int64_t d, u, cur_d, cur_u;
};

static int fold_one(struct leasedb *db, const struct fold *f, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = prep(db, f->fi ? S_FOLD6 : S_FOLD4, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_text(s, 1, f->key, -1, SQLITE_STATIC);
	sym_sqlite3_bind_int64(s, 2, f->d);
	sym_sqlite3_bind_int64(s, 3, f->u);
	sym_sqlite3_bind_int64(s, 4, f->cur_d);
	sym_sqlite3_bind_int64(s, 5, f->cur_u);
	ret = step(db, s, err);
	if (ret > 0)
		ret = 0;
out:
	done(s);
	return ret;
}

/*
 * Three passes in one transaction: the deltas are worked out against the
 * seen values as they are, every seen value is cleared (an address with no
 * element counts from 0 when one appears), then each delta is added and its
 * counters recorded as seen.
 */
int leasedb_fold(struct leasedb *db, const struct leasedb_counter *v, size_t n,
		 const char *table_id, int64_t period_start, int64_t now, size_t *folded,
		 struct verr *err)
{
	char seen_id[128], when[32];
	struct fold *f = NULL;
	size_t nf = 0;
	bool fresh;
	int ret;

	if (folded)
		*folded = 0;
	f = calloc(n ? n : 1, sizeof(*f));
	if (!f)
		return verr_set(err, -ENOMEM, "out of memory");
	ret = begin(db, WRITE, err);
	if (ret < 0)
		goto out;
	fresh = leasedb_meta_get(db, LEASEDB_META_TABLE, seen_id, sizeof(seen_id), NULL) < 0 ||
		strcmp(seen_id, table_id);
	snprintf(when, sizeof(when), "%lld", (long long)now);
	ret = meta_put(db, LEASEDB_META_TABLE, table_id, err);
	if (ret == 0)
		ret = meta_put(db, LEASEDB_META_FOLDED, when, err);
	if (ret == 0)
		ret = run(db, S_PERIOD, NULL, period_start, true, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int fi = v[i].addr.family == AF_INET6;
		struct lease *l = calloc(1, sizeof(*l));
		bool found;

		if (!l) {
			ret = verr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		ret = lookup(db, fams[fi].holder, v[i].addr.addr, fams[fi].len, l, &found, err);
		if (ret == 0 && found && (v[i].down || v[i].up)) {
			f[nf].key = strdup(l->key);
			f[nf].fi = fi;
			f[nf].cur_d = (int64_t)v[i].down;
			f[nf].cur_u = (int64_t)v[i].up;
			f[nf].d = counter_delta(f[nf].cur_d, fresh ? 0 : l->seen[2 * fi]);
			f[nf].u = counter_delta(f[nf].cur_u, fresh ? 0 : l->seen[2 * fi + 1]);
			if (!f[nf].key)
				ret = verr_set(err, -ENOMEM, "out of memory");
			nf++;
		}
		free(l);
		if (ret < 0)
			goto out;
	}
	ret = run(db, S_UNSEE, NULL, 0, false, err);
	for (size_t i = 0; ret == 0 && i < nf; i++)
		ret = fold_one(db, &f[i], err);
	if (ret == 0)
		ret = commit(db, err);
	if (ret == 0 && folded)
		*folded = nf;
out:
	if (ret < 0)
		rollback(db);
	for (size_t i = 0; i < nf; i++)
		free((char *)f[i].key);
	free(f);
	return ret;
}

/* Read the rows a statement returns, so callbacks run with no statement open. */
static int read_all(struct leasedb *db, enum stmt id, int64_t now, struct lease **out,
		    size_t *n, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	struct lease *v = NULL, *nv;
	size_t cap = 0, len = 0;
	int ret;

	ret = prep(db, id, &s, err);
	if (ret < 0)
		goto out;
	if (sym_sqlite3_bind_parameter_count(s) > 0)
		sym_sqlite3_bind_int64(s, 1, now);
	while ((ret = step(db, s, err)) == 1) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			nv = reallocarray(v, cap, sizeof(*v));
			if (!nv) {
				ret = verr_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		col_lease(s, &v[len++]);
	}
	if (ret < 0)
		goto out;
	*out = v;
	*n = len;
	v = NULL;
out:
	done(s);
	free(v);
	return ret;
}

int leasedb_foreach(struct leasedb *db, leasedb_cb cb, void *arg, struct verr *err)
{
	struct lease *v = NULL;
	size_t n = 0;
	int ret;

	ret = read_all(db, S_ALL, 0, &v, &n, err);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		ret = cb(&v[i], arg);
		if (ret > 0)
			ret = 0;
	}
	free(v);
	return ret;
}

int leasedb_current_page(struct leasedb *db, int64_t *cursor, int64_t now, struct lease *v,
			 size_t max, size_t *n, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	*n = 0;
	ret = prep(db, S_PAGE, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_int64(s, 1, *cursor);
	sym_sqlite3_bind_int64(s, 2, now);
	sym_sqlite3_bind_int64(s, 3, (int64_t)max);
	while (*n < max && (ret = step(db, s, err)) == 1) {
		col_lease(s, &v[(*n)++]);
		*cursor = sym_sqlite3_column_int64(s, NCOLS);
	}
	if (ret > 0)
		ret = 0;
out:
	done(s);
	return ret;
}

static int clear_conn(struct leasedb *db, const struct lease *l, int64_t now, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int ret;

	ret = begin(db, WRITE, err);
	if (ret < 0)
		goto out;
	ret = prep(db, S_CLEAR_CONN, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_text(s, 1, l->key, -1, SQLITE_STATIC);
	sym_sqlite3_bind_int64(s, 2, l->conn);
	if (l->conn_pid >= 0)
		sym_sqlite3_bind_int64(s, 3, l->conn_pid);
	sym_sqlite3_bind_int64(s, 4, now);
	ret = step(db, s, err);
	done(s);
	s = NULL;
	if (ret >= 0)
		ret = commit(db, err);
out:
	done(s);
	if (ret < 0)
		rollback(db);
	return ret;
}

int leasedb_expire(struct leasedb *db, int64_t now, leasedb_cb cb, void *arg, long *expired,
		   struct verr *err)
{
	struct lease *v = NULL;
	size_t n = 0;
	int ret;

	ret = begin(db, WRITE, err);
	if (ret < 0)
		goto out;
	ret = run(db, S_EXPIRE, NULL, now, true, err);
	if (ret < 0)
		goto out;
	if (expired)
		*expired = sym_sqlite3_changes(db->db);
	ret = read_all(db, S_STALE, now, &v, &n, err);
	if (ret < 0)
		goto out;
	ret = commit(db, err);
	if (ret < 0)
		goto out;
	/*
	 * A connection is forgotten only once cb says it is gone from cjdns: a
	 * crash in between leaves it recorded for the next run.
	 */
	for (size_t i = 0; cb && i < n; i++) {
		ret = cb(&v[i], arg);
		if (ret < 0)
			goto out;
		ret = clear_conn(db, &v[i], now, err);
		if (ret < 0)
			goto out;
	}
out:
	if (ret < 0)
		rollback(db);
	free(v);
	return ret;
}

int leasedb_count(struct leasedb *db, int64_t now, long *current, struct verr *err)
{
	return count_current(db, now, current, err);
}

int leasedb_meta_get(struct leasedb *db, const char *k, char *buf, size_t len, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *v;
	int ret;

	ret = prep(db, S_META_GET, &s, err);
	if (ret < 0)
		goto out;
	sym_sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	if (ret == 0) {
		ret = verr_set(err, -ENOENT, "no '%s' in the lease store", k);
		goto out;
	}
	v = sym_sqlite3_column_text(s, 0);
	if (!v || (size_t)sym_sqlite3_column_bytes(s, 0) >= len) {
		ret = verr_set(err, -ERANGE, "'%s' in the lease store is too long", k);
		goto out;
	}
	memcpy(buf, v, sym_sqlite3_column_bytes(s, 0) + 1);
	ret = 0;
out:
	done(s);
	return ret;
}

int leasedb_meta_set(struct leasedb *db, const char *k, const char *v, struct verr *err)
{
	int ret;

	ret = begin(db, WRITE, err);
	if (ret < 0)
		return ret;
	ret = meta_put(db, k, v, err);
	if (ret == 0)
		ret = commit(db, err);
	if (ret < 0)
		rollback(db);
	return ret;
}

/* Run one-off SQL returning a single integer (PRAGMAs, counts). */
static int query_int(struct leasedb *db, const char *text, const void *b1, const void *b2,
		     int blen, int64_t *v, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	int rc, ret;

	rc = sym_sqlite3_prepare_v2(db->db, text, -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = sqlerr(db, rc, err);
		goto out;
	}
	if (b1)
		sym_sqlite3_bind_blob(s, 1, b1, blen, SQLITE_STATIC);
	if (b2)
		sym_sqlite3_bind_blob(s, 2, b2, blen, SQLITE_STATIC);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	*v = ret ? sym_sqlite3_column_int64(s, 0) : 0;
	ret = 0;
out:
	sym_sqlite3_finalize(s);
	return ret;
}

static int check_integrity(struct leasedb *db, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *t;
	int rc, ret;

	rc = sym_sqlite3_prepare_v2(db->db, "PRAGMA integrity_check", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = sqlerr(db, rc, err);
		goto out;
	}
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	t = ret ? sym_sqlite3_column_text(s, 0) : NULL;
	ret = 0;
	if (!t || strcmp((const char *)t, "ok"))
		ret = verr_set(err, -EUCLEAN, "lease store '%s': integrity_check: %s", db->path,
			       t ? (const char *)t : "no answer");
out:
	sym_sqlite3_finalize(s);
	return ret;
}

static int check_row(const struct lease *l, const struct pool *pool, int64_t now,
		     struct verr *err)
{
	char a[CIDR_STRLEN];
	struct verr why = { 0 };
	uint64_t off;

	if (check_key(l->key, NULL) < 0)
		return verr_set(err, -EUCLEAN, "malformed key '%s'", l->key);
	if (l->conn < 0 && l->conn_pid >= 0)
		return verr_set(err, -EUCLEAN, "%s: a cjdroute pid without a connection", l->key);
	if (!pool || !lease_is_current(l, now))
		return 0;
	for (int fi = 0; fi < 2; fi++) {
		const struct cidr *net = pool_net(pool, fams[fi].family);
		const struct cidr *c = fi == 0 ? &l->ipv4 : &l->ipv6;

		if (!net && lease_has(l, fi))
			return verr_set(err, -EUCLEAN, "%s has an IPv%d address but no such pool "
					"is configured", l->key, fams[fi].id);
		if (!net)
			continue;
		if (!lease_has(l, fi))
			return verr_set(err, -EUCLEAN, "%s has no address from pool %s", l->key,
					pool_name(pool, fams[fi].family));
		if (pool_offset(pool, c, &off, &why) < 0)
			return verr_set(err, -EUCLEAN, "%s: %s", l->key, why.msg);
		if (c->prefix != net->prefix)
			return verr_set(err, -EUCLEAN, "%s: %s has prefix length %d, not %d",
					l->key, cidr_format(c, false, a, sizeof(a)), c->prefix,
					net->prefix);
	}
	return 0;
}

/*
 * The allocator's bookkeeping for the configured pool: every offset in
 * [first, hw) is held by exactly one row or on the free list, never both.
 */
static int check_alloc(struct leasedb *db, const struct pool *pool, int fi, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	struct cidr lo, hi, a;
	struct lease holder;
	char text[CIDR_STRLEN];
	uint64_t first, last, hw = 0, off;
	int64_t nheld = 0, nfree = 0;
	bool ours = false, found;
	const unsigned char *name;
	int rc, ret;

	if (!pool_range(pool, fams[fi].family, &first, &last))
		return 0;
	rc = sym_sqlite3_prepare_v2(db->db, "SELECT pool, hw FROM alloc WHERE family = ?1", -1, &s,
				NULL);
	if (rc != SQLITE_OK) {
		ret = sqlerr(db, rc, err);
		goto out;
	}
	sym_sqlite3_bind_int(s, 1, fams[fi].id);
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	if (ret == 1) {
		name = sym_sqlite3_column_text(s, 0);
		ours = name && !strcmp((const char *)name, pool_name(pool, fams[fi].family));
		hw = (uint64_t)sym_sqlite3_column_int64(s, 1);
	}
	sym_sqlite3_finalize(s);
	s = NULL;
	ret = 0;
	/* Made for another pool: the next grant resets it. */
	if (!ours)
		goto out;
	ret = -EUCLEAN;
	if (hw < first || hw > last + 1) {
		verr_set(err, ret, "pool %s: high-water mark %llu out of range",
			 pool_name(pool, fams[fi].family), (unsigned long long)hw);
		goto out;
	}
	rc = sym_sqlite3_prepare_v2(db->db, "SELECT off FROM free_addrs WHERE family = ?1", -1, &s,
				NULL);
	if (rc != SQLITE_OK) {
		ret = sqlerr(db, rc, err);
		goto out;
	}
	sym_sqlite3_bind_int(s, 1, fams[fi].id);
	while ((ret = step(db, s, err)) == 1) {
		off = (uint64_t)sym_sqlite3_column_int64(s, 0);
		ret = -EUCLEAN;
		if (off < first || off >= hw || pool_addr(pool, fams[fi].family, off, &a) < 0) {
			verr_set(err, ret, "pool %s: free offset %llu out of range",
				 pool_name(pool, fams[fi].family), (unsigned long long)off);
			goto out;
		}
		ret = held(db, fi, &a, &holder, &found, err);
		if (ret < 0)
			goto out;
		if (found) {
			ret = verr_set(err, -EUCLEAN, "pool %s: %s is both free and leased to %s",
				       pool_name(pool, fams[fi].family),
				       cidr_format(&a, false, text, sizeof(text)), holder.key);
			goto out;
		}
		nfree++;
	}
	if (ret < 0)
		goto out;
	ret = 0;
	if (hw == first)
		goto out;
	ret = off_addr(pool, fi, first, &lo, err);
	if (ret < 0)
		goto out;
	ret = off_addr(pool, fi, hw - 1, &hi, err);
	if (ret < 0)
		goto out;
	ret = query_int(db, fi == 0 ? "SELECT count(*) FROM leases WHERE ipv4 BETWEEN ?1 AND ?2" :
			"SELECT count(*) FROM leases WHERE ipv6 BETWEEN ?1 AND ?2",
			lo.addr, hi.addr, fams[fi].len, &nheld, err);
	if (ret < 0)
		goto out;
	if ((uint64_t)(nheld + nfree) != hw - first)
		ret = verr_set(err, -EUCLEAN, "pool %s: %lld addresses below the high-water mark "
			       "but %lld held and %lld free", pool_name(pool, fams[fi].family),
			       (long long)(hw - first), (long long)nheld, (long long)nfree);
out:
	sym_sqlite3_finalize(s);
	return ret;
}

int leasedb_check(struct leasedb *db, const struct pool *pool, int64_t now, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	struct lease l;
	int64_t dups = 0;
	int ret;

	ret = begin(db, READ, err);
	if (ret < 0)
		goto out;
	ret = check_integrity(db, err);
	if (ret < 0)
		goto out;
	/* UNIQUE forbids these; an index out of step with its table would not. */
	ret = query_int(db, "SELECT (SELECT count(*) FROM (SELECT ipv4 FROM leases"
			" WHERE ipv4 IS NOT NULL GROUP BY ipv4 HAVING count(*) > 1))"
			" + (SELECT count(*) FROM (SELECT ipv6 FROM leases"
			" WHERE ipv6 IS NOT NULL GROUP BY ipv6 HAVING count(*) > 1))",
			NULL, NULL, 0, &dups, err);
	if (ret < 0)
		goto out;
	if (dups) {
		ret = verr_set(err, -EUCLEAN, "%lld addresses are leased twice", (long long)dups);
		goto out;
	}
	ret = query_int(db, "SELECT (SELECT n FROM counts WHERE name = 'active')"
			" - (SELECT count(*) FROM leases WHERE active = 1)", NULL, NULL, 0, &dups,
			err);
	if (ret < 0)
		goto out;
	if (dups) {
		ret = verr_set(err, -EUCLEAN, "the count of active leases is off by %lld",
			       (long long)dups);
		goto out;
	}
	/* Row by row: a big store is checked in constant memory. */
	ret = prep(db, S_EVERY, &s, err);
	if (ret < 0)
		goto out;
	while ((ret = step(db, s, err)) == 1) {
		col_lease(s, &l);
		ret = check_row(&l, pool, now, err);
		if (ret < 0)
			goto out;
	}
	if (ret < 0)
		goto out;
	done(s);
	s = NULL;
	for (int fi = 0; pool && fi < 2; fi++) {
		ret = check_alloc(db, pool, fi, err);
		if (ret < 0)
			goto out;
	}
	ret = commit(db, err);
out:
	done(s);
	if (ret < 0) {
		rollback(db);
		verr_wrap(err, "lease store '%s' is inconsistent", db->path);
	}
	return ret;
}

/*
 * Bring the schema to LEASEDB_SCHEMA; refuse databases that are not ours or
 * are newer. A read-only connection cannot: -EROFS for an older schema.
 */
static int migrate(struct leasedb *db, bool ro, struct verr *err)
{
	char text[64];
	int64_t version = 0, app = 0, tables = 0;
	bool locked = false;
	int ret;

	for (;;) {
		ret = query_int(db, "PRAGMA user_version", NULL, NULL, 0, &version, err);
		if (ret < 0)
			goto out;
		ret = query_int(db, "PRAGMA application_id", NULL, NULL, 0, &app, err);
		if (ret < 0)
			goto out;
		ret = query_int(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, 0, &tables,
				err);
		if (ret < 0)
			goto out;
		ret = -EUCLEAN;
		/* Our first migration sets application_id: tables without it are someone else's. */
		if ((app != 0 && app != LEASEDB_APP_ID) || (app == 0 && tables > 0)) {
			verr_set(err, ret, "'%s' is an SQLite database but not a visp lease store",
				 db->path);
			goto out;
		}
		ret = -ENOTSUP;
		if (version > LEASEDB_SCHEMA) {
			verr_set(err, ret, "lease store '%s' has schema version %lld, newer than "
				 "this visp's %d", db->path, (long long)version, LEASEDB_SCHEMA);
			goto out;
		}
		ret = 0;
		if (version == LEASEDB_SCHEMA || locked)
			break;
		if (ro) {
			ret = verr_set(err, -EROFS, "lease store '%s' has schema version %lld, "
				       "older than this visp's %d", db->path, (long long)version,
				       LEASEDB_SCHEMA);
			goto out;
		}
		/* Look again under the write lock: another process may be migrating. */
		ret = begin(db, DURABLE, err);
		if (ret < 0)
			goto out;
		locked = true;
	}
	for (int64_t v = version + 1; v <= LEASEDB_SCHEMA; v++) {
		ret = exec(db, migrations[v], err);
		if (ret < 0)
			goto out;
		snprintf(text, sizeof(text), "PRAGMA user_version = %lld", (long long)v);
		ret = exec(db, text, err);
		if (ret < 0)
			goto out;
	}
	if (locked) {
		snprintf(text, sizeof(text), "PRAGMA application_id = %d", LEASEDB_APP_ID);
		ret = exec(db, text, err);
		if (ret < 0)
			goto out;
		ret = commit(db, err);
	}
out:
	if (ret < 0)
		rollback(db);
	return ret;
}

/*
 * Every visp run is a short process, most often the only one with the
 * store open. By default the last connection to close checkpoints the WAL
 * into the database (two fsyncs) and deletes the -wal and -shm files, which
 * the next run creates again: most of the I/O of a lease request. Keep the
 * files and checkpoint in passing instead, every WAL_PAGES pages (a few
 * grants). Not more: a process that opens the store alone rebuilds the WAL
 * index from the frames since the last checkpoint, a read per frame. Both
 * settings are optimisations only; an SQLite without them works as before.
 */
static void keep_wal(struct leasedb *db)
{
	int on = 1;

	sym_sqlite3_file_control(db->db, "main", SQLITE_FCNTL_PERSIST_WAL, &on);
	sym_sqlite3_db_config(db->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sym_sqlite3_wal_autocheckpoint(db->db, WAL_PAGES);
}

static int set_wal(struct leasedb *db, struct verr *err)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;
	int rc, ret;

	rc = sym_sqlite3_prepare_v2(db->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = sqlerr(db, rc, err);
		goto out;
	}
	ret = step(db, s, err);
	if (ret < 0)
		goto out;
	mode = ret ? sym_sqlite3_column_text(s, 0) : NULL;
	ret = 0;
	if (!mode || strcmp((const char *)mode, "wal"))
		ret = verr_set(err, -EIO, "lease store '%s': cannot use WAL mode (journal "
			       "mode is %s)", db->path, mode ? (const char *)mode : "unknown");
out:
	sym_sqlite3_finalize(s);
	return ret;
}

/*
 * The state directory belongs to the unprivileged user that runs lease
 * serve (the units give it to "visp"), who can put anything in it: a link
 * to /etc/shadow named leases.db would make root create or write there. So
 * every open in it is O_NOFOLLOW (SQLite opens its -wal and -shm with
 * O_NOFOLLOW too), a file with other hard links (possible where
 * protected_hardlinks is off) is refused, and a directory that others can
 * write is refused outright, sticky or not: anyone could plant those links.
 * Files root creates there are given to the directory's owner (fchown on the
 * open descriptor, never by name), else the owner's own lease serve could
 * not open them; SQLite gives its -wal and -shm the owner of leases.db.
 */
static int check_state_dir(struct leasedb *db, const char *state_dir, struct verr *err)
{
	struct stat st;

	if (stat(state_dir, &st) < 0)
		return verr_set(err, -errno, "state directory '%s': %s", state_dir,
				strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return verr_set(err, -ENOTDIR, "state directory '%s' is not a directory",
				state_dir);
	if (st.st_mode & S_IWOTH)
		return verr_set(err, -EPERM, "state directory '%s' is writable by others "
				"(mode %04o): anyone could put links there for visp to follow; "
				"make it 0700 or 0750", state_dir, (unsigned)(st.st_mode & 07777));
	db->uid = st.st_uid;
	db->gid = st.st_gid;
	/*
	 * Resolved once, by root's choice of path: SQLITE_OPEN_NOFOLLOW refuses
	 * a link anywhere in the path, and only the names inside are suspect.
	 */
	db->dir = realpath(state_dir, NULL);
	if (!db->dir)
		return verr_set(err, -errno, "state directory '%s': %s", state_dir,
				strerror(errno));
	return 0;
}

/* fd was opened in the state directory: refuse what is not a plain file of ours, adopt it. */
static int adopt(const struct leasedb *db, int fd, const char *path, bool write,
		 struct verr *err)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return verr_set(err, -EINVAL, "'%s' is not a regular file", path);
	if (st.st_nlink != 1)
		return verr_set(err, -EPERM, "'%s' has %lu hard links: refusing a file that "
				"may be another's", path, (unsigned long)st.st_nlink);
	if (write && geteuid() == 0 && (st.st_uid != db->uid || st.st_gid != db->gid) &&
	    fchown(fd, db->uid, db->gid) < 0)
		return verr_set(err, -errno, "cannot give '%s' to the state directory's owner: "
				"%s", path, strerror(errno));
	return 0;
}

/* O_NOFOLLOW's ELOOP, said plainly; other errors as they are. */
static int state_open_error(const char *path, struct verr *err)
{
	if (errno == ELOOP)
		return file_link_refused(path, err);
	return verr_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
}

int leasedb_state_open(const struct leasedb *db, const char *name, struct verr *err)
{
	char path[PATH_MAX];
	int fd, ret;

	if (snprintf(path, sizeof(path), "%s/%s", db->dir, name) >= (int)sizeof(path))
		return verr_set(err, -ENAMETOOLONG, "%s/%s: %s", db->dir, name,
				strerror(ENAMETOOLONG));
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return state_open_error(path, err);
	ret = adopt(db, fd, path, true, err);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * SQLite opens leases.db-wal and -shm itself (O_NOFOLLOW, but O_RDWR on
 * whatever is there): refuse a link or a hard-linked file in their place
 * before it does, with a message that says so.
 */
static int check_sqlite_files(const struct leasedb *db, struct verr *err)
{
	static const char *const ext[] = { "-wal", "-shm" };
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", db->path, ext[i]);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode))
			return file_link_refused(path, err);
		if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
			return verr_set(err, -EPERM, "'%s' is not a plain file of its own", path);
	}
	return 0;
}

/*
 * The writers' queue (see begin). Without write access to the state
 * directory nothing can be written anyway: readers need no lock. A link in
 * its place is an error, not a reason to go without.
 */
static int open_lock(struct leasedb *db, struct verr *err)
{
	char path[PATH_MAX];
	int fd;

	fd = leasedb_state_open(db, LEASEDB_LOCK, err);
	if (fd >= 0 || fd == -ELOOP || fd == -EPERM || fd == -EINVAL)
		return fd;
	snprintf(path, sizeof(path), "%s/%s", db->dir, LEASEDB_LOCK);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		return state_open_error(path, err);
	return fd < 0 ? -EACCES : fd;
}

/* SQLite's memory in one huge page (hugeheap.h): most of a run's page faults. */
static void *sql_malloc(int n)
{
	return hugeheap_alloc((size_t)n);
}

static void *sql_realloc(void *p, int n)
{
	return hugeheap_realloc(p, (size_t)n);
}

static int sql_size(void *p)
{
	return (int)hugeheap_size(p);
}

static int sql_roundup(int n)
{
	return (int)hugeheap_roundup((size_t)n);
}

static int sql_init(void *arg)
{
	return SQLITE_OK;
}

static void sql_shutdown(void *arg)
{
}

static const sqlite3_mem_methods sql_mem = {
	sql_malloc, hugeheap_free, sql_realloc, sql_size, sql_roundup, sql_init, sql_shutdown,
	NULL
};

/*
 * Before SQLite initializes (the first open): its memory in a huge page
 * where the kernel gives one, and no bulk allocation of page cache lines at
 * open (20 pages, written through to chain them; a run touches a handful).
 * Under ASan SQLite keeps malloc, which ASan watches block by block. A
 * second open in the same process finds SQLite initialized and changes
 * nothing.
 */
static void sqlite_memory(void)
{
	if (!VISP_ASAN && hugeheap_init())
		sym_sqlite3_config(SQLITE_CONFIG_MALLOC, &sql_mem);
	sym_sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
}

static int open_store(struct leasedb **out, const char *state_dir, bool ro, struct verr *err)
{
	struct leasedb *db = NULL;
	struct stat st;
	mode_t old_mask;
	int fd = -1, rc, ret = -ENOMEM;

	*out = NULL;
	ret = sqlite_load(err);
	if (ret < 0)
		return ret;
	sqlite_memory();
	ret = -ENOMEM;
	/*
	 * SQLite creates -wal and -shm with the database file's mode, but the
	 * umask applies too: keep the state private whatever the caller's is.
	 */
	old_mask = umask(077);
	db = calloc(1, sizeof(*db));
	if (db)
		db->lockfd = -1;
	if (!db) {
		verr_set(err, ret, "out of memory");
		goto out;
	}
	/* Read-only when asked, unless there is no store yet to read. */
	if (ro && access(state_dir, F_OK) < 0 && errno == ENOENT)
		ro = false;
	if (!ro && mkdir(state_dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		verr_set(err, ret, "cannot create state directory '%s': %s", state_dir,
			 strerror(errno));
		goto out;
	}
	ret = check_state_dir(db, state_dir, err);
	if (ret < 0)
		goto out;
	if (asprintf(&db->path, "%s/%s", db->dir, LEASEDB_FILE) < 0) {
		db->path = NULL;
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (ro && lstat(db->path, &st) < 0 && errno == ENOENT)
		ro = false;
	fd = open(db->path, (ro ? O_RDONLY : O_RDWR | O_CREAT) | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = state_open_error(db->path, err);
		goto out;
	}
	ret = adopt(db, fd, db->path, !ro, err);
	if (ret < 0)
		goto out;
	ret = check_sqlite_files(db, err);
	if (ret < 0)
		goto out;
	/*
	 * Closed before SQLite opens the file: closing any descriptor of a file
	 * drops all of the process's POSIX locks on it, SQLite's included, and
	 * another process would then checkpoint and reset the WAL under us.
	 */
	close(fd);
	fd = -1;
	if (!ro) {
		ret = open_lock(db, err);
		if (ret < 0 && ret != -EACCES)
			goto out;
		db->lockfd = ret < 0 ? -1 : ret;
	}
	rc = sym_sqlite3_open_v2(db->path, &db->db,
				 (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
				 SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		ret = sqlerr(db, rc, err);
		goto out;
	}
	sym_sqlite3_extended_result_codes(db->db, 1);
	sym_sqlite3_busy_timeout(db->db, LEASEDB_BUSY_MS);
	keep_wal(db);
	/* A reader takes the store as it is: writers made it WAL. */
	ret = ro ? 0 : set_wal(db, err);
	if (ret < 0)
		goto out;
	/*
	 * Each run reads most pages once (a lease sync checks them all): a
	 * small page cache keeps a big store from growing the process by the
	 * default 2 MiB. begin() sets synchronous per transaction.
	 */
	ret = exec(db, "PRAGMA cache_size = -256", err);
	if (ret < 0)
		goto out;
	ret = migrate(db, ro, err);
	if (ret < 0)
		goto out;
	*out = db;
	db = NULL;
out:
	if (ret == -EACCES && access(state_dir, W_OK) < 0)
		verr_wrap(err, "state directory '%s' is not writable", state_dir);
	if (fd >= 0)
		close(fd);
	leasedb_close(db);
	umask(old_mask);
	return ret;
}

int leasedb_open(struct leasedb **out, const char *state_dir, struct verr *err)
{
	return open_store(out, state_dir, false, err);
}

int leasedb_open_ro(struct leasedb **out, const char *state_dir, struct verr *err)
{
	struct verr old = { 0 };
	int ret;

	ret = open_store(out, state_dir, true, &old);
	if (ret != -EROFS) {
		if (ret < 0 && err)
			*err = old;
		return ret;
	}
	/* A store of an older visp: upgraded by the first run that may write it. */
	ret = open_store(out, state_dir, false, err);
	if (ret < 0)
		verr_wrap(err, "%s; upgrading it", old.msg);
	return ret;
}

void leasedb_close(struct leasedb *db)
{
	if (!db)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		sym_sqlite3_finalize(db->st[i]);
	sym_sqlite3_close(db->db);
	if (db->lockfd >= 0)
		close(db->lockfd);
	free(db->path);
	free(db->dir);
	free(db);
}
