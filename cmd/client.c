// SPDX-License-Identifier: GPL-3.0-or-later
/* visp client: a customer's side of a virtual ISP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "cmd.h"
#include "json.h"

/* Progress to stderr; under -n what would change is the result, on stdout. */
static void on_note(void *arg, bool detail, const char *msg)
{
	if (detail)
		debug("%s", msg);
	else if (ctx.dry_run)
		printf("%s\n", msg);
	else
		info("%s", msg);
}

/* The client, on the dispatcher's cjdns (NEED_CJDNS); errors already reported. */
static int open_client(struct client **cl, int wait_s)
{
	struct client_opts o = {
		.cfg = ctx.cfg, .cj = ctx.cj, .dry_run = ctx.dry_run, .wait_ms = wait_s * 1000,
		.note = on_note,
	};
	struct verr err = { 0 };

	return client_open(cl, &o, &err) < 0 ? report(&err) : 0;
}

static void print_routes(struct json *j, const struct offer *o)
{
	char buf[CIDR_STRLEN];

	json_key(j, "routes");
	json_arr(j);
	if (o->default_route)
		json_str(j, "default");
	for (int i = 0; i < o->nroutes; i++)
		json_str(j, cidr_format(&o->routes[i], true, buf, sizeof(buf)));
	json_end_arr(j);
}

static void print_json(const struct client_state *st, const struct client_health_report *h)
{
	const struct offer *o = &st->lease;
	char a4[CIDR_STRLEN], a6[CIDR_STRLEN], when[32];
	struct json *j = json_new(true);

	if (!j)
		return;
	json_obj(j);
	json_kbool(j, "connected", st->connected);
	json_kstr(j, "health", client_health_name(h->health));
	json_kstr(j, "why", h->health == HEALTH_OK ? NULL : h->why);
	json_kbool(j, "probed", h->probed);
	json_kstr(j, "gateway", st->gateway[0] ? st->gateway : NULL);
	json_kstr(j, "lease_url", st->lease_url[0] ? st->lease_url : NULL);
	json_kint(j, "failures", st->failures);
	json_kstr(j, "last_error", st->last_error[0] ? st->last_error : NULL);
	if (st->connected) {
		proto_format_time(o->expires, when);
		json_kint(j, "connection", st->conn);
		json_kstr(j, "tun", st->tun);
		json_kstr(j, "ipv4_address", o->has_ipv4 ? cidr_format(&o->ipv4, true, a4,
									sizeof(a4)) : NULL);
		json_kstr(j, "ipv6_address", o->has_ipv6 ? cidr_format(&o->ipv6, true, a6,
									sizeof(a6)) : NULL);
		print_routes(j, o);
		json_kstr(j, "expires", when);
		json_kint(j, "since", st->since);
		json_kbool(j, "dns", st->dns);
	}
	json_end_obj(j);
	printf("%s\n", json_text(j, NULL) ?: "{}");
	json_free(j);
}

static void print_human(const struct client_state *st, const struct client_health_report *h)
{
	const struct offer *o = &st->lease;
	char a4[CIDR_STRLEN] = "-", a6[CIDR_STRLEN] = "-", r[CIDR_STRLEN], when[32];

	printf("state:      %s%s%s\n", client_health_name(h->health),
	       h->health == HEALTH_OK ? "" : ": ", h->health == HEALTH_OK ? "" : h->why);
	if (st->gateway[0])
		printf("gateway:    %s%s\n", st->gateway, st->connected ? "" : " (last)");
	if (st->failures || st->last_error[0])
		printf("failures:   %d%s%s\n", st->failures, st->last_error[0] ? ", last: " : "",
		       st->last_error);
	if (!st->connected)
		return;
	if (o->has_ipv4)
		cidr_format(&o->ipv4, true, a4, sizeof(a4));
	if (o->has_ipv6)
		cidr_format(&o->ipv6, true, a6, sizeof(a6));
	proto_format_time(o->expires, when);
	printf("lease:      %s\n", st->lease_url);
	printf("connection: %lld on %s\n", st->conn, st->tun);
	printf("ipv4:       %s\nipv6:       %s\n", a4, a6);
	printf("routes:    %s", o->default_route ? " default" : "");
	for (int i = 0; i < o->nroutes; i++)
		printf(" %s", cidr_format(&o->routes[i], true, r, sizeof(r)));
	printf("\nexpires:    %s\n", when);
}

static void print_status(const struct client_state *st, const struct client_health_report *h)
{
	if (ctx.quiet)
		return;
	if (ctx.json)
		print_json(st, h);
	else
		print_human(st, h);
}

static int client_connect_cmd(int argc, const char **argv)
{
	int wait_s = 12;
	struct poptOption opts[] = {
		{ "wait", 'w', POPT_ARG_INT, &wait_s, 0,
		  "seconds to wait for the gateway's addresses (default 12)", "SECONDS" },
		POPT_AUTOHELP POPT_TABLEEND
	};
	struct client_health_report h = { .health = HEALTH_OK };
	struct client_result res;
	struct client *cl = NULL;
	struct verr err = { 0 };
	const char **args;
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, "[GATEWAY...]", 0, -1, &rc);
	if (!pc)
		return rc;
	if (wait_s < 1 || wait_s > 600) {
		rc = usage_error("--wait must be 1 to 600 seconds");
		goto out;
	}
	rc = open_client(&cl, wait_s);
	if (rc)
		goto out;
	args = poptGetArgs(pc);
	if (client_connect(cl, args, verb_nargs(pc), &res, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	if (!res.changed)
		debug("healthy: nothing to do%s", res.renewed ? " (lease renewed)" : "");
	if (!ctx.dry_run)
		print_status(client_get_state(cl), &h);
	rc = EXIT_OK;
out:
	client_close(cl);
	poptFreeContext(pc);
	return rc;
}

static int client_disconnect_cmd(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct client *cl = NULL;
	struct verr err = { 0 };
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	rc = open_client(&cl, 0);
	if (rc)
		goto out;
	rc = client_disconnect(cl, &err) < 0 ? report(&err) : EXIT_OK;
out:
	client_close(cl);
	poptFreeContext(pc);
	return rc;
}

/* status and check: the same report; check probes and answers with its exit code. */
static int show(int argc, const char **argv, bool probe)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct client_health_report h;
	struct client *cl = NULL;
	struct verr err = { 0 };
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	rc = open_client(&cl, 0);
	if (rc)
		goto out;
	if (client_check(cl, probe, &h, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	print_status(client_get_state(cl), &h);
	rc = !probe || h.health == HEALTH_OK ? EXIT_OK : EXIT_UNHEALTHY;
out:
	client_close(cl);
	poptFreeContext(pc);
	return rc;
}

static int client_status_cmd(int argc, const char **argv)
{
	return show(argc, argv, false);
}

static int client_check_cmd(int argc, const char **argv)
{
	return show(argc, argv, true);
}

const struct verb client_verbs[] = {
	{ "connect", client_connect_cmd, NEED_ROOT | NEED_CJDNS,
	  "lease from a gateway and send internet traffic through it (fails over)" },
	{ "disconnect", client_disconnect_cmd, NEED_ROOT | NEED_CJDNS,
	  "release the lease and restore the routing of before" },
	{ "status", client_status_cmd, NEED_CJDNS, "the current gateway, lease and tunnel" },
	{ "check", client_check_cmd, NEED_CJDNS,
	  "exit 0 when the tunnel is healthy, 5 when not (changes nothing)" },
	{ NULL, NULL, 0, NULL }
};

int cmd_client(int argc, const char **argv)
{
	return run_verb("client", client_verbs, argc, argv);
}
