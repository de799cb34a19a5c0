// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "server.h"

/* sd_listen_fds(3): the sockets are for the process LISTEN_PID names, and no other. */
static void listen_fds(void **state)
{
	static const struct {
		const char *pid, *fds;
		int want;
	} cases[] = {
		{ "4242", "1", 1 },
		{ "4242", "3", 3 },
		{ "4242", "0", 0 },
		{ "4243", "1", 0 },		/* inherited from the parent it was meant for */
		{ "1", "2", 0 },
		{ NULL, "1", 0 },
		{ "4242", NULL, 0 },
		{ NULL, NULL, 0 },
		{ "", "1", -EINVAL },
		{ "42x", "1", -EINVAL },
		{ "-4242", "1", -EINVAL },
		{ "0", "1", -EINVAL },
		{ "99999999999999999999", "1", -EINVAL },
		{ "4242", "", -EINVAL },
		{ "4242", "-1", -EINVAL },
		{ "4242", "1 ", -EINVAL },
		{ "4242", "2147483647", -EINVAL },	/* past the last fd number */
		{ "4243", "junk", 0 },			/* not ours: not even read */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = server_listen_fds(cases[i].pid, cases[i].fds, 4242);

		if (got != cases[i].want)
			fail_msg("LISTEN_PID=%s LISTEN_FDS=%s: got %d, want %d",
				 cases[i].pid ? cases[i].pid : "(unset)",
				 cases[i].fds ? cases[i].fds : "(unset)", got, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listen_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
