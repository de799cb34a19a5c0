// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * HTB qdiscs and classes through libnl-route-3 (shaper.h).
 *
 * Why two levels. The kernel's cost of a new HTB class grows with the
 * classes already there, for two reasons (README, "Usage, limits and
 * quotas"): after creating a class, tc_ctl_tclass re-binds filters by
 * walking every class of the same qdisc (tc_bind_tclass, a mutex per
 * class), and every class's filter block is put on one list of the whole
 * host (flow_indr_dev_setup_offload searches it before adding). The first
 * is per qdisc, so the leases' classes are spread over child HTB qdiscs of
 * at most GROUP classes each, one per class of visp's root qdisc; the
 * second is per class and stays (it is why visp makes no class it does not
 * need). A lease's class is the child's major and its place in the group:
 * the nft maps set that as skb->priority, the child HTB finds it in its own
 * class hash, and the root finds the group's class with one classifier
 * that reads the priority's major (root_prog). Per packet: two hash lookups
 * and a few BPF instructions, whatever the number of leases.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/class.h>
#include <netlink/route/classifier.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/htb.h>
#include <netlink/route/tc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dl.h"
#include "nls.h"
#include "shaper.h"

/* Loaded with the rest of libnl (netlink.c) by the commands that shape. */
#define TC_SYMS(X)								\
	X(nl_cache_free) X(nl_cache_get_first) X(nl_cache_get_next)		\
	X(nl_send_auto) X(nl_wait_for_ack) X(nlmsg_alloc_simple)		\
	X(nlmsg_append) X(nlmsg_free) X(nla_put) X(nla_put_string)		\
	X(nla_nest_start) X(nla_nest_end)					\
	X(rtnl_qdisc_alloc) X(rtnl_qdisc_alloc_cache) X(rtnl_qdisc_add)		\
	X(rtnl_qdisc_build_add_request) X(rtnl_qdisc_delete) X(rtnl_qdisc_put)	\
	X(rtnl_class_alloc) X(rtnl_class_alloc_cache)				\
	X(rtnl_class_build_add_request) X(rtnl_class_build_delete_request)	\
	X(rtnl_class_put) X(rtnl_cls_alloc_cache)				\
	X(rtnl_tc_set_ifindex) X(rtnl_tc_set_parent) X(rtnl_tc_set_handle)	\
	X(rtnl_tc_set_kind) X(rtnl_tc_get_ifindex) X(rtnl_tc_get_parent)	\
	X(rtnl_tc_get_handle) X(rtnl_tc_get_kind)				\
	X(rtnl_htb_set_defcls) X(rtnl_htb_set_rate64) X(rtnl_htb_set_ceil64)	\
	X(rtnl_htb_get_rate64) X(rtnl_htb_set_quantum)			\
	X(rtnl_htb_set_rbuffer) X(rtnl_htb_set_cbuffer)
DL_LIBRARY(tc, "libnl-route-3.so.200", TC_SYMS)

#define ROOT_HANDLE (SHAPER_MAJOR << 16)
/*
 * Leases per child qdisc: each new class costs a walk of its qdisc's
 * classes, and the root tries each backlogged group in turn when all of
 * their leases wait for tokens, so neither side wants it large.
 */
#define GROUP 128u
#define NGROUPS ((SHAPER_MINOR_MAX + GROUP - 1) / GROUP)
/*
 * A group's class in the root: never the limit, only the way to its child.
 * Its burst is set: libnl's default (a tick's worth and an MTU) rounds to
 * nothing at this rate, and a class with no burst waits between packets.
 */
#define GROUP_RATE 100000000000ull	/* 100 Gbit/s */
#define GROUP_BURST (1u << 20)
#define FILTER_PRIO 1
#define FILTER_NAME "visp-group"

/*
 * The children's majors, ascending. The kernel files a device's qdiscs in
 * 16 buckets by handle (hash_32 of it) and every HTB leaf's default pfifo
 * has handle 0: a child in handle 0's bucket would make each lookup of it
 * (one per class added) walk every leaf of the device. Those are skipped.
 */
static uint16_t group_major(unsigned g)
{
	static uint16_t majors[NGROUPS];
	static bool done;

	if (!done) {
		unsigned m = SHAPER_MAJOR + 1;

		for (unsigned i = 0; i < NGROUPS; m++)
			if ((uint32_t)(m << 16) * 0x61c88647u >> 28)
				majors[i++] = (uint16_t)m;
		done = true;
	}
	return majors[g];
}

/* The group of a child major, or -1. */
static int group_of(uint16_t major)
{
	unsigned lo = 0, hi = NGROUPS;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (group_major(mid) < major)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < NGROUPS && group_major(lo) == major ? (int)lo : -1;
}

uint32_t shaper_classid(uint16_t minor)
{
	unsigned i = minor - 1u;

	return (uint32_t)group_major(i / GROUP) << 16 | (i % GROUP + 1);
}

/* Root qdisc kinds the kernel puts there by itself: replacing them takes nothing from anyone. */
static bool is_default_kind(const char *kind)
{
	static const char *const kinds[] = { "pfifo_fast", "fq_codel", "fq", "mq", "noqueue",
					     "pfifo", "noop", NULL };

	for (int i = 0; kind && kinds[i]; i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

/* What is on the device now. */
struct state {
	char kind[32];			/* the root qdisc's ("" when none is listed) */
	uint32_t handle;
	bool child[NGROUPS];		/* group g's child HTB qdisc is there */
};

static int read_qdiscs(struct nls *s, int ifindex, struct state *st, struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = sym_rtnl_qdisc_alloc_cache(s->sk, &cache);
	if (ret < 0)
		return verr_set(err, nls_errno(s, ret), "cannot list qdiscs: %s",
				nls_strerror(s, ret));
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		struct rtnl_tc *tc = (struct rtnl_tc *)o;
		uint32_t parent = sym_rtnl_tc_get_parent(tc), handle = sym_rtnl_tc_get_handle(tc);
		const char *kind = sym_rtnl_tc_get_kind(tc) ?: "";
		int g;

		if (sym_rtnl_tc_get_ifindex(tc) != ifindex)
			continue;
		if (parent == TC_H_ROOT) {
			snprintf(st->kind, sizeof(st->kind), "%s", kind);
			st->handle = handle;
		} else if ((g = group_of(handle >> 16)) >= 0 && !strcmp(kind, "htb") &&
			   parent == (ROOT_HANDLE | group_major((unsigned)g))) {
			st->child[g] = true;
		}
	}
	sym_nl_cache_free(cache);
	return 0;
}

/* Whether visp's classifier is on its root qdisc (a qdisc of older visps has none). */
static int has_filter(struct nls *s, int ifindex, bool *yes, struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	int ret;

	*yes = false;
	ret = sym_rtnl_cls_alloc_cache(s->sk, ifindex, ROOT_HANDLE, &cache);
	if (ret < 0)
		return verr_set(err, nls_errno(s, ret), "cannot list the filters of visp's qdisc: "
				"%s", nls_strerror(s, ret));
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o))
		if (!strcmp(sym_rtnl_tc_get_kind((struct rtnl_tc *)o) ?: "", "bpf"))
			*yes = true;
	sym_nl_cache_free(cache);
	return 0;
}

