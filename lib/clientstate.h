/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CLIENTSTATE_H
#define VISP_CLIENTSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "err.h"
#include "key.h"
#include "leaseclient.h"
#include "proto.h"

/*
 * What one client run leaves the next (<run_dir>/client.json): the current
 * gateway and lease, cjdns's connection, and what visp added to the kernel
 * for it, so that the next run changes only what is wrong and disconnect
 * removes exactly that.
 */

#define CLIENT_STATE_FILE "client.json"
#define CLIENT_MAX_ROUTES (PROTO_MAX_ROUTES + 4)
#define IFNAME_BUFLEN 16		/* IFNAMSIZ */

struct client_state {
	bool connected;			/* a current tunnel, and lease below is valid */
	char gateway[KEY_BUFLEN];	/* current gateway, or the last one tried */
	char lease_url[LEASECLIENT_URL_MAX];
	long long conn;			/* IpTunnel connection number, -1 none */
	char tun[IFNAME_BUFLEN];
	struct offer lease;
	int64_t since, leased_at;	/* connected since; the lease was last granted at */
	int prefix4, prefix6;		/* cjdns's ip4Prefix/ip6Prefix, -1 none */
	int nroutes;
	struct cidr routes[CLIENT_MAX_ROUTES];	/* routes visp added on the tun */
	bool dns;			/* nameservers handed to resolvconf */
	int failures;			/* consecutive unhealthy runs of gateway */
	char last_error[256];
};

void client_state_init(struct client_state *st);
/* -ENOENT when there is no state file, -EBADMSG when it is damaged. */
int client_state_load(const char *dir, struct client_state *st, struct verr *err);
/* Atomically (temporary file + rename); creates dir (0755) when missing. */
int client_state_save(const char *dir, const struct client_state *st, struct verr *err);
int client_state_remove(const char *dir, struct verr *err);

#endif
