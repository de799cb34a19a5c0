// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * /etc/visp/visp.conf: JSON with comments, read with yajl. Then the cjdns
 * admin credentials, in the order DESIGN.md gives: the config's "cjdns"
 * block, ~/.cjdnsadmin, the "admin" block of cjdroute.conf.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "config.h"
#include "cidr.h"
#include "fileutil.h"
#include "json.h"
#include "units.h"

#define CONFIG_MAX_BYTES (1 << 20)
/* Deeper than any config, .cjdnsadmin or cjdroute.conf; yajl has no limit of its own. */
#define CONFIG_MAX_DEPTH 32

/* C_STRS: a string or a list of them; C_SECS: seconds or "never" (-1). */
enum ctype { C_STR, C_INT, C_BOOL, C_LIST, C_STRS, C_SECS };

struct ckey {
	const char *name;
	enum ctype type;
	size_t off;
};

#define K(n, t, f) { n, t, offsetof(struct visp_config, f) }
static const struct ckey top_keys[] = {
	K("state_dir", C_STR, state_dir),	K("run_dir", C_STR, run_dir),
	K("tun", C_STR, tun),			K("cjdroute_conf", C_STR, cjdroute_conf),
	K("ipv4_pool", C_STR, ipv4_pool),	K("ipv6_pool", C_STR, ipv6_pool),
	K("uplink", C_STR, uplink),		K("routes", C_LIST, routes),
	K("nameservers", C_LIST, nameservers),	K("lease_time", C_INT, lease_time),
	K("policy", C_STR, policy),		K("allowlist", C_STR, allowlist),
	K("max_leases", C_INT, max_leases),	K("listen", C_STR, listen),
	K("ndp_proxy", C_BOOL, ndp_proxy),	K("gateways", C_LIST, gateways),
	K("discover", C_BOOL, discover),	K("probe", C_STRS, probe),
	K("dns", C_BOOL, dns),			K("standby", C_INT, standby),
	K("failback", C_SECS, failback),	K("kill_switch", C_BOOL, kill_switch),
	K("kill_switch_allow", C_LIST, kill_switch_allow),
	{ NULL, 0, 0 }
};
static const struct ckey share_keys[] = {
	K("lan", C_LIST, share_lan),
	K("internet_fallback", C_BOOL, share_internet_fallback),
	{ NULL, 0, 0 }
};
#undef K

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int strlist_add(struct strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	l->v = v;
	l->v[l->n] = strdup(s);
	if (!l->v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void config_wipe_free(char *secret)
{
	if (!secret)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

static void set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? strdup(s) : NULL;
}

struct visp_config *config_new_defaults(void)
{
	struct visp_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	set_str(&cfg->cjdns_host, "127.0.0.1");
	cfg->cjdns_port = 11234;
	set_str(&cfg->cjdroute_conf, "/etc/cjdroute.conf");
	set_str(&cfg->state_dir, "/var/lib/visp");
	set_str(&cfg->run_dir, "/run/visp");
	set_str(&cfg->policy, "open");
	cfg->lease_time = 86400;
	cfg->discover = true;
	cfg->standby = 1;
	cfg->failback = 300;
	cfg->quota_period = PERIOD_MONTH;
	cfg->quota_throttle = 256000;
	return cfg;
}

void config_free(struct visp_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->cjdns_host);
	config_wipe_free(cfg->cjdns_password);
	free(cfg->cjdns_source);
	free(cfg->cjdroute_conf);
	free(cfg->state_dir);
	free(cfg->run_dir);
	free(cfg->tun);
	free(cfg->ipv4_pool);
	free(cfg->ipv6_pool);
	free(cfg->uplink);
	strlist_free(&cfg->routes);
	strlist_free(&cfg->nameservers);
	free(cfg->policy);
	free(cfg->allowlist);
	free(cfg->listen);
	strlist_free(&cfg->gateways);
	strlist_free(&cfg->probe);
	strlist_free(&cfg->kill_switch_allow);
	strlist_free(&cfg->share_lan);
	free(cfg);
}

/* 1-based line of byte offset off in text. */
static unsigned line_of(const char *text, size_t len, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off && i < len; i++)
		line += text[i] == '\n';
	return line;
}

/*
 * yajl_tree keeps no positions, so a semantic error is placed at the first
 * occurrence of the quoted key: good enough to point a person at it.
 */