static int del_qdisc(struct nls *s, int ifindex, const char *ifname, struct verr *err)
{
	struct rtnl_qdisc *q = sym_rtnl_qdisc_alloc();
	int ret;

	if (!q)
		return verr_set(err, -ENOMEM, "out of memory");
	sym_rtnl_tc_set_ifindex((struct rtnl_tc *)q, ifindex);
	sym_rtnl_tc_set_parent((struct rtnl_tc *)q, TC_H_ROOT);
	sym_rtnl_tc_set_handle((struct rtnl_tc *)q, ROOT_HANDLE);
	s->kerr = 0;
	ret = sym_rtnl_qdisc_delete(s->sk, q);
	if (ret < 0)
		ret = verr_set(err, nls_errno(s, ret), "cannot remove visp's qdisc from %s: %s",
			       ifname, nls_strerror(s, ret));
	sym_rtnl_qdisc_put(q);
	return ret;
}

/* The error of adding what (a qdisc, a filter) to ifname, from libnl's ret. */
static int add_failed(struct nls *s, int ret, const char *module, const char *what,
		      const char *ifname, struct verr *err)
{
	ret = nls_errno(s, ret);
	/*
	 * "Unknown qdisc" and "TC classifier not found" are ENOENT; libnl itself
	 * has no "htb" module without sch_htb either.
	 */
	if (ret == -ENOENT || ret == -EOPNOTSUPP)
		return verr_set(err, -EOPNOTSUPP, "the kernel has no %s: rate limits cannot be "
				"applied on %s", module, ifname);
	return verr_set(err, ret, "cannot add %s to %s: %s", what, ifname,
			nls_strerror(s, -ret));
}

