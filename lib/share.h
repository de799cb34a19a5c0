/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_SHARE_H
#define VISP_SHARE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "kstate.h"

/*
 * visp share: hosts on LAN interfaces that run no cjdns reach the mesh
 * (fc00::/8) through this node, and the internet through its visp tunnel
 * while the node holds a lease, masqueraded as this node either way.
 *
 * The kernel side: the "share" part of the nft table inet visp (chains
 * share_forward, share_mss, share_postrouting; see nft.h), IPv4 and IPv6
 * forwarding, accept_ra 2 on the uplink. Recorded and undone like the
 * gateway's, as the role "share" (<run_dir>/share.state, see kstate.h), so
 * share down removes exactly what share up added and leaves a gateway on
 * the same node alone.
 *
 * The rules do not depend on the lease (see nft_share_text): no visp
 * command has to re-apply them when visp client connects or disconnects.
 */
struct share;

struct share_opts {
	const char *const *lans;	/* NULL (nlans 0): the config's share.lan */
	size_t nlans;
	bool fallback;			/* also on with the config's share.internet_fallback */
	const char *node_ip6;		/* the node's fc address; may be NULL with cfg->tun */
};

/*
 * Work out the desired state and refuse bad input before anything changes:
 * no LAN, a LAN interface that does not exist or is the tun, the uplink or
 * the loopback, a tun that is missing or down, a fallback with no uplink.
 * Errors: -EINVAL (bad input), -ENODEV (no such interface).
 */
int share_open(struct share **out, const struct visp_config *cfg, const struct share_opts *o,
	       struct verr *err);
void share_free(struct share *s);

int share_up(struct share *s, bool dry_run, kstate_change_cb cb, void *arg, struct verr *err);
/* Undo what <run_dir>/share.state records; needs neither the config nor cjdns. */
int share_down(const char *run_dir, bool dry_run, kstate_change_cb cb, void *arg,
	       struct verr *err);
/* s may be NULL (no LANs known, or no tun): the recorded items only. */
int share_status(struct share *s, const char *run_dir, kstate_status_cb cb, void *arg,
		 struct verr *err);

/* What share_open found. */
const char *share_tun(const struct share *s);
const char *share_uplink(const struct share *s);	/* NULL: none */
size_t share_nlans(const struct share *s);
const char *share_lan(const struct share *s, size_t i);
bool share_fallback(const struct share *s);

#endif
