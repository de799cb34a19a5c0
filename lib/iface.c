// SPDX-License-Identifier: GPL-3.0-or-later
/* The tun device and the uplink (see iface.h). */
#include <errno.h>

#include "iface.h"

int iface_find_tun(const struct visp_config *cfg, const char *node_ip6, struct netlink_link *tun,
		   struct verr *err)
{
	struct cidr fc;
	int ret;

	if (cfg->tun) {
		ret = netlink_link_by_name(cfg->tun, tun, err);
		if (ret == -ENODEV)
			return verr_set(err, -ENODEV,
					"tun device '%s' (config 'tun') does not exist", cfg->tun);
	} else {
		if (!node_ip6 || cidr_parse_addr(node_ip6, AF_INET6, &fc, NULL) < 0)
			return verr_set(err, -EINVAL, "cjdns gave no usable node address ('%s')",
					node_ip6 ? node_ip6 : "");
		ret = netlink_link_by_addr(&fc, tun, err);
		if (ret == -ENODEV)
			return verr_set(err, -ENODEV, "no interface carries the node's address %s: "
					"is cjdroute's tun device up? ('tun' in the config names "
					"it)", node_ip6);
	}
	if (ret < 0)
		return ret;
	if (!tun->up)
		return verr_set(err, -ENETDOWN, "tun device '%s' is down", tun->name);
	return 0;
}

int iface_find_uplink(const struct visp_config *cfg, bool want4, bool want6,
		      const struct netlink_link *tun, struct netlink_link *uplink,
		      struct verr *err)
{
	int ifindex = 0, ret;

	if (cfg->uplink) {
		ret = netlink_link_by_name(cfg->uplink, uplink, err);
		if (ret == -ENODEV)
			return verr_set(err, -ENODEV,
					"uplink '%s' (config 'uplink') does not exist", cfg->uplink);
		if (ret < 0)
			return ret;
	} else {
		/* IPv4 NAT needs an IPv4 way out: look there first. */
		ret = want4 || !want6 ? netlink_default_route(AF_INET, &ifindex, NULL, err) :
		      -ENOENT;
		if (ret == -ENOENT && want6)
			ret = netlink_default_route(AF_INET6, &ifindex, NULL, err);
		if (ret == -ENOENT)
			return verr_set(err, -ENODEV, "no uplink: there is no default route and "
					"'uplink' is not set in the config");
		if (ret < 0)
			return ret;
		ret = netlink_link_by_index(ifindex, uplink, err);
		if (ret < 0)
			return ret;
	}
	if (uplink->ifindex == tun->ifindex)
		return verr_set(err, -EINVAL, "the uplink '%s' is the cjdns tun device; set "
				"'uplink' in the config", uplink->name);
	return 0;
}
