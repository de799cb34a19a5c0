// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * rtnetlink through libnl-route-3. Every function opens a socket, does one
 * thing and closes it. The kernel's own errno is caught with an error
 * callback, because libnl folds many of them into "Unspecific failure".
 */
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dl.h"
#include "netlink.h"
#include "nls.h"

/* Loaded when the first socket is opened (dl.h): lease commands need none. */
#define NL_SYMS(X)								\
	X(nl_addr_build) X(nl_addr_get_binary_addr)				\
	X(nl_addr_get_family) X(nl_addr_get_len)				\
	X(nl_addr_get_prefixlen) X(nl_addr_put) X(nl_addr_set_prefixlen)	\
	X(nl_cache_free) X(nl_cache_get_first) X(nl_cache_get_next)		\
	X(nl_connect) X(nl_geterror) X(nl_recvmsgs_default)			\
	X(nl_send_simple) X(nl_sendto) X(nl_socket_alloc)			\
	X(nl_socket_disable_seq_check) X(nl_socket_free)			\
	X(nl_socket_modify_cb) X(nl_socket_modify_err_cb)			\
	X(nl_socket_set_buffer_size) X(nlmsg_free) X(nlmsg_hdr)			\
	X(rtnl_addr_add) X(rtnl_addr_alloc) X(rtnl_addr_alloc_cache)		\
	X(rtnl_addr_delete) X(rtnl_addr_get_family)				\
	X(rtnl_addr_get_ifindex) X(rtnl_addr_get_local)				\
	X(rtnl_addr_get_prefixlen) X(rtnl_addr_put)				\
	X(rtnl_addr_set_family) X(rtnl_addr_set_flags)				\
	X(rtnl_addr_set_ifindex) X(rtnl_addr_set_local)				\
	X(rtnl_addr_set_prefixlen) X(rtnl_link_get_flags)			\
	X(rtnl_link_get_ifindex) X(rtnl_link_get_kernel)			\
	X(rtnl_link_get_mtu) X(rtnl_link_get_name) X(rtnl_link_put)		\
	X(rtnl_neigh_add) X(rtnl_neigh_alloc) X(rtnl_neigh_delete)		\
	X(rtnl_neigh_get_dst) X(rtnl_neigh_get_family)				\
	X(rtnl_neigh_get_flags) X(rtnl_neigh_get_ifindex)			\
	X(rtnl_neigh_parse) X(rtnl_neigh_put) X(rtnl_neigh_set_dst)		\
	X(rtnl_neigh_set_family) X(rtnl_neigh_set_flags)			\
	X(rtnl_neigh_set_ifindex) X(rtnl_neigh_set_state)			\
	X(rtnl_route_add_nexthop) X(rtnl_route_alloc)				\
	X(rtnl_route_alloc_cache) X(rtnl_route_build_add_request)		\
	X(rtnl_route_build_del_request) X(rtnl_route_get_dst)			\
	X(rtnl_route_get_family) X(rtnl_route_get_nnexthops)			\
	X(rtnl_route_get_priority) X(rtnl_route_get_protocol)			\
	X(rtnl_route_get_scope) X(rtnl_route_get_table)				\
	X(rtnl_route_get_type) X(rtnl_route_nexthop_n)				\
	X(rtnl_route_nh_alloc) X(rtnl_route_nh_free)				\
	X(rtnl_route_nh_get_gateway) X(rtnl_route_nh_get_ifindex)		\
	X(rtnl_route_nh_set_gateway) X(rtnl_route_nh_set_ifindex)		\
	X(rtnl_route_put) X(rtnl_route_set_dst) X(rtnl_route_set_family)	\
	X(rtnl_route_set_priority) X(rtnl_route_set_protocol)			\
	X(rtnl_route_set_scope) X(rtnl_route_set_table)				\
	X(rtnl_route_set_type)
DL_LIBRARY(nl, "libnl-route-3.so.200", NL_SYMS)

static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct nls *s = arg;

	s->kerr = e->error;
	return NL_STOP;
}

