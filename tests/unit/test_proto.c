// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The lease protocol's times: proto_format_time does its own calendar
 * arithmetic (no gmtime_r, which reads /etc/localtime), so it is checked
 * against gmtime_r in UTC over every year it can meet, leap days and
 * century rules included, and against fixed texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"

static void fixed_times(void **state)
{
	static const struct {
		int64_t t;
		const char *text;
	} v[] = {
		{ 0, "1970-01-01T00:00:00Z" },
		{ 951782400, "2000-02-29T00:00:00Z" },		/* a leap day of a 400th year */
		{ 951955199, "2000-03-01T23:59:59Z" },
		{ 4107542399LL, "2100-02-28T23:59:59Z" },	/* 2100 is no leap year */
		{ 4107542400LL, "2100-03-01T00:00:00Z" },
		{ 1795309323, "2026-11-22T01:02:03Z" },
		{ 253402300799LL, "9999-12-31T23:59:59Z" },
		{ -1, "1969-12-31T23:59:59Z" },
	};
	char buf[32];
	int64_t t;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		proto_format_time(v[i].t, buf);
		assert_string_equal(buf, v[i].text);
		if (v[i].t >= 0) {
			assert_int_equal(proto_parse_time(buf, &t), 0);
			assert_int_equal(t, v[i].t);
		}
	}
}

/* t from..to, step days apart (and a varying time of day): as gmtime_r says in UTC. */
static void compare(int64_t from, int64_t to, int64_t step)
{
	char mine[32], libc[64];
	struct tm tm;
	long n = 0;

	for (int64_t t = from; t < to; t += step * 86400 + n % 1013 - 506, n++) {
		time_t tt = (time_t)t;

		assert_non_null(gmtime_r(&tt, &tm));
		strftime(libc, sizeof(libc), "%Y-%m-%dT%H:%M:%SZ", &tm);
		proto_format_time(t, mine);
		if (strcmp(mine, libc))
			fail_msg("%lld: %s, gmtime_r says %s", (long long)t, mine, libc);
	}
}

/*
 * Every day of one whole 400-year cycle of the calendar (1970-2370), and
 * every 97th day from 1000 to 10400 (the years four digits can print).
 */
static void as_gmtime(void **state)
{
	setenv("TZ", "UTC", 1);
	tzset();
	compare(0, 12622780800LL, 1);
	compare(-30610224000LL, 266027529600LL, 97);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixed_times),
		cmocka_unit_test(as_gmtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
