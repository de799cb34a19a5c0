// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"
#include "vectors.h"

static const struct capture *find_capture(const char *name)
{
	const struct capture *c = NULL;

	for (size_t i = 0; i < N_CAPTURES && !c; i++)
		if (!strcmp(captures[i].name, name))
			c = &captures[i];
	assert_non_null(c);
	return c;
}

/*
 * Decode from an exact-size heap copy: ASan then flags any read past the
 * end, which a string literal's NUL or a bigger stack buffer would hide.
 */
static int decode_exact(const char *buf, size_t len, struct bval **out, struct verr *err)
{
	char *copy = malloc(len ? len : 1);
	int ret;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	ret = bencode_decode(copy, len, out, err);
	free(copy);
	return ret;
}

static struct bval *decode_ok(const char *buf, size_t len)
{
	struct verr err = { 0 };
	struct bval *v = NULL;
	int ret = decode_exact(buf, len, &v, &err);

	if (ret != 0)
		fail_msg("decode of %.*s failed: %d %s", (int)len, buf, ret, err.msg);
	assert_non_null(v);
	return v;
}

static void assert_encodes_to(const struct bval *v, const char *want, size_t wantlen)
{
	char *enc = NULL;
	size_t len = 0;

	assert_int_equal(bencode_encode(v, &enc, &len), 0);
	assert_int_equal(len, wantlen);
	assert_memory_equal(enc, want, wantlen);
	assert_int_equal(enc[len], '\0');
	free(enc);
}

static void assert_json(const struct bval *v, const char *want)
{
	char *json = NULL;
	size_t len = 0;

	assert_int_equal(bval_to_json(v, &json, &len), 0);
	assert_string_equal(json, want);
	assert_int_equal(len, strlen(want));
	free(json);
}

/* Every reply cjdns sent decodes, padded lengths included, and re-encodes stably. */
static void test_decode_every_reply(void **state)
{
	size_t replies = 0;

	for (size_t i = 0; i < N_CAPTURES; i++) {
		const struct capture *c = &captures[i];
		struct bval *v, *again;
		char *enc = NULL;
		size_t len;

		if (!c->resp)
			continue;
		v = decode_ok(c->resp, c->resp_len);
		assert_int_equal(v->type, BVAL_DICT);
		assert_int_equal(bencode_encode(v, &enc, &len), 0);
		assert_true(len <= c->resp_len);	/* padding dropped, nothing else */
		again = decode_ok(enc, len);
		assert_encodes_to(again, enc, len);
		bval_free(again);
		free(enc);
		bval_free(v);
		replies++;
	}
	assert_int_equal(replies, 64);
}

static void test_padded_reply_canonical(void **state)
{
	const struct capture *c = find_capture("ping without txid");
	struct bval *v = decode_ok(c->resp, c->resp_len);

	assert_memory_equal(c->resp, "d000001:q", 9);
	assert_string_equal(bval_dict_str(v, "q"), "pong");
	assert_encodes_to(v, "d1:q4:ponge", 11);
	bval_free(v);
}

static void test_ping_fields(void **state)
{
	const struct capture *c = find_capture("ping with txid");
	const struct bval *t;
	struct bval *v;

	v = decode_ok(c->resp, c->resp_len);
	assert_string_equal(bval_dict_str(v, "q"), "pong");
	assert_string_equal(bval_dict_str(v, "txid"), "abc");
	bval_free(v);

	c = find_capture("ping with binary txid");
	v = decode_ok(c->resp, c->resp_len);
	t = bval_dict_get(v, "txid");
	assert_non_null(t);
	assert_int_equal(t->type, BVAL_STR);
	assert_int_equal(t->len, 3);
	assert_memory_equal(t->s, "\x00\xff\x01", 4);	/* the 4th byte: the NUL after */
	assert_json(v, "{\"q\":\"pong\",\"txid\":\"\\u0000\\u00ff\\u0001\"}");
	bval_free(v);
}