static unsigned key_line(const char *text, size_t len, const char *key)
{
	char quoted[128];
	const char *p;

	snprintf(quoted, sizeof(quoted), "\"%s\"", key);
	p = memmem(text, len, quoted, strlen(quoted));
	return p ? line_of(text, len, p - text) : 0;
}

/* yajl_tree reports no offset for syntax errors: find it with a bare parser. */
static unsigned syntax_error_line(const char *text, size_t len)
{
	yajl_handle h = yajl_alloc(NULL, NULL, NULL);
	size_t off = len;

	if (!h)
		return 0;
	yajl_config(h, yajl_allow_comments, 1);
	if (yajl_parse(h, (const unsigned char *)text, len) != yajl_status_ok)
		off = yajl_get_bytes_consumed(h);
	else if (yajl_complete_parse(h) == yajl_status_ok)
		off = 0;
	yajl_free(h);
	return off ? line_of(text, len, off) : 0;
}

struct where {
	const char *text, *name;
	size_t len;
};

static int bad_key(const struct where *w, struct verr *err, const char *key, const char *why)
{
	return verr_set(err, -EINVAL, "%s:%u: '%s' %s", w->name, key_line(w->text, w->len, key),
			key, why);
}

static int set_key(void *base, const struct ckey *k, yajl_val v, const struct where *w,
		   struct verr *err)
{
	void *field = (char *)base + k->off;

