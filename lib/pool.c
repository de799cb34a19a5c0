// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

/* Offsets past 2^32 are never needed, however large an IPv6 pool is. */
#define POOL_MAX_OFFSET 0xffffffffULL
#define POOL_FIRST 2		/* 0: network, 1: the gateway */

struct family_pool {
	bool set;
	struct cidr net;
	char name[CIDR_STRLEN];
	uint64_t first, last;
};

struct pool {
	struct family_pool v4, v6;
	long max_leases;
};

/* Space a pool must not touch: it is not unicast, or it is cjdns's own. */
static const struct {
	const char *net;
	const char *why;
} unusable[] = {
	{ "0.0.0.0/8", "\"this network\"" },
	{ "127.0.0.0/8", "loopback" },
	{ "169.254.0.0/16", "link-local" },
	{ "224.0.0.0/3", "multicast and reserved space" },
	{ "::/8", "reserved space (loopback, IPv4-mapped)" },
	{ "fc00::/8", "cjdns's own address space" },
	{ "fe80::/10", "link-local" },
	{ "ff00::/8", "multicast" },
};

static const struct family_pool *cfam(const struct pool *p, int family)
{
	return family == AF_INET ? &p->v4 : family == AF_INET6 ? &p->v6 : NULL;
}

static int parse_one(struct family_pool *fp, const char *s, int family, const char *what,
		     struct verr *err)
{
	uint64_t size;
	struct cidr bad;
	int ret;

	ret = cidr_parse_network(s, &fp->net, err);
	if (ret < 0) {
		verr_wrap(err, "%s", what);
		goto out;
	}
	ret = -EINVAL;
	if (fp->net.family != family) {
		verr_set(err, ret, "%s '%s' is not an %s network", what, s,
			 family == AF_INET ? "IPv4" : "IPv6");
		goto out;
	}
	for (size_t i = 0; i < sizeof(unusable) / sizeof(unusable[0]); i++) {
		cidr_parse_network(unusable[i].net, &bad, NULL);
		if (cidr_overlap(&fp->net, &bad)) {
			verr_set(err, ret, "%s '%s' overlaps %s, %s", what, s, unusable[i].net,
				 unusable[i].why);
			goto out;
		}
	}
	size = cidr_size(&fp->net);
	fp->first = POOL_FIRST;
	/* IPv4 keeps its broadcast address out; IPv6 has none. */
	fp->last = family == AF_INET ? size - 2 : size - 1;
	if (fp->last > POOL_MAX_OFFSET)
		fp->last = POOL_MAX_OFFSET;
	if (size < 4 || fp->last < fp->first) {
		verr_set(err, ret, "%s '%s' is too small: it needs at least one address besides "
			 "the network, the gateway%s (a /%d at most)", what, s,
			 family == AF_INET ? " and the broadcast address" : "",
			 family == AF_INET ? 30 : 126);
		goto out;
	}
	cidr_format(&fp->net, true, fp->name, sizeof(fp->name));
	fp->set = true;
	ret = 0;
out:
	return ret;
}

int pool_new(struct pool **out, const char *ipv4_pool, const char *ipv6_pool, long max_leases,
	     struct verr *err)
{
	struct pool *p = NULL;
	int ret = -EINVAL;

	*out = NULL;
	if ((!ipv4_pool || !*ipv4_pool) && (!ipv6_pool || !*ipv6_pool)) {
		verr_set(err, ret, "neither ipv4_pool nor ipv6_pool is set");
		goto out;
	}
	if (max_leases < 0) {
		verr_set(err, ret, "max_leases %ld is negative", max_leases);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	p->max_leases = max_leases;
	if (ipv4_pool && *ipv4_pool) {
		ret = parse_one(&p->v4, ipv4_pool, AF_INET, "ipv4_pool", err);
		if (ret < 0)
			goto out;
	}
	if (ipv6_pool && *ipv6_pool) {
		ret = parse_one(&p->v6, ipv6_pool, AF_INET6, "ipv6_pool", err);
		if (ret < 0)
			goto out;
	}
	*out = p;
	p = NULL;
	ret = 0;
out:
	free(p);
	return ret;
}

void pool_free(struct pool *p)
{
	free(p);
}

const struct cidr *pool_net(const struct pool *p, int family)
{
	const struct family_pool *fp = cfam(p, family);

	return fp && fp->set ? &fp->net : NULL;
}

const char *pool_name(const struct pool *p, int family)
{
	const struct family_pool *fp = cfam(p, family);

	return fp && fp->set ? fp->name : "";
}

long pool_max_leases(const struct pool *p)
{
	return p->max_leases;
}

bool pool_range(const struct pool *p, int family, uint64_t *first, uint64_t *last)
{
	const struct family_pool *fp = cfam(p, family);

	if (!fp || !fp->set)
		return false;
	*first = fp->first;
	*last = fp->last;
	return true;
}

uint64_t pool_capacity(const struct pool *p)
{
	uint64_t cap = UINT64_MAX;

	if (p->v4.set)
		cap = p->v4.last - p->v4.first + 1;
	if (p->v6.set && p->v6.last - p->v6.first + 1 < cap)
		cap = p->v6.last - p->v6.first + 1;
	if (p->max_leases > 0 && (uint64_t)p->max_leases < cap)
		cap = (uint64_t)p->max_leases;
	return cap;
}

int pool_gateway_addr(const struct pool *p, int family, struct cidr *out)
{
	const struct family_pool *fp = cfam(p, family);
	int ret = -ENOENT;

	if (!fp || !fp->set)
		goto out;
	ret = cidr_host(&fp->net, 1, out);
	if (ret < 0)
		goto out;
	out->prefix = fp->net.prefix;
out:
	return ret;
}

int pool_addr(const struct pool *p, int family, uint64_t off, struct cidr *out)
{
	const struct family_pool *fp = cfam(p, family);
	int ret = -ERANGE;

	if (!fp || !fp->set || off < fp->first || off > fp->last)
		goto out;
	ret = cidr_host(&fp->net, off, out);
	if (ret < 0)
		goto out;
	out->prefix = fp->net.prefix;
out:
	return ret;
}

int pool_offset(const struct pool *p, const struct cidr *addr, uint64_t *off, struct verr *err)
{
	const struct family_pool *fp = cfam(p, addr->family);
	char a[CIDR_STRLEN];
	struct cidr host;
	uint64_t n = UINT64_MAX;
	int ret = -EINVAL;

	cidr_format(addr, false, a, sizeof(a));
	if (!fp || !fp->set) {
		verr_set(err, ret, "%s: no %s pool is configured", a,
			 addr->family == AF_INET ? "IPv4" : "IPv6");
		goto out;
	}
	host = *addr;
	host.prefix = cidr_bits(addr);
	if (!cidr_contains(&fp->net, &host)) {
		verr_set(err, ret, "%s is not in pool %s", a, fp->name);
		goto out;
	}
	if (cidr_offset(&fp->net, &host, &n) < 0 || n < fp->first || n > fp->last) {
		verr_set(err, ret, "%s is %s of pool %s, not a leasable address", a,
			 n == 0 ? "the network address" : n == 1 ? "the gateway's address" :
			 addr->family == AF_INET ? "the broadcast address" :
			 "past the first 2^32 addresses", fp->name);
		goto out;
	}
	*off = n;
	ret = 0;
out:
	return ret;
}
