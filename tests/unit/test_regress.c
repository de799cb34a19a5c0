// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * Regression tests for bugs found by fuzzing (tests/fuzz/) and by the
 * sanitizer and valgrind runs (tests/cli/), one case per bug, named after
 * what broke, for modules without a test file of their own.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define CLIENT "0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k"
#define GATEWAY "5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k"

static void offer_text(char *buf, size_t len, const char *expires)
{
	snprintf(buf, len,
		 "{\"public_key\":\"" CLIENT "\",\"gateway_key\":\"" GATEWAY "\","
		 "\"ipv4_address\":\"172.23.23.2/24\",\"ipv6_address\":null,"
		 "\"routes\":[\"default\"],\"gateways\":[\"172.23.23.1\"],\"nameservers\":[],"
		 "\"expires\":\"%s\"}", expires);
}

/*
 * fuzz_offer: "9999-12-31T23:59:60Z" parsed (strptime takes a leap second,
 * timegm carries it into year 10000), but proto_offer_json then wrote
 * "10000-01-01T00:00:00Z", which does not parse: a gateway could make a
 * client's saved state unreadable. Times outside 1970..9999 are refused.
 */
static void offer_expires_round_trips(void **state)
{
	static const char *const bad[] = {
		"9999-12-31T23:59:60Z", "9999-12-31T23:59:61Z", "1969-12-31T23:59:59Z",
		"0000-01-01T00:00:00Z",
	};
	struct offer *o = calloc(1, sizeof(*o)), *again = calloc(1, sizeof(*again));
	struct verr err = { 0 };
	char text[1024], *json;
	int64_t t = 0;

	assert_non_null(o);
	assert_non_null(again);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(proto_parse_time(bad[i], &t), -EINVAL);
		offer_text(text, sizeof(text), bad[i]);
		assert_int_equal(proto_parse_offer(text, strlen(text), o, &err), -EBADMSG);
	}
	assert_int_equal(proto_parse_time("9999-12-31T23:59:59Z", &t), 0);
	assert_int_equal(t, 253402300799LL);
	assert_int_equal(proto_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);

	/* The latest time accepted comes back from the offer's own JSON. */
	offer_text(text, sizeof(text), "9999-12-31T23:59:59Z");
	assert_int_equal(proto_parse_offer(text, strlen(text), o, &err), 0);
	json = proto_offer_json(o);
	assert_non_null(json);
	assert_non_null(strstr(json, "\"expires\":\"9999-12-31T23:59:59Z\""));
	assert_int_equal(proto_parse_offer(json, strlen(json), again, &err), 0);
	assert_int_equal(again->expires, o->expires);
	free(json);
	free(again);
	free(o);
}

/*
 * tests/netns/hostile.sh: the lease request parser took JSON that readers
 * disagree on. yajl_tree turns "\u0000" into a NUL, so "KEY\u0000junk" read
 * as KEY; it keeps both members of a name given twice and lookups saw the
 * first ({"public_key": A, "public_key": B} from A was A's renewal); it
 * allows comments, and it lets overlong UTF-8 and surrogates through. All
 * of these are refused now, anywhere in the document, and so is the same
 * in an offer.
 */
static void lease_request_strict_json(void **state)
{
	static const char *const bad[] = {
		"{\"public_key\":\"" CLIENT "\\u0000junk\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"\\u0000\"}",
		"{\"public_key\":\"" CLIENT "\",\"public_key\":\"" GATEWAY "\"}",
		"{\"public_key\":\"" GATEWAY "\",\"public_key\":\"" CLIENT "\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":[{\"y\":1,\"y\":1}]}",
		"{\"public_key\": /* c */ \"" CLIENT "\"}",
		"{\"public_key\": \"" CLIENT "\" // c\n}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"\xc0\xaf\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"\xed\xa0\x80\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"\xf4\x90\x80\x80\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"\xc3\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"\xff\"}",
	};
	static const char *const good[] = {
		"{\"public_key\":\"" CLIENT "\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 /\\\\u0000\"}",
		"{\"public_key\":\"" CLIENT "\",\"x\":{\"y\":1},\"y\":[{\"y\":2}]}",
	};
	struct verr err = { 0 };
	struct offer o;
	char key[55], text[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (proto_parse_lease_request(bad[i], strlen(bad[i]), key, &err) != -EINVAL)
			fail_msg("bad[%zu] accepted: %s", i, bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (proto_parse_lease_request(good[i], strlen(good[i]), key, &err) != 0)
			fail_msg("good[%zu] refused (%s): %s", i, err.msg, good[i]);
		assert_string_equal(key, CLIENT);
	}
	offer_text(text, sizeof(text), "2099-01-01T00:00:00Z");
	assert_int_equal(proto_parse_offer(text, strlen(text), &o, &err), 0);
	text[strlen(text) - 1] = '\0';
	strcat(text, ",\"expires\":\"2099-01-01T00:00:00Z\"}");
	assert_int_equal(proto_parse_offer(text, strlen(text), &o, &err), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(offer_expires_round_trips),
		cmocka_unit_test(lease_request_strict_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