	switch (k->type) {
	case C_STR:
		if (!YAJL_IS_STRING(v))
			return bad_key(w, err, k->name, "must be a string");
		set_str(field, YAJL_GET_STRING(v));
		return *(char **)field ? 0 : -ENOMEM;
	case C_INT:
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
		    YAJL_GET_INTEGER(v) > INT32_MAX)
			return bad_key(w, err, k->name, "must be a non-negative integer");
		*(long *)field = (long)YAJL_GET_INTEGER(v);
		return 0;
	case C_BOOL:
		if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v))
			return bad_key(w, err, k->name, "must be true or false");
		*(bool *)field = YAJL_IS_TRUE(v);
		return 0;
	case C_SECS:
		if (YAJL_IS_STRING(v) && !strcmp(v->u.string, "never")) {
			*(long *)field = -1;
			return 0;
		}
		if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 0 ||
		    YAJL_GET_INTEGER(v) > INT32_MAX)
			return bad_key(w, err, k->name, "must be \"never\" or a number of seconds");
		*(long *)field = (long)YAJL_GET_INTEGER(v);
		return 0;
	case C_STRS:
		if (YAJL_IS_STRING(v)) {
			strlist_free(field);
			return strlist_add(field, YAJL_GET_STRING(v));
		}
		__attribute__((fallthrough));	/* a list */
	case C_LIST:
		if (!YAJL_IS_ARRAY(v))
			return bad_key(w, err, k->name, "must be a list of strings");
		strlist_free(field);
		for (size_t i = 0; i < v->u.array.len; i++) {
			if (!YAJL_IS_STRING(v->u.array.values[i]))
				return bad_key(w, err, k->name, "must be a list of strings");
			if (strlist_add(field, YAJL_GET_STRING(v->u.array.values[i])) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	return -EINVAL;
}

static int set_keys(void *base, const struct ckey *keys, yajl_val obj, const char *section,
		    const struct where *w, struct verr *err)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *name = obj->u.object.keys[i];
		const struct ckey *k = keys;
		int ret;

		while (k->name && strcmp(k->name, name))
			k++;
		if (!k->name)
			return bad_key(w, err, name, section ? "is not a key of this section"
							     : "is not a visp setting");
		ret = set_key(base, k, obj->u.object.values[i], w, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The config's own "cjdns" block: {"addr": "127.0.0.1", "port": 11234, "password": "..."}. */
static int set_cjdns_block(struct visp_config *cfg, yajl_val obj, const struct where *w,
			   struct verr *err)
{
	for (size_t i = 0; i < obj->u.object.len; i++) {
		const char *name = obj->u.object.keys[i];
		yajl_val v = obj->u.object.values[i];
		int ret;

		if (!strcmp(name, "port")) {
			if (!YAJL_IS_INTEGER(v) || YAJL_GET_INTEGER(v) < 1 ||
			    YAJL_GET_INTEGER(v) > 65535)
				return bad_key(w, err, name, "must be a port number");
			cfg->cjdns_port = (int)YAJL_GET_INTEGER(v);
			continue;
		}
		if (strcmp(name, "addr") && strcmp(name, "password") && strcmp(name, "password_file"))
			return bad_key(w, err, name, "is not a key of the cjdns section");
		if (!YAJL_IS_STRING(v))
			return bad_key(w, err, name, "must be a string");
		if (!strcmp(name, "addr")) {
			set_str(&cfg->cjdns_host, YAJL_GET_STRING(v));
		} else if (!strcmp(name, "password")) {
			config_wipe_free(cfg->cjdns_password);
			cfg->cjdns_password = NULL;
			set_str(&cfg->cjdns_password, YAJL_GET_STRING(v));
		} else {
			if (YAJL_GET_STRING(v)[0] != '/')
				return bad_key(w, err, name, "must be an absolute path");
			config_wipe_free(cfg->cjdns_password);
			cfg->cjdns_password = NULL;
			ret = config_read_password(YAJL_GET_STRING(v), &cfg->cjdns_password, err);
			if (ret < 0)
				return verr_wrap(err, "%s:%u", w->name, key_line(w->text, w->len, name));
		}
	}
	set_str(&cfg->cjdns_source, w->name);
	return 0;
}

/* A rate or size member of rate_limit or quota; units.h says what is accepted. */
static int set_unit(uint64_t *out, bool rate, yajl_val v, const char *key, const char *member,
		    const struct where *w, struct verr *err)
{
	struct verr e = { 0 };
	char why[600];

	if (!YAJL_IS_STRING(v))
		return bad_key(w, err, key, rate ? "rates must be strings such as \"10mbit\""
						 : "sizes must be strings such as \"50G\"");
	if ((rate ? units_parse_rate(YAJL_GET_STRING(v), out, &e)
		  : units_parse_size(YAJL_GET_STRING(v), out, &e)) == 0)
		return 0;
	snprintf(why, sizeof(why), "%s%s%s", member ? member : "", member ? ": " : "", e.msg);
	return bad_key(w, err, key, why);
}

/* "rate_limit": "10mbit" (both ways) or {"down": "10mbit", "up": "2mbit"}. */
static int set_rate_limit(struct visp_config *cfg, yajl_val v, const struct where *w,
			  struct verr *err)
{
	int ret = 0;

	cfg->rate_down = cfg->rate_up = 0;
	if (YAJL_IS_STRING(v)) {
		ret = set_unit(&cfg->rate_down, true, v, "rate_limit", NULL, w, err);
		cfg->rate_up = cfg->rate_down;
		return ret;
	}
	if (!YAJL_IS_OBJECT(v))
		return bad_key(w, err, "rate_limit", "must be a rate or {\"down\": ..., \"up\": ...}");
	for (size_t i = 0; ret == 0 && i < v->u.object.len; i++) {
		const char *m = v->u.object.keys[i];

		if (strcmp(m, "down") && strcmp(m, "up"))
			return bad_key(w, err, m, "is not a key of rate_limit (down, up)");
		ret = set_unit(!strcmp(m, "down") ? &cfg->rate_down : &cfg->rate_up, true,
			       v->u.object.values[i], "rate_limit", m, w, err);
	}
	return ret;
}

/* "quota": {"bytes": "50G", "period": "month", "over": "throttle", "throttle": "256kbit"}. */
static int set_quota(struct visp_config *cfg, yajl_val v, const struct where *w, struct verr *err)
{
	struct verr e = { 0 };
	enum units_period p;
	int ret = 0;

	if (!YAJL_IS_OBJECT(v))
		return bad_key(w, err, "quota", "must be an object");
	for (size_t i = 0; ret == 0 && i < v->u.object.len; i++) {
		const char *m = v->u.object.keys[i];
		yajl_val mv = v->u.object.values[i];
		const char *s = YAJL_IS_STRING(mv) ? YAJL_GET_STRING(mv) : NULL;

		if (!strcmp(m, "bytes")) {
			ret = set_unit(&cfg->quota_bytes, false, mv, "quota", m, w, err);
		} else if (!strcmp(m, "throttle")) {
			ret = set_unit(&cfg->quota_throttle, true, mv, "quota", m, w, err);
		} else if (!strcmp(m, "period")) {
			if (units_parse_period(s, &p, &e) < 0)
				return bad_key(w, err, "quota", e.msg);
			cfg->quota_period = p;
		} else if (!strcmp(m, "over")) {
			if (!s || (strcmp(s, "throttle") && strcmp(s, "block")))
				return bad_key(w, err, "quota", "over: must be \"throttle\" or "
					       "\"block\"");
			cfg->quota_block = !strcmp(s, "block");
		} else {
			return bad_key(w, err, m, "is not a key of quota (bytes, period, over, "
				       "throttle)");
		}
	}
	if (ret == 0 && !cfg->quota_bytes)
		ret = bad_key(w, err, "quota", "has no \"bytes\"");
	return ret;
}

static int check_values(struct visp_config *cfg, const struct where *w, struct verr *err)
{
	struct cidr net;
	/*
	 * Paths must not depend on the caller's working directory: under sudo
	 * a relative one would name a file of the user's choosing.
	 */
	const struct { const char *key, *val; } paths[] = {
		{ "state_dir", cfg->state_dir }, { "run_dir", cfg->run_dir },
		{ "cjdroute_conf", cfg->cjdroute_conf }, { "allowlist", cfg->allowlist },
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i].val && paths[i].val[0] != '/')
			return bad_key(w, err, paths[i].key, "must be an absolute path");
	if (strcmp(cfg->policy, "open") && strcmp(cfg->policy, "allowlist"))
		return bad_key(w, err, "policy", "must be \"open\" or \"allowlist\"");
	if (!strcmp(cfg->policy, "allowlist") && !cfg->allowlist)
		return bad_key(w, err, "policy", "is \"allowlist\" but no 'allowlist' file is set");
	if (cfg->lease_time && cfg->lease_time < 60)
		return bad_key(w, err, "lease_time", "must be at least 60 seconds");
	if (cfg->standby > CONFIG_MAX_STANDBY)
		return bad_key(w, err, "standby", "must be 0 to 4");
	if (cfg->probe.n > CONFIG_MAX_PROBES)
		return bad_key(w, err, "probe", "names more than 8 targets");
	for (size_t i = 0; i < cfg->probe.n; i++)
		if (config_parse_probe(cfg->probe.v[i], NULL, NULL) < 0)
			return verr_set(err, -EINVAL, "%s:%u: 'probe' '%.80s' is not an address, "
					"\"tcp:HOST:PORT\" or \"none\"", w->name,
					key_line(w->text, w->len, "probe"), cfg->probe.v[i]);
	for (size_t i = 0; i < cfg->kill_switch_allow.n; i++)
		if (cidr_parse_network(cfg->kill_switch_allow.v[i], &net, NULL) < 0)
			return verr_set(err, -EINVAL, "%s:%u: 'kill_switch_allow' '%.80s' is not a "
					"CIDR", w->name, key_line(w->text, w->len,
								  "kill_switch_allow"),
					cfg->kill_switch_allow.v[i]);
	return 0;
}

int config_parse_probe(const char *s, struct cidr *addr, int *port)
{
	struct cidr a;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	char *end;
	long p = 0;
	size_t len;

	if (!strcmp(s, "none"))
		return 0;
	if (strncmp(s, "tcp:", 4))
		goto plain;
	s += 4;
	colon = strrchr(s, ':');
	if (!colon)
		return -EINVAL;
	len = colon - s;
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || p < 1 || p > 65535)
		return -EINVAL;
	s = host;
plain:
	if (cidr_parse_addr(s, AF_UNSPEC, &a, NULL) < 0 || a.prefix != cidr_bits(&a))
		return -EINVAL;
	if (addr)
		*addr = a;
	if (port)
		*port = (int)p;
	return 1;
}

