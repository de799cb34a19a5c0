/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_PROTO_H
#define VISP_PROTO_H

#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "err.h"
#include "key.h"

/*
 * The lease protocol's JSON (DESIGN.md, "Lease protocol"), both halves:
 * the gateway renders offers, the client parses them. Everything parsed
 * here came from the network and is validated to the last field.
 */
#define PROTO_MAX_ROUTES 32
#define PROTO_MAX_ADDRS 8
#define PROTO_MAX_BODY 4096		/* what a gateway accepts */
#define PROTO_MAX_REPLY (64 * 1024)	/* what a client accepts */

struct offer {
	char public_key[KEY_BUFLEN];		/* the client's */
	char gateway_key[KEY_BUFLEN];
	bool has_ipv4, has_ipv6;
	struct cidr ipv4, ipv6;		/* address with the pool's prefix length */
	bool default_route;		/* "default" (or 0.0.0.0/0, ::/0) among the routes */
	int nroutes;
	struct cidr routes[PROTO_MAX_ROUTES];	/* the other routes */
	int ngateways, nnameservers;
	struct cidr gateways[PROTO_MAX_ADDRS];
	struct cidr nameservers[PROTO_MAX_ADDRS];
	int64_t expires;		/* unix seconds */
};

/* An entry of GET /tunnels. */
struct tunnel_ad {
	char public_key[KEY_BUFLEN];
	char lease_url[128];
	bool ipv4, ipv6;
	long long free;
};

/*
 * One route as a gateway's config or an offer names it: "default",
 * "0.0.0.0/0" and "::/0" set *dflt (they all mean the /1 pair a default
 * lease gets); anything else must be a network that no client would take
 * whatever its host: not fc00::/8 or broader than it, not in loopback,
 * link-local, multicast or other reserved space. -EINVAL with the reason.
 */
int proto_parse_route(const char *s, struct cidr *out, bool *dflt, struct verr *err);
/*
 * A list of such routes into o->default_route and o->routes. The first bad
 * one (or one too many) is an error: a gateway offers all of its routes or
 * none, and a client takes an offer whole or not at all.
 */
int proto_set_routes(struct offer *o, const char *const *v, size_t n, struct verr *err);

/* Gateway side. */
char *proto_offer_json(const struct offer *o);
/*
 * The offer's members into an open JSON object: the client keeps its lease
 * in the same form, so proto_parse_offer reads both.
 */
struct json;
void proto_offer_members(struct json *j, const struct offer *o);
/* "key": ["addr", ...] ("addr/len" with with_prefix). */
void proto_json_addrs(struct json *j, const char *key, const struct cidr *v, int n,
		      bool with_prefix);
char *proto_error_json(const char *msg);
/* Parse a POST /lease body: {"public_key": "..."} (other members ignored). */
int proto_parse_lease_request(const char *body, size_t len, char key[KEY_BUFLEN], struct verr *err);

/* Client side. */
int proto_parse_offer(const char *body, size_t len, struct offer *o, struct verr *err);
/* Parse GET /tunnels: up to max entries into ads; returns the count. */
int proto_parse_tunnels(const char *body, size_t len, struct tunnel_ad *ads, int max,
			struct verr *err);

/* RFC 3339 in UTC ("2026-11-22T01:02:03Z"), both ways. */
void proto_format_time(int64_t t, char buf[32]);
int proto_parse_time(const char *s, int64_t *t);

#endif
