// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "key.h"
#include "proto.h"

#define MAX_DEPTH 8

/*
 * The date by arithmetic (days since 1970 to the proleptic Gregorian
 * calendar, in 400-year eras of 146097 days whose years start on March 1,
 * so that February's leap day comes last), not by gmtime_r: glibc's reads
 * /etc/localtime on first use even for UTC, for its leap seconds, which
 * costs a lease grant four system calls and a page fault or two. POSIX
 * time has no leap seconds, and neither does this.
 */
void proto_format_time(int64_t t, char buf[32])
{
	int64_t days = t / 86400, secs = t % 86400;
	int64_t era, doe, yoe, doy, mp, year, month, day;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468;			/* from 1970-01-01 to 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;					/* [0, 146096] */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;	/* [0, 399] */
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);			/* [0, 365] */
	mp = (5 * doy + 2) / 153;					/* March = 0 */
	day = doy - (153 * mp + 2) / 5 + 1;
	month = mp < 10 ? mp + 3 : mp - 9;
	year = yoe + era * 400 + (month <= 2);
	/* An int year, as struct tm has (the bounds of gmtime_r: far past 9999). */
	snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)year, (int)month, (int)day,
		 (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
}

/* 9999-12-31T23:59:59Z: the last time that prints with a four-digit year. */
#define PROTO_TIME_MAX 253402300799LL

int proto_parse_time(const char *s, int64_t *t)
{
	struct tm tm = { 0 };
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t v;

	if (!end || strcmp(end, "Z"))
		return -EINVAL;
	/*
	 * strptime takes a leap second and timegm normalises it, so
	 * "9999-12-31T23:59:60Z" would become year 10000, which %Y cannot read
	 * back: a client that saved such an offer could not load its own state.
	 * Refuse what cannot round-trip, and expiries before the epoch.
	 */
	v = (int64_t)timegm(&tm);
	if (v < 0 || v > PROTO_TIME_MAX)
		return -EINVAL;
	*t = v;
	return 0;
}

void proto_json_addrs(struct json *j, const char *key, const struct cidr *v, int n,
		      bool with_prefix)
{
	char buf[CIDR_STRLEN];

	json_key(j, key);
	json_arr(j);
	for (int i = 0; i < n; i++)
		json_str(j, cidr_format(&v[i], with_prefix, buf, sizeof(buf)));
	json_end_arr(j);
}

static char *finish(struct json *j)
{
	const char *text = json_text(j, NULL);
	char *out = text ? strdup(text) : NULL;

	json_free(j);
	return out;
}

void proto_offer_members(struct json *j, const struct offer *o)
{
	char buf[CIDR_STRLEN], when[32];

	json_kstr(j, "public_key", o->public_key);
	json_kstr(j, "gateway_key", o->gateway_key);
	json_kstr(j, "ipv4_address", o->has_ipv4 ? cidr_format(&o->ipv4, true, buf, sizeof(buf))
						 : NULL);
	json_kstr(j, "ipv6_address", o->has_ipv6 ? cidr_format(&o->ipv6, true, buf, sizeof(buf))
						 : NULL);
	json_key(j, "routes");
	json_arr(j);
	if (o->default_route)
		json_str(j, "default");
	for (int i = 0; i < o->nroutes; i++)
		json_str(j, cidr_format(&o->routes[i], true, buf, sizeof(buf)));
	json_end_arr(j);
	proto_json_addrs(j, "gateways", o->gateways, o->ngateways, false);
	proto_json_addrs(j, "nameservers", o->nameservers, o->nnameservers, false);
	proto_format_time(o->expires, when);
	json_kstr(j, "expires", when);
}

char *proto_offer_json(const struct offer *o)
{
	struct json *j = json_new(false);

	if (!j)
		return NULL;
	json_obj(j);
	proto_offer_members(j, o);
	json_end_obj(j);
	return finish(j);
}

char *proto_error_json(const char *msg)
{
	struct json *j = json_new(false);

	if (!j)
		return NULL;
	json_obj(j);
	json_kstr(j, "error", msg);
	json_end_obj(j);
	return finish(j);
}

int proto_parse_lease_request(const char *body, size_t len, char key[KEY_BUFLEN], struct verr *err)
{
	struct jval *root = NULL;
	const char *k;
	uint8_t raw[KEY_BYTES];
	int ret;

	ret = json_parse_object(body, len, PROTO_MAX_BODY, MAX_DEPTH, &root, err);
	if (ret < 0)
		return ret;
	k = json_get_str(root, "public_key");
	if (!k) {
		ret = verr_set(err, -EINVAL, "body needs a string \"public_key\"");
		goto out;
	}
	ret = key_parse(k, raw, err);
	if (ret < 0) {
		verr_wrap(err, "public_key");
		goto out;
	}
	strcpy(key, k);
out:
	json_val_free(root);
	return ret;
}

