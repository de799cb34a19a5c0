// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp's kernel state per role (see kstate.h): desired items, recorded
 * items in <run_dir>/<role>.state, and the few operations that bring one in
 * line with the other. visp tunnel and visp share both stand on this, so
 * that they record, undo and report their changes the same way.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileutil.h"
#include "kstate.h"
#include "netlink.h"
#include "nft.h"

#define STATE_SUFFIX ".state"
#define STATE_MAX_LINES 100000
#define ROLE_MAX 32
#define LOCK_FILE "kernel.lock"

static const char *const kind_names[] = {
	[KSTATE_ADDR] = "addr", [KSTATE_ROUTE] = "route", [KSTATE_NFT] = "nft",
	[KSTATE_SYSCTL] = "sysctl", [KSTATE_RESTORE] = "restore", [KSTATE_PROXY] = "proxy",
};
#define NKINDS ((int)(sizeof(kind_names) / sizeof(*kind_names)))

struct items {
	struct kstate_item *v;
	size_t n, cap;
};

struct kstate {
	char *run_dir;
	char role[ROLE_MAX];
	char *nft_text;		/* the text of the wanted nft part */
	struct items want;	/* the desired state */
	struct items state;	/* what is recorded as this role's */
};

static void items_free(struct items *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int items_add(struct items *l, const struct kstate_item *it, struct verr *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct kstate_item *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return verr_set(err, -ENOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *it;
	return 0;
}

static void items_del(struct items *l, size_t i)
{
	memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof(*l->v));
	l->n--;
}

static bool same_item(const struct kstate_item *a, const struct kstate_item *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case KSTATE_ADDR:
	case KSTATE_ROUTE:
	case KSTATE_PROXY:
		return !strcmp(a->ifname, b->ifname) && cidr_equal(&a->c, &b->c);
	case KSTATE_NFT:
	case KSTATE_SYSCTL:
		return !strcmp(a->name, b->name);
	case KSTATE_RESTORE:
		return !strcmp(a->name, b->name) && !strcmp(a->path, b->path);
	}
	return false;
}

static int items_find(const struct items *l, const struct kstate_item *it)
{
	for (size_t i = 0; i < l->n; i++)
		if (same_item(&l->v[i], it))
			return (int)i;
	return -1;
}

static const char *describe(const struct kstate_item *it, char *buf, size_t len)
{
	char c[CIDR_STRLEN];

	switch (it->kind) {
	case KSTATE_ADDR:
		snprintf(buf, len, "address %s dev %s", cidr_format(&it->c, true, c, sizeof(c)),
			 it->ifname);
		break;
	case KSTATE_ROUTE:
		snprintf(buf, len, "route %s dev %s proto %d",
			 cidr_format(&it->c, true, c, sizeof(c)), it->ifname, VISP_RTPROT);
		break;
	case KSTATE_PROXY:
		snprintf(buf, len, "proxy neighbour %s dev %s",
			 cidr_format(&it->c, false, c, sizeof(c)), it->ifname);
		break;
	case KSTATE_NFT:
		snprintf(buf, len, "nftables table " NFT_FAMILY " " NFT_TABLE ", part %s",
			 it->name);
		break;
	case KSTATE_SYSCTL:
		snprintf(buf, len, "sysctl %s = %s", it->name, it->want);
		break;
	case KSTATE_RESTORE:
		snprintf(buf, len, "sysctl %s = %s", it->path, it->want);
		break;
	}
	return buf;
}

/* A token of the state file: no whitespace, and short enough for its field. */
static bool token_ok(const char *s, size_t max)
{
	return *s && strlen(s) < max && !strpbrk(s, " \t\n\r");
}

static bool role_ok(const char *role)
{
	size_t len = strlen(role);

	return len && len < ROLE_MAX && strspn(role, "abcdefghijklmnopqrstuvwxyz") == len;
}

static int state_path(const char *run_dir, const char *role, char *buf, size_t len,
		      struct verr *err)
{
	if ((size_t)snprintf(buf, len, "%s/%s" STATE_SUFFIX, run_dir, role) >= len)
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	return 0;
}

