// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
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

/*
 * --idle counts from when the last connection closed: a client that sent
 * nothing is refused (408) at its timeout, and only then does the idle
 * period start. (It used to start at the last loop with a connection, so
 * a process could leave well before --idle had passed without one.)
 */
static void idle_after_last_close(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c, fds[1];
	struct server_opts o = { .fds = fds, .nfds = 1, .timeout_ms = 300, .idle_ms = 500,
				 .max_conns = 4 };
	struct verr err = { 0 };
	char buf[64] = "";
	long long t0;

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 4), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);	/* the backlog takes it */
	fds[0] = l;
	t0 = mono_ms();
	assert_int_equal(server_run(NULL, &o, &err), 0);
	/* Its timeout, then a whole idle period (a lower bound only: the clock never runs back). */
	assert_true(mono_ms() - t0 >= o.timeout_ms + o.idle_ms);
	assert_true(read(c, buf, sizeof(buf) - 1) > 0);
	assert_non_null(strstr(buf, " 408 "));
	close(c);
	close(l);
}

/* Accept=yes passes a connection as fd 3 too: only a listening stream socket is served. */
static void listening_only(void **state)
{
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), d = socket(AF_INET, SOCK_DGRAM, 0);
	int sv[2];

	assert_true(l >= 0 && d >= 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(bind(l, (struct sockaddr *)&lo, sizeof(lo)), 0);
	assert_false(server_listening(l));	/* bound, not listening yet */
	assert_int_equal(listen(l, 1), 0);
	assert_true(server_listening(l));
	assert_false(server_listening(d));
	assert_false(server_listening(sv[0]));	/* a connection */
	assert_false(server_listening(-1));
	close(l);
	close(d);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listen_fds),
		cmocka_unit_test(listening_only),
		cmocka_unit_test(idle_after_last_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
