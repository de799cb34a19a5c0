// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp: turn a cjdns node into a virtual ISP, or into a customer of one.
 * This file holds the global options and the noun table; it only dispatches.
 */
#include <popt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asan.h"
#include "cmd.h"

struct visp_ctx ctx;

const struct noun visp_nouns[] = {
	{ "tunnel",	cmd_tunnel,	tunnel_verbs,	"gateway: addresses, routes, forwarding and NAT for the pools" },
	{ "lease",	cmd_lease,	lease_verbs,	"gateway: grant, revoke, list, sync and serve leases" },
	{ "client",	cmd_client,	client_verbs,	"client: lease from a gateway, connect, fail over, disconnect" },
	{ "routes",	cmd_routes,	routes_verbs,	"client: pin cjdns's underlay peers outside the tunnel" },
	{ "share",	cmd_share,	share_verbs,	"LAN: share the mesh and the tunnel with hosts that run no cjdns" },
	{ "key",	cmd_key,	key_verbs,	"cjdns public keys: addresses" },
	{ "cjdns",	cmd_cjdns,	cjdns_verbs,	"call a cjdns admin function" },
	{ "sudoers",	cmd_sudoers,	NULL,		"print a sudoers file for the privileged commands" },
	{ NULL, NULL, NULL, NULL }
};

static void print_usage(FILE *f)
{
	fprintf(f, "Usage: visp [OPTIONS] NOUN VERB [ARGS...]\n\n"
		   "Commands:\n");
	for (const struct noun *n = visp_nouns; n->name; n++)
		fprintf(f, "  %-9s %s\n", n->name, n->summary);
	fprintf(f, "\nOptions:\n"
		   "  -c, --config=FILE         config file (default " VISP_CONF_DEFAULT ")\n"
		   "      --cjdns=HOST:PORT     cjdns admin address\n"
		   "      --password-file=FILE  cjdns admin password\n"
		   "  -n, --dry-run             print the changes, make none\n"
		   "  -j, --json                JSON output\n"
		   "  -q, --quiet               only errors on stderr\n"
		   "  -v, --verbose             more detail on stderr\n"
		   "      --version             print the version\n"
		   "  -h, --help                this help\n\n"
		   "'visp NOUN --help' lists the verbs, 'visp NOUN VERB --help' their options.\n");
}

static const struct noun *find_noun(const char *name)
{
	for (const struct noun *n = visp_nouns; n->name; n++)
		if (!strcmp(n->name, name))
			return n;
	return NULL;
}

/*
 * Leave without the libraries' destructors, once stdio is flushed: nothing
 * of theirs needs to run (the store and sockets are closed by then), and
 * running them faults in their code, two pages of every short run (libm's
 * and visp's own _fini). A sanitizer build exits normally, for
 * LeakSanitizer's report.
 */
static int leave(int rc)
{
	if (!VISP_ASAN) {
		fflush(NULL);
		_exit(rc);
	}
	return rc;
}

int main(int argc, const char **argv)
{
	int help = 0, version = 0, rc = EXIT_USAGE, opt;
	struct poptOption opts[] = {
		{ "config", 'c', POPT_ARG_STRING, &ctx.config_path, 0, NULL, NULL },
		{ "cjdns", 0, POPT_ARG_STRING, &ctx.cjdns_addr, 0, NULL, NULL },
		{ "password-file", 0, POPT_ARG_STRING, &ctx.password_file, 0, NULL, NULL },
		{ "dry-run", 'n', POPT_ARG_NONE, &ctx.dry_run, 0, NULL, NULL },
		{ "json", 'j', POPT_ARG_NONE, &ctx.json, 0, NULL, NULL },
		{ "quiet", 'q', POPT_ARG_NONE, &ctx.quiet, 0, NULL, NULL },
		{ "verbose", 'v', POPT_ARG_NONE, &ctx.verbose, 0, NULL, NULL },
		{ "version", 0, POPT_ARG_NONE, &version, 0, NULL, NULL },
		{ "help", 'h', POPT_ARG_NONE, &help, 0, NULL, NULL },
		POPT_TABLEEND
	};
	poptContext pc = poptGetContext("visp", argc, argv, opts, POPT_CONTEXT_POSIXMEHARDER);
	const struct noun *noun;
	const char **rest;
	int nrest = 0;

	while ((opt = poptGetNextOpt(pc)) > 0)
		;
	if (opt < -1) {
		fprintf(stderr, "visp: %s: %s\n", poptBadOption(pc, POPT_BADOPTION_NOALIAS),
			poptStrerror(opt));
		fprintf(stderr, "Try 'visp --help'.\n");
		goto out;
	}
	if (version) {
		printf("visp %s\n", VISP_VERSION);
		rc = EXIT_OK;
		goto out;
	}
	rest = poptGetArgs(pc);
	while (rest && rest[nrest])
		nrest++;
	if (help || !nrest) {
		print_usage(help ? stdout : stderr);
		rc = help ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	noun = find_noun(rest[0]);
	if (!noun) {
		fprintf(stderr, "visp: '%s' is not a visp command; try 'visp --help'\n", rest[0]);
		goto out;
	}
	ctx.noun = noun->name;
	rc = noun->fn(nrest, rest);
out:
	poptFreeContext(pc);
	config_free(ctx.cfg);
	return leave(rc);
}