static int parse_line(char *line, struct kstate_item *it)
{
	char *f[6] = { NULL };
	char *save = NULL, *tok;
	int n = 0, k;

	memset(it, 0, sizeof(*it));
	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == 5)
			return -EINVAL;
		f[n++] = tok;
	}
	if (!n)
		return -EINVAL;
	for (k = 0; k < NKINDS; k++)
		if (!strcmp(f[0], kind_names[k]))
			break;
	if (k == NKINDS)
		return -EINVAL;
	it->kind = k;
	switch (it->kind) {
	case KSTATE_ADDR:
	case KSTATE_ROUTE:
	case KSTATE_PROXY:
		if (n != 3 || !token_ok(f[1], IFNAMSIZ) || cidr_parse(f[2], &it->c, NULL) < 0)
			return -EINVAL;
		strcpy(it->ifname, f[1]);
		return 0;
	case KSTATE_NFT:
		if (n != 2 || !token_ok(f[1], sizeof(it->name)))
			return -EINVAL;
		strcpy(it->name, f[1]);
		return 0;
	case KSTATE_SYSCTL:
		if (n != 4 || !token_ok(f[1], sizeof(it->name)) ||
		    !token_ok(f[2], SYSCTL_VALUE_MAX) || !token_ok(f[3], SYSCTL_VALUE_MAX))
			return -EINVAL;
		strcpy(it->name, f[1]);
		strcpy(it->orig, f[2]);
		strcpy(it->want, f[3]);
		return 0;
	case KSTATE_RESTORE:
		if (n != 4 || !token_ok(f[1], sizeof(it->name)) ||
		    !token_ok(f[2], sizeof(it->path)) || !token_ok(f[3], SYSCTL_VALUE_MAX))
			return -EINVAL;
		strcpy(it->name, f[1]);
		strcpy(it->path, f[2]);
		strcpy(it->want, f[3]);
		return 0;
	}
	return -EINVAL;
}

