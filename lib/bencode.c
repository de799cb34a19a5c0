// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

/* ---- the value tree ---- */

static struct bval *bval_alloc(enum bval_type type)
{
	struct bval *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

struct bval *bval_new_int(int64_t i)
{
	struct bval *v = bval_alloc(BVAL_INT);

	if (v)
		v->i = i;
	return v;
}

struct bval *bval_new_str(const char *s, size_t len)
{
	struct bval *v = NULL;

	if ((!s && len) || len == SIZE_MAX)
		goto out;
	v = bval_alloc(BVAL_STR);
	if (!v)
		goto out;
	v->s = malloc(len + 1);
	if (!v->s) {
		free(v);
		v = NULL;
		goto out;
	}
	if (len)
		memcpy(v->s, s, len);
	v->s[len] = '\0';
	v->len = len;
out:
	return v;
}

struct bval *bval_new_cstr(const char *s)
{
	return s ? bval_new_str(s, strlen(s)) : NULL;
}

struct bval *bval_new_list(void)
{
	return bval_alloc(BVAL_LIST);
}

struct bval *bval_new_dict(void)
{
	return bval_alloc(BVAL_DICT);
}

void bval_free(struct bval *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		bval_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->klens);
	free(v->s);
	free(v);
}

/*
 * The struct has no capacity field: slots are allocated in powers of two
 * (at least 4), so an array is full exactly when n is 0 or a power of two
 * >= 4. Doubling keeps appends amortised O(1), which matters for the ~9000
 * ints of a big IpTunnel_listConnections reply.
 */
static bool arr_full(size_t n)
{
	return n == 0 || (n >= 4 && !(n & (n - 1)));
}

/* The array of n elements, moved to room for the next doubling; NULL when out of memory. */
static void *arr_grow(void *arr, size_t elem, size_t n)
{
	size_t cap = n ? n * 2 : 4;

	return cap < n || cap > SIZE_MAX / elem ? NULL : realloc(arr, cap * elem);
}

/* Append without ownership games: on failure the caller still owns item. */
static int push_item(struct bval *v, struct bval *item)
{
	struct bval **items;
	int ret = -ENOMEM;

	if (arr_full(v->n)) {
		items = arr_grow(v->items, sizeof(*items), v->n);
		if (!items)
			goto out;
		v->items = items;
	}
	v->items[v->n++] = item;
	ret = 0;
out:
	return ret;
}

/* Likewise for dicts: key (malloc'd, NUL-terminated) and val stay the caller's on failure. */
static int push_entry(struct bval *d, char *key, size_t klen, struct bval *val)
{
	struct bval **items;
	size_t *klens;
	char **keys;
	int ret = -ENOMEM;

	/* Each array is stored as soon as it has grown: one larger than the others is harmless. */
	if (arr_full(d->n)) {
		items = arr_grow(d->items, sizeof(*items), d->n);
		if (!items)
			goto out;
		d->items = items;
		keys = arr_grow(d->keys, sizeof(*keys), d->n);
		if (!keys)
			goto out;
		d->keys = keys;
		klens = arr_grow(d->klens, sizeof(*klens), d->n);
		if (!klens)
			goto out;
		d->klens = klens;
	}
	d->items[d->n] = val;
	d->keys[d->n] = key;
	d->klens[d->n] = klen;
	d->n++;
	ret = 0;
out:
	return ret;
}

int bval_list_append(struct bval *list, struct bval *item)
{
	int ret = -ENOMEM;

	if (!item)
		goto out;
	ret = -EINVAL;
	if (!list || list->type != BVAL_LIST)
		goto out;
	ret = push_item(list, item);
	if (ret == 0)
		item = NULL;
out:
	bval_free(item);
	return ret;
}

static long dict_find(const struct bval *d, const char *key, size_t klen)
{
	long idx = -1;

	for (size_t i = 0; i < d->n; i++) {
		if (d->klens[i] == klen && !memcmp(d->keys[i], key, klen)) {
			idx = (long)i;
			break;
		}
	}
	return idx;
}

