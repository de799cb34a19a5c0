// SPDX-License-Identifier: GPL-3.0-or-later
/* The client's kill switch: one part of visp's nft table (killswitch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "fileutil.h"
#include "killswitch.h"
#include "netlink.h"
#include "nft.h"

const char *killswitch_state_name(enum ks_state s)
{
	switch (s) {
	case KS_OFF: return "off";
	case KS_ON: return "on";
	case KS_STALE: return "off (left from an earlier boot)";
	case KS_MISSING: return "on, but missing from the kernel";
	}
	return "?";
}

/* "<pre>ip daddr { a, b } <verdict>" for the addresses of one family in v, if any. */
static void put_set(FILE *f, const char *pre, const char *dir, const struct cidr *v, size_t n,
		    int family, const char *verdict)
{
	char buf[CIDR_STRLEN];
	bool any = false;

	for (size_t i = 0; i < n; i++) {
		if (v[i].family != family)
			continue;
		if (!any)
			fprintf(f, "\t\t%s%s %s { ", pre, family == AF_INET ? "ip" : "ip6", dir);
		fprintf(f, "%s%s", any ? ", " : "",
			cidr_format(&v[i], v[i].prefix != cidr_bits(&v[i]), buf, sizeof(buf)));
		any = true;
	}
	if (any)
		fprintf(f, " } %s\n", verdict);
}

/* What passes in both chains: the tun, the mesh, the link, the allowed networks. */
static void put_common(FILE *f, const struct killswitch *ks)
{
	fprintf(f, "\t\toifname \"%s\" accept\n", ks->tun);
	fputs("\t\tip6 daddr { fc00::/8, fe80::/10, ff00::/8 } accept\n", f);
	put_set(f, "", "daddr", ks->allow, ks->nallow, AF_INET, "accept");
	put_set(f, "", "daddr", ks->allow, ks->nallow, AF_INET6, "accept");
}

int killswitch_text(const struct killswitch *ks, char **out, struct verr *err)
{
	char boot[64], a[CIDR_STRLEN], up[40] = "";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int ret;

	*out = NULL;
	ret = nft_check_ifname("tun", ks->tun, err);
	if (ret == 0 && ks->uplink)
		ret = nft_check_ifname("uplink", ks->uplink, err);
	if (ret < 0)
		goto out;
	if (ks->uplink)
		snprintf(up, sizeof(up), "oifname \"%s\" ", ks->uplink);
	f = open_memstream(&buf, &len);
	if (!f) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	nft_boot_id(boot, sizeof(boot));
	fprintf(f, NFT_BOOT_LINE "%s\n", boot);
	/*
	 * Priority filter - 10: decided before the host's own filter chains
	 * and visp's other parts; a drop here is final whatever they say.
	 * Reject rather than drop, so that programs fail at once instead of
	 * hanging while no gateway works.
	 */
	fputs("\tchain ks_output {\n"
	      "\t\ttype filter hook output priority filter - 10; policy accept;\n"
	      "\t\toifname \"lo\" accept\n", f);
	snprintf(a, sizeof(a), "oifname \"%s\" ", ks->tun);
	put_set(f, a, "saddr", ks->own, ks->nown, AF_INET, "reject with icmpx type admin-prohibited");
	put_set(f, a, "saddr", ks->own, ks->nown, AF_INET6, "reject with icmpx type admin-prohibited");
	put_common(f, ks);
	fprintf(f, "\t\t%sudp sport 68 udp dport 67 accept\n", up);
	fprintf(f, "\t\t%sudp sport 546 udp dport 547 accept\n", up);
	/* cjdns's own UDP to its peers, by the peers' underlay address and port. */
	for (size_t i = 0; i < ks->npeers; i++)
		fprintf(f, "\t\t%s daddr %s udp dport %d accept\n",
			ks->peers[i].addr.family == AF_INET ? "ip" : "ip6",
			cidr_format(&ks->peers[i].addr, false, a, sizeof(a)), ks->peers[i].port);
	fputs("\t\treject with icmpx type admin-prohibited\n\t}\n", f);
	/*
	 * Forwarded: a shared LAN's hosts get out through the tun only. What
	 * comes in from the tun (a gateway's customers) is not ours to stop.
	 */
	fprintf(f, "\tchain ks_forward {\n"
		   "\t\ttype filter hook forward priority filter - 10; policy accept;\n"
		   "\t\tiifname \"%s\" accept\n", ks->tun);
	put_common(f, ks);
	fputs("\t\treject with icmpx type admin-prohibited\n\t}\n", f);
	ret = memstream_finish(f, &buf, out, err);
	f = NULL;
out:
	if (f)
		fclose(f);
	free(buf);
	return ret;
}

