// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp tunnel up|down|status: the gateway's side of the kernel (addresses and
 * routes on the cjdns tun, forwarding, NAT and forward rules, NDP proxy).
 * The work is in lib/tunnel.c; this file parses, prints and picks exit codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "gateway.h"
#include "json.h"
#include "leasedb.h"
#include "tunnel.h"
#include "usage.h"

struct leased6 {
	struct cidr *v;
	size_t n, cap;
	int64_t now;
};

static int collect_v6(const struct lease *l, void *arg)
{
	struct leased6 *s = arg;
	struct cidr *v;

	if (!l->has_ipv6 || !lease_is_current(l, s->now))
		return 0;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		v = realloc(s->v, s->cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
	}
	s->v[s->n++] = l->ipv6;
	return 0;
}

/* Counting (kept when already there: usage.h), limits and quotas. */
static int apply_usage(struct tunnel *t, struct gateway *gw, struct verr *err)
{
	struct usage_net net = {
		.tun = tunnel_tun(t), .uplink = tunnel_uplink(t),
		.pool4 = tunnel_pool(t, AF_INET), .pool6 = tunnel_pool(t, AF_INET6),
	};
	struct usage_report rep;
	int ret;

	ret = usage_up(gateway_db(gw), ctx.cfg, &net, time(NULL), &rep, err);
	if (ret == 0)
		usage_warn(&rep);
	return ret;
}

/*
 * After the kernel part: the lease store back into cjdns (what lease sync
 * does: a restarted cjdroute has forgotten every allowConnection), and NDP
 * proxy entries for the leased IPv6 addresses when the pool needs them.
 */
static int apply_leases(struct tunnel *t, struct cjdns *cj, struct json *j, struct verr *err)
{
	struct leased6 six = { .now = time(NULL) };
	struct gateway *gw = NULL;
	struct sync_report rep;
	int ret;

	if (ctx.dry_run) {
		print_change("sync", "the lease store to cjdns (as 'visp lease sync')", j);
		print_change("count", "usage, limits and quotas per lease (table inet "
			     USAGE_TABLE ")", j);
		return 0;
	}
	ret = gateway_open(&gw, ctx.cfg, cj, err);
	if (ret == 0)
		ret = gateway_sync(gw, &rep, err);
	if (ret < 0) {
		verr_wrap(err, "lease sync");
		goto out;
	}
	if (rep.added || rep.removed_expired || rep.removed_dups)
		info("lease sync: %ld added, %ld expired removed, %ld duplicates removed",
		     rep.added, rep.removed_expired, rep.removed_dups);
	ret = leasedb_foreach(gateway_db(gw), collect_v6, &six, err);
	if (ret == -ENOMEM)
		verr_set(err, ret, "out of memory");
	if (ret == 0)
		ret = tunnel_ndp_sync(t, six.v, six.n, false, print_change, j, err);
	if (ret == 0)
		ret = apply_usage(t, gw, err);
out:
	free(six.v);
	gateway_close(gw);
	return ret;
}