/* Append the items of a state file to l; a missing file has none. */
static int load_file(const char *path, struct items *l, struct verr *err)
{
	char line[512];
	unsigned lineno = 0;
	struct kstate_item it;
	FILE *f = NULL;
	int ret;

	f = file_fopen_state(path);
	if (!f) {
		ret = errno == ENOENT ? 0 :
		      verr_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (!len || line[0] == '#')
			continue;
		if (lineno > STATE_MAX_LINES || parse_line(line, &it) < 0) {
			ret = verr_set(err, -EBADMSG, "%s:%u: not a visp state line", path, lineno);
			goto out;
		}
		ret = items_add(l, &it, err);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	if (f)
		fclose(f);
	return ret;
}

static int state_load(const char *run_dir, const char *role, struct items *l, struct verr *err)
{
	char path[512];
	int ret;

	items_free(l);
	ret = state_path(run_dir, role, path, sizeof(path), err);
	if (ret == 0)
		ret = load_file(path, l, err);
	return ret;
}

/*
 * What the other roles of run_dir record, all in one list (only their
 * sysctls are ever looked at: the one kind of item roles share).
 */
static int others_load(const char *run_dir, const char *role, struct items *l,
		       struct verr *err)
{
	size_t sl = strlen(STATE_SUFFIX);
	char name[ROLE_MAX], path[512];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	items_free(l);
	d = opendir(run_dir);
	if (!d)
		return errno == ENOENT ? 0 :
		       verr_set(err, -errno, "cannot read %s: %s", run_dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (len <= sl || len - sl >= sizeof(name) ||
		    strcmp(de->d_name + len - sl, STATE_SUFFIX))
			continue;
		memcpy(name, de->d_name, len - sl);
		name[len - sl] = '\0';
		if (!role_ok(name) || !strcmp(name, role))
			continue;
		ret = state_path(run_dir, name, path, sizeof(path), err);
		if (ret == 0)
			ret = load_file(path, l, err);
		if (ret < 0)
			break;
	}
	closedir(d);
	return ret;
}

/*
 * Does another role record sysctl name at the value want? Then *rec (may
 * be NULL) gets its record and restores (may be NULL) its restore lines.
 */
static int other_record(const char *run_dir, const char *role, const char *name,
			const char *want, bool *found, struct kstate_item *rec,
			struct items *restores, struct verr *err)
{
	struct items others = { 0 };
	int ret;

	*found = false;
	ret = others_load(run_dir, role, &others, err);
	for (size_t i = 0; ret == 0 && i < others.n; i++) {
		const struct kstate_item *o = &others.v[i];

		if (o->kind == KSTATE_SYSCTL && !*found && !strcmp(o->name, name) &&
		    !strcmp(o->want, want)) {
			*found = true;
			if (rec)
				*rec = *o;
		}
		if (restores && o->kind == KSTATE_RESTORE && !strcmp(o->name, name) &&
		    items_find(restores, o) < 0)
			ret = items_add(restores, o, err);
	}
	if (restores && !*found)
		restores->n = 0;
	items_free(&others);
	return ret;
}

static int state_save(const char *run_dir, const char *role, const struct items *l,
		      struct verr *err)
{
	char path[512], c[CIDR_STRLEN];
	char *text = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int ret;

	ret = state_path(run_dir, role, path, sizeof(path), err);
	if (ret < 0)
		return ret;
	if (!l->n) {
		if (unlink(path) < 0 && errno != ENOENT)
			return verr_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
		return 0;
	}
	f = open_memstream(&text, &len);
	if (!f)
		return verr_set(err, -ENOMEM, "out of memory");
	fprintf(f, "# what 'visp %s up' added; 'visp %s down' removes exactly this\n", role,
		role);
	for (size_t i = 0; i < l->n; i++) {
		const struct kstate_item *it = &l->v[i];

		switch (it->kind) {
		case KSTATE_ADDR:
		case KSTATE_ROUTE:
		case KSTATE_PROXY:
			fprintf(f, "%s %s %s\n", kind_names[it->kind], it->ifname,
				cidr_format(&it->c, true, c, sizeof(c)));
			break;
		case KSTATE_NFT:
			fprintf(f, "nft %s\n", it->name);
			break;
		case KSTATE_SYSCTL:
			fprintf(f, "sysctl %s %s %s\n", it->name, it->orig, it->want);
			break;
		case KSTATE_RESTORE:
			fprintf(f, "restore %s %s %s\n", it->name, it->path, it->want);
			break;
		}
	}
	if (fclose(f) != 0) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = file_write_atomic(path, text, len, 0644, err);
out:
	free(text);
	return ret;
}

/* One command changing visp's kernel state at a time per run_dir, whatever its role. */
static int lock_run_dir(const char *run_dir, int *fd, struct verr *err)
{
	char path[512];
	int ret;

	*fd = -1;
	ret = file_mkdir_p(run_dir, 0755, err);
	if (ret < 0)
		return ret;
	if ((size_t)snprintf(path, sizeof(path), "%s/" LOCK_FILE, run_dir) >= sizeof(path))
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	return file_lock(path, 0600, FILE_LOCK_WAIT_MS, fd, err);
}

int kstate_open(struct kstate **out, const char *run_dir, const char *role, struct verr *err)
{
	struct kstate *k = NULL;
	int ret;

	*out = NULL;
	if (!role_ok(role)) {
		ret = verr_set(err, -EINVAL, "'%s' is not a role name", role);
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k || !(k->run_dir = strdup(run_dir))) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	strcpy(k->role, role);
	ret = state_load(run_dir, role, &k->state, err);
	if (ret < 0)
		goto out;
	*out = k;
	k = NULL;
out:
	kstate_free(k);
	return ret;
}

void kstate_free(struct kstate *k)
{
	if (!k)
		return;
	items_free(&k->want);
	items_free(&k->state);
	free(k->nft_text);
	free(k->run_dir);
	free(k);
}

static int want_iface_item(struct kstate *k, enum kstate_kind kind, const char *ifname,
			   const struct cidr *c, struct verr *err)
{
	struct kstate_item it = { .kind = kind };

	if (!token_ok(ifname, sizeof(it.ifname)))
		return verr_set(err, -EINVAL, "'%s' is not an interface name", ifname);
	strcpy(it.ifname, ifname);
	it.c = *c;
	return items_add(&k->want, &it, err);
}

int kstate_want_addr(struct kstate *k, const char *ifname, const struct cidr *addr,
		     struct verr *err)
{
	return want_iface_item(k, KSTATE_ADDR, ifname, addr, err);
}

int kstate_want_route(struct kstate *k, const char *ifname, const struct cidr *dst,
		      struct verr *err)
{
	return want_iface_item(k, KSTATE_ROUTE, ifname, dst, err);
}

int kstate_want_nft(struct kstate *k, const char *part, const char *text, struct verr *err)
{
	struct kstate_item it = { .kind = KSTATE_NFT };

	if (k->nft_text)
		return verr_set(err, -EINVAL, "a role has one nft part");
	if (!token_ok(part, sizeof(it.name)))
		return verr_set(err, -EINVAL, "'%s' is not an nft part name", part);
	strcpy(it.name, part);
	k->nft_text = strdup(text);
	if (!k->nft_text)
		return verr_set(err, -ENOMEM, "out of memory");
	return items_add(&k->want, &it, err);
}

int kstate_want_sysctl(struct kstate *k, const char *path, const char *value,
		       struct verr *err)
{
	struct kstate_item it = { .kind = KSTATE_SYSCTL };

	if (!token_ok(path, sizeof(it.name)) || !token_ok(value, sizeof(it.want)))
		return verr_set(err, -EINVAL, "sysctl '%s' = '%s' cannot be recorded", path,
				value);
	strcpy(it.name, path);
	strcpy(it.want, value);
	return items_add(&k->want, &it, err);
}

bool kstate_recorded(const struct kstate *k, const struct kstate_item *it, bool any_role)
{
	struct items others = { 0 };
	bool found;

	if (items_find(&k->state, it) >= 0)
		return true;
	if (!any_role)
		return false;
	found = others_load(k->run_dir, k->role, &others, NULL) == 0 &&
		items_find(&others, it) >= 0;
	items_free(&others);
	return found;
}

/* The ifindex of an item's interface, 0 when it is gone. */
static int item_ifindex(const struct kstate_item *it, struct verr *err)
{
	struct netlink_link l;
	int ret = netlink_link_by_name(it->ifname, &l, err);

	if (ret == -ENODEV) {
		verr_clear(err);
		return 0;
	}
	return ret < 0 ? ret : l.ifindex;
}

struct route_find {
	const struct kstate_item *it;
	int ifindex;
	bool ours, foreign;
};

static int route_find_cb(const struct netlink_route *r, void *arg)
{
	struct route_find *f = arg;

	if (r->table != RT_TABLE_MAIN || r->ifindex != f->ifindex ||
	    !cidr_equal(&r->dst, &f->it->c))
		return 0;
	if (r->protocol == VISP_RTPROT)
		f->ours = true;
	else
		f->foreign = true;
	return 0;
}

struct proxy_find {
	const struct kstate_item *it;
	int ifindex;
	bool found;
};

static int proxy_find_cb(int ifindex, const struct cidr *a, void *arg)
{
	struct proxy_find *f = arg;
	struct cidr want = f->it->c;

	want.prefix = cidr_bits(&want);
	if (ifindex == f->ifindex && cidr_equal(a, &want))
		f->found = true;
	return f->found;
}

/*
 * Is the item there? *present: exactly it (a visp route, the sysctl at its
 * value, the part's chains); *foreign: something else holds its place (a
 * non-visp route for the prefix on the interface). *cur gets a sysctl's value.
 */
static int item_present(const struct kstate_item *it, bool *present, bool *foreign, char *cur,
			struct verr *err)
{
	int ifindex, ret = 0;

	*present = *foreign = false;
	switch (it->kind) {
	case KSTATE_ADDR:
	case KSTATE_ROUTE:
	case KSTATE_PROXY:
		ifindex = item_ifindex(it, err);
		if (ifindex <= 0)
			return ifindex;
		if (it->kind == KSTATE_ADDR) {
			ret = netlink_addr_exists(ifindex, &it->c, present, err);
		} else if (it->kind == KSTATE_ROUTE) {
			struct route_find f = { .it = it, .ifindex = ifindex };

			ret = netlink_routes(it->c.family, route_find_cb, &f, err);
			*present = f.ours;
			*foreign = !f.ours && f.foreign;
		} else {
			struct proxy_find f = { .it = it, .ifindex = ifindex };

			ret = netlink_proxies(it->c.family, proxy_find_cb, &f, err);
			*present = f.found;
		}
		return ret;
	case KSTATE_NFT:
		return 0;	/* nft_part_check() is the one that knows */
	case KSTATE_SYSCTL:
	case KSTATE_RESTORE:
		ret = sysctl_read(it->kind == KSTATE_SYSCTL ? it->name : it->path, cur,
				  SYSCTL_VALUE_MAX, err);
		if (ret == -ENOENT) {
			verr_clear(err);
			cur[0] = '\0';
			return 0;
		}
		*present = ret == 0 && !strcmp(cur, it->want);
		return ret;
	}
	return 0;
}

/* Write the sysctl back, then put back the knobs that writing it reset. */
static int restore_sysctl(struct items *state, const struct kstate_item *it, bool dry_run,
			  kstate_change_cb cb, void *arg, struct verr *err)
{
	char desc[320], cur[SYSCTL_VALUE_MAX];
	int ret;

	snprintf(desc, sizeof(desc), "sysctl %s = %s", it->name, it->orig);
	cb("set", desc, arg);
	if (!dry_run) {
		ret = sysctl_write(it->name, it->orig, err);
		if (ret < 0)
			return ret;
	}
	for (size_t i = 0; i < state->n; i++) {
		struct kstate_item *r = &state->v[i];

		if (r->kind != KSTATE_RESTORE || strcmp(r->name, it->name))
			continue;
		/* In a dry run the global is unchanged: say what the real run will do. */
		if (!dry_run && (sysctl_read(r->path, cur, sizeof(cur), NULL) < 0 ||
				 !strcmp(cur, r->want)))
			continue;
		cb("set", describe(r, desc, sizeof(desc)), arg);
		if (!dry_run)
			sysctl_write(r->path, r->want, NULL);	/* the interface may be gone */
	}
	return 0;
}

/* Undo state->v[i] in the kernel and, unless dry_run, drop it (and its restores). */
static int undo_item(const char *run_dir, const char *role, struct items *state, size_t i,
		     bool dry_run, kstate_change_cb cb, void *arg, struct verr *err)
{
	struct kstate_item it = state->v[i];
	struct netlink_route r = { 0 };
	char desc[320], cur[SYSCTL_VALUE_MAX] = "";
	bool present, foreign, changed, shared = false;
	int ifindex, ret = 0;

	describe(&it, desc, sizeof(desc));
	switch (it.kind) {
	case KSTATE_ADDR:
	case KSTATE_ROUTE:
	case KSTATE_PROXY:
		ret = item_present(&it, &present, &foreign, cur, err);
		if (ret < 0 || !present)
			break;
		ifindex = item_ifindex(&it, err);
		if (ifindex <= 0) {
			ret = ifindex;
			break;
		}
		cb("delete", desc, arg);
		if (dry_run)
			break;
		if (it.kind == KSTATE_ADDR) {
			ret = netlink_addr_delete(ifindex, &it.c, err);
		} else if (it.kind == KSTATE_ROUTE) {
			r.dst = it.c;
			r.ifindex = ifindex;
			r.protocol = VISP_RTPROT;
			ret = netlink_route_delete(&r, err);
		} else {
			ret = netlink_proxy_delete(ifindex, &it.c, err);
		}
		break;
	case KSTATE_NFT:
		ret = nft_part_apply(run_dir, it.name, NULL, true, &changed, NULL, err);
		if (ret < 0 || !changed)
			break;
		cb("delete", desc, arg);
		if (!dry_run)
			ret = nft_part_apply(run_dir, it.name, NULL, false, NULL, NULL, err);
		break;
	case KSTATE_SYSCTL:
		ret = item_present(&it, &present, &foreign, cur, err);
		/* Changed by someone else since: theirs now. Still needed by another role: its. */
		if (ret == 0 && present)
			ret = other_record(run_dir, role, it.name, it.want, &shared, NULL, NULL,
					   err);
		if (ret == 0 && present && !shared)
			ret = restore_sysctl(state, &it, dry_run, cb, arg, err);
		break;
	case KSTATE_RESTORE:
		ret = 0;
		break;
	}
	if (ret < 0 || dry_run)
		return ret;
	items_del(state, i);
	if (it.kind == KSTATE_SYSCTL)
		for (size_t j = state->n; j-- > 0;)
			if (state->v[j].kind == KSTATE_RESTORE && !strcmp(state->v[j].name, it.name))
				items_del(state, j);
	return state_save(run_dir, role, state, err);
}

/*
 * The global forwarding switches rewrite every interface's forwarding knob:
 * record the ones that will not come back by themselves when the global is
 * restored to orig.
 */
static int record_restores(struct kstate *k, const struct kstate_item *s, struct verr *err)
{
	const char *fam = !strcmp(s->name, SYSCTL_IPV4_FORWARD) ? "ipv4" :
			  !strcmp(s->name, SYSCTL_IPV6_FORWARD) ? "ipv6" : NULL;
	char dir[64], cur[SYSCTL_VALUE_MAX];
	struct kstate_item r;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (!fam)
		return 0;
	snprintf(dir, sizeof(dir), "/proc/sys/net/%s/conf", fam);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "all"))
			continue;
		memset(&r, 0, sizeof(r));
		r.kind = KSTATE_RESTORE;
		snprintf(r.name, sizeof(r.name), "%s", s->name);
		if ((size_t)snprintf(r.path, sizeof(r.path), "net/%s/conf/%s/forwarding", fam,
				     de->d_name) >= sizeof(r.path))
			continue;
		if (sysctl_read(r.path, cur, sizeof(cur), NULL) < 0 || !strcmp(cur, s->orig) ||
		    !token_ok(cur, SYSCTL_VALUE_MAX))
			continue;
		snprintf(r.want, sizeof(r.want), "%s", cur);
		if (items_find(&k->state, &r) < 0) {
			ret = items_add(&k->state, &r, err);
			if (ret < 0)
				break;
		}
	}
	closedir(d);
	return ret;
}

