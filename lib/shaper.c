// SPDX-License-Identifier: GPL-3.0-or-later
/* HTB qdiscs and classes through libnl-route-3 (shaper.h). */
#include <errno.h>
#include <linux/pkt_sched.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dl.h"
#include "nls.h"
#include "shaper.h"

/* Loaded with the rest of libnl (netlink.c) by the commands that shape. */
#define TC_SYMS(X)								\
	X(nl_cache_free) X(nl_cache_get_first) X(nl_cache_get_next)		\
	X(rtnl_qdisc_alloc) X(rtnl_qdisc_alloc_cache) X(rtnl_qdisc_add)		\
	X(rtnl_qdisc_delete) X(rtnl_qdisc_put)					\
	X(rtnl_class_alloc) X(rtnl_class_alloc_cache)				\
	X(rtnl_class_build_add_request) X(rtnl_class_build_delete_request)	\
	X(rtnl_class_put)							\
	X(rtnl_tc_set_ifindex) X(rtnl_tc_set_parent) X(rtnl_tc_set_handle)	\
	X(rtnl_tc_set_kind) X(rtnl_tc_get_ifindex) X(rtnl_tc_get_parent)	\
	X(rtnl_tc_get_handle) X(rtnl_tc_get_kind)				\
	X(rtnl_htb_set_defcls) X(rtnl_htb_set_rate64) X(rtnl_htb_set_ceil64)	\
	X(rtnl_htb_get_rate64) X(rtnl_htb_set_quantum)
DL_LIBRARY(tc, "libnl-route-3.so.200", TC_SYMS)

#define ROOT_HANDLE (SHAPER_MAJOR << 16)

