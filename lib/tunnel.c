// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The gateway's kernel state: the desired items, worked out from the config
 * and the kernel. Recording, applying, undoing and reporting them is
 * kstate.c's job (role "tunnel", <run_dir>/tunnel.state; see tunnel.h).
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "iface.h"
#include "kstate.h"
#include "netlink.h"
#include "nft.h"
#include "sysctl.h"
#include "tunnel.h"

#define ROLE "tunnel"

struct tunnel {
	char *run_dir;
	struct netlink_link tun, uplink;
	bool has4, has6, nat6, onlink6, ndp;
	struct cidr pool4, pool6;
	int listen_port;	/* the lease endpoint's, reached only through the tun */
	struct kstate *ks;	/* desired and recorded items */
};

/* Configuration checks, before anything is looked up in the kernel. */
static int parse_pool(const char *key, const char *s, int family, struct cidr *out,
		      struct verr *err)
{
	char buf[CIDR_STRLEN];
	int ret, max = family == AF_INET ? 30 : 126;

	ret = cidr_parse_network(s, out, err);
	if (ret < 0)
		return verr_wrap(err, "%s", key);
	cidr_format(out, true, buf, sizeof(buf));
	if (out->family != family)
		return verr_set(err, -EINVAL, "%s: '%s' is not an %s network", key, s,
				family == AF_INET ? "IPv4" : "IPv6");
	if (out->prefix > max)
		return verr_set(err, -EINVAL, "%s: %s is too small: the gateway and its clients "
				"need at least a /%d", key, buf, max);
	if (family == AF_INET && (out->addr[0] == 0 || out->addr[0] == 127 ||
				  out->addr[0] >= 224 || out->prefix < 8 ||
				  (out->addr[0] == 169 && out->addr[1] == 254)))
		return verr_set(err, -EINVAL, "%s: %s cannot be a pool (reserved or too large)",
				key, buf);
	if (family == AF_INET6 && cidr_is_cjdns(out))
		return verr_set(err, -EINVAL, "%s: %s is inside cjdns's own fc00::/8", key, buf);
	if (family == AF_INET6 && (out->prefix < 16 || out->addr[0] == 0xff || out->addr[0] == 0 ||
				   (out->addr[0] == 0xfe && (out->addr[1] & 0xc0) == 0x80)))
		return verr_set(err, -EINVAL, "%s: %s cannot be a pool (reserved or too large)",
				key, buf);
	return 0;
}

struct overlap {
	struct tunnel *t;
	struct verr *err;
};

static int overlap_cb(int ifindex, const struct cidr *a, void *arg)
{
	struct overlap *o = arg;
	struct tunnel *t = o->t;
	const struct cidr *pool = a->family == AF_INET ? &t->pool4 : &t->pool6;
	char pbuf[CIDR_STRLEN], abuf[CIDR_STRLEN];
	struct netlink_link l = { 0 };
	struct cidr host = *a;

	if (ifindex == t->tun.ifindex || (a->family == AF_INET ? !t->has4 : !t->has6))
		return 0;
	if (a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80)
		return 0;	/* link-local */
	if (!cidr_overlap(pool, a))
		return 0;
	host.prefix = cidr_bits(a);
	/*
	 * A routed IPv6 pool may sit inside the uplink's on-link prefix (the
	 * clients then need NDP proxying), as long as it leaves the uplink's own
	 * address out.
	 */
	if (a->family == AF_INET6 && ifindex == t->uplink.ifindex && a->prefix < pool->prefix &&
	    !cidr_contains(pool, &host)) {
		t->onlink6 = true;
		return 0;
	}
	netlink_link_by_index(ifindex, &l, NULL);
	return verr_set(o->err, -EINVAL, "%s %s overlaps %s on %s",
			a->family == AF_INET ? "ipv4_pool" : "ipv6_pool",
			cidr_format(pool, true, pbuf, sizeof(pbuf)),
			cidr_format(a, true, abuf, sizeof(abuf)), l.name[0] ? l.name : "?");
}

struct conflict {
	struct tunnel *t;
	struct verr *err;
};