int bval_dict_set(struct bval *dict, const char *key, struct bval *val)
{
	char *k = NULL;
	size_t klen;
	long idx;
	int ret = -ENOMEM;

	if (!val)
		goto out;
	ret = -EINVAL;
	if (!dict || dict->type != BVAL_DICT || !key)
		goto out;
	klen = strlen(key);
	idx = dict_find(dict, key, klen);
	if (idx >= 0) {
		bval_free(dict->items[idx]);
		dict->items[idx] = val;
		val = NULL;
		ret = 0;
		goto out;
	}
	ret = -ENOMEM;
	k = strdup(key);
	if (!k)
		goto out;
	ret = push_entry(dict, k, klen, val);
	if (ret == 0) {
		k = NULL;
		val = NULL;
	}
out:
	free(k);
	bval_free(val);
	return ret;
}

const struct bval *bval_dict_get(const struct bval *dict, const char *key)
{
	const struct bval *v = NULL;
	long idx;

	if (!dict || dict->type != BVAL_DICT || !key)
		goto out;
	idx = dict_find(dict, key, strlen(key));
	if (idx >= 0)
		v = dict->items[idx];
out:
	return v;
}

const char *bval_dict_str(const struct bval *dict, const char *key)
{
	const struct bval *v = bval_dict_get(dict, key);

	return v && v->type == BVAL_STR ? v->s : NULL;
}

int bval_dict_int(const struct bval *dict, const char *key, int64_t *out)
{
	const struct bval *v = bval_dict_get(dict, key);
	int ret = -ENOENT;

	if (!v)
		goto out;
	ret = -EINVAL;
	if (v->type != BVAL_INT)
		goto out;
	if (out)
		*out = v->i;
	ret = 0;
out:
	return ret;
}

/* ---- sorted views of a dict (canonical encoding, duplicate detection) ---- */

struct kent {
	const char *k;
	size_t klen;
	const struct bval *v;
};

static int keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c == 0)
		c = (alen > blen) - (alen < blen);
	return c;
}

static int kent_cmp(const void *a, const void *b)
{
	const struct kent *x = a, *y = b;

	return keycmp(x->k, x->klen, y->k, y->klen);
}

/* *out gets d's entries sorted bytewise by key (memcmp order, shorter first on a tie). */
static int dict_sorted(const struct bval *d, struct kent **out)
{
	struct kent *e = NULL;
	int ret = -ENOMEM;

	e = calloc(d->n ? d->n : 1, sizeof(*e));
	if (!e)
		goto out;
	for (size_t i = 0; i < d->n; i++)
		e[i] = (struct kent){ d->keys[i], d->klens[i], d->items[i] };
	qsort(e, d->n, sizeof(*e), kent_cmp);
	*out = e;
	e = NULL;
	ret = 0;
out:
	free(e);
	return ret;
}

/* ---- a growing output buffer, always NUL-terminated ---- */

struct buf {
	char *p;
	size_t len, cap;
};

static int buf_add(struct buf *b, const void *s, size_t n)
{
	size_t need, cap;
	char *p;
	int ret = -ENOMEM;

	if (n >= SIZE_MAX - b->len)
		goto out;
	need = b->len + n + 1;
	if (need > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		p = realloc(b->p, cap);
		if (!p)
			goto out;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	ret = 0;
out:
	return ret;
}

static int buf_addc(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

static int buf_int(struct buf *b, int64_t i)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, i);

	return buf_add(b, tmp, (size_t)n);
}

/* Hand the buffer over to the caller (an empty result still gets a "" to free). */
static int buf_finish(struct buf *b, int ret, char **out, size_t *outlen)
{
	if (ret == 0 && !b->p)
		ret = buf_add(b, "", 0);
	if (ret < 0) {
		free(b->p);
		b->p = NULL;
		b->len = 0;
	}
	*out = b->p;
	if (outlen)
		*outlen = b->len;
	return ret;
}

/* ---- encoder ---- */

static int enc_str(struct buf *b, const char *s, size_t len)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%zu:", len);
	int ret;

	ret = buf_add(b, tmp, (size_t)n);
	if (ret == 0)
		ret = buf_add(b, s, len);
	return ret;
}