/* Root qdiscs the kernel puts there by itself: replacing them takes nothing from anyone. */
static bool is_default_kind(const char *kind)
{
	static const char *const kinds[] = { "pfifo_fast", "fq_codel", "fq", "mq", "noqueue",
					     "pfifo", "noop", NULL };

	for (int i = 0; kind && kinds[i]; i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

/* The kind and handle of ifindex's root qdisc ("" when none is listed). */
static int root_qdisc(struct nls *s, int ifindex, char *kind, size_t len, uint32_t *handle,
		      struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int ret;

	kind[0] = '\0';
	*handle = 0;
	ret = sym_rtnl_qdisc_alloc_cache(s->sk, &cache);
	if (ret < 0)
		return verr_set(err, nls_errno(s, ret), "cannot list qdiscs: %s",
				nls_strerror(s, ret));
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		struct rtnl_tc *tc = (struct rtnl_tc *)o;

		if (sym_rtnl_tc_get_ifindex(tc) != ifindex || sym_rtnl_tc_get_parent(tc) != TC_H_ROOT)
			continue;
		snprintf(kind, len, "%s", sym_rtnl_tc_get_kind(tc) ?: "");
		*handle = sym_rtnl_tc_get_handle(tc);
	}
	sym_nl_cache_free(cache);
	return 0;
}

static int put_qdisc(struct nls *s, int ifindex, const char *ifname, struct verr *err)
{
	struct rtnl_qdisc *q = sym_rtnl_qdisc_alloc();
	int ret;

	if (!q)
		return verr_set(err, -ENOMEM, "out of memory");
	sym_rtnl_tc_set_ifindex((struct rtnl_tc *)q, ifindex);
	sym_rtnl_tc_set_parent((struct rtnl_tc *)q, TC_H_ROOT);
	sym_rtnl_tc_set_handle((struct rtnl_tc *)q, ROOT_HANDLE);
	ret = sym_rtnl_tc_set_kind((struct rtnl_tc *)q, "htb");
	if (ret == 0)
		ret = sym_rtnl_htb_set_defcls(q, 0);	/* unclassified: the direct queue */
	if (ret == 0) {
		s->kerr = 0;
		ret = sym_rtnl_qdisc_add(s->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
	}
	if (ret < 0) {
		ret = nls_errno(s, ret);
		/* "Unknown qdisc" is ENOENT; libnl itself has no "htb" module without it either. */
		if (ret == -ENOENT || ret == -EOPNOTSUPP)
			ret = verr_set(err, -EOPNOTSUPP, "the kernel has no HTB qdisc (sch_htb): "
				       "rate limits cannot be applied on %s", ifname);
		else
			ret = verr_set(err, ret, "cannot add an HTB qdisc to %s: %s", ifname,
				       nls_strerror(s, -ret));
	}
	sym_rtnl_qdisc_put(q);
	return ret;
}

/* HTB's quantum (bytes a class sends per round) from its rate: a tenth of a second, clamped. */
static uint32_t quantum_of(uint64_t bps)
{
	uint64_t q = bps / 80;

	return q < 1600 ? 1600 : q > 200000 ? 200000 : (uint32_t)q;
}

/* A change of one class: add or replace it (rate > 0), or delete it (rate 0). */
struct op {
	int ifindex;
	struct shaper_class c;
};

static int class_msg(size_t i, struct nl_msg **msg, void *arg)
{
	const struct op *op = (const struct op *)arg + i;
	struct rtnl_class *cl = sym_rtnl_class_alloc();
	int ret;

	if (!cl)
		return -ENOMEM;
	sym_rtnl_tc_set_ifindex((struct rtnl_tc *)cl, op->ifindex);
	sym_rtnl_tc_set_parent((struct rtnl_tc *)cl, ROOT_HANDLE);
	sym_rtnl_tc_set_handle((struct rtnl_tc *)cl, ROOT_HANDLE | op->c.minor);
	ret = sym_rtnl_tc_set_kind((struct rtnl_tc *)cl, "htb");
	if (ret == 0 && !op->c.rate) {
		ret = sym_rtnl_class_build_delete_request(cl, msg);
		goto out;
	}
	/* libnl takes bytes per second. */
	if (ret == 0)
		ret = sym_rtnl_htb_set_rate64(cl, op->c.rate / 8);
	if (ret == 0)
		ret = sym_rtnl_htb_set_ceil64(cl, op->c.rate / 8);
	if (ret == 0)
		ret = sym_rtnl_htb_set_quantum(cl, quantum_of(op->c.rate));
	if (ret == 0)
		ret = sym_rtnl_class_build_add_request(cl, NLM_F_CREATE | NLM_F_REPLACE, msg);
out:
	sym_rtnl_class_put(cl);
	return ret < 0 ? -ENOMEM : 0;
}

static int cmp_minor(const void *a, const void *b)
{
	const struct shaper_class *x = a, *y = b;

	return (int)x->minor - (int)y->minor;
}

/*
 * The changes that make the classes under visp's qdisc exactly want
 * (sorted): deletes of the unwanted, then adds and in-place changes of
 * those missing or at another rate.
 */
static int plan(struct nls *s, int ifindex, const char *ifname, const struct shaper_class *want,
		size_t n, struct op **ops, size_t *nops, struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	bool *have = calloc(n ? n : 1, sizeof(*have));
	struct op *v = NULL;
	size_t nv = 0, cap;
	int ret;

	*ops = NULL;
	*nops = 0;
	ret = have ? sym_rtnl_class_alloc_cache(s->sk, ifindex, &cache) : -NLE_NOMEM;
	if (ret < 0) {
		ret = verr_set(err, nls_errno(s, ret), "cannot list the classes of %s: %s",
			       ifname, nls_strerror(s, ret));
		goto out;
	}
	cap = n;
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o))
		cap++;
	v = calloc(cap ? cap : 1, sizeof(*v));
	if (!v) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		struct rtnl_tc *tc = (struct rtnl_tc *)o;
		struct shaper_class key = { 0 }, *w;
		uint64_t rate = 0;

		if (sym_rtnl_tc_get_parent(tc) != ROOT_HANDLE)
			continue;
		key.minor = sym_rtnl_tc_get_handle(tc) & 0xffff;
		w = bsearch(&key, want, n, sizeof(*want), cmp_minor);
		sym_rtnl_htb_get_rate64((struct rtnl_class *)tc, &rate);
		if (w && rate == w->rate / 8)
			have[w - want] = true;
		else if (!w)
			v[nv++] = (struct op){ .ifindex = ifindex, .c = key };
	}
	for (size_t i = 0; i < n; i++)
		if (!have[i])
			v[nv++] = (struct op){ .ifindex = ifindex, .c = want[i] };
	*ops = v;
	*nops = nv;
	v = NULL;
	ret = 0;