static int conflict_cb(const struct netlink_route *r, void *arg)
{
	struct conflict *c = arg;
	struct tunnel *t = c->t;
	const struct cidr *pool = r->dst.family == AF_INET ? &t->pool4 : &t->pool6;
	char pbuf[CIDR_STRLEN];
	struct netlink_link l = { 0 };
	struct kstate_item it = { .kind = KSTATE_ROUTE };

	if (r->table != RT_TABLE_MAIN || (r->dst.family == AF_INET ? !t->has4 : !t->has6) ||
	    !cidr_equal(&r->dst, pool))
		return 0;
	if (r->ifindex && r->ifindex == t->tun.ifindex)
		return 0;
	if (r->protocol == VISP_RTPROT && r->ifindex &&
	    netlink_link_by_index(r->ifindex, &l, NULL) == 0) {
		/* visp's own, from an earlier tun or config: up removes it. */
		snprintf(it.ifname, sizeof(it.ifname), "%s", l.name);
		it.c = r->dst;
		if (kstate_recorded(t->ks, &it, false))
			return 0;
	}
	if (r->ifindex)
		netlink_link_by_index(r->ifindex, &l, NULL);
	return verr_set(c->err, -EEXIST, "a route for %s already exists (%s%s, proto %u) and is "
			"not visp's: remove it or choose another pool",
			cidr_format(pool, true, pbuf, sizeof(pbuf)),
			r->ifindex ? "dev " : "no device",
			r->ifindex ? (l.name[0] ? l.name : "?") : "", r->protocol);
}

static int build_want(struct tunnel *t, struct verr *err)
{
	struct nft_gateway gw = {
		.tun = t->tun.name, .uplink = t->uplink.name,
		.pool4 = t->has4 ? &t->pool4 : NULL, .pool6 = t->has6 ? &t->pool6 : NULL,
		.nat6 = t->nat6, .listen_port = t->listen_port,
	};
	char path[128], cur[SYSCTL_VALUE_MAX];
	struct kstate_item it;
	char *text = NULL;
	int ret;

	for (int fam = 0; fam < 2; fam++) {
		const struct cidr *pool = fam ? &t->pool6 : &t->pool4;
		struct cidr gwaddr;

		if (fam ? !t->has6 : !t->has4)
			continue;
		cidr_host(pool, 1, &gwaddr);	/* the first host is the gateway */
		gwaddr.prefix = pool->prefix;
		ret = kstate_want_addr(t->ks, t->tun.name, &gwaddr, err);
		if (ret == 0)
			ret = kstate_want_route(t->ks, t->tun.name, pool, err);
		if (ret < 0)
			goto out;
	}
	ret = nft_gateway_text(&gw, &text, err);
	if (ret == 0)
		ret = kstate_want_nft(t->ks, NFT_PART_GATEWAY, text, err);
	/* Forwarding last: the firewall is in place before the gate opens. */
	if (ret == 0 && t->has4)
		ret = kstate_want_sysctl(t->ks, SYSCTL_IPV4_FORWARD, "1", err);
	if (ret == 0 && t->has6)
		ret = kstate_want_sysctl(t->ks, SYSCTL_IPV6_FORWARD, "1", err);
	if (ret < 0)
		goto out;
	/*
	 * With forwarding on, an uplink with accept_ra=1 stops taking router
	 * advertisements and its RA-learned default route expires: 2 keeps
	 * them coming.
	 */
	if (t->has6 && sysctl_if_path(AF_INET6, t->uplink.name, "accept_ra", path,
				      sizeof(path)) == 0) {
		memset(&it, 0, sizeof(it));
		it.kind = KSTATE_SYSCTL;
		snprintf(it.name, sizeof(it.name), "%s", path);
		if ((sysctl_read(path, cur, sizeof(cur), NULL) == 0 && !strcmp(cur, "1")) ||
		    kstate_recorded(t->ks, &it, true))
			ret = kstate_want_sysctl(t->ks, path, "2", err);
	}
	if (ret == 0 && t->ndp && sysctl_if_path(AF_INET6, t->uplink.name, "proxy_ndp", path,
						 sizeof(path)) == 0)
		ret = kstate_want_sysctl(t->ks, path, "1", err);
out:
	free(text);
	return ret;
}