static void test_cookie_and_pid(void **state)
{
	const struct capture *c = find_capture("cookie");
	struct bval *v = decode_ok(c->resp, c->resp_len);
	int64_t pid = 0;

	assert_string_equal(bval_dict_str(v, "cookie"), "1753230050");
	assert_int_equal(bval_dict_int(v, "cookie", &pid), -EINVAL);
	bval_free(v);

	c = find_capture("Core_pid");
	v = decode_ok(c->resp, c->resp_len);
	assert_int_equal(bval_dict_int(v, "pid", &pid), 0);
	assert_int_equal(pid, 14581);
	assert_int_equal(bval_dict_int(v, "nope", &pid), -ENOENT);
	assert_int_equal(bval_dict_int(v, "txid", &pid), -EINVAL);
	assert_null(bval_dict_str(v, "pid"));
	bval_free(v);
}

static void test_list_connections_order(void **state)
{
	static const int64_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 0 };
	const struct capture *c = find_capture("listConnections");
	struct bval *v = decode_ok(c->resp, c->resp_len);
	const struct bval *l = bval_dict_get(v, "connections");

	assert_non_null(l);
	assert_int_equal(l->type, BVAL_LIST);
	assert_int_equal(l->n, 10);
	for (size_t i = 0; i < l->n; i++) {
		assert_int_equal(l->items[i]->type, BVAL_INT);
		assert_int_equal(l->items[i]->i, want[i]);
	}
	assert_string_equal(bval_dict_str(v, "error"), "none");
	assert_json(v, "{\"connections\":[1,2,3,4,5,6,7,8,9,0],\"error\":\"none\",\"txid\":\"t1\"}");
	bval_free(v);
}

static void test_node_info(void **state)
{
	const struct capture *c = find_capture("Core_nodeInfo");
	struct bval *v = decode_ok(c->resp, c->resp_len);
	const struct bval *es;
	int64_t ver = 0, bits = 0;

	assert_string_equal(bval_dict_str(v, "myIp6"), "fc1e:be5e:fefa:8ce4:f5f4:06f8:3582:2f21");
	assert_string_equal(bval_dict_str(v, "myAddr"),
			    "v21.0000.0000.0000.0001.kwvflnpp437rfp0u5v3g376uxv9hmcgcg6llvucslw1b4z5v9k60.k");
	assert_int_equal(bval_dict_int(v, "version", &ver), 0);
	assert_int_equal(ver, 21);
	es = bval_dict_get(v, "encodingScheme");
	assert_non_null(es);
	assert_int_equal(es->type, BVAL_LIST);
	assert_int_equal(es->n, 3);
	assert_int_equal(bval_dict_int(es->items[2], "bitCount", &bits), 0);
	assert_int_equal(bits, 8);
	assert_string_equal(bval_dict_str(es->items[0], "prefix"), "01");
	assert_json(v, "{\"compressedSchemeHex\":\"6114458100\",\"encodingScheme\":["
		       "{\"bitCount\":3,\"prefix\":\"01\",\"prefixLen\":1},"
		       "{\"bitCount\":5,\"prefix\":\"02\",\"prefixLen\":2},"
		       "{\"bitCount\":8,\"prefix\":\"00\",\"prefixLen\":2}],"
		       "\"error\":\"none\","
		       "\"myAddr\":\"v21.0000.0000.0000.0001.kwvflnpp437rfp0u5v3g376uxv9hmcgcg6llvucslw1b4z5v9k60.k\","
		       "\"myIp6\":\"fc1e:be5e:fefa:8ce4:f5f4:06f8:3582:2f21\",\"txid\":\"t1\",\"version\":21}");
	bval_free(v);
}

static void test_peer_stats(void **state)
{
	const struct capture *c = find_capture("peerStats page 0");
	struct bval *v = decode_ok(c->resp, c->resp_len);
	const struct bval *peers = bval_dict_get(v, "peers"), *p;
	int64_t last = 0, total = 0;

	assert_non_null(peers);
	assert_int_equal(peers->n, 1);
	p = peers->items[0];
	assert_string_equal(bval_dict_str(p, "state"), "ESTABLISHED");
	assert_string_equal(bval_dict_str(p, "lladdr"), "10.99.0.2:19273");
	assert_int_equal(bval_dict_int(p, "last", &last), 0);
	assert_true(last == INT64_C(1795307576993));	/* needs all 64 bits */
	assert_int_equal(bval_dict_int(v, "total", &total), 0);
	assert_int_equal(total, 1);
	bval_free(v);

	c = find_capture("peerStats page 5");
	v = decode_ok(c->resp, c->resp_len);
	peers = bval_dict_get(v, "peers");
	assert_non_null(peers);
	assert_int_equal(peers->type, BVAL_LIST);
	assert_int_equal(peers->n, 0);
	bval_free(v);
}

