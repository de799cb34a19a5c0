// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The gateway's kernel state: desired items worked out from the config,
 * recorded items in <run_dir>/tunnel.state (see tunnel.h), and the few
 * operations that bring one in line with the other.
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

#include "netlink.h"
#include "nft.h"
#include "sysctl.h"
#include "tunnel.h"

#define STATE_FILE "tunnel.state"
#define STATE_MAX_LINES 100000

enum kind { K_ADDR, K_ROUTE, K_NFT, K_SYSCTL, K_RESTORE, K_PROXY };
static const char *const kind_names[] = {
	[K_ADDR] = "addr", [K_ROUTE] = "route", [K_NFT] = "nft",
	[K_SYSCTL] = "sysctl", [K_RESTORE] = "restore", [K_PROXY] = "proxy",
};

/*
 * One piece of kernel state. addr/route/proxy: ifname and c. nft: name is
 * the part. sysctl: name is the path, want the value up sets, orig the one
 * it replaced. restore: a value that writing the sysctl `name` clobbers as a
 * side effect (the global forwarding switches rewrite every interface's
 * forwarding knob): path and want are put back after name is restored.
 */
struct item {
	enum kind kind;
	char ifname[IFNAMSIZ];
	struct cidr c;
	char name[128];
	char path[128];
	char want[SYSCTL_VALUE_MAX];
	char orig[SYSCTL_VALUE_MAX];
};

struct items {
	struct item *v;
	size_t n, cap;
};

struct tunnel {
	char *run_dir;
	struct netlink_link tun, uplink;
	bool has4, has6, nat6, onlink6, ndp;
	struct cidr pool4, pool6;
	char *nft_text;
	struct items want;	/* the desired state */
	struct items state;	/* what is recorded as visp's */
};

static void items_free(struct items *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int items_add(struct items *l, const struct item *it, struct verr *err)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct item *v = realloc(l->v, cap * sizeof(*v));

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

static bool same_item(const struct item *a, const struct item *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case K_ADDR:
	case K_ROUTE:
	case K_PROXY:
		return !strcmp(a->ifname, b->ifname) && cidr_equal(&a->c, &b->c);
	case K_NFT:
	case K_SYSCTL:
		return !strcmp(a->name, b->name);
	case K_RESTORE:
		return !strcmp(a->name, b->name) && !strcmp(a->path, b->path);
	}
	return false;
}

static int items_find(const struct items *l, const struct item *it)
{
	for (size_t i = 0; i < l->n; i++)
		if (same_item(&l->v[i], it))
			return (int)i;
	return -1;
}