/* An HTB qdisc whose unclassified packets take its direct queue (default 0). */
static struct rtnl_qdisc *htb_qdisc(int ifindex, uint32_t parent, uint32_t handle)
{
	struct rtnl_qdisc *q = sym_rtnl_qdisc_alloc();

	if (!q)
		return NULL;
	sym_rtnl_tc_set_ifindex((struct rtnl_tc *)q, ifindex);
	sym_rtnl_tc_set_parent((struct rtnl_tc *)q, parent);
	sym_rtnl_tc_set_handle((struct rtnl_tc *)q, handle);
	if (sym_rtnl_tc_set_kind((struct rtnl_tc *)q, "htb") < 0 ||
	    sym_rtnl_htb_set_defcls(q, 0) < 0) {
		sym_rtnl_qdisc_put(q);
		q = NULL;
	}
	return q;
}

static int put_qdisc(struct nls *s, int ifindex, const char *ifname, struct verr *err)
{
	struct rtnl_qdisc *q = htb_qdisc(ifindex, TC_H_ROOT, ROOT_HANDLE);
	int ret;

	if (!q)
		return verr_set(err, -ENOMEM, "out of memory");
	s->kerr = 0;
	ret = sym_rtnl_qdisc_add(s->sk, q, NLM_F_CREATE | NLM_F_REPLACE);
	if (ret < 0)
		ret = add_failed(s, ret, "HTB qdisc (sch_htb)", "an HTB qdisc", ifname, err);
	sym_rtnl_qdisc_put(q);
	return ret;
}

/*
 * The root's classifier (cls_bpf, no direct action: the program's result
 * is the class): a priority whose major M is not 0 gives the root's class
 * SHAPER_MAJOR:M, the group whose child qdisc has major M; 0 means no
 * class, and the packet takes the direct queue. No priority names one of
 * the root's own classes, so every packet is asked: an unlimited lease's or
 * the host's (priority 0 to 6) gets its 0 after three instructions.
 */
static int root_prog(struct verr *err)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1,
		  .off = offsetof(struct __sk_buff, priority) },
		{ .code = BPF_ALU | BPF_RSH | BPF_K, .dst_reg = BPF_REG_0, .imm = 16 },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_0, .off = 1, .imm = 0 },
		{ .code = BPF_ALU | BPF_OR | BPF_K, .dst_reg = BPF_REG_0, .imm = ROOT_HANDLE },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SCHED_CLS;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uintptr_t)"GPL";
	fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	if (fd < 0)
		return verr_set(err, -errno, "cannot load visp's classifier program (bpf): %s",
				strerror(errno));
	return fd;
}

