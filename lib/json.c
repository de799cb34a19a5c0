// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdint.h>
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

/*
 * The length of the UTF-8 sequence at s (at most len bytes), 0 when it is
 * not one: RFC 3629, so no overlong forms, no surrogates, nothing past
 * U+10FFFF. yajl lets all three through.
 */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* Is c part of a string (its quotes included)? Steps the string state. */
static bool string_step(char c, bool *in_str, bool *esc)
{
	if (!*in_str) {
		*in_str = c == '"';
		return *in_str;
	}
	if (*esc)
		*esc = false;
	else if (c == '\\')
		*esc = true;
	else if (c == '"')
		*in_str = false;
	return true;
}

int json_check_depth(const char *text, size_t len, int max_depth, struct verr *err)
{
	bool in_str = false, esc = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (string_step(c, &in_str, &esc))
			continue;
		if (c == '/' && i + 1 < len && text[i + 1] == '/') {
			const char *nl = memchr(text + i, '\n', len - i);

			i = nl ? (size_t)(nl - text) : len;
		} else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
			const char *end = memmem(text + i + 2, len - i - 2, "*/", 2);

			i = end ? (size_t)(end - text) + 1 : len;
		} else if ((c == '{' || c == '[') && ++depth > max_depth) {
			return verr_set(err, -EINVAL, "JSON nested deeper than %d (at byte %zu)",
					max_depth, i);
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 0;
}

/*
 * What yajl_tree would take but JSON (RFC 8259) or visp must not, looked
 * for before yajl sees the text: nesting deeper than max_depth (yajl has no
 * limit of its own: json_check_depth), comments (yajl_tree always allows them), bytes that are
 * not UTF-8, and "\u0000", which yajl_tree turns into a NUL that silently
 * cuts the C string short ("KEY.k\u0000junk" would read as KEY.k).
 */
static int check_text(const char *text, size_t len, int max_depth, struct verr *err)
{
	bool in_str = false, esc = false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = text[i];
		size_t n = utf8_len((const unsigned char *)text + i, len - i);

		if (!n)
			return verr_set(err, -EINVAL, "JSON is not UTF-8 (byte %zu)", i);
		if (n > 1) {
			i += n - 1;
			continue;
		}
		if (in_str && esc && c == 'u' && len - i > 4 && !memcmp(text + i + 1, "0000", 4))
			return verr_set(err, -EINVAL, "\\u0000 in a JSON string");
		if (string_step(c, &in_str, &esc))
			continue;
		if (c == '/')
			return verr_set(err, -EINVAL, "comments are not JSON");
	}
	/* No comments: the depth is counted the same way as in a config. */
	return json_check_depth(text, len, max_depth, err);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Does an object, at any depth, name one member twice? Readers disagree on
 * which one counts (yajl_tree keeps both, lookups find the first), so such
 * a document means different things to different programs: refused.
 */
static int duplicate_member(yajl_val v, const char **dup)
{
	const char **keys = NULL;
	size_t n;
	int ret = 0;

	if (YAJL_IS_ARRAY(v)) {
		for (size_t i = 0; ret == 0 && i < v->u.array.len; i++)
			ret = duplicate_member(v->u.array.values[i], dup);
		return ret;
	}
	if (!YAJL_IS_OBJECT(v))
		return 0;
	n = v->u.object.len;
	if (n > 1) {
		keys = malloc(n * sizeof(*keys));
		if (!keys)
			return -ENOMEM;
		memcpy(keys, v->u.object.keys, n * sizeof(*keys));
		qsort(keys, n, sizeof(*keys), cmp_str);
		for (size_t i = 1; ret == 0 && i < n; i++)
			if (!strcmp(keys[i - 1], keys[i])) {
				*dup = keys[i];
				ret = 1;
			}
		free(keys);
	}
	for (size_t i = 0; ret == 0 && i < n; i++)
		ret = duplicate_member(v->u.object.values[i], dup);
	return ret;
}

static int parse(const char *text, size_t len, size_t max_bytes, int max_depth,
		 yajl_type want, struct jval **out, struct verr *err)
{
	char ebuf[128] = "", *copy;
	const char *dup = NULL;
	yajl_val v;
	int ret;

	*out = NULL;
	if (len > max_bytes)
		return verr_set(err, -E2BIG, "JSON larger than %zu bytes", max_bytes);
	if (memchr(text, '\0', len))
		return verr_set(err, -EINVAL, "NUL byte in JSON");
	ret = check_text(text, len, max_depth, err);
	if (ret < 0)
		return ret;
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
	ret = duplicate_member(v, &dup);
	if (ret > 0) {
		/* The name goes into messages that must stay printable ASCII. */
		char name[33];
		size_t i;

		for (i = 0; dup[i] && i < sizeof(name) - 1; i++)
			name[i] = dup[i] >= ' ' && dup[i] < 0x7f && dup[i] != '"' ? dup[i] : '?';
		name[i] = '\0';
		ret = verr_set(err, -EINVAL, "JSON names member \"%s\" twice", name);
	}
	if (ret) {
		yajl_tree_free(v);
		return ret;
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
