// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Peer pins and the routes around cjdns's tun, on top of lib/netlink. The
 * decisions (which route carries a peer, which pins are stale) are pure
 * functions over a route snapshot, so they can be tested without a kernel.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

int route_list_add(struct route_list *l, const struct netlink_route *r)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct netlink_route *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *r;
	return 0;
}

static int collect_cb(const struct netlink_route *r, void *arg)
{
	return route_list_add(arg, r);
}

int route_list_load(int family, struct route_list *out, struct verr *err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = netlink_routes(family, collect_cb, out, err);
	if (ret == -ENOMEM)
		verr_set(err, ret, "out of memory listing routes");
	if (ret < 0)
		route_list_free(out);
	return ret;
}

void route_list_free(struct route_list *l)
{
	if (!l)
		return;
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *pin_action_name(enum pin_action a)
{
	static const char *const names[] = {
		[PIN_ADD] = "add", [PIN_KEEP] = "keep", [PIN_REPLACE] = "replace",
		[PIN_REMOVE] = "remove", [PIN_DIRECT] = "direct", [PIN_HOSTROUTE] = "host-route",
		[PIN_NOROUTE] = "no-route",
	};

	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

static bool in_main(const struct netlink_route *r)
{
	return r->table == RT_TABLE_MAIN;
}

bool route_is_pin(const struct netlink_route *r, int tun_ifindex)
{
	return in_main(r) && r->protocol == VISP_RTPROT && r->has_gateway &&
	       r->dst.prefix == cidr_bits(&r->dst) && r->type == RTN_UNICAST &&
	       !(tun_ifindex && r->ifindex == tun_ifindex);
}

/* Could r carry underlay traffic, the tunnel's own routes set aside? */
static bool underlay_candidate(const struct netlink_route *r, int tun_ifindex)
{
	if (!in_main(r) || r->type != RTN_UNICAST || !r->ifindex)
		return false;
	if (tun_ifindex && r->ifindex == tun_ifindex)
		return false;
	return r->protocol != CJDNS_RTPROT && !route_is_pin(r, tun_ifindex);
}

/*
 * The route of the main table the kernel would pick for dst if the tunnel
 * were not there: longest prefix, then lowest metric, among unicast routes
 * that are not on the tun, not cjdns's (proto 52) and not visp's pins.
 * NULL when there is none.
 */
static const struct netlink_route *route_underlay(const struct route_list *l,
						  const struct cidr *dst, int tun_ifindex)
{
	const struct netlink_route *best = NULL;
	struct cidr host = *dst;

	host.prefix = cidr_bits(dst);
	for (size_t i = 0; i < l->n; i++) {
		const struct netlink_route *r = &l->v[i];

		if (!underlay_candidate(r, tun_ifindex) || !cidr_contains(&r->dst, &host))
			continue;
		if (best && (r->dst.prefix < best->dst.prefix ||
			     (r->dst.prefix == best->dst.prefix && r->metric >= best->metric)))
			continue;
		best = r;
	}
	return best;
}

static const struct netlink_route *find_pin(const struct route_list *l, const struct cidr *peer,
					    int tun_ifindex)
{
	for (size_t i = 0; i < l->n; i++)
		if (route_is_pin(&l->v[i], tun_ifindex) && cidr_equal(&l->v[i].dst, peer))
			return &l->v[i];
	return NULL;
}

enum pin_action route_pin_decide(const struct route_list *l, const struct cidr *peer,
				 int tun_ifindex, struct pin *pin)
{
	const struct netlink_route *via, *have;

	memset(pin, 0, sizeof(*pin));
	pin->peer = *peer;
	pin->peer.prefix = cidr_bits(peer);
	via = route_underlay(l, &pin->peer, tun_ifindex);
	if (!via)
		return pin->action = PIN_NOROUTE;
	pin->route = *via;
	/* An on-link peer is reached by its own prefix route, which beats no /1. */
	if (!via->has_gateway)
		return pin->action = PIN_DIRECT;
	/* Someone else pinned it already; replacing their route is not ours to do. */
	if (via->dst.prefix == cidr_bits(&via->dst))
		return pin->action = PIN_HOSTROUTE;
	memset(&pin->route, 0, sizeof(pin->route));
	pin->route.dst = pin->peer;
	pin->route.has_gateway = true;
	pin->route.gateway = via->gateway;
	pin->route.ifindex = via->ifindex;
	pin->route.table = RT_TABLE_MAIN;
	pin->route.protocol = VISP_RTPROT;
	pin->route.type = RTN_UNICAST;
	have = find_pin(l, &pin->peer, tun_ifindex);
	if (!have)
		return pin->action = PIN_ADD;
	if (have->ifindex == via->ifindex && cidr_equal(&have->gateway, &via->gateway)) {
		pin->route.metric = have->metric;
		return pin->action = PIN_KEEP;
	}
	pin->old = *have;
	return pin->action = PIN_REPLACE;
}

struct plan {
	struct pin *v;
	size_t n, cap;
};

static int plan_add(struct plan *p, const struct pin *pin)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct pin *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = *pin;
	return 0;
}

static bool planned(const struct plan *p, const struct cidr *peer)
{
	for (size_t i = 0; i < p->n; i++)
		if (cidr_equal(&p->v[i].peer, peer))
			return true;
	return false;
}

/* Is a pin for dst wanted by the plan so far (added, kept or replacing)? */
static bool wanted(const struct plan *p, const struct cidr *dst)
{
	for (size_t i = 0; i < p->n; i++) {
		enum pin_action a = p->v[i].action;

		if ((a == PIN_ADD || a == PIN_KEEP || a == PIN_REPLACE) &&
		    cidr_equal(&p->v[i].peer, dst))
			return true;
	}
	return false;
}

static int plan_stale(struct plan *p, const struct route_list *l, int tun_ifindex)
{
	struct pin pin;

	for (size_t i = 0; l && i < l->n; i++) {
		if (!route_is_pin(&l->v[i], tun_ifindex) || wanted(p, &l->v[i].dst))
			continue;
		memset(&pin, 0, sizeof(pin));
		pin.action = PIN_REMOVE;
		pin.peer = l->v[i].dst;
		pin.route = l->v[i];
		if (plan_add(p, &pin) < 0)
			return -ENOMEM;
	}
	return 0;
}

int route_pin_plan(const struct route_list *l4, const struct route_list *l6,
		   const struct cidr *peers, size_t npeers, int tun_ifindex, bool unpin,
		   struct pin **plan, size_t *n)
{
	struct plan p = { 0 };
	struct pin pin;
	int ret = -ENOMEM;

	for (size_t i = 0; !unpin && i < npeers; i++) {
		const struct route_list *l = peers[i].family == AF_INET ? l4 : l6;
		struct cidr host = peers[i];

		host.prefix = cidr_bits(&host);
		if (!l || planned(&p, &host))
			continue;
		route_pin_decide(l, &host, tun_ifindex, &pin);
		if (plan_add(&p, &pin) < 0)
			goto out;
	}
	if (plan_stale(&p, l4, tun_ifindex) < 0 || plan_stale(&p, l6, tun_ifindex) < 0)
		goto out;
	*plan = p.v;
	*n = p.n;
	p.v = NULL;
	ret = 0;
out:
	free(p.v);
	return ret;
}

int route_pin_apply(const struct pin *plan, size_t n, int *changed, struct verr *err)
{
	/*
	 * A replace is a delete of the old pin and an add: two changes at most
	 * per pin. Adds are exclusive: a route of someone else's that appeared
	 * with the pin's key since the snapshot is an error, not overwritten.
	 */
	struct netlink_route_op *ops = calloc(2 * n + 1, sizeof(*ops));
	size_t nops = 0;
	int ret, count = 0;

	if (!ops)
		return verr_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct pin *p = &plan[i];

		if (p->action == PIN_REPLACE)
			ops[nops++] = (struct netlink_route_op){ &p->old, false, false };
		if (p->action == PIN_REPLACE || p->action == PIN_ADD || p->action == PIN_REMOVE) {
			ops[nops++] = (struct netlink_route_op){ &p->route, p->action != PIN_REMOVE,
								  true };
			count++;
		}
	}
	ret = netlink_routes_change(ops, nops, err);
	if (changed)
		*changed = count;
	free(ops);
	return ret;
}

