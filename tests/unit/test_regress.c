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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(offer_expires_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