static void test_available_functions(void **state)
{
	const struct capture *c = find_capture("availableFunctions page 0");
	struct bval *v = decode_ok(c->resp, c->resp_len);
	const struct bval *af = bval_dict_get(v, "availableFunctions"), *fd;
	int64_t more = 0, req = 0;

	assert_non_null(af);
	assert_int_equal(af->n, 8);	/* 8 functions a page */
	fd = bval_dict_get(bval_dict_get(af, "Admin_exportFd"), "fd");
	assert_int_equal(bval_dict_int(fd, "required", &req), 0);
	assert_int_equal(req, 1);
	assert_string_equal(bval_dict_str(fd, "type"), "Int");
	assert_int_equal(bval_dict_get(af, "Admin_asyncEnabled")->n, 0);
	assert_int_equal(bval_dict_int(v, "more", &more), 0);
	assert_int_equal(more, 1);
	bval_free(v);
}

/* Requests are canonical (keys sorted, no padding): decode + encode gives them back exactly. */
static void test_request_round_trip(void **state)
{
	size_t ok = 0;

	for (size_t i = 0; i < N_CAPTURES; i++) {
		const struct capture *c = &captures[i];
		struct verr err = { 0 };
		struct bval *v = NULL;

		if (!c->req_ok) {
			assert_int_equal(decode_exact(c->req, c->req_len, &v, &err), -EBADMSG);
			assert_null(v);
			continue;
		}
		v = decode_ok(c->req, c->req_len);
		assert_encodes_to(v, c->req, c->req_len);
		bval_free(v);
		ok++;
	}
	assert_int_equal(ok, N_CAPTURES - 3);
}

static void test_good_inputs(void **state)
{
	static const struct {
		const char *in;
		const char *canon;
	} good[] = {
		{ "le", "le" },
		{ "de", "de" },
		{ "0:", "0:" },
		{ "000:", "0:" },
		{ "i0e", "i0e" },
		{ "i-1e", "i-1e" },
		{ "i9223372036854775807e", "i9223372036854775807e" },
		{ "i-9223372036854775808e", "i-9223372036854775808e" },
		{ "d000001:q4:ponge", "d1:q4:ponge" },
		{ "d1:bi1e1:ai2ee", "d1:ai2e1:bi1ee" },	/* unsorted in, sorted out */
		{ "d1:a0:2:aai0e1:bde1:cl0:ee", "d1:a0:2:aai0e1:bde1:cl0:ee" },
		{ "l0:i0ede0005:abcdee", "l0:i0ede5:abcdee" },
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct bval *v = decode_ok(good[i].in, strlen(good[i].in));

		assert_encodes_to(v, good[i].canon, strlen(good[i].canon));
		bval_free(v);
	}
}

static void test_int_limits(void **state)
{
	struct bval *v = decode_ok("i-9223372036854775808e", 22);

	assert_int_equal(v->type, BVAL_INT);
	assert_true(v->i == INT64_MIN);
	bval_free(v);
	v = bval_new_int(INT64_MIN);
	assert_encodes_to(v, "i-9223372036854775808e", 22);
	assert_json(v, "-9223372036854775808");
	bval_free(v);
}