/* libnl has no cls_bpf: the request is put together with its message functions. */
static int filter_msg(int ifindex, int fd, struct nl_msg **out)
{
	struct tcmsg t = { .tcm_family = AF_UNSPEC, .tcm_ifindex = ifindex,
			   .tcm_parent = ROOT_HANDLE, .tcm_handle = 1,
			   .tcm_info = TC_H_MAKE(FILTER_PRIO << 16, htons(ETH_P_ALL)) };
	struct nl_msg *msg = sym_nlmsg_alloc_simple(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL);
	struct nlattr *opts;
	uint32_t ufd = (uint32_t)fd;
	int ret = -ENOMEM;

	*out = NULL;
	if (!msg || sym_nlmsg_append(msg, &t, sizeof(t), NLMSG_ALIGNTO) < 0 ||
	    sym_nla_put_string(msg, TCA_KIND, "bpf") < 0 ||
	    !(opts = sym_nla_nest_start(msg, TCA_OPTIONS)) ||
	    sym_nla_put(msg, TCA_BPF_FD, sizeof(ufd), &ufd) < 0 ||
	    sym_nla_put_string(msg, TCA_BPF_NAME, FILTER_NAME) < 0 ||
	    sym_nla_nest_end(msg, opts) < 0)
		goto out;
	*out = msg;
	msg = NULL;
	ret = 0;
out:
	if (msg)
		sym_nlmsg_free(msg);
	return ret;
}

static int put_filter(struct nls *s, int ifindex, const char *ifname, struct verr *err)
{
	struct nl_msg *msg = NULL;
	int fd, ret;

	fd = root_prog(err);
	if (fd < 0)
		return fd;
	ret = filter_msg(ifindex, fd, &msg);
	if (ret < 0) {
		ret = verr_set(err, ret, "out of memory");
		goto out;
	}
	s->kerr = 0;
	ret = sym_nl_send_auto(s->sk, msg);
	if (ret >= 0)
		ret = sym_nl_wait_for_ack(s->sk);
	if (ret < 0)
		ret = add_failed(s, ret, "BPF classifier (cls_bpf)", "visp's classifier", ifname,
				 err);
out:
	if (msg)
		sym_nlmsg_free(msg);
	close(fd);
	return ret;
}

/* HTB's quantum (bytes a class sends per round) from its rate: a tenth of a second, clamped. */
static uint32_t quantum_of(uint64_t bps)
{
	uint64_t q = bps / 80;

	return q < 1600 ? 1600 : q > 200000 ? 200000 : (uint32_t)q;
}

/*
 * A change: a class added or replaced (rate > 0) or deleted (rate 0), a
 * group's child qdisc added. Deleting a group's class in the root takes
 * its child and the child's classes with it.
 */
struct op {
	int ifindex;
	bool qdisc;
	uint32_t parent, handle;
	uint64_t rate;
};

static int class_msg(const struct op *op, struct nl_msg **msg)
{
	struct rtnl_class *cl = sym_rtnl_class_alloc();
	int ret;

	if (!cl)
		return -ENOMEM;
	sym_rtnl_tc_set_ifindex((struct rtnl_tc *)cl, op->ifindex);
	sym_rtnl_tc_set_parent((struct rtnl_tc *)cl, op->parent);
	sym_rtnl_tc_set_handle((struct rtnl_tc *)cl, op->handle);
	ret = sym_rtnl_tc_set_kind((struct rtnl_tc *)cl, "htb");
	if (ret == 0 && !op->rate) {
		ret = sym_rtnl_class_build_delete_request(cl, msg);
		goto out;
	}
	/* libnl takes bytes per second. */
	if (ret == 0)
		ret = sym_rtnl_htb_set_rate64(cl, op->rate / 8);
	if (ret == 0)
		ret = sym_rtnl_htb_set_ceil64(cl, op->rate / 8);
	if (ret == 0)
		ret = sym_rtnl_htb_set_quantum(cl, quantum_of(op->rate));
	if (ret == 0 && op->rate == GROUP_RATE)
		ret = sym_rtnl_htb_set_rbuffer(cl, GROUP_BURST);
	if (ret == 0 && op->rate == GROUP_RATE)
		ret = sym_rtnl_htb_set_cbuffer(cl, GROUP_BURST);
	if (ret == 0)
		ret = sym_rtnl_class_build_add_request(cl, NLM_F_CREATE | NLM_F_REPLACE, msg);
out:
	sym_rtnl_class_put(cl);
	return ret < 0 ? -ENOMEM : 0;
}

