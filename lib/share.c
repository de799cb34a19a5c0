// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp share: the desired state of a node that routes for a LAN, worked
 * out from the LAN interfaces, the tun and the uplink. Applying, undoing
 * and reporting it is kstate.c's job (role "share").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iface.h"
#include "netlink.h"
#include "nft.h"
#include "share.h"
#include "sysctl.h"

#define ROLE "share"
#define SHARE_MAX_LANS 64

struct share {
	char *run_dir;
	struct netlink_link tun, uplink;
	bool has_uplink, fallback;
	char lans[SHARE_MAX_LANS][IFNAMSIZ];
	size_t nlans;
	struct kstate *ks;
};

static int add_lan(struct share *s, const char *name, struct verr *err)
{
	struct netlink_link l;
	int ret;

	for (size_t i = 0; i < s->nlans; i++)
		if (!strcmp(s->lans[i], name))
			return 0;	/* named twice: once is enough */
	if (s->nlans == SHARE_MAX_LANS)
		return verr_set(err, -EINVAL, "more than %d LAN interfaces", SHARE_MAX_LANS);
	ret = netlink_link_by_name(name, &l, err);
	if (ret == -ENODEV)
		return verr_set(err, -ENODEV, "LAN interface '%s' does not exist", name);
	if (ret < 0)
		return ret;
	if (l.ifindex == s->tun.ifindex)
		return verr_set(err, -EINVAL, "LAN interface '%s' is cjdns's tun device", name);
	if (s->has_uplink && l.ifindex == s->uplink.ifindex)
		return verr_set(err, -EINVAL, "LAN interface '%s' is the uplink: sharing it would "
				"open the mesh to everyone on it ('uplink' in the config names "
				"another)", name);
	if (!strcmp(l.name, "lo"))
		return verr_set(err, -EINVAL, "LAN interface '%s' is the loopback", name);
	snprintf(s->lans[s->nlans++], IFNAMSIZ, "%s", l.name);
	return 0;
}

/*
 * The uplink matters to share for two things only: a LAN must not be it,
 * and fallback lets LAN traffic out of it. Without fallback a node with no
 * uplink of its own (only the mesh) can share too.
 */
static int find_uplink(struct share *s, const struct visp_config *cfg, struct verr *err)
{
	int ret;

	ret = iface_find_uplink(cfg, true, true, &s->tun, &s->uplink, err);
	if (ret == 0) {
		s->has_uplink = true;
		return 0;
	}
	if (cfg->uplink || (ret != -ENODEV && ret != -EINVAL))
		return ret;
	if (s->fallback)
		return verr_set(err, -EINVAL, "internet fallback needs an uplink: there is no "
				"default route outside the tun and 'uplink' is not set in the "
				"config");
	verr_clear(err);
	return 0;
}

static int build_want(struct share *s, struct verr *err)
{
	const char *lans[SHARE_MAX_LANS];
	struct nft_share sh = {
		.tun = s->tun.name, .lans = lans, .nlans = s->nlans,
		.uplink = s->has_uplink ? s->uplink.name : NULL, .fallback = s->fallback,
	};
	char path[128], cur[SYSCTL_VALUE_MAX];
	struct kstate_item it;
	char *text = NULL;
	int ret;

	for (size_t i = 0; i < s->nlans; i++)
		lans[i] = s->lans[i];
	ret = nft_share_text(&sh, &text, err);
	if (ret == 0)
		ret = kstate_want_nft(s->ks, NFT_PART_SHARE, text, err);
	/*
	 * Both families, whatever the lease: IPv6 carries the mesh, IPv4 the
	 * internet once a lease comes. Forwarding last: the firewall is in
	 * place before the gate opens.
	 */
	if (ret == 0)
		ret = kstate_want_sysctl(s->ks, SYSCTL_IPV4_FORWARD, "1", err);
	if (ret == 0)
		ret = kstate_want_sysctl(s->ks, SYSCTL_IPV6_FORWARD, "1", err);
	if (ret < 0 || !s->has_uplink)
		goto out;
	/* As for the gateway: forwarding would stop the uplink's router advertisements. */
	if (sysctl_if_path(AF_INET6, s->uplink.name, "accept_ra", path, sizeof(path)) == 0) {
		memset(&it, 0, sizeof(it));
		it.kind = KSTATE_SYSCTL;
		snprintf(it.name, sizeof(it.name), "%s", path);
		if ((sysctl_read(path, cur, sizeof(cur), NULL) == 0 && !strcmp(cur, "1")) ||
		    kstate_recorded(s->ks, &it, true))
			ret = kstate_want_sysctl(s->ks, path, "2", err);
	}
out:
	free(text);
	return ret;
}

int share_open(struct share **out, const struct visp_config *cfg, const struct share_opts *o,
	       struct verr *err)
{
	const char *const *lans = o->nlans ? o->lans : (const char *const *)cfg->share_lan.v;
	size_t nlans = o->nlans ? o->nlans : cfg->share_lan.n;
	struct share *s = NULL;
	int ret;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->run_dir = strdup(cfg->run_dir))) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!nlans) {
		ret = verr_set(err, -EINVAL, "no LAN interface: name one with --lan, or in the "
			       "config's share block (\"lan\": [...])");
		goto out;
	}
	s->fallback = o->fallback || cfg->share_internet_fallback;
	ret = iface_find_tun(cfg, o->node_ip6, &s->tun, err);
	if (ret == 0)
		ret = find_uplink(s, cfg, err);
	for (size_t i = 0; ret == 0 && i < nlans; i++)
		ret = add_lan(s, lans[i], err);
	if (ret == 0)
		ret = kstate_open(&s->ks, s->run_dir, ROLE, err);
	if (ret == 0)
		ret = build_want(s, err);
	if (ret < 0)
		goto out;
	*out = s;
	s = NULL;
out:
	share_free(s);
	return ret;
}

void share_free(struct share *s)
{
	if (!s)
		return;
	kstate_free(s->ks);
	free(s->run_dir);
	free(s);
}

int share_up(struct share *s, bool dry_run, kstate_change_cb cb, void *arg, struct verr *err)
{
	return kstate_up(s->ks, NULL, NULL, dry_run, cb, arg, err);
}

int share_down(const char *run_dir, bool dry_run, kstate_change_cb cb, void *arg,
	       struct verr *err)
{
	return kstate_down(run_dir, ROLE, NFT_PART_SHARE, dry_run, cb, arg, err);
}

int share_status(struct share *s, const char *run_dir, kstate_status_cb cb, void *arg,
		 struct verr *err)
{
	return kstate_status(s ? s->ks : NULL, run_dir, ROLE, NULL, NULL, cb, arg, err);
}

const char *share_tun(const struct share *s) { return s->tun.name; }
const char *share_uplink(const struct share *s) { return s->has_uplink ? s->uplink.name : NULL; }
size_t share_nlans(const struct share *s) { return s->nlans; }
const char *share_lan(const struct share *s, size_t i) { return i < s->nlans ? s->lans[i] : NULL; }
bool share_fallback(const struct share *s) { return s->fallback; }
