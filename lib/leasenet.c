// SPDX-License-Identifier: GPL-3.0-or-later
/* The kernel side of a client's lease (see leasenet.h). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileutil.h"
#include "leasenet.h"
#include "probe.h"

#define IFNAME_VISP_BUFLEN (IFNAMSIZ + sizeof(".visp"))

struct addr_find {
	const struct cidr *want;
	struct cidr found[4];
	int n;
};

static int addr_find_cb(int ifindex, const struct cidr *a, void *arg)
{
	struct addr_find *f = arg;

	if (a->family == f->want->family && !memcmp(a->addr, f->want->addr, cidr_bits(a) / 8) &&
	    f->n < 4)
		f->found[f->n++] = *a;
	return 0;
}

/* a at whatever prefix length it was given. */
static int addr_remove(int ifindex, const struct cidr *a, struct verr *err)
{
	struct addr_find f = { .want = a };
	int ret = netlink_addrs(a->family, ifindex, addr_find_cb, &f, err);

	for (int i = 0; ret == 0 && i < f.n; i++)
		ret = netlink_addr_delete(ifindex, &f.found[i], err);
	return ret;
}

struct lease_addrs {
	const struct offer *o;
	bool on4, on6;
};

static int lease_addr_cb(int ifindex, const struct cidr *a, void *arg)
{
	struct lease_addrs *l = arg;

	if (a->family == AF_INET && l->o->has_ipv4 && !memcmp(a->addr, l->o->ipv4.addr, 4))
		l->on4 = true;
	if (a->family == AF_INET6 && l->o->has_ipv6 && !memcmp(a->addr, l->o->ipv6.addr, 16))
		l->on6 = true;
	return 0;
}

int leasenet_addrs_on(int ifindex, const struct offer *o, bool *on4, bool *on6,
		      struct verr *err)
{
	struct lease_addrs l = { .o = o };
	int ret = netlink_addrs(AF_UNSPEC, ifindex, lease_addr_cb, &l, err);

	*on4 = l.on4;
	*on6 = l.on6;
	return ret;
}

static int add_route(const struct netlink_link *tun, const struct cidr *r, struct cidr *routes,
		     int *nroutes, int max, visp_note_fn note, void *note_arg, struct verr *err)
{
	char buf[CIDR_STRLEN];
	int ret;

	if (*nroutes >= max)
		return verr_set(err, -E2BIG, "too many lease routes");
	ret = route_dev_add(tun->ifindex, r, VISP_RTPROT, err);
	if (ret == 0) {
		routes[(*nroutes)++] = *r;
		visp_note(note, note_arg, true, "route %s dev %s",
			  cidr_format(r, true, buf, sizeof(buf)), tun->name);
	}
	return ret;
}

/*
 * cjdns routes a prefix-0 lease itself (proto 52). Every other route the
 * lease names is visp's to add, and so is "default" when the gateway gave a
 * longer prefix: then visp installs the same /1 pair cjdns would.
 */
int leasenet_add_routes(const struct netlink_link *tun, const struct offer *o, int prefix4,
			int prefix6, struct cidr *routes, int *nroutes, int max,
			visp_note_fn note, void *note_arg, struct verr *err)
{
	struct cidr half;
	int ret = 0;

	for (int i = 0; ret == 0 && i < o->nroutes; i++)
		if ((o->routes[i].family == AF_INET && o->has_ipv4) ||
		    (o->routes[i].family == AF_INET6 && o->has_ipv6))
			ret = add_route(tun, &o->routes[i], routes, nroutes, max, note, note_arg,
					err);
	for (int f = 0; ret == 0 && o->default_route && f < 2; f++) {
		if (!(f ? o->has_ipv6 : o->has_ipv4) || (f ? prefix6 : prefix4) == 0)
			continue;
		for (int h = 0; ret == 0 && h < 2; h++) {
			memset(&half, 0, sizeof(half));
			half.family = f ? AF_INET6 : AF_INET;
			half.prefix = 1;
			half.addr[0] = h ? 0x80 : 0;
			ret = add_route(tun, &half, routes, nroutes, max, note, note_arg, err);
		}
	}
	return ret;
}

