/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_HTTPC_H
#define VISP_HTTPC_H

#include <stddef.h>

#include "err.h"

/*
 * The client half of the lease protocol's HTTP, over libcurl. Bodies are
 * capped (a hostile gateway cannot make the client buffer megabytes) and
 * every request has a total timeout.
 */
struct httpc_resp {
	long status;		/* 0 when no HTTP answer came */
	char *body;		/* NUL-terminated */
	size_t len;
	char error[256];	/* transport error, when status is 0 */
	int connected;		/* a connection was made: the peer is reachable */
	long rtt_us;		/* the TCP handshake: one round trip (0 unknown) */
};

/*
 * source: the local address to send from (the node's fc address), or NULL.
 * Without an HTTP answer: -EHOSTUNREACH when no connection could be made,
 * -EPROTO when one was (the peer is there; its server is slow, silent or
 * sends too much).
 */
int httpc_request(const char *method, const char *url, const char *json_body,
		  const char *source, int timeout_ms, size_t max_body, struct httpc_resp *out,
		  struct verr *err);

/* GET every url at once (curl multi); each gets its own response. */
int httpc_get_many(const char *const *urls, size_t n, const char *source, int timeout_ms,
		   size_t max_body, struct httpc_resp *outs, struct verr *err);

void httpc_resp_free(struct httpc_resp *r);

#endif