/*
 * Record it as this role's (before the change, so a crash cannot lose it).
 * inherited: the restore lines of a sysctl another role recorded first,
 * copied, since the kernel no longer shows the values of before.
 */
static int record(struct kstate *k, const struct kstate_item *it, const struct items *inherited,
		  bool dry_run, struct items *added, struct verr *err)
{
	int ret = 0;

	if (dry_run || items_find(&k->state, it) >= 0)
		return 0;
	ret = items_add(&k->state, it, err);
	if (ret == 0 && it->kind == KSTATE_SYSCTL && inherited)
		for (size_t i = 0; ret == 0 && i < inherited->n; i++)
			if (items_find(&k->state, &inherited->v[i]) < 0)
				ret = items_add(&k->state, &inherited->v[i], err);
	if (ret == 0 && it->kind == KSTATE_SYSCTL && !inherited)
		ret = record_restores(k, it, err);
	if (ret == 0)
		ret = items_add(added, it, err);
	if (ret == 0)
		ret = state_save(k->run_dir, k->role, &k->state, err);
	return ret;
}

static int ensure_sysctl(struct kstate *k, const struct kstate_item *w, bool present, int idx,
			 const char *cur, bool dry_run, kstate_change_cb cb, void *arg,
			 struct items *added, struct verr *err)
{
	struct items inherited = { 0 };
	struct kstate_item it = *w, rec;
	char desc[320];
	bool shared = false;
	int ret;

