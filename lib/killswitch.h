/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_KILLSWITCH_H
#define VISP_KILLSWITCH_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "err.h"

/*
 * The client's kill switch: the "killswitch" part of visp's nft table
 * (nft.h), chains ks_output and ks_forward. From the first client connect
 * until client disconnect, nothing leaves the host, nor is forwarded for a
 * shared LAN, towards a non-fc00::/8 destination except through the tun,
 * apart from cjdns's own underlay traffic to its peers, loopback,
 * link-local and multicast IPv6, DHCP on the uplink and the allowed CIDRs.
 * Traffic that comes in from the tun (a gateway's customers) and its
 * replies pass: they are no leak of this host's.
 *
 * The part carries the boot it was armed in (a "# boot ID" comment line):
 * nft_part_apply leaves such a part out of the table in any other boot, so
 * a run_dir that outlives a reboot does not bring the switch back by
 * itself (another visp command rebuilding the table, say): only the next
 * client connect arms it again.
 */

#define KILLSWITCH_PART "killswitch"
#define KILLSWITCH_MAX_ALLOW 64

struct ks_peer {
	struct cidr addr;	/* full-length prefix */
	int port;		/* UDP */
};

struct killswitch {
	const char *tun;
	const char *uplink;		/* NULL: none known (DHCP is let out anywhere) */
	const struct ks_peer *peers;
	size_t npeers;
	const struct cidr *allow;
	size_t nallow;
	const struct cidr *own;		/* the host's addresses outside the tun */
	size_t nown;
};

/* The part's text for this boot; free() it. */
int killswitch_text(const struct killswitch *ks, char **out, struct verr *err);

/* Put the switch in place (or bring it up to date); *changed: the kernel was touched. */
int killswitch_arm(const char *run_dir, const struct killswitch *ks, bool dry_run, bool *changed,
		   struct verr *err);
int killswitch_disarm(const char *run_dir, bool dry_run, bool *changed, struct verr *err);

enum ks_state {
	KS_OFF,
	KS_ON,
	KS_STALE,	/* the part is left from an earlier boot: not in force */
	KS_MISSING,	/* armed in this boot, but its chains are not in the kernel */
};
const char *killswitch_state_name(enum ks_state s);

/*
 * Where the switch stands. look: compare with the kernel's table too (needs
 * CAP_NET_ADMIN; without it the part file alone answers).
 */
int killswitch_state(const char *run_dir, bool look, enum ks_state *st, struct verr *err);

/*
 * The default allow list: the on-link networks of every interface but the
 * loopback, the tun and the uplink (uplink_ifindex 0: none), less
 * link-local and cjdns addresses, which pass anyway.
 */
int killswitch_default_allow(int tun_ifindex, int uplink_ifindex, struct cidr *out, size_t max,
			     size_t *n, struct verr *err);

/*
 * The host's own addresses outside the tun (loopback, link-local and cjdns
 * addresses left out), full length: no packet with one of them as its
 * source may go into the tun. A TCP connection begun while no tunnel was up
 * keeps its first source address, and its retransmissions would follow the
 * tunnel's routes once they are back: the gateway would then carry the
 * underlay address to the internet.
 */
int killswitch_own_addrs(int tun_ifindex, struct cidr *out, size_t max, size_t *n,
			 struct verr *err);

#endif
