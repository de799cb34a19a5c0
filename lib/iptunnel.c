// SPDX-License-Identifier: GPL-3.0-or-later
/* cjdns's IpTunnel, InterfaceController, RouteGen and Core_nodeInfo (see iptunnel.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iface.h"
#include "iptunnel.h"

int iptunnel_node(struct cjdns *cj, const struct visp_config *cfg, struct iptunnel_node *n,
		  struct verr *err)
{
	int ret;

	memset(n, 0, sizeof(*n));
	if (!cj)
		return verr_set(err, -ENOTCONN, "no cjdns admin connection");
	ret = cjdns_node_info(cj, n->key, n->ip6, err);
	if (ret == 0)
		ret = iface_find_tun(cfg, n->ip6, &n->tun, err);
	/* A tun that is down is still the tun: the caller's checks say what is wrong. */
	if (ret == -ENETDOWN) {
		verr_clear(err);
		ret = 0;
	}
	return ret;
}

/* Call fn with one argument (name = NULL: none); v is consumed. reply may be NULL. */
static int call1(struct cjdns *cj, const char *fn, const char *name, struct bval *v,
		 struct bval **reply, struct verr *err)
{
	struct bval *args = NULL;
	int ret;

	if (!cj) {
		bval_free(v);
		return verr_set(err, -ENOTCONN, "no cjdns admin connection");
	}
	if (name) {
		args = bval_new_dict();
		if (!args) {
			bval_free(v);
			return verr_set(err, -ENOMEM, "out of memory");
		}
		if (bval_dict_set(args, name, v) < 0) {
			bval_free(args);
			return verr_set(err, -ENOMEM, "out of memory");
		}
	}
	ret = cjdns_call(cj, fn, args, reply, err);
	bval_free(args);
	return ret;
}

static int conn_field(const struct bval *r, const char *addr, const char *prefix, int family,
		      struct cidr *out, int *pfx)
{
	const char *s = bval_dict_str(r, addr);
	int64_t p = -1;

	if (!s)
		return 0;
	if (cidr_parse_addr(s, family, out, NULL) < 0)
		return -EBADMSG;
	if (bval_dict_int(r, prefix, &p) < 0 || p < 0 || p > cidr_bits(out))
		p = cidr_bits(out);
	*pfx = (int)p;
	return 1;
}

int iptunnel_parse_conn(const struct bval *reply, struct iptunnel_conn *tc)
{
	const char *key = bval_dict_str(reply, "key");
	int64_t out = 0;
	int r4, r6;

	memset(tc, 0, sizeof(*tc));
	if (key && strlen(key) < sizeof(tc->key))
		strcpy(tc->key, key);
	tc->outgoing = bval_dict_int(reply, "outgoing", &out) == 0 && out == 1;
	r4 = conn_field(reply, "ip4Address", "ip4Prefix", AF_INET, &tc->ip4, &tc->prefix4);
	r6 = conn_field(reply, "ip6Address", "ip6Prefix", AF_INET6, &tc->ip6, &tc->prefix6);
	tc->has4 = r4 > 0;
	tc->has6 = r6 > 0;
	return r4 < 0 || r6 < 0 ? -EBADMSG : 0;
}

int iptunnel_show(struct cjdns *cj, long long conn, struct iptunnel_conn *tc, struct verr *err)
{
	struct bval *reply = NULL;
	struct verr e = { 0 };
	int ret;

	memset(tc, 0, sizeof(*tc));
	ret = call1(cj, "IpTunnel_showConnection", "connection", bval_new_int(conn), &reply, &e);
	if (ret == -EREMOTEIO && strstr(e.msg, "not found")) {
		ret = verr_set(err, -ENOENT, "cjdns has no connection %lld", conn);
		goto out;
	}
	if (ret < 0) {
		if (err)
			*err = e;
		goto out;
	}
	ret = iptunnel_parse_conn(reply, tc);
	if (ret < 0)
		ret = verr_set(err, -EBADMSG, "IpTunnel_showConnection: malformed address");
out:
	bval_free(reply);
	return ret;
}

/* How far from a connection number duplicates of it are looked for. */
#define STRAY_SPAN 8

/*
 * IpTunnel_connectTo is not idempotent: when its reply is lost, the retry
 * makes a second connection to the same gateway, and the one visp did not
 * record outlives disconnect (faults-client.sh, 30% of admin replies lost).
 * Numbers rise and the retries follow at once, so the duplicates are next
 * to the number kept; IpTunnel_listConnections is no option: on a node that
 * is a gateway too, thousands of entries make its reply abort cjdroute.
 * What cannot be asked about stays.
 */
void iptunnel_drop_strays(struct cjdns *cj, const char *key, long long keep, visp_note_fn note,
			  void *note_arg)
{
	struct cjdns_req reqs[2 * STRAY_SPAN], rm[2 * STRAY_SPAN];
	size_t n = 0, nrm = 0;

	if (!cj)
		return;
	for (long long i = keep - STRAY_SPAN; i <= keep + STRAY_SPAN; i++) {
		if (i < 0 || i == keep)
			continue;
		reqs[n] = (struct cjdns_req){ .fn = "IpTunnel_showConnection",
					      .args = bval_new_dict() };
		if (!reqs[n].args ||
		    bval_dict_set(reqs[n].args, "connection", bval_new_int(i)) < 0) {
			bval_free(reqs[n].args);
			break;
		}
		n++;
	}
	cjdns_call_many(cj, reqs, n, n, NULL);
	for (size_t j = 0; j < n; j++) {
		struct iptunnel_conn tc;
		int64_t num = -1;

		iptunnel_parse_conn(reqs[j].reply, &tc);
		bval_dict_int(reqs[j].args, "connection", &num);
		if (reqs[j].ret == 0 && tc.outgoing && !strcmp(tc.key, key)) {
			rm[nrm] = (struct cjdns_req){ .fn = "IpTunnel_removeConnection",
						      .args = reqs[j].args };
			reqs[j].args = NULL;
			visp_note(note, note_arg, true,
				  "removing cjdns connection %lld, a duplicate of %lld to %s",
				  (long long)num, keep, key);
			nrm++;
		}
		bval_free(reqs[j].args);
		bval_free(reqs[j].reply);
	}
	cjdns_call_many(cj, rm, nrm, nrm, NULL);
	for (size_t j = 0; j < nrm; j++) {
		bval_free(rm[j].args);
		bval_free(rm[j].reply);
	}
}