static int op_msg(size_t i, struct nl_msg **msg, void *arg)
{
	const struct op *op = (const struct op *)arg + i;
	struct rtnl_qdisc *q;
	int ret;

	if (!op->qdisc)
		return class_msg(op, msg);
	q = htb_qdisc(op->ifindex, op->parent, op->handle);
	if (!q)
		return -ENOMEM;
	ret = sym_rtnl_qdisc_build_add_request(q, NLM_F_CREATE | NLM_F_EXCL, msg);
	sym_rtnl_qdisc_put(q);
	return ret < 0 ? -ENOMEM : 0;
}

static int cmp_minor(const void *a, const void *b)
{
	const struct shaper_class *x = a, *y = b;

	return (int)x->minor - (int)y->minor;
}

/* What the wanted classes make of the groups: which are needed at all. */
static void wanted_groups(const struct shaper_class *want, size_t n, bool *need)
{
	memset(need, 0, NGROUPS * sizeof(*need));
	for (size_t i = 0; i < n; i++)
		need[(want[i].minor - 1u) / GROUP] = true;
}

/*
 * The changes that make the device's classes exactly want (sorted by
 * minor): deletes of unwanted groups and classes first, then the missing
 * groups (their class in the root, then their child), then adds and
 * in-place changes of the classes missing or at another rate.
 */
static int plan(struct nls *s, int ifindex, const char *ifname, const struct state *st,
		const struct shaper_class *want, size_t n, struct op **ops, size_t *nops,
		struct verr *err)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	bool *have = calloc(n ? n : 1, sizeof(*have)), need[NGROUPS], keep[NGROUPS] = { 0 };
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
	wanted_groups(want, n, need);
	cap = n + 2 * NGROUPS;
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o))
		cap++;
	v = calloc(cap, sizeof(*v));
	if (!v) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * The root's classes first (the dump has every qdisc's, each a root
	 * class of its own qdisc: told apart by the major of their handle). A
	 * group kept is one wanted whose child is there.
	 */
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		uint32_t h = sym_rtnl_tc_get_handle((struct rtnl_tc *)o);
		int g = group_of(h & 0xffff);

		if (h >> 16 != SHAPER_MAJOR)
			continue;
		if (g >= 0 && need[g] && st->child[g])
			keep[g] = true;
		else
			v[nv++] = (struct op){ .ifindex = ifindex, .parent = ROOT_HANDLE,
					       .handle = h };
	}
	for (o = sym_nl_cache_get_first(cache); o; o = sym_nl_cache_get_next(o)) {
		struct rtnl_tc *tc = (struct rtnl_tc *)o;
		uint32_t h = sym_rtnl_tc_get_handle(tc), leaf = h & 0xffff;
		int g = group_of(h >> 16);
		struct shaper_class key = { 0 }, *w;
		uint64_t rate = 0;

		/* Classes of groups going away go with them. */
		if (g < 0 || !keep[g] || !leaf || leaf > GROUP)
			continue;
		key.minor = (uint16_t)((unsigned)g * GROUP + leaf);
		w = bsearch(&key, want, n, sizeof(*want), cmp_minor);
		sym_rtnl_htb_get_rate64((struct rtnl_class *)tc, &rate);
		if (w && rate == w->rate / 8)
			have[w - want] = true;
		else if (!w)
			v[nv++] = (struct op){ .ifindex = ifindex, .parent = h & 0xffff0000u,
					       .handle = h };
	}
	for (unsigned g = 0; g < NGROUPS; g++) {
		uint32_t m = group_major(g);

		if (!need[g] || keep[g])
			continue;
		v[nv++] = (struct op){ .ifindex = ifindex, .parent = ROOT_HANDLE,
				       .handle = ROOT_HANDLE | m, .rate = GROUP_RATE };
		v[nv++] = (struct op){ .ifindex = ifindex, .qdisc = true,
				       .parent = ROOT_HANDLE | m, .handle = m << 16 };
	}
	for (size_t i = 0; i < n; i++)
		if (!have[i])
			v[nv++] = (struct op){ .ifindex = ifindex,
					       .parent = shaper_classid(want[i].minor) & 0xffff0000u,
					       .handle = shaper_classid(want[i].minor),
					       .rate = want[i].rate };
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
	ret = nls_batch(s, n, op_msg, ops, errs, err);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (errs[i])
			ret = verr_set(err, errs[i], "cannot %s HTB %s %x:%x on %s: %s",
				       ops[i].qdisc ? "add" : ops[i].rate ? "set" : "delete",
				       ops[i].qdisc ? "qdisc" : "class", ops[i].handle >> 16,
				       ops[i].handle & 0xffff, ifname, strerror(-errs[i]));
	free(errs);
	return ret;
}