	/* Another role turned it on first: share its record, original value included. */
	if (idx < 0) {
		ret = other_record(k->run_dir, k->role, w->name, w->want, &shared, &rec,
				   &inherited, err);
		if (ret < 0)
			goto out;
	}
	if (idx >= 0)
		snprintf(it.orig, sizeof(it.orig), "%s", k->state.v[idx].orig);
	else if (shared)
		snprintf(it.orig, sizeof(it.orig), "%s", rec.orig);
	else
		snprintf(it.orig, sizeof(it.orig), "%s", cur);
	if (present) {
		ret = shared ? record(k, &it, &inherited, dry_run, added, err) : 0;
		goto out;
	}
	if (!cur[0]) {
		ret = verr_set(err, -ENOENT, "sysctl %s does not exist", it.name);
		goto out;
	}
	if (!token_ok(it.orig, SYSCTL_VALUE_MAX)) {
		ret = verr_set(err, -EINVAL, "sysctl %s has an unexpected value '%s'", it.name,
			       cur);
		goto out;
	}
	snprintf(desc, sizeof(desc), "sysctl %s = %s (was %s)", it.name, it.want, cur);
	cb("set", desc, arg);
	ret = record(k, &it, shared ? &inherited : NULL, dry_run, added, err);
	if (ret == 0 && !dry_run)
		ret = sysctl_write(it.name, it.want, err);
out:
	items_free(&inherited);
	return ret;
}

