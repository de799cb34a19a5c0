// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp client: the connect / renew / fail over state machine. The pieces
 * it drives live beside it: lib/leaseclient.h (the lease protocol),
 * lib/iptunnel.h (cjdns), lib/leasenet.h (the kernel side of a lease),
 * lib/clientstate.h (what one run leaves the next).
 *
 * The order of a connection attempt matters:
 *   POST /lease -> pin the underlay peers -> IpTunnel_connectTo -> wait for
 *   the addresses -> lease routes -> probe.
 * Pins go in before connectTo because cjdns installs its /1 routes the
 * moment the gateway's answer arrives, and from then on the packets to an
 * underlay peer that is not on-link would follow them into the tunnel that
 * rides on that very peering.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fileutil.h"
#include "gwselect.h"
#include "iface.h"
#include "killswitch.h"
#include "leasenet.h"
#include "probe.h"
#include "routeguard.h"

#define DEFAULT_WAIT_MS 12000		/* cjdns re-asks for addresses every 10 s */
#define DEFAULT_HTTP_TIMEOUT_MS 5000
#define RETRY_HTTP_TIMEOUT_MS 3000	/* after a peering reset: up in well under a second */
#define POLL_MS 100
#define LOCK_WAIT_MS 30000
#define STANDBY_HTTP_TIMEOUT_MS 2000	/* off the critical path: a dead standby costs little */
/*
 * A standby gateway holds our lease already: alive, it answers cjdns's
 * first request for addresses within a round trip. One that does not is
 * left after this, not after the 12 s of a fresh lease, so that a dead
 * standby does not hold up the failover to the gateway after it.
 */
#define STANDBY_WAIT_MS 3000

const char *client_health_name(enum client_health h)
{
	static const char *const names[] = {
		[HEALTH_OK] = "healthy", [HEALTH_DISCONNECTED] = "disconnected",
		[HEALTH_CJDNS] = "cjdns-down", [HEALTH_TUN_MISSING] = "tun-missing",
		[HEALTH_GONE] = "connection-gone", [HEALTH_NO_ADDRESS] = "no-address",
		[HEALTH_ADDR_MISSING] = "address-missing", [HEALTH_ROUTES_MISSING] = "routes-missing",
		[HEALTH_EXPIRED] = "lease-expired", [HEALTH_PROBE_FAILED] = "probe-failed",
	};

	return (unsigned)h < sizeof(names) / sizeof(names[0]) ? names[h] : "?";
}

/* ---- the client ---- */

struct client {
	const struct visp_config *cfg;
	struct cjdns *cj;
	bool dry_run;
	int wait_ms, http_ms;
	client_note_fn note_fn;
	void *note_arg;
	struct client_state st;
	bool have_node;
	struct iptunnel_node node;	/* this node: key, address, tun */
	int lock_fd;
	/*
	 * The kernel's routes (IPv4, IPv6) as loaded by this run, for the
	 * health check after the pins to reuse; dropped by routes_changed()
	 * whenever this run changes routes or asks cjdns to.
	 */
	struct route_list routes[2];
	bool routes_loaded;
	struct gw_book *book;		/* standby leases (gwselect.h) */
	char failed[KEY_BUFLEN];	/* the gateway that failed in this run, "" none */
	char prefer[KEY_BUFLEN];	/* a failback target, "" none */
};

static void routes_changed(struct client *c)
{
	route_list_free(&c->routes[0]);
	route_list_free(&c->routes[1]);
	c->routes_loaded = false;
}

static int load_routes(struct client *c, struct verr *err)
{
	int ret;

	if (c->routes_loaded)
		return 0;
	ret = route_list_load(AF_INET, &c->routes[0], err);
	if (ret == 0)
		ret = route_list_load(AF_INET6, &c->routes[1], err);
	if (ret < 0)
		routes_changed(c);
	c->routes_loaded = ret == 0;
	return ret;
}

#define note(c, detail, ...) visp_note((c)->note_fn, (c)->note_arg, detail, __VA_ARGS__)

int client_open(struct client **out, const struct client_opts *o, struct verr *err)
{
	struct client *c = calloc(1, sizeof(*c));
	struct verr e = { 0 };

	if (!c)
		return verr_set(err, -ENOMEM, "out of memory");
	c->cfg = o->cfg;
	c->cj = o->cj;
	c->dry_run = o->dry_run;
	c->wait_ms = o->wait_ms > 0 ? o->wait_ms : DEFAULT_WAIT_MS;
	c->http_ms = o->http_timeout_ms > 0 ? o->http_timeout_ms : DEFAULT_HTTP_TIMEOUT_MS;
	c->note_fn = o->note;
	c->note_arg = o->note_arg;
	c->lock_fd = -1;
	c->book = calloc(1, sizeof(*c->book));
	if (!c->book) {
		free(c);
		return verr_set(err, -ENOMEM, "out of memory");
	}
	gw_book_load(c->cfg->run_dir, c->book);
	/* A damaged state file must not wedge the client: start afresh. */
	if (client_state_load(c->cfg->run_dir, &c->st, &e) == -EBADMSG)
		note(c, false, "%s; starting from no state", e.msg);
	*out = c;
	return 0;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	routes_changed(c);
	free(c->book);
	free(c);
}

