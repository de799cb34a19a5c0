/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CMD_H
#define VISP_CMD_H

#include <popt.h>
#include <stdbool.h>

#include "cjdns.h"
#include "config.h"
#include "err.h"
#include "key.h"
#include "kstate.h"

/* Exit codes, documented in visp(8). */
enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,		/* the command failed */
	EXIT_USAGE = 2,		/* bad command line or config */
	EXIT_CJDNS = 3,		/* cjdns admin unreachable or refusing us */
	EXIT_PERM = 4,		/* not permitted (needs root, or file permissions) */
	EXIT_UNHEALTHY = 5,	/* client check: the tunnel is not healthy */
	EXIT_UNAVAILABLE = 6,	/* no gateway could be used / pool exhausted */
};

/* What the dispatcher sets up before a command runs. */
struct visp_ctx {
	const char *noun, *verb;	/* for messages: "visp: noun verb: ..." */
	const char *config_path;	/* -c */
	const char *cjdns_addr;		/* --cjdns HOST:PORT */
	const char *password_file;	/* --password-file */
	int dry_run, json, quiet, verbose;
	struct visp_config *cfg;	/* loaded for every command that needs it */
	struct cjdns *cj;		/* the admin connection, once opened (verb_cjdns) */
};
extern struct visp_ctx ctx;

/* Noun entry points and verb tables (cmd/<noun>.c). */
int cmd_cjdns(int argc, const char **argv);
int cmd_key(int argc, const char **argv);
int cmd_tunnel(int argc, const char **argv);
int cmd_lease(int argc, const char **argv);
int cmd_client(int argc, const char **argv);
int cmd_routes(int argc, const char **argv);
int cmd_share(int argc, const char **argv);
int cmd_sudoers(int argc, const char **argv);

/*
 * A verb table and its dispatcher, shared by every noun: verb lookup with
 * strcmp, "--help" listing, usage errors with exit 2.
 */
struct verb {
	const char *name;
	int (*fn)(int argc, const char **argv);
	unsigned flags;		/* NEED_* below */
	const char *summary;
};
#define NEED_ROOT	0x1	/* touches the kernel */
#define NEED_CONFIG	0x2	/* ctx.cfg loaded */
#define NEED_CJDNS	0x4	/* ctx.cj open (implies NEED_CONFIG) */
extern const struct verb cjdns_verbs[], key_verbs[], tunnel_verbs[], lease_verbs[],
	client_verbs[], routes_verbs[], share_verbs[];
int run_verb(const char *noun, const struct verb *verbs, int argc, const char **argv);

/* The noun table (visp.c): sudoers, help and the consistency test walk it. */
struct noun {
	const char *name;
	int (*fn)(int argc, const char **argv);
	const struct verb *verbs;
	const char *summary;
};
extern const struct noun visp_nouns[];

/*
 * popt for one verb: parse argv (argv[0] is the verb) with opts, which must
 * end with POPT_AUTOHELP POPT_TABLEEND. Returns the context (positional
 * arguments via poptGetArgs; the caller poptFreeContext()s it), or NULL after
 * printing a usage error, with *rc = EXIT_USAGE. args_usage names the
 * positional arguments; their count must be within [min_args, max_args]
 * (max_args < 0: no upper bound).
 */
poptContext verb_popt(int argc, const char **argv, struct poptOption *opts,
		      const char *args_usage, int min_args, int max_args, int *rc);
int verb_nargs(poptContext pc);

/* "visp: noun verb: <message>" on stderr; returns the exit code for err. */
int report(const struct verr *err);
__attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void info(const char *fmt, ...);	/* unless -q */
__attribute__((format(printf, 1, 2))) void debug(const char *fmt, ...);	/* with -v */
int exit_code(int err);

/* What a usage sync (usage.h) could not do that the operator should hear of: on stderr. */
struct usage_report;
void usage_warn(const struct usage_report *rep);

/* The node's fc address (Core_nodeInfo): the tun is the interface that carries it. */
int node_address(char ip6[IP6_BUFLEN], struct verr *err);

/*
 * The changes of a verb that changes the kernel (up, down): print_change
 * (a kstate/tunnel change callback; arg is the JSON document or NULL) puts
 * each on stdout in a dry run (there they are the result), on stderr
 * otherwise, or with -j into {"dry_run": bool, "changes": [{"action",
 * "what"}, ...]}, which changes_begin opens (NULL without -j) and
 * changes_end prints.
 */
struct json;
struct json *changes_begin(void);
void print_change(const char *action, const char *what, void *arg);
void changes_end(struct json *j);

/*
 * tunnel down, share down: undo exactly what the role's up recorded
 * (down: tunnel_down or share_down). Needs no cjdns, pools or LANs, so it
 * works when they are gone.
 */
int role_down_verb(int argc, const char **argv,
		   int (*down)(const char *run_dir, bool dry_run, kstate_change_cb cb, void *arg,
			       struct verr *err));

/*
 * Status of a kernel role (tunnel, share): status_item is the kstate
 * status callback (arg: a struct status_tally), printing each item as a
 * table row or into the tally's JSON array; status_finish prints whether
 * the role is up. have_desired: the desired state could be worked out.
 */
struct kstate_item_status;
struct status_tally {
	struct json *j;
	int total, in_place, unknown;
};
void status_item(const struct kstate_item_status *s, void *arg);
void status_finish(struct status_tally *st, bool have_desired);

/*
 * The admin connection from ctx (flags, config, ~/.cjdnsadmin,
 * cjdroute.conf): opened on first use, at most once a run, and closed by
 * run_verb when the verb returns. NEED_CJDNS verbs find it open; the others
 * (those that can do without cjdns) ask for it here. NULL with err set when
 * it cannot be opened.
 */
struct cjdns *verb_cjdns(struct verr *err);

#endif