int config_parse(struct visp_config *cfg, const char *text, size_t len, const char *name,
		 struct verr *err)
{
	struct where w = { .text = text, .name = name, .len = len };
	char ebuf[256] = "", *copy = NULL;
	yajl_val root = NULL;
	int ret = -EINVAL;

	/* yajl_tree wants a NUL-terminated string; a NUL inside is an error too. */
	if (memchr(text, '\0', len)) {
		verr_set(err, -EINVAL, "%s:%u: NUL byte in config", name,
			 line_of(text, len, (const char *)memchr(text, '\0', len) - text));
		goto out;
	}
	if (json_check_depth(text, len, CONFIG_MAX_DEPTH, err) < 0) {
		verr_wrap(err, "%s", name);
		goto out;
	}
	copy = strndup(text, len);
	if (!copy) {
		ret = -ENOMEM;
		goto out;
	}
	root = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	if (!root) {
		/* yajl's message spans lines (it quotes the text): keep the first. */
		ebuf[strcspn(ebuf, "\n")] = '\0';
		verr_set(err, -EINVAL, "%s:%u: %s", name, syntax_error_line(text, len),
			 ebuf[0] ? ebuf : "not valid JSON");
		goto out;
	}
	if (!YAJL_IS_OBJECT(root)) {
		verr_set(err, -EINVAL, "%s:1: the config must be a JSON object", name);
		goto out;
	}
	for (size_t i = 0; i < root->u.object.len; i++) {
		const char *key = root->u.object.keys[i];
		yajl_val v = root->u.object.values[i];
		int r;

		if (!strcmp(key, "cjdns") || !strcmp(key, "share")) {
			if (!YAJL_IS_OBJECT(v)) {
				ret = bad_key(&w, err, key, "must be an object");
				goto out;
			}
			r = !strcmp(key, "cjdns") ? set_cjdns_block(cfg, v, &w, err)
						 : set_keys(cfg, share_keys, v, key, &w, err);
		} else if (!strcmp(key, "rate_limit")) {
			r = set_rate_limit(cfg, v, &w, err);
		} else if (!strcmp(key, "quota")) {
			r = set_quota(cfg, v, &w, err);
		} else {
			const struct ckey *k = top_keys;

			while (k->name && strcmp(k->name, key))
				k++;
			r = k->name ? set_key(cfg, k, v, &w, err)
				    : bad_key(&w, err, key, "is not a visp setting");
			if (r == 0 && !strcmp(key, "kill_switch_allow"))
				cfg->kill_switch_allow_set = true;
		}
		if (r < 0) {
			ret = r;
			goto out;
		}
	}
	ret = check_values(cfg, &w, err);
out:
	yajl_tree_free(root);
	free(copy);
	return ret;
}

