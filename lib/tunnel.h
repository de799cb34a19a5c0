/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_TUNNEL_H
#define VISP_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "config.h"
#include "err.h"
#include "kstate.h"

/*
 * The gateway's kernel state (visp tunnel up/down/status): the gateway
 * address of each pool on the cjdns tun device, a VISP_RTPROT route per pool,
 * the "gateway" part of the nft table inet visp, forwarding sysctls, NDP
 * proxying on the uplink.
 *
 * What up changed is recorded in <run_dir>/tunnel.state, and down undoes
 * exactly that, newest first, without the config or cjdns: see kstate.h,
 * which visp share uses the same way. Up run again finds everything in
 * place and changes nothing; items recorded earlier that the config no
 * longer wants (a changed pool, tun or uplink) are removed first.
 */
struct tunnel;

/*
 * Work out the desired state from cfg and the kernel, and refuse bad input
 * before anything changes: pools that are not networks or overlap the
 * host's networks (or fc00::/8), a missing or down tun device, no uplink,
 * someone else's route for a pool. The tun is cfg->tun, else the interface
 * that carries node_ip6 (the node's fc address from Core_nodeInfo; may be
 * NULL when cfg->tun is set). Errors: -EINVAL (config), -ENODEV (no tun,
 * no uplink), -EEXIST (a conflicting route).
 */
int tunnel_open(struct tunnel **out, const struct visp_config *cfg, const char *node_ip6,
		struct verr *err);
void tunnel_free(struct tunnel *t);

/* Every change is announced to cb before it is made (or, dry run, instead). */
typedef void (*tunnel_change_cb)(const char *action, const char *what, void *arg);

int tunnel_up(struct tunnel *t, bool dry_run, tunnel_change_cb cb, void *arg,
	      struct verr *err);
/* Undo what the state in run_dir records. */
int tunnel_down(const char *run_dir, bool dry_run, tunnel_change_cb cb, void *arg,
		struct verr *err);

/*
 * NDP proxy entries on the uplink for the leased addresses of a routed IPv6
 * pool on an on-link uplink prefix (lease sync calls this with every leased
 * IPv6 address): adds the missing ones, removes recorded ones not in the
 * list. Does nothing when the config does not call for NDP proxying.
 */
int tunnel_ndp_sync(struct tunnel *t, const struct cidr *leased, size_t n, bool dry_run,
		    tunnel_change_cb cb, void *arg, struct verr *err);

/* Status: one call of cb per item, desired or recorded (kstate.h's states). */
/* t may be NULL (the desired state could not be worked out): recorded items only. */
int tunnel_status(struct tunnel *t, const char *run_dir, kstate_status_cb cb, void *arg,
		  struct verr *err);

/* What tunnel_open found. */
const char *tunnel_tun(const struct tunnel *t);
const char *tunnel_uplink(const struct tunnel *t);
unsigned tunnel_tun_mtu(const struct tunnel *t);
/* The pool of family (AF_INET, AF_INET6), NULL when none is configured. */
const struct cidr *tunnel_pool(const struct tunnel *t, int family);

#endif