int nls_open(struct nls *s, struct verr *err)
{
	int ret;

	s->kerr = 0;
	ret = nl_load(err);
	if (ret < 0)
		return ret;
	s->sk = sym_nl_socket_alloc();
	if (!s->sk)
		return verr_set(err, -ENOMEM, "cannot allocate a netlink socket");
	ret = sym_nl_connect(s->sk, NETLINK_ROUTE);
	if (ret < 0) {
		sym_nl_socket_free(s->sk);
		s->sk = NULL;
		return verr_set(err, -EIO, "cannot open rtnetlink: %s", sym_nl_geterror(ret));
	}
	sym_nl_socket_modify_err_cb(s->sk, NL_CB_CUSTOM, on_error, s);
	return 0;
}

void nls_close(struct nls *s)
{
	if (s->sk)
		sym_nl_socket_free(s->sk);
	s->sk = NULL;
}

/* libnl's code to an errno, preferring what the kernel said. */
int nls_errno(const struct nls *s, int nlerr)
{
	if (s->kerr)
		return s->kerr;
	switch (-nlerr) {
	case NLE_NOMEM: return -ENOMEM;
	case NLE_EXIST: return -EEXIST;
	case NLE_INVAL: return -EINVAL;
	case NLE_RANGE: return -ERANGE;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_BUSY: return -EBUSY;
	case NLE_NOACCESS:
	case NLE_PERM: return -EPERM;
	case NLE_NODEV: return -ENODEV;
	default: return -EIO;
	}
}

const char *nls_strerror(const struct nls *s, int nlerr)
{
	return s->kerr ? strerror(-s->kerr) : sym_nl_geterror(nlerr);
}

static void nl_to_cidr(struct nl_addr *a, int family, struct cidr *out)
{
	unsigned len = a ? sym_nl_addr_get_len(a) : 0;

	memset(out, 0, sizeof(*out));
	out->family = a && sym_nl_addr_get_family(a) ? sym_nl_addr_get_family(a) : family;
	if (len > sizeof(out->addr))
		len = sizeof(out->addr);
	if (len)
		memcpy(out->addr, sym_nl_addr_get_binary_addr(a), len);
	out->prefix = a ? (int)sym_nl_addr_get_prefixlen(a) : 0;
}

/* An nl_addr for c, with c's prefix length; NULL when out of memory. */
static struct nl_addr *cidr_to_nl(const struct cidr *c)
{
	struct nl_addr *a = sym_nl_addr_build(c->family, c->addr, cidr_bits(c) / 8);

	if (a)
		sym_nl_addr_set_prefixlen(a, c->prefix);
	return a;
}

static void fill_link(struct rtnl_link *l, struct netlink_link *out)
{
	memset(out, 0, sizeof(*out));
	out->ifindex = sym_rtnl_link_get_ifindex(l);
	snprintf(out->name, sizeof(out->name), "%s", sym_rtnl_link_get_name(l) ?: "");
	out->mtu = sym_rtnl_link_get_mtu(l);
	out->up = sym_rtnl_link_get_flags(l) & IFF_UP;
}

static int link_get(int ifindex, const char *name, struct netlink_link *out, struct verr *err)
{
	struct rtnl_link *l = NULL;
	struct nls s = { 0 };
	int ret;

	if (name && (!*name || strlen(name) >= IFNAMSIZ)) {
		ret = verr_set(err, -ENODEV, "'%s' is not an interface name", name);
		goto out;
	}
	ret = nls_open(&s, err);
	if (ret < 0)
		goto out;
	ret = sym_rtnl_link_get_kernel(s.sk, ifindex, name, &l);
	if (ret < 0) {
		ret = nls_errno(&s, ret);
		if (ret == -ENOENT || ret == -ENODEV) {
			ret = -ENODEV;
			if (name)
				verr_set(err, ret, "no interface named '%s'", name);
			else
				verr_set(err, ret, "no interface with index %d", ifindex);
		} else {
			verr_set(err, ret, "cannot look up interface '%s': %s",
				 name ? name : "?", nls_strerror(&s, ret));
		}
		goto out;
	}
	fill_link(l, out);
	ret = 0;
out:
	if (l)
		sym_rtnl_link_put(l);
	nls_close(&s);
	return ret;
}

int netlink_link_by_name(const char *name, struct netlink_link *out, struct verr *err)
{
	return link_get(0, name, out, err);
}

int netlink_link_by_index(int ifindex, struct netlink_link *out, struct verr *err)
{
	return link_get(ifindex, NULL, out, err);
}