/* Read a whole small file; -ENOENT passes through so optional files can be absent. */
static int read_file(const char *path, bool require_root_owned, char **out, size_t *outlen,
		     struct verr *err)
{
	unsigned flags = FILE_REGULAR | (require_root_owned ? FILE_ROOT_OWNED : 0);
	int ret = file_read(path, CONFIG_MAX_BYTES, flags, out, outlen, err);

	if (ret == -EFBIG)
		ret = verr_set(err, -EFBIG, "%s is too large", path);
	return ret;
}

int config_read_password(const char *path, char **out, struct verr *err)
{
	char *text = NULL;
	size_t len = 0;
	int ret;

	ret = read_file(path, false, &text, &len, err);
	if (ret < 0)
		return ret;
	text[strcspn(text, "\r\n")] = '\0';
	*out = strdup(text);
	explicit_bzero(text, len);
	free(text);
	return *out ? 0 : -ENOMEM;
}

int config_parse_hostport(const char *s, char *host, size_t hostlen, int *port,
			  struct verr *err)
{
	const char *colon, *hend, *p = NULL;
	char *end = NULL;
	long v;

	if (s[0] == '[') {
		hend = strchr(s, ']');
		if (!hend || (hend[1] && hend[1] != ':'))
			return verr_set(err, -EINVAL, "'%s' is not HOST:PORT", s);
		if (hend[1] == ':')
			p = hend + 2;
		s++;
	} else {
		colon = strrchr(s, ':');
		/* More than one colon without brackets: a bare IPv6 address. */
		if (colon && strchr(s, ':') == colon) {
			hend = colon;
			p = colon + 1;
		} else {
			hend = s + strlen(s);
		}
	}
	if ((size_t)(hend - s) >= hostlen || hend == s)
		return verr_set(err, -EINVAL, "'%s' has no usable host", s);
	memcpy(host, s, hend - s);
	host[hend - s] = '\0';
	if (!p)
		return 0;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || end == p || *end || v < 1 || v > 65535)
		return verr_set(err, -EINVAL, "'%s' has a bad port", p);
	*port = (int)v;
	return 0;
}

/* Parse a JSON (with comments) file into a yajl tree; absent files give -ENOENT. */
static int load_json(const char *path, bool require_root_owned, yajl_val *out, struct verr *err)
{
	char *text = NULL, ebuf[256] = "";
	size_t len = 0;
	int ret;

	ret = read_file(path, require_root_owned, &text, &len, err);
	if (ret < 0)
		return ret;
	ret = json_check_depth(text, len, CONFIG_MAX_DEPTH, err);
	if (ret < 0) {
		verr_wrap(err, "%s", path);
		free(text);
		return ret;
	}
	*out = yajl_tree_parse(text, ebuf, sizeof(ebuf));
	if (!*out || !YAJL_IS_OBJECT(*out)) {
		ebuf[strcspn(ebuf, "\n")] = '\0';
		ret = verr_set(err, -EINVAL, "%s:%u: %s", path, syntax_error_line(text, len),
			       ebuf[0] ? ebuf : "not a JSON object");
		yajl_tree_free(*out);
		*out = NULL;
	}
	free(text);
	return ret;
}

