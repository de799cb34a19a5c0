/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CLIENT_H
#define VISP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cjdns.h"
#include "clientstate.h"
#include "config.h"
#include "err.h"
#include "iptunnel.h"
#include "leaseclient.h"
#include "route.h"

/*
 * The client side of visp: find a gateway, lease, connect through cjdns's
 * IpTunnel, keep the underlay peering out of the tunnel, prove the tunnel
 * works, fail over. No daemon: each run reads the state left by the last
 * one (<run_dir>/client.json), looks at cjdns and the kernel, and changes
 * only what is wrong.
 */

#define CLIENT_MAX_CANDIDATES 64

/* ---- the client ---- */

/* Progress for the command to show: detail = only with -v. */
typedef visp_note_fn client_note_fn;

struct client_opts {
	const struct visp_config *cfg;
	struct cjdns *cj;		/* borrowed */
	bool dry_run;
	int wait_ms;			/* for the leased addresses after connectTo; 0: default */
	int http_timeout_ms;		/* 0: default */
	client_note_fn note;
	void *note_arg;
};

struct client;
int client_open(struct client **out, const struct client_opts *o, struct verr *err);
void client_close(struct client *c);
const struct client_state *client_get_state(const struct client *c);

enum client_health {
	HEALTH_OK,
	HEALTH_DISCONNECTED,	/* no current tunnel */
	HEALTH_CJDNS,		/* cjdns is not answering */
	HEALTH_TUN_MISSING,
	HEALTH_GONE,		/* cjdns has no such connection (restarted?) */
	HEALTH_NO_ADDRESS,	/* the gateway has not answered with addresses */
	HEALTH_ADDR_MISSING,	/* the leased address is not on the tun */
	HEALTH_ROUTES_MISSING,
	HEALTH_EXPIRED,
	HEALTH_PROBE_FAILED,
};
const char *client_health_name(enum client_health h);

struct client_health_report {
	enum client_health health;
	char why[256];
	bool probed;
};

/* Read-only: is the current tunnel healthy? probe: also send the probe. */
int client_check(struct client *c, bool probe, struct client_health_report *h,
		 struct verr *err);

struct client_result {
	bool changed;		/* connected anew (or would, under dry_run) */
	bool renewed;
	int pins_changed;
	int tried;		/* gateways tried */
};
int client_connect(struct client *c, const char *const *gateways, size_t n,
		   struct client_result *res, struct verr *err);
int client_disconnect(struct client *c, struct verr *err);

/*
 * routes pin-peers: pin every underlay peer (or unpin all), without a
 * client run: no state file, no lock. *plan gets what was (or, dry_run,
 * would be) done.
 */
int client_pin_peers(const struct visp_config *cfg, struct cjdns *cj, bool unpin, bool dry_run,
		     struct pin **plan, size_t *n, int *changed, struct verr *err);

#endif
