// SPDX-License-Identifier: GPL-3.0-or-later
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"

int cidr_bits(const struct cidr *c)
{
	return c->family == AF_INET ? 32 : 128;
}

int cidr_parse_addr(const char *s, int family, struct cidr *out, struct verr *err)
{
	memset(out, 0, sizeof(*out));
	if ((family == AF_UNSPEC || family == AF_INET) &&
	    inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
		return 0;
	}
	if ((family == AF_UNSPEC || family == AF_INET6) &&
	    inet_pton(AF_INET6, s, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
		return 0;
	}
	return verr_set(err, -EINVAL, "'%s' is not an %saddress", s,
			family == AF_INET ? "IPv4 " : family == AF_INET6 ? "IPv6 " : "IP ");
}

int cidr_parse(const char *s, struct cidr *out, struct verr *err)
{
	char buf[CIDR_STRLEN];
	const char *slash = strchr(s, '/');
	char *end = NULL;
	long plen;
	int ret;

	if (strlen(s) >= sizeof(buf))
		return verr_set(err, -EINVAL, "'%.32s...' is too long for an address", s);
	if (!slash)
		return cidr_parse_addr(s, AF_UNSPEC, out, err);
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	ret = cidr_parse_addr(buf, AF_UNSPEC, out, NULL);
	if (ret < 0)
		return verr_set(err, -EINVAL, "'%s' is not an address/prefix", s);
	errno = 0;
	plen = strtol(slash + 1, &end, 10);
	/* strtol would take " 8" and "+8": only digits are a prefix length. */
	if (errno || !isdigit((unsigned char)slash[1]) || *end || plen > cidr_bits(out) ||
	    (slash[1] == '0' && slash[2]))
		return verr_set(err, -EINVAL, "'%s' has a bad prefix length", s);
	out->prefix = (int)plen;
	return 0;
}

/* Host bits all zero. */
static bool cidr_is_network(const struct cidr *c)
{
	int bits = cidr_bits(c);

	for (int i = c->prefix; i < bits; i++)
		if (c->addr[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

int cidr_parse_network(const char *s, struct cidr *out, struct verr *err)
{
	int ret = cidr_parse(s, out, err);

	if (ret < 0)
		return ret;
	if (!cidr_is_network(out))
		return verr_set(err, -EINVAL, "'%s' is not a network (host bits are set)", s);
	return 0;
}

/* Is bit i (0 = most significant of the first byte) within the prefix? */
static bool bits_equal(const uint8_t *a, const uint8_t *b, int nbits)
{
	int full = nbits / 8, rest = nbits % 8;

	if (memcmp(a, b, full))
		return false;
	if (!rest)
		return true;
	return ((a[full] ^ b[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

bool cidr_contains(const struct cidr *net, const struct cidr *addr)
{
	return net->family == addr->family && addr->prefix >= net->prefix &&
	       bits_equal(net->addr, addr->addr, net->prefix);
}

bool cidr_overlap(const struct cidr *a, const struct cidr *b)
{
	int p = a->prefix < b->prefix ? a->prefix : b->prefix;

	return a->family == b->family && bits_equal(a->addr, b->addr, p);
}

bool cidr_equal(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix &&
	       !memcmp(a->addr, b->addr, cidr_bits(a) / 8);
}

bool cidr_is_cjdns(const struct cidr *c)
{
	return c->family == AF_INET6 && c->addr[0] == 0xfc;
}

bool cidr_is_ula(const struct cidr *c)
{
	return c->family == AF_INET6 && (c->addr[0] & 0xfe) == 0xfc;
}

uint64_t cidr_size(const struct cidr *net)
{
	int host = cidr_bits(net) - net->prefix;

	return host >= 64 ? UINT64_MAX : (uint64_t)1 << host;
}

/* The low 64 bits of the address as a number (all of it for IPv4). */
static uint64_t low64(const struct cidr *c)
{
	int len = cidr_bits(c) / 8, start = len > 8 ? len - 8 : 0;
	uint64_t v = 0;

	for (int i = start; i < len; i++)
		v = v << 8 | c->addr[i];
	return v;
}

static void set_low64(struct cidr *c, uint64_t v)
{
	int len = cidr_bits(c) / 8, start = len > 8 ? len - 8 : 0;

	for (int i = len - 1; i >= start; i--, v >>= 8)
		c->addr[i] = v & 0xff;
}

/* The network itself: host bits cleared (so "10.0.0.5/24" counts from 10.0.0.0). */
static void network_of(const struct cidr *c, struct cidr *out)
{
	*out = *c;
	for (int i = c->prefix; i < cidr_bits(c); i++)
		out->addr[i / 8] &= ~(0x80 >> (i % 8));
}

int cidr_host(const struct cidr *net, uint64_t n, struct cidr *out)
{
	uint64_t base;

	if (n >= cidr_size(net) && cidr_size(net) != UINT64_MAX)
		return -ERANGE;
	network_of(net, out);
	base = low64(out);
	out->prefix = cidr_bits(net);
	if (n > UINT64_MAX - base)
		return -ERANGE;
	set_low64(out, base + n);
	return 0;
}

int cidr_offset(const struct cidr *cnet, const struct cidr *addr, uint64_t *n)
{
	struct cidr a = *addr, netbuf, *net = &netbuf;

	network_of(cnet, net);
	a.prefix = cidr_bits(addr);
	if (!cidr_contains(net, &a))
		return -ERANGE;
	if (cidr_bits(net) - net->prefix > 64)
		/* Only the low 64 bits can differ in what visp allocates. */
		if (!bits_equal(net->addr, a.addr, cidr_bits(net) - 64))
			return -ERANGE;
	*n = low64(&a) - low64(net);
	return 0;
}

const char *cidr_format(const struct cidr *c, bool with_prefix, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	/* A zeroed struct cidr (no address) prints as nothing, never as garbage. */
	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    !inet_ntop(c->family, c->addr, a, sizeof(a))) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	if (with_prefix)
		snprintf(buf, len, "%s/%d", a, c->prefix);
	else
		snprintf(buf, len, "%s", a);
	return buf;
}