static const char *tree_str(yajl_val obj, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(obj, path, yajl_t_string);

	return v ? YAJL_GET_STRING(v) : NULL;
}

/* ~/.cjdnsadmin, as cjdns's own tools read it. */
static int from_cjdnsadmin(struct visp_config *cfg, bool root_owned, struct verr *err)
{
	const char *home = getenv("HOME"), *path[] = { "port", NULL };
	char file[PATH_MAX];
	yajl_val root = NULL, port;
	int ret;

	if (!home)
		return -ENOENT;
	snprintf(file, sizeof(file), "%s/.cjdnsadmin", home);
	ret = load_json(file, root_owned, &root, err);
	if (ret < 0)
		return ret;
	if (tree_str(root, "addr"))
		set_str(&cfg->cjdns_host, tree_str(root, "addr"));
	port = yajl_tree_get(root, path, yajl_t_number);
	if (port && YAJL_IS_INTEGER(port) && YAJL_GET_INTEGER(port) > 0 &&
	    YAJL_GET_INTEGER(port) < 65536)
		cfg->cjdns_port = (int)YAJL_GET_INTEGER(port);
	if (tree_str(root, "password"))
		set_str(&cfg->cjdns_password, tree_str(root, "password"));
	if (tree_str(root, "config"))
		set_str(&cfg->cjdroute_conf, tree_str(root, "config"));
	set_str(&cfg->cjdns_source, file);
	yajl_tree_free(root);
	return 0;
}

/* The admin block of cjdroute.conf: {"admin": {"bind": "127.0.0.1:11234", "password": ...}}. */
static int from_cjdroute_conf(struct visp_config *cfg, bool root_owned, struct verr *err)
{
	const char *bind_path[] = { "admin", "bind", NULL }, *pw_path[] = { "admin", "password", NULL };
	yajl_val root = NULL, bind, pw;
	int ret;

	ret = load_json(cfg->cjdroute_conf, root_owned, &root, err);
	if (ret < 0)
		return ret;
	bind = yajl_tree_get(root, bind_path, yajl_t_string);
	pw = yajl_tree_get(root, pw_path, yajl_t_string);
	if (bind) {
		char host[256];

		ret = config_parse_hostport(YAJL_GET_STRING(bind), host, sizeof(host),
					    &cfg->cjdns_port, err);
		if (ret < 0) {
			verr_wrap(err, "%s: admin.bind", cfg->cjdroute_conf);
			goto out;
		}
		set_str(&cfg->cjdns_host, host);
	}
	if (pw)
		set_str(&cfg->cjdns_password, YAJL_GET_STRING(pw));
	set_str(&cfg->cjdns_source, cfg->cjdroute_conf);
	ret = 0;
out:
	yajl_tree_free(root);
	return ret;
}

int config_load(struct visp_config **out, const char *path, bool require_root_owned,
		struct verr *err)
{
	struct visp_config *cfg = config_new_defaults();
	const char *file = path ? path : VISP_CONF_DEFAULT;
	char *text = NULL;
	size_t len = 0;
	int ret;

	if (!cfg)
		return -ENOMEM;
	ret = read_file(file, require_root_owned, &text, &len, err);
	if (ret == -ENOENT && !path) {
		ret = 0;	/* no config at all: every default applies */
	} else if (ret == 0) {
		set_str(&cfg->path, file);
		ret = config_parse(cfg, text, len, file, err);
	}
	if (ret < 0)
		goto out;
	/* Credentials: the config's block wins, then the ecosystem's files. */
	if (!cfg->cjdns_source) {
		ret = from_cjdnsadmin(cfg, require_root_owned, err);
		if (ret == -ENOENT)
			ret = from_cjdroute_conf(cfg, require_root_owned, err);
		if (ret == -ENOENT || ret == -EACCES)
			ret = 0;	/* none readable: unauthenticated calls only */
		if (ret < 0)
			goto out;
	}
	verr_clear(err);
	*out = cfg;
	cfg = NULL;
out:
	if (text) {
		explicit_bzero(text, len);
		free(text);
	}
	config_free(cfg);
	return ret;
}