const struct client_state *client_get_state(const struct client *c)
{
	return &c->st;
}

/* One client run at a time: a timer and an operator must not interleave. */
static int lock(struct client *c, struct verr *err)
{
	char path[4200];
	int ret;

	if (c->lock_fd >= 0 || c->dry_run)
		return 0;
	ret = file_mkdir_p(c->cfg->run_dir, 0755, err);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "%s/client.lock", c->cfg->run_dir);
	ret = file_lock(path, 0644, LOCK_WAIT_MS, &c->lock_fd, err);
	if (ret == -EBUSY)
		return verr_set(err, -EBUSY, "another visp client run holds '%s'", path);
	if (ret < 0)
		return ret;
	/* Another run may have changed the state while we waited. */
	client_state_load(c->cfg->run_dir, &c->st, NULL);
	gw_book_load(c->cfg->run_dir, c->book);
	return 0;
}

static int save(struct client *c, struct verr *err)
{
	return c->dry_run ? 0 : client_state_save(c->cfg->run_dir, &c->st, err);
}

/* Our key and fc address, then the tun: the interface carrying that address. */
static int node(struct client *c, struct verr *err)
{
	int ret;

	if (c->have_node)
		return 0;
	ret = iptunnel_node(c->cj, c->cfg, &c->node, err);
	if (ret == -ENODEV)
		verr_wrap(err, "cjdns's tun device is missing");
	if (ret == 0)
		c->have_node = true;
	return ret;
}

static int tun_ifindex(struct client *c, const char *name)
{
	struct netlink_link l;

	if (c->node.tun.ifindex && (!name || !name[0] || !strcmp(name, c->node.tun.name)))
		return c->node.tun.ifindex;
	if (!name || !name[0] || netlink_link_by_name(name, &l, NULL) < 0)
		return 0;
	return l.ifindex;
}

/* Pin (or unpin) the peers on the kernel's routes as this run knows them. */
static int pin(struct client *c, const struct iptunnel_peer *peers, size_t npeers, bool unpin,
	       int *changed, struct verr *err)
{
	int n = 0, ret = load_routes(c, err);

	if (ret == 0)
		ret = leasenet_pin(c->routes, peers, npeers, c->node.tun.ifindex, unpin, c->dry_run,
				   c->note_fn, c->note_arg, NULL, NULL, &n, err);
	if (n || ret < 0)
		routes_changed(c);
	if (changed)
		*changed = n;
	return ret;
}

/*
 * The offer's routes must leave the host's own alone (lib/routeguard.h).
 * A refused lease is given back: it is of no use to us.
 */
static int guard_offer(struct client *c, const struct candidate *cand, const struct offer *o,
		       const struct iptunnel_peer *peers, size_t npeers, struct verr *err)
{
	struct routeguard *g = NULL;
	struct verr e = { 0 };
	int ret = load_routes(c, err);

	if (ret == 0)
		ret = routeguard_new(&g, &c->routes[0], &c->routes[1], c->node.tun.ifindex, err);
	for (size_t i = 0; ret == 0 && i < npeers; i++)
		ret = routeguard_add_peer(g, &peers[i].addr, err);
	if (ret == 0)
		ret = routeguard_check(g, o, err);
	if (ret == -EBADMSG && leaseclient_delete(cand->url, c->node.key, c->node.ip6, &e) < 0)
		note(c, true, "could not release the lease: %s", e.msg);
	routeguard_free(g);
	return ret;
}

/* ---- health ---- */

static bool same_addr(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, cidr_bits(a) / 8);
}

static bool same_addrs(const struct offer *a, const struct offer *b)
{
	return a->has_ipv4 == b->has_ipv4 && a->has_ipv6 == b->has_ipv6 &&
	       (!a->has_ipv4 || same_addr(&a->ipv4, &b->ipv4)) &&
	       (!a->has_ipv6 || same_addr(&a->ipv6, &b->ipv6));
}

/* The same routes, in the same order (as a gateway's config lists them). */
static bool same_routes(const struct offer *a, const struct offer *b)
{
	if (a->default_route != b->default_route || a->nroutes != b->nroutes)
		return false;
	for (int i = 0; i < a->nroutes; i++)
		if (!cidr_equal(&a->routes[i], &b->routes[i]))
			return false;
	return true;
}

/* Does what cjdns says match the lease? */
static bool conn_matches(const struct client_state *st, const struct iptunnel_conn *tc)
{
	const struct offer *o = &st->lease;

	return (!o->has_ipv4 || (tc->has4 && same_addr(&tc->ip4, &o->ipv4))) &&
	       (!o->has_ipv6 || (tc->has6 && same_addr(&tc->ip6, &o->ipv6)));
}

__attribute__((format(printf, 3, 4)))
static int unhealthy(struct client_health_report *h, enum client_health what, const char *fmt,
		     ...)
{
	va_list ap;

	h->health = what;
	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	return 0;
}

/* Are the leased addresses on the tun (any prefix length)? One dump for both. */
static int check_addrs(struct client *c, int ifindex, struct client_health_report *h,
		       struct verr *err)
{
	const struct offer *o = &c->st.lease;
	struct { bool on4, on6; } l;
	char buf[CIDR_STRLEN];
	int ret = leasenet_addrs_on(ifindex, o, &l.on4, &l.on6, err);