int killswitch_arm(const char *run_dir, const struct killswitch *ks, bool dry_run, bool *changed,
		   struct verr *err)
{
	char *text = NULL;
	int ret = killswitch_text(ks, &text, err);

	if (ret == 0)
		ret = nft_part_apply(run_dir, KILLSWITCH_PART, text, dry_run, changed, NULL, err);
	if (ret < 0)
		verr_wrap(err, "kill switch");
	free(text);
	return ret;
}

int killswitch_disarm(const char *run_dir, bool dry_run, bool *changed, struct verr *err)
{
	char *text = NULL;
	int ret;

	if (changed)
		*changed = false;
	/* No part, nothing to do: no need to look at the kernel (or be able to). */
	ret = nft_part_read(run_dir, KILLSWITCH_PART, &text, NULL);
	free(text);
	if (ret == -ENOENT)
		return 0;
	ret = nft_part_apply(run_dir, KILLSWITCH_PART, NULL, dry_run, changed, NULL, err);
	if (ret < 0)
		verr_wrap(err, "kill switch");
	return ret;
}

int killswitch_state(const char *run_dir, bool look, enum ks_state *st, struct verr *err)
{
	char *text = NULL, missing[128];
	bool edited = false;
	int ret;

	*st = KS_OFF;
	ret = nft_part_read(run_dir, KILLSWITCH_PART, &text, err);
	if (ret == -ENOENT) {
		ret = 0;
		goto out;
	}
	if (ret < 0)
		goto out;
	*st = nft_part_stale(text) ? KS_STALE : KS_ON;
	if (*st == KS_ON && look &&
	    nft_part_check(run_dir, KILLSWITCH_PART, missing, sizeof(missing), &edited, NULL) == 0 &&
	    missing[0])
		*st = KS_MISSING;
out:
	free(text);
	return ret;
}

/*
 * The host's addresses outside the tun, one walk for both lists: networks
 * (the on-link networks, skip[1] = the uplink left out too) or host
 * addresses. Loopback, link-local and cjdns addresses pass the switch anyway.
 */
struct walk {
	int skip[2];
	int lo;			/* loopback's ifindex, looked up once for the walk */
	bool networks;
	struct cidr *out;
	size_t max, n;
};

/*
 * One lookup per walk, where asking for each address's link took a netlink
 * round trip apiece on every healthy run. -1 (no match) without a "lo".
 */
static int loopback(void)
{
	struct netlink_link l;

	return netlink_link_by_name("lo", &l, NULL) == 0 ? l.ifindex : -1;
}

static int walk_cb(int ifindex, const struct cidr *a, void *arg)
{
	struct walk *w = arg;
	struct cidr c = *a;
	int bits = cidr_bits(a);

	if (ifindex == w->skip[0] || ifindex == w->skip[1] || ifindex == w->lo || w->n == w->max ||
	    cidr_is_cjdns(a) ||
	    (a->family == AF_INET6 && a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80))
		return 0;
	if (w->networks && (a->prefix == 0 || a->prefix >= bits))
		return 0;	/* no network to speak of (a /32 or /128 has no on-link peers) */
	if (w->networks)
		for (int i = a->prefix; i < bits; i++)
			c.addr[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	else
		c.prefix = bits;
	for (size_t i = 0; i < w->n; i++)
		if (cidr_equal(&w->out[i], &c))
			return 0;
	w->out[w->n++] = c;
	return 0;
}

int killswitch_default_allow(int tun_ifindex, int uplink_ifindex, struct cidr *out, size_t max,
			     size_t *n, struct verr *err)
{
	struct walk w = { .skip = { tun_ifindex, uplink_ifindex }, .lo = loopback(), .networks = true,
			  .out = out, .max = max };
	int ret = netlink_addrs(AF_UNSPEC, 0, walk_cb, &w, err);

	*n = w.n;
	return ret;
}

int killswitch_own_addrs(int tun_ifindex, struct cidr *out, size_t max, size_t *n,
			 struct verr *err)
{
	struct walk w = { .skip = { tun_ifindex, tun_ifindex }, .lo = loopback(), .out = out,
			  .max = max };
	int ret = netlink_addrs(AF_UNSPEC, 0, walk_cb, &w, err);

	*n = w.n;
	return ret;
}
