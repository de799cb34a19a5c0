// SPDX-License-Identifier: GPL-3.0-or-later
/* visp lease: the gateway's leases, by hand and over HTTP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "gateway.h"
#include "json.h"
#include "metrics.h"
#include "server.h"
#include "units.h"
#include "usage.h"

/* A silent or slow lease client is cut off after this long. */
#define SERVE_TIMEOUT_MS 5000

/*
 * Open the store (and cjdns when with_cjdns); messages already reported.
 * Without cjdns (list, show) the command only reads: the store is opened
 * read-only, so it works on a read-only file system and writes nothing.
 */
static int open_gateway(struct gateway **gw, bool with_cjdns)
{
	struct verr err = { 0 };
	int ret = 0;

	if (with_cjdns && !verb_cjdns(&err))
		ret = err.code;
	if (ret == 0)
		ret = with_cjdns ? gateway_open(gw, ctx.cfg, ctx.cj, &err)
				 : gateway_open_ro(gw, ctx.cfg, &err);
	return ret < 0 ? report(&err) : 0;
}

static void json_kopt(struct json *j, const char *k, uint64_t v)
{
	json_key(j, k);
	if (v)
		json_int(j, (long long)v);
	else
		json_str(j, NULL);
}

static void print_lease_json(struct json *j, const struct lease *l)
{
	char a4[CIDR_STRLEN], a6[CIDR_STRLEN], when[32], start[32];
	struct usage_limits u;

	proto_format_time(l->expires, when);
	json_obj(j);
	json_kstr(j, "public_key", l->key);
	json_kstr(j, "name", l->name[0] ? l->name : NULL);
	json_kstr(j, "ipv4_address", l->has_ipv4 ? cidr_format(&l->ipv4, true, a4, sizeof(a4))
						 : NULL);
	json_kstr(j, "ipv6_address", l->has_ipv6 ? cidr_format(&l->ipv6, true, a6, sizeof(a6))
						 : NULL);
	json_kstr(j, "expires", when);
	json_kbool(j, "current", lease_is_current(l, time(NULL)));
	json_kbool(j, "reserved", l->reserved);
	json_key(j, "connection");
	if (l->conn >= 0)
		json_int(j, l->conn);
	else
		json_str(j, NULL);
	usage_limits(ctx.cfg, l, usage_period_start(ctx.cfg, time(NULL)), &u);
	proto_format_time(u.period_start, start);
	json_kint(j, "down_bytes", (long long)u.down);
	json_kint(j, "up_bytes", (long long)u.up);
	json_kstr(j, "period_start", start);
	json_kopt(j, "rate_down", u.rate_down);
	json_kopt(j, "rate_up", u.rate_up);
	json_kopt(j, "quota_bytes", u.quota);
	json_kstr(j, "quota_state", usage_quota_state_name(u.state));
	json_end_obj(j);
}

/* "10mbit/2mbit", "-" for none; "50.0G", "50.0G throttled". */
static void format_limits(const struct usage_limits *u, char *rate, size_t rlen, char *quota,
			  size_t qlen)
{
	char d[24] = "-", up[24] = "-", q[24];

	if (u->rate_down)
		units_format_rate(u->rate_down, d, sizeof(d));
	if (u->rate_up)
		units_format_rate(u->rate_up, up, sizeof(up));
	snprintf(rate, rlen, "%s/%s", d, up);
	if (!u->rate_down && !u->rate_up)
		snprintf(rate, rlen, "-");
	if (!u->quota)
		snprintf(quota, qlen, "-");
	else
		snprintf(quota, qlen, "%s%s%s", units_format_size(u->quota, q, sizeof(q)),
			 u->state ? " " : "", u->state ? usage_quota_state_name(u->state) : "");
}