static int enc_value(struct buf *b, const struct bval *v)
{
	struct kent *e = NULL;
	int ret = -EINVAL;

	if (!v)
		goto out;
	switch (v->type) {
	case BVAL_INT:
		ret = buf_addc(b, 'i');
		if (ret == 0)
			ret = buf_int(b, v->i);
		if (ret == 0)
			ret = buf_addc(b, 'e');
		break;
	case BVAL_STR:
		ret = enc_str(b, v->s, v->len);
		break;
	case BVAL_LIST:
		ret = buf_addc(b, 'l');
		for (size_t i = 0; ret == 0 && i < v->n; i++)
			ret = enc_value(b, v->items[i]);
		if (ret == 0)
			ret = buf_addc(b, 'e');
		break;
	case BVAL_DICT:
		/* Canonical form sorts keys; the tree keeps insertion order. */
		ret = dict_sorted(v, &e);
		if (ret == 0)
			ret = buf_addc(b, 'd');
		for (size_t i = 0; ret == 0 && i < v->n; i++) {
			ret = enc_str(b, e[i].k, e[i].klen);
			if (ret == 0)
				ret = enc_value(b, e[i].v);
		}
		if (ret == 0)
			ret = buf_addc(b, 'e');
		break;
	default:
		ret = -EINVAL;
		break;
	}
out:
	free(e);
	return ret;
}

int bencode_encode(const struct bval *v, char **out, size_t *outlen)
{
	struct buf b = { 0 };

	return buf_finish(&b, enc_value(&b, v), out, outlen);
}

/* ---- decoder ---- */

struct dec {
	const unsigned char *p;
	size_t len;
	size_t pos;
	struct verr *err;
};

static int dec_fail(struct dec *d, const char *what, size_t at)
{
	return verr_set(d->err, -EBADMSG, "%s at offset %zu", what, at);
}

