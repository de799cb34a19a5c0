/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_LEASECLIENT_H
#define VISP_LEASECLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "iptunnel.h"
#include "key.h"
#include "proto.h"

/*
 * The client half of the lease protocol (lib/proto.h has the messages,
 * lib/server.c and lib/gateway.c the gateway's half): which gateways to
 * ask and in what order, POST and DELETE /lease, whether an offer is ours
 * and from the gateway we asked, and the GET /tunnels announcements of
 * the direct peers.
 */

#define LEASECLIENT_URL_MAX 160
/* Consecutive failed runs before the current gateway goes to the back of the line. */
#define LEASECLIENT_DEMOTE_AFTER 3

enum cand_source { CAND_CURRENT, CAND_ARG, CAND_CONFIG, CAND_ANNOUNCED };
const char *leaseclient_source_name(enum cand_source s);

struct candidate {
	char key[KEY_BUFLEN];		/* "" when only the URL is known */
	char url[LEASECLIENT_URL_MAX];	/* the lease URL */
	uint8_t addr[16];		/* the URL's host: the offer's gateway_key must hash to it */
	enum cand_source source;
};

/*
 * A GATEWAY argument or config entry: a public key (lease URL
 * http://[its fc address]:12234/lease) or such a URL. -EINVAL otherwise.
 */
int leaseclient_parse_gateway(const char *s, enum cand_source source, struct candidate *out,
			      struct verr *err);

/* Is the gateway with this address among v? */
bool leaseclient_listed(const struct candidate *v, size_t n, const uint8_t addr[16]);

/*
 * The order to try gateways in: arguments, then the config, then what peers
 * announce, each gateway once (by address). current (may be NULL) is the
 * gateway of the last run: first while it has failed fewer than
 * LEASECLIENT_DEMOTE_AFTER runs in a row (hysteresis: no flapping back to a
 * preferred gateway, no giving up on a hiccup), last after that. With
 * arguments, current is only kept if it is among them. Returns the count.
 */
size_t leaseclient_order(const struct candidate *args, size_t nargs, const struct candidate *conf,
			 size_t nconf, const struct candidate *ads, size_t nads,
			 const struct candidate *current, int failures, struct candidate *out,
			 size_t max);

/*
 * POST /lease for key, from the source address src (the node's fc address).
 * The offer is validated as a message; leaseclient_check_offer says whose
 * it is. 403: -EACCES, 503: -EBUSY, other refusals -EPROTO.
 */
int leaseclient_post(const char *url, const char *key, const char *src, int timeout_ms,
		     struct offer *o, struct verr *err);

/* DELETE /lease?public_key=key: give the lease back (404 counts as done). */
int leaseclient_delete(const char *url, const char *key, const char *src, struct verr *err);

/* Is this offer for my_key, from the gateway cand names? -EBADMSG otherwise. */
int leaseclient_check_offer(const struct candidate *cand, const char *my_key,
			    const struct offer *o, struct verr *err);

/* GET /tunnels from every established direct peer at once: the gateways with room. */
int leaseclient_discover(const struct iptunnel_peer *peers, size_t npeers, const char *src,
			 struct candidate *out, size_t max, size_t *n, visp_note_fn note,
			 void *note_arg, struct verr *err);

#endif