/* An address a gateway may sensibly hand out or point to: no loopback, multicast, ... */
static bool sane_addr(const struct cidr *c)
{
	const uint8_t *a = c->addr;

	if (c->family == AF_INET)
		return a[0] != 0 && a[0] != 127 && a[0] < 224;
	return !cidr_is_cjdns(c) && a[0] != 0xff && !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) &&
	       !(c->prefix == 128 && !memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16)) &&
	       memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
}

static int parse_addr_field(const struct jval *root, const char *name, int family,
			    struct cidr *out, bool *has, struct verr *err)
{
	const char *s;

	*has = false;
	s = json_get_str(root, name);
	if (!s) {
		/* Absent or null: no address of that family; any other type is wrong. */
		const struct jval *v = json_get(root, name);

		if (v && !json_is_null(v))
			return verr_set(err, -EBADMSG, "\"%s\" must be a string or null", name);
		return 0;
	}
	if (cidr_parse(s, out, err) < 0 || out->family != family || !sane_addr(out))
		return verr_set(err, -EBADMSG, "\"%s\" is not a usable %s address: %.64s", name,
				family == AF_INET ? "IPv4" : "IPv6", s);
	*has = true;
	return 0;
}

static int parse_addrs(const struct jval *root, const char *name, struct cidr *out, int *n,
		       struct verr *err)
{
	const char *items[PROTO_MAX_ADDRS];
	int cnt = json_get_strs(root, name, items, PROTO_MAX_ADDRS);

	if (cnt < 0)
		return verr_set(err, -EBADMSG, "\"%s\" must be a list of at most %d addresses",
				name, PROTO_MAX_ADDRS);
	for (int i = 0; i < cnt; i++)
		if (cidr_parse_addr(items[i], AF_UNSPEC, &out[i], NULL) < 0 || !sane_addr(&out[i]))
			return verr_set(err, -EBADMSG, "\"%s\" holds a bad address: %.64s", name,
					items[i]);
	*n = cnt;
	return 0;
}

/*
 * Networks no lease route may lie in, whatever the client's host: its own
 * machine (loopback, "this network"), link-local and multicast ranges,
 * IPv4's reserved 240/4, and (checked apart, with any overlap) fc00::/8,
 * which is cjdns's own and must never be routed into a tunnel over cjdns.
 */
static const struct {
	int family;
	uint8_t addr[16];
	int prefix;
} never[] = {
	{ AF_INET, { 0 }, 8 }, { AF_INET, { 127 }, 8 }, { AF_INET, { 169, 254 }, 16 },
	{ AF_INET, { 224 }, 4 }, { AF_INET, { 240 }, 4 },
	{ AF_INET6, { 0 }, 128 }, { AF_INET6, { [15] = 1 }, 128 },
	{ AF_INET6, { 0xfe, 0x80 }, 10 }, { AF_INET6, { 0xff }, 8 },
};

int proto_parse_route(const char *s, struct cidr *out, bool *dflt, struct verr *err)
{
	struct cidr cjdns = { .family = AF_INET6, .addr = { 0xfc }, .prefix = 8 };
	char buf[CIDR_STRLEN], nbuf[CIDR_STRLEN];
	struct verr e = { 0 };

	*dflt = false;
	memset(out, 0, sizeof(*out));
	if (!strcmp(s, "default")) {
		*dflt = true;
		return 0;
	}
	if (cidr_parse_network(s, out, &e) < 0)
		return verr_set(err, -EINVAL, "route %s", e.msg);
	cidr_format(out, true, buf, sizeof(buf));
	/* Spelled as a network, the default route is still "default": the /1 pair. */
	if (out->prefix == 0) {
		*dflt = true;
		return 0;
	}
	if (cidr_overlap(out, &cjdns))
		return verr_set(err, -EINVAL, "route %s overlaps fc00::/8, cjdns's own network", buf);
	/* Shorter than fc00::/8 is too broad to mean anything but a default. */
	if (out->family == AF_INET6 && out->prefix < 8)
		return verr_set(err, -EINVAL, "route %s is too broad: say \"default\"", buf);
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		struct cidr n = { .family = never[i].family, .prefix = never[i].prefix };

		memcpy(n.addr, never[i].addr, sizeof(n.addr));
		if (out->family == n.family && cidr_contains(&n, out))
			return verr_set(err, -EINVAL, "route %s is in a reserved network (%s)", buf,
					cidr_format(&n, true, nbuf, sizeof(nbuf)));
	}
	return 0;
}

