// SPDX-License-Identifier: GPL-3.0-or-later
/* The client half of the lease protocol (see leaseclient.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "json.h"
#include "leaseclient.h"

#define DISCOVER_TIMEOUT_MS 2000
#define DELETE_TIMEOUT_MS 3000
#define MAX_ADS_PER_PEER 8

const char *leaseclient_source_name(enum cand_source s)
{
	switch (s) {
	case CAND_CURRENT: return "current";
	case CAND_ARG: return "argument";
	case CAND_CONFIG: return "config";
	case CAND_ANNOUNCED: return "announced";
	}
	return "?";
}

/* "http://[fc..]:PORT/PATH": the host must be a cjdns address, so the key can be checked. */
static int parse_url(const char *s, struct candidate *c, struct verr *err)
{
	const char *host = s + 8, *end, *p;
	char buf[INET6_ADDRSTRLEN];
	long port = VISP_LEASE_PORT;

	if (strncmp(s, "http://[", 8))
		return verr_set(err, -EINVAL, "'%.80s' is neither a key nor an http://[fc..]/ URL", s);
	end = strchr(host, ']');
	if (!end || (size_t)(end - host) >= sizeof(buf))
		return verr_set(err, -EINVAL, "'%.80s': bad host", s);
	memcpy(buf, host, end - host);
	buf[end - host] = '\0';
	if (inet_pton(AF_INET6, buf, c->addr) != 1 || c->addr[0] != 0xfc)
		return verr_set(err, -EINVAL, "'%.80s': the host must be a cjdns (fc00::/8) address",
				s);
	p = end + 1;
	if (*p == ':') {
		char *e;

		port = strtol(p + 1, &e, 10);
		if (e == p + 1 || port < 1 || port > 65535)
			return verr_set(err, -EINVAL, "'%.80s': bad port", s);
		p = e;
	}
	if (*p && *p != '/')
		return verr_set(err, -EINVAL, "'%.80s': bad URL", s);
	for (const char *q = p; *q; q++)
		if (*q <= ' ' || *q >= 0x7f || *q == '?' || *q == '#')
			return verr_set(err, -EINVAL, "'%.80s': bad character in the path", s);
	if ((size_t)snprintf(c->url, sizeof(c->url), "http://[%s]:%ld%s", buf, port,
			     *p ? p : "/lease") >= sizeof(c->url))
		return verr_set(err, -EINVAL, "'%.80s': URL too long", s);
	return 0;
}

int leaseclient_parse_gateway(const char *s, enum cand_source source, struct candidate *out,
			      struct verr *err)
{
	char ip[IP6_BUFLEN];
	int ret;

	memset(out, 0, sizeof(*out));
	out->source = source;
	if (strncmp(s, "http", 4))
		ret = key_addr_str(s, ip, err);
	else
		return parse_url(s, out, err);
	if (ret < 0)
		return verr_wrap(err, "'%.80s'", s);
	snprintf(out->key, sizeof(out->key), "%s", s);
	snprintf(out->url, sizeof(out->url), "http://[%s]:%d/lease", ip, VISP_LEASE_PORT);
	return key_str_to_ip6(s, out->addr, NULL);
}

bool leaseclient_listed(const struct candidate *v, size_t n, const uint8_t addr[16])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(v[i].addr, addr, 16))
			return true;
	return false;
}

static void cand_push(struct candidate *out, size_t *n, size_t max, const struct candidate *c)
{
	if (*n < max && !leaseclient_listed(out, *n, c->addr))
		out[(*n)++] = *c;
}

size_t leaseclient_order(const struct candidate *args, size_t nargs, const struct candidate *conf,
			 size_t nconf, const struct candidate *ads, size_t nads,
			 const struct candidate *current, int failures, struct candidate *out,
			 size_t max)
{
	bool keep = current && (!nargs || leaseclient_listed(args, nargs, current->addr));
	size_t n = 0;

	if (keep && failures < LEASECLIENT_DEMOTE_AFTER)
		cand_push(out, &n, max, current);
	for (size_t i = 0; i < nargs; i++)
		cand_push(out, &n, max, &args[i]);
	for (size_t i = 0; i < nconf; i++)
		cand_push(out, &n, max, &conf[i]);
	for (size_t i = 0; i < nads; i++)
		cand_push(out, &n, max, &ads[i]);
	if (keep && failures >= LEASECLIENT_DEMOTE_AFTER) {
		/* Demoted: wherever it was listed, it goes last. */
		for (size_t i = 0; i < n; i++) {
			if (memcmp(out[i].addr, current->addr, 16))
				continue;
			memmove(&out[i], &out[i + 1], (n - i - 1) * sizeof(*out));
			n--;
			break;
		}
		cand_push(out, &n, max, current);
	}
	return n;
}

/* The gateway's {"error": "..."}, made safe to print. */
static void gw_error(const struct httpc_resp *r, char *buf, size_t len)
{
	struct jval *root = NULL;
	const char *e = NULL;
	size_t i = 0;

	buf[0] = '\0';
	if (r->body && json_parse_object(r->body, r->len, 4096, 4, &root, NULL) == 0)
		e = json_get_str(root, "error");
	for (; e && *e && i + 1 < len && i < 120; e++)
		buf[i++] = (*e >= ' ' && *e < 0x7f) ? *e : '?';
	buf[i] = '\0';
	json_val_free(root);
}

