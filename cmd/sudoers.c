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
#include <sys/stat.h>
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

/*
 * Could anyone but root replace what path runs? Walks the path one name at a
 * time from "/", the way the kernel resolves it, following every symlink
 * (wherever it points: a link into a user's directory is as bad as the
 * binary being there), and requires each directory, link and the binary to be
 * root's and not writable by group or others. A root-owned sticky directory
 * writable by all (/tmp) is accepted: only root can rename or remove root's
 * entries in it. On failure, why says which name is at fault.
 */
static bool root_only_path(const char *path, char *why, size_t whylen)
{
	char cur[PATH_MAX] = "", rest[PATH_MAX], target[PATH_MAX], *name, *next;
	int links = 0;
	struct stat st;
	ssize_t n;

	if (snprintf(rest, sizeof(rest), "%s", path) >= (int)sizeof(rest))
		goto toolong;
	if (lstat("/", &st) < 0 || st.st_uid != 0 || (st.st_mode & 022)) {
		snprintf(why, whylen, "/ is not root's alone");
		return false;
	}
	name = rest;
	for (;;) {
		bool last;
		size_t clen;

		while (*name == '/')
			name++;
		if (!*name)
			break;
		next = strchr(name, '/');
		if (next)
			*next++ = '\0';
		last = !next || !next[strspn(next, "/")];
		if (!strcmp(name, "."))
			goto advance;
		if (!strcmp(name, "..")) {
			/* cur holds resolved directories only: dropping one is exact. */
			char *slash = strrchr(cur, '/');

			if (slash)
				*slash = '\0';
			goto advance;
		}
		clen = strlen(cur);
		if (snprintf(cur + clen, sizeof(cur) - clen, "/%s", name) >= (int)(sizeof(cur) - clen))
			goto toolong;
		if (lstat(cur, &st) < 0) {
			snprintf(why, whylen, "%s: %s", cur, strerror(errno));
			return false;
		}
		if (st.st_uid != 0) {
			snprintf(why, whylen, "%s is owned by uid %u, not root", cur,
				 (unsigned)st.st_uid);
			return false;
		}
		if (S_ISLNK(st.st_mode)) {
			char joined[PATH_MAX];

			n = readlink(cur, target, sizeof(target) - 1);
			if (n < 0 || ++links > 40) {
				snprintf(why, whylen, "%s: %s", cur,
					 n < 0 ? strerror(errno) : "too many symbolic links");
				return false;
			}
			target[n] = '\0';
			/* The link's target replaces its name; the rest follows it. */
			*strrchr(cur, '/') = '\0';
			if (target[0] == '/')
				cur[0] = '\0';
			if (snprintf(joined, sizeof(joined), "%s/%s", target, next ? next : "") >=
			    (int)sizeof(joined))
				goto toolong;
			memcpy(rest, joined, sizeof(rest));
			name = rest;
			continue;
		}
		if ((st.st_mode & 022) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) &&
					    !last)) {
			snprintf(why, whylen, "%s is writable by %s", cur,
				 (st.st_mode & 020) ? "its group" : "others");
			return false;
		}
		if (!last && !S_ISDIR(st.st_mode)) {
			snprintf(why, whylen, "%s is not a directory", cur);
			return false;
		}
		if (last && !S_ISREG(st.st_mode)) {
			snprintf(why, whylen, "%s is not a regular file", cur);
			return false;
		}
advance:
		if (!next)
			break;
		name = next;
	}
	return true;
toolong:
	snprintf(why, whylen, "%s: %s", path, strerror(ENAMETOOLONG));
	return false;
}

/*
 * The alias name must differ between fragments, or two of them (one per user
 * or group) make visudo reject the whole sudoers: [a-z0-9] become upper case,
 * every other character _XX (its hex code), which keeps names apart
 * ("a.b", "a_b" and "A.b" all differ), and U or G keeps a user apart from a
 * group of the same name.
 */
static void alias_name(char *buf, size_t len, const char *name, bool group)
{
	size_t off = (size_t)snprintf(buf, len, "VISP_%s_", group ? "G" : "U");

	for (; *name && off + 4 < len; name++) {
		unsigned char c = (unsigned char)*name;

		if (islower(c) || isdigit(c))
			buf[off++] = (char)toupper(c);
		else
			off += (size_t)snprintf(buf + off, len - off, "_%02X", c);
	}
	buf[off] = '\0';
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
	char self[PATH_MAX], who[64], alias[160], why[PATH_MAX + 64];
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
	if (!root_only_path(path, why, sizeof(why))) {
		rc = usage_error("refusing '%s': %s, so someone other than root could "
				 "replace what sudo runs as root", path, why);
		goto out;
	}
	snprintf(who, sizeof(who), "%s%s", group ? "%" : "", user ? user : group);
	alias_name(alias, sizeof(alias), user ? user : group, group);
	printf("# /etc/sudoers.d/visp: written by 'visp sudoers'. Install with\n"
	       "#   visp sudoers ... > /tmp/visp && visudo -cf /tmp/visp && "
	       "install -m 0440 /tmp/visp /etc/sudoers.d/visp\n"
	       "# Each command is allowed exactly as written, with no further arguments\n"
	       "# (sudoers matches a listed argument list exactly): the root visp always\n"
	       "# reads the root-owned /etc/visp/visp.conf.\n"
	       "Cmnd_Alias %s = ", alias);
	for (const struct noun *nn = visp_nouns; nn->name; nn++)
		for (const struct verb *v = nn->verbs; v && v->name; v++) {
			if (!(v->flags & NEED_ROOT))
				continue;
			printf("%s\\\n\t%s %s %s", first ? "" : ",", path, nn->name, v->name);
			first = 0;
		}
	printf("\n%s ALL = (root) NOPASSWD: %s\n", who, alias);
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