int proto_set_routes(struct offer *o, const char *const *v, size_t n, struct verr *err)
{
	struct cidr r;
	bool dflt;
	int ret;

	o->default_route = false;
	o->nroutes = 0;
	for (size_t i = 0; i < n; i++) {
		ret = proto_parse_route(v[i], &r, &dflt, err);
		if (ret < 0)
			return ret;
		if (dflt) {
			o->default_route = true;
			continue;
		}
		if (o->nroutes == PROTO_MAX_ROUTES)
			return verr_set(err, -E2BIG, "more than %d routes", PROTO_MAX_ROUTES);
		o->routes[o->nroutes++] = r;
	}
	return 0;
}

static int parse_routes(const struct jval *root, struct offer *o, struct verr *err)
{
	const char *items[PROTO_MAX_ROUTES];
	int cnt = json_get_strs(root, "routes", items, PROTO_MAX_ROUTES);
	struct verr e = { 0 };

	if (cnt < 0)
		return verr_set(err, -EBADMSG, "\"routes\" must be a list of at most %d routes",
				PROTO_MAX_ROUTES);
	if (proto_set_routes(o, items, cnt, &e) < 0)
		return verr_set(err, -EBADMSG, "\"routes\" holds a bad route: %s", e.msg);
	return 0;
}

int proto_parse_offer(const char *body, size_t len, struct offer *o, struct verr *err)
{
	struct jval *root = NULL;
	const char *s;
	uint8_t raw[KEY_BYTES];
	int ret;

	memset(o, 0, sizeof(*o));
	ret = json_parse_object(body, len, PROTO_MAX_REPLY, MAX_DEPTH, &root, err);
	if (ret < 0) {
		ret = -EBADMSG;
		goto out;
	}
	s = json_get_str(root, "public_key");
	if (!s || key_parse(s, raw, NULL) < 0) {
		ret = verr_set(err, -EBADMSG, "lease has no valid \"public_key\"");
		goto out;
	}
	strcpy(o->public_key, s);
	s = json_get_str(root, "gateway_key");
	if (!s || key_parse(s, raw, NULL) < 0) {
		ret = verr_set(err, -EBADMSG, "lease has no valid \"gateway_key\"");
		goto out;
	}
	strcpy(o->gateway_key, s);
	ret = parse_addr_field(root, "ipv4_address", AF_INET, &o->ipv4, &o->has_ipv4, err);
	if (ret == 0)
		ret = parse_addr_field(root, "ipv6_address", AF_INET6, &o->ipv6, &o->has_ipv6, err);
	if (ret == 0 && !o->has_ipv4 && !o->has_ipv6)
		ret = verr_set(err, -EBADMSG, "lease has neither an IPv4 nor an IPv6 address");
	if (ret == 0)
		ret = parse_routes(root, o, err);
	if (ret == 0)
		ret = parse_addrs(root, "gateways", o->gateways, &o->ngateways, err);
	if (ret == 0)
		ret = parse_addrs(root, "nameservers", o->nameservers, &o->nnameservers, err);
	if (ret < 0)
		goto out;
	s = json_get_str(root, "expires");
	if (!s || proto_parse_time(s, &o->expires) < 0) {
		ret = verr_set(err, -EBADMSG, "lease has no valid \"expires\" time");
		goto out;
	}
	ret = 0;
out:
	json_val_free(root);
	return ret;
}

int proto_parse_tunnels(const char *body, size_t len, struct tunnel_ad *ads, int max,
			struct verr *err)
{
	struct jval *root = NULL;
	uint8_t raw[KEY_BYTES];
	int n = 0, ret, count;

	ret = json_parse_array(body, len, PROTO_MAX_REPLY, MAX_DEPTH, &root, err);
	if (ret < 0)
		return -EBADMSG;
	count = json_array_len(root);
	for (int i = 0; i < count && n < max; i++) {
		const struct jval *t = json_array_at(root, i);
		const char *key = json_get_str(t, "public_key"), *url = json_get_str(t, "lease");
		long long free_n = 0;

		/* Skip what we cannot use rather than refuse the whole list. */
		if (!key || key_parse(key, raw, NULL) < 0 || !url ||
		    strlen(url) >= sizeof(ads[n].lease_url) || strncmp(url, "http://", 7))
			continue;
		strcpy(ads[n].public_key, key);
		strcpy(ads[n].lease_url, url);
		ads[n].ipv4 = json_get_bool(t, "ipv4", false);
		ads[n].ipv6 = json_get_bool(t, "ipv6", false);
		ads[n].free = json_get_int(t, "free", &free_n) == 0 ? free_n : -1;
		n++;
	}
	json_val_free(root);
	return n;
}