int tunnel_open(struct tunnel **out, const struct visp_config *cfg, const char *node_ip6,
		struct verr *err)
{
	struct tunnel *t = NULL;
	struct overlap o;
	struct conflict c;
	int ret;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->run_dir = strdup(cfg->run_dir))) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!cfg->ipv4_pool && !cfg->ipv6_pool) {
		ret = verr_set(err, -EINVAL, "neither ipv4_pool nor ipv6_pool is set in the "
			       "config: a gateway needs at least one");
		goto out;
	}
	t->has4 = cfg->ipv4_pool;
	t->has6 = cfg->ipv6_pool;
	if (t->has4) {
		ret = parse_pool("ipv4_pool", cfg->ipv4_pool, AF_INET, &t->pool4, err);
		if (ret < 0)
			goto out;
	}
	if (t->has6) {
		ret = parse_pool("ipv6_pool", cfg->ipv6_pool, AF_INET6, &t->pool6, err);
		if (ret < 0)
			goto out;
		t->nat6 = cidr_is_ula(&t->pool6);
	}
	/* Routes no client would take: say so now, not to every client later. */
	ret = gateway_check_routes(cfg, err);
	if (ret < 0)
		goto out;
	t->listen_port = VISP_LEASE_PORT;
	if (cfg->listen) {
		char host[64];

		ret = config_parse_hostport(cfg->listen, host, sizeof(host), &t->listen_port, err);
		if (ret < 0) {
			verr_wrap(err, "listen");
			goto out;
		}
	}
	ret = iface_find_tun(cfg, node_ip6, &t->tun, err);
	if (ret < 0)
		goto out;
	ret = iface_find_uplink(cfg, t->has4, t->has6, &t->tun, &t->uplink, err);
	if (ret < 0)
		goto out;
	ret = kstate_open(&t->ks, t->run_dir, ROLE, err);
	if (ret < 0)
		goto out;
	o = (struct overlap){ .t = t, .err = err };
	ret = netlink_addrs(AF_UNSPEC, 0, overlap_cb, &o, err);
	if (ret < 0)
		goto out;
	c = (struct conflict){ .t = t, .err = err };
	if (t->has4)
		ret = netlink_routes(AF_INET, conflict_cb, &c, err);
	if (ret == 0 && t->has6)
		ret = netlink_routes(AF_INET6, conflict_cb, &c, err);
	if (ret < 0)
		goto out;
	t->ndp = t->has6 && !t->nat6 && cfg->ndp_proxy && t->onlink6;
	ret = build_want(t, err);
	if (ret < 0)
		goto out;
	*out = t;
	t = NULL;
	ret = 0;
out:
	tunnel_free(t);
	return ret;
}

void tunnel_free(struct tunnel *t)
{
	if (!t)
		return;
	kstate_free(t->ks);
	free(t->run_dir);
	free(t);
}

const char *tunnel_tun(const struct tunnel *t) { return t->tun.name; }
const char *tunnel_uplink(const struct tunnel *t) { return t->uplink.name; }
unsigned tunnel_tun_mtu(const struct tunnel *t) { return t->tun.mtu; }

const struct cidr *tunnel_pool(const struct tunnel *t, int family)
{
	if (family == AF_INET)
		return t->has4 ? &t->pool4 : NULL;
	return t->has6 ? &t->pool6 : NULL;
}

/* Recorded proxy entries stay while the config still calls for them (lease sync manages them). */
static bool keep_proxy(const struct kstate_item *it, void *arg)
{
	const struct tunnel *t = arg;

	return it->kind == KSTATE_PROXY && t->ndp && !strcmp(it->ifname, t->uplink.name) &&
	       cidr_contains(&t->pool6, &it->c);
}

int tunnel_up(struct tunnel *t, bool dry_run, tunnel_change_cb cb, void *arg,
	      struct verr *err)
{
	return kstate_up(t->ks, keep_proxy, t, dry_run, cb, arg, err);
}

int tunnel_down(const char *run_dir, bool dry_run, tunnel_change_cb cb, void *arg,
		struct verr *err)
{
	return kstate_down(run_dir, ROLE, NFT_PART_GATEWAY, dry_run, cb, arg, err);
}

int tunnel_ndp_sync(struct tunnel *t, const struct cidr *leased, size_t n, bool dry_run,
		    tunnel_change_cb cb, void *arg, struct verr *err)
{
	struct cidr *v = NULL;
	size_t nv = 0;
	int ret = 0;

	if (!t->ndp)
		goto out;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t j = 0; j < n; j++) {
		struct cidr c = leased[j];

		c.prefix = cidr_bits(&c);
		if (c.family == AF_INET6 && cidr_contains(&t->pool6, &c))
			v[nv++] = c;
	}
	ret = kstate_sync_proxies(t->ks, t->uplink.name, v, nv, keep_proxy, t, dry_run, cb, arg,
				  err);
out:
	free(v);
	return ret;
}

int tunnel_status(struct tunnel *t, const char *run_dir, kstate_status_cb cb, void *arg,
		  struct verr *err)
{
	return kstate_status(t ? t->ks : NULL, run_dir, ROLE, keep_proxy, t, cb, arg, err);
}
