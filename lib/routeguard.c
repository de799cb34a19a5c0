// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The client's refusal of offers that would take over its own routes
 * (see routeguard.h). Pure over a route snapshot: tests feed it lists.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "routeguard.h"

enum guard_kind {
	GUARD_ONLINK,	/* an on-link network: no overlap at all */
	GUARD_ROUTE,	/* another route of the host's: not equal */
	GUARD_PIN,	/* a host address: not equal or covered */
	GUARD_PEER,
	GUARD_NEXTHOP,
};

struct guard_entry {
	enum guard_kind kind;
	struct cidr net;
};

struct routeguard {
	struct guard_entry *v;
	size_t n, cap;
};

static int guard_add(struct routeguard *g, enum guard_kind kind, const struct cidr *net,
		     struct verr *err)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 32;
		struct guard_entry *v = realloc(g->v, cap * sizeof(*v));

		if (!v)
			return verr_set(err, -ENOMEM, "out of memory");
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n].kind = kind;
	g->v[g->n].net = *net;
	g->n++;
	return 0;
}

static int host_add(struct routeguard *g, enum guard_kind kind, const struct cidr *addr,
		    struct verr *err)
{
	struct cidr h = *addr;

	h.prefix = cidr_bits(&h);
	return guard_add(g, kind, &h, err);
}

/* One route of the snapshot: what, if anything, it protects. */
static int gather(struct routeguard *g, const struct netlink_route *r, int tun_ifindex,
		  struct verr *err)
{
	int ret = 0;

	/* The tunnel's own routes (visp's lease routes, cjdns's) are not the host's. */
	if (r->table != RT_TABLE_MAIN || (tun_ifindex && r->ifindex == tun_ifindex) ||
	    r->protocol == CJDNS_RTPROT)
		return 0;
	if (route_is_pin(r, tun_ifindex))
		ret = guard_add(g, GUARD_PIN, &r->dst, err);
	else if (r->dst.prefix > 0 && r->type == RTN_UNICAST && r->ifindex && !r->has_gateway)
		ret = guard_add(g, GUARD_ONLINK, &r->dst, err);
	else if (r->dst.prefix > 0)
		ret = guard_add(g, GUARD_ROUTE, &r->dst, err);
	/* Whatever it leads to, the next hop itself must stay reachable the way it is. */
	if (ret == 0 && r->has_gateway)
		ret = host_add(g, GUARD_NEXTHOP, &r->gateway, err);
	return ret;
}

int routeguard_new(struct routeguard **out, const struct route_list *l4,
		   const struct route_list *l6, int tun_ifindex, struct verr *err)
{
	struct routeguard *g = calloc(1, sizeof(*g));
	const struct route_list *lists[2] = { l4, l6 };
	int ret = 0;

	*out = NULL;
	if (!g)
		return verr_set(err, -ENOMEM, "out of memory");
	for (int f = 0; f < 2; f++)
		for (size_t i = 0; ret == 0 && lists[f] && i < lists[f]->n; i++)
			ret = gather(g, &lists[f]->v[i], tun_ifindex, err);
	if (ret < 0) {
		routeguard_free(g);
		return ret;
	}
	*out = g;
	return 0;
}

int routeguard_add_peer(struct routeguard *g, const struct cidr *peer, struct verr *err)
{
	return host_add(g, GUARD_PEER, peer, err);
}

void routeguard_free(struct routeguard *g)
{
	if (!g)
		return;
	free(g->v);
	free(g);
}

/* How r meets e, as the refusal says it; NULL when it leaves e alone. */
static const char *conflict(const struct cidr *r, const struct guard_entry *e)
{
	if (r->family != e->net.family)
		return NULL;
	if (cidr_equal(r, &e->net))
		return "equals";
	switch (e->kind) {
	case GUARD_ONLINK:
		if (cidr_contains(r, &e->net))
			return "covers";
		return cidr_contains(&e->net, r) ? "lies inside" : NULL;
	case GUARD_ROUTE:
		return NULL;
	default:
		return cidr_contains(r, &e->net) ? "covers" : NULL;
	}
}

static const char *kind_name(enum guard_kind k)
{
	switch (k) {
	case GUARD_ONLINK: return "the on-link network";
	case GUARD_ROUTE: return "the host's route";
	case GUARD_PIN: return "the pinned peer route";
	case GUARD_PEER: return "the underlay peer";
	case GUARD_NEXTHOP: return "the next hop (the path to the gateway)";
	}
	return "?";
}

/* The first entry of kind that r meets, and how; NULL when none. */
static const struct guard_entry *first_conflict(const struct routeguard *g, const struct cidr *r,
						enum guard_kind kind, const char **how)
{
	for (size_t i = 0; i < g->n; i++)
		if (g->v[i].kind == kind && (*how = conflict(r, &g->v[i])))
			return &g->v[i];
	return NULL;
}

static int check_one(const struct routeguard *g, const struct cidr *r, bool halves,
		     struct verr *err)
{
	char a[CIDR_STRLEN], b[CIDR_STRLEN];
	const struct guard_entry *e = NULL;
	const char *how = NULL;

	/*
	 * Kind by kind, so that the refusal names the most telling conflict.
	 * The /1 pair of a default covers everything by design: only an equal
	 * route of someone else's stops it.
	 */
	if (halves)
		e = first_conflict(g, r, GUARD_ROUTE, &how);
	for (int k = GUARD_ONLINK; !halves && !e && k <= GUARD_NEXTHOP; k++)
		e = first_conflict(g, r, k, &how);
	if (!e)
		return 0;
	return verr_set(err, -EBADMSG, "route %s%s of the lease %s %s %s: refused, it would take "
			"the host's own traffic into the tunnel",
			cidr_format(r, true, a, sizeof(a)), halves ? " (its default)" : "", how,
			kind_name(e->kind),
			cidr_format(&e->net, e->kind == GUARD_ONLINK || e->kind == GUARD_ROUTE, b,
				    sizeof(b)));
}

int routeguard_check(const struct routeguard *g, const struct offer *o, struct verr *err)
{
	struct cidr half;
	int ret = 0;

	for (int i = 0; ret == 0 && i < o->nroutes; i++)
		ret = check_one(g, &o->routes[i], false, err);
	for (int f = 0; ret == 0 && o->default_route && f < 2; f++) {
		for (int h = 0; ret == 0 && h < 2; h++) {
			memset(&half, 0, sizeof(half));
			half.family = f ? AF_INET6 : AF_INET;
			half.prefix = 1;
			half.addr[0] = h ? 0x80 : 0;
			ret = check_one(g, &half, true, err);
		}
	}
	return ret;
}