	if (ret == 0 && ((o->has_ipv4 && !l.on4) || (o->has_ipv6 && !l.on6)))
		unhealthy(h, HEALTH_ADDR_MISSING, "the leased address %s is not on %s",
			  cidr_format(o->has_ipv4 && !l.on4 ? &o->ipv4 : &o->ipv6, false, buf,
				      sizeof(buf)), c->st.tun);
	return ret;
}

int client_check(struct client *c, bool probe, struct client_health_report *h, struct verr *err)
{
	const struct client_state *st = &c->st;
	struct iptunnel_conn tc;
	struct verr e = { 0 };
	int ifindex, ret;

	memset(h, 0, sizeof(*h));
	if (!st->connected)
		return unhealthy(h, HEALTH_DISCONNECTED, "not connected");
	ifindex = tun_ifindex(c, st->tun);
	if (!ifindex)
		return unhealthy(h, HEALTH_TUN_MISSING, "the tun device '%s' is gone", st->tun);
	ret = iptunnel_show(c->cj, st->conn, &tc, &e);
	if (ret == -ENOENT || (ret == 0 && (!tc.outgoing || strcmp(tc.key, st->gateway))))
		return unhealthy(h, HEALTH_GONE, "cjdns has no connection %lld to the gateway "
				 "(restarted?)", st->conn);
	if (ret < 0)
		return unhealthy(h, HEALTH_CJDNS, "%s", e.msg);
	if (!tc.has4 && !tc.has6)
		return unhealthy(h, HEALTH_NO_ADDRESS, "the gateway has not given cjdns addresses");
	if (!conn_matches(st, &tc))
		return unhealthy(h, HEALTH_GONE, "cjdns holds other addresses than the lease");
	ret = check_addrs(c, ifindex, h, err);
	if (ret < 0 || h->health != HEALTH_OK)
		return ret;
	ret = load_routes(c, err);
	if (ret < 0)
		return ret;
	if (!leasenet_routes_in_place(c->routes, ifindex, st->routes, st->nroutes, st->prefix4,
				      st->prefix6))
		return unhealthy(h, HEALTH_ROUTES_MISSING, "routes of the lease are missing on %s",
				 st->tun);
	if (st->lease.expires <= time(NULL))
		return unhealthy(h, HEALTH_EXPIRED, "the lease expired");
	if (!probe)
		return 0;
	h->probed = true;
	if (leasenet_probe(&c->cfg->probe, &st->lease, st->tun, PROBE_CHECK_TIMEOUT_MS, c->note_fn,
			   c->note_arg, &e) < 0) {
		if (e.code == -EINVAL) {
			*err = e;
			return e.code;
		}
		return unhealthy(h, HEALTH_PROBE_FAILED, "%s", e.msg);
	}
	return 0;
}

/* ---- teardown ---- */

static void dns_apply(struct client *c)
{
	struct verr e = { 0 };

	if (!c->cfg->dns || !c->st.lease.nnameservers)
		return;
	if (leasenet_dns_apply(c->node.tun.name, &c->st.lease, &e) < 0) {
		note(c, false, "dns: nameservers not applied: %s", e.msg);
		return;
	}
	c->st.dns = true;
	note(c, true, "dns: %d nameservers handed to resolvconf", c->st.lease.nnameservers);
}

static void dns_undo(struct client *c)
{
	struct verr e = { 0 };

	if (!c->st.dns)
		return;
	if (leasenet_dns_undo(c->st.tun, &e) < 0)
		note(c, false, "dns: %s", e.msg);
	c->st.dns = false;
}

/*
 * Undo a connection locally: cjdns's entry, and what cjdns leaves behind
 * when it goes (the address, the proto 52 routes), visp's lease routes and
 * the DNS entry. Pins stay: the next gateway needs them too. Best effort:
 * every step runs; the first error is returned.
 */
static int teardown(struct client *c, struct verr *err)
{
	struct client_state *st = &c->st;
	struct iptunnel_conn tc;
	struct verr e = { 0 };
	int ifindex = tun_ifindex(c, st->tun), ret = 0, r;

	routes_changed(c);
	dns_undo(c);
	if (st->conn >= 0 && c->cj && iptunnel_show(c->cj, st->conn, &tc, &e) == 0 && tc.outgoing &&
	    !strcmp(tc.key, st->gateway)) {
		/*
		 * An address wait that died on admin silence never learnt the
		 * prefixes, but the gateway's answer may have put them in cjdns's
		 * route generator: cjdns knows them now, and they must go too.
		 */
		if (st->prefix4 < 0 && tc.has4)
			st->prefix4 = tc.prefix4;
		if (st->prefix6 < 0 && tc.has6)
			st->prefix6 = tc.prefix6;
		r = cjdns_remove_connection(c->cj, st->conn, &e);
		verr_first(&ret, r, err, &e);
		if (r == 0)
			note(c, true, "removed cjdns connection %lld", st->conn);
	}
	/* A connect that died before it could look for duplicates leaves them to us. */
	if (st->conn >= 0 && c->cj && st->gateway[0])
		iptunnel_drop_strays(c->cj, st->gateway, st->conn, c->note_fn, c->note_arg);
	if (st->connected)
		iptunnel_routegen_forget(c->cj, &st->lease, st->prefix4, st->prefix6, st->tun,
					 c->note_fn, c->note_arg);
	r = leasenet_teardown(ifindex, st->routes, st->nroutes, st->connected ? &st->lease : NULL,
			      &e);
	verr_first(&ret, r, err, &e);
	st->connected = false;
	st->conn = -1;
	st->nroutes = 0;
	st->prefix4 = st->prefix6 = -1;
	return ret;
}