struct find_addr {
	const struct cidr *want;
	int ifindex;
};

static int find_addr_cb(int ifindex, const struct cidr *addr, void *arg)
{
	struct find_addr *f = arg;
	int len = cidr_bits(addr) / 8;

	if (addr->family == f->want->family && !memcmp(addr->addr, f->want->addr, len)) {
		f->ifindex = ifindex;
		return 1;
	}
	return 0;
}

int netlink_link_by_addr(const struct cidr *addr, struct netlink_link *out, struct verr *err)
{
	struct find_addr f = { .want = addr };
	char buf[CIDR_STRLEN];
	int ret;

	ret = netlink_addrs(addr->family, 0, find_addr_cb, &f, err);
	if (ret < 0)
		return ret;
	if (!f.ifindex)
		return verr_set(err, -ENODEV, "no interface has the address %s",
				cidr_format(addr, false, buf, sizeof(buf)));
	return netlink_link_by_index(f.ifindex, out, err);
}

int netlink_addrs(int family, int ifindex, netlink_addr_cb cb, void *arg, struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	struct nls s = { 0 };
	struct cidr c;
	int ret;

	ret = nls_open(&s, err);
	if (ret < 0)
		goto out;
	ret = sym_rtnl_addr_alloc_cache(s.sk, &cache);
	if (ret < 0) {
		ret = verr_set(err, nls_errno(&s, ret), "cannot list addresses: %s",
			       nls_strerror(&s, ret));
		goto out;
	}
	ret = 0;
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		int fam = sym_rtnl_addr_get_family(a);

		if ((fam != AF_INET && fam != AF_INET6) || (family && fam != family))
			continue;
		if (ifindex && sym_rtnl_addr_get_ifindex(a) != ifindex)
			continue;
		if (!sym_rtnl_addr_get_local(a))
			continue;
		nl_to_cidr(sym_rtnl_addr_get_local(a), fam, &c);
		c.prefix = sym_rtnl_addr_get_prefixlen(a);
		ret = cb(sym_rtnl_addr_get_ifindex(a), &c, arg);
		if (ret)
			break;
	}
	if (ret > 0)
		ret = 0;
out:
	if (cache)
		sym_nl_cache_free(cache);
	nls_close(&s);
	return ret;
}

struct exists {
	const struct cidr *want;
	bool found;
};

static int exists_cb(int ifindex, const struct cidr *addr, void *arg)
{
	struct exists *e = arg;

	if (cidr_equal(addr, e->want)) {
		e->found = true;
		return 1;
	}
	return 0;
}

int netlink_addr_exists(int ifindex, const struct cidr *addr, bool *exists, struct verr *err)
{
	struct exists e = { .want = addr };
	int ret = netlink_addrs(addr->family, ifindex, exists_cb, &e, err);

	*exists = e.found;
	return ret;
}

static int addr_change(int ifindex, const struct cidr *c, unsigned flags, bool add,
		       struct verr *err)
{
	struct rtnl_addr *a = NULL;
	struct nl_addr *local = NULL;
	char buf[CIDR_STRLEN];
	struct nls s = { 0 };
	int ret;

	ret = nls_open(&s, err);
	if (ret < 0)
		goto out;
	a = sym_rtnl_addr_alloc();
	local = cidr_to_nl(c);
	if (!a || !local) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	sym_rtnl_addr_set_ifindex(a, ifindex);
	sym_rtnl_addr_set_family(a, c->family);
	ret = sym_rtnl_addr_set_local(a, local);
	if (ret < 0) {
		ret = verr_set(err, -EINVAL, "bad address: %s", sym_nl_geterror(ret));
		goto out;
	}
	sym_rtnl_addr_set_prefixlen(a, c->prefix);
	if (add) {
		if (flags & NETLINK_ADDR_NOPREFIXROUTE)
			sym_rtnl_addr_set_flags(a, IFA_F_NOPREFIXROUTE);
		ret = sym_rtnl_addr_add(s.sk, a, NLM_F_REPLACE);
	} else {
		ret = sym_rtnl_addr_delete(s.sk, a, 0);
	}
	if (ret < 0) {
		ret = nls_errno(&s, ret);
		if (!add && (ret == -EADDRNOTAVAIL || ret == -ENOENT || ret == -ENODEV)) {
			ret = 0;
			goto out;
		}
		verr_set(err, ret, "cannot %s address %s on interface %d: %s",
			 add ? "add" : "delete", cidr_format(c, true, buf, sizeof(buf)), ifindex,
			 nls_strerror(&s, ret));
		goto out;
	}
	ret = 0;
out:
	if (local)
		sym_nl_addr_put(local);
	if (a)
		sym_rtnl_addr_put(a);
	nls_close(&s);
	return ret;
}