static int tunnel_up_verb(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct verr err = { 0 };
	struct tunnel *t = NULL;
	struct json *j = NULL;
	char ip6[IP6_BUFLEN] = "";
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	/* cjdns must be running even with 'tun' set: the gateway is useless without it. */
	if (node_address(ip6, &err) < 0 || tunnel_open(&t, ctx.cfg, ip6, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	debug("tun %s (mtu %u), uplink %s", tunnel_tun(t), tunnel_tun_mtu(t), tunnel_uplink(t));
	j = changes_begin();
	if (tunnel_up(t, ctx.dry_run, print_change, j, &err) < 0 ||
	    apply_leases(t, ctx.cj, j, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	changes_end(j);
	rc = EXIT_OK;
out:
	json_free(j);
	tunnel_free(t);
	poptFreeContext(pc);
	return rc;
}

/*
 * Usage counted since the last fold goes to the store first (best effort:
 * down must work without a store too), then the counting table and visp's
 * qdiscs go, then what up recorded.
 */
static int down_with_usage(const char *run_dir, bool dry_run, kstate_change_cb cb, void *arg,
			   struct verr *err)
{
	struct gateway *gw = NULL;
	struct usage_report rep;
	struct verr ferr = { 0 };
	int ret;

	if (dry_run) {
		cb("remove", "table inet " USAGE_TABLE " and visp's qdiscs", arg);
		return tunnel_down(run_dir, dry_run, cb, arg, err);
	}
	if (gateway_open(&gw, ctx.cfg, NULL, &ferr) < 0)
		debug("no lease store to fold usage into: %s", ferr.msg);
	else if (usage_sync(gateway_db(gw), ctx.cfg, time(NULL), &rep, &ferr) < 0)
		info("visp: tunnel down: warning: usage since the last sync is not kept: %s",
		     ferr.msg);
	gateway_close(gw);
	ret = usage_down(run_dir, err);
	return ret < 0 ? ret : tunnel_down(run_dir, dry_run, cb, arg, err);
}

static int tunnel_down_verb(int argc, const char **argv)
{
	return role_down_verb(argc, argv, down_with_usage);
}


static void status_header(struct json *j, const struct tunnel *t, const char *ip6,
			  const struct verr *cjerr, const struct verr *terr)
{
	const struct visp_config *cfg = ctx.cfg;

	if (j) {
		json_key(j, "cjdns");
		json_obj(j);
		json_kbool(j, "reachable", !cjerr->code);
		json_kstr(j, "address", ip6[0] ? ip6 : NULL);
		json_kstr(j, "error", cjerr->code ? cjerr->msg : NULL);
		json_end_obj(j);
		json_kstr(j, "tun", t ? tunnel_tun(t) : NULL);
		json_kint(j, "tun_mtu", t ? (long long)tunnel_tun_mtu(t) : 0);
		json_kstr(j, "uplink", t ? tunnel_uplink(t) : NULL);
		json_kstr(j, "ipv4_pool", cfg->ipv4_pool);
		json_kstr(j, "ipv6_pool", cfg->ipv6_pool);
		json_kstr(j, "error", terr->code ? terr->msg : NULL);
		return;
	}
	if (cjerr->code)
		printf("cjdns:     unreachable (%s)\n", cjerr->msg);
	else
		printf("cjdns:     node %s\n", ip6);
	if (t) {
		printf("tun:       %s (mtu %u)\n", tunnel_tun(t), tunnel_tun_mtu(t));
		printf("uplink:    %s\n", tunnel_uplink(t));
	} else if (terr->code) {
		printf("gateway:   %s\n", terr->msg);
	}
	printf("ipv4_pool: %s\n", cfg->ipv4_pool ? cfg->ipv4_pool : "(none)");
	printf("ipv6_pool: %s\n", cfg->ipv6_pool ? cfg->ipv6_pool : "(none)");
}

static int tunnel_status_verb(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct verr err = { 0 }, cjerr = { 0 }, terr = { 0 };
	struct status_tally st = { 0 };
	struct tunnel *t = NULL;
	char ip6[IP6_BUFLEN] = "";
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	/* Show as much as can be known: a dead cjdns or a bad config is part of the status. */
	if (node_address(ip6, &cjerr) < 0)
		ip6[0] = '\0';
	if ((ip6[0] || ctx.cfg->tun) && tunnel_open(&t, ctx.cfg, ip6[0] ? ip6 : NULL, &terr) < 0)
		t = NULL;
	else if (!t)
		verr_set(&terr, cjerr.code, "cannot find the tun device without cjdns");
	st.j = ctx.json ? json_new(false) : NULL;
	if (st.j)
		json_obj(st.j);
	status_header(st.j, t, ip6, &cjerr, &terr);
	if (st.j) {
		json_key(st.j, "items");
		json_arr(st.j);
	} else {
		printf("state:\n");
	}
	if (tunnel_status(t, ctx.cfg->run_dir, status_item, &st, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	status_finish(&st, t != NULL);
	rc = EXIT_OK;
out:
	json_free(st.j);
	tunnel_free(t);
	poptFreeContext(pc);
	return rc;
}

const struct verb tunnel_verbs[] = {
	{ "up", tunnel_up_verb, NEED_ROOT | NEED_CJDNS,
	  "gateway addresses, routes, forwarding and NAT for the pools" },
	{ "down", tunnel_down_verb, NEED_ROOT | NEED_CONFIG, "remove exactly what 'up' added" },
	{ "status", tunnel_status_verb, NEED_CONFIG, "what is in place and what is missing" },
	{ NULL, NULL, 0, NULL }
};

int cmd_tunnel(int argc, const char **argv)
{
	return run_verb("tunnel", tunnel_verbs, argc, argv);
}