/* ---- connect ---- */

/* Wait (bounded) for the gateway's answer in cjdns, then for the address on the tun. */
static int wait_addresses(struct client *c, int wait_ms, struct verr *err)
{
	struct client_state *st = &c->st;
	long long deadline = mono_ms() + wait_ms;
	struct client_health_report h = { 0 };
	struct iptunnel_conn tc;
	int ret;

	for (;;) {
		ret = iptunnel_show(c->cj, st->conn, &tc, err);
		if (ret < 0)
			return ret;
		if (tc.has4 || tc.has6)
			break;
		if (mono_ms() >= deadline)
			return verr_set(err, -ETIMEDOUT, "the gateway gave cjdns no addresses "
					"within %d ms", wait_ms);
		sleep_ms(POLL_MS);
	}
	if (!conn_matches(st, &tc))
		return verr_set(err, -EBADMSG, "cjdns got other addresses from the gateway than "
				"the lease names");
	st->prefix4 = tc.has4 ? tc.prefix4 : -1;
	st->prefix6 = tc.has6 ? tc.prefix6 : -1;
	for (;;) {
		h.health = HEALTH_OK;
		ret = check_addrs(c, c->node.tun.ifindex, &h, err);
		if (ret < 0 || h.health == HEALTH_OK)
			return ret;
		if (mono_ms() >= deadline)
			return verr_set(err, -ETIMEDOUT, "%s", h.why);
		sleep_ms(POLL_MS);
	}
}

static void start_state(struct client *c, const struct candidate *cand, const struct offer *o,
			 long long conn)
{
	struct client_state *st = &c->st;
	int failures = strcmp(st->gateway, o->gateway_key) ? 0 : st->failures;

	client_state_init(st);
	st->connected = true;
	st->failures = failures;
	snprintf(st->gateway, sizeof(st->gateway), "%s", o->gateway_key);
	snprintf(st->lease_url, sizeof(st->lease_url), "%s", cand->url);
	snprintf(st->tun, sizeof(st->tun), "%s", c->node.tun.name);
	st->conn = conn;
	st->lease = *o;
	st->since = st->leased_at = time(NULL);
}

/* ---- kill switch ---- */

/*
 * Arm the kill switch, or bring it up to date (the peers come and go), on
 * every connect run: then it holds from the first run on, through every
 * failover and while no gateway works. Switched off in the config, a
 * switch left armed goes.
 */
static int kill_switch(struct client *c, const struct iptunnel_peer *peers, size_t npeers,
		       struct verr *err)
{
	struct cidr allow[KILLSWITCH_MAX_ALLOW], own[KILLSWITCH_MAX_ALLOW];
	struct ks_peer *kp = NULL;
	struct netlink_link up;
	struct killswitch ks = { .tun = c->node.tun.name, .allow = allow, .own = own };
	bool changed = false;
	int ret;

	if (!c->cfg->kill_switch)
		return killswitch_disarm(c->cfg->run_dir, c->dry_run, &changed, err);
	if (iface_find_uplink(c->cfg, true, true, &c->node.tun, &up, NULL) == 0)
		ks.uplink = up.name;
	if (c->cfg->kill_switch_allow_set) {
		for (size_t i = 0; i < c->cfg->kill_switch_allow.n && ks.nallow < KILLSWITCH_MAX_ALLOW;
		     i++)
			if (cidr_parse_network(c->cfg->kill_switch_allow.v[i], &allow[ks.nallow],
					       NULL) == 0)
				ks.nallow++;
	} else {
		ret = killswitch_default_allow(c->node.tun.ifindex, ks.uplink ? up.ifindex : 0,
					       allow, KILLSWITCH_MAX_ALLOW, &ks.nallow, err);
		if (ret < 0)
			return ret;
	}
	ret = killswitch_own_addrs(c->node.tun.ifindex, own, KILLSWITCH_MAX_ALLOW, &ks.nown, err);
	if (ret < 0)
		return ret;
	kp = calloc(npeers ? npeers : 1, sizeof(*kp));
	if (!kp)
		return verr_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < npeers; i++)
		kp[i] = (struct ks_peer){ .addr = peers[i].addr, .port = peers[i].port };
	ks.peers = kp;
	ks.npeers = npeers;
	ret = killswitch_arm(c->cfg->run_dir, &ks, c->dry_run, &changed, err);
	if (ret == 0 && changed)
		note(c, !c->dry_run, "%skill switch: %zu peers, %zu allowed networks",
		     c->dry_run ? "would set the " : "", npeers, ks.nallow);
	free(kp);
	return ret;
}

size_t client_standbys(const struct client *c, const struct client_state **v)
{
	*v = c->book->v;
	return c->book->n;
}