out:
	if (cache)
		sym_nl_cache_free(cache);
	free(have);
	free(v);
	return ret;
}

static int apply_ops(struct nls *s, const char *ifname, struct op *ops, size_t n,
		     struct verr *err)
{
	int *errs = calloc(n ? n : 1, sizeof(*errs)), ret;

	if (!errs)
		return verr_set(err, -ENOMEM, "out of memory");
	ret = nls_batch(s, n, class_msg, ops, errs, err);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (errs[i])
			ret = verr_set(err, errs[i], "cannot %s HTB class %x:%x on %s: %s",
				       ops[i].c.rate ? "set" : "delete", SHAPER_MAJOR,
				       ops[i].c.minor, ifname, strerror(-errs[i]));
	free(errs);
	return ret;
}

int shaper_apply(const char *ifname, const struct shaper_class *v, size_t n, struct verr *err)
{
	struct shaper_class *want = NULL;
	struct nls s = { 0 };
	struct op *ops = NULL;
	size_t nops = 0;
	char kind[32];
	uint32_t handle;
	int ifindex, ret;

	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return verr_set(err, -ENODEV, "no interface '%s' to shape", ifname);
	ret = tc_load(err);
	if (ret == 0)
		ret = nls_open(&s, err);
	if (ret < 0)
		return ret;
	want = malloc((n ? n : 1) * sizeof(*want));
	if (!want) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (n) {
		memcpy(want, v, n * sizeof(*want));
		qsort(want, n, sizeof(*want), cmp_minor);
	}
	ret = root_qdisc(&s, ifindex, kind, sizeof(kind), &handle, err);
	if (ret < 0)
		goto out;
	if (strcmp(kind, "htb") || handle != ROOT_HANDLE) {
		if (kind[0] && !is_default_kind(kind)) {
			ret = verr_set(err, -EEXIST, "%s has a root qdisc (%s %x:) that is not "
				       "visp's: rate limits are not applied there", ifname, kind,
				       handle >> 16);
			goto out;
		}
		ret = put_qdisc(&s, ifindex, ifname, err);
		if (ret < 0)
			goto out;
	}
	ret = plan(&s, ifindex, ifname, want, n, &ops, &nops, err);
	if (ret == 0)
		ret = apply_ops(&s, ifname, ops, nops, err);
out:
	free(want);
	free(ops);
	nls_close(&s);
	return ret;
}

int shaper_remove(const char *ifname, struct verr *err)
{
	struct rtnl_qdisc *q = NULL;
	struct nls s = { 0 };
	char kind[32];
	uint32_t handle;
	int ifindex, ret;

	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return 0;	/* gone with its interface (cjdroute stopped) */
	ret = tc_load(err);
	if (ret == 0)
		ret = nls_open(&s, err);
	if (ret < 0)
		return ret;
	ret = root_qdisc(&s, ifindex, kind, sizeof(kind), &handle, err);
	if (ret < 0 || strcmp(kind, "htb") || handle != ROOT_HANDLE)
		goto out;
	q = sym_rtnl_qdisc_alloc();
	if (!q) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	sym_rtnl_tc_set_ifindex((struct rtnl_tc *)q, ifindex);
	sym_rtnl_tc_set_parent((struct rtnl_tc *)q, TC_H_ROOT);
	sym_rtnl_tc_set_handle((struct rtnl_tc *)q, ROOT_HANDLE);
	s.kerr = 0;
	ret = sym_rtnl_qdisc_delete(s.sk, q);
	if (ret < 0)
		ret = verr_set(err, nls_errno(&s, ret), "cannot remove visp's qdisc from %s: %s",
			       ifname, nls_strerror(&s, ret));
out:
	if (q)
		sym_rtnl_qdisc_put(q);
	nls_close(&s);
	return ret;
}