static int dec_nomem(struct dec *d)
{
	return verr_set(d->err, -ENOMEM, "out of memory");
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int dec_value(struct dec *d, unsigned depth, struct bval **out);

/* i<digits>e: no "-0", no leading zeros, within int64_t. */
static int dec_int(struct dec *d, struct bval **out)
{
	size_t start = d->pos, first;
	uint64_t acc = 0, limit = INT64_MAX;
	bool neg = false;
	int ret;

	d->pos++;
	if (d->pos < d->len && d->p[d->pos] == '-') {
		neg = true;
		limit = (uint64_t)INT64_MAX + 1;
		d->pos++;
	}
	first = d->pos;
	while (d->pos < d->len && is_digit(d->p[d->pos])) {
		unsigned dgt = d->p[d->pos] - '0';

		if (acc > (limit - dgt) / 10) {
			ret = dec_fail(d, "integer overflow", start);
			goto out;
		}
		acc = acc * 10 + dgt;
		d->pos++;
	}
	if (d->pos >= d->len) {
		ret = dec_fail(d, "truncated integer", start);
		goto out;
	}
	if (d->pos == first || d->p[d->pos] != 'e') {
		ret = dec_fail(d, "malformed integer", start);
		goto out;
	}
	if (d->p[first] == '0' && d->pos - first > 1) {
		ret = dec_fail(d, "leading zero in integer", start);
		goto out;
	}
	if (neg && acc == 0) {
		ret = dec_fail(d, "negative zero", start);
		goto out;
	}
	d->pos++;
	/* Two's complement: -(INT64_MAX + 1) only fits when negated in unsigned space. */
	*out = bval_new_int(neg ? (int64_t)(0 - acc) : (int64_t)acc);
	ret = *out ? 0 : dec_nomem(d);
out:
	return ret;
}

/*
 * <length>:<bytes>. cjdns pads the first length of a reply with a variable
 * number of zeros ("d000001:q4:ponge"), so unlike integers, lengths may have
 * leading zeros. The length is checked against what is left before anything
 * is allocated, so a huge claimed length costs nothing.
 */
static int dec_strraw(struct dec *d, const char **s, size_t *slen)
{
	size_t start = d->pos, n = 0;
	int ret;

	while (d->pos < d->len && is_digit(d->p[d->pos])) {
		unsigned dgt = d->p[d->pos] - '0';

		if (n > (SIZE_MAX - dgt) / 10) {
			ret = dec_fail(d, "string length overflow", start);
			goto out;
		}
		n = n * 10 + dgt;
		d->pos++;
	}
	if (d->pos >= d->len) {
		ret = dec_fail(d, "truncated string length", start);
		goto out;
	}
	if (d->p[d->pos] != ':') {
		ret = dec_fail(d, "malformed string length", start);
		goto out;
	}
	d->pos++;
	if (n > d->len - d->pos) {
		ret = dec_fail(d, "truncated string", start);
		goto out;
	}
	*s = (const char *)d->p + d->pos;
	*slen = n;
	d->pos += n;
	ret = 0;
out:
	return ret;
}

static int dec_str(struct dec *d, struct bval **out)
{
	const char *s;
	size_t n;
	int ret;

	ret = dec_strraw(d, &s, &n);
	if (ret == 0) {
		*out = bval_new_str(s, n);
		ret = *out ? 0 : dec_nomem(d);
	}
	return ret;
}

static int dec_list(struct dec *d, unsigned depth, struct bval **out)
{
	struct bval *l = NULL, *item = NULL;
	size_t start = d->pos;
	int ret;

	l = bval_new_list();
	if (!l) {
		ret = dec_nomem(d);
		goto out;
	}
	d->pos++;
	for (;;) {
		if (d->pos >= d->len) {
			ret = dec_fail(d, "truncated list", start);
			goto out;
		}
		if (d->p[d->pos] == 'e')
			break;
		ret = dec_value(d, depth + 1, &item);
		if (ret < 0)
			goto out;
		if (push_item(l, item) < 0) {
			ret = dec_nomem(d);
			goto out;
		}
		item = NULL;
	}
	d->pos++;
	*out = l;
	l = NULL;
	ret = 0;
out:
	bval_free(item);
	bval_free(l);
	return ret;
}

/*
 * Duplicate keys: cjdns sends its keys sorted, so checking each key against
 * the previous one is enough while the order holds. Only a dict that arrives
 * unsorted pays for a sort, which keeps a hostile reply at O(n log n) rather
 * than the O(n^2) of comparing every pair.
 */
static int dec_dups(struct dec *d, const struct bval *dict, size_t start)
{
	struct kent *e = NULL;
	int ret;

	if (dict_sorted(dict, &e) < 0) {
		ret = dec_nomem(d);
		goto out;
	}
	ret = 0;
	for (size_t i = 1; i < dict->n; i++) {
		if (!kent_cmp(&e[i - 1], &e[i])) {
			ret = dec_fail(d, "duplicate dict key in dict", start);
			break;
		}
	}
out:
	free(e);
	return ret;
}

static int dec_dict(struct dec *d, unsigned depth, struct bval **out)
{
	struct bval *dict = NULL, *val = NULL;
	size_t start = d->pos, koff, klen;
	const char *kraw;
	char *key = NULL;
	bool sorted = true;
	int ret;

	dict = bval_new_dict();
	if (!dict) {
		ret = dec_nomem(d);
		goto out;
	}
	d->pos++;
	for (;;) {
		if (d->pos >= d->len) {
			ret = dec_fail(d, "truncated dict", start);
			goto out;
		}
		if (d->p[d->pos] == 'e')
			break;
		koff = d->pos;
		if (!is_digit(d->p[d->pos])) {
			ret = dec_fail(d, "dict key is not a string", koff);
			goto out;
		}
		ret = dec_strraw(d, &kraw, &klen);
		if (ret < 0)
			goto out;
		if (sorted && dict->n) {
			int c = keycmp(dict->keys[dict->n - 1], dict->klens[dict->n - 1],
				       kraw, klen);

			if (c == 0) {
				ret = dec_fail(d, "duplicate dict key", koff);
				goto out;
			}
			sorted = c < 0;
		}
		ret = dec_value(d, depth + 1, &val);
		if (ret < 0)
			goto out;
		key = malloc(klen + 1);
		if (!key) {
			ret = dec_nomem(d);
			goto out;
		}
		memcpy(key, kraw, klen);
		key[klen] = '\0';
		if (push_entry(dict, key, klen, val) < 0) {
			ret = dec_nomem(d);
			goto out;
		}
		key = NULL;
		val = NULL;
	}
	d->pos++;
	if (!sorted) {
		ret = dec_dups(d, dict, start);
		if (ret < 0)
			goto out;
	}
	*out = dict;
	dict = NULL;
	ret = 0;
out:
	free(key);
	bval_free(val);
	bval_free(dict);
	return ret;
}

static int dec_value(struct dec *d, unsigned depth, struct bval **out)
{
	unsigned char c;
	int ret;

	*out = NULL;
	if (d->pos >= d->len) {
		ret = dec_fail(d, "unexpected end of input", d->pos);
		goto out;
	}
	c = d->p[d->pos];
	if ((c == 'l' || c == 'd') && depth > BENCODE_MAX_DEPTH) {
		ret = dec_fail(d, "nesting too deep", d->pos);
		goto out;
	}
	if (c == 'i')
		ret = dec_int(d, out);
	else if (c == 'l')
		ret = dec_list(d, depth, out);
	else if (c == 'd')
		ret = dec_dict(d, depth, out);
	else if (is_digit(c))
		ret = dec_str(d, out);
	else
		ret = dec_fail(d, "unexpected byte", d->pos);
out:
	return ret;
}

int bencode_decode(const char *buf, size_t len, struct bval **out, struct verr *err)
{
	struct dec d = { (const unsigned char *)buf, len, 0, err };
	struct bval *v = NULL;
	int ret;

	*out = NULL;
	if (!buf && len) {
		ret = verr_set(err, -EINVAL, "no buffer");
		goto out;
	}
	ret = dec_value(&d, 1, &v);
	if (ret < 0)
		goto out;
	if (d.pos != len) {
		ret = dec_fail(&d, "trailing bytes", d.pos);
		goto out;
	}
	*out = v;
	v = NULL;
out:
	bval_free(v);
	return ret;
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (no overlongs, no surrogates), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
	uint32_t cp, min;
	size_t n = 0;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		goto out;
	}
	if (n > left)
		goto bad;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		goto bad;
	goto out;
bad:
	n = 0;
out:
	return n;
}

