/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_SYSCTL_H
#define VISP_SYSCTL_H

#include <stddef.h>

#include "err.h"

/*
 * Kernel parameters under /proc/sys. Names are paths relative to /proc/sys
 * with '/' separators ("net/ipv6/conf/eth0.100/forwarding"), never the dotted
 * form, because interface names may contain dots.
 */
#define SYSCTL_VALUE_MAX 64

/* The value, trailing newline stripped. -ENOENT when there is no such name. */
int sysctl_read(const char *name, char *buf, size_t len, struct verr *err);
int sysctl_write(const char *name, const char *value, struct verr *err);

/* Paths visp uses: forwarding per family, per-interface knobs. */
#define SYSCTL_IPV4_FORWARD	"net/ipv4/ip_forward"
#define SYSCTL_IPV6_FORWARD	"net/ipv6/conf/all/forwarding"
/* "net/ipv{4,6}/conf/<ifname>/<knob>" into buf; -EINVAL for a bad ifname. */
int sysctl_if_path(int family, const char *ifname, const char *knob, char *buf, size_t len);

#endif