static void print_lease_line(const struct lease *l)
{
	char a4[CIDR_STRLEN] = "-", a6[CIDR_STRLEN] = "-", when[32], d[16], up[16], rate[56];
	char quota[40];
	struct usage_limits u;

	if (l->has_ipv4)
		cidr_format(&l->ipv4, false, a4, sizeof(a4));
	if (l->has_ipv6)
		cidr_format(&l->ipv6, false, a6, sizeof(a6));
	proto_format_time(l->expires, when);
	/*
	 * Which period the stored usage counts in matters only when there is
	 * some: its start is in local time, and the first use of local time
	 * reads /etc/localtime (a grant's line would pay for it for nothing).
	 */
	usage_limits(ctx.cfg, l, l->down_bytes || l->up_bytes ?
		     usage_period_start(ctx.cfg, time(NULL)) : l->period_start, &u);
	format_limits(&u, rate, sizeof(rate), quota, sizeof(quota));
	printf("%-54s  %-15s  %-24s  %-20s  %6s  %6s  %-17s  %-15s  %s%s\n", l->key, a4, a6,
	       lease_is_current(l, time(NULL)) ? when : "expired",
	       units_format_size(u.down, d, sizeof(d)), units_format_size(u.up, up, sizeof(up)),
	       rate, quota, l->name[0] ? l->name : "", l->reserved ? " (reserved)" : "");
}

static void print_one(const struct lease *l)
{
	struct json *j;

	if (!ctx.json) {
		print_lease_line(l);
		return;
	}
	j = json_new(true);
	print_lease_json(j, l);
	printf("%s\n", json_text(j, NULL));
	json_free(j);
}

static int parse_want(const char *s, int family, struct cidr *out, struct cidr **ptr)
{
	struct verr err = { 0 };

	*ptr = NULL;
	if (!s)
		return 0;
	if (cidr_parse_addr(s, family, out, &err) < 0)
		return usage_error("%s", err.msg);
	*ptr = out;
	return 0;
}

/* --rate/--quota: a usage error quoting the text when it is not one. */
static int parse_limits(const char *rate, const char *quota, int64_t *rd, int64_t *ru, int64_t *q)
{
	struct verr err = { 0 };

	if (rate && units_parse_rates(rate, rd, ru, &err) < 0)
		return usage_error("--rate: %s", err.msg);
	if (quota && units_parse_limit(quota, false, q, &err) < 0)
		return usage_error("--quota: %s", err.msg);
	return 0;
}

/* Usage into the store, limits and quotas into the kernel: root's work (usage.h). */
static int sync_usage(struct gateway *gw, struct verr *err)
{
	struct usage_report rep;
	int ret = 0;

	if (geteuid() == 0)
		ret = usage_sync(gateway_db(gw), ctx.cfg, time(NULL), &rep, err);
	if (ret == 0 && geteuid() == 0)
		usage_warn(&rep);
	return ret;
}

/*
 * Store a grant's --rate/--quota and, as root, apply them at once (else the
 * next lease sync or tunnel up does); *l is the lease as it now is.
 */
static int set_limits(struct gateway *gw, struct lease *l, const int64_t *rd, const int64_t *ru,
		      const int64_t *q)
{
	struct verr err = { 0 };

	if (!rd && !q)
		return EXIT_OK;
	if (leasedb_set_limits(gateway_db(gw), l->key, rd, ru, q, &err) < 0 ||
	    leasedb_get(gateway_db(gw), l->key, l, &err) < 0 || sync_usage(gw, &err) < 0)
		return report(&err);
	if (geteuid() != 0)
		info("visp: lease grant: the limits take effect at the next 'visp lease sync' "
		     "run as root");
	return EXIT_OK;
}

static int lease_grant(int argc, const char **argv)
{
	/* popt allocates option strings: freed at out. */
	char *ipv4 = NULL, *ipv6 = NULL, *name = NULL, *rate = NULL, *quota = NULL;
	struct poptOption opts[] = {
		{ "ipv4", '4', POPT_ARG_STRING, &ipv4, 0, "reserve this IPv4 address", "ADDR" },
		{ "ipv6", '6', POPT_ARG_STRING, &ipv6, 0, "reserve this IPv6 address", "ADDR" },
		{ "name", 0, POPT_ARG_STRING, &name, 0, "a note stored with the lease", "TEXT" },
		{ "rate", 0, POPT_ARG_STRING, &rate, 0,
		  "rate limit of this lease, down[/up] (e.g. 10mbit/2mbit), none or default",
		  "DOWN[/UP]" },
		{ "quota", 0, POPT_ARG_STRING, &quota, 0,
		  "bytes per quota period for this lease (e.g. 50G), none or default", "SIZE" },
		POPT_AUTOHELP POPT_TABLEEND
	};
	int64_t rd, ru, q;
	struct cidr w4, w6, *p4 = NULL, *p6 = NULL;
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	struct lease l;
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, "KEY", 1, 1, &rc);
	if (!pc)
		return rc;
	if (name && strlen(name) > LEASEDB_NAME_MAX) {
		rc = usage_error("--name is longer than %d characters", LEASEDB_NAME_MAX);
		goto out;
	}
	if ((rc = parse_want(ipv4, AF_INET, &w4, &p4)) || (rc = parse_want(ipv6, AF_INET6, &w6, &p6)))
		goto out;
	if ((rc = parse_limits(rate, quota, &rd, &ru, &q)))
		goto out;
	if (ctx.dry_run) {
		info("would grant a lease to %s", poptGetArgs(pc)[0]);
		rc = EXIT_OK;
		goto out;
	}
	rc = open_gateway(&gw, true);
	if (rc)
		goto out;
	rc = gateway_grant(gw, poptGetArgs(pc)[0], name, p4, p6, &l, &err) < 0 ? report(&err)
										 : EXIT_OK;
	if (rc == EXIT_OK)
		rc = set_limits(gw, &l, rate ? &rd : NULL, rate ? &ru : NULL, quota ? &q : NULL);
	if (rc == EXIT_OK)
		print_one(&l);
