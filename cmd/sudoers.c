// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp sudoers: an /etc/sudoers.d/visp that lets one user (or group) run
 * exactly the verbs that need root, each with exactly its listed arguments
 * (no wildcards), so nobody can point a root visp at another config.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

/* Names and paths end up in a sudoers file: allow only harmless characters. */
static bool safe_name(const char *s)
{
	if (!*s || strlen(s) > 32 || *s == '-')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

static bool safe_path(const char *s)
{
	if (s[0] != '/' || strlen(s) >= PATH_MAX || strstr(s, "/../") || strstr(s, "/./"))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("/._-+", *s))
			return false;
	return true;
}

static int sudoers_verb(int argc, const char **argv)
{
	/* popt allocates option strings: freed at out. */
	char *opt_user = NULL, *opt_group = NULL, *opt_path = NULL;
	const char *user, *group, *path;
	struct poptOption opts[] = {
		{ "user", 'u', POPT_ARG_STRING, &opt_user, 0, "the user allowed (default: $SUDO_USER)",
		  "NAME" },
		{ "group", 'g', POPT_ARG_STRING, &opt_group, 0, "a group allowed instead of a user",
		  "NAME" },
		{ "path", 'p', POPT_ARG_STRING, &opt_path, 0, "the visp binary (default: this one)",
		  "BIN" },
		POPT_AUTOHELP POPT_TABLEEND
	};
	char self[PATH_MAX], who[64];
	int rc = EXIT_USAGE, first = 1;
	ssize_t n;
	poptContext pc;

	pc = verb_popt(argc, argv, opts, NULL, 0, 0, &rc);
	if (!pc)
		return rc;
	user = opt_user;
	group = opt_group;
	path = opt_path;
	if (user && group) {
		rc = usage_error("--user and --group exclude each other");
		goto out;
	}
	if (!user && !group)
		user = getenv("SUDO_USER");
	if (!user && !group) {
		rc = usage_error("say which user (--user NAME) or group (--group NAME) may run visp");
		goto out;
	}
	if (!safe_name(user ? user : group)) {
		rc = usage_error("'%s' is not a valid %s name", user ? user : group,
				 user ? "user" : "group");
		goto out;
	}
	if (!path) {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			rc = usage_error("cannot find this binary's path: %s; use --path",
					 strerror(errno));
			goto out;
		}
		self[n] = '\0';
		path = self;
	}
	if (!safe_path(path)) {
		rc = usage_error("'%s' is not an absolute path of plain characters", path);
		goto out;
	}
	snprintf(who, sizeof(who), "%s%s", group ? "%" : "", user ? user : group);
	printf("# /etc/sudoers.d/visp: written by 'visp sudoers'. Install with\n"
	       "#   visp sudoers ... > /tmp/visp && visudo -cf /tmp/visp && "
	       "install -m 0440 /tmp/visp /etc/sudoers.d/visp\n"
	       "# Each command is allowed exactly as written, with no further arguments\n"
	       "# (sudoers matches a listed argument list exactly): the root visp always\n"
	       "# reads the root-owned /etc/visp/visp.conf.\n"
	       "Cmnd_Alias VISP_CMDS = ");
	for (const struct noun *nn = visp_nouns; nn->name; nn++)
		for (const struct verb *v = nn->verbs; v && v->name; v++) {
			if (!(v->flags & NEED_ROOT))
				continue;
			printf("%s\\\n\t%s %s %s", first ? "" : ",", path, nn->name, v->name);
			first = 0;
		}
	printf("\n%s ALL = (root) NOPASSWD: VISP_CMDS\n", who);
	rc = EXIT_OK;
out:
	free(opt_user);
	free(opt_group);
	free(opt_path);
	poptFreeContext(pc);
	return rc;
}

int cmd_sudoers(int argc, const char **argv)
{
	/* A noun without verbs: "visp sudoers [options]". */
	ctx.verb = NULL;
	return sudoers_verb(argc, argv);
}
