/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_NLS_H
#define VISP_NLS_H

#include <stddef.h>

#include "err.h"

/*
 * A libnl rtnetlink socket that records the kernel's own errno (libnl folds
 * many into "Unspecific failure"): for the modules in lib/ that speak
 * rtnetlink through libnl (netlink.c, shaper.c). Not for cmd/.
 */
struct nl_sock;
struct nls {
	struct nl_sock *sk;
	int kerr;		/* the kernel's negative errno of the last failed request */
};

int nls_open(struct nls *s, struct verr *err);
void nls_close(struct nls *s);
/* libnl's code to an errno, preferring what the kernel said; and its text. */
int nls_errno(const struct nls *s, int nlerr);
const char *nls_strerror(const struct nls *s, int nlerr);

/*
 * n requests in batches: build makes request i (0, or -ENOMEM); errs[i]
 * gets the kernel's answer to it (0 or its negative errno). Fails only when
 * the socket does; the requests' own failures are in errs.
 */
struct nl_msg;
typedef int (*nls_build_fn)(size_t i, struct nl_msg **msg, void *arg);
int nls_batch(struct nls *s, size_t n, nls_build_fn build, void *arg, int *errs,
	      struct verr *err);

#endif
