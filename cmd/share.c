// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp share up|down|status: this node routes for hosts on its LANs that
 * run no cjdns: the mesh for them always, the internet through the visp
 * tunnel while the node holds a lease. The work is in lib/share.c; this
 * file parses, prints and picks exit codes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clientstate.h"
#include "cmd.h"
#include "json.h"
#include "share.h"

/* The options of up and status: status looks at what up with them would do. */
struct share_args {
	const char **lans;	/* NULL-terminated; NULL when none given */
	size_t nlans;
	int fallback;
	bool nomem;
};

/* popt calls this for each --lan: the option repeats, one interface each time. */
static void lan_cb(poptContext pc, enum poptCallbackReason reason, const struct poptOption *opt,
		   const char *arg, const void *data)
{
	struct share_args *a = (struct share_args *)data;
	const char **v;

	if (reason != POPT_CALLBACK_REASON_OPTION || !arg)
		return;
	v = realloc(a->lans, (a->nlans + 2) * sizeof(*v));
	if (!v || !(v[a->nlans] = strdup(arg))) {
		a->nomem = true;
		if (v)
			a->lans = v;
		return;
	}
	v[++a->nlans] = NULL;
	a->lans = v;
}

static poptContext share_popt(int argc, const char **argv, struct share_args *a, int *rc)
{
	/* popt keeps pointers to the tables after this returns: static, and a set per call. */
	static struct poptOption lan_opts[] = {
		{ NULL, '\0', POPT_ARG_CALLBACK, (void *)lan_cb, 0, NULL, NULL },
		{ "lan", 'l', POPT_ARG_STRING, NULL, 'l',
		  "a LAN interface to share with (repeat for more; default: the config's "
		  "share.lan)", "IFACE" },
		POPT_TABLEEND
	};
	static struct poptOption opts[] = {
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, lan_opts, 0, NULL, NULL },
		{ "internet-fallback", 0, POPT_ARG_NONE, NULL, 0,
		  "without a lease, let LAN traffic out of the uplink", NULL },
		POPT_AUTOHELP POPT_TABLEEND
	};
	poptContext pc;

	lan_opts[0].descrip = (const char *)a;
	opts[1].arg = &a->fallback;
	pc = verb_popt(argc, argv, opts, NULL, 0, 0, rc);
	if (pc && a->nomem) {
		fprintf(stderr, "visp: share: out of memory\n");
		poptFreeContext(pc);
		*rc = EXIT_FAIL;
		pc = NULL;
	}
	return pc;
}

static void share_args_free(struct share_args *a)
{
	for (size_t i = 0; a->lans && a->lans[i]; i++)
		free((char *)a->lans[i]);
	free(a->lans);
	a->lans = NULL;
}

/*
 * The desired state. cjdns is asked for the node's address (the tun is the
 * interface that carries it) unless the config names the tun.
 */
static int open_share(struct share **s, const struct share_args *a, char ip6[IP6_BUFLEN],
		      struct verr *cjerr, struct verr *err)
{
	struct share_opts o = { .lans = a->lans, .fallback = a->fallback };
	int ret;

	o.nlans = a->nlans;
	ip6[0] = '\0';
	if (!ctx.cfg->tun && node_address(ip6, cjerr) < 0) {
		*err = *cjerr;
		ret = cjerr->code;
		goto out;
	}
	o.node_ip6 = ip6[0] ? ip6 : NULL;
	ret = share_open(s, ctx.cfg, &o, err);
out:
	return ret;
}