bool leasenet_routes_in_place(const struct route_list rl[2], int ifindex,
			      const struct cidr *routes, int nroutes, int prefix4, int prefix6)
{
	bool ok = true;

	for (int i = 0; ok && i < nroutes; i++)
		ok = route_list_dev_has(&rl[routes[i].family == AF_INET6], ifindex, VISP_RTPROT,
					&routes[i]);
	/* A prefix-0 lease lives on cjdns's routes, whatever shape they take. */
	for (int f = 0; ok && f < 2; f++)
		if ((f ? prefix6 : prefix4) == 0)
			ok = route_list_dev_has(&rl[f], ifindex, CJDNS_RTPROT, NULL);
	return ok;
}

/* Without a "probe" list: the gateway's own tun address. 1 found, 0 none. */
static int gateway_target(const struct offer *o, struct cidr *t)
{
	for (int f = 0; f < 2; f++) {
		int family = f ? AF_INET6 : AF_INET;

		if (!(f ? o->has_ipv6 : o->has_ipv4))
			continue;
		for (int i = 0; i < o->ngateways; i++) {
			if (o->gateways[i].family == family) {
				*t = o->gateways[i];
				return 1;
			}
		}
	}
	return 0;
}

/*
 * The configured probes (the gateway's address when there are none), all
 * at once: the tunnel works when any answers, so a healthy run costs one
 * round trip and a dead tunnel one timeout. "none" switches probing off.
 */
int leasenet_probe(const struct strlist *l, const struct offer *o, const char *ifname,
		   int timeout_ms, visp_note_fn note, void *note_arg, struct verr *err)
{
	struct probe_target t[PROBE_MAX_TARGETS];
	char buf[CIDR_STRLEN];
	long long t0 = mono_ms();
	size_t n = 0;
	int which = 0, ret;

	memset(t, 0, sizeof(t));
	for (size_t i = 0; i < l->n && n < PROBE_MAX_TARGETS; i++) {
		ret = config_parse_probe(l->v[i], &t[n].addr, &t[n].port);
		if (ret < 0)
			return verr_set(err, -EINVAL, "config: probe '%.80s' is not an address, "
					"\"tcp:HOST:PORT\" or \"none\"", l->v[i]);
		if (ret == 0) {
			visp_note(note, note_arg, true, "probe \"none\": the tunnel counts as working");
			return 0;
		}
		n++;
	}
	if (!l->n && gateway_target(o, &t[0].addr))
		n = 1;
	if (!n) {
		visp_note(note, note_arg, true, "no probe target: the tunnel counts as working");
		return 0;
	}
	ret = probe_any(ifname, t, n, timeout_ms, PROBE_DEFAULT_TRIES, &which, err);
	if (ret == 0)
		visp_note(note, note_arg, true, "probe: %s%s%.0d answered in %lld ms",
			  cidr_format(&t[which].addr, false, buf, sizeof(buf)),
			  t[which].port ? " port " : "", t[which].port, mono_ms() - t0);
	return ret;
}