int client_kill_switch(const struct client *c, enum ks_state *st, struct verr *err)
{
	return killswitch_state(c->cfg->run_dir, geteuid() == 0, st, err);
}

/* ---- standby leases (the bookkeeping is gwselect's) ---- */

static int standby_lease(void *arg, const struct candidate *cand, struct offer *o,
			 struct verr *err)
{
	struct client *c = arg;
	int ret = leaseclient_post(cand->url, c->node.key, c->node.ip6, STANDBY_HTTP_TIMEOUT_MS, o,
				   err);

	return ret == 0 ? leaseclient_check_offer(cand, c->node.key, o, err) : ret;
}

static int standby_release(void *arg, const char *url, struct verr *err)
{
	struct client *c = arg;

	return leaseclient_delete(url, c->node.key, c->node.ip6, err);
}

static void standby_note(void *arg, const char *msg)
{
	note((struct client *)arg, true, "%s", msg);
}

static const struct gw_hooks *hooks(struct client *c)
{
	static struct gw_hooks h = { standby_lease, standby_release, standby_note, NULL };

	h.arg = c;
	return &h;
}

static void book_save(struct client *c)
{
	struct verr e = { 0 };

	if (!c->dry_run && gw_book_save(c->cfg->run_dir, c->book, &e) < 0)
		note(c, false, "standby: %s", e.msg);
}

/*
 * Hold standby leases at the next gateways of order (not at the one that
 * failed in this run: it is asked again after its back-off).
 */
static void tend_standby(struct client *c, const struct candidate *order, size_t n)
{
	bool changed = false;

	if (c->dry_run)
		return;
	gw_tend(c->book, order, n, c->st.connected ? c->st.gateway : NULL,
		c->failed[0] ? c->failed : NULL, (int)c->cfg->standby, time(NULL), hooks(c),
		&changed);
	if (changed)
		book_save(c);
}

/*
 * cjdns keeps a peering with a restarted node dead for about 70 s; a
 * gateway that is our direct peer and does not answer may be just that.
 * Returns true when the peering was reset (worth another try).
 */
static bool reset_peer(struct client *c, const struct iptunnel_peer *peers, size_t npeers,
		       const uint8_t addr[16])
{
	struct verr e = { 0 };
	uint8_t ip6[16];

	for (size_t i = 0; i < npeers; i++) {
		if (key_str_to_ip6(peers[i].key, ip6, NULL) < 0 || memcmp(ip6, addr, 16))
			continue;
		if (iptunnel_reset_peering(c->cj, peers[i].key, &e) < 0)
			return false;
		note(c, true, "no answer: reset the peering with %s and trying again", peers[i].key);
		return true;
	}
	return false;
}

/* One gateway, start to finish. On failure nothing of it stays but the pins. */
static int attempt(struct client *c, const struct candidate *cand,
		   const struct iptunnel_peer *peers, size_t npeers, struct verr *err)
{
	struct verr e = { 0 };
	struct offer o;
	long long conn = -1;
	int ret;
	const struct client_state *sb = gw_book_find(c->book, cand->key);
	bool standby = gw_held(sb, time(NULL));

	note(c, false, "trying %s (%s%s)", cand->key[0] ? cand->key : cand->url,
	     leaseclient_source_name(cand->source), standby ? ", standby lease" : "");
	/* A held standby lease: failover is connectTo and routes, no HTTP on the way. */
	if (standby) {
		o = sb->lease;
		ret = 0;
	} else {
		ret = leaseclient_post(cand->url, c->node.key, c->node.ip6, c->http_ms, &o, err);
	}
	/*
	 * Only when no connection could be made: a gateway whose server took
	 * the connection and then stalled or sent too much is reachable, and
	 * resetting a working peering would only drop its traffic, then cost
	 * the retry's timeout too.
	 */
	if (ret == -EHOSTUNREACH && reset_peer(c, peers, npeers, cand->addr)) {
		verr_clear(err);
		ret = leaseclient_post(cand->url, c->node.key, c->node.ip6, RETRY_HTTP_TIMEOUT_MS, &o,
				       err);
	}
	if (ret == 0)
		ret = leaseclient_check_offer(cand, c->node.key, &o, err);
	if (ret == 0)
		ret = guard_offer(c, cand, &o, peers, npeers, err);
	if (ret == 0)
		ret = pin(c, peers, npeers, false, NULL, err);
	if (ret == 0) {
		routes_changed(c);	/* cjdns installs routes for the lease */
		ret = iptunnel_connect(c->cj, o.gateway_key, &conn, c->note_fn, c->note_arg, err);
	}
	if (ret < 0)
		return ret;
	start_state(c, cand, &o, conn);
	if (standby)
		c->st.leased_at = sb->leased_at;
	/* Written now, so that a crash from here on leaves disconnect something to undo. */
	ret = save(c, err);
	if (ret == 0)
		ret = wait_addresses(c, standby && c->wait_ms > STANDBY_WAIT_MS ? STANDBY_WAIT_MS
								    : c->wait_ms, err);
	if (ret == 0) {
		routes_changed(c);
		ret = leasenet_add_routes(&c->node.tun, &c->st.lease, c->st.prefix4, c->st.prefix6,
					  c->st.routes, &c->st.nroutes, CLIENT_MAX_ROUTES,
					  c->note_fn, c->note_arg, err);
	}
	if (ret == 0)
		ret = leasenet_probe(&c->cfg->probe, &c->st.lease, c->node.tun.name,
				     PROBE_DEFAULT_TIMEOUT_MS, c->note_fn, c->note_arg, err);
	if (ret == 0) {
		dns_apply(c);
		return save(c, err);
	}
	teardown(c, &e);
	if (leaseclient_delete(c->st.lease_url, c->node.key, c->node.ip6, &e) < 0)
		note(c, true, "could not release the lease: %s", e.msg);
	save(c, &e);
	return ret;
}

