/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_PROBE_H
#define VISP_PROBE_H

#include "cidr.h"
#include "err.h"

/*
 * What proves a tunnel works: an ICMP echo through the tun device to an
 * address behind it (by default the gateway's own tun address). A few
 * requests are sent within timeout_ms; the first matching reply wins.
 *
 * ifname: the device to send through (SO_BINDTODEVICE), or NULL for the
 * routing table's choice. 0 on a reply, -ETIMEDOUT when none came, -EPERM
 * when neither a raw nor an unprivileged ping socket is allowed, other
 * -errno from the socket calls; err says which.
 */
#define PROBE_DEFAULT_TIMEOUT_MS 2500
#define PROBE_DEFAULT_TRIES 5

int probe_icmp(const char *ifname, const struct cidr *target, int timeout_ms, int tries,
	       struct verr *err);

/*
 * The same for a TCP service: a completed handshake or a refusal (RST) within
 * timeout_ms counts as an answer; a fresh connection is tried every
 * timeout_ms / tries.
 */
int probe_tcp(const char *ifname, const struct cidr *target, int port, int timeout_ms, int tries,
	      struct verr *err);

#endif