int netlink_addr_replace(int ifindex, const struct cidr *addr, unsigned flags, struct verr *err)
{
	return addr_change(ifindex, addr, flags, true, err);
}

int netlink_addr_delete(int ifindex, const struct cidr *addr, struct verr *err)
{
	return addr_change(ifindex, addr, 0, false, err);
}

static void fill_route(struct rtnl_route *rt, struct netlink_route *r)
{
	struct rtnl_nexthop *nh = NULL;
	int family = sym_rtnl_route_get_family(rt);

	memset(r, 0, sizeof(*r));
	nl_to_cidr(sym_rtnl_route_get_dst(rt), family, &r->dst);
	r->table = sym_rtnl_route_get_table(rt);
	r->protocol = sym_rtnl_route_get_protocol(rt);
	r->scope = sym_rtnl_route_get_scope(rt);
	r->type = sym_rtnl_route_get_type(rt);
	r->metric = sym_rtnl_route_get_priority(rt);
	if (sym_rtnl_route_get_nnexthops(rt) > 0)
		nh = sym_rtnl_route_nexthop_n(rt, 0);
	if (nh) {
		r->ifindex = sym_rtnl_route_nh_get_ifindex(nh);
		if (sym_rtnl_route_nh_get_gateway(nh)) {
			r->has_gateway = true;
			nl_to_cidr(sym_rtnl_route_nh_get_gateway(nh), family, &r->gateway);
			r->gateway.prefix = cidr_bits(&r->gateway);
		}
	}
}

static int walk_routes(int family, int proto, netlink_route_cb cb, void *arg, struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct netlink_route r;
	struct nl_object *o;
	struct nls s = { 0 };
	int ret;

	ret = nls_open(&s, err);
	if (ret < 0)
		goto out;
	ret = sym_rtnl_route_alloc_cache(s.sk, family, 0, &cache);
	if (ret < 0) {
		ret = verr_set(err, nls_errno(&s, ret), "cannot list routes: %s",
			       nls_strerror(&s, ret));
		goto out;
	}
	ret = 0;
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		struct rtnl_route *rt = (struct rtnl_route *)o;

		if (sym_rtnl_route_get_family(rt) != family)
			continue;
		if (proto >= 0 && sym_rtnl_route_get_protocol(rt) != proto)
			continue;
		fill_route(rt, &r);
		ret = cb(&r, arg);
		if (ret)
			break;
	}
	if (ret > 0)
		ret = 0;
out:
	if (cache)
		sym_nl_cache_free(cache);
	nls_close(&s);
	return ret;
}

int netlink_routes(int family, netlink_route_cb cb, void *arg, struct verr *err)
{
	return walk_routes(family, -1, cb, arg, err);
}

int netlink_routes_by_proto(int family, int proto, netlink_route_cb cb, void *arg,
			    struct verr *err)
{
	return walk_routes(family, proto, cb, arg, err);
}

/* The libnl object of r, as an add (with scope) or a delete wants it; NULL when out of memory. */
static struct rtnl_route *route_obj(const struct netlink_route *r, bool add)
{
	struct rtnl_route *rt = sym_rtnl_route_alloc();
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst = cidr_to_nl(&r->dst), *gw = NULL;
	bool ok = rt && dst;

