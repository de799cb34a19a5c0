/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_IFACE_H
#define VISP_IFACE_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "netlink.h"

/*
 * The two interfaces the gateway (visp tunnel) and the LAN router (visp
 * share) are built around: cjdns's tun device and the uplink, the host's
 * own way to the internet.
 */

/*
 * The tun: cfg->tun, else the interface that carries node_ip6 (the node's
 * fc address from Core_nodeInfo; may be NULL when cfg->tun is set). It must
 * be up. -ENODEV (no such device), -ENETDOWN (down), -EINVAL (no usable
 * node address).
 */
int iface_find_tun(const struct visp_config *cfg, const char *node_ip6, struct netlink_link *tun,
		   struct verr *err);

/*
 * The uplink: cfg->uplink, else the interface of the main table's default
 * route: the IPv4 one first when want4 (IPv4 NAT needs an IPv4 way out),
 * then, when want6, the IPv6 one. -ENODEV when there is none, -EINVAL when
 * it is the tun.
 */
int iface_find_uplink(const struct visp_config *cfg, bool want4, bool want6,
		      const struct netlink_link *tun, struct netlink_link *uplink,
		      struct verr *err);

#endif