/*
 * Renew when past half the lease's life. *moved: the gateway changed our
 * addresses or its routes. Either takes a reconnect: the routes installed
 * are the old lease's, and a new offer's routes are checked against the
 * host's (guard_offer) before any of them is installed.
 */
static int renew_if_due(struct client *c, bool *renewed, bool *moved, struct verr *err)
{
	struct client_state *st = &c->st;
	struct candidate cand;
	int64_t now = time(NULL);
	struct offer o;
	int ret;

	*renewed = *moved = false;
	if (now < st->leased_at + (st->lease.expires - st->leased_at) / 2)
		return 0;
	if (c->dry_run) {
		note(c, false, "would renew the lease");
		return 0;
	}
	ret = leaseclient_parse_gateway(st->lease_url, CAND_CURRENT, &cand, err);
	if (ret == 0) {
		strcpy(cand.key, st->gateway);
		ret = leaseclient_post(st->lease_url, c->node.key, c->node.ip6, c->http_ms, &o, err);
	}
	if (ret == 0)
		ret = leaseclient_check_offer(&cand, c->node.key, &o, err);
	if (ret < 0) {
		/* The tunnel works; the lease has time left: try again next run. */
		note(c, false, "lease renewal failed: %s", err->msg);
		verr_clear(err);
		return 0;
	}
	*moved = !same_addrs(&o, &st->lease) || !same_routes(&o, &st->lease);
	st->lease = o;
	st->leased_at = now;
	*renewed = true;
	return 0;
}

static bool among(const struct candidate *v, size_t n, const char *key)
{
	uint8_t ip6[16];

	if (key_str_to_ip6(key, ip6, NULL) < 0)
		return false;
	return leaseclient_listed(v, n, ip6);
}

struct cands {
	struct candidate args[CLIENT_MAX_CANDIDATES], conf[CLIENT_MAX_CANDIDATES];
	struct candidate ads[CLIENT_MAX_CANDIDATES], order[3 * CLIENT_MAX_CANDIDATES + 1];
	struct candidate current;
	size_t nargs, nconf, nads, n;
	struct iptunnel_peer *peers;	/* malloc'd */
	size_t npeers;
};

/*
 * The healthy path's part in selection: fail back when a preferred gateway
 * has held a standby lease long enough (*away, c->prefer), else tend the
 * standby leases. Candidates: the arguments and the config, then the
 * gateways known from earlier runs' discovery (no discovery here: a healthy
 * run stays cheap).
 */
static void select_healthy(struct client *c, struct cands *k, bool *away)
{
	const size_t max = sizeof(k->order) / sizeof(k->order[0]);
	const struct candidate *fb;
	struct candidate cand;
	size_t n;

	n = leaseclient_order(k->args, k->nargs, k->conf, k->nconf, NULL, 0, NULL, 0, k->order,
			      max);
	for (size_t i = 0; i < c->book->n && n < max; i++) {
		const struct client_state *e = &c->book->v[i];

		if (leaseclient_parse_gateway(e->lease_url, CAND_ANNOUNCED, &cand, NULL) < 0 ||
		    leaseclient_listed(k->order, n, cand.addr))
			continue;
		strcpy(cand.key, e->gateway);
		k->order[n++] = cand;
	}
	fb = gw_failback(k->order, n, c->st.gateway, c->book, c->cfg->failback, time(NULL));
	if (fb) {
		note(c, false, "failing back to %s: usable for %ld s and more", fb->key,
		     c->cfg->failback);
		snprintf(c->prefer, sizeof(c->prefer), "%s", fb->key);
		*away = true;
		return;
	}
	tend_standby(c, k->order, n);
}

/* The healthy path: renew if due, keep the pins current. *done: nothing more to do. */
static int keep(struct client *c, struct cands *k, struct client_result *res, bool *done,
		bool *away, struct verr *err)
{
	const struct candidate *args = k->args;
	size_t nargs = k->nargs;
	struct client_health_report h;
	bool moved = false, renewed = false, dirty = c->st.failures != 0;
	int ret;

	*done = *away = false;
	/* Pins first: a missing one is mended here rather than by a reconnect. */
	ret = pin(c, k->peers, k->npeers, false, &res->pins_changed, err);
	if (ret == 0)
		ret = client_check(c, true, &h, err);
	if (ret < 0)
		return ret;
	if (h.health != HEALTH_OK) {
		note(c, false, "the tunnel to %s is not healthy: %s", c->st.gateway, h.why);
		snprintf(c->st.last_error, sizeof(c->st.last_error), "%s", h.why);
		return 0;
	}
	if (nargs && !among(args, nargs, c->st.gateway)) {
		note(c, false, "switching away from %s: not among the gateways asked for",
		     c->st.gateway);
		*away = true;
		return 0;
	}
	ret = renew_if_due(c, &renewed, &moved, err);
	if (ret < 0 || moved) {
		if (moved)
			note(c, false, "the gateway changed our lease's addresses or routes: "
			     "reconnecting");
		return ret;
	}
	res->renewed = renewed;
	c->st.failures = 0;
	c->st.last_error[0] = '\0';
	if (renewed || dirty)
		ret = save(c, err);
	if (ret == 0 && !c->dry_run)
		select_healthy(c, k, away);
	*done = !*away;
	return ret;
}

