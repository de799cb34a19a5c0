// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "json.h"

struct json {
	yajl_gen g;
	bool failed;
};

struct json *json_new(bool pretty)
{
	struct json *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->g = yajl_gen_alloc(NULL);
	if (!j->g) {
		free(j);
		return NULL;
	}
	yajl_gen_config(j->g, yajl_gen_beautify, pretty ? 1 : 0);
	yajl_gen_config(j->g, yajl_gen_validate_utf8, 1);
	return j;
}

void json_free(struct json *j)
{
	if (!j)
		return;
	yajl_gen_free(j->g);
	free(j);
}

static void check(struct json *j, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		j->failed = true;
}

void json_obj(struct json *j) { check(j, yajl_gen_map_open(j->g)); }
void json_end_obj(struct json *j) { check(j, yajl_gen_map_close(j->g)); }
void json_arr(struct json *j) { check(j, yajl_gen_array_open(j->g)); }
void json_end_arr(struct json *j) { check(j, yajl_gen_array_close(j->g)); }
void json_int(struct json *j, long long v) { check(j, yajl_gen_integer(j->g, v)); }
void json_bool(struct json *j, bool v) { check(j, yajl_gen_bool(j->g, v)); }

void json_str(struct json *j, const char *v)
{
	if (!v)
		check(j, yajl_gen_null(j->g));
	else
		check(j, yajl_gen_string(j->g, (const unsigned char *)v, strlen(v)));
}

void json_key(struct json *j, const char *k)
{
	json_str(j, k);
}

void json_kstr(struct json *j, const char *k, const char *v)
{
	json_key(j, k);
	json_str(j, v);
}

void json_kint(struct json *j, const char *k, long long v)
{
	json_key(j, k);
	json_int(j, v);
}

void json_kbool(struct json *j, const char *k, bool v)
{
	json_key(j, k);
	json_bool(j, v);
}

const char *json_text(struct json *j, size_t *len)
{
	const unsigned char *buf = NULL;
	size_t n = 0;

	if (j->failed || yajl_gen_get_buf(j->g, &buf, &n) != yajl_gen_status_ok)
		return NULL;
	if (len)
		*len = n;
	return (const char *)buf;
}

/* yajl has no depth limit of its own: count brackets outside strings first. */
static int check_depth(const char *text, size_t len, int max_depth)
{
	bool in_str = false, esc = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"')
			in_str = true;
		else if ((c == '{' || c == '[') && ++depth > max_depth)
			return -E2BIG;
		else if (c == '}' || c == ']')
			depth--;
	}
	return 0;
}

static int parse(const char *text, size_t len, size_t max_bytes, int max_depth,
		 yajl_type want, struct jval **out, struct verr *err)
{
	char ebuf[128] = "", *copy;
	yajl_val v;

	*out = NULL;
	if (len > max_bytes)
		return verr_set(err, -E2BIG, "JSON larger than %zu bytes", max_bytes);
	if (memchr(text, '\0', len))
		return verr_set(err, -EINVAL, "NUL byte in JSON");
	if (check_depth(text, len, max_depth) < 0)
		return verr_set(err, -EINVAL, "JSON nested deeper than %d", max_depth);
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	v = yajl_tree_parse(copy, ebuf, sizeof(ebuf));
	free(copy);
	if (!v) {
		ebuf[strcspn(ebuf, "\n")] = '\0';
		return verr_set(err, -EINVAL, "bad JSON: %s", ebuf[0] ? ebuf : "parse error");
	}
	if (v->type != want) {
		yajl_tree_free(v);
		return verr_set(err, -EINVAL, "JSON is not an %s",
				want == yajl_t_object ? "object" : "array");
	}
	*out = (struct jval *)v;
	return 0;
}

int json_parse_object(const char *text, size_t len, size_t max_bytes, int max_depth,
		      struct jval **out, struct verr *err)
{
	return parse(text, len, max_bytes, max_depth, yajl_t_object, out, err);
}

int json_parse_array(const char *text, size_t len, size_t max_bytes, int max_depth,
		     struct jval **out, struct verr *err)
{
	return parse(text, len, max_bytes, max_depth, yajl_t_array, out, err);
}

void json_val_free(struct jval *v)
{
	yajl_tree_free((yajl_val)v);
}

static yajl_val member(const struct jval *obj, const char *key)
{
	yajl_val o = (yajl_val)obj;

	if (!o || !YAJL_IS_OBJECT(o))
		return NULL;
	for (size_t i = 0; i < o->u.object.len; i++)
		if (!strcmp(o->u.object.keys[i], key))
			return o->u.object.values[i];
	return NULL;
}

const char *json_get_str(const struct jval *obj, const char *key)
{
	yajl_val v = member(obj, key);

	return v && YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : NULL;
}

int json_get_int(const struct jval *obj, const char *key, long long *out)
{
	yajl_val v = member(obj, key);

	if (!v)
		return -ENOENT;
	if (!YAJL_IS_INTEGER(v))
		return -EINVAL;
	*out = YAJL_GET_INTEGER(v);
	return 0;
}

bool json_has(const struct jval *obj, const char *key)
{
	return member(obj, key) != NULL;
}

bool json_is_null(const struct jval *v)
{
	return v && YAJL_IS_NULL((yajl_val)v);
}

bool json_get_bool(const struct jval *obj, const char *key, bool dflt)
{
	yajl_val v = member(obj, key);

	if (v && YAJL_IS_TRUE(v))
		return true;
	if (v && YAJL_IS_FALSE(v))
		return false;
	return dflt;
}

const struct jval *json_get(const struct jval *obj, const char *key)
{
	return (const struct jval *)member(obj, key);
}

int json_get_strs(const struct jval *obj, const char *key, const char **items, int max)
{
	yajl_val v = member(obj, key);
	int n = 0;

	if (!v)
		return 0;
	if (!YAJL_IS_ARRAY(v))
		return -EINVAL;
	for (size_t i = 0; i < v->u.array.len; i++) {
		if (!YAJL_IS_STRING(v->u.array.values[i]))
			return -EINVAL;
		if (n < max)
			items[n++] = YAJL_GET_STRING(v->u.array.values[i]);
		else
			return -E2BIG;
	}
	return n;
}

int json_array_len(const struct jval *arr)
{
	yajl_val v = (yajl_val)arr;

	return v && YAJL_IS_ARRAY(v) ? (int)v->u.array.len : -EINVAL;
}

const struct jval *json_array_at(const struct jval *arr, int i)
{
	yajl_val v = (yajl_val)arr;

	if (!v || !YAJL_IS_ARRAY(v) || i < 0 || (size_t)i >= v->u.array.len)
		return NULL;
	return (const struct jval *)v->u.array.values[i];
}
