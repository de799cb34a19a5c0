/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_LEASENET_H
#define VISP_LEASENET_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "config.h"
#include "err.h"
#include "iptunnel.h"
#include "netlink.h"
#include "proto.h"
#include "route.h"

/*
 * The kernel side of a client's lease: the leased addresses on the tun,
 * the lease's routes, the underlay peer pins, the nameservers (resolvconf),
 * the probe through the tunnel, and their removal. No cjdns here
 * (lib/iptunnel.h), no state file (lib/clientstate.h).
 */

/* Are o's leased addresses on ifindex (any prefix length)? One dump for both families. */
int leasenet_addrs_on(int ifindex, const struct offer *o, bool *on4, bool *on6,
		      struct verr *err);

/*
 * Add the routes the lease names, and the /1 pair for "default" when cjdns
 * does not route it itself (prefix4/prefix6 > 0), on tun. Each route added
 * is appended to routes (*nroutes of max), so that it can be removed.
 */
int leasenet_add_routes(const struct netlink_link *tun, const struct offer *o, int prefix4,
			int prefix6, struct cidr *routes, int *nroutes, int max,
			visp_note_fn note, void *note_arg, struct verr *err);

/* Are routes, and cjdns's own for a prefix-0 lease, in rl (IPv4, IPv6) on ifindex? */
bool leasenet_routes_in_place(const struct route_list rl[2], int ifindex,
			      const struct cidr *routes, int nroutes, int prefix4, int prefix6);

/*
 * Probe the tunnel through ifname: every entry of the config's "probe"
 * list at once (empty: the gateway's own tun address from o; "none": no
 * probe), healthy when any answers within timeout_ms (lib/probe.h: the
 * longer PROBE_DEFAULT_TIMEOUT_MS for a fresh tunnel, PROBE_CHECK_TIMEOUT_MS
 * for one that worked). -EINVAL for an entry that is not an address or
 * "tcp:HOST:PORT".
 */
int leasenet_probe(const struct strlist *probe, const struct offer *o, const char *ifname,
		   int timeout_ms, visp_note_fn note, void *note_arg, struct verr *err);

/* Hand o's nameservers to resolvconf as "<tun>.visp"; 0 when it has none. */
int leasenet_dns_apply(const char *tun, const struct offer *o, struct verr *err);
int leasenet_dns_undo(const char *tun, struct verr *err);

/*
 * Remove what a lease left on ifindex: visp's routes, cjdns's (proto 52)
 * routes, and o's addresses (o NULL: none). Best effort: every step runs,
 * the first error is returned.
 */
int leasenet_teardown(int ifindex, const struct cidr *routes, int nroutes, const struct offer *o,
		      struct verr *err);

/*
 * Pin every underlay peer (host routes via the original gateway, so that
 * the tunnel's routes never carry the peering it rides on), or remove every
 * pin (unpin). rl: the kernel's routes (IPv4, IPv6). dry_run plans only.
 * *plan (may be NULL) gets the plan, *changed (may be NULL) the count of
 * routes changed. Returns -errno; rl is stale afterwards when routes changed.
 */
int leasenet_pin(const struct route_list rl[2], const struct iptunnel_peer *peers, size_t npeers,
		 int tun_ifindex, bool unpin, bool dry_run, visp_note_fn note, void *note_arg,
		 struct pin **plan, size_t *nplan, int *changed, struct verr *err);

#endif