	if (ok) {
		sym_rtnl_route_set_family(rt, r->dst.family);
		sym_rtnl_route_set_dst(rt, dst);
		sym_rtnl_route_set_table(rt, r->table ? r->table : RT_TABLE_MAIN);
		sym_rtnl_route_set_type(rt, r->type ? r->type : RTN_UNICAST);
		if (r->protocol)
			sym_rtnl_route_set_protocol(rt, r->protocol);
		if (r->metric)
			sym_rtnl_route_set_priority(rt, r->metric);
		if (add)
			sym_rtnl_route_set_scope(rt, r->scope ? r->scope : r->has_gateway
						 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	}
	if (ok && (r->ifindex || r->has_gateway)) {
		nh = sym_rtnl_route_nh_alloc();
		if (r->has_gateway)
			gw = sym_nl_addr_build(r->gateway.family, r->gateway.addr,
					       cidr_bits(&r->gateway) / 8);
		ok = nh && (gw || !r->has_gateway);
		if (ok && r->ifindex)
			sym_rtnl_route_nh_set_ifindex(nh, r->ifindex);
		if (ok && gw)
			sym_rtnl_route_nh_set_gateway(nh, gw);
		if (ok)
			sym_rtnl_route_add_nexthop(rt, nh);	/* the route owns it now */
		else if (nh)
			sym_rtnl_route_nh_free(nh);
	}
	if (gw)
		sym_nl_addr_put(gw);
	if (dst)
		sym_nl_addr_put(dst);
	if (!ok && rt) {
		sym_rtnl_route_put(rt);
		rt = NULL;
	}
	return rt;
}

/* Replies to a batch: which requests failed, and how. */
struct acks {
	unsigned base;		/* sequence number of request 0 */
	size_t n, answered;
	int *errs;		/* per request: 0 or the kernel's negative errno */
};

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct acks *a = arg;
	unsigned i = sym_nlmsg_hdr(msg)->nlmsg_seq - a->base;

	if (i < a->n)
		a->answered++;
	return NL_OK;
}

static int on_batch_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct acks *a = arg;
	unsigned i = e->msg.nlmsg_seq - a->base;

	if (i < a->n) {
		a->errs[i] = e->error;
		a->answered++;
	}
	return NL_OK;
}

/*
 * Requests sent per system call: their answers (a few hundred, each
 * counted as most of a KiB) must fit the receive buffer at its default
 * cap (net.core.rmem_max), or the kernel drops them.
 */
#define BATCH_BYTES 16384

/*
 * Send many requests in few system calls (the kernel takes a buffer of
 * netlink messages and answers each), then collect every answer, so that
 * 1,000 pins or HTB classes cost a handful of syscalls instead of 2,000.
 * The order is kept: a delete followed by an add of the same object works.
 */
int nls_batch(struct nls *s, size_t n, nls_build_fn build, void *arg, int *errs,
	      struct verr *err)
{
	struct acks a = { .n = n, .errs = errs };
	char *buf = malloc(BATCH_BYTES);
	size_t len = 0, sent = 0;
	int ret = 0;

	memset(errs, 0, n * sizeof(*errs));
	if (!buf)
		return verr_set(err, -ENOMEM, "out of memory");
	sym_nl_socket_disable_seq_check(s->sk);
	/* The kernel counts each answer at its buffer's size, most of a KiB: make room. */
	sym_nl_socket_set_buffer_size(s->sk, 1 << 20, 0);
	sym_nl_socket_modify_cb(s->sk, NL_CB_ACK, NL_CB_CUSTOM, on_ack, &a);
	sym_nl_socket_modify_err_cb(s->sk, NL_CB_CUSTOM, on_batch_error, &a);
	a.base = (unsigned)time(NULL) << 12;
	for (size_t i = 0; i <= n && ret == 0; i++) {
		struct nl_msg *msg = NULL;
		struct nlmsghdr *h = NULL;
		int r;

		if (i < n) {
			if (build(i, &msg, arg) < 0 || !msg) {
				ret = verr_set(err, -ENOMEM, "out of memory");
				break;
			}
			h = sym_nlmsg_hdr(msg);
			h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
			h->nlmsg_seq = a.base + i;
		}
		/* Flush when full or at the end, then take the answers to what went. */
		if (i == n || len + NLMSG_ALIGN(h->nlmsg_len) > BATCH_BYTES) {
			if (len && (r = sym_nl_sendto(s->sk, buf, len)) < 0)
				ret = verr_set(err, nls_errno(s, r), "cannot send to rtnetlink: %s",
					       nls_strerror(s, r));
			len = 0;
			while (ret == 0 && a.answered < sent)
				if ((r = sym_nl_recvmsgs_default(s->sk)) < 0)
					ret = verr_set(err, nls_errno(s, r), "rtnetlink: %s",
						       nls_strerror(s, r));
		}
		if (i < n && ret == 0) {
			memcpy(buf + len, h, h->nlmsg_len);
			len += NLMSG_ALIGN(h->nlmsg_len);
			sent++;
		}
		if (msg)
			sym_nlmsg_free(msg);
	}
	/* Later requests on this socket are answered one at a time again. */
	sym_nl_socket_modify_cb(s->sk, NL_CB_ACK, NL_CB_DEFAULT, NULL, NULL);
	sym_nl_socket_modify_err_cb(s->sk, NL_CB_CUSTOM, on_error, s);
	free(buf);
	return ret;
}

