// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The lease client's HTTP: it talks to the gateway directly, never through
 * a proxy that the environment names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpc.h"

/* A TCP listener on 127.0.0.1, any port; *port gets the port. */
static int listener(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A child that answers one request on fd with 200 and a small JSON body. */
static pid_t serve_once(int fd)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
					    "Connection: close\r\n\r\n{}";
		char buf[4096];
		int c = accept(fd, NULL, NULL);

		if (c < 0 || read(c, buf, sizeof(buf)) <= 0 ||
		    write(c, reply, sizeof(reply) - 1) != (ssize_t)(sizeof(reply) - 1))
			_exit(1);
		close(c);
		_exit(0);
	}
	return pid;
}

static void httpc_ignores_proxy_environment(void **state)
{
	const char *vars[] = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
			       "all_proxy", "ALL_PROXY" };
	struct httpc_resp r = { 0 };
	struct verr err = { 0 };
	char url[64], proxy[64];
	int srv, prx, sport, pport, st;
	pid_t pid;

	srv = listener(&sport);
	prx = listener(&pport);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/lease", sport);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", pport);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		setenv(vars[i], proxy, 1);
	unsetenv("no_proxy");
	unsetenv("NO_PROXY");
	pid = serve_once(srv);

	if (httpc_request("POST", url, "{}", NULL, 2000, 4096, &r, &err) < 0) {
		/* Through a proxy, our server never got the request: end it. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fail_msg("%s", err.msg);
	}
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{}");
	/* The proxy's listener saw no connection at all. */
	assert_int_equal(poll(&(struct pollfd){ .fd = prx, .events = POLLIN }, 1, 0), 0);

	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	httpc_resp_free(&r);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	close(srv);
	close(prx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(httpc_ignores_proxy_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