static const char *resolvconf(void)
{
	static const char *const paths[] = { "/usr/sbin/resolvconf", "/sbin/resolvconf",
					     "/usr/bin/resolvconf", "/bin/resolvconf", NULL };

	for (int i = 0; paths[i]; i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* resolvconf -a|-d <tun>.visp, input on stdin. No shell: argv only. */
static int run_resolvconf(const char *op, const char *tun, const char *input, struct verr *err)
{
	const char *path = resolvconf();
	char iface[IFNAME_VISP_BUFLEN];
	int fds[2], status;
	pid_t pid;

	if (!path)
		return verr_set(err, -ENOENT, "resolvconf is not installed");
	snprintf(iface, sizeof(iface), "%s.visp", tun);
	/* A socket, not a pipe: send() can refuse SIGPIPE if resolvconf quits early. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		return verr_set(err, -errno, "socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return verr_set(err, -errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(fds[0], 0);
		if (null >= 0)
			dup2(null, 1);
		execl(path, "resolvconf", op, iface, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	if (input && send(fds[1], input, strlen(input), MSG_NOSIGNAL) < 0)
		status = 0;	/* the exit status below tells */
	close(fds[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return verr_set(err, -EIO, "%s %s %s failed", path, op, iface);
	return 0;
}

int leasenet_dns_apply(const char *tun, const struct offer *o, struct verr *err)
{
	char text[PROTO_MAX_ADDRS * 64 + 1] = "", buf[CIDR_STRLEN];
	size_t len = 0;

	if (!o->nnameservers)
		return 0;
	for (int i = 0; i < o->nnameservers; i++)
		len += snprintf(text + len, sizeof(text) - len, "nameserver %s\n",
				cidr_format(&o->nameservers[i], false, buf, sizeof(buf)));
	return run_resolvconf("-a", tun, text, err);
}

int leasenet_dns_undo(const char *tun, struct verr *err)
{
	return run_resolvconf("-d", tun, NULL, err);
}

int leasenet_teardown(int ifindex, const struct cidr *routes, int nroutes, const struct offer *o,
		      struct verr *err)
{
	struct verr e = { 0 };
	int ret = 0, n = 0;

	if (!ifindex)
		return 0;
	for (int i = 0; i < nroutes; i++)
		verr_first(&ret, route_dev_delete(ifindex, &routes[i], VISP_RTPROT, &e), err, &e);
	verr_first(&ret, route_flush_dev(ifindex, CJDNS_RTPROT, &n, &e), err, &e);
	for (int f = 0; o && f < 2; f++) {
		if (!(f ? o->has_ipv6 : o->has_ipv4))
			continue;
		verr_first(&ret, addr_remove(ifindex, f ? &o->ipv6 : &o->ipv4, &e), err, &e);
	}
	return ret;
}

int leasenet_pin(const struct route_list rl[2], const struct iptunnel_peer *peers, size_t npeers,
		 int tun_ifindex, bool unpin, bool dry_run, visp_note_fn note, void *note_arg,
		 struct pin **plan, size_t *nplan, int *changed, struct verr *err)
{
	struct cidr *addrs = calloc(npeers ? npeers : 1, sizeof(*addrs));
	struct pin *p = NULL;
	size_t np = 0;
	int ret = 0, n = 0;

	if (!addrs)
		return verr_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < npeers; i++)
		addrs[i] = peers[i].addr;
	if (route_pin_plan(&rl[0], &rl[1], addrs, npeers, tun_ifindex, unpin, &p, &np) < 0)
		ret = verr_set(err, -ENOMEM, "out of memory planning pins");
	if (ret == 0 && !dry_run)
		ret = route_pin_apply(p, np, &n, err);
	free(addrs);
	for (size_t i = 0; ret == 0 && i < np; i++) {
		char a[CIDR_STRLEN], g[CIDR_STRLEN];

		if (p[i].action == PIN_KEEP)
			continue;
		visp_note(note, note_arg, p[i].action >= PIN_DIRECT, "%s%s pin %s%s%s",
			  dry_run && p[i].action <= PIN_REMOVE ? "would " : "",
			  pin_action_name(p[i].action), cidr_format(&p[i].peer, false, a, sizeof(a)),
			  p[i].route.has_gateway ? " via " : "",
			  p[i].route.has_gateway ?
			  cidr_format(&p[i].route.gateway, false, g, sizeof(g)) : "");
	}
	if (changed)
		*changed = n;
	if (plan) {
		*plan = p;
		*nplan = np;
	} else {
		free(p);
	}
	return ret;
}
