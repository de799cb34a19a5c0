/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_NLS_H
#define VISP_NLS_H

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

#endif