static int parse_list(const char *const *v, size_t n, enum cand_source src, struct candidate *out,
		      size_t max, size_t *count, struct verr *err)
{
	int ret = 0;

	*count = 0;
	for (size_t i = 0; ret == 0 && i < n && *count < max; i++) {
		ret = leaseclient_parse_gateway(v[i], src, &out[*count], err);
		if (ret == 0)
			(*count)++;
	}
	return ret;
}

static int try_all(struct client *c, struct cands *k, struct client_result *res, struct verr *err)
{
	struct verr e = { 0 };
	bool have_current = c->st.gateway[0] && c->st.lease_url[0] &&
			    leaseclient_parse_gateway(c->st.lease_url, CAND_CURRENT, &k->current,
						      NULL) == 0;
	int ret;

	if (have_current)
		strcpy(k->current.key, c->st.gateway);
	if (c->cfg->discover &&
	    leaseclient_discover(k->peers, k->npeers, c->node.ip6, k->ads, CLIENT_MAX_CANDIDATES,
				 &k->nads, c->note_fn, c->note_arg, &e) < 0)
		note(c, false, "discovery failed: %s", e.msg);
	gw_sort_discovered(k->ads, k->nads);
	k->n = leaseclient_order(k->args, k->nargs, k->conf, k->nconf, k->ads, k->nads,
			    have_current ? &k->current : NULL, c->st.failures, k->order,
			    sizeof(k->order) / sizeof(k->order[0]));
	gw_reorder(k->order, k->n, c->book, c->failed[0] ? c->failed : NULL,
		   c->prefer[0] ? c->prefer : NULL, time(NULL));
	if (!k->n)
		return verr_set(err, -EADDRNOTAVAIL, "no gateway to try: name one, set \"gateways\" "
				"in the config, or let peers announce theirs (\"discover\")");
	if (c->dry_run) {
		note(c, false, "would try %zu gateways, first %s", k->n,
		     k->order[0].key[0] ? k->order[0].key : k->order[0].url);
		res->changed = true;
		return 0;
	}
	for (size_t i = 0; i < k->n; i++) {
		verr_clear(&e);
		res->tried++;
		ret = attempt(c, &k->order[i], k->peers, k->npeers, &e);
		if (ret == 0) {
			note(c, false, "connected to %s", c->st.gateway);
			res->changed = true;
			/* The standbys' turn: off the critical path, traffic flows already. */
			tend_standby(c, k->order, k->n);
			return 0;
		}
		if (k->order[i].key[0]) {
			gw_failed(c->book, k->order[i].key, k->order[i].url, time(NULL), e.msg);
			book_save(c);
		}
		note(c, false, "%s: %s", k->order[i].key[0] ? k->order[i].key : k->order[i].url,
		     e.msg);
		snprintf(c->st.last_error, sizeof(c->st.last_error), "%.255s", e.msg);
	}
	c->st.failures++;
	save(c, &e);
	return verr_set(err, -EADDRNOTAVAIL, "no gateway could be used (%zu tried); last: %s",
			k->n, c->st.last_error);
}

/* A healthy gateway left by choice (failback, arguments): its lease is a standby now. */
static void keep_as_standby(struct client *c)
{
	struct client_state *e;

	gw_book_remove(c->book, c->st.gateway);
	if (c->book->n == GW_BOOK_MAX || !c->cfg->standby)
		return;
	e = &c->book->v[c->book->n++];
	*e = c->st;
	e->since = time(NULL);
	e->failures = 0;
	e->nroutes = 0;
	e->conn = -1;
	book_save(c);
}

/*
 * A broken tunnel goes first; nudge the peering to its gateway, which may
 * have restarted (cjdns takes about 70 s to notice by itself). A healthy one
 * the operator asked to leave (away) is no failure of its gateway.
 */
static void drop_current(struct client *c, const struct iptunnel_peer *peers, size_t npeers,
			 bool away)
{
	struct verr e = { 0 };

	if (away) {
		c->st.failures = 0;
		keep_as_standby(c);
	} else {
		c->st.failures++;
		snprintf(c->failed, sizeof(c->failed), "%s", c->st.gateway);
		gw_failed(c->book, c->st.gateway, c->st.lease_url, time(NULL), c->st.last_error);
		book_save(c);
	}
	if (!away && iptunnel_find_peer(peers, npeers, c->st.gateway) &&
	    iptunnel_reset_peering(c->cj, c->st.gateway, &e) == 0)
		note(c, true, "reset the peering with %s", c->st.gateway);
	if (teardown(c, &e) < 0)
		note(c, false, "tearing down the old tunnel: %s", e.msg);
	save(c, &e);
}

