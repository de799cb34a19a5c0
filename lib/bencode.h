/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_BENCODE_H
#define VISP_BENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Bencode, the wire format of the cjdns admin API: a value tree, a canonical
 * encoder and a strict decoder that also takes cjdns's padded string lengths.
 */

#define BENCODE_MAX_DEPTH 32

enum bval_type { BVAL_INT, BVAL_STR, BVAL_LIST, BVAL_DICT };

/*
 * Transparent so that callers can walk a reply, but build trees only with the
 * functions below: items, keys and klens grow in powers of two, and that
 * capacity is implied by n rather than stored.
 */
struct bval {
	enum bval_type type;
	int64_t i;			/* BVAL_INT */
	char *s;			/* BVAL_STR: bytes, always followed by a NUL */
	size_t len;			/* BVAL_STR: byte count, NUL not counted */
	struct bval **items;		/* BVAL_LIST items; BVAL_DICT values */
	size_t n;
	char **keys;			/* BVAL_DICT keys (NUL-terminated), parallel to items */
	size_t *klens;
};

/* Constructors return NULL when out of memory. */
struct bval *bval_new_int(int64_t v);
struct bval *bval_new_str(const char *s, size_t len);
struct bval *bval_new_cstr(const char *s);
struct bval *bval_new_list(void);
struct bval *bval_new_dict(void);

/*
 * Both take ownership of item/val even on failure, so a constructor can be
 * passed straight in: a NULL item/val is taken for a failed constructor and
 * gives -ENOMEM. A container of the wrong type (or a NULL key) gives -EINVAL.
 */
int bval_list_append(struct bval *list, struct bval *item);
/* Replaces (and frees) the value of an existing key. */
int bval_dict_set(struct bval *dict, const char *key, struct bval *val);

/* NULL if absent or dict is not a dict. */
const struct bval *bval_dict_get(const struct bval *dict, const char *key);
/* NUL-terminated string value, or NULL if absent or not a string. */
const char *bval_dict_str(const struct bval *dict, const char *key);
/* 0, or -ENOENT when absent, -EINVAL when not an integer. */
int bval_dict_int(const struct bval *dict, const char *key, int64_t *out);

/* Accepts NULL. */
void bval_free(struct bval *v);

/*
 * Canonical bencode: dict keys sorted bytewise. *out is malloc'd and
 * NUL-terminated (the NUL is not counted in *outlen). 0, -ENOMEM or -EINVAL
 * (a node with an unknown type).
 */
int bencode_encode(const struct bval *v, char **out, size_t *outlen);

/*
 * Decode exactly one value spanning all of buf[0..len). 0, -EBADMSG with the
 * reason and byte offset in err (truncation, trailing bytes, bad syntax,
 * integer overflow, "-0", leading zeros in integers, a string length past the
 * end, nesting deeper than BENCODE_MAX_DEPTH, non-string or duplicate dict
 * keys), or -ENOMEM. Leading zeros in string lengths are accepted. On failure
 * *out is NULL. err may be NULL.
 */
int bencode_decode(const char *buf, size_t len, struct bval **out, struct verr *err);

/*
 * Compact JSON, dict keys in stored order. Valid UTF-8 is kept as is; control
 * bytes and bytes that are not part of valid UTF-8 become \u00XX, one per
 * byte (so binary strings survive as readable, if lossy, JSON). *out is
 * malloc'd and NUL-terminated. 0, -ENOMEM or -EINVAL.
 */
int bval_to_json(const struct bval *v, char **out, size_t *outlen);

#endif