/*
 * Make the root qdisc visp's, with its classifier: a default one is
 * replaced, one of an older visp (classes in the root, no classifier)
 * removed and made again, another is the operator's.
 */
static int own_root(struct nls *s, int ifindex, const char *ifname, struct state *st,
		    struct verr *err)
{
	bool ours = !strcmp(st->kind, "htb") && st->handle == ROOT_HANDLE, filtered = false;
	int ret;

	if (!ours && st->kind[0] && !is_default_kind(st->kind))
		return verr_set(err, -EEXIST, "%s has a root qdisc (%s %x:) that is not visp's: "
				"rate limits are not applied there", ifname, st->kind,
				st->handle >> 16);
	ret = ours ? has_filter(s, ifindex, &filtered, err) : 0;
	if (ret < 0 || filtered)
		return ret;
	if (ours)
		ret = del_qdisc(s, ifindex, ifname, err);
	if (ret == 0)
		ret = put_qdisc(s, ifindex, ifname, err);
	if (ret == 0) {
		ret = put_filter(s, ifindex, ifname, err);
		/* Without it nothing would be shaped: the kernel's default qdisc is better. */
		if (ret < 0) {
			struct verr ignored = { 0 };

			del_qdisc(s, ifindex, ifname, &ignored);
		}
	}
	if (ret == 0)
		memset(st->child, 0, sizeof(st->child));
	return ret;
}

int shaper_apply(const char *ifname, const struct shaper_class *v, size_t n, struct verr *err)
{
	struct shaper_class *want = NULL;
	struct state *st = NULL;
	struct nls s = { 0 };
	struct op *ops = NULL;
	size_t nops = 0;
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
	st = malloc(sizeof(*st));
	if (!want || !st) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (n) {
		memcpy(want, v, n * sizeof(*want));
		qsort(want, n, sizeof(*want), cmp_minor);
	}
	ret = read_qdiscs(&s, ifindex, st, err);
	if (ret == 0)
		ret = own_root(&s, ifindex, ifname, st, err);
	if (ret == 0)
		ret = plan(&s, ifindex, ifname, st, want, n, &ops, &nops, err);
	if (ret == 0)
		ret = apply_ops(&s, ifname, ops, nops, err);
out:
	free(want);
	free(st);
	free(ops);
	nls_close(&s);
	return ret;
}

int shaper_remove(const char *ifname, struct verr *err)
{
	struct nls s = { 0 };
	struct state st;
	int ifindex, ret;

	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return 0;	/* gone with its interface (cjdroute stopped) */
	ret = tc_load(err);
	if (ret == 0)
		ret = nls_open(&s, err);
	if (ret < 0)
		return ret;
	ret = read_qdiscs(&s, ifindex, &st, err);
	if (ret == 0 && !strcmp(st.kind, "htb") && st.handle == ROOT_HANDLE)
		ret = del_qdisc(&s, ifindex, ifname, err);
	nls_close(&s);
	return ret;
}
