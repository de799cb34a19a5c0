// SPDX-License-Identifier: GPL-3.0-or-later
/* visp routes: keep the mesh's own underlay links out of the tunnel. */
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "cmd.h"
#include "json.h"
#include "netlink.h"

/* Pins go out of one or two interfaces: one lookup each, not one per pin. */
static const char *dev_name(int ifindex, char buf[IFNAMSIZ])
{
	static int last;
	static char name[IFNAMSIZ];
	struct netlink_link l;

	if (!ifindex)
		return "?";
	if (ifindex != last) {
		if (netlink_link_by_index(ifindex, &l, NULL) < 0)
			return "?";
		last = ifindex;
		snprintf(name, sizeof(name), "%s", l.name);
	}
	snprintf(buf, IFNAMSIZ, "%s", name);
	return buf;
}

static void print_pin_json(struct json *j, const struct pin *p)
{
	char a[CIDR_STRLEN], g[CIDR_STRLEN], dev[IFNAMSIZ];

	json_obj(j);
	json_kstr(j, "peer", cidr_format(&p->peer, false, a, sizeof(a)));
	json_kstr(j, "action", pin_action_name(p->action));
	json_kstr(j, "via", p->route.has_gateway ? cidr_format(&p->route.gateway, false, g,
								sizeof(g)) : NULL);
	json_kstr(j, "dev", p->action == PIN_NOROUTE ? NULL : dev_name(p->route.ifindex, dev));
	json_end_obj(j);
}

static void print_pin_line(const struct pin *p)
{
	char a[CIDR_STRLEN], g[CIDR_STRLEN], dev[IFNAMSIZ];
	const char *verb = pin_action_name(p->action);

	if (p->action == PIN_NOROUTE) {
		printf("%-10s %s\n", verb, cidr_format(&p->peer, false, a, sizeof(a)));
		return;
	}
	printf("%-10s %s%s%s dev %s\n", verb, cidr_format(&p->peer, false, a, sizeof(a)),
	       p->route.has_gateway ? " via " : "",
	       p->route.has_gateway ? cidr_format(&p->route.gateway, false, g, sizeof(g)) : "",
	       dev_name(p->route.ifindex, dev));
}

static void print_plan(const struct pin *plan, size_t n)
{
	struct json *j = NULL;

	if (ctx.quiet)
		return;
	if (!ctx.json) {
		for (size_t i = 0; i < n; i++)
			print_pin_line(&plan[i]);
		return;
	}
	j = json_new(true);
	if (!j)
		return;
	json_arr(j);
	for (size_t i = 0; i < n; i++)
		print_pin_json(j, &plan[i]);
	json_end_arr(j);
	printf("%s\n", json_text(j, NULL) ?: "[]");
	json_free(j);
}

static int routes_pin_peers(int argc, const char **argv)
{
	int unpin = 0;
	struct poptOption opts[] = {
		{ "unpin", 0, POPT_ARG_NONE, &unpin, 0, "remove every peer pin", NULL },
		POPT_AUTOHELP POPT_TABLEEND
	};
	struct verr err = { 0 };
	struct pin *plan = NULL;
	size_t n = 0;
	int rc = EXIT_USAGE, changed = 0;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	if (client_pin_peers(ctx.cfg, ctx.cj, unpin, ctx.dry_run, &plan, &n, &changed, &err) < 0) {
		rc = report(&err);
		goto out;
	}
	print_plan(plan, n);
	debug("%d routes changed", changed);
	rc = EXIT_OK;
out:
	free(plan);
	poptFreeContext(pc);
	return rc;
}

const struct verb routes_verbs[] = {
	{ "pin-peers", routes_pin_peers, NEED_ROOT | NEED_CJDNS,
	  "host routes to cjdns's underlay peers via the original gateway" },
	{ NULL, NULL, 0, NULL }
};

int cmd_routes(int argc, const char **argv)
{
	return run_verb("routes", routes_verbs, argc, argv);
}