out:
	free(rate);
	free(quota);
	free(ipv4);
	free(ipv6);
	free(name);
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

static int lease_revoke(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, "KEY", 1, 1, &rc);
	if (!pc)
		return rc;
	if (ctx.dry_run) {
		info("would revoke the lease of %s", poptGetArgs(pc)[0]);
		rc = EXIT_OK;
		goto out;
	}
	rc = open_gateway(&gw, true);
	if (rc)
		goto out;
	rc = gateway_revoke(gw, poptGetArgs(pc)[0], NULL, &err) < 0 ? report(&err) : EXIT_OK;
out:
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

struct list_ctx {
	bool all;
	struct json *j;		/* NULL: a table */
};

static int list_one(const struct lease *l, void *arg)
{
	struct list_ctx *lc = arg;

	if (!lc->all && !lease_is_current(l, time(NULL)))
		return 0;
	if (lc->j)
		print_lease_json(lc->j, l);
	else
		print_lease_line(l);
	return 0;
}

static int lease_list(int argc, const char **argv)
{
	int all = 0;
	struct poptOption opts[] = {
		{ "all", 'a', POPT_ARG_NONE, &all, 0, "include expired and revoked leases", NULL },
		POPT_AUTOHELP POPT_TABLEEND
	};
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	struct list_ctx lc = { 0 };
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	rc = open_gateway(&gw, false);
	if (rc)
		goto out;
	lc.all = all;
	if (ctx.json) {
		lc.j = json_new(true);
		if (!lc.j) {
			rc = EXIT_FAIL;
			goto out;
		}
		json_arr(lc.j);
	} else if (!ctx.quiet) {
		printf("%-54s  %-15s  %-24s  %-20s  %6s  %6s  %-17s  %-15s  %s\n", "KEY", "IPV4",
		       "IPV6", "EXPIRES", "DOWN", "UP", "RATE", "QUOTA", "NAME");
	}
	rc = leasedb_foreach(gateway_db(gw), list_one, &lc, &err) < 0 ? report(&err) : EXIT_OK;
	if (lc.j) {
		json_end_arr(lc.j);
		if (rc == EXIT_OK)
			printf("%s\n", json_text(lc.j, NULL));
	}
out:
	json_free(lc.j);
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

static int lease_show(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	struct lease l;
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, "KEY", 1, 1, &rc);
	if (!pc)
		return rc;
	rc = open_gateway(&gw, false);
	if (rc)
		goto out;
	if (leasedb_get(gateway_db(gw), poptGetArgs(pc)[0], &l, &err) < 0) {
		if (err.code == -ENOENT)
			verr_set(&err, -ENOENT, "no lease for '%s'", poptGetArgs(pc)[0]);
		rc = report(&err);
		goto out;
	}
	print_one(&l);
	rc = EXIT_OK;
out:
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

static void print_sync_json(const struct sync_report *rep)
{
	struct json *j = json_new(false);

	if (!j)
		return;
	json_obj(j);
	json_kint(j, "checked", rep->checked);
	json_kint(j, "added", rep->added);
	json_kint(j, "removed_expired", rep->removed_expired);
	json_kint(j, "removed_duplicates", rep->removed_dups);
	json_kint(j, "foreign", rep->foreign);
	json_kint(j, "failed", rep->failed);
	json_kbool(j, "cjdns_restarted", rep->restarted);
	json_kbool(j, "cjdns_restarted_during_sync", rep->restarted_during);
	json_end_obj(j);
	printf("%s\n", json_text(j, NULL) ?: "{}");
	json_free(j);
}

static int lease_sync(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct gateway *gw = NULL;
	struct sync_report rep;
	struct verr err = { 0 };
	int rc = EXIT_USAGE, ret;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	if (ctx.dry_run) {
		info("would reconcile cjdns's IpTunnel with the lease store");
		rc = EXIT_OK;
		goto out;
	}
	rc = open_gateway(&gw, true);
	if (rc)
		goto out;
	ret = gateway_sync(gw, &rep, &err);
	if (ret == 0)
		ret = sync_usage(gw, &err);
	if (ctx.json)
		print_sync_json(&rep);
	else if (!ctx.quiet)
		printf("%ld in place, %ld added, %ld expired removed, %ld duplicates removed, "
		       "%ld not made by visp%s\n", rep.checked, rep.added, rep.removed_expired,
		       rep.removed_dups, rep.foreign,
		       rep.restarted_during ? " (cjdns restarted during the sync: synced again)" :
		       rep.restarted ? " (cjdns restarted)" : "");
	rc = ret < 0 ? report(&err) : EXIT_OK;
out:
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

/*
 * OpenMetrics for node_exporter's textfile collector. As root, usage is
 * folded first (as lease sync does), so the timer that runs this keeps the
 * store within a minute of the kernel's counters.
 */
static int lease_metrics(int argc, const char **argv)
{
	char *file = NULL, *text = NULL;
	struct poptOption opts[] = {
		{ "output", 'o', POPT_ARG_STRING, &file, 0,
		  "write to FILE atomically instead of stdout", "FILE" },
		POPT_AUTOHELP POPT_TABLEEND
	};
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	if (geteuid() == 0 ? gateway_open(&gw, ctx.cfg, NULL, &err) < 0 || sync_usage(gw, &err) < 0
			   : gateway_open_ro(&gw, ctx.cfg, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	if (metrics_text(gateway_db(gw), ctx.cfg, time(NULL), &text, &err) < 0 ||
	    (file && metrics_write(file, text, &err) < 0)) {
		rc = report(&err);
		goto out;
	}
	if (!file)
		fputs(text, stdout);
	rc = EXIT_OK;
out:
	free(file);
	free(text);
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

/* The log line (stderr goes to the journal) says who asked what. */
static void log_request(const struct http_request *req, const char *mode, int status,
			const char *why)
{
	if (ctx.quiet)
		return;
	fprintf(stderr, "visp: lease serve: %s %s %s from %s -> %d%s%s\n",
		req->method[0] ? req->method : "-", req->path[0] ? req->path : "-", mode,
		req->remote_addr[0] ? req->remote_addr : "?", status,
		status >= 400 && why && why[0] ? ": " : "", status >= 400 && why ? why : "");
}

static void log_socket(void *arg, const struct http_request *req, int status, const char *why)
{
	log_request(req, "socket", status, why);
}

/*
 * The listening sockets systemd passed (sd_listen_fds(3) semantics): its
 * variables are removed, so nothing started from here takes them too. 0
 * when there are none, or they are not listening sockets (Accept=yes passes
 * the connection as fd 3 too: then stdin is that connection).
 */
static int listen_fds(int *n)
{
	int ret = server_listen_fds(getenv("LISTEN_PID"), getenv("LISTEN_FDS"), getpid());

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	*n = 0;
	if (ret < 0)
		return usage_error("LISTEN_PID or LISTEN_FDS is malformed");
	for (int i = 0; i < ret; i++)
		if (!server_listening(SERVER_LISTEN_FDS_START + i))
			return 0;
	*n = ret;
	return 0;
}

/* Accept=no: one process for every connection of the sockets, until idle. */
static int serve_sockets(int nfds, int idle, int max_conns)
{
	struct server_opts o = { .nfds = nfds, .timeout_ms = SERVE_TIMEOUT_MS,
				 .idle_ms = idle * 1000, .max_conns = max_conns,
				 .log = log_socket };
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	int *fds = calloc(nfds, sizeof(*fds)), rc;

	if (!fds)
		return EXIT_FAIL;
	for (int i = 0; i < nfds; i++)
		fds[i] = SERVER_LISTEN_FDS_START + i;
	o.fds = fds;
	/* The admin connection and the store stay open from one request to the next. */
	rc = open_gateway(&gw, true);
	if (rc == 0)
		rc = server_run(gw, &o, &err) < 0 ? report(&err) : EXIT_OK;
	gateway_close(gw);
	free(fds);
	return rc;
}

/*
 * systemd's listening sockets (Accept=no): every connection in one process.
 * Else one request per run: CGI when a web server says so
 * (GATEWAY_INTERFACE), else inetd style, stdin and stdout being the
 * accepted socket.
 */
static int lease_serve(int argc, const char **argv)
{
	int cgi = 0, idle = 30, max_conns = 128, nfds = 0;
	struct poptOption opts[] = {
		{ "cgi", 0, POPT_ARG_NONE, &cgi, 0, "CGI mode (default when GATEWAY_INTERFACE is set)",
		  NULL },
		{ "idle", 0, POPT_ARG_INT, &idle, 0,
		  "with systemd's listening sockets: exit after this long without a connection "
		  "(default 30)", "SECONDS" },
		{ "max-connections", 0, POPT_ARG_INT, &max_conns, 0,
		  "with systemd's listening sockets: connections served at once, more wait "
		  "(default 128)", "N" },
		POPT_AUTOHELP POPT_TABLEEND
	};
	struct http_request req = { 0 };
	struct gateway *gw = NULL;
	struct verr err = { 0 };
	char *json = NULL;
	int rc = EXIT_USAGE, status;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	if (idle < 1 || idle > 86400 || max_conns < 1 || max_conns > 1000) {
		rc = usage_error("--idle must be 1 to 86400 seconds, --max-connections 1 to 1000");
		goto out;
	}
	cgi = cgi || getenv("GATEWAY_INTERFACE");
	if (!cgi) {
		rc = listen_fds(&nfds);
		if (rc)
			goto out;
	}
	if (nfds) {
		rc = serve_sockets(nfds, idle, max_conns);
		goto out;
	}
	status = cgi ? http_read_cgi(STDIN_FILENO, SERVE_TIMEOUT_MS, &req, &err)
		     : http_read_request(STDIN_FILENO, SERVE_TIMEOUT_MS, &req, &err);
	if (!cgi && status == 0 && http_peer_addr(STDIN_FILENO, req.remote_addr,
						  sizeof(req.remote_addr)) < 0)
		status = verr_set(&err, 500, "stdin is not a socket: run from systemd "
				  "(Accept=yes or Accept=no), inetd, or as CGI");
	if (status == 0 && (!verb_cjdns(&err) ||
			    gateway_open(&gw, ctx.cfg, ctx.cj, &err) < 0))
		status = verr_set(&err, 503, "%s", err.msg);
	if (status == 0)
		status = gateway_handle(gw, &req, &json, &err);
	else
		json = proto_error_json(err.msg);
	http_write_response(STDOUT_FILENO, cgi, status,
			    status == 405 ? gateway_allow(req.path) : NULL, json ? json : "{}");
	log_request(&req, cgi ? "cgi" : "inetd", status, err.msg);
	rc = status == 200 ? EXIT_OK : EXIT_FAIL;
out:
	free(json);
	http_request_free(&req);
	gateway_close(gw);
	poptFreeContext(pc);
	return rc;
}

const struct verb lease_verbs[] = {
	{ "grant", lease_grant, NEED_CONFIG, "lease addresses to a key (renews an existing lease)" },
	{ "revoke", lease_revoke, NEED_CONFIG, "end a key's lease" },
	{ "list", lease_list, NEED_CONFIG, "list the leases" },
	{ "show", lease_show, NEED_CONFIG, "show one key's lease" },
	{ "sync", lease_sync, NEED_CONFIG, "make cjdns match the lease store (after a restart)" },
	{ "metrics", lease_metrics, NEED_CONFIG, "usage, limits and pools as OpenMetrics text" },
	{ "serve", lease_serve, NEED_CONFIG, "answer lease protocol requests (systemd socket, inetd or CGI)" },
	{ NULL, NULL, 0, NULL }
};

int cmd_lease(int argc, const char **argv)
{
	return run_verb("lease", lease_verbs, argc, argv);
}
