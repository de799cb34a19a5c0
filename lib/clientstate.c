// SPDX-License-Identifier: GPL-3.0-or-later
/* The client state file (see clientstate.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clientstate.h"
#include "fileutil.h"
#include "json.h"

#define STATE_MAX_BYTES (64 * 1024)
#define STATE_MAX_DEPTH 8

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

int client_state_save(const char *dir, const struct client_state *st, struct verr *err)
{
	char path[4200];
	char *text = state_json(st), *line = NULL;
	int ret;

	if (!text)
		return verr_set(err, -ENOMEM, "cannot render the client state");
	ret = file_mkdir_p(dir, 0755, err);
	if (ret < 0)
		goto out;
	if (asprintf(&line, "%s\n", text) < 0) {
		line = NULL;
		ret = verr_set(err, -ENOMEM, "cannot render the client state");
		goto out;
	}
	state_path(dir, CLIENT_STATE_FILE, path, sizeof(path));
	ret = file_write_atomic(path, line, strlen(line), 0644, err);
out:
	free(line);
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
	ret = file_read(path, STATE_MAX_BYTES, FILE_NOFOLLOW, &text, &len, err);
	if (ret == -EFBIG)
		ret = -EBADMSG;		/* an oversized state is a damaged one */
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
