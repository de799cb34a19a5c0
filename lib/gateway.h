/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_GATEWAY_H
#define VISP_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "cjdns.h"
#include "config.h"
#include "err.h"
#include "http.h"
#include "leasedb.h"
#include "proto.h"

/*
 * The gateway's lease operations: the store and cjdns's IpTunnel kept in
 * step. Used by `lease grant/revoke/sync/serve` and `tunnel up`.
 */
struct gateway;

/* cj may be NULL for store-only work (list, show); it is borrowed. */
int gateway_open(struct gateway **out, const struct visp_config *cfg, struct cjdns *cj,
		 struct verr *err);
/* Store-only and read-only (list, show): see leasedb_open_ro. */
int gateway_open_ro(struct gateway **out, const struct visp_config *cfg, struct verr *err);
void gateway_close(struct gateway *gw);
/*
 * The config's routes, as every client would judge them (proto_parse_route):
 * a bad one is an error, never dropped or offered. gateway_open and
 * tunnel_open check them.
 */
int gateway_check_routes(const struct visp_config *cfg, struct verr *err);
struct leasedb *gateway_db(struct gateway *gw);

/*
 * Grant or renew key's lease and make cjdns allow it: a stale connection of
 * the key is removed first (cjdns accepts duplicates and then matches the
 * wrong one). want4/want6 reserve addresses (NULL: any).
 */
int gateway_grant(struct gateway *gw, const char *key, const char *name, const struct cidr *want4,
		  const struct cidr *want6, struct lease *out, struct verr *err);
int gateway_revoke(struct gateway *gw, const char *key, struct lease *old, struct verr *err);

/*
 * Many grants at once (gateway_grant is one of them): the store's changes
 * share one durable commit (leasedb_group_begin), then each lease is allowed
 * in cjdns. Each grant has its own result: ret and err, and lease on success.
 */
struct gateway_grant {
	const char *key, *name;			/* name: NULL keeps the stored one */
	const struct cidr *want4, *want6;	/* NULL: any */
	int ret;
	struct verr err;
	struct lease lease;
	bool is_new;
};
void gateway_grant_many(struct gateway *gw, struct gateway_grant *v, size_t n);

/* What lease sync did. */
struct sync_report {
	long checked;		/* current leases found in place */
	long added;		/* re-allowed (missing after a cjdns restart, or wrong) */
	long removed_expired;	/* connections of expired or revoked leases removed */
	long removed_dups;	/* duplicate entries for our keys removed */
	long foreign;		/* incoming entries visp did not make (left alone) */
	long failed;		/* leases that could not be applied */
	bool restarted;		/* cjdns's pid changed since the last sync */
	bool restarted_during;	/* ... and during this one: it was done again */
};
int gateway_sync(struct gateway *gw, struct sync_report *rep, struct verr *err);
/*
 * A grant holds its key's claim from its allowConnection until it has
 * recorded the connection number: lease sync leaves the entries of claimed
 * keys alone. gateway_grant does this itself; exported for the tests.
 */
int gateway_claim(struct gateway *gw, const char *key, struct verr *err);
void gateway_unclaim(struct gateway *gw, const char *key);

/*
 * Answer one lease-protocol request: returns the HTTP status and sets *json
 * to the body (malloc'd). Nothing in the store changes unless the request
 * is well-formed and comes from the key it names. For a status of 400 or
 * more, err holds the reason for the gateway's log, which may say more than
 * the requester is told (a store or cjdns error).
 */
int gateway_handle(struct gateway *gw, const struct http_request *req, char **json,
		   struct verr *err);

/*
 * Answer many requests that arrived together, as gateway_handle answers
 * one: the grants among them share one durable commit. Sets each job's
 * status, json (malloc'd) and err.
 */
struct gateway_job {
	const struct http_request *req;
	int status;
	char *json;
	struct verr err;
};
void gateway_handle_many(struct gateway *gw, struct gateway_job *v, size_t n);

/* The Allow header of a 405 for path: the methods it takes, NULL when it does not exist. */
const char *gateway_allow(const char *path);

#endif
