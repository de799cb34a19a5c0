/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_GWSELECT_H
#define VISP_GWSELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clientstate.h"
#include "leaseclient.h"

/*
 * Which gateway, and which ones in reserve: the client's bookkeeping of
 * hot standby leases, failback and ordering, kept apart from the protocol
 * and kernel work (client.c calls in through the hooks below).
 *
 * The book: one record per gateway the client holds a standby lease at, or
 * failed to lease from lately, in <run_dir>/standby/<key>/client.json, in
 * the form of the client's own state (client_state_save), read as:
 *	connected	a standby lease is held (lease is valid)
 *	gateway, lease_url, lease
 *	leased_at	when it was granted or renewed; when not held, when
 *			the gateway was last asked
 *	since		usable since: held without a failure from then on
 *			(the failback clock); 0 when not held
 *	failures	failures in a row (the back-off)
 *	last_error
 */

#define GW_BOOK_MAX 16
#define GW_BACKOFF_MIN 30	/* seconds before a failed gateway is asked again, doubling */
#define GW_BACKOFF_MAX 600
#define GW_STANDBY_DIR "standby"

struct gw_book {
	struct client_state v[GW_BOOK_MAX];
	size_t n;
};

/* Missing or damaged records count as none. */
void gw_book_load(const char *run_dir, struct gw_book *b);
/* Writes every record and removes the ones no longer in the book. */
int gw_book_save(const char *run_dir, const struct gw_book *b, struct verr *err);

struct client_state *gw_book_find(struct gw_book *b, const char *key);
void gw_book_remove(struct gw_book *b, const char *key);

/* A held standby lease with a minute left at least. */
bool gw_held(const struct client_state *e, int64_t now);

/* Record a gateway that failed: not held, asked again after the back-off. */
void gw_failed(struct gw_book *b, const char *key, const char *url, int64_t now,
	       const char *why);

/*
 * The order of a failover, changed in place: held standbys first when the
 * current gateway failed in this very run (failed: its key, or NULL), which
 * then goes last (it is tried again only when nothing else works); prefer
 * (a failback target, or NULL) before all.
 */
void gw_reorder(struct candidate *v, size_t n, struct gw_book *b, const char *failed,
		const char *prefer, int64_t now);

/*
 * Failback: the first gateway of the operator's order (arguments, config)
 * that comes before current and has held a standby lease for failback
 * seconds or longer; NULL when none, or when failback is -1 (never).
 * Discovered gateways carry no operator preference: never a target.
 */
const struct candidate *gw_failback(const struct candidate *pref, size_t n, const char *current,
				    struct gw_book *b, long failback, int64_t now);

/* Discovered gateways: the shortest round trip first, then the most free addresses. */
void gw_sort_discovered(struct candidate *v, size_t n);

/* What gw_tend asks of the client: POST /lease (0 and *o filled, or -errno), DELETE. */
struct gw_hooks {
	int (*lease)(void *arg, const struct candidate *c, struct offer *o, struct verr *err);
	int (*release)(void *arg, const char *url, struct verr *err);
	void (*note)(void *arg, const char *msg);
	void *arg;
};

/*
 * Keep `want` standby leases among the candidates (in preference order,
 * current and skip excluded): renew the held ones past half their life,
 * lease at the next ones not in back-off, release the ones beyond want.
 * Returns the number held; *changed when the book changed.
 */
int gw_tend(struct gw_book *b, const struct candidate *v, size_t n, const char *current,
	    const char *skip, int want, int64_t now, const struct gw_hooks *h, bool *changed);

/* Release every lease the book knows of, held or not, and empty the book. */
void gw_release_all(struct gw_book *b, const struct gw_hooks *h);

#endif