static int ensure_item(struct kstate *k, const struct kstate_item *w, bool dry_run,
		       kstate_change_cb cb, void *arg, struct items *added, struct verr *err)
{
	struct netlink_route r = { 0 };
	char desc[320], cur[SYSCTL_VALUE_MAX] = "";
	bool present, foreign, changed, owned;
	int idx, ifindex, ret;

	idx = items_find(&k->state, w);
	owned = idx >= 0;
	if (w->kind == KSTATE_NFT) {
		ret = nft_part_apply(k->run_dir, w->name, k->nft_text, true, &changed, NULL, err);
		if (ret < 0 || !changed)
			return ret;
		cb(owned ? "replace" : "add", describe(w, desc, sizeof(desc)), arg);
		ret = record(k, w, NULL, dry_run, added, err);
		if (ret == 0 && !dry_run)
			ret = nft_part_apply(k->run_dir, w->name, k->nft_text, false, NULL, NULL,
					     err);
		return ret;
	}
	ret = item_present(w, &present, &foreign, cur, err);
	if (ret < 0)
		return ret;
	if (w->kind == KSTATE_SYSCTL)
		return ensure_sysctl(k, w, present, idx, cur, dry_run, cb, arg, added, err);
	if (w->kind == KSTATE_ROUTE && present && !owned)
		return record(k, w, NULL, dry_run, added, err);	/* visp's protocol: visp's */
	if (present || foreign)
		return 0;
	ifindex = item_ifindex(w, err);
	if (ifindex <= 0)
		return ifindex < 0 ? ifindex :
		       verr_set(err, -ENODEV, "interface '%s' does not exist", w->ifname);
	switch (w->kind) {
	case KSTATE_ADDR:
		cb("add", describe(w, desc, sizeof(desc)), arg);
		ret = record(k, w, NULL, dry_run, added, err);
		if (ret == 0 && !dry_run)
			ret = netlink_addr_replace(ifindex, &w->c, NETLINK_ADDR_NOPREFIXROUTE, err);
		break;
	case KSTATE_ROUTE:
		cb("add", describe(w, desc, sizeof(desc)), arg);
		ret = record(k, w, NULL, dry_run, added, err);
		r.dst = w->c;
		r.ifindex = ifindex;
		r.protocol = VISP_RTPROT;
		r.scope = RT_SCOPE_LINK;
		if (ret == 0 && !dry_run)
			ret = netlink_route_replace(&r, err);
		break;
	default:
		break;
	}
	return ret;
}

