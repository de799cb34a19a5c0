/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CIDR_H
#define VISP_CIDR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "err.h"

/* An IPv4 or IPv6 address with a prefix length; addr holds 4 or 16 bytes. */
struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	int prefix;
};

#define CIDR_STRLEN 64

/* "a.b.c.d/n", "x::y/n", or a bare address (prefix = full length). */
int cidr_parse(const char *s, struct cidr *out, struct verr *err);
/* Like cidr_parse, but host bits must be zero: "172.23.23.0/24" yes, ".1/24" no. */
int cidr_parse_network(const char *s, struct cidr *out, struct verr *err);
/* A bare address only (no "/"), of the given family (AF_UNSPEC: either). */
int cidr_parse_addr(const char *s, int family, struct cidr *out, struct verr *err);

int cidr_bits(const struct cidr *c);		/* 32 or 128 */
bool cidr_contains(const struct cidr *net, const struct cidr *addr);
bool cidr_overlap(const struct cidr *a, const struct cidr *b);
bool cidr_equal(const struct cidr *a, const struct cidr *b);
/* fc00::/8 (cjdns) and fc00::/7 (ULA, which includes it). */
bool cidr_is_cjdns(const struct cidr *c);
bool cidr_is_ula(const struct cidr *c);

/* The address n hosts into the network (n = 1: the first host). -ERANGE if outside. */
int cidr_host(const struct cidr *net, uint64_t n, struct cidr *out);
/* Offset of addr inside net (inverse of cidr_host); -ERANGE if not inside or too far. */
int cidr_offset(const struct cidr *net, const struct cidr *addr, uint64_t *n);
/* Number of addresses in the network, saturated at UINT64_MAX. */
uint64_t cidr_size(const struct cidr *net);

/* "addr/prefix", or just "addr" when with_prefix is false. */
const char *cidr_format(const struct cidr *c, bool with_prefix, char *buf, size_t len);

#endif
