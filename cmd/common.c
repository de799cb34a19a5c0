// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * What every noun shares: verb dispatch, per-verb popt parsing, messages in
 * the "visp: noun verb: ..." form, and the one errno-to-exit-code mapping.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "usage.h"
#include "json.h"
#include "kstate.h"

int exit_code(int err)
{
	switch (err) {
	case 0:
		return EXIT_OK;
	case -EINVAL:
		return EXIT_USAGE;
	case -ETIMEDOUT:
	case -ECONNREFUSED:
	case -EKEYREJECTED:	/* cjdns: "Auth failed." */
	case -EHOSTUNREACH:
	case -ENETUNREACH:
		return EXIT_CJDNS;
	case -EPERM:
	case -EACCES:
		return EXIT_PERM;
	case -ENOSPC:
	case -EADDRNOTAVAIL:
		return EXIT_UNAVAILABLE;
	default:
		return EXIT_FAIL;
	}
}

static void vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "visp: ");
	if (ctx.noun)
		fprintf(stderr, ctx.verb ? "%s %s: " : "%s: ", ctx.noun, ctx.verb);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int report(const struct verr *err)
{
	fprintf(stderr, "visp: ");
	if (ctx.noun)
		fprintf(stderr, ctx.verb ? "%s %s: " : "%s: ", ctx.noun, ctx.verb);
	fprintf(stderr, "%s\n", err->msg[0] ? err->msg : strerror(-err->code));
	return exit_code(err->code);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

void info(const char *fmt, ...)
{
	va_list ap;

	if (ctx.quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void usage_warn(const struct usage_report *rep)
{
	if (rep->shaper.code)
		info("visp: %s %s: warning: %s", ctx.noun, ctx.verb, rep->shaper.msg);
	debug("usage: %zu counters folded, %zu stale removed, %zu limited, %zu throttled, "
	      "%zu blocked (%lld + %lld + %lld ms)", rep->folded, rep->stale, rep->limited,
	      rep->throttled, rep->blocked, (long long)rep->elapsed_ms[0],
	      (long long)rep->elapsed_ms[1], (long long)rep->elapsed_ms[2]);
}

void debug(const char *fmt, ...)
{
	va_list ap;

	if (!ctx.verbose)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

/* Output options every verb accepts after it too: "visp lease list -j". */
static struct poptOption common_opts[] = {
	{ "dry-run", 'n', POPT_ARG_NONE, &ctx.dry_run, 0, "print the changes, make none", NULL },
	{ "json", 'j', POPT_ARG_NONE, &ctx.json, 0, "JSON output", NULL },
	{ "quiet", 'q', POPT_ARG_NONE, &ctx.quiet, 0, "only errors on stderr", NULL },
	{ "verbose", 'v', POPT_ARG_NONE, &ctx.verbose, 0, "more detail on stderr", NULL },
	POPT_TABLEEND
};

poptContext verb_popt(int argc, const char **argv, struct poptOption *opts,
		      const char *args_usage, int min_args, int max_args, int *rc)
{
	struct poptOption table[] = {
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, opts, 0, NULL, NULL },
		{ NULL, '\0', POPT_ARG_INCLUDE_TABLE, common_opts, 0, "Common options:", NULL },
		POPT_TABLEEND
	};
	/* popt keeps a pointer to the table: it must outlive this frame. */
	static struct poptOption kept[3];
	/* argv[0] is what popt's --help shows: make it "visp noun verb". */
	static char name[64];
	static const char **av;
	poptContext pc;
	int opt, n;

	memcpy(kept, table, sizeof(kept));
	if (ctx.verb)
		snprintf(name, sizeof(name), "visp %s %s", ctx.noun, ctx.verb);
	else
		snprintf(name, sizeof(name), "visp %s", ctx.noun);
	free(av);
	av = calloc(argc + 1, sizeof(*av));
	if (!av) {
		*rc = EXIT_FAIL;
		return NULL;
	}
	memcpy(av, argv, argc * sizeof(*av));
	av[0] = name;
	pc = poptGetContext(name, argc, av, kept, POPT_CONTEXT_POSIXMEHARDER);
	if (args_usage)
		poptSetOtherOptionHelp(pc, args_usage);
	while ((opt = poptGetNextOpt(pc)) > 0)
		;
	if (opt < -1) {
		fprintf(stderr, "visp: %s %s: %s: %s\n", ctx.noun, argv[0],
			poptBadOption(pc, POPT_BADOPTION_NOALIAS), poptStrerror(opt));
		goto usage;
	}
	n = verb_nargs(pc);
	if (n < min_args || (max_args >= 0 && n > max_args)) {
		fprintf(stderr, "visp: %s %s: %s arguments\n", ctx.noun, argv[0],
			n < min_args ? "missing" : "too many");
		goto usage;
	}
	return pc;
usage:
	poptPrintUsage(pc, stderr, 0);
	poptFreeContext(pc);
	*rc = EXIT_USAGE;
	return NULL;
}

int verb_nargs(poptContext pc)
{
	const char **args = poptGetArgs(pc);	/* does not advance: callers get them again */
	int n = 0;

	while (args && args[n])
		n++;
	return n;
}

static void list_verbs(FILE *f, const char *noun, const struct verb *verbs)
{
	fprintf(f, "Usage: visp %s VERB [OPTIONS] [ARGS...]\n\nVerbs:\n", noun);
	for (const struct verb *v = verbs; v->name; v++)
		fprintf(f, "  %-12s %s\n", v->name, v->summary);
	fprintf(f, "\n'visp %s VERB --help' shows a verb's options.\n", noun);
}

static bool under_sudo(void)
{
	return getenv("SUDO_UID") && geteuid() == 0;
}

static int load_config(struct verr *err)
{
	if (ctx.cfg)
		return 0;
	return config_load(&ctx.cfg, ctx.config_path, under_sudo(), err);
}

static bool asks_help(int argc, const char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-?") ||
		    !strcmp(argv[i], "--usage"))
			return true;
	}
	return false;
}

int run_verb(const char *noun, const struct verb *verbs, int argc, const char **argv)
{
	const struct verb *v = NULL;
	struct verr err = { 0 };
	int rc;

	if (argc < 2) {
		list_verbs(stderr, noun, verbs);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		list_verbs(stdout, noun, verbs);
		return EXIT_OK;
	}
	for (const struct verb *p = verbs; p->name; p++)
		if (!strcmp(p->name, argv[1]))
			v = p;
	if (!v) {
		fprintf(stderr, "visp: %s: '%s' is not a verb of %s; try 'visp %s --help'\n",
			noun, argv[1], noun, noun);
		return EXIT_USAGE;
	}
	ctx.verb = v->name;
	/* Help needs neither a readable config nor root. */
	if (asks_help(argc - 1, argv + 1))
		return v->fn(argc - 1, argv + 1);
	if ((v->flags & (NEED_CONFIG | NEED_CJDNS)) && load_config(&err) < 0)
		return report(&err);
	if ((v->flags & NEED_ROOT) && geteuid() != 0 && !ctx.dry_run) {
		verr_set(&err, -EPERM, "must be run as root (it changes the kernel's network state)");
		return report(&err);
	}
	if ((v->flags & NEED_CJDNS) && !verb_cjdns(&err))
		return report(&err);
	rc = v->fn(argc - 1, argv + 1);
	cjdns_close(ctx.cj);
	ctx.cj = NULL;
	return rc;
}

static int open_cjdns(struct cjdns **out, struct verr *err)
{
	const struct visp_config *cfg;
	char host[256] = "";
	char *password = NULL;
	int port, ret;

	ret = load_config(err);
	if (ret < 0)
		return ret;
	cfg = ctx.cfg;
	snprintf(host, sizeof(host), "%s", cfg->cjdns_host);
	port = cfg->cjdns_port;
	if (ctx.cjdns_addr) {
		ret = config_parse_hostport(ctx.cjdns_addr, host, sizeof(host), &port, err);
		if (ret < 0)
			goto out;
	}
	if (ctx.password_file) {
		ret = config_read_password(ctx.password_file, &password, err);
		if (ret < 0)
			goto out;
	}
	ret = cjdns_open(out, host, port, password ? password : cfg->cjdns_password, err);
out:
	if (password)
		config_wipe_free(password);
	return ret;
}

/* Changes go to stdout in a dry run (they are the result), else to stderr. */
void print_change(const char *action, const char *what, void *arg)
{
	struct json *j = arg;

	if (j) {
		json_obj(j);
		json_kstr(j, "action", action);
		json_kstr(j, "what", what);
		json_end_obj(j);
	} else if (ctx.dry_run) {
		printf("%s %s\n", action, what);
	} else {
		info("%s %s", action, what);
	}
}

struct json *changes_begin(void)
{
	struct json *j = ctx.json ? json_new(false) : NULL;

	if (j) {
		json_obj(j);
		json_kbool(j, "dry_run", ctx.dry_run);
		json_key(j, "changes");
		json_arr(j);
	}
	return j;
}

void changes_end(struct json *j)
{
	const char *text;

	if (!j)
		return;
	json_end_arr(j);
	json_end_obj(j);
	text = json_text(j, NULL);
	if (text)
		printf("%s\n", text);
}

struct cjdns *verb_cjdns(struct verr *err)
{
	int ret;

	if (ctx.cj)
		return ctx.cj;
	ret = open_cjdns(&ctx.cj, err);
	if (ret < 0) {
		if (!err->code)
			verr_set(err, ret, "cannot open the cjdns admin connection: %s",
				 strerror(-ret));
		ctx.cj = NULL;
	}
	return ctx.cj;
}

/* The node's fc address from cjdns: the tun is the interface that carries it. */
int node_address(char ip6[IP6_BUFLEN], struct verr *err)
{
	struct cjdns *cj = verb_cjdns(err);
	int ret = cj ? cjdns_node_info(cj, NULL, ip6, err) : err->code;

	if (ret < 0)
		verr_wrap(err, "cannot get the node's address from cjdns");
	return ret;
}

int role_down_verb(int argc, const char **argv,
		   int (*down)(const char *run_dir, bool dry_run, kstate_change_cb cb, void *arg,
			       struct verr *err))
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct verr err = { 0 };
	struct json *j = NULL;
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	j = changes_begin();
	if (down(ctx.cfg->run_dir, ctx.dry_run, print_change, j, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	changes_end(j);
	rc = EXIT_OK;
out:
	json_free(j);
	poptFreeContext(pc);
	return rc;
}

void status_item(const struct kstate_item_status *s, void *arg)
{
	struct status_tally *st = arg;

	st->total++;
	if (s->state == KSTATE_IN_PLACE || s->state == KSTATE_FOREIGN)
		st->in_place++;
	if (s->state == KSTATE_UNKNOWN)
		st->unknown++;
	if (st->j) {
		json_obj(st->j);
		json_kstr(st->j, "kind", s->kind);
		json_kstr(st->j, "what", s->what);
		json_kstr(st->j, "state", kstate_state_name(s->state));
		json_end_obj(st->j);
	} else {
		printf("  %-60s %s\n", s->what, kstate_state_name(s->state));
	}
}

void status_finish(struct status_tally *st, bool have_desired)
{
	/* Up: everything in place; unknown when only what needs root to see is missing. */
	int up = have_desired && st->total && st->in_place == st->total ? 1 :
		 have_desired && st->total && st->in_place + st->unknown == st->total ? -1 : 0;
	const char *text;

	if (st->j) {
		json_end_arr(st->j);
		json_key(st->j, "up");
		if (up >= 0)
			json_bool(st->j, up == 1);
		else
			json_str(st->j, NULL);
		json_end_obj(st->j);
		text = json_text(st->j, NULL);
		if (text)
			printf("%s\n", text);
		return;
	}
	if (!st->total)
		printf("  (nothing)\n");
	printf("up:        %s\n", up == 1 ? "yes" : up == 0 ? "no" : "unknown");
}