static void test_malformed(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *msg;	/* NULL: any */
	} bad[] = {
		{ "", 0, "unexpected end of input at offset 0" },
		{ "d", 1, "truncated dict at offset 0" },
		{ "d1:q", 4, "unexpected end of input at offset 4" },
		{ "i12", 3, "truncated integer at offset 0" },
		{ "i-0e", 4, "negative zero at offset 0" },
		{ "i01e", 4, "leading zero in integer at offset 0" },
		{ "i-01e", 5, "leading zero in integer at offset 0" },
		{ "i00e", 4, "leading zero in integer at offset 0" },
		{ "ie", 2, "malformed integer at offset 0" },
		{ "i-e", 3, "malformed integer at offset 0" },
		{ "i1.5e", 5, "malformed integer at offset 0" },
		{ "i+1e", 4, "malformed integer at offset 0" },
		{ "i9223372036854775808e", 21, "integer overflow at offset 0" },
		{ "i-9223372036854775809e", 22, "integer overflow at offset 0" },
		{ "i99999999999999999999999e", 25, "integer overflow at offset 0" },
		{ "4:abc", 5, "truncated string at offset 0" },
		{ "3:abcX", 6, "trailing bytes at offset 5" },
		{ "lee", 3, "trailing bytes at offset 2" },
		{ "d1:ai1e1:ai2ee", 14, "duplicate dict key at offset 7" },
		{ "d1:bi1e1:ai2e1:bi3ee", 20, "duplicate dict key in dict at offset 0" },
		{ "di1ei2ee", 8, "dict key is not a string at offset 1" },
		{ "dlei2ee", 7, "dict key is not a string at offset 1" },
		{ "99999999999999999999:x", 22, "string length overflow at offset 0" },
		{ "18446744073709551615:x", 22, "truncated string at offset 0" },
		{ "-1:x", 4, "unexpected byte at offset 0" },
		{ "1x", 2, "malformed string length at offset 0" },
		{ "12", 2, "truncated string length at offset 0" },
		{ "x", 1, "unexpected byte at offset 0" },
		{ "e", 1, "unexpected byte at offset 0" },
		{ "l", 1, "truncated list at offset 0" },
		{ "li1e", 4, "truncated list at offset 0" },
		{ "d1:a", 4, "unexpected end of input at offset 4" },
		{ "d1:ae", 5, "unexpected byte at offset 4" },
		{ "d1:q4:pingexx", 13, "trailing bytes at offset 11" },
		{ "l\0e", 3, "unexpected byte at offset 1" },
		{ " le", 3, "unexpected byte at offset 0" },
		{ "le ", 3, "trailing bytes at offset 2" },
		{ "hello world", 11, NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct verr err = { 0 };
		struct bval *v = (struct bval *)&err;	/* must come back NULL */
		int ret = decode_exact(bad[i].in, bad[i].len, &v, &err);

		if (ret != -EBADMSG)
			fail_msg("'%.*s' gave %d, not -EBADMSG", (int)bad[i].len, bad[i].in, ret);
		assert_null(v);
		assert_int_equal(err.code, -EBADMSG);
		assert_true(err.msg[0]);
		if (bad[i].msg && strcmp(err.msg, bad[i].msg))
			fail_msg("'%.*s': '%s', wanted '%s'", (int)bad[i].len, bad[i].in, err.msg,
				 bad[i].msg);
	}
	/* err is optional */
	{
		struct bval *v = NULL;

		assert_int_equal(bencode_decode("i-0e", 4, &v, NULL), -EBADMSG);
		assert_null(v);
	}
}

static char *nested(const char *open, size_t depth, const char *leaf, size_t *len)
{
	size_t ol = strlen(open), ll = strlen(leaf);
	char *s = malloc(depth * (ol + 1) + ll + 1), *p = s;

	assert_non_null(s);
	for (size_t i = 0; i < depth; i++, p += ol)
		memcpy(p, open, ol);
	memcpy(p, leaf, ll);
	p += ll;
	memset(p, 'e', depth);
	p += depth;
	*p = '\0';
	*len = (size_t)(p - s);
	return s;
}