struct dev_walk {
	int ifindex;
	int count;
	struct verr *err;
};

static int flush_cb(const struct netlink_route *r, void *arg)
{
	struct dev_walk *w = arg;

	if (!in_main(r) || r->ifindex != w->ifindex)
		return 0;
	w->count++;
	return netlink_route_delete(r, w->err);
}

int route_flush_dev(int ifindex, int proto, int *count, struct verr *err)
{
	struct dev_walk w = { .ifindex = ifindex, .err = err };
	int ret = 0;

	for (int f = AF_INET; ret == 0 && f <= AF_INET6; f += AF_INET6 - AF_INET)
		ret = netlink_routes_by_proto(f, proto, flush_cb, &w, err);
	if (count)
		*count = w.count;
	return ret;
}

static void dev_route(struct netlink_route *r, int ifindex, const struct cidr *dst, int proto)
{
	memset(r, 0, sizeof(*r));
	r->dst = *dst;
	r->ifindex = ifindex;
	r->table = RT_TABLE_MAIN;
	r->protocol = proto;
	r->scope = RT_SCOPE_LINK;
	r->type = RTN_UNICAST;
}

/* The main-table route for dst on ifindex, if l has one. */
static const struct netlink_route *dev_route_of(const struct route_list *l, int ifindex,
						 const struct cidr *dst)
{
	for (size_t i = 0; i < l->n; i++)
		if (in_main(&l->v[i]) && l->v[i].ifindex == ifindex && cidr_equal(&l->v[i].dst, dst))
			return &l->v[i];
	return NULL;
}