static void quiet_cb(const char *action, const char *what, void *arg)
{
}

/* Undo what this run added, newest first, after a failure: best effort. */
static void rollback(struct kstate *k, struct items *added)
{
	for (size_t i = added->n; i-- > 0;) {
		int idx = items_find(&k->state, &added->v[i]);

		if (idx >= 0)
			undo_item(k->run_dir, k->role, &k->state, idx, false, quiet_cb, NULL, NULL);
	}
}

static bool stale(const struct kstate *k, const struct kstate_item *it, kstate_keep_fn keep,
		  void *keep_arg)
{
	if (it->kind == KSTATE_RESTORE || items_find(&k->want, it) >= 0)
		return false;
	return !(keep && keep(it, keep_arg));
}

int kstate_up(struct kstate *k, kstate_keep_fn keep, void *keep_arg, bool dry_run,
	      kstate_change_cb cb, void *arg, struct verr *err)
{
	struct items added = { 0 };
	int lockfd = -1, ret;

	if (!dry_run) {
		ret = lock_run_dir(k->run_dir, &lockfd, err);
		if (ret < 0)
			goto out;
		/* Another run may have changed it since kstate_open. */
		ret = state_load(k->run_dir, k->role, &k->state, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = k->state.n; i-- > 0;) {
		if (i >= k->state.n || !stale(k, &k->state.v[i], keep, keep_arg))
			continue;
		ret = undo_item(k->run_dir, k->role, &k->state, i, dry_run, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = 0; i < k->want.n; i++) {
		ret = ensure_item(k, &k->want.v[i], dry_run, cb, arg, &added, err);
		if (ret < 0) {
			if (!dry_run)
				rollback(k, &added);
			goto out;
		}
	}
	ret = 0;
out:
	items_free(&added);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}

int kstate_down(const char *run_dir, const char *role, const char *nft_part, bool dry_run,
		kstate_change_cb cb, void *arg, struct verr *err)
{
	struct items state = { 0 };
	struct kstate_item nft;
	int lockfd = -1, ret;

	if (!role_ok(role)) {
		ret = verr_set(err, -EINVAL, "'%s' is not a role name", role);
		goto out;
	}
	if (!dry_run) {
		ret = lock_run_dir(run_dir, &lockfd, err);
		if (ret < 0)
			goto out;
	}
	ret = state_load(run_dir, role, &state, err);
	if (ret < 0)
		goto out;
	/*
	 * The role's part of the nft table is visp's by its name: remove it
	 * even when the record of it is lost (nft_part_apply leaves other
	 * parts alone, and changes nothing when there is nothing to remove).
	 */
	memset(&nft, 0, sizeof(nft));
	nft.kind = KSTATE_NFT;
	if (nft_part && token_ok(nft_part, sizeof(nft.name))) {
		strcpy(nft.name, nft_part);
		if (items_find(&state, &nft) < 0) {
			ret = items_add(&state, &nft, err);
			if (ret < 0)
				goto out;
		}
	}
	for (size_t i = state.n; i-- > 0;) {
		if (i >= state.n || state.v[i].kind == KSTATE_RESTORE)
			continue;
		ret = undo_item(run_dir, role, &state, i, dry_run, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	if (!dry_run) {
		state.n = 0;	/* orphaned restore lines, if any */
		ret = state_save(run_dir, role, &state, err);
	}
out:
	items_free(&state);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}

int kstate_sync_proxies(struct kstate *k, const char *ifname, const struct cidr *v, size_t n,
			kstate_keep_fn keep, void *keep_arg, bool dry_run, kstate_change_cb cb,
			void *arg, struct verr *err)
{
	struct items added = { 0 };
	char desc[320], cur[SYSCTL_VALUE_MAX];
	bool present, foreign;
	struct kstate_item it;
	int lockfd = -1, ifindex, ret = 0;

	if (!dry_run) {
		ret = lock_run_dir(k->run_dir, &lockfd, err);
		if (ret == 0)
			ret = state_load(k->run_dir, k->role, &k->state, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = k->state.n; i-- > 0;) {
		const struct kstate_item *s = &k->state.v[i];
		bool listed = false;

		if (s->kind != KSTATE_PROXY)
			continue;
		for (size_t j = 0; j < n && !listed; j++)
			listed = !strcmp(s->ifname, ifname) && cidr_equal(&v[j], &s->c);
		if (listed && !stale(k, s, keep, keep_arg))
			continue;
		ret = undo_item(k->run_dir, k->role, &k->state, i, dry_run, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	for (size_t j = 0; j < n; j++) {
		memset(&it, 0, sizeof(it));
		it.kind = KSTATE_PROXY;
		snprintf(it.ifname, sizeof(it.ifname), "%s", ifname);
		it.c = v[j];
		it.c.prefix = cidr_bits(&it.c);
		ret = item_present(&it, &present, &foreign, cur, err);
		if (ret < 0)
			goto out;
		if (present) {
			ret = record(k, &it, NULL, dry_run, &added, err);
			if (ret < 0)
				goto out;
			continue;
		}
		ifindex = item_ifindex(&it, err);
		if (ifindex <= 0) {
			ret = ifindex < 0 ? ifindex :
			      verr_set(err, -ENODEV, "interface '%s' does not exist", ifname);
			goto out;
		}
		cb("add", describe(&it, desc, sizeof(desc)), arg);
		ret = record(k, &it, NULL, dry_run, &added, err);
		if (ret == 0 && !dry_run)
			ret = netlink_proxy_add(ifindex, &it.c, err);
		if (ret < 0)
			goto out;
	}
out:
	items_free(&added);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}

const char *kstate_state_name(enum kstate_item_state s)
{
	switch (s) {
	case KSTATE_IN_PLACE: return "in place";
	case KSTATE_FOREIGN: return "present, not visp's";
	case KSTATE_MISSING: return "missing";
	case KSTATE_EDITED: return "edited";
	case KSTATE_STALE: return "stale";
	case KSTATE_UNKNOWN: return "unknown (not root)";
	}
	return "?";
}

static int status_item(const char *run_dir, const struct kstate_item *it, bool owned,
		       bool wanted, kstate_status_cb cb, void *arg, struct verr *err)
{
	static const char *const kinds[] = {
		[KSTATE_ADDR] = "address", [KSTATE_ROUTE] = "route", [KSTATE_NFT] = "nft",
		[KSTATE_SYSCTL] = "sysctl", [KSTATE_RESTORE] = "sysctl", [KSTATE_PROXY] = "proxy",
	};
	struct kstate_item_status s = { .kind = kinds[it->kind] };
	char cur[SYSCTL_VALUE_MAX] = "", missing[256] = "";
	bool present = false, foreign = false, edited = false;
	int ret;

	describe(it, s.what, sizeof(s.what));
	if (it->kind == KSTATE_NFT) {
		ret = nft_part_check(run_dir, it->name, missing, sizeof(missing), &edited, err);
		if (ret == -ENOENT) {
			verr_clear(err);
			ret = 0;
			strcpy(missing, "all chains");
		}
		/* Reading nftables needs CAP_NET_ADMIN: without it, say so and go on. */
		if (ret == -EPERM) {
			verr_clear(err);
			s.state = KSTATE_UNKNOWN;
			cb(&s, arg);
			return 0;
		}
		if (ret < 0)
			return ret;
		present = !missing[0];
		if (missing[0])
			snprintf(s.what + strlen(s.what), sizeof(s.what) - strlen(s.what),
				 " (missing: %s)", missing);
	} else {
		ret = item_present(it, &present, &foreign, cur, err);
		if (ret < 0)
			return ret;
		if (it->kind == KSTATE_SYSCTL && !present && cur[0])
			snprintf(s.what + strlen(s.what), sizeof(s.what) - strlen(s.what),
				 " (now %s)", cur);
	}
	if (!wanted)
		s.state = present ? KSTATE_STALE : KSTATE_MISSING;
	else if (!present)
		s.state = foreign ? KSTATE_FOREIGN : KSTATE_MISSING;
	else if (!owned)
		s.state = KSTATE_FOREIGN;
	else
		s.state = edited ? KSTATE_EDITED : KSTATE_IN_PLACE;
	cb(&s, arg);
	return 0;
}

int kstate_status(struct kstate *k, const char *run_dir, const char *role, kstate_keep_fn keep,
		  void *keep_arg, kstate_status_cb cb, void *arg, struct verr *err)
{
	struct items state = { 0 };
	int ret;

	if (!role_ok(role)) {
		ret = verr_set(err, -EINVAL, "'%s' is not a role name", role);
		goto out;
	}
	ret = state_load(run_dir, role, &state, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; k && i < k->want.n; i++) {
		const struct kstate_item *it = &k->want.v[i];

		ret = status_item(run_dir, it, items_find(&state, it) >= 0, true, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = 0; i < state.n; i++) {
		const struct kstate_item *it = &state.v[i];

		if (it->kind == KSTATE_RESTORE || (k && items_find(&k->want, it) >= 0))
			continue;
		/* Without a desired state (k NULL), recorded items are all there is. */
		ret = status_item(run_dir, it, true, !k || (keep && keep(it, keep_arg)), cb, arg,
				  err);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	items_free(&state);
	return ret;
}