static void test_depth(void **state)
{
	struct verr err = { 0 };
	struct bval *v = NULL;
	size_t len;
	char *s;

	s = nested("l", BENCODE_MAX_DEPTH, "", &len);
	v = decode_ok(s, len);
	assert_encodes_to(v, s, len);
	bval_free(v);
	free(s);

	s = nested("d1:a", BENCODE_MAX_DEPTH - 1, "i1e", &len);
	v = decode_ok(s, len);
	bval_free(v);
	free(s);

	s = nested("l", BENCODE_MAX_DEPTH + 1, "", &len);
	assert_int_equal(decode_exact(s, len, &v, &err), -EBADMSG);
	assert_string_equal(err.msg, "nesting too deep at offset 32");
	free(s);

	s = nested("d1:a", BENCODE_MAX_DEPTH, "de", &len);
	assert_int_equal(decode_exact(s, len, &v, &err), -EBADMSG);
	free(s);

	/* Far deeper than any stack would like: still a clean error, not a crash. */
	s = nested("l", 100000, "", &len);
	assert_int_equal(decode_exact(s, len, &v, &err), -EBADMSG);
	assert_null(v);
	free(s);
}

/* A quadratic decoder would take minutes here; a linear one takes milliseconds. */
static void test_big_list(void **state)
{
	const size_t n = 200000;
	char *s = malloc(n * 8 + 3), *p = s;
	struct bval *v;

	assert_non_null(s);
	*p++ = 'l';
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "i%zue", i % 100000);
	*p++ = 'e';
	v = decode_ok(s, (size_t)(p - s));
	assert_int_equal(v->n, n);
	assert_int_equal(v->items[0]->i, 0);
	assert_int_equal(v->items[n - 1]->i, (n - 1) % 100000);
	assert_encodes_to(v, s, (size_t)(p - s));
	bval_free(v);
	free(s);
}

/* Keys in reverse order: every one is out of order, so the sorted duplicate check runs. */
static void test_big_unsorted_dict(void **state)
{
	const size_t n = 50000;
	char *s = malloc(n * 16 + 3), *p = s;
	struct verr err = { 0 };
	struct bval *v;

	assert_non_null(s);
	*p++ = 'd';
	for (size_t i = n; i-- > 0;)
		p += sprintf(p, "6:k%05zui0e", i);
	*p++ = 'e';
	v = decode_ok(s, (size_t)(p - s));
	assert_int_equal(v->n, n);
	assert_string_equal(v->keys[0], "k49999");
	assert_non_null(bval_dict_get(v, "k00000"));
	bval_free(v);

	/* the same with one duplicate in the middle */
	memcpy(s + 1 + 11 * (n / 2), "6:k49999", 8);
	assert_int_equal(decode_exact(s, (size_t)(p - s), &v, &err), -EBADMSG);
	assert_string_equal(err.msg, "duplicate dict key in dict at offset 0");
	free(s);
}

