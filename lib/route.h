/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_ROUTE_H
#define VISP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "err.h"
#include "netlink.h"

/*
 * The client's routing: peer pins and the routes around cjdns's tun.
 *
 * A pin is a host route to an underlay peer via the original (non-tunnel)
 * gateway, so that the /1 routes cjdns installs for a default lease never
 * swallow the mesh link the tunnel itself rides on. A pin is recognised by
 * its shape: main table, VISP_RTPROT, a host prefix, a gateway, and not on
 * the tun. Nothing else visp installs has that shape (pool routes and lease
 * routes sit on the tun and have no gateway).
 */

/* cjdns's route generator marks its routes with this protocol number. */
#define CJDNS_RTPROT 52

/* A snapshot of one family's routes (every table; the functions filter). */
struct route_list {
	struct netlink_route *v;
	size_t n, cap;
};
int route_list_load(int family, struct route_list *out, struct verr *err);
int route_list_add(struct route_list *l, const struct netlink_route *r);
void route_list_free(struct route_list *l);

/* Is r one of visp's peer pins? tun_ifindex 0: unknown. */
bool route_is_pin(const struct netlink_route *r, int tun_ifindex);

enum pin_action {
	PIN_ADD,	/* a new pin */
	PIN_KEEP,	/* the pin is in place and right */
	PIN_REPLACE,	/* the pin is there but via another gateway: old is removed */
	PIN_REMOVE,	/* stale (the peer is gone or now on-link), or --unpin */
	PIN_DIRECT,	/* the peer is on-link: no pin needed */
	PIN_HOSTROUTE,	/* someone else's host route already carries the peer */
	PIN_NOROUTE,	/* no route outside the tunnel reaches the peer */
};
const char *pin_action_name(enum pin_action a);

struct pin {
	enum pin_action action;
	struct cidr peer;		/* the peer's address (full-length prefix) */
	struct netlink_route route;	/* the pin to add / keep / remove */
	struct netlink_route old;	/* PIN_REPLACE: the pin it replaces */
};

/* The decision for one peer; *pin is filled for ADD/KEEP/REPLACE. */
enum pin_action route_pin_decide(const struct route_list *l, const struct cidr *peer,
				 int tun_ifindex, struct pin *pin);

/*
 * Everything to do for a set of peers (both families in l4/l6): one entry
 * per distinct peer address, then a PIN_REMOVE for every pin whose peer is
 * not wanted. unpin: only removals, of every pin. *plan is malloc'd.
 */
int route_pin_plan(const struct route_list *l4, const struct route_list *l6,
		   const struct cidr *peers, size_t npeers, int tun_ifindex, bool unpin,
		   struct pin **plan, size_t *n);

/* Make the kernel match a plan. Counts changes in *changed (may be NULL). */
int route_pin_apply(const struct pin *plan, size_t n, int *changed, struct verr *err);

/* Routes of one protocol on one interface (main table), both families. */
int route_flush_dev(int ifindex, int proto, int *count, struct verr *err);

/* Does l hold a main-table route of proto on ifindex (for dst; NULL: any)? */
bool route_list_dev_has(const struct route_list *l, int ifindex, int proto, const struct cidr *dst);

/*
 * A route of proto on the tun for dst (no gateway): add (never over a route
 * of the same key that is not the tunnel's, proto's or cjdns's on ifindex:
 * -EEXIST), delete.
 */
int route_dev_add(int ifindex, const struct cidr *dst, int proto, struct verr *err);
int route_dev_delete(int ifindex, const struct cidr *dst, int proto, struct verr *err);

#endif