static int route_msg(size_t i, struct nl_msg **msg, void *arg)
{
	const struct netlink_route_op *op = (const struct netlink_route_op *)arg + i;
	struct rtnl_route *rt = route_obj(op->route, op->add);
	int ret;

	if (!rt)
		return -ENOMEM;
	ret = op->add ? sym_rtnl_route_build_add_request(
				rt, NLM_F_CREATE | (op->excl ? NLM_F_EXCL : NLM_F_REPLACE), msg)
		      : sym_rtnl_route_build_del_request(rt, 0, msg);
	sym_rtnl_route_put(rt);
	return ret < 0 ? -ENOMEM : 0;
}

int netlink_routes_change(const struct netlink_route_op *ops, size_t n, struct verr *err)
{
	int *errs = calloc(n ? n : 1, sizeof(*errs));
	char dbuf[CIDR_STRLEN];
	struct nls s = { 0 };
	int ret;

	if (!errs)
		return verr_set(err, -ENOMEM, "out of memory");
	ret = nls_open(&s, err);
	if (ret == 0)
		ret = nls_batch(&s, n, route_msg, (void *)ops, errs, err);
	/* The first request the kernel refused (deleting what is not there is fine). */
	for (size_t i = 0; ret == 0 && i < n; i++) {
		int e = errs[i];

		if (!e || (!ops[i].add && (e == -ESRCH || e == -ENOENT || e == -ENODEV)))
			continue;
		ret = verr_set(err, e, "cannot %s route %s: %s", ops[i].add ? "add" : "delete",
			       cidr_format(&ops[i].route->dst, true, dbuf, sizeof(dbuf)),
			       strerror(-e));
	}
	nls_close(&s);
	free(errs);
	return ret;
}

int netlink_route_replace(const struct netlink_route *r, struct verr *err)
{
	struct netlink_route_op op = { .route = r, .add = true };

	return netlink_routes_change(&op, 1, err);
}

int netlink_route_add(const struct netlink_route *r, struct verr *err)
{
	struct netlink_route_op op = { .route = r, .add = true, .excl = true };

	return netlink_routes_change(&op, 1, err);
}

int netlink_route_delete(const struct netlink_route *r, struct verr *err)
{
	struct netlink_route_op op = { .route = r, .add = false };

	return netlink_routes_change(&op, 1, err);
}

struct dflt {
	int ifindex;
	uint32_t metric;
	bool found;
	struct cidr gateway;
};

static int dflt_cb(const struct netlink_route *r, void *arg)
{
	struct dflt *d = arg;

	if (r->table != RT_TABLE_MAIN || r->dst.prefix != 0 || r->type != RTN_UNICAST ||
	    !r->ifindex)
		return 0;
	if (d->found && r->metric >= d->metric)
		return 0;
	d->found = true;
	d->metric = r->metric;
	d->ifindex = r->ifindex;
	memset(&d->gateway, 0, sizeof(d->gateway));
	if (r->has_gateway)
		d->gateway = r->gateway;
	return 0;
}

int netlink_default_route(int family, int *ifindex, struct cidr *gateway, struct verr *err)
{
	struct dflt d = { 0 };
	int ret;

	ret = netlink_routes(family, dflt_cb, &d, err);
	if (ret < 0)
		return ret;
	if (!d.found)
		return verr_set(err, -ENOENT, "no %s default route",
				family == AF_INET ? "IPv4" : "IPv6");
	*ifindex = d.ifindex;
	if (gateway)
		*gateway = d.gateway;
	return 0;
}

