/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_PROBE_H
#define VISP_PROBE_H

#include "cidr.h"
#include "err.h"

/*
 * What proves a tunnel works: an answer through the tun device from an
 * address behind it (by default the gateway's own tun address), to an ICMP
 * echo or a TCP connection.
 *
 * ifname: the device to send through (SO_BINDTODEVICE), or NULL for the
 * routing table's choice. -EPERM when neither a raw nor an unprivileged
 * ping socket is allowed, other -errno from the socket calls; err says which.
 */
#define PROBE_DEFAULT_TIMEOUT_MS 2500
#define PROBE_DEFAULT_TRIES 5
/*
 * The check of a tunnel that worked before: a train of PROBE_DEFAULT_TRIES
 * requests 200 ms apart, given up after a second. One lost packet (or
 * four) does not fail it; a dead gateway is known in a second rather than
 * 2.5. A fresh tunnel keeps the longer patience: cjdns may still be setting
 * up its session with the gateway when the first request goes out.
 */
#define PROBE_CHECK_TIMEOUT_MS 1000

/*
 * Several targets at once (ICMP echo, or a TCP connection when port is
 * set): 0 as soon as any answers (*which: its index), -ETIMEDOUT when none
 * did within timeout_ms. A TCP handshake and a refusal (RST) both answer:
 * either came back through the tunnel. Each target gets a fresh request
 * every timeout_ms / tries, so the cost of a healthy check is one round
 * trip, and of a dead tunnel one timeout, however long the list.
 */
#define PROBE_MAX_TARGETS 8	/* CONFIG_MAX_PROBES */
struct probe_target {
	struct cidr addr;
	int port;		/* 0: ICMP echo */
};
int probe_any(const char *ifname, const struct probe_target *t, size_t n, int timeout_ms,
	      int tries, int *which, struct verr *err);

#endif