static const char *describe(const struct item *it, char *buf, size_t len)
{
	char c[CIDR_STRLEN];

	switch (it->kind) {
	case K_ADDR:
		snprintf(buf, len, "address %s dev %s", cidr_format(&it->c, true, c, sizeof(c)),
			 it->ifname);
		break;
	case K_ROUTE:
		snprintf(buf, len, "route %s dev %s proto %d",
			 cidr_format(&it->c, true, c, sizeof(c)), it->ifname, VISP_RTPROT);
		break;
	case K_PROXY:
		snprintf(buf, len, "proxy neighbour %s dev %s",
			 cidr_format(&it->c, false, c, sizeof(c)), it->ifname);
		break;
	case K_NFT:
		snprintf(buf, len, "nftables table " NFT_FAMILY " " NFT_TABLE ", part %s",
			 it->name);
		break;
	case K_SYSCTL:
		snprintf(buf, len, "sysctl %s = %s", it->name, it->want);
		break;
	case K_RESTORE:
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

static int state_path(const char *run_dir, const char *file, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", run_dir, file) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static int parse_line(char *line, struct item *it)
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
	for (k = 0; k < (int)(sizeof(kind_names) / sizeof(*kind_names)); k++)
		if (!strcmp(f[0], kind_names[k]))
			break;
	if (k == (int)(sizeof(kind_names) / sizeof(*kind_names)))
		return -EINVAL;
	it->kind = k;
	switch (it->kind) {
	case K_ADDR:
	case K_ROUTE:
	case K_PROXY:
		if (n != 3 || !token_ok(f[1], IFNAMSIZ) || cidr_parse(f[2], &it->c, NULL) < 0)
			return -EINVAL;
		strcpy(it->ifname, f[1]);
		return 0;
	case K_NFT:
		if (n != 2 || !token_ok(f[1], sizeof(it->name)))
			return -EINVAL;
		strcpy(it->name, f[1]);
		return 0;
	case K_SYSCTL:
		if (n != 4 || !token_ok(f[1], sizeof(it->name)) ||
		    !token_ok(f[2], SYSCTL_VALUE_MAX) || !token_ok(f[3], SYSCTL_VALUE_MAX))
			return -EINVAL;
		strcpy(it->name, f[1]);
		strcpy(it->orig, f[2]);
		strcpy(it->want, f[3]);
		return 0;
	case K_RESTORE:
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

static int state_load(const char *run_dir, struct items *l, struct verr *err)
{
	char path[512], line[512];
	unsigned lineno = 0;
	struct item it;
	FILE *f = NULL;
	int ret;

	items_free(l);
	if (state_path(run_dir, STATE_FILE, path, sizeof(path)) < 0) {
		ret = verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
		goto out;
	}
	f = fopen(path, "re");
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

static int state_save(const char *run_dir, const struct items *l, struct verr *err)
{
	char path[512], tmp[520], c[CIDR_STRLEN];
	FILE *f = NULL;
	int ret;

	if (state_path(run_dir, STATE_FILE, path, sizeof(path)) < 0)
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	if (!l->n) {
		if (unlink(path) < 0 && errno != ENOENT)
			return verr_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f) {
		ret = verr_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	fprintf(f, "# what 'visp tunnel up' added; 'visp tunnel down' removes exactly this\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct item *it = &l->v[i];

		switch (it->kind) {
		case K_ADDR:
		case K_ROUTE:
		case K_PROXY:
			fprintf(f, "%s %s %s\n", kind_names[it->kind], it->ifname,
				cidr_format(&it->c, true, c, sizeof(c)));
			break;
		case K_NFT:
			fprintf(f, "nft %s\n", it->name);
			break;
		case K_SYSCTL:
			fprintf(f, "sysctl %s %s %s\n", it->name, it->orig, it->want);
			break;
		case K_RESTORE:
			fprintf(f, "restore %s %s %s\n", it->name, it->path, it->want);
			break;
		}
	}
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		ret = verr_set(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	ret = fclose(f);
	f = NULL;
	if (ret != 0 || rename(tmp, path) < 0) {
		ret = verr_set(err, -errno, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (f)
		fclose(f);
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static int make_dir(const char *path, struct verr *err)
{
	char buf[512];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return verr_set(err, -ENAMETOOLONG, "'%s' is too long", path);
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || !*p) {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return verr_set(err, -errno, "cannot create %s: %s", buf,
						strerror(errno));
			*p = c;
			if (!c)
				break;
		}
	}
	return 0;
}

/* One visp tunnel command at a time per run_dir. */
static int lock_run_dir(const char *run_dir, int *fd, struct verr *err)
{
	char path[512];
	int ret;

	*fd = -1;
	ret = make_dir(run_dir, err);
	if (ret < 0)
		return ret;
	if (state_path(run_dir, "tunnel.lock", path, sizeof(path)) < 0)
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*fd < 0)
		return verr_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX) < 0) {
		ret = verr_set(err, -errno, "cannot lock %s: %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
		return ret;
	}
	return 0;
}

/* Configuration checks, before anything is looked up in the kernel. */
static int parse_pool(const char *key, const char *s, int family, struct cidr *out,
		      struct verr *err)
{
	char buf[CIDR_STRLEN];
	int ret, max = family == AF_INET ? 30 : 126;

	ret = cidr_parse_network(s, out, err);
	if (ret < 0)
		return verr_wrap(err, "%s", key);
	cidr_format(out, true, buf, sizeof(buf));
	if (out->family != family)
		return verr_set(err, -EINVAL, "%s: '%s' is not an %s network", key, s,
				family == AF_INET ? "IPv4" : "IPv6");
	if (out->prefix > max)
		return verr_set(err, -EINVAL, "%s: %s is too small: the gateway and its clients "
				"need at least a /%d", key, buf, max);
	if (family == AF_INET && (out->addr[0] == 0 || out->addr[0] == 127 ||
				  out->addr[0] >= 224 || out->prefix < 8 ||
				  (out->addr[0] == 169 && out->addr[1] == 254)))
		return verr_set(err, -EINVAL, "%s: %s cannot be a pool (reserved or too large)",
				key, buf);
	if (family == AF_INET6 && cidr_is_cjdns(out))
		return verr_set(err, -EINVAL, "%s: %s is inside cjdns's own fc00::/8", key, buf);
	if (family == AF_INET6 && (out->prefix < 16 || out->addr[0] == 0xff || out->addr[0] == 0 ||
				   (out->addr[0] == 0xfe && (out->addr[1] & 0xc0) == 0x80)))
		return verr_set(err, -EINVAL, "%s: %s cannot be a pool (reserved or too large)",
				key, buf);
	return 0;
}

static int find_tun(struct tunnel *t, const struct visp_config *cfg, const char *node_ip6,
		    struct verr *err)
{
	struct cidr fc;
	int ret;

	if (cfg->tun) {
		ret = netlink_link_by_name(cfg->tun, &t->tun, err);
		if (ret == -ENODEV)
			return verr_set(err, -ENODEV,
					"tun device '%s' (config 'tun') does not exist", cfg->tun);
	} else {
		if (!node_ip6 || cidr_parse_addr(node_ip6, AF_INET6, &fc, NULL) < 0)
			return verr_set(err, -EINVAL, "cjdns gave no usable node address ('%s')",
					node_ip6 ? node_ip6 : "");
		ret = netlink_link_by_addr(&fc, &t->tun, err);
		if (ret == -ENODEV)
			return verr_set(err, -ENODEV, "no interface carries the node's address %s: "
					"is cjdroute's tun device up? ('tun' in the config names "
					"it)", node_ip6);
	}
	if (ret < 0)
		return ret;
	if (!t->tun.up)
		return verr_set(err, -ENETDOWN, "tun device '%s' is down", t->tun.name);
	return 0;
}

static int find_uplink(struct tunnel *t, const struct visp_config *cfg, struct verr *err)
{
	int ifindex = 0, ret;

	if (cfg->uplink) {
		ret = netlink_link_by_name(cfg->uplink, &t->uplink, err);
		if (ret == -ENODEV)
			return verr_set(err, -ENODEV,
					"uplink '%s' (config 'uplink') does not exist", cfg->uplink);
		if (ret < 0)
			return ret;
	} else {
		/* IPv4 NAT needs an IPv4 way out: look there first. */
		ret = netlink_default_route(t->has4 ? AF_INET : AF_INET6, &ifindex, NULL, err);
		if (ret == -ENOENT && t->has4 && t->has6)
			ret = netlink_default_route(AF_INET6, &ifindex, NULL, err);
		if (ret == -ENOENT)
			return verr_set(err, -ENODEV, "no uplink: there is no default route and "
					"'uplink' is not set in the config");
		if (ret < 0)
			return ret;
		ret = netlink_link_by_index(ifindex, &t->uplink, err);
		if (ret < 0)
			return ret;
	}
	if (t->uplink.ifindex == t->tun.ifindex)
		return verr_set(err, -EINVAL, "the uplink '%s' is the cjdns tun device; set "
				"'uplink' in the config", t->uplink.name);
	return 0;
}

struct overlap {
	struct tunnel *t;
	struct verr *err;
};

static int overlap_cb(int ifindex, const struct cidr *a, void *arg)
{
	struct overlap *o = arg;
	struct tunnel *t = o->t;
	const struct cidr *pool = a->family == AF_INET ? &t->pool4 : &t->pool6;
	char pbuf[CIDR_STRLEN], abuf[CIDR_STRLEN];
	struct netlink_link l = { 0 };
	struct cidr host = *a;

	if (ifindex == t->tun.ifindex || (a->family == AF_INET ? !t->has4 : !t->has6))
		return 0;
	if (a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80)
		return 0;	/* link-local */
	if (!cidr_overlap(pool, a))
		return 0;
	host.prefix = cidr_bits(a);
	/*
	 * A routed IPv6 pool may sit inside the uplink's on-link prefix (the
	 * clients then need NDP proxying), as long as it leaves the uplink's own
	 * address out.
	 */
	if (a->family == AF_INET6 && ifindex == t->uplink.ifindex && a->prefix < pool->prefix &&
	    !cidr_contains(pool, &host)) {
		t->onlink6 = true;
		return 0;
	}
	netlink_link_by_index(ifindex, &l, NULL);
	return verr_set(o->err, -EINVAL, "%s %s overlaps %s on %s",
			a->family == AF_INET ? "ipv4_pool" : "ipv6_pool",
			cidr_format(pool, true, pbuf, sizeof(pbuf)),
			cidr_format(a, true, abuf, sizeof(abuf)), l.name[0] ? l.name : "?");
}

struct conflict {
	struct tunnel *t;
	struct verr *err;
};

static int conflict_cb(const struct netlink_route *r, void *arg)
{
	struct conflict *c = arg;
	struct tunnel *t = c->t;
	const struct cidr *pool = r->dst.family == AF_INET ? &t->pool4 : &t->pool6;
	char pbuf[CIDR_STRLEN];
	struct netlink_link l = { 0 };
	struct item it = { .kind = K_ROUTE };

	if (r->table != RT_TABLE_MAIN || (r->dst.family == AF_INET ? !t->has4 : !t->has6) ||
	    !cidr_equal(&r->dst, pool))
		return 0;
	if (r->ifindex && r->ifindex == t->tun.ifindex)
		return 0;
	if (r->protocol == VISP_RTPROT && r->ifindex &&
	    netlink_link_by_index(r->ifindex, &l, NULL) == 0) {
		/* visp's own, from an earlier tun or config: up removes it. */
		snprintf(it.ifname, sizeof(it.ifname), "%s", l.name);
		it.c = r->dst;
		if (items_find(&t->state, &it) >= 0)
			return 0;
	}
	if (r->ifindex)
		netlink_link_by_index(r->ifindex, &l, NULL);
	return verr_set(c->err, -EEXIST, "a route for %s already exists (%s%s, proto %u) and is "
			"not visp's: remove it or choose another pool",
			cidr_format(pool, true, pbuf, sizeof(pbuf)),
			r->ifindex ? "dev " : "no device",
			r->ifindex ? (l.name[0] ? l.name : "?") : "", r->protocol);
}

static int want_sysctl(struct tunnel *t, const char *path, const char *value, struct verr *err)
{
	struct item it = { .kind = K_SYSCTL };

	snprintf(it.name, sizeof(it.name), "%s", path);
	snprintf(it.want, sizeof(it.want), "%s", value);
	return items_add(&t->want, &it, err);
}

static int build_want(struct tunnel *t, struct verr *err)
{
	struct nft_gateway gw = {
		.tun = t->tun.name, .uplink = t->uplink.name,
		.pool4 = t->has4 ? &t->pool4 : NULL, .pool6 = t->has6 ? &t->pool6 : NULL,
		.nat6 = t->nat6,
	};
	char path[128], cur[SYSCTL_VALUE_MAX];
	struct item it;
	int ret;

	for (int fam = 0; fam < 2; fam++) {
		const struct cidr *pool = fam ? &t->pool6 : &t->pool4;

		if (fam ? !t->has6 : !t->has4)
			continue;
		memset(&it, 0, sizeof(it));
		it.kind = K_ADDR;
		snprintf(it.ifname, sizeof(it.ifname), "%s", t->tun.name);
		cidr_host(pool, 1, &it.c);	/* the first host is the gateway */
		it.c.prefix = pool->prefix;
		ret = items_add(&t->want, &it, err);
		if (ret < 0)
			return ret;
		it.kind = K_ROUTE;
		it.c = *pool;
		ret = items_add(&t->want, &it, err);
		if (ret < 0)
			return ret;
	}
	ret = nft_gateway_text(&gw, &t->nft_text, err);
	if (ret < 0)
		return ret;
	memset(&it, 0, sizeof(it));
	it.kind = K_NFT;
	strcpy(it.name, NFT_PART_GATEWAY);
	ret = items_add(&t->want, &it, err);
	/* Forwarding last: the firewall is in place before the gate opens. */
	if (ret == 0 && t->has4)
		ret = want_sysctl(t, SYSCTL_IPV4_FORWARD, "1", err);
	if (ret == 0 && t->has6)
		ret = want_sysctl(t, SYSCTL_IPV6_FORWARD, "1", err);
	if (ret < 0)
		return ret;
	/*
	 * With forwarding on, an uplink with accept_ra=1 stops taking router
	 * advertisements and its RA-learned default route expires: 2 keeps
	 * them coming.
	 */
	if (t->has6 && sysctl_if_path(AF_INET6, t->uplink.name, "accept_ra", path,
				      sizeof(path)) == 0) {
		memset(&it, 0, sizeof(it));
		it.kind = K_SYSCTL;
		snprintf(it.name, sizeof(it.name), "%s", path);
		if ((sysctl_read(path, cur, sizeof(cur), NULL) == 0 && !strcmp(cur, "1")) ||
		    items_find(&t->state, &it) >= 0)
			ret = want_sysctl(t, path, "2", err);
	}
	if (ret == 0 && t->ndp && sysctl_if_path(AF_INET6, t->uplink.name, "proxy_ndp", path,
						 sizeof(path)) == 0)
		ret = want_sysctl(t, path, "1", err);
	return ret;
}

int tunnel_open(struct tunnel **out, const struct visp_config *cfg, const char *node_ip6,
		struct verr *err)
{
	struct tunnel *t = NULL;
	struct overlap o;
	struct conflict c;
	int ret;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t || !(t->run_dir = strdup(cfg->run_dir))) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!cfg->ipv4_pool && !cfg->ipv6_pool) {
		ret = verr_set(err, -EINVAL, "neither ipv4_pool nor ipv6_pool is set in the "
			       "config: a gateway needs at least one");
		goto out;
	}
	t->has4 = cfg->ipv4_pool;
	t->has6 = cfg->ipv6_pool;
	if (t->has4) {
		ret = parse_pool("ipv4_pool", cfg->ipv4_pool, AF_INET, &t->pool4, err);
		if (ret < 0)
			goto out;
	}
	if (t->has6) {
		ret = parse_pool("ipv6_pool", cfg->ipv6_pool, AF_INET6, &t->pool6, err);
		if (ret < 0)
			goto out;
		t->nat6 = cidr_is_ula(&t->pool6);
	}
	ret = find_tun(t, cfg, node_ip6, err);
	if (ret < 0)
		goto out;
	ret = find_uplink(t, cfg, err);
	if (ret < 0)
		goto out;
	ret = state_load(t->run_dir, &t->state, err);
	if (ret < 0)
		goto out;
	o = (struct overlap){ .t = t, .err = err };
	ret = netlink_addrs(AF_UNSPEC, 0, overlap_cb, &o, err);
	if (ret < 0)
		goto out;
	c = (struct conflict){ .t = t, .err = err };
	if (t->has4)
		ret = netlink_routes(AF_INET, conflict_cb, &c, err);
	if (ret == 0 && t->has6)
		ret = netlink_routes(AF_INET6, conflict_cb, &c, err);
	if (ret < 0)
		goto out;
	t->ndp = t->has6 && !t->nat6 && cfg->ndp_proxy && t->onlink6;
	ret = build_want(t, err);
	if (ret < 0)
		goto out;
	*out = t;
	t = NULL;
	ret = 0;
out:
	tunnel_free(t);
	return ret;
}

void tunnel_free(struct tunnel *t)
{
	if (!t)
		return;
	items_free(&t->want);
	items_free(&t->state);
	free(t->nft_text);
	free(t->run_dir);
	free(t);
}

const char *tunnel_tun(const struct tunnel *t) { return t->tun.name; }
const char *tunnel_uplink(const struct tunnel *t) { return t->uplink.name; }
unsigned tunnel_tun_mtu(const struct tunnel *t) { return t->tun.mtu; }

/* The ifindex of an item's interface, 0 when it is gone. */
static int item_ifindex(const struct item *it, struct verr *err)
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
	const struct item *it;
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
	const struct item *it;
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
 * non-visp route for the pool on the tun). *cur gets a sysctl's value.
 */
static int item_present(const struct tunnel *t, const struct item *it, bool *present,
			bool *foreign, char *cur, struct verr *err)
{
	int ifindex, ret = 0;

	*present = *foreign = false;
	switch (it->kind) {
	case K_ADDR:
	case K_ROUTE:
	case K_PROXY:
		ifindex = item_ifindex(it, err);
		if (ifindex <= 0)
			return ifindex;
		if (it->kind == K_ADDR) {
			ret = netlink_addr_exists(ifindex, &it->c, present, err);
		} else if (it->kind == K_ROUTE) {
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
	case K_NFT:
		return 0;	/* nft_part_check() is the one that knows */
	case K_SYSCTL:
	case K_RESTORE:
		ret = sysctl_read(it->kind == K_SYSCTL ? it->name : it->path, cur, SYSCTL_VALUE_MAX,
				  err);
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

/* Write the sysctl, then put back the knobs that writing it reset. */
static int restore_sysctl(struct tunnel *t, struct items *state, const struct item *it,
			  bool dry_run, tunnel_change_cb cb, void *arg, struct verr *err)
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
		struct item *r = &state->v[i];

		if (r->kind != K_RESTORE || strcmp(r->name, it->name))
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
static int undo_item(struct tunnel *t, const char *run_dir, struct items *state, size_t i,
		     bool dry_run, tunnel_change_cb cb, void *arg, struct verr *err)
{
	struct item it = state->v[i];
	struct netlink_route r = { 0 };
	char desc[320], cur[SYSCTL_VALUE_MAX] = "";
	bool present, foreign, changed;
	int ifindex, ret = 0;

	describe(&it, desc, sizeof(desc));
	switch (it.kind) {
	case K_ADDR:
	case K_ROUTE:
	case K_PROXY:
		ret = item_present(t, &it, &present, &foreign, cur, err);
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
		if (it.kind == K_ADDR) {
			ret = netlink_addr_delete(ifindex, &it.c, err);
		} else if (it.kind == K_ROUTE) {
			r.dst = it.c;
			r.ifindex = ifindex;
			r.protocol = VISP_RTPROT;
			ret = netlink_route_delete(&r, err);
		} else {
			ret = netlink_proxy_delete(ifindex, &it.c, err);
		}
		break;
	case K_NFT:
		ret = nft_part_apply(run_dir, it.name, NULL, true, &changed, NULL, err);
		if (ret < 0 || !changed)
			break;
		cb("delete", desc, arg);
		if (!dry_run)
			ret = nft_part_apply(run_dir, it.name, NULL, false, NULL, NULL, err);
		break;
	case K_SYSCTL:
		ret = item_present(t, &it, &present, &foreign, cur, err);
		/* Changed by someone else since: theirs now. */
		if (ret == 0 && present)
			ret = restore_sysctl(t, state, &it, dry_run, cb, arg, err);
		break;
	case K_RESTORE:
		ret = 0;
		break;
	}
	if (ret < 0 || dry_run)
		return ret;
	items_del(state, i);
	if (it.kind == K_SYSCTL)
		for (size_t j = state->n; j-- > 0;)
			if (state->v[j].kind == K_RESTORE && !strcmp(state->v[j].name, it.name))
				items_del(state, j);
	return state_save(run_dir, state, err);
}

/*
 * The global forwarding switches rewrite every interface's forwarding knob:
 * record the ones that will not come back by themselves when the global is
 * restored to orig.
 */
static int record_restores(struct tunnel *t, const struct item *s, struct verr *err)
{
	const char *fam = !strcmp(s->name, SYSCTL_IPV4_FORWARD) ? "ipv4" :
			  !strcmp(s->name, SYSCTL_IPV6_FORWARD) ? "ipv6" : NULL;
	char dir[64], cur[SYSCTL_VALUE_MAX];
	struct dirent *de;
	struct item r;
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
		r.kind = K_RESTORE;
		snprintf(r.name, sizeof(r.name), "%s", s->name);
		if ((size_t)snprintf(r.path, sizeof(r.path), "net/%s/conf/%s/forwarding", fam,
				     de->d_name) >= sizeof(r.path))
			continue;
		if (sysctl_read(r.path, cur, sizeof(cur), NULL) < 0 || !strcmp(cur, s->orig) ||
		    !token_ok(cur, SYSCTL_VALUE_MAX))
			continue;
		snprintf(r.want, sizeof(r.want), "%s", cur);
		if (items_find(&t->state, &r) < 0) {
			ret = items_add(&t->state, &r, err);
			if (ret < 0)
				break;
		}
	}
	closedir(d);
	return ret;
}

/* Record it as visp's (before the change, so a crash cannot lose it). */
static int record(struct tunnel *t, const struct item *it, bool dry_run, struct items *added,
		  struct verr *err)
{
	int ret;

	if (dry_run || items_find(&t->state, it) >= 0)
		return 0;
	ret = items_add(&t->state, it, err);
	if (ret == 0 && it->kind == K_SYSCTL)
		ret = record_restores(t, it, err);
	if (ret == 0)
		ret = items_add(added, it, err);
	if (ret == 0)
		ret = state_save(t->run_dir, &t->state, err);
	return ret;
}

static int ensure_item(struct tunnel *t, const struct item *w, bool dry_run, tunnel_change_cb cb,
		       void *arg, struct items *added, struct verr *err)
{
	struct item it = *w;
	struct netlink_route r = { 0 };
	char desc[320], cur[SYSCTL_VALUE_MAX] = "";
	bool present, foreign, changed, owned;
	int idx, ret;

	idx = items_find(&t->state, w);
	owned = idx >= 0;
	if (w->kind == K_NFT) {
		ret = nft_part_apply(t->run_dir, w->name, t->nft_text, true, &changed, NULL, err);
		if (ret < 0 || !changed)
			return ret;
		cb(owned ? "replace" : "add", describe(w, desc, sizeof(desc)), arg);
		ret = record(t, &it, dry_run, added, err);
		if (ret == 0 && !dry_run)
			ret = nft_part_apply(t->run_dir, w->name, t->nft_text, false, NULL, NULL,
					     err);
		return ret;
	}
	ret = item_present(t, w, &present, &foreign, cur, err);
	if (ret < 0)
		return ret;
	if (w->kind == K_ROUTE && present && !owned)
		return record(t, &it, dry_run, added, err);	/* visp's protocol: visp's */
	if (present || foreign)
		return 0;
	switch (w->kind) {
	case K_ADDR:
		cb("add", describe(w, desc, sizeof(desc)), arg);
		ret = record(t, &it, dry_run, added, err);
		if (ret == 0 && !dry_run)
			ret = netlink_addr_replace(t->tun.ifindex, &w->c,
						   NETLINK_ADDR_NOPREFIXROUTE, err);
		break;
	case K_ROUTE:
		cb("add", describe(w, desc, sizeof(desc)), arg);
		ret = record(t, &it, dry_run, added, err);
		r.dst = w->c;
		r.ifindex = t->tun.ifindex;
		r.protocol = VISP_RTPROT;
		r.scope = RT_SCOPE_LINK;
		if (ret == 0 && !dry_run)
			ret = netlink_route_replace(&r, err);
		break;
	case K_SYSCTL:
		if (owned)
			snprintf(it.orig, sizeof(it.orig), "%s", t->state.v[idx].orig);
		else
			snprintf(it.orig, sizeof(it.orig), "%s", cur);
		if (!cur[0]) {
			ret = verr_set(err, -ENOENT, "sysctl %s does not exist", it.name);
			break;
		}
		if (!token_ok(it.orig, SYSCTL_VALUE_MAX)) {
			ret = verr_set(err, -EINVAL, "sysctl %s has an unexpected value '%s'",
				       it.name, cur);
			break;
		}
		snprintf(desc, sizeof(desc), "sysctl %s = %s (was %s)", it.name, it.want, cur);
		cb("set", desc, arg);
		ret = record(t, &it, dry_run, added, err);
		if (ret == 0 && !dry_run)
			ret = sysctl_write(it.name, it.want, err);
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
static void rollback(struct tunnel *t, struct items *added)
{
	for (size_t i = added->n; i-- > 0;) {
		int idx = items_find(&t->state, &added->v[i]);

		if (idx >= 0)
			undo_item(t, t->run_dir, &t->state, idx, false, quiet_cb, NULL, NULL);
	}
}

static bool stale(const struct tunnel *t, const struct item *it)
{
	if (it->kind == K_RESTORE)
		return false;
	if (it->kind == K_PROXY)
		return !t->ndp || strcmp(it->ifname, t->uplink.name) ||
		       !cidr_contains(&t->pool6, &it->c);
	return items_find(&t->want, it) < 0;
}

int tunnel_up(struct tunnel *t, bool dry_run, tunnel_change_cb cb, void *arg,
	      struct verr *err)
{
	struct items added = { 0 };
	int lockfd = -1, ret;

	if (!dry_run) {
		ret = lock_run_dir(t->run_dir, &lockfd, err);
		if (ret < 0)
			goto out;
		/* Another run may have changed it since tunnel_open. */
		ret = state_load(t->run_dir, &t->state, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = t->state.n; i-- > 0;) {
		if (i >= t->state.n || !stale(t, &t->state.v[i]))
			continue;
		ret = undo_item(t, t->run_dir, &t->state, i, dry_run, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = 0; i < t->want.n; i++) {
		ret = ensure_item(t, &t->want.v[i], dry_run, cb, arg, &added, err);
		if (ret < 0) {
			if (!dry_run)
				rollback(t, &added);
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

int tunnel_down(const char *run_dir, bool dry_run, tunnel_change_cb cb, void *arg,
		struct verr *err)
{
	struct items state = { 0 };
	struct item nft;
	int lockfd = -1, ret;

	if (!dry_run) {
		ret = lock_run_dir(run_dir, &lockfd, err);
		if (ret < 0)
			goto out;
	}
	ret = state_load(run_dir, &state, err);
	if (ret < 0)
		goto out;
	/*
	 * The gateway's part of the nft table is visp's by its name: remove it
	 * even when the record of it is lost (nft_part_apply leaves other
	 * parts alone, and changes nothing when there is nothing to remove).
	 */
	memset(&nft, 0, sizeof(nft));
	nft.kind = K_NFT;
	strcpy(nft.name, NFT_PART_GATEWAY);
	if (items_find(&state, &nft) < 0) {
		ret = items_add(&state, &nft, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = state.n; i-- > 0;) {
		if (i >= state.n || state.v[i].kind == K_RESTORE)
			continue;
		ret = undo_item(NULL, run_dir, &state, i, dry_run, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	if (!dry_run) {
		state.n = 0;	/* orphaned restore lines, if any */
		ret = state_save(run_dir, &state, err);
	}
out:
	items_free(&state);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}

int tunnel_ndp_sync(struct tunnel *t, const struct cidr *leased, size_t n, bool dry_run,
		    tunnel_change_cb cb, void *arg, struct verr *err)
{
	struct items added = { 0 };
	char desc[320], cur[SYSCTL_VALUE_MAX];
	bool present, foreign;
	struct item it;
	int lockfd = -1, ret = 0;

	if (!t->ndp)
		goto out;
	if (!dry_run) {
		ret = lock_run_dir(t->run_dir, &lockfd, err);
		if (ret == 0)
			ret = state_load(t->run_dir, &t->state, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = t->state.n; i-- > 0;) {
		const struct item *s = &t->state.v[i];
		bool keep = false;

		if (s->kind != K_PROXY)
			continue;
		for (size_t j = 0; j < n && !keep; j++)
			keep = !strcmp(s->ifname, t->uplink.name) &&
			       cidr_equal(&leased[j], &s->c);
		if (keep && !stale(t, s))
			continue;
		ret = undo_item(t, t->run_dir, &t->state, i, dry_run, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	for (size_t j = 0; j < n; j++) {
		memset(&it, 0, sizeof(it));
		it.kind = K_PROXY;
		snprintf(it.ifname, sizeof(it.ifname), "%s", t->uplink.name);
		it.c = leased[j];
		it.c.prefix = cidr_bits(&it.c);
		if (it.c.family != AF_INET6 || !cidr_contains(&t->pool6, &it.c))
			continue;
		ret = item_present(t, &it, &present, &foreign, cur, err);
		if (ret < 0)
			goto out;
		if (present) {
			ret = record(t, &it, dry_run, &added, err);
			if (ret < 0)
				goto out;
			continue;
		}
		cb("add", describe(&it, desc, sizeof(desc)), arg);
		ret = record(t, &it, dry_run, &added, err);
		if (ret == 0 && !dry_run)
			ret = netlink_proxy_add(t->uplink.ifindex, &it.c, err);
		if (ret < 0)
			goto out;
	}
out:
	items_free(&added);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}

const char *tunnel_state_name(enum tunnel_item_state s)
{
	switch (s) {
	case TUNNEL_IN_PLACE: return "in place";
	case TUNNEL_FOREIGN: return "present, not visp's";
	case TUNNEL_MISSING: return "missing";
	case TUNNEL_EDITED: return "edited";
	case TUNNEL_STALE: return "stale";
	case TUNNEL_UNKNOWN: return "unknown (not root)";
	}
	return "?";
}

static int status_item(struct tunnel *t, const char *run_dir, const struct item *it, bool owned,
		       bool wanted, tunnel_status_cb cb, void *arg, struct verr *err)
{
	static const char *const kinds[] = {
		[K_ADDR] = "address", [K_ROUTE] = "route", [K_NFT] = "nft",
		[K_SYSCTL] = "sysctl", [K_RESTORE] = "sysctl", [K_PROXY] = "proxy",
	};
	struct tunnel_item_status s = { .kind = kinds[it->kind] };
	char cur[SYSCTL_VALUE_MAX] = "", missing[256] = "";
	bool present = false, foreign = false, edited = false;
	int ret;

	describe(it, s.what, sizeof(s.what));
	if (it->kind == K_NFT) {
		ret = nft_part_check(run_dir, it->name, missing, sizeof(missing), &edited, err);
		if (ret == -ENOENT) {
			verr_clear(err);
			ret = 0;
			strcpy(missing, "all chains");
		}
		/* Reading nftables needs CAP_NET_ADMIN: without it, say so and go on. */
		if (ret == -EPERM) {
			verr_clear(err);
			s.state = TUNNEL_UNKNOWN;
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
		ret = item_present(t, it, &present, &foreign, cur, err);
		if (ret < 0)
			return ret;
		if ((it->kind == K_SYSCTL) && !present && cur[0])
			snprintf(s.what + strlen(s.what), sizeof(s.what) - strlen(s.what),
				 " (now %s)", cur);
	}
	if (!wanted)
		s.state = present ? TUNNEL_STALE : TUNNEL_MISSING;
	else if (!present)
		s.state = foreign ? TUNNEL_FOREIGN : TUNNEL_MISSING;
	else if (!owned)
		s.state = TUNNEL_FOREIGN;
	else
		s.state = edited ? TUNNEL_EDITED : TUNNEL_IN_PLACE;
	cb(&s, arg);
	return 0;
}

int tunnel_status(struct tunnel *t, const char *run_dir, tunnel_status_cb cb, void *arg,
		  struct verr *err)
{
	struct items state = { 0 };
	int ret;

	ret = state_load(run_dir, &state, err);
	if (ret < 0)
		goto out;
	for (size_t i = 0; t && i < t->want.n; i++) {
		ret = status_item(t, run_dir, &t->want.v[i], items_find(&state, &t->want.v[i]) >= 0,
				  true, cb, arg, err);
		if (ret < 0)
			goto out;
	}
	for (size_t i = 0; i < state.n; i++) {
		const struct item *it = &state.v[i];

		if (it->kind == K_RESTORE || (t && items_find(&t->want, it) >= 0))
			continue;
		/* Without a desired state (t NULL), recorded items are all there is. */
		ret = status_item(t, run_dir, it, true,
				  !t || (it->kind == K_PROXY && !stale(t, it)), cb, arg, err);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	items_free(&state);
	return ret;
}