static int json_str(struct buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[8];
	size_t i = 0, n;
	int ret;

	ret = buf_addc(b, '"');
	while (ret == 0 && i < len) {
		unsigned char c = s[i];

		n = c >= 0x80 ? utf8_seq(s + i, len - i) : 0;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ret = buf_add(b, esc, 2);
			i++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			esc[0] = '\\';
			esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			ret = buf_add(b, esc, 2);
			i++;
		} else if (c >= 0x20 && c < 0x7f) {
			ret = buf_addc(b, (char)c);
			i++;
		} else if (n) {
			ret = buf_add(b, s + i, n);
			i += n;
		} else {
			/* Control bytes and stray high bytes: one escape each, lossy but valid. */
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			ret = buf_add(b, esc, 6);
			i++;
		}
	}
	if (ret == 0)
		ret = buf_addc(b, '"');
	return ret;
}

static int json_value(struct buf *b, const struct bval *v)
{
	int ret = -EINVAL;

	if (!v)
		goto out;
	switch (v->type) {
	case BVAL_INT:
		ret = buf_int(b, v->i);
		break;
	case BVAL_STR:
		ret = json_str(b, v->s, v->len);
		break;
	case BVAL_LIST:
		ret = buf_addc(b, '[');
		for (size_t i = 0; ret == 0 && i < v->n; i++) {
			if (i)
				ret = buf_addc(b, ',');
			if (ret == 0)
				ret = json_value(b, v->items[i]);
		}
		if (ret == 0)
			ret = buf_addc(b, ']');
		break;
	case BVAL_DICT:
		ret = buf_addc(b, '{');
		for (size_t i = 0; ret == 0 && i < v->n; i++) {
			if (i)
				ret = buf_addc(b, ',');
			if (ret == 0)
				ret = json_str(b, v->keys[i], v->klens[i]);
			if (ret == 0)
				ret = buf_addc(b, ':');
			if (ret == 0)
				ret = json_value(b, v->items[i]);
		}
		if (ret == 0)
			ret = buf_addc(b, '}');
		break;
	default:
		ret = -EINVAL;
		break;
	}
out:
	return ret;
}

int bval_to_json(const struct bval *v, char **out, size_t *outlen)
{
	struct buf b = { 0 };

	return buf_finish(&b, json_value(&b, v), out, outlen);
}
