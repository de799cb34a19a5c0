// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * visp client: lease, connect, pin, route, probe, fail over, disconnect.
 *
 * The order of a connection attempt matters:
 *   POST /lease -> pin the underlay peers -> IpTunnel_connectTo -> wait for
 *   the addresses -> lease routes -> probe.
 * Pins go in before connectTo because cjdns installs its /1 routes the
 * moment the gateway's answer arrives, and from then on the packets to an
 * underlay peer that is not on-link would follow them into the tunnel that
 * rides on that very peering.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "httpc.h"
#include "json.h"
#include "key.h"
#include "netlink.h"
#include "probe.h"
#include "routeguard.h"

#define STATE_MAX_BYTES (64 * 1024)
#define STATE_MAX_DEPTH 8
#define DEFAULT_WAIT_MS 12000		/* cjdns re-asks for addresses every 10 s */
#define DEFAULT_HTTP_TIMEOUT_MS 5000
#define DISCOVER_TIMEOUT_MS 2000
#define DELETE_TIMEOUT_MS 3000
#define RETRY_HTTP_TIMEOUT_MS 3000	/* after a peering reset: up in well under a second */
#define POLL_MS 100
#define LOCK_WAIT_MS 30000
#define MAX_ADS_PER_PEER 8

/* ---- names ---- */

const char *cand_source_name(enum cand_source s)
{
	switch (s) {
	case CAND_CURRENT: return "current";
	case CAND_ARG: return "argument";
	case CAND_CONFIG: return "config";
	case CAND_ANNOUNCED: return "announced";
	}
	return "?";
}

const char *client_health_name(enum client_health h)
{
	static const char *const names[] = {
		[HEALTH_OK] = "healthy", [HEALTH_DISCONNECTED] = "disconnected",
		[HEALTH_CJDNS] = "cjdns-down", [HEALTH_TUN_MISSING] = "tun-missing",
		[HEALTH_GONE] = "connection-gone", [HEALTH_NO_ADDRESS] = "no-address",
		[HEALTH_ADDR_MISSING] = "address-missing", [HEALTH_ROUTES_MISSING] = "routes-missing",
		[HEALTH_EXPIRED] = "lease-expired", [HEALTH_PROBE_FAILED] = "probe-failed",
	};

	return (unsigned)h < sizeof(names) / sizeof(names[0]) ? names[h] : "?";
}

/* ---- gateways: keys and lease URLs ---- */

static int key_ip6(const char *key, uint8_t ip6[16], struct verr *err)
{
	uint8_t raw[KEY_BYTES];
	int ret = key_parse(key, raw, err);

	if (ret == 0)
		key_to_ip6(raw, ip6);
	return ret;
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

int client_parse_gateway(const char *s, enum cand_source source, struct candidate *out,
			 struct verr *err)
{
	char ip[40];
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
	return key_ip6(s, out->addr, NULL);
}

static bool cand_listed(const struct candidate *v, size_t n, const uint8_t addr[16])
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(v[i].addr, addr, 16))
			return true;
	return false;
}

static void cand_push(struct candidate *out, size_t *n, size_t max, const struct candidate *c)
{
	if (*n < max && !cand_listed(out, *n, c->addr))
		out[(*n)++] = *c;
}

