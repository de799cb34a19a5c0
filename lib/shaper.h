/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_SHAPER_H
#define VISP_SHAPER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * visp's HTB root qdisc on an interface (libnl-route-3), handle
 * SHAPER_MAJOR:, and one HTB class per limited lease, in child HTB qdiscs
 * of 128 classes each (shaper.c says why). No filter per lease: packets
 * carry their lease's class in skb->priority (usage.h), the root reaches
 * the child through one BPF classifier that reads it, and anything else
 * takes the root's direct queue, unshaped (default class 0).
 */
#define SHAPER_MAJOR 0x7650u	/* "vP" */
#define SHAPER_MINOR_MAX 0xfffeu	/* limited leases at most */

struct shaper_class {
	uint16_t minor;		/* the lease's number: 1 to SHAPER_MINOR_MAX */
	uint64_t rate;		/* bit/s: rate and ceiling both */
};

/*
 * Make ifname's root qdisc visp's HTB, replacing only the kernel's defaults
 * (pfifo_fast, fq_codel, fq, mq, noqueue, pfifo): another root qdisc is the
 * operator's (-EEXIST, named). Then its classes become exactly v (added,
 * changed in place, deleted). -EOPNOTSUPP when the kernel has no HTB or no
 * BPF classifier.
 */
int shaper_apply(const char *ifname, const struct shaper_class *v, size_t n, struct verr *err);
/* The class (major:minor, for skb->priority) of the lease numbered minor. */
uint32_t shaper_classid(uint16_t minor);
/* Remove visp's root qdisc from ifname, if there: the kernel's default comes back. */
int shaper_remove(const char *ifname, struct verr *err);

#endif