static void test_build_and_encode(void **state)
{
	struct bval *d = bval_new_dict(), *l = bval_new_list(), *args = bval_new_dict();
	int64_t x = 0;

	assert_non_null(d);
	assert_non_null(l);
	assert_non_null(args);
	assert_int_equal(bval_dict_set(d, "q", bval_new_cstr("auth")), 0);
	assert_int_equal(bval_dict_set(d, "aq", bval_new_cstr("Foo_bar")), 0);
	assert_int_equal(bval_dict_set(d, "txid", bval_new_str("\x00\xff\x01", 3)), 0);
	assert_int_equal(bval_dict_set(d, "\xc3\xa9", bval_new_int(1)), 0);
	assert_int_equal(bval_dict_set(d, "a", bval_new_int(2)), 0);
	assert_int_equal(bval_dict_set(args, "page", bval_new_int(0)), 0);
	assert_int_equal(bval_dict_set(d, "args", args), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(bval_list_append(l, bval_new_int(i)), 0);
	assert_int_equal(bval_dict_set(d, "list", l), 0);
	/* replacing keeps one entry and frees the old value */
	assert_int_equal(bval_dict_set(d, "q", bval_new_cstr("ping")), 0);
	assert_int_equal(d->n, 7);
	assert_string_equal(bval_dict_str(d, "q"), "ping");
	assert_int_equal(bval_dict_int(d, "a", &x), 0);
	assert_int_equal(x, 2);
	assert_null(bval_dict_get(d, "missing"));
	assert_null(bval_dict_get(l, "q"));
	assert_null(bval_dict_get(NULL, "q"));
	assert_null(bval_dict_str(d, "a"));

	/* sorted bytewise: "a" < "aq" < "args" < ... < "txid" < 0xc3 */
	static const char want[] = "d1:ai2e2:aq7:Foo_bar4:argsd4:pagei0ee4:listli0ei1ei2ei3ei4ei5ei6ei7ei8ei9ee"
				   "1:q4:ping4:txid3:\x00\xff\x01" "2:\xc3\xa9i1ee";
	assert_encodes_to(d, want, sizeof(want) - 1);
	/* JSON keeps insertion order and UTF-8 keys */
	assert_json(d, "{\"q\":\"ping\",\"aq\":\"Foo_bar\",\"txid\":\"\\u0000\\u00ff\\u0001\","
		       "\"\xc3\xa9\":1,\"a\":2,\"args\":{\"page\":0},\"list\":[0,1,2,3,4,5,6,7,8,9]}");
	bval_free(d);
}

/* Ownership passes even on failure: ASan's leak check proves these free what they were given. */
static void test_api_errors(void **state)
{
	struct bval *d = bval_new_dict(), *l = bval_new_list(), *s = bval_new_cstr("x");
	char *out = (char *)&out;
	size_t len = 0;

	assert_int_equal(bval_list_append(d, bval_new_int(1)), -EINVAL);
	assert_int_equal(bval_list_append(NULL, bval_new_int(1)), -EINVAL);
	assert_int_equal(bval_list_append(l, NULL), -ENOMEM);
	assert_int_equal(bval_dict_set(l, "k", bval_new_int(1)), -EINVAL);
	assert_int_equal(bval_dict_set(d, NULL, bval_new_int(1)), -EINVAL);
	assert_int_equal(bval_dict_set(d, "k", NULL), -ENOMEM);
	assert_int_equal(bval_dict_int(l, "k", NULL), -ENOENT);
	assert_null(bval_dict_str(s, "x"));
	assert_null(bval_new_cstr(NULL));
	assert_int_equal(l->n, 0);
	assert_int_equal(d->n, 0);
	assert_int_equal(bencode_encode(NULL, &out, &len), -EINVAL);
	assert_null(out);
	assert_int_equal(bval_to_json(NULL, &out, &len), -EINVAL);
	assert_null(out);
	bval_free(NULL);
	bval_free(d);
	bval_free(l);
	bval_free(s);
}

static void test_empty_string_and_nul(void **state)
{
	struct bval *v = bval_new_str(NULL, 0), *w = bval_new_str("a\0b", 3);

	assert_non_null(v);
	assert_int_equal(v->len, 0);
	assert_string_equal(v->s, "");
	assert_encodes_to(v, "0:", 2);
	assert_json(v, "\"\"");
	assert_encodes_to(w, "3:a\0b", 5);
	assert_json(w, "\"a\\u0000b\"");
	bval_free(v);
	bval_free(w);
}

static void test_json_escapes(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *json;
	} cases[] = {
		{ "plain", 5, "\"plain\"" },
		{ "q\"b\\", 4, "\"q\\\"b\\\\\"" },
		{ "\t\n\r", 3, "\"\\t\\n\\r\"" },
		{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
		{ "/", 1, "\"/\"" },
		{ "\xc3\xa9t\xc3\xa9", 5, "\"\xc3\xa9t\xc3\xa9\"" },		/* valid UTF-8 kept */
		{ "\xe2\x82\xac", 3, "\"\xe2\x82\xac\"" },
		{ "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },
		{ "\xc3(", 2, "\"\\u00c3(\"" },				/* bad continuation */
		{ "\xc0\xaf", 2, "\"\\u00c0\\u00af\"" },			/* overlong */
		{ "\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\"" },		/* overlong */
		{ "\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"" },		/* surrogate */
		{ "\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\"" },	/* > U+10FFFF */
		{ "\xe2\x82", 2, "\"\\u00e2\\u0082\"" },			/* cut short */
		{ "\xff", 1, "\"\\u00ff\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bval *v = bval_new_str(cases[i].in, cases[i].len);

		assert_non_null(v);
		assert_json(v, cases[i].json);
		bval_free(v);
	}
	{
		struct bval *v = decode_ok("d2:\x01\"l1:\xffi-5eee", 15);

		assert_json(v, "{\"\\u0001\\\"\":[\"\\u00ff\",-5]}");
		bval_free(v);
	}
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* Anything that decodes must also encode, re-decode and render as JSON. */
static void check_any(const char *buf, size_t len)
{
	struct verr err = { 0 };
	struct bval *v = NULL, *again = NULL;
	char *enc = NULL, *json = NULL;
	size_t elen, jlen;
	int ret = decode_exact(buf, len, &v, &err);

	if (ret != 0 && ret != -EBADMSG)
		fail_msg("decode returned %d", ret);
	if (ret == -EBADMSG) {
		assert_null(v);
		assert_true(err.msg[0]);
		return;
	}
	assert_int_equal(bencode_encode(v, &enc, &elen), 0);
	assert_int_equal(decode_exact(enc, elen, &again, &err), 0);
	assert_encodes_to(again, enc, elen);
	assert_int_equal(bval_to_json(v, &json, &jlen), 0);
	assert_int_equal(strlen(json), jlen);
	free(enc);
	free(json);
	bval_free(again);
	bval_free(v);
}

static void test_truncate_every_offset(void **state)
{
	for (size_t i = 0; i < N_CAPTURES; i++) {
		const struct capture *c = &captures[i];

		if (!c->resp)
			continue;
		/* bencode is prefix-free: no proper prefix of a value is a value */
		for (size_t cut = 0; cut < c->resp_len; cut++) {
			struct bval *v = NULL;

			assert_int_equal(decode_exact(c->resp, cut, &v, NULL), -EBADMSG);
			assert_null(v);
		}
	}
}

static void test_mutations(void **state)
{
	static const char alphabet[] = "0123456789ilde:-x";
	size_t decoded = 0;

	for (int iter = 0; iter < 20000; iter++) {
		const struct capture *c;
		size_t len, pos, n;
		char *buf;

		do
			c = &captures[rnd() % N_CAPTURES];
		while (!c->resp);
		len = c->resp_len;
		buf = malloc(len + 16);
		assert_non_null(buf);
		memcpy(buf, c->resp, len);
		n = 1 + rnd() % 4;
		for (size_t k = 0; k < n && len; k++) {
			pos = rnd() % len;
			switch (rnd() % 6) {
			case 0:	/* flip bits */
				buf[pos] ^= (char)(1u << (rnd() % 8));
				break;
			case 1:	/* random byte */
				buf[pos] = (char)rnd();
				break;
			case 2:	/* a byte that means something to bencode */
				buf[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
				break;
			case 3:	/* delete */
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
				break;
			case 4:	/* insert */
				if (len < c->resp_len + 16) {
					memmove(buf + pos + 1, buf + pos, len - pos);
					buf[pos] = alphabet[rnd() % (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			default: /* truncate */
				len = pos;
				break;
			}
		}
		check_any(buf, len);
		{
			struct bval *v = NULL;

			if (decode_exact(buf, len, &v, NULL) == 0)
				decoded++;
			bval_free(v);
		}
		free(buf);
	}
	/* the mutations must not all be trivially rejected */
	assert_true(decoded > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_every_reply),
		cmocka_unit_test(test_padded_reply_canonical),
		cmocka_unit_test(test_ping_fields),
		cmocka_unit_test(test_cookie_and_pid),
		cmocka_unit_test(test_list_connections_order),
		cmocka_unit_test(test_node_info),
		cmocka_unit_test(test_peer_stats),
		cmocka_unit_test(test_available_functions),
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_good_inputs),
		cmocka_unit_test(test_int_limits),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_big_list),
		cmocka_unit_test(test_big_unsorted_dict),
		cmocka_unit_test(test_build_and_encode),
		cmocka_unit_test(test_api_errors),
		cmocka_unit_test(test_empty_string_and_nul),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_truncate_every_offset),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