static int share_up_verb(int argc, const char **argv)
{
	struct share_args a = { 0 };
	struct verr err = { 0 }, cjerr = { 0 };
	struct share *s = NULL;
	struct json *j = NULL;
	char ip6[IP6_BUFLEN];
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = share_popt(argc, argv, &a, &rc);
	if (!pc)
		goto out;
	if (open_share(&s, &a, ip6, &cjerr, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	debug("tun %s, uplink %s, %zu LAN(s)", share_tun(s),
	      share_uplink(s) ? share_uplink(s) : "(none)", share_nlans(s));
	j = changes_begin();
	if (share_up(s, ctx.dry_run, print_change, j, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	changes_end(j);
	rc = EXIT_OK;
out:
	json_free(j);
	share_free(s);
	share_args_free(&a);
	if (pc)
		poptFreeContext(pc);
	return rc;
}

static int share_down_verb(int argc, const char **argv)
{
	return role_down_verb(argc, argv, share_down);
}


/* Where LAN hosts' internet traffic goes now: the lease decides, through routing. */
static const char *internet_way(const struct client_state *cs, bool fallback)
{
	if (cs->connected)
		return "tunnel";
	return fallback ? "uplink" : "blocked";
}

static void header_json(struct json *j, const struct share *s, const struct client_state *cs,
			bool fallback, const struct verr *serr)
{
	char buf[CIDR_STRLEN];

	json_kstr(j, "tun", s ? share_tun(s) : NULL);
	json_kstr(j, "uplink", s ? share_uplink(s) : NULL);
	json_key(j, "lans");
	json_arr(j);
	for (size_t i = 0; s && i < share_nlans(s); i++)
		json_str(j, share_lan(s, i));
	json_end_arr(j);
	json_kbool(j, "internet_fallback", fallback);
	json_key(j, "lease");
	json_obj(j);
	json_kbool(j, "held", cs->connected);
	json_kstr(j, "gateway", cs->connected ? cs->gateway : NULL);
	json_kstr(j, "ipv4", cs->connected && cs->lease.has_ipv4 ?
		  cidr_format(&cs->lease.ipv4, true, buf, sizeof(buf)) : NULL);
	json_kstr(j, "ipv6", cs->connected && cs->lease.has_ipv6 ?
		  cidr_format(&cs->lease.ipv6, true, buf, sizeof(buf)) : NULL);
	json_end_obj(j);
	json_kstr(j, "internet", internet_way(cs, fallback));
	json_kstr(j, "error", serr->code ? serr->msg : NULL);
}

static void header_human(const struct share *s, const struct client_state *cs, bool fallback,
			 const struct verr *serr)
{
	char b4[CIDR_STRLEN], b6[CIDR_STRLEN];
	const char *way = internet_way(cs, fallback);

	if (s) {
		printf("tun:       %s\n", share_tun(s));
		printf("uplink:    %s\n", share_uplink(s) ? share_uplink(s) : "(none)");
		printf("lan:      ");
		for (size_t i = 0; i < share_nlans(s); i++)
			printf(" %s", share_lan(s, i));
		printf("\n");
	} else if (serr->code) {
		printf("share:     %s\n", serr->msg);
	} else {
		printf("lan:       (none named: comparing with what 'share up' recorded)\n");
	}
	if (cs->connected)
		printf("lease:     from %s (%s%s%s)\n", cs->gateway,
		       cs->lease.has_ipv4 ? cidr_format(&cs->lease.ipv4, true, b4, sizeof(b4)) : "",
		       cs->lease.has_ipv4 && cs->lease.has_ipv6 ? ", " : "",
		       cs->lease.has_ipv6 ? cidr_format(&cs->lease.ipv6, true, b6, sizeof(b6)) : "");
	else
		printf("lease:     none\n");
	printf("internet:  %s\n", !strcmp(way, "tunnel") ? "through the visp tunnel" :
	       !strcmp(way, "uplink") ? "through the uplink (internet_fallback)" :
	       "blocked until this node holds a lease");
}

static int share_status_verb(int argc, const char **argv)
{
	struct share_args a = { 0 };
	struct verr err = { 0 }, cjerr = { 0 }, serr = { 0 };
	struct client_state cs;
	struct status_tally st = { 0 };
	struct share *s = NULL;
	char ip6[IP6_BUFLEN];
	bool fallback, recorded_only;
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = share_popt(argc, argv, &a, &rc);
	if (!pc)
		goto out;
	/*
	 * Show as much as can be known: no cjdns or a bad config are part of
	 * the status. With no LAN named (up had them on its command line),
	 * what up recorded is all there is to compare.
	 */
	recorded_only = !a.nlans && !ctx.cfg->share_lan.n;
	if (!recorded_only && open_share(&s, &a, ip6, &cjerr, &serr) < 0)
		s = NULL;
	fallback = s ? share_fallback(s) : a.fallback || ctx.cfg->share_internet_fallback;
	if (client_state_load(ctx.cfg->run_dir, &cs, NULL) < 0)
		client_state_init(&cs);
	st.j = ctx.json ? json_new(false) : NULL;
	if (st.j) {
		json_obj(st.j);
		header_json(st.j, s, &cs, fallback, &serr);
		json_key(st.j, "items");
		json_arr(st.j);
	} else {
		header_human(s, &cs, fallback, &serr);
		printf("state:\n");
	}
	if (share_status(s, ctx.cfg->run_dir, status_item, &st, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	status_finish(&st, s || recorded_only);
	rc = EXIT_OK;
out:
	json_free(st.j);
	share_free(s);
	share_args_free(&a);
	if (pc)
		poptFreeContext(pc);
	return rc;
}

const struct verb share_verbs[] = {
	{ "up", share_up_verb, NEED_ROOT | NEED_CONFIG,
	  "LAN hosts reach the mesh, and the internet while leased, through this node" },
	{ "down", share_down_verb, NEED_ROOT | NEED_CONFIG, "remove exactly what 'up' added" },
	{ "status", share_status_verb, NEED_CONFIG, "what is in place, the lease, the way out" },
	{ NULL, NULL, 0, NULL }
};

int cmd_share(int argc, const char **argv)
{
	return run_verb("share", share_verbs, argc, argv);
}