int client_connect(struct client *c, const char *const *gateways, size_t n,
		   struct client_result *res, struct verr *err)
{
	/*
	 * Not calloc: clearing 385 candidates (88 KiB) touches 22 fresh pages
	 * of heap, a page fault each, where a connect fills a few entries.
	 * Entries are written whole as they are filled (client_parse_gateway
	 * clears each, client_order copies them): only the counts need zero.
	 */
	struct cands *k = malloc(sizeof(*k));
	bool done = false, away = false;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!k)
		return verr_set(err, -ENOMEM, "out of memory");
	k->nargs = k->nconf = k->nads = k->n = k->npeers = 0;
	k->peers = NULL;
	ret = parse_list(gateways, n, CAND_ARG, k->args, CLIENT_MAX_CANDIDATES, &k->nargs, err);
	if (ret == 0)
		ret = parse_list((const char *const *)c->cfg->gateways.v, c->cfg->gateways.n,
				 CAND_CONFIG, k->conf, CLIENT_MAX_CANDIDATES, &k->nconf, err);
	if (ret < 0) {
		ret = -EINVAL;
		goto out;
	}
	ret = lock(c, err);
	if (ret == 0)
		ret = node(c, err);
	if (ret == 0)
		ret = iptunnel_peers(c->cj, &k->peers, &k->npeers, err);
	if (ret == 0)
		ret = kill_switch(c, k->peers, k->npeers, err);
	if (ret == 0 && c->st.connected)
		ret = keep(c, k, res, &done, &away, err);
	if (ret < 0 || done)
		goto out;
	if (c->st.connected && !c->dry_run)
		drop_current(c, k->peers, k->npeers, away);
	ret = try_all(c, k, res, err);
out:
	if (k)
		free(k->peers);
	free(k);
	return ret;
}

int client_disconnect(struct client *c, struct verr *err)
{
	struct client_state *st = &c->st;
	struct verr e = { 0 };
	int ret;

	ret = lock(c, err);
	if (ret < 0)
		return ret;
	/*
	 * Without cjdns the kernel side can still be cleaned up, by the state's
	 * names; and no call should wait for its timeout again.
	 */
	if (node(c, &e) < 0) {
		note(c, false, "%s; cleaning up the kernel side only", e.msg);
		if (e.code == -ETIMEDOUT || e.code == -ECONNREFUSED)
			c->cj = NULL;
	}
	if (c->dry_run) {
		if (st->connected)
			note(c, false, "would release the lease of %s and remove the tunnel",
			     st->gateway);
		note(c, false, "would remove the peer pins");
		for (size_t i = 0; i < c->book->n; i++)
			note(c, false, "would release the standby lease at %s",
			     c->book->v[i].lease_url);
		note(c, false, "would remove the kill switch, if set");
		return 0;
	}
	if (st->connected && c->have_node) {
		if (leaseclient_delete(st->lease_url, c->node.key, c->node.ip6, &e) < 0)
			note(c, false, "could not release the lease: %s", e.msg);
		else
			note(c, true, "released the lease at %s", st->lease_url);
	}
	/* Every standby lease too: a disconnected client holds addresses nowhere. */
	if (c->have_node)
		gw_release_all(c->book, hooks(c));
	c->book->n = 0;
	book_save(c);
	ret = teardown(c, err);
	verr_first(&ret, pin(c, NULL, 0, true, NULL, &e), err, &e);
	/* Last: until the tunnel and its routes are gone, nothing may leak past them. */
	verr_first(&ret, killswitch_disarm(c->cfg->run_dir, false, NULL, &e), err, &e);
	if (ret == 0)
		ret = client_state_remove(c->cfg->run_dir, err);
	return ret;
}

/*
 * No struct client and no state file: pins depend only on cjdns's peers and
 * the kernel's routes. Unpinning needs nothing from cjdns: pins are known
 * by their shape.
 */
int client_pin_peers(const struct visp_config *cfg, struct cjdns *cj, bool unpin, bool dry_run,
		     struct pin **plan, size_t *n, int *changed, struct verr *err)
{
	struct route_list rl[2] = { { 0 } };
	struct iptunnel_peer *peers = NULL;
	struct iptunnel_node me;
	struct verr e = { 0 };
	size_t np = 0;
	int ret;

	ret = iptunnel_node(cj, cfg, &me, unpin ? &e : err);
	if (ret < 0 && !unpin)
		return ret;
	if (!unpin) {
		ret = iptunnel_peers(cj, &peers, &np, err);
		if (ret < 0)
			goto out;
	}
	ret = route_list_load(AF_INET, &rl[0], err);
	if (ret == 0)
		ret = route_list_load(AF_INET6, &rl[1], err);
	if (ret == 0)
		ret = leasenet_pin(rl, peers, np, me.tun.ifindex, unpin, dry_run, NULL, NULL, plan,
				   n, changed, err);
out:
	route_list_free(&rl[0]);
	route_list_free(&rl[1]);
	free(peers);
	return ret;
}
