/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CONFIG_H
#define VISP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define VISP_CONF_DEFAULT "/etc/visp/visp.conf"
#define VISP_LEASE_PORT 12234
#define CONFIG_MAX_STANDBY 4
#define CONFIG_MAX_PROBES 8	/* PROBE_MAX_TARGETS */

struct strlist {
	char **v;
	size_t n;
};

/*
 * Everything visp reads from /etc/visp/visp.conf (JSON with comments), with
 * defaults filled in. Strings are NULL when unset and have no default.
 */
struct visp_config {
	char *path;		/* the file read, NULL when none existed */

	/* cjdns admin, resolved: config "cjdns" block, ~/.cjdnsadmin, cjdroute.conf */
	char *cjdns_host;	/* default 127.0.0.1 */
	int cjdns_port;		/* default 11234 */
	char *cjdns_password;	/* NULL when nothing found */
	char *cjdns_source;	/* where the credentials came from, for messages */
	char *cjdroute_conf;	/* default /etc/cjdroute.conf */

	char *state_dir;	/* default /var/lib/visp */
	char *run_dir;		/* default /run/visp */
	char *tun;		/* cjdns tun device; NULL = find it by the node's fc address */

	/* gateway */
	char *ipv4_pool;
	char *ipv6_pool;
	char *uplink;		/* NULL = interface of the default route */
	struct strlist routes;	/* offered to clients: "default" or CIDRs; default ["default"] */
	struct strlist nameservers;
	long lease_time;	/* seconds, default 86400 */
	char *policy;		/* "open" (default) or "allowlist" */
	char *allowlist;	/* file of keys */
	long max_leases;	/* 0 = only the pool's size limits */
	char *listen;		/* default: the node's fc address, port 12234 */
	bool ndp_proxy;
	/* accounting defaults per lease (rate_limit, quota; units.h): 0 = none */
	uint64_t rate_down, rate_up;	/* bit/s */
	uint64_t quota_bytes;
	int quota_period;		/* enum units_period, default month */
	bool quota_block;		/* over: "block"; default "throttle" */
	uint64_t quota_throttle;	/* bit/s while throttled, default 256kbit */

	/* client */
	struct strlist gateways;
	bool discover;		/* default true */
	struct strlist probe;	/* addresses or "tcp:HOST:PORT"; none: the lease's gateway address */
	bool dns;
	long standby;		/* further gateways holding a lease, default 1 */
	long failback;		/* seconds a preferred gateway must be usable; -1 never; 300 */
	bool kill_switch;
	struct strlist kill_switch_allow;	/* CIDRs; unset: on-link nets of non-uplinks */
	bool kill_switch_allow_set;

	/* share */
	struct strlist share_lan;
	bool share_internet_fallback;	/* let LAN traffic out of the uplink without a lease */
};

/*
 * Load path (NULL: /etc/visp/visp.conf, which may be absent), then resolve
 * the cjdns credentials from ~/.cjdnsadmin and the cjdroute.conf admin block
 * when the config has none. require_root_owned: refuse files not owned by
 * root (visp under sudo). Errors name the file, the line and the reason.
 */
int config_load(struct visp_config **out, const char *path, bool require_root_owned,
		struct verr *err);
void config_free(struct visp_config *cfg);

/* Parse a JSON-with-comments config text (exposed for tests and fuzzing). */
int config_parse(struct visp_config *cfg, const char *text, size_t len, const char *name,
		 struct verr *err);
struct visp_config *config_new_defaults(void);

/* Read a password file (first line, trailing newline stripped). */
int config_read_password(const char *path, char **out, struct verr *err);

/* "host:port", "[v6]:port"; a bare host keeps *port as it is. */
int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port, struct verr *err);
/* Wipe a secret string and free it. */
void config_wipe_free(char *secret);

/*
 * One "probe" entry: an address (ICMP echo) or "tcp:HOST:PORT" (a TCP
 * connection). 1 with *addr and *port (0 for ICMP) set, 0 for "none",
 * -EINVAL otherwise. addr and port may be NULL.
 */
struct cidr;
int config_parse_probe(const char *s, struct cidr *addr, int *port);

int strlist_add(struct strlist *l, const char *s);

#endif