/*
 * Exclusive: a route of the same key that is not the tunnel's stays as it
 * is and the add fails. The tunnel's own are fine: one of proto on ifindex
 * (left by a run that died before it recorded it) is taken as added, and
 * one of cjdns's route generator (which with an exception for a peer makes
 * a prefix of every length) becomes ours, so that the caller records it,
 * the health check finds it and teardown removes it.
 */
int route_dev_add(int ifindex, const struct cidr *dst, int proto, struct verr *err)
{
	const struct netlink_route *have = NULL;
	struct route_list l = { 0 };
	struct netlink_route r;
	char buf[CIDR_STRLEN];
	int ret;

	dev_route(&r, ifindex, dst, proto);
	ret = netlink_route_add(&r, err);
	if (ret != -EEXIST)
		return ret;
	if (route_list_load(dst->family, &l, NULL) == 0)
		have = dev_route_of(&l, ifindex, dst);
	if (have && have->protocol == proto)
		ret = 0;
	else if (have && have->protocol == CJDNS_RTPROT)
		ret = netlink_route_replace(&r, err);
	else
		ret = verr_set(err, -EEXIST, "route %s is already in the main table and is not "
			       "visp's: left alone", cidr_format(dst, true, buf, sizeof(buf)));
	route_list_free(&l);
	return ret;
}

int route_dev_delete(int ifindex, const struct cidr *dst, int proto, struct verr *err)
{
	struct netlink_route r;

	dev_route(&r, ifindex, dst, proto);
	r.scope = 0;
	return netlink_route_delete(&r, err);
}

bool route_list_dev_has(const struct route_list *l, int ifindex, int proto, const struct cidr *dst)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct netlink_route *r = &l->v[i];

		if (in_main(r) && r->ifindex == ifindex && r->protocol == proto &&
		    (!dst || cidr_equal(&r->dst, dst)))
			return true;
	}
	return false;
}