size_t client_order(const struct candidate *args, size_t nargs, const struct candidate *conf,
		    size_t nconf, const struct candidate *ads, size_t nads,
		    const struct candidate *current, int failures, struct candidate *out,
		    size_t max)
{
	bool keep = current && (!nargs || cand_listed(args, nargs, current->addr));
	size_t n = 0;

	if (keep && failures < CLIENT_DEMOTE_AFTER)
		cand_push(out, &n, max, current);
	for (size_t i = 0; i < nargs; i++)
		cand_push(out, &n, max, &args[i]);
	for (size_t i = 0; i < nconf; i++)
		cand_push(out, &n, max, &conf[i]);
	for (size_t i = 0; i < nads; i++)
		cand_push(out, &n, max, &ads[i]);
	if (keep && failures >= CLIENT_DEMOTE_AFTER) {
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

/* ---- underlay peers ---- */

int client_parse_lladdr(const char *s, struct cidr *addr, int *port)
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

/* ---- state ---- */

void client_state_init(struct client_state *st)
{
	memset(st, 0, sizeof(*st));
	st->conn = -1;
	st->prefix4 = st->prefix6 = -1;
}

static void state_path(const char *dir, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static char *state_json(const struct client_state *st)
{
	struct json *j = json_new(true);
	const char *text;
	char *out = NULL;

	if (!j)
		return NULL;
	json_obj(j);
	json_kint(j, "version", 1);
	json_kbool(j, "connected", st->connected);
	json_kstr(j, "gateway", st->gateway[0] ? st->gateway : NULL);
	json_kstr(j, "lease_url", st->lease_url[0] ? st->lease_url : NULL);
	json_kint(j, "connection", st->conn);
	json_kstr(j, "tun", st->tun[0] ? st->tun : NULL);
	json_kint(j, "since", st->since);
	json_kint(j, "leased_at", st->leased_at);
	json_kint(j, "cjdns_prefix4", st->prefix4);
	json_kint(j, "cjdns_prefix6", st->prefix6);
	proto_json_addrs(j, "visp_routes", st->routes, st->nroutes, true);
	json_kbool(j, "dns", st->dns);
	json_kint(j, "failures", st->failures);
	json_kstr(j, "last_error", st->last_error[0] ? st->last_error : NULL);
	if (st->connected)
		proto_offer_members(j, &st->lease);
	json_end_obj(j);
	text = json_text(j, NULL);
	if (text)
		out = strdup(text);
	json_free(j);
	return out;
}

static int mkdir_p(const char *dir, struct verr *err)
{
	char buf[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return verr_set(err, -EINVAL, "bad run_dir '%s'", dir);
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return verr_set(err, -errno, "cannot create '%s': %s", buf, strerror(errno));
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

int client_state_save(const char *dir, const struct client_state *st, struct verr *err)
{
	char path[4200], tmp[4220];
	char *text = state_json(st);
	size_t len;
	int fd = -1, ret;

	if (!text)
		return verr_set(err, -ENOMEM, "cannot render the client state");
	ret = mkdir_p(dir, err);
	if (ret < 0)
		goto out;
	state_path(dir, CLIENT_STATE_FILE, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		ret = verr_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		ret = verr_set(err, -errno ? -errno : -EIO, "cannot write '%s': %s", tmp,
			       strerror(errno ? errno : EIO));
		goto out;
	}
	close(fd);
	fd = -1;
	/* rename is atomic: a reader sees the old state or the new one, never half. */
	if (rename(tmp, path) < 0) {
		ret = verr_set(err, -errno, "cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	free(text);
	return ret;
}

int client_state_remove(const char *dir, struct verr *err)
{
	char path[4200];

	state_path(dir, CLIENT_STATE_FILE, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return verr_set(err, -errno, "cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

static int read_file(const char *path, size_t max, char **out, size_t *len, struct verr *err)
{
	char *buf = NULL;
	size_t n = 0;
	ssize_t r;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return verr_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
	buf = malloc(max + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	while ((r = read(fd, buf + n, max + 1 - n)) > 0 && n < max + 1)
		n += r;
	if (r < 0) {
		ret = verr_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (n > max) {
		ret = verr_set(err, -EBADMSG, "'%s' is larger than %zu bytes", path, max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

static int copy_str(const struct jval *root, const char *key, char *dst, size_t len)
{
	const char *s = json_get_str(root, key);

	if (!s)
		return json_has(root, key) && !json_is_null(json_get(root, key)) ? -EBADMSG : 0;
	if (strlen(s) >= len)
		return -EBADMSG;
	strcpy(dst, s);
	return 0;
}

static int get_int(const struct jval *root, const char *key, long long lo, long long hi,
		   long long *out)
{
	long long v;
	int ret = json_get_int(root, key, &v);

	if (ret == -ENOENT)
		return 0;
	if (ret < 0 || v < lo || v > hi)
		return -EBADMSG;
	*out = v;
	return 0;
}

static int state_fields(const struct jval *root, struct client_state *st)
{
	const char *routes[CLIENT_MAX_ROUTES];
	long long conn = -1, since = 0, at = 0, p4 = -1, p6 = -1, fails = 0;
	uint8_t raw[KEY_BYTES];
	int n;

	st->connected = json_get_bool(root, "connected", false);
	if (copy_str(root, "gateway", st->gateway, sizeof(st->gateway)) < 0 ||
	    copy_str(root, "lease_url", st->lease_url, sizeof(st->lease_url)) < 0 ||
	    copy_str(root, "tun", st->tun, sizeof(st->tun)) < 0 ||
	    copy_str(root, "last_error", st->last_error, sizeof(st->last_error)) < 0)
		return -EBADMSG;
	if (st->gateway[0] && key_parse(st->gateway, raw, NULL) < 0)
		return -EBADMSG;
	if (get_int(root, "connection", -1, INT32_MAX, &conn) < 0 ||
	    get_int(root, "since", 0, INT64_MAX, &since) < 0 ||
	    get_int(root, "leased_at", 0, INT64_MAX, &at) < 0 ||
	    get_int(root, "cjdns_prefix4", -1, 32, &p4) < 0 ||
	    get_int(root, "cjdns_prefix6", -1, 128, &p6) < 0 ||
	    get_int(root, "failures", 0, 1000000, &fails) < 0)
		return -EBADMSG;
	st->conn = conn;
	st->since = since;
	st->leased_at = at;
	st->prefix4 = (int)p4;
	st->prefix6 = (int)p6;
	st->failures = (int)fails;
	st->dns = json_get_bool(root, "dns", false);
	n = json_get_strs(root, "visp_routes", routes, CLIENT_MAX_ROUTES);
	if (n < 0)
		return -EBADMSG;
	for (int i = 0; i < n; i++)
		if (cidr_parse_network(routes[i], &st->routes[i], NULL) < 0)
			return -EBADMSG;
	st->nroutes = n;
	return 0;
}

int client_state_load(const char *dir, struct client_state *st, struct verr *err)
{
	struct jval *root = NULL;
	char path[4200];
	char *text = NULL;
	size_t len = 0;
	int ret;

	client_state_init(st);
	state_path(dir, CLIENT_STATE_FILE, path, sizeof(path));
	ret = read_file(path, STATE_MAX_BYTES, &text, &len, err);
	if (ret < 0)
		goto out;
	ret = json_parse_object(text, len, STATE_MAX_BYTES, STATE_MAX_DEPTH, &root, err);
	if (ret == 0 && state_fields(root, st) < 0)
		ret = -EBADMSG;
	if (ret == 0 && st->connected)
		ret = proto_parse_offer(text, len, &st->lease, err) < 0 ? -EBADMSG : 0;
	if (ret < 0) {
		verr_set(err, -EBADMSG, "'%s' is damaged", path);
		client_state_init(st);
		ret = -EBADMSG;
	}
out:
	json_val_free(root);
	free(text);
	return ret;
}

/* ---- the client ---- */

struct client {
	const struct visp_config *cfg;
	struct cjdns *cj;
	bool dry_run;
	int wait_ms, http_ms;
	client_note_fn note_fn;
	void *note_arg;
	struct client_state st;
	bool have_node;
	char key[55], ip6[40];		/* this node */
	struct netlink_link tun;	/* ifindex 0 until found */
	int lock_fd;
	/*
	 * The kernel's routes (IPv4, IPv6) as loaded by this run, for the
	 * health check after the pins to reuse; dropped by routes_changed()
	 * whenever this run changes routes or asks cjdns to.
	 */
	struct route_list routes[2];
	bool routes_loaded;
};

static void routes_changed(struct client *c)
{
	route_list_free(&c->routes[0]);
	route_list_free(&c->routes[1]);
	c->routes_loaded = false;
}

static int load_routes(struct client *c, struct verr *err)
{
	int ret;

	if (c->routes_loaded)
		return 0;
	ret = route_list_load(AF_INET, &c->routes[0], err);
	if (ret == 0)
		ret = route_list_load(AF_INET6, &c->routes[1], err);
	if (ret < 0)
		routes_changed(c);
	c->routes_loaded = ret == 0;
	return ret;
}

__attribute__((format(printf, 3, 4)))
static void note(struct client *c, bool detail, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!c->note_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->note_fn(c->note_arg, detail, msg);
}

int client_open(struct client **out, const struct client_opts *o, struct verr *err)
{
	struct client *c = calloc(1, sizeof(*c));
	struct verr e = { 0 };

	if (!c)
		return verr_set(err, -ENOMEM, "out of memory");
	c->cfg = o->cfg;
	c->cj = o->cj;
	c->dry_run = o->dry_run;
	c->wait_ms = o->wait_ms > 0 ? o->wait_ms : DEFAULT_WAIT_MS;
	c->http_ms = o->http_timeout_ms > 0 ? o->http_timeout_ms : DEFAULT_HTTP_TIMEOUT_MS;
	c->note_fn = o->note;
	c->note_arg = o->note_arg;
	c->lock_fd = -1;
	/* A damaged state file must not wedge the client: start afresh. */
	if (client_state_load(c->cfg->run_dir, &c->st, &e) == -EBADMSG)
		note(c, false, "%s; starting from no state", e.msg);
	*out = c;
	return 0;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd);
	routes_changed(c);
	free(c);
}

const struct client_state *client_get_state(const struct client *c)
{
	return &c->st;
}

/* One client run at a time: a timer and an operator must not interleave. */
static int lock(struct client *c, struct verr *err)
{
	char path[4200];
	int waited = 0, ret;

	if (c->lock_fd >= 0 || c->dry_run)
		return 0;
	ret = mkdir_p(c->cfg->run_dir, err);
	if (ret < 0)
		return ret;
	state_path(c->cfg->run_dir, "client.lock", path, sizeof(path));
	c->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (c->lock_fd < 0)
		return verr_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	while (flock(c->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || waited >= LOCK_WAIT_MS)
			return verr_set(err, -EBUSY, "another visp client run holds '%s'", path);
		usleep(POLL_MS * 1000);
		waited += POLL_MS;
	}
	/* Another run may have changed the state while we waited. */
	client_state_load(c->cfg->run_dir, &c->st, NULL);
	return 0;
}

static int save(struct client *c, struct verr *err)
{
	return c->dry_run ? 0 : client_state_save(c->cfg->run_dir, &c->st, err);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- cjdns ---- */

static int need_cjdns(struct client *c, struct verr *err)
{
	return c->cj ? 0 : verr_set(err, -ENOTCONN, "no cjdns admin connection");
}

/* Call fn with one argument (name = NULL: none); v is consumed. */
static int call1(struct client *c, const char *fn, const char *name, struct bval *v,
		 struct bval **reply, struct verr *err)
{
	struct bval *args = NULL;
	int ret;

	ret = need_cjdns(c, err);
	if (ret < 0) {
		bval_free(v);
		return ret;
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
	ret = cjdns_call(c->cj, fn, args, reply, err);
	bval_free(args);
	return ret;
}

/* Our key and fc address, then the tun: the interface carrying that address. */
static int node(struct client *c, struct verr *err)
{
	struct cidr me;
	int ret;

	if (c->have_node)
		return 0;
	ret = need_cjdns(c, err);
	if (ret == 0)
		ret = cjdns_node_info(c->cj, c->key, c->ip6, err);
	if (ret < 0)
		return ret;
	if (c->cfg->tun) {
		ret = netlink_link_by_name(c->cfg->tun, &c->tun, err);
	} else {
		ret = cidr_parse_addr(c->ip6, AF_INET6, &me, err);
		if (ret == 0)
			ret = netlink_link_by_addr(&me, &c->tun, err);
	}
	if (ret == -ENODEV)
		verr_wrap(err, "cjdns's tun device is missing");
	if (ret < 0)
		return ret;
	c->have_node = true;
	return 0;
}

struct tunconn {
	bool outgoing;
	char key[55];
	bool has4, has6;
	struct cidr ip4, ip6;
	int prefix4, prefix6;
};

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

/* IpTunnel_showConnection; -ENOENT when cjdns has no such connection. */
static int show_conn(struct client *c, long long conn, struct tunconn *tc, struct verr *err)
{
	struct bval *reply = NULL;
	struct verr e = { 0 };
	const char *key;
	int64_t out = 0;
	int ret, r4, r6;

	memset(tc, 0, sizeof(*tc));
	ret = call1(c, "IpTunnel_showConnection", "connection", bval_new_int(conn), &reply, &e);
	if (ret == -EREMOTEIO && strstr(e.msg, "not found")) {
		ret = verr_set(err, -ENOENT, "cjdns has no connection %lld", conn);
		goto out;
	}
	if (ret < 0) {
		*err = e;
		goto out;
	}
	key = bval_dict_str(reply, "key");
	if (key && strlen(key) < sizeof(tc->key))
		strcpy(tc->key, key);
	tc->outgoing = bval_dict_int(reply, "outgoing", &out) == 0 && out == 1;
	r4 = conn_field(reply, "ip4Address", "ip4Prefix", AF_INET, &tc->ip4, &tc->prefix4);
	r6 = conn_field(reply, "ip6Address", "ip6Prefix", AF_INET6, &tc->ip6, &tc->prefix6);
	if (r4 < 0 || r6 < 0) {
		ret = verr_set(err, -EBADMSG, "IpTunnel_showConnection: malformed address");
		goto out;
	}
	tc->has4 = r4 > 0;
	tc->has6 = r6 > 0;
	ret = 0;
out:
	bval_free(reply);
	return ret;
}

/* How far from a connection number duplicates of it are looked for. */
#define STRAY_SPAN 8

/*
 * Remove every outgoing connection to key near `keep` but keep itself
 * (best effort: what cannot be asked about stays). IpTunnel_connectTo is
 * not idempotent: when its reply is lost, the retry makes a second
 * connection to the same gateway, and the one visp did not record outlives
 * disconnect (faults-client.sh, 30% of admin replies lost). Numbers rise and
 * the retries follow at once, so the duplicates are next to the number kept;
 * IpTunnel_listConnections is no option: on a node that is a gateway too,
 * thousands of entries make its reply abort cjdroute.
 */
static void drop_strays(struct client *c, const char *key, long long keep)
{
	struct cjdns_req reqs[2 * STRAY_SPAN], rm[2 * STRAY_SPAN];
	size_t n = 0, nrm = 0;

	if (need_cjdns(c, NULL) < 0)
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
	cjdns_call_many(c->cj, reqs, n, n, NULL);
	for (size_t j = 0; j < n; j++) {
		const struct bval *r = reqs[j].reply;
		const char *k = bval_dict_str(r, "key");
		int64_t out = 0, num = -1;

		bval_dict_int(r, "outgoing", &out);
		bval_dict_int(reqs[j].args, "connection", &num);
		if (reqs[j].ret == 0 && out == 1 && k && !strcmp(k, key)) {
			rm[nrm] = (struct cjdns_req){ .fn = "IpTunnel_removeConnection",
						      .args = reqs[j].args };
			reqs[j].args = NULL;
			note(c, true, "removing cjdns connection %lld, a duplicate of %lld to %s",
			     (long long)num, keep, key);
			nrm++;
		}
		bval_free(reqs[j].args);
		bval_free(reqs[j].reply);
	}
	cjdns_call_many(c->cj, rm, nrm, nrm, NULL);
	for (size_t j = 0; j < nrm; j++) {
		bval_free(rm[j].args);
		bval_free(rm[j].reply);
	}
}

static int connect_to(struct client *c, const char *key, long long *conn, struct verr *err)
{
	struct bval *reply = NULL;
	int64_t n;
	int ret;

	routes_changed(c);	/* cjdns installs routes for the lease */
	ret = call1(c, "IpTunnel_connectTo", "publicKeyOfNodeToConnectTo", bval_new_cstr(key),
		    &reply, err);
	if (ret == 0 && bval_dict_int(reply, "connection", &n) < 0)
		ret = verr_set(err, -EBADMSG, "IpTunnel_connectTo: no connection number");
	if (ret == 0) {
		*conn = n;
		drop_strays(c, key, n);
	}
	bval_free(reply);
	return ret;
}

struct peers {
	struct client_peer *v;
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
		struct client_peer *cp;

		if (p->n == p->cap) {
			size_t cap = p->cap ? 2 * p->cap : 64;
			struct client_peer *v = realloc(p->v, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			p->v = v;
			p->cap = cap;
		}
		cp = &p->v[p->n];

		/* Peers over other media (Ethernet beacons) have no IP to pin: skip them. */
		if (!addr || !ll || key_from_addr(addr, cp->key, NULL) < 0 ||
		    client_parse_lladdr(ll, &cp->addr, &cp->port) < 0)
			continue;
		cp->established = state && !strcmp(state, "ESTABLISHED");
		p->n++;
	}
	return 0;
}

/* Every underlay peer, all pages of InterfaceController_peerStats; *v is malloc'd. */
static int get_peers(struct client *c, struct client_peer **v, size_t *n, struct verr *err)
{
	struct peers p = { 0 };
	int ret = need_cjdns(c, err);

	if (ret == 0)
		ret = cjdns_call_paged(c->cj, "InterfaceController_peerStats", NULL, peers_cb, &p,
				       err);
	if (ret == -EBADMSG && !err->msg[0])
		verr_set(err, ret, "InterfaceController_peerStats: malformed reply");
	*v = p.v;
	*n = p.n;
	return ret;
}

static const struct client_peer *find_peer(const struct client_peer *v, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].key, key))
			return &v[i];
	return NULL;
}

/* ---- kernel ---- */

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

static int addr_remove(int ifindex, const struct cidr *a, struct verr *err)
{
	struct addr_find f = { .want = a };
	int ret = netlink_addrs(a->family, ifindex, addr_find_cb, &f, err);

	for (int i = 0; ret == 0 && i < f.n; i++)
		ret = netlink_addr_delete(ifindex, &f.found[i], err);
	return ret;
}

static int tun_ifindex(struct client *c, const char *name)
{
	struct netlink_link l;

	if (c->tun.ifindex && (!name || !name[0] || !strcmp(name, c->tun.name)))
		return c->tun.ifindex;
	if (!name || !name[0] || netlink_link_by_name(name, &l, NULL) < 0)
		return 0;
	return l.ifindex;
}

static int pin(struct client *c, const struct client_peer *peers, size_t npeers, bool unpin,
	       struct pin **plan, size_t *nplan, int *changed, struct verr *err)
{
	struct cidr *addrs = calloc(npeers ? npeers : 1, sizeof(*addrs));
	struct pin *p = NULL;
	size_t np = 0;
	int ret, n = 0;

	if (!addrs)
		return verr_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < npeers; i++)
		addrs[i] = peers[i].addr;
	ret = load_routes(c, err);
	if (ret == 0 && route_pin_plan(&c->routes[0], &c->routes[1], addrs, npeers,
				       c->tun.ifindex, unpin, &p, &np) < 0)
		ret = verr_set(err, -ENOMEM, "out of memory planning pins");
	if (ret == 0 && !c->dry_run)
		ret = route_pin_apply(p, np, &n, err);
	if (n || ret < 0)
		routes_changed(c);
	free(addrs);
	for (size_t i = 0; ret == 0 && i < np; i++) {
		char a[CIDR_STRLEN], g[CIDR_STRLEN];

		if (p[i].action == PIN_KEEP)
			continue;
		note(c, p[i].action >= PIN_DIRECT, "%s%s pin %s%s%s",
		     c->dry_run && p[i].action <= PIN_REMOVE ? "would " : "",
		     pin_action_name(p[i].action), cidr_format(&p[i].peer, false, a, sizeof(a)),
		     p[i].route.has_gateway ? " via " : "",
		     p[i].route.has_gateway ? cidr_format(&p[i].route.gateway, false, g, sizeof(g))
					    : "");
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

/* ---- the lease protocol ---- */

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

/* POST /lease; the offer is validated here, the caller checks whose it is. */
static int lease_post(struct client *c, const char *url, struct offer *o, int timeout_ms,
		      struct verr *err)
{
	struct httpc_resp r = { 0 };
	char *body = lease_body(c->key);
	char msg[128];
	int ret;

	if (!body)
		return verr_set(err, -ENOMEM, "out of memory");
	ret = httpc_request("POST", url, body, c->ip6, timeout_ms, PROTO_MAX_REPLY, &r, err);
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

static int lease_delete(struct client *c, const char *url, struct verr *err)
{
	struct httpc_resp r = { 0 };
	char full[CLIENT_URL_MAX + 80];
	int ret;

	snprintf(full, sizeof(full), "%s?public_key=%s", url, c->key);
	ret = httpc_request("DELETE", full, NULL, c->ip6, DELETE_TIMEOUT_MS, 4096, &r, err);
	if (ret == 0 && r.status != 200 && r.status != 404)
		ret = verr_set(err, -EPROTO, "DELETE %s: HTTP %ld", url, r.status);
	httpc_resp_free(&r);
	return ret;
}

/* Is this offer for us, from the gateway we asked? */
static int check_offer(struct client *c, const struct candidate *cand, const struct offer *o,
		       struct verr *err)
{
	uint8_t ip6[16];

	if (strcmp(o->public_key, c->key))
		return verr_set(err, -EBADMSG, "%s leased to another key", cand->url);
	if (cand->key[0] && strcmp(o->gateway_key, cand->key))
		return verr_set(err, -EBADMSG, "%s answered for another gateway key", cand->url);
	/* cjdns addresses cannot be forged: the key must be the URL host's own. */
	if (key_ip6(o->gateway_key, ip6, NULL) < 0 || memcmp(ip6, cand->addr, 16))
		return verr_set(err, -EBADMSG, "%s: gateway_key %s is not the host's key",
				cand->url, o->gateway_key);
	return 0;
}

/*
 * The offer's routes must leave the host's own alone (lib/routeguard.h).
 * A refused lease is given back: it is of no use to us.
 */
static int guard_offer(struct client *c, const struct candidate *cand, const struct offer *o,
		       const struct client_peer *peers, size_t npeers, struct verr *err)
{
	struct routeguard *g = NULL;
	struct verr e = { 0 };
	int ret = load_routes(c, err);

	if (ret == 0)
		ret = routeguard_new(&g, &c->routes[0], &c->routes[1], c->tun.ifindex, err);
	for (size_t i = 0; ret == 0 && i < npeers; i++)
		ret = routeguard_add_peer(g, &peers[i].addr, err);
	if (ret == 0)
		ret = routeguard_check(g, o, err);
	if (ret == -EBADMSG && lease_delete(c, cand->url, &e) < 0)
		note(c, true, "could not release the lease: %s", e.msg);
	routeguard_free(g);
	return ret;
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
		if (client_parse_gateway(ads[i].lease_url, CAND_ANNOUNCED, &cand, NULL) < 0 ||
		    key_ip6(ads[i].public_key, ip6, NULL) < 0 || memcmp(ip6, cand.addr, 16))
			continue;
		strcpy(cand.key, ads[i].public_key);
		out[(*n)++] = cand;
	}
	return 0;
}

/* GET /tunnels from every direct peer at once (curl multi, short timeout). */
static int discover(struct client *c, const struct client_peer *peers, size_t npeers,
		    struct candidate *out, size_t max, size_t *n, struct verr *err)
{
	const char **urls = calloc(npeers ? npeers : 1, sizeof(*urls));
	struct httpc_resp *resp = calloc(npeers ? npeers : 1, sizeof(*resp));
	size_t nurls = 0;
	char ip[40];
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
	ret = nurls ? httpc_get_many(urls, nurls, c->ip6, DISCOVER_TIMEOUT_MS, PROTO_MAX_REPLY,
				     resp, err) : 0;
	for (size_t i = 0; ret == 0 && i < nurls; i++)
		if (resp[i].status == 200 && resp[i].body)
			add_ads(&resp[i], out, max, n);
	note(c, true, "asked %zu peers for announcements: %zu gateways", nurls, *n);
out:
	for (size_t i = 0; urls && i < nurls; i++) {
		free((char *)urls[i]);
		httpc_resp_free(&resp[i]);
	}
	free(urls);
	free(resp);
	return ret;
}

/* ---- routes, DNS and the probe of a lease ---- */

static int nbits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static int add_route(struct client *c, const struct cidr *r, struct verr *err)
{
	char buf[CIDR_STRLEN];
	int ret;

	if (c->st.nroutes >= CLIENT_MAX_ROUTES)
		return verr_set(err, -E2BIG, "too many lease routes");
	routes_changed(c);
	ret = route_dev_add(c->tun.ifindex, r, VISP_RTPROT, err);
	if (ret == 0) {
		c->st.routes[c->st.nroutes++] = *r;
		note(c, true, "route %s dev %s", cidr_format(r, true, buf, sizeof(buf)), c->tun.name);
	}
	return ret;
}

/*
 * cjdns routes a prefix-0 lease itself (proto 52). Every other route the
 * lease names is visp's to add, and so is "default" when the gateway gave a
 * longer prefix: then visp installs the same /1 pair cjdns would.
 */
static int lease_routes(struct client *c, struct verr *err)
{
	const struct offer *o = &c->st.lease;
	struct cidr half;
	int ret = 0;

	for (int i = 0; ret == 0 && i < o->nroutes; i++)
		if ((o->routes[i].family == AF_INET && o->has_ipv4) ||
		    (o->routes[i].family == AF_INET6 && o->has_ipv6))
			ret = add_route(c, &o->routes[i], err);
	for (int f = 0; ret == 0 && o->default_route && f < 2; f++) {
		if (!(f ? o->has_ipv6 : o->has_ipv4) || (f ? c->st.prefix6 : c->st.prefix4) == 0)
			continue;
		for (int h = 0; ret == 0 && h < 2; h++) {
			memset(&half, 0, sizeof(half));
			half.family = f ? AF_INET6 : AF_INET;
			half.prefix = 1;
			half.addr[0] = h ? 0x80 : 0;
			ret = add_route(c, &half, err);
		}
	}
	return ret;
}

static int routes_in_place(struct client *c, int ifindex, bool *ok, struct verr *err)
{
	const struct client_state *st = &c->st;
	int ret = load_routes(c, err);

	*ok = ret == 0;
	for (int i = 0; *ok && i < st->nroutes; i++)
		*ok = route_list_dev_has(&c->routes[st->routes[i].family == AF_INET6], ifindex,
					 VISP_RTPROT, &st->routes[i]);
	/* A prefix-0 lease lives on cjdns's routes, whatever shape they take. */
	for (int f = 0; *ok && f < 2; f++)
		if ((f ? st->prefix6 : st->prefix4) == 0)
			*ok = route_list_dev_has(&c->routes[f], ifindex, CJDNS_RTPROT, NULL);
	return ret;
}

/* The probe's target: the configured address, else the gateway's own tun address. */
static int probe_target(struct client *c, struct cidr *t, struct verr *err)
{
	const struct offer *o = &c->st.lease;
	const char *p = c->cfg->probe;

	if (p && !strcmp(p, "none"))
		return 0;
	if (p) {
		if (cidr_parse_addr(p, AF_UNSPEC, t, NULL) < 0)
			return verr_set(err, -EINVAL, "config: probe '%s' is not an address or \"none\"",
					p);
		return 1;
	}
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

static int run_probe(struct client *c, const char *ifname, struct verr *err)
{
	struct cidr t;
	char buf[CIDR_STRLEN];
	long long t0 = now_ms();
	int ret = probe_target(c, &t, err);

	if (ret <= 0) {
		if (ret == 0)
			note(c, true, "no probe target: the tunnel counts as working");
		return ret;
	}
	ret = probe_icmp(ifname, &t, PROBE_DEFAULT_TIMEOUT_MS, PROBE_DEFAULT_TRIES, err);
	if (ret == 0)
		note(c, true, "probe: %s answered in %lld ms", cidr_format(&t, false, buf, sizeof(buf)),
		     now_ms() - t0);
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
	char iface[40];
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

static void dns_apply(struct client *c)
{
	const struct offer *o = &c->st.lease;
	char text[PROTO_MAX_ADDRS * 64 + 1] = "", buf[CIDR_STRLEN];
	struct verr e = { 0 };
	size_t len = 0;

	if (!c->cfg->dns || !o->nnameservers)
		return;
	for (int i = 0; i < o->nnameservers; i++)
		len += snprintf(text + len, sizeof(text) - len, "nameserver %s\n",
				cidr_format(&o->nameservers[i], false, buf, sizeof(buf)));
	if (run_resolvconf("-a", c->tun.name, text, &e) < 0) {
		note(c, false, "dns: nameservers not applied: %s", e.msg);
		return;
	}
	c->st.dns = true;
	note(c, true, "dns: %d nameservers handed to resolvconf", o->nnameservers);
}

static void dns_undo(struct client *c)
{
	struct verr e = { 0 };

	if (!c->st.dns)
		return;
	if (run_resolvconf("-d", c->st.tun, NULL, &e) < 0)
		note(c, false, "dns: %s", e.msg);
	c->st.dns = false;
}

/* ---- health ---- */

static bool same_addr(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && !memcmp(a->addr, b->addr, cidr_bits(a) / 8);
}

static bool same_addrs(const struct offer *a, const struct offer *b)
{
	return a->has_ipv4 == b->has_ipv4 && a->has_ipv6 == b->has_ipv6 &&
	       (!a->has_ipv4 || same_addr(&a->ipv4, &b->ipv4)) &&
	       (!a->has_ipv6 || same_addr(&a->ipv6, &b->ipv6));
}

/* Does what cjdns says match the lease? */
static bool conn_matches(const struct client_state *st, const struct tunconn *tc)
{
	const struct offer *o = &st->lease;

	return (!o->has_ipv4 || (tc->has4 && same_addr(&tc->ip4, &o->ipv4))) &&
	       (!o->has_ipv6 || (tc->has6 && same_addr(&tc->ip6, &o->ipv6)));
}

__attribute__((format(printf, 3, 4)))
static int unhealthy(struct client_health_report *h, enum client_health what, const char *fmt,
		     ...)
{
	va_list ap;

	h->health = what;
	va_start(ap, fmt);
	vsnprintf(h->why, sizeof(h->why), fmt, ap);
	va_end(ap);
	return 0;
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

/* Are the leased addresses on the tun (any prefix length)? One dump for both. */
static int check_addrs(struct client *c, int ifindex, struct client_health_report *h,
		       struct verr *err)
{
	const struct offer *o = &c->st.lease;
	struct lease_addrs l = { .o = o };
	char buf[CIDR_STRLEN];
	int ret = netlink_addrs(AF_UNSPEC, ifindex, lease_addr_cb, &l, err);

	if (ret == 0 && ((o->has_ipv4 && !l.on4) || (o->has_ipv6 && !l.on6)))
		unhealthy(h, HEALTH_ADDR_MISSING, "the leased address %s is not on %s",
			  cidr_format(o->has_ipv4 && !l.on4 ? &o->ipv4 : &o->ipv6, false, buf,
				      sizeof(buf)), c->st.tun);
	return ret;
}

int client_check(struct client *c, bool probe, struct client_health_report *h, struct verr *err)
{
	const struct client_state *st = &c->st;
	struct tunconn tc;
	struct verr e = { 0 };
	bool ok;
	int ifindex, ret;

	memset(h, 0, sizeof(*h));
	if (!st->connected)
		return unhealthy(h, HEALTH_DISCONNECTED, "not connected");
	ifindex = tun_ifindex(c, st->tun);
	if (!ifindex)
		return unhealthy(h, HEALTH_TUN_MISSING, "the tun device '%s' is gone", st->tun);
	ret = show_conn(c, st->conn, &tc, &e);
	if (ret == -ENOENT || (ret == 0 && (!tc.outgoing || strcmp(tc.key, st->gateway))))
		return unhealthy(h, HEALTH_GONE, "cjdns has no connection %lld to the gateway "
				 "(restarted?)", st->conn);
	if (ret < 0)
		return unhealthy(h, HEALTH_CJDNS, "%s", e.msg);
	if (!tc.has4 && !tc.has6)
		return unhealthy(h, HEALTH_NO_ADDRESS, "the gateway has not given cjdns addresses");
	if (!conn_matches(st, &tc))
		return unhealthy(h, HEALTH_GONE, "cjdns holds other addresses than the lease");
	ret = check_addrs(c, ifindex, h, err);
	if (ret < 0 || h->health != HEALTH_OK)
		return ret;
	ret = routes_in_place(c, ifindex, &ok, err);
	if (ret < 0)
		return ret;
	if (!ok)
		return unhealthy(h, HEALTH_ROUTES_MISSING, "routes of the lease are missing on %s",
				 st->tun);
	if (st->lease.expires <= time(NULL))
		return unhealthy(h, HEALTH_EXPIRED, "the lease expired");
	if (!probe)
		return 0;
	h->probed = true;
	if (run_probe(c, st->tun, &e) < 0) {
		if (e.code == -EINVAL) {
			*err = e;
			return e.code;
		}
		return unhealthy(h, HEALTH_PROBE_FAILED, "%s", e.msg);
	}
	return 0;
}

/* ---- teardown ---- */

/*
 * cjdns's route generator holds a lease's prefix as the issued address with
 * the prefix length, unmasked ("172.23.23.2/0", as RouteGen_getPrefixes
 * shows), and RouteGen_removePrefix matches address and length exactly: the
 * masked network ("0.0.0.0/0") is "no_such_route".
 */
const char *client_routegen_prefix(const struct cidr *leased, int prefix, char *buf, size_t len)
{
	struct cidr net = *leased;

	net.prefix = prefix;
	return cidr_format(&net, true, buf, len);
}

/* Drop the lease's prefixes from cjdns's route generator, or its next commit brings them back. */
static void routegen_forget(struct client *c)
{
	const struct client_state *st = &c->st;
	char buf[CIDR_STRLEN];
	struct verr e = { 0 };
	bool any = false;

	for (int f = 0; f < 2 && c->cj; f++) {
		int p = f ? st->prefix6 : st->prefix4;

		if (p < 0 || p >= nbits(f ? AF_INET6 : AF_INET) || !(f ? st->lease.has_ipv6
								     : st->lease.has_ipv4))
			continue;
		if (call1(c, "RouteGen_removePrefix", "route",
			  bval_new_cstr(client_routegen_prefix(f ? &st->lease.ipv6 : &st->lease.ipv4,
							       p, buf, sizeof(buf))), NULL, &e) == 0)
			any = true;
	}
	if (any && st->tun[0] &&
	    call1(c, "RouteGen_commit", "tunName", bval_new_cstr(st->tun), NULL, &e) < 0)
		note(c, true, "RouteGen_commit: %s", e.msg);
}

/* The first failure of a series of best-effort steps: its code, and its message in err. */
static void first_err(int *ret, int r, struct verr *err, const struct verr *e)
{
	if (r < 0 && *ret == 0) {
		*ret = r;
		if (err)
			*err = *e;
	}
}

/*
 * Undo a connection locally: cjdns's entry, and what cjdns leaves behind
 * when it goes (the address, the proto 52 routes), visp's lease routes and
 * the DNS entry. Pins stay: the next gateway needs them too. Best effort:
 * every step runs; the first error is returned.
 */
static int teardown(struct client *c, struct verr *err)
{
	struct client_state *st = &c->st;
	struct tunconn tc;
	struct verr e = { 0 };
	int ifindex = tun_ifindex(c, st->tun), ret = 0, r, n = 0;

	routes_changed(c);
	dns_undo(c);
	if (st->conn >= 0 && c->cj && show_conn(c, st->conn, &tc, &e) == 0 && tc.outgoing &&
	    !strcmp(tc.key, st->gateway)) {
		r = cjdns_remove_connection(c->cj, st->conn, &e);
		first_err(&ret, r, err, &e);
		if (r == 0)
			note(c, true, "removed cjdns connection %lld", st->conn);
	}
	/* A connect that died before it could look for duplicates leaves them to us. */
	if (st->conn >= 0 && c->cj && st->gateway[0])
		drop_strays(c, st->gateway, st->conn);
	if (st->connected)
		routegen_forget(c);
	for (int i = 0; ifindex && i < st->nroutes; i++) {
		r = route_dev_delete(ifindex, &st->routes[i], VISP_RTPROT, &e);
		first_err(&ret, r, err, &e);
	}
	if (ifindex) {
		r = route_flush_dev(ifindex, CJDNS_RTPROT, &n, &e);
		first_err(&ret, r, err, &e);
	}
	for (int f = 0; ifindex && st->connected && f < 2; f++) {
		if (!(f ? st->lease.has_ipv6 : st->lease.has_ipv4))
			continue;
		r = addr_remove(ifindex, f ? &st->lease.ipv6 : &st->lease.ipv4, &e);
		first_err(&ret, r, err, &e);
	}
	st->connected = false;
	st->conn = -1;
	st->nroutes = 0;
	st->prefix4 = st->prefix6 = -1;
	return ret;
}

/* ---- connect ---- */

/* Wait (bounded) for the gateway's answer in cjdns, then for the address on the tun. */
static int wait_addresses(struct client *c, struct verr *err)
{
	struct client_state *st = &c->st;
	long long deadline = now_ms() + c->wait_ms;
	struct client_health_report h = { 0 };
	struct tunconn tc;
	int ret;

	for (;;) {
		ret = show_conn(c, st->conn, &tc, err);
		if (ret < 0)
			return ret;
		if (tc.has4 || tc.has6)
			break;
		if (now_ms() >= deadline)
			return verr_set(err, -ETIMEDOUT, "the gateway gave cjdns no addresses "
					"within %d ms", c->wait_ms);
		sleep_ms(POLL_MS);
	}
	if (!conn_matches(st, &tc))
		return verr_set(err, -EBADMSG, "cjdns got other addresses from the gateway than "
				"the lease names");
	st->prefix4 = tc.has4 ? tc.prefix4 : -1;
	st->prefix6 = tc.has6 ? tc.prefix6 : -1;
	for (;;) {
		h.health = HEALTH_OK;
		ret = check_addrs(c, c->tun.ifindex, &h, err);
		if (ret < 0 || h.health == HEALTH_OK)
			return ret;
		if (now_ms() >= deadline)
			return verr_set(err, -ETIMEDOUT, "%s", h.why);
		sleep_ms(POLL_MS);
	}
}

static void start_state(struct client *c, const struct candidate *cand, const struct offer *o,
			 long long conn)
{
	struct client_state *st = &c->st;
	int failures = strcmp(st->gateway, o->gateway_key) ? 0 : st->failures;

	client_state_init(st);
	st->connected = true;
	st->failures = failures;
	snprintf(st->gateway, sizeof(st->gateway), "%s", o->gateway_key);
	snprintf(st->lease_url, sizeof(st->lease_url), "%s", cand->url);
	snprintf(st->tun, sizeof(st->tun), "%s", c->tun.name);
	st->conn = conn;
	st->lease = *o;
	st->since = st->leased_at = time(NULL);
}

/*
 * cjdns keeps a peering with a restarted node dead for about 70 s; a
 * gateway that is our direct peer and does not answer may be just that.
 * Returns true when the peering was reset (worth another try).
 */
static bool reset_peer(struct client *c, const struct client_peer *peers, size_t npeers,
		       const uint8_t addr[16])
{
	struct verr e = { 0 };
	uint8_t ip6[16];

	for (size_t i = 0; i < npeers; i++) {
		if (key_ip6(peers[i].key, ip6, NULL) < 0 || memcmp(ip6, addr, 16))
			continue;
		if (call1(c, "InterfaceController_resetPeering", "pubkey",
			  bval_new_cstr(peers[i].key), NULL, &e) < 0)
			return false;
		note(c, true, "no answer: reset the peering with %s and trying again", peers[i].key);
		return true;
	}
	return false;
}

/* One gateway, start to finish. On failure nothing of it stays but the pins. */
static int attempt(struct client *c, const struct candidate *cand, const struct client_peer *peers,
		   size_t npeers, struct verr *err)
{
	struct verr e = { 0 };
	struct offer o;
	long long conn = -1;
	int ret;

	note(c, false, "trying %s (%s)", cand->key[0] ? cand->key : cand->url,
	     cand_source_name(cand->source));
	ret = lease_post(c, cand->url, &o, c->http_ms, err);
	/*
	 * Only when no connection could be made: a gateway whose server took
	 * the connection and then stalled or sent too much is reachable, and
	 * resetting a working peering would only drop its traffic, then cost
	 * the retry's timeout too.
	 */
	if (ret == -EHOSTUNREACH && reset_peer(c, peers, npeers, cand->addr)) {
		verr_clear(err);
		ret = lease_post(c, cand->url, &o, RETRY_HTTP_TIMEOUT_MS, err);
	}
	if (ret == 0)
		ret = check_offer(c, cand, &o, err);
	if (ret == 0)
		ret = guard_offer(c, cand, &o, peers, npeers, err);
	if (ret == 0)
		ret = pin(c, peers, npeers, false, NULL, NULL, NULL, err);
	if (ret == 0)
		ret = connect_to(c, o.gateway_key, &conn, err);
	if (ret < 0)
		return ret;
	start_state(c, cand, &o, conn);
	/* Written now, so that a crash from here on leaves disconnect something to undo. */
	ret = save(c, err);
	if (ret == 0)
		ret = wait_addresses(c, err);
	if (ret == 0)
		ret = lease_routes(c, err);
	if (ret == 0)
		ret = run_probe(c, c->tun.name, err);
	if (ret == 0) {
		dns_apply(c);
		return save(c, err);
	}
	teardown(c, &e);
	if (lease_delete(c, c->st.lease_url, &e) < 0)
		note(c, true, "could not release the lease: %s", e.msg);
	save(c, &e);
	return ret;
}

/* Renew when past half the lease's life. *moved: the gateway changed our addresses. */
static int renew_if_due(struct client *c, bool *renewed, bool *moved, struct verr *err)
{
	struct client_state *st = &c->st;
	struct candidate cand;
	int64_t now = time(NULL);
	struct offer o;
	int ret;

	*renewed = *moved = false;
	if (now < st->leased_at + (st->lease.expires - st->leased_at) / 2)
		return 0;
	if (c->dry_run) {
		note(c, false, "would renew the lease");
		return 0;
	}
	ret = client_parse_gateway(st->lease_url, CAND_CURRENT, &cand, err);
	if (ret == 0) {
		strcpy(cand.key, st->gateway);
		ret = lease_post(c, st->lease_url, &o, c->http_ms, err);
	}
	if (ret == 0)
		ret = check_offer(c, &cand, &o, err);
	if (ret < 0) {
		/* The tunnel works; the lease has time left: try again next run. */
		note(c, false, "lease renewal failed: %s", err->msg);
		verr_clear(err);
		return 0;
	}
	*moved = !same_addrs(&o, &st->lease);
	st->lease = o;
	st->leased_at = now;
	*renewed = true;
	return 0;
}

static bool among(const struct candidate *v, size_t n, const char *key)
{
	uint8_t ip6[16];

	if (key_ip6(key, ip6, NULL) < 0)
		return false;
	return cand_listed(v, n, ip6);
}

/* The healthy path: renew if due, keep the pins current. *done: nothing more to do. */
static int keep(struct client *c, const struct candidate *args, size_t nargs,
		const struct client_peer *peers, size_t npeers, struct client_result *res,
		bool *done, bool *away, struct verr *err)
{
	struct client_health_report h;
	bool moved = false, renewed = false, dirty = c->st.failures != 0;
	int ret;

	*done = *away = false;
	/* Pins first: a missing one is mended here rather than by a reconnect. */
	ret = pin(c, peers, npeers, false, NULL, NULL, &res->pins_changed, err);
	if (ret == 0)
		ret = client_check(c, true, &h, err);
	if (ret < 0)
		return ret;
	if (h.health != HEALTH_OK) {
		note(c, false, "the tunnel to %s is not healthy: %s", c->st.gateway, h.why);
		snprintf(c->st.last_error, sizeof(c->st.last_error), "%s", h.why);
		return 0;
	}
	if (nargs && !among(args, nargs, c->st.gateway)) {
		note(c, false, "switching away from %s: not among the gateways asked for",
		     c->st.gateway);
		*away = true;
		return 0;
	}
	ret = renew_if_due(c, &renewed, &moved, err);
	if (ret < 0 || moved) {
		if (moved)
			note(c, false, "the gateway moved our lease: reconnecting");
		return ret;
	}
	res->renewed = renewed;
	c->st.failures = 0;
	c->st.last_error[0] = '\0';
	if (renewed || dirty)
		ret = save(c, err);
	*done = true;
	return ret;
}

static int parse_list(const char *const *v, size_t n, enum cand_source src, struct candidate *out,
		      size_t max, size_t *count, struct verr *err)
{
	int ret = 0;

	*count = 0;
	for (size_t i = 0; ret == 0 && i < n && *count < max; i++) {
		ret = client_parse_gateway(v[i], src, &out[*count], err);
		if (ret == 0)
			(*count)++;
	}
	return ret;
}

struct cands {
	struct candidate args[CLIENT_MAX_CANDIDATES], conf[CLIENT_MAX_CANDIDATES];
	struct candidate ads[CLIENT_MAX_CANDIDATES], order[3 * CLIENT_MAX_CANDIDATES + 1];
	struct candidate current;
	size_t nargs, nconf, nads, n;
	struct client_peer *peers;	/* malloc'd */
	size_t npeers;
};

static int try_all(struct client *c, struct cands *k, struct client_result *res, struct verr *err)
{
	struct verr e = { 0 };
	bool have_current = c->st.gateway[0] && c->st.lease_url[0] &&
			    client_parse_gateway(c->st.lease_url, CAND_CURRENT, &k->current, NULL) == 0;
	int ret;

	if (have_current)
		strcpy(k->current.key, c->st.gateway);
	if (c->cfg->discover && discover(c, k->peers, k->npeers, k->ads, CLIENT_MAX_CANDIDATES,
					 &k->nads, &e) < 0)
		note(c, false, "discovery failed: %s", e.msg);
	k->n = client_order(k->args, k->nargs, k->conf, k->nconf, k->ads, k->nads,
			    have_current ? &k->current : NULL, c->st.failures, k->order,
			    sizeof(k->order) / sizeof(k->order[0]));
	if (!k->n)
		return verr_set(err, -EADDRNOTAVAIL, "no gateway to try: name one, set \"gateways\" "
				"in the config, or let peers announce theirs (\"discover\")");
	if (c->dry_run) {
		note(c, false, "would try %zu gateways, first %s", k->n,
		     k->order[0].key[0] ? k->order[0].key : k->order[0].url);
		res->changed = true;
		return 0;
	}
	for (size_t i = 0; i < k->n; i++) {
		verr_clear(&e);
		res->tried++;
		ret = attempt(c, &k->order[i], k->peers, k->npeers, &e);
		if (ret == 0) {
			note(c, false, "connected to %s", c->st.gateway);
			res->changed = true;
			return 0;
		}
		note(c, false, "%s: %s", k->order[i].key[0] ? k->order[i].key : k->order[i].url,
		     e.msg);
		snprintf(c->st.last_error, sizeof(c->st.last_error), "%.255s", e.msg);
	}
	c->st.failures++;
	save(c, &e);
	return verr_set(err, -EADDRNOTAVAIL, "no gateway could be used (%zu tried); last: %s",
			k->n, c->st.last_error);
}

/*
 * A broken tunnel goes first; nudge the peering to its gateway, which may
 * have restarted (cjdns takes about 70 s to notice by itself). A healthy one
 * the operator asked to leave (away) is no failure of its gateway.
 */
static void drop_current(struct client *c, const struct client_peer *peers, size_t npeers,
			 bool away)
{
	struct verr e = { 0 };

	if (away)
		c->st.failures = 0;
	else
		c->st.failures++;
	if (!away && find_peer(peers, npeers, c->st.gateway) &&
	    call1(c, "InterfaceController_resetPeering", "pubkey", bval_new_cstr(c->st.gateway),
		  NULL, &e) == 0)
		note(c, true, "reset the peering with %s", c->st.gateway);
	if (teardown(c, &e) < 0)
		note(c, false, "tearing down the old tunnel: %s", e.msg);
	save(c, &e);
}

int client_connect(struct client *c, const char *const *gateways, size_t n,
		   struct client_result *res, struct verr *err)
{
	/*
	 * Not calloc: clearing 385 candidates (88 KiB) touches 22 fresh pages
	 * of heap, a page fault each, where a connect fills a few entries.
	 * Entries are written whole as they are filled (client_parse_gateway
	 * clears each, client_order copies them): only the counts need zero.
	 */
	struct cands *k = malloc(sizeof(*k));
	bool done = false, away = false;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!k)
		return verr_set(err, -ENOMEM, "out of memory");
	k->nargs = k->nconf = k->nads = k->n = k->npeers = 0;
	k->peers = NULL;
	ret = parse_list(gateways, n, CAND_ARG, k->args, CLIENT_MAX_CANDIDATES, &k->nargs, err);
	if (ret == 0)
		ret = parse_list((const char *const *)c->cfg->gateways.v, c->cfg->gateways.n,
				 CAND_CONFIG, k->conf, CLIENT_MAX_CANDIDATES, &k->nconf, err);
	if (ret < 0) {
		ret = -EINVAL;
		goto out;
	}
	ret = lock(c, err);
	if (ret == 0)
		ret = node(c, err);
	if (ret == 0)
		ret = get_peers(c, &k->peers, &k->npeers, err);
	if (ret == 0 && c->st.connected)
		ret = keep(c, k->args, k->nargs, k->peers, k->npeers, res, &done, &away, err);
	if (ret < 0 || done)
		goto out;
	if (c->st.connected && !c->dry_run)
		drop_current(c, k->peers, k->npeers, away);
	ret = try_all(c, k, res, err);
out:
	if (k)
		free(k->peers);
	free(k);
	return ret;
}

int client_disconnect(struct client *c, struct verr *err)
{
	struct client_state *st = &c->st;
	struct verr e = { 0 };
	int ret;

	ret = lock(c, err);
	if (ret < 0)
		return ret;
	/*
	 * Without cjdns the kernel side can still be cleaned up, by the state's
	 * names; and no call should wait for its timeout again.
	 */
	if (node(c, &e) < 0) {
		note(c, false, "%s; cleaning up the kernel side only", e.msg);
		if (e.code == -ETIMEDOUT || e.code == -ECONNREFUSED)
			c->cj = NULL;
	}
	if (c->dry_run) {
		if (st->connected)
			note(c, false, "would release the lease of %s and remove the tunnel",
			     st->gateway);
		note(c, false, "would remove the peer pins");
		return 0;
	}
	if (st->connected && c->have_node) {
		if (lease_delete(c, st->lease_url, &e) < 0)
			note(c, false, "could not release the lease: %s", e.msg);
		else
			note(c, true, "released the lease at %s", st->lease_url);
	}
	ret = teardown(c, err);
	first_err(&ret, pin(c, NULL, 0, true, NULL, NULL, NULL, &e), err, &e);
	if (ret == 0)
		ret = client_state_remove(c->cfg->run_dir, err);
	return ret;
}

int client_pin_peers(struct client *c, bool unpin, struct pin **plan, size_t *n, int *changed,
		     struct verr *err)
{
	struct client_peer *peers = NULL;
	struct verr e = { 0 };
	size_t np = 0;
	int ret;

	/* Unpinning needs nothing from cjdns: pins are known by their shape. */
	ret = node(c, unpin ? &e : err);
	if (ret < 0 && !unpin)
		return ret;
	if (!unpin) {
		ret = get_peers(c, &peers, &np, err);
		if (ret < 0)
			goto out;
	}
	ret = pin(c, peers, np, unpin, plan, n, changed, err);
out:
	free(peers);
	return ret;
}
