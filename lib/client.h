/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CLIENT_H
#define VISP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "cjdns.h"
#include "config.h"
#include "err.h"
#include "killswitch.h"
#include "proto.h"
#include "route.h"

/*
 * The client side of visp: find a gateway, lease, connect through cjdns's
 * IpTunnel, keep the underlay peering out of the tunnel, prove the tunnel
 * works, fail over. No daemon: each run reads the state left by the last
 * one (<run_dir>/client.json), looks at cjdns and the kernel, and changes
 * only what is wrong.
 */

#define CLIENT_URL_MAX 160
#define CLIENT_MAX_CANDIDATES 64
#define CLIENT_MAX_ROUTES (PROTO_MAX_ROUTES + 4)
/* Consecutive failed runs before the current gateway goes to the back of the line. */
#define CLIENT_DEMOTE_AFTER 3
#define CLIENT_STATE_FILE "client.json"

/* ---- candidates ---- */

enum cand_source { CAND_CURRENT, CAND_ARG, CAND_CONFIG, CAND_ANNOUNCED };
const char *cand_source_name(enum cand_source s);

struct candidate {
	char key[55];			/* "" when only the URL is known */
	char url[CLIENT_URL_MAX];	/* the lease URL */
	uint8_t addr[16];		/* the URL's host: the offer's gateway_key must hash to it */
	enum cand_source source;
	long rtt_us;			/* announced: round trip to the announcer, 0 unknown */
	long long free;			/* announced: free addresses */
};

/*
 * A GATEWAY argument or config entry: a public key (lease URL
 * http://[its fc address]:12234/lease) or such a URL. -EINVAL otherwise.
 */
int client_parse_gateway(const char *s, enum cand_source source, struct candidate *out,
			 struct verr *err);

/*
 * The order to try gateways in: arguments, then the config, then what peers
 * announce, each gateway once (by address). current (may be NULL) is the
 * gateway of the last run: first while it has failed fewer than
 * CLIENT_DEMOTE_AFTER runs in a row (hysteresis: no flapping back to a
 * preferred gateway, no giving up on a hiccup), last after that. With
 * arguments, current is only kept if it is among them. Returns the count.
 */
size_t client_order(const struct candidate *args, size_t nargs, const struct candidate *conf,
		    size_t nconf, const struct candidate *ads, size_t nads,
		    const struct candidate *current, int failures, struct candidate *out,
		    size_t max);

/* ---- underlay peers ---- */

struct client_peer {
	char key[55];
	struct cidr addr;	/* full-length prefix */
	int port;
	bool established;
};

/* peerStats "lladdr": "192.0.2.1:1234" or "[2001:db8::1]:1234". -EINVAL otherwise. */
int client_parse_lladdr(const char *s, struct cidr *addr, int *port);

/* ---- state between runs ---- */

struct client_state {
	bool connected;			/* a current tunnel, and lease below is valid */
	char gateway[55];		/* current gateway, or the last one tried */
	char lease_url[CLIENT_URL_MAX];
	long long conn;			/* IpTunnel connection number, -1 none */
	char tun[16];
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

/* The lease's prefix as cjdns's RouteGen holds it: the leased address, unmasked, "/prefix". */
const char *client_routegen_prefix(const struct cidr *leased, int prefix, char *buf, size_t len);

/* ---- the client ---- */

/* Progress for the command to show: detail = only with -v. */
typedef void (*client_note_fn)(void *arg, bool detail, const char *msg);

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

/* The standby records (gwselect.h: connected = a lease is held); returns the count. */
size_t client_standbys(const struct client *c, const struct client_state **v);

/* Where the kill switch stands (killswitch.h), looking at the kernel when root. */
int client_kill_switch(const struct client *c, enum ks_state *st, struct verr *err);

/* routes pin-peers: pin every underlay peer (or unpin all). */
int client_pin_peers(struct client *c, bool unpin, struct pin **plan, size_t *n, int *changed,
		     struct verr *err);

#endif
