// SPDX-License-Identifier: GPL-3.0-or-later
/* visp cjdns call: poke the cjdns admin API by hand, like cjdns's own cexec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/*
 * name=value: a value that is a decimal integer is sent as an Int, one in
 * double quotes as a String (so n='"5"' sends the string 5), anything else
 * as a String.
 */
static int parse_arg(struct bval *args, const char *arg, struct verr *err)
{
	const char *eq = strchr(arg, '='), *v;
	char name[128], *end = NULL;
	size_t vlen;
	long long n;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name))
		return verr_set(err, -EINVAL, "'%s' is not name=value", arg);
	memcpy(name, arg, eq - arg);
	name[eq - arg] = '\0';
	v = eq + 1;
	vlen = strlen(v);
	if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"')
		return bval_dict_set(args, name, bval_new_str(v + 1, vlen - 2));
	errno = 0;
	n = strtoll(v, &end, 10);
	if (vlen && !errno && !*end)
		return bval_dict_set(args, name, bval_new_int(n));
	return bval_dict_set(args, name, bval_new_cstr(v));
}

static int cjdns_call_verb(int argc, const char **argv)
{
	struct poptOption opts[] = { POPT_AUTOHELP POPT_TABLEEND };
	struct bval *args = NULL, *reply = NULL;
	struct verr err = { 0 };
	const char **rest;
	char *json = NULL;
	size_t jlen;
	int rc = EXIT_USAGE, ret;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, "FUNCTION [name=value ...]", 1, -1, &rc);
	if (!pc)
		return rc;
	rest = poptGetArgs(pc);
	args = bval_new_dict();
	if (!args) {
		rc = EXIT_FAIL;
		goto out;
	}
	for (int i = 1; rest[i]; i++) {
		if (parse_arg(args, rest[i], &err) < 0) {
			rc = usage_error("%s", err.msg);
			goto out;
		}
	}
	ret = cjdns_call(ctx.cj, rest[0], args, &reply, &err);
	/* Print what cjdns said even when it is an error: that is the point of the verb. */
	if (reply && bval_to_json(reply, &json, &jlen) == 0)
		printf("%s\n", json);
	rc = ret < 0 ? report(&err) : EXIT_OK;
out:
	free(json);
	bval_free(args);
	bval_free(reply);
	poptFreeContext(pc);
	return rc;
}

const struct verb cjdns_verbs[] = {
	{ "call", cjdns_call_verb, NEED_CJDNS, "call FUNCTION with name=value arguments" },
	{ NULL, NULL, 0, NULL }
};

int cmd_cjdns(int argc, const char **argv)
{
	return run_verb("cjdns", cjdns_verbs, argc, argv);
}
