/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_USAGE_H
#define VISP_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "config.h"
#include "err.h"
#include "leasedb.h"

/*
 * Per-lease usage, rate limits and quotas, on the kernel's own mechanisms.
 *
 * Counting: the table "inet visp_usage" (its own, not a part of "inet
 * visp": that one is replaced whole on every tunnel up, and counters in it
 * would have to be read and re-declared around each replacement, losing
 * what passed in between) has one dynamic set per direction and family
 * with a counter per element, keyed by the lease address. A rule in its
 * forward chain (after visp's filter, before masquerade) updates the set:
 * per packet one hash lookup, whatever the number of leases. The sets need
 * no element per lease: a packet makes its address's element.
 *
 * Folding (usage_sync, run by tunnel up, lease sync and lease metrics):
 * the counters are read (nft JSON) and added to the lease store
 * (leasedb_fold), elements of addresses no current lease holds are
 * deleted, so a revoked or expired lease stops counting and keeps its last
 * total. The table is made only when missing, so its counters survive
 * tunnel up and cjdroute restarts; after a reboot it is new (the store
 * notices by the table's handle and the boot id) and counts from zero.
 *
 * Limits: a map per direction and family gives a limited lease's address
 * its HTB class (shaper_classid), set as the packet's priority (meta
 * priority set ... map): the class's HTB qdisc takes skb->priority as the
 * class when its major is the qdisc's handle, and visp's root reaches that
 * qdisc through one classifier (shaper.h), so no filter per lease is
 * walked. Down is shaped on the tun, up on the
 * uplink (marked before masquerade changes the source). Unlimited traffic
 * has no class and goes through HTB's direct queue, unshaped. Quotas: a
 * lease over its quota is throttled (its classes at the quota's throttle
 * rate) or blocked (its addresses in a drop set) until the period ends or
 * its quota is raised.
 */
#define USAGE_TABLE "visp_usage"

enum quota_state { QUOTA_OK, QUOTA_THROTTLED, QUOTA_BLOCKED };
const char *usage_quota_state_name(enum quota_state s);

/* A lease's limits as they apply now: its own, else the config's. */
struct usage_limits {
	uint64_t rate_down, rate_up;	/* bit/s in force (throttle included); 0: none */
	uint64_t quota;			/* bytes; 0: none */
	uint64_t down, up;		/* usage this period (0 when the stored one has ended) */
	int64_t period_start;		/* the current period's */
	enum quota_state state;
};
void usage_limits(const struct visp_config *cfg, const struct lease *l, int64_t period_start,
		  struct usage_limits *out);
/* The start of the quota period (the config's) that holds now: for usage_limits. */
int64_t usage_period_start(const struct visp_config *cfg, int64_t now);

/* Where the gateway forwards (from tunnel_open). */
struct usage_net {
	const char *tun, *uplink;
	const struct cidr *pool4, *pool6;	/* NULL: none */
};

/* The transaction that makes the table (when missing) and sets its chain; free() it. */
int usage_table_text(const struct usage_net *net, char **out, struct verr *err);

/*
 * Counters from nft's JSON listings (exposed for tests): each call adds the
 * elements of the counting sets in one listing (merged per address) and
 * takes the handle of a table named USAGE_TABLE when the listing has one.
 * Start with { .handle = -1 }.
 */
struct usage_counters {
	struct leasedb_counter *v;
	size_t n, cap;
	int64_t handle;		/* the table's; -1: not seen */
};
int usage_parse_listing(const char *json, struct usage_counters *c, struct verr *err);
void usage_counters_free(struct usage_counters *c);

/* What usage_sync did. */
struct usage_report {
	bool counting;		/* the table is there */
	size_t folded;		/* counters that added to a lease */
	size_t stale;		/* elements of addresses no current lease holds, deleted */
	size_t limited;		/* current leases with a class */
	size_t throttled, blocked;
	bool shaped;		/* the HTB classes are in place */
	struct verr shaper;	/* why not (no HTB in the kernel, a foreign qdisc) */
	int64_t elapsed_ms[3];	/* read and fold, nft update, tc update */
};

/*
 * tunnel up: make the table (kept when there) and its rules for net, record
 * the interfaces for later syncs (<run_dir>/usage.ifaces), then sync.
 */
int usage_up(struct leasedb *db, const struct visp_config *cfg, const struct usage_net *net,
	     int64_t now, struct usage_report *rep, struct verr *err);
/*
 * Fold the counters into the store, drop stale elements, put the limits,
 * throttles and blocks in place. Without the table (no tunnel up since
 * boot) nothing is counted and rep->counting is false. A shaper failure is
 * in rep->shaper, not an error: counting and blocking still work.
 */
int usage_sync(struct leasedb *db, const struct visp_config *cfg, int64_t now,
	       struct usage_report *rep, struct verr *err);
/* tunnel down: remove the table and visp's qdiscs (fold first: usage_sync). */
int usage_down(const char *run_dir, struct verr *err);

#endif
