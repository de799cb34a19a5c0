/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_JSON_H
#define VISP_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/*
 * A JSON writer over yajl_gen, so cmd/ never sees yajl. Calls after an
 * error are ignored; json_text reports it.
 */
struct json;

struct json *json_new(bool pretty);
void json_free(struct json *j);
void json_obj(struct json *j);
void json_end_obj(struct json *j);
void json_arr(struct json *j);
void json_end_arr(struct json *j);
void json_key(struct json *j, const char *k);
void json_str(struct json *j, const char *v);	/* NULL writes null */
void json_int(struct json *j, long long v);
void json_bool(struct json *j, bool v);
void json_kstr(struct json *j, const char *k, const char *v);
void json_kint(struct json *j, const char *k, long long v);
void json_kbool(struct json *j, const char *k, bool v);
/* The text so far (NUL-terminated), or NULL after an error. */
const char *json_text(struct json *j, size_t *len);

/*
 * Untrusted JSON in: at most max_bytes and max_depth deep (checked before
 * yajl sees it), must be an object. The tree is an opaque handle for the
 * accessors below.
 */
struct jval;
int json_parse_object(const char *text, size_t len, size_t max_bytes, int max_depth,
		      struct jval **out, struct verr *err);
void json_val_free(struct jval *v);
/* Member lookups on an object: NULL when absent or of another type. */
const char *json_get_str(const struct jval *obj, const char *key);
int json_get_int(const struct jval *obj, const char *key, long long *out); /* -ENOENT, -EINVAL */
bool json_has(const struct jval *obj, const char *key);
/* String arrays: the count (or -EINVAL when not an array of strings), item i. */
int json_get_strs(const struct jval *obj, const char *key, const char **items, int max);
/* Arrays of objects (GET /tunnels): count, or -EINVAL. */
int json_array_len(const struct jval *arr);
const struct jval *json_array_at(const struct jval *arr, int i);
int json_parse_array(const char *text, size_t len, size_t max_bytes, int max_depth,
		     struct jval **out, struct verr *err);
/*
 * Is text nested at most max_depth deep? For JSON with comments (configs,
 * cjdroute.conf) that is parsed with yajl_tree directly: yajl has no depth
 * limit, and yajl_tree_free recurses, so deep nesting crashes it. Brackets
 * and quotes inside strings and comments do not count. -EINVAL when deeper.
 */
int json_check_depth(const char *text, size_t len, int max_depth, struct verr *err);
/* Any member (object, array, ...): NULL when absent. */
const struct jval *json_get(const struct jval *obj, const char *key);
bool json_is_null(const struct jval *v);
bool json_get_bool(const struct jval *obj, const char *key, bool dflt);

#endif
