/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_POOL_H
#define VISP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "err.h"

/*
 * A gateway's address pools (ipv4_pool, ipv6_pool, max_leases), validated.
 * Addresses are numbered by their offset in the pool (cidr_host): offset 0
 * is the network and is never leased, offset 1 is the gateway's own address,
 * and in an IPv4 pool the last (broadcast) address is not leased either.
 * An IPv6 pool leases single addresses, at most 2^32 of them whatever its
 * size; clients get the address with the pool's prefix length.
 */
struct pool;

/*
 * ipv4_pool, ipv6_pool: "172.23.23.0/24", "fd00:1::/64"; NULL or "" when not
 * set, but at least one must be. max_leases: 0 = only the pools' sizes limit.
 * -EINVAL with a message naming the bad value.
 */
int pool_new(struct pool **out, const char *ipv4_pool, const char *ipv6_pool, long max_leases,
	     struct verr *err);
void pool_free(struct pool *p);

/* The network of family's pool (AF_INET, AF_INET6); NULL when not set. */
const struct cidr *pool_net(const struct pool *p, int family);
/* "172.23.23.0/24", for messages; "" when not set. */
const char *pool_name(const struct pool *p, int family);
long pool_max_leases(const struct pool *p);
/* Leasable offsets are first..last (inclusive); false when family's pool is not set. */
bool pool_range(const struct pool *p, int family, uint64_t *first, uint64_t *last);
/* How many leases fit: the smallest configured pool's leasable count, or max_leases. */
uint64_t pool_capacity(const struct pool *p);

/* The gateway's own address (offset 1) with the pool's prefix length; -ENOENT if no pool. */
int pool_gateway_addr(const struct pool *p, int family, struct cidr *out);
/* The address at offset off, with the pool's prefix length; -ERANGE if not leasable. */
int pool_addr(const struct pool *p, int family, uint64_t off, struct cidr *out);
/*
 * The offset of a leasable address (its prefix length is ignored). -EINVAL,
 * with a message, when there is no pool of its family, it is outside the pool,
 * or it is the network, the gateway or the broadcast address.
 */
int pool_offset(const struct pool *p, const struct cidr *addr, uint64_t *off, struct verr *err);

#endif
