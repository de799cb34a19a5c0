/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_ROUTEGUARD_H
#define VISP_ROUTEGUARD_H

#include <stddef.h>

#include "cidr.h"
#include "err.h"
#include "proto.h"
#include "route.h"

/*
 * What a gateway's offer may not touch on the client's host. A lease's
 * routes go into the main table on the tun; one that equals or covers a
 * network the host reaches by other means would take that traffic into
 * the tunnel (the mesh link the tunnel rides on among it), and was once
 * replaced and then deleted by it. The host's protected networks:
 *   - on-link networks (connected routes of any interface but the tun):
 *     an offered route may not equal, cover or lie inside one;
 *   - visp's peer pins, the underlay peers' addresses and the next hops of
 *     the host's routes (the path to the gateway): not equal or cover;
 *   - any other route of the main table that is neither visp's nor cjdns's
 *     nor on the tun: not equal (a covering route leaves it the longer
 *     match; an equal one would have to replace it).
 * "default" is exempt: its /1 pair covers everything by design, and the
 * pins keep the peers out of it; only a /1 of someone else's stops it.
 * The checks are pure functions over a route snapshot (lib/route.h).
 */
struct routeguard;

/* The protected networks of the host as l4 and l6 (main table) show it. */
int routeguard_new(struct routeguard **out, const struct route_list *l4,
		   const struct route_list *l6, int tun_ifindex, struct verr *err);
/* An underlay peer's address (prefix ignored: the host). */
int routeguard_add_peer(struct routeguard *g, const struct cidr *peer, struct verr *err);
void routeguard_free(struct routeguard *g);

/*
 * Does the offer leave the host's networks alone? 0, or -EBADMSG naming the
 * first offending route and what it would take over: the whole offer is
 * refused, since a lease missing some of its routes is not what was offered.
 */
int routeguard_check(const struct routeguard *g, const struct offer *o, struct verr *err);

#endif