int iptunnel_connect(struct cjdns *cj, const char *key, long long *conn, visp_note_fn note,
		     void *note_arg, struct verr *err)
{
	struct bval *reply = NULL;
	int64_t n;
	int ret;

	ret = call1(cj, "IpTunnel_connectTo", "publicKeyOfNodeToConnectTo", bval_new_cstr(key),
		    &reply, err);
	if (ret == 0 && bval_dict_int(reply, "connection", &n) < 0)
		ret = verr_set(err, -EBADMSG, "IpTunnel_connectTo: no connection number");
	if (ret == 0) {
		*conn = n;
		iptunnel_drop_strays(cj, key, n, note, note_arg);
	}
	bval_free(reply);
	return ret;
}

int iptunnel_parse_lladdr(const char *s, struct cidr *addr, int *port)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	char *end;
	long p;
	size_t len;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		len = close - s - 1;
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		len = colon - s;
	}
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 1 || p > 65535)
		return -EINVAL;
	/* Link-local peers (with a %zone) are on-link by definition: no pin to make. */
	if (cidr_parse_addr(host, AF_UNSPEC, addr, NULL) < 0)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

struct peers {
	struct iptunnel_peer *v;
	size_t n, cap;
};

static int peers_cb(const struct bval *reply, void *arg)
{
	const struct bval *list = bval_dict_get(reply, "peers");
	struct peers *p = arg;

	if (!list || list->type != BVAL_LIST)
		return -EBADMSG;
	for (size_t i = 0; i < list->n; i++) {
		const struct bval *it = list->items[i];
		const char *addr = bval_dict_str(it, "addr"), *ll = bval_dict_str(it, "lladdr");
		const char *state = bval_dict_str(it, "state");
		struct iptunnel_peer *cp;

		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 64;
			struct iptunnel_peer *v = realloc(p->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			p->v = v;
			p->cap = cap;
		}
		cp = &p->v[p->n];

		/* Peers over other media (Ethernet beacons) have no IP to pin: skip them. */
		if (!addr || !ll || key_from_addr(addr, cp->key, NULL) < 0 ||
		    iptunnel_parse_lladdr(ll, &cp->addr, &cp->port) < 0)
			continue;
		cp->established = state && !strcmp(state, "ESTABLISHED");
		p->n++;
	}
	return 0;
}

int iptunnel_peers(struct cjdns *cj, struct iptunnel_peer **v, size_t *n, struct verr *err)
{
	struct peers p = { 0 };
	int ret = cj ? 0 : verr_set(err, -ENOTCONN, "no cjdns admin connection");

	if (ret == 0)
		ret = cjdns_call_paged(cj, "InterfaceController_peerStats", NULL, peers_cb, &p,
				       err);
	if (ret == -EBADMSG && err && !err->msg[0])
		verr_set(err, ret, "InterfaceController_peerStats: malformed reply");
	*v = p.v;
	*n = p.n;
	return ret;
}

const struct iptunnel_peer *iptunnel_find_peer(const struct iptunnel_peer *v, size_t n,
					       const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].key, key))
			return &v[i];
	return NULL;
}

int iptunnel_reset_peering(struct cjdns *cj, const char *key, struct verr *err)
{
	return call1(cj, "InterfaceController_resetPeering", "pubkey", bval_new_cstr(key), NULL,
		     err);
}

/*
 * cjdns's route generator holds a lease's prefix as the issued address with
 * the prefix length, unmasked ("172.23.23.2/0", as RouteGen_getPrefixes
 * shows), and RouteGen_removePrefix matches address and length exactly: the
 * masked network ("0.0.0.0/0") is "no_such_route".
 */
const char *iptunnel_routegen_prefix(const struct cidr *leased, int prefix, char *buf,
				     size_t len)
{
	struct cidr net = *leased;

	net.prefix = prefix;
	return cidr_format(&net, true, buf, len);
}

void iptunnel_routegen_forget(struct cjdns *cj, const struct offer *o, int prefix4, int prefix6,
			      const char *tun, visp_note_fn note, void *note_arg)
{
	char buf[CIDR_STRLEN];
	struct verr e = { 0 };
	bool any = false;

	for (int f = 0; f < 2 && cj; f++) {
		int p = f ? prefix6 : prefix4;

		if (p < 0 || p >= (f ? 128 : 32) || !(f ? o->has_ipv6 : o->has_ipv4))
			continue;
		if (call1(cj, "RouteGen_removePrefix", "route",
			  bval_new_cstr(iptunnel_routegen_prefix(f ? &o->ipv6 : &o->ipv4, p, buf,
								 sizeof(buf))), NULL, &e) == 0)
			any = true;
	}
	if (any && tun && tun[0] &&
	    call1(cj, "RouteGen_commit", "tunName", bval_new_cstr(tun), NULL, &e) < 0)
		visp_note(note, note_arg, true, "RouteGen_commit: %s", e.msg);
}
