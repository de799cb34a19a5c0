/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_NETLINK_H
#define VISP_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "err.h"

/*
 * Addresses, routes, links and proxy neighbours over rtnetlink (libnl-route-3).
 * No libnl type crosses this header. Each call opens its own socket: visp
 * makes a few dozen calls per run, and it keeps callers free of handles.
 *
 * VISP_RTPROT marks every route visp installs (gateway pools, pinned peer
 * routes), so that visp can find and remove its own routes and nothing else.
 * 86 is 'V'. It is unused by the kernel headers (RTPROT_*), by iproute2's
 * /etc/iproute2/rt_protos, and by the routing daemons we know of (bird 12,
 * babel 42, open/r 99, frr 186-196, cjdns's own route generator uses 52).
 * Add "86 visp" to /etc/iproute2/rt_protos.d/visp.conf to see it by name.
 */
#define VISP_RTPROT 86

/* Interfaces. -ENODEV when there is no such interface. */
struct netlink_link {
	int ifindex;
	char name[IFNAMSIZ];
	unsigned mtu;
	bool up;		/* IFF_UP */
};
int netlink_link_by_name(const char *name, struct netlink_link *out, struct verr *err);
int netlink_link_by_index(int ifindex, struct netlink_link *out, struct verr *err);
/* The interface that carries addr (prefix ignored). -ENODEV when none does. */
int netlink_link_by_addr(const struct cidr *addr, struct netlink_link *out, struct verr *err);

/* Addresses. cb returns 0 to go on, anything else stops the walk and is returned. */
typedef int (*netlink_addr_cb)(int ifindex, const struct cidr *addr, void *arg);
/* family AF_UNSPEC: both; ifindex 0: every interface. */
int netlink_addrs(int family, int ifindex, netlink_addr_cb cb, void *arg, struct verr *err);
/* addr->prefix is the address's prefix length. true when exactly that is on ifindex. */
int netlink_addr_exists(int ifindex, const struct cidr *addr, bool *exists, struct verr *err);
/*
 * Add or replace (NLM_F_REPLACE) addr/prefix on ifindex. NETLINK_ADDR_NOPREFIXROUTE:
 * the kernel adds no prefix route, the caller installs its own (with VISP_RTPROT).
 */
#define NETLINK_ADDR_NOPREFIXROUTE 0x1
int netlink_addr_replace(int ifindex, const struct cidr *addr, unsigned flags,
			 struct verr *err);
/* Delete addr/prefix from ifindex. An address that is not there is not an error. */
int netlink_addr_delete(int ifindex, const struct cidr *addr, struct verr *err);

/* Routes. */
struct netlink_route {
	struct cidr dst;	/* family and prefix always set; /0 for a default route */
	bool has_gateway;
	struct cidr gateway;
	int ifindex;		/* of the first next hop; 0 when none */
	uint32_t table;		/* 0 means RT_TABLE_MAIN when adding */
	uint8_t protocol;	/* RTPROT_*, VISP_RTPROT */
	uint8_t scope;		/* RT_SCOPE_*; 0 with no gateway means link when adding */
	uint8_t type;		/* RTN_*; 0 means RTN_UNICAST when adding */
	uint32_t metric;	/* priority; 0: the kernel's default */
};
typedef int (*netlink_route_cb)(const struct netlink_route *r, void *arg);
/* Every route of family (AF_INET or AF_INET6) in every table. */
int netlink_routes(int family, netlink_route_cb cb, void *arg, struct verr *err);
/* Only those of one protocol (e.g. VISP_RTPROT). */
int netlink_routes_by_proto(int family, int proto, netlink_route_cb cb, void *arg,
			    struct verr *err);
/* Add, or replace the route with the same key (dst, table, metric). */
int netlink_route_replace(const struct netlink_route *r, struct verr *err);
/*
 * Add only (NLM_F_EXCL): -EEXIST when a route with the same key is there,
 * whoever owns it. What the client installs goes this way, so that it can
 * never overwrite a route of the host's.
 */
int netlink_route_add(const struct netlink_route *r, struct verr *err);
/*
 * Delete the route matching dst, table, protocol and (when set) ifindex and
 * metric: a protocol in r keeps it from deleting anyone else's route. A route
 * that is not there is not an error.
 */
int netlink_route_delete(const struct netlink_route *r, struct verr *err);
/*
 * Many changes in a few system calls, in order: add means add-or-replace
 * (netlink_route_replace), or add only with excl (netlink_route_add), else
 * delete (netlink_route_delete, a route that is not there being no error).
 * Every change is tried; the first refused one is reported.
 */
struct netlink_route_op {
	const struct netlink_route *route;
	bool add;
	bool excl;
};
int netlink_routes_change(const struct netlink_route_op *ops, size_t n, struct verr *err);
/*
 * The main table's default route of family with the lowest metric: its
 * interface and gateway (gateway->family is 0 when it has none; gateway may
 * be NULL). -ENOENT when there is no default route.
 */
int netlink_default_route(int family, int *ifindex, struct cidr *gateway, struct verr *err);

/* Proxy neighbours ("ip -6 neigh add proxy ADDR dev IFACE"). */
typedef int (*netlink_proxy_cb)(int ifindex, const struct cidr *addr, void *arg);
int netlink_proxies(int family, netlink_proxy_cb cb, void *arg, struct verr *err);
int netlink_proxy_add(int ifindex, const struct cidr *addr, struct verr *err);
/* An entry that is not there is not an error. */
int netlink_proxy_delete(int ifindex, const struct cidr *addr, struct verr *err);

#endif
