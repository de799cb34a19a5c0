/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_IPTUNNEL_H
#define VISP_IPTUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "cjdns.h"
#include "config.h"
#include "err.h"
#include "key.h"
#include "netlink.h"
#include "proto.h"

/*
 * What visp asks cjdns about tunnels and peers, for both roles: the
 * IpTunnel connections (a client's connectTo, a gateway's allowConnection
 * entries), the underlay peers (InterfaceController), the route generator
 * and the node itself. Each reply shape is parsed here, once.
 */

/* This node: its key and fc address, and the tun that carries the address. */
struct iptunnel_node {
	char key[KEY_BUFLEN];
	char ip6[IP6_BUFLEN];
	struct netlink_link tun;
};

/* Core_nodeInfo, then the tun (lib/iface.h; found even when it is down). */
int iptunnel_node(struct cjdns *cj, const struct visp_config *cfg, struct iptunnel_node *n,
		  struct verr *err);

/* One IpTunnel_showConnection reply. */
struct iptunnel_conn {
	bool outgoing;		/* this node's connectTo, not an allowConnection */
	char key[KEY_BUFLEN];	/* "" when absent or too long */
	bool has4, has6;
	struct cidr ip4, ip6;
	int prefix4, prefix6;	/* the address's length when cjdns does not say */
};

/*
 * Parse a showConnection reply. key and outgoing are filled even when an
 * address is malformed (-EBADMSG), so that a scan can still sort the entry.
 */
int iptunnel_parse_conn(const struct bval *reply, struct iptunnel_conn *tc);

/* IpTunnel_showConnection; -ENOENT when cjdns has no such connection. */
int iptunnel_show(struct cjdns *cj, long long conn, struct iptunnel_conn *tc, struct verr *err);

/* IpTunnel_connectTo; duplicates a lost reply's retry made are removed (iptunnel_drop_strays). */
int iptunnel_connect(struct cjdns *cj, const char *key, long long *conn, visp_note_fn note,
		     void *note_arg, struct verr *err);

/* Remove this node's other outgoing connections to key near keep (best effort). */
void iptunnel_drop_strays(struct cjdns *cj, const char *key, long long keep, visp_note_fn note,
			  void *note_arg);

/* An underlay peer (InterfaceController_peerStats) with an IP address to pin. */
struct iptunnel_peer {
	char key[KEY_BUFLEN];
	struct cidr addr;	/* full-length prefix */
	int port;
	bool established;
};

/* peerStats "lladdr": "192.0.2.1:1234" or "[2001:db8::1]:1234". -EINVAL otherwise. */
int iptunnel_parse_lladdr(const char *s, struct cidr *addr, int *port);

/* Every underlay peer, all pages of peerStats; *v is malloc'd. */
int iptunnel_peers(struct cjdns *cj, struct iptunnel_peer **v, size_t *n, struct verr *err);

const struct iptunnel_peer *iptunnel_find_peer(const struct iptunnel_peer *v, size_t n,
					       const char *key);

/* InterfaceController_resetPeering: cjdns keeps a peering with a restarted node dead ~70 s. */
int iptunnel_reset_peering(struct cjdns *cj, const char *key, struct verr *err);

/* The lease's prefix as cjdns's RouteGen holds it: the leased address, unmasked, "/prefix". */
const char *iptunnel_routegen_prefix(const struct cidr *leased, int prefix, char *buf,
				     size_t len);

/*
 * Drop a lease's prefixes (prefix4/prefix6 < 0: none) from cjdns's route
 * generator and commit on tun, or its next commit brings them back.
 */
void iptunnel_routegen_forget(struct cjdns *cj, const struct offer *o, int prefix4, int prefix6,
			      const char *tun, visp_note_fn note, void *note_arg);

#endif