static char *lease_body(const char *key)
{
	struct json *j = json_new(false);
	const char *t;
	char *out = NULL;

	if (!j)
		return NULL;
	json_obj(j);
	json_kstr(j, "public_key", key);
	json_end_obj(j);
	t = json_text(j, NULL);
	if (t)
		out = strdup(t);
	json_free(j);
	return out;
}

int leaseclient_post(const char *url, const char *key, const char *src, int timeout_ms,
		     struct offer *o, struct verr *err)
{
	struct httpc_resp r = { 0 };
	char *body = lease_body(key);
	char msg[128];
	int ret;

	if (!body)
		return verr_set(err, -ENOMEM, "out of memory");
	ret = httpc_request("POST", url, body, src, timeout_ms, PROTO_MAX_REPLY, &r, err);
	if (ret < 0)
		goto out;
	if (r.status != 200) {
		gw_error(&r, msg, sizeof(msg));
		ret = verr_set(err, r.status == 403 ? -EACCES : r.status == 503 ? -EBUSY : -EPROTO,
			       "%s refused the lease: HTTP %ld%s%s", url, r.status,
			       msg[0] ? ": " : "", msg);
		goto out;
	}
	ret = proto_parse_offer(r.body ? r.body : "", r.len, o, err);
	if (ret < 0) {
		ret = -EBADMSG;
		verr_wrap(err, "%s sent a bad lease", url);
	}
out:
	httpc_resp_free(&r);
	free(body);
	return ret;
}

int leaseclient_delete(const char *url, const char *key, const char *src, struct verr *err)
{
	struct httpc_resp r = { 0 };
	char full[LEASECLIENT_URL_MAX + 80];
	int ret;

	snprintf(full, sizeof(full), "%s?public_key=%s", url, key);
	ret = httpc_request("DELETE", full, NULL, src, DELETE_TIMEOUT_MS, 4096, &r, err);
	if (ret == 0 && r.status != 200 && r.status != 404)
		ret = verr_set(err, -EPROTO, "DELETE %s: HTTP %ld", url, r.status);
	httpc_resp_free(&r);
	return ret;
}

int leaseclient_check_offer(const struct candidate *cand, const char *my_key,
			    const struct offer *o, struct verr *err)
{
	uint8_t ip6[16];

	if (strcmp(o->public_key, my_key))
		return verr_set(err, -EBADMSG, "%s leased to another key", cand->url);
	if (cand->key[0] && strcmp(o->gateway_key, cand->key))
		return verr_set(err, -EBADMSG, "%s answered for another gateway key", cand->url);
	/* cjdns addresses cannot be forged: the key must be the URL host's own. */
	if (key_str_to_ip6(o->gateway_key, ip6, NULL) < 0 || memcmp(ip6, cand->addr, 16))
		return verr_set(err, -EBADMSG, "%s: gateway_key %s is not the host's key",
				cand->url, o->gateway_key);
	return 0;
}

static int add_ads(const struct httpc_resp *r, struct candidate *out, size_t max, size_t *n)
{
	struct tunnel_ad ads[MAX_ADS_PER_PEER];
	struct candidate cand;
	uint8_t ip6[16];
	int cnt;

	cnt = proto_parse_tunnels(r->body, r->len, ads, MAX_ADS_PER_PEER, NULL);
	for (int i = 0; i < cnt && *n < max; i++) {
		if (ads[i].free == 0 || (!ads[i].ipv4 && !ads[i].ipv6))
			continue;
		if (leaseclient_parse_gateway(ads[i].lease_url, CAND_ANNOUNCED, &cand, NULL) < 0 ||
		    key_str_to_ip6(ads[i].public_key, ip6, NULL) < 0 || memcmp(ip6, cand.addr, 16))
			continue;
		strcpy(cand.key, ads[i].public_key);
		out[(*n)++] = cand;
	}
	return 0;
}

/* curl multi, with a short timeout: a silent peer must not hold up the rest. */
int leaseclient_discover(const struct iptunnel_peer *peers, size_t npeers, const char *src,
			 struct candidate *out, size_t max, size_t *n, visp_note_fn note,
			 void *note_arg, struct verr *err)
{
	const char **urls = calloc(npeers ? npeers : 1, sizeof(*urls));
	struct httpc_resp *resp = calloc(npeers ? npeers : 1, sizeof(*resp));
	size_t nurls = 0;
	char ip[IP6_BUFLEN];
	int ret = -ENOMEM;

	*n = 0;
	if (!urls || !resp)
		goto out;
	for (size_t i = 0; i < npeers; i++) {
		char *u;

		if (!peers[i].established || key_addr_str(peers[i].key, ip, NULL) < 0 ||
		    asprintf(&u, "http://[%s]:%d/tunnels", ip, VISP_LEASE_PORT) < 0)
			continue;
		urls[nurls++] = u;
	}
	ret = nurls ? httpc_get_many(urls, nurls, src, DISCOVER_TIMEOUT_MS, PROTO_MAX_REPLY,
				     resp, err) : 0;
	for (size_t i = 0; ret == 0 && i < nurls; i++)
		if (resp[i].status == 200 && resp[i].body)
			add_ads(&resp[i], out, max, n);
	visp_note(note, note_arg, true, "asked %zu peers for announcements: %zu gateways", nurls, *n);
out:
	for (size_t i = 0; urls && i < nurls; i++) {
		free((char *)urls[i]);
		httpc_resp_free(&resp[i]);
	}
	free(urls);
	free(resp);
	return ret;
}

