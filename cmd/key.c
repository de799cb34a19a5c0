// SPDX-License-Identifier: GPL-3.0-or-later
/* visp key addr: the fc00::/8 address of a cjdns public key. */
#include <stdio.h>

#include "cmd.h"
#include "json.h"
#include "key.h"

static int key_addr_verb(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct verr err = { 0 };
	const char **keys;
	struct json *j = NULL;
	char addr[IP6_BUFLEN];
	int rc = EXIT_USAGE;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, "KEY...", 1, -1, &rc);
	if (!pc)
		return rc;
	keys = poptGetArgs(pc);
	rc = EXIT_OK;
	j = ctx.json ? json_new(false) : NULL;
	if (j)
		json_arr(j);
	for (int i = 0; keys[i]; i++) {
		if (key_addr_str(keys[i], addr, &err) < 0) {
			verr_wrap(&err, "'%s'", keys[i]);
			rc = report(&err);
			continue;
		}
		if (j) {
			json_obj(j);
			json_kstr(j, "key", keys[i]);
			json_kstr(j, "address", addr);
			json_end_obj(j);
		} else if (!ctx.json) {
			printf("%s\n", addr);
		}
	}
	if (j) {
		json_end_arr(j);
		printf("%s\n", json_text(j, NULL) ?: "[]");
	}
	json_free(j);
	poptFreeContext(pc);
	return rc;
}

const struct verb key_verbs[] = {
	{ "addr", key_addr_verb, 0, "print the fc00::/8 address of each public key" },
	{ NULL, NULL, 0, NULL }
};

int cmd_key(int argc, const char **argv)
{
	return run_verb("key", key_verbs, argc, argv);
}