struct proxy_walk {
	netlink_proxy_cb cb;
	void *arg;
	int family;
	int ret;
};

static int proxy_msg(struct nl_msg *msg, void *arg)
{
	struct proxy_walk *w = arg;
	struct rtnl_neigh *n = NULL;
	struct cidr c;

	if (sym_rtnl_neigh_parse(sym_nlmsg_hdr(msg), &n) < 0)
		return NL_SKIP;
	if ((sym_rtnl_neigh_get_flags(n) & NTF_PROXY) && sym_rtnl_neigh_get_dst(n) &&
	    (!w->family || sym_rtnl_neigh_get_family(n) == w->family)) {
		nl_to_cidr(sym_rtnl_neigh_get_dst(n), sym_rtnl_neigh_get_family(n), &c);
		c.prefix = cidr_bits(&c);
		w->ret = w->cb(sym_rtnl_neigh_get_ifindex(n), &c, w->arg);
	}
	sym_rtnl_neigh_put(n);
	return w->ret ? NL_STOP : NL_OK;
}

int netlink_proxies(int family, netlink_proxy_cb cb, void *arg, struct verr *err)
{
	struct proxy_walk w = { .cb = cb, .arg = arg, .family = family };
	/* A dump request whose ndm_flags are exactly NTF_PROXY lists the proxy table. */
	struct ndmsg ndm = { .ndm_family = family, .ndm_flags = NTF_PROXY };
	struct nls s = { 0 };
	int ret;

	ret = nls_open(&s, err);
	if (ret < 0)
		goto out;
	sym_nl_socket_modify_cb(s.sk, NL_CB_VALID, NL_CB_CUSTOM, proxy_msg, &w);
	ret = sym_nl_send_simple(s.sk, RTM_GETNEIGH, NLM_F_DUMP, &ndm, sizeof(ndm));
	if (ret >= 0)
		ret = sym_nl_recvmsgs_default(s.sk);
	if (ret < 0 && !w.ret) {
		ret = verr_set(err, nls_errno(&s, ret), "cannot list proxy neighbours: %s",
			       nls_strerror(&s, ret));
		goto out;
	}
	ret = w.ret > 0 ? 0 : w.ret;
out:
	nls_close(&s);
	return ret;
}

static int proxy_change(int ifindex, const struct cidr *c, bool add, struct verr *err)
{
	struct rtnl_neigh *n = NULL;
	struct nl_addr *dst = NULL;
	char buf[CIDR_STRLEN];
	struct nls s = { 0 };
	struct cidr host = *c;
	int ret;

	host.prefix = cidr_bits(c);
	ret = nls_open(&s, err);
	if (ret < 0)
		goto out;
	n = sym_rtnl_neigh_alloc();
	dst = cidr_to_nl(&host);
	if (!n || !dst) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	sym_rtnl_neigh_set_family(n, c->family);
	sym_rtnl_neigh_set_ifindex(n, ifindex);
	sym_rtnl_neigh_set_dst(n, dst);
	sym_rtnl_neigh_set_flags(n, NTF_PROXY);
	if (add) {
		sym_rtnl_neigh_set_state(n, NUD_PERMANENT);
		ret = sym_rtnl_neigh_add(s.sk, n, NLM_F_CREATE | NLM_F_REPLACE);
	} else {
		ret = sym_rtnl_neigh_delete(s.sk, n, 0);
	}
	if (ret < 0) {
		ret = nls_errno(&s, ret);
		if (!add && (ret == -ENOENT || ret == -ENODEV)) {
			ret = 0;
			goto out;
		}
		verr_set(err, ret, "cannot %s proxy neighbour %s on interface %d: %s",
			 add ? "add" : "delete", cidr_format(&host, false, buf, sizeof(buf)),
			 ifindex, nls_strerror(&s, ret));
		goto out;
	}
	ret = 0;
out:
	if (dst)
		sym_nl_addr_put(dst);
	if (n)
		sym_rtnl_neigh_put(n);
	nls_close(&s);
	return ret;
}

int netlink_proxy_add(int ifindex, const struct cidr *addr, struct verr *err)
{
	return proxy_change(ifindex, addr, true, err);
}

int netlink_proxy_delete(int ifindex, const struct cidr *addr, struct verr *err)
{
	return proxy_change(ifindex, addr, false, err);
}
