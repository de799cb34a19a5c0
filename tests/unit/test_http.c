// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

/* Feed bytes through a socketpair (the writer end stays open: a silent client). */
static int read_from(const char *bytes, size_t len, int timeout_ms, struct http_request *req,
		     struct verr *err)
{
	int sv[2], ret;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], bytes, len), (ssize_t)len);
	ret = http_read_request(sv[0], timeout_ms, req, err);
	close(sv[0]);
	close(sv[1]);
	return ret;
}

/*
 * The same bytes through http_reader one at a time, as a server reading a
 * non-blocking socket may get them; the end of the bytes is a timeout.
 */
static int read_bytewise(const char *bytes, size_t len, struct http_request *req,
			 struct verr *err)
{
	struct http_reader r;
	int ret = http_reader_start(&r, req, err);

	assert_int_equal(ret, 0);
	ret = -EAGAIN;
	for (size_t i = 0; ret == -EAGAIN && i < len; i++) {
		size_t cap;
		char *p = http_reader_space(&r, &cap);

		assert_true(cap > 0);
		*p = bytes[i];
		ret = http_reader_got(&r, 1, err);
	}
	if (ret == -EAGAIN)
		ret = http_reader_timeout(&r, err);
	http_reader_free(&r);
	return ret;
}

#define READ(s, t, r, e) read_from(s, sizeof(s) - 1, t, r, e)

static void good_post(void **state)
{
	struct http_request req;
	struct verr err = { 0 };

	assert_int_equal(READ("POST /lease?x=1 HTTP/1.1\r\nHost: [fc00::1]:12234\r\n"
			      "content-length: 13\r\n\r\n{\"a\": \"bcd\"}\n", 1000, &req, &err), 0);
	assert_string_equal(req.method, "POST");
	assert_string_equal(req.path, "/lease");
	assert_int_equal(req.body_len, 13);
	assert_string_equal(req.body, "{\"a\": \"bcd\"}\n");
	http_request_free(&req);
	/* A byte at a time, the same request. */
	assert_int_equal(read_bytewise("POST /lease?x=1 HTTP/1.1\r\nContent-Length: 13\r\n\r\n"
				       "{\"a\": \"bcd\"}\nnext", 65, &req, &err), 0);
	assert_string_equal(req.query, "x=1");
	assert_int_equal(req.body_len, 13);
	assert_string_equal(req.body, "{\"a\": \"bcd\"}\n");
	http_request_free(&req);

	/* Bare LF lines, with CRLF inside the body: the first blank line ends the head. */
	assert_int_equal(READ("POST /lease HTTP/1.1\nContent-Length: 4\n\nab\r\n", 1000, &req, &err),
			 0);
	assert_int_equal(req.body_len, 4);
	http_request_free(&req);

	assert_int_equal(READ("GET /tunnels HTTP/1.0\n\n", 1000, &req, &err), 0);
	assert_string_equal(req.path, "/tunnels");
	assert_null(req.body);
	assert_int_equal(req.content_length, -1);
	http_request_free(&req);
}

/* A request, and the status reading it must end with. */
struct status_case {
	const char *req;
	int status;
};

static void expect_statuses(const struct status_case *cases, size_t n)
{
	struct http_request req;
	struct verr err = { 0 };

	for (size_t i = 0; i < n; i++) {
		int ret = read_from(cases[i].req, strlen(cases[i].req), 200, &req, &err);

		if (ret != cases[i].status)
			fail_msg("case %zu (%s): got %d (%s)", i, cases[i].req, ret, err.msg);
		http_request_free(&req);
		ret = read_bytewise(cases[i].req, strlen(cases[i].req), &req, &err);
		if (ret != cases[i].status)
			fail_msg("case %zu (%s), a byte at a time: got %d (%s)", i, cases[i].req, ret,
				 err.msg);
		http_request_free(&req);
	}
}

static void hostile(void **state)
{
	static const struct status_case cases[] = {
		{ "POST /lease HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413 },
		{ "POST /lease HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "POST /lease HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400 },
		{ "POST /lease HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400 },
		{ "POST /lease HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab", 400 },
		{ "POST /lease HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
		{ "GET /tunnels HTTP/2.0\r\n\r\n", 505 },
		{ "GET /tunnels\r\n\r\n", 400 },
		{ "GET  /tunnels HTTP/1.1\r\n\r\n", 400 },
		{ "get /tunnels HTTP/1.1\r\n\r\n", 501 },	/* a method, but not one visp knows */
		{ "VERYLONGMETHOD /tunnels HTTP/1.1\r\n\r\n", 501 },
		{ "GET tunnels HTTP/1.1\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\nNoColonHere\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\n folded: header\r\n\r\n", 400 },
		{ "POST /lease HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort", 408 },
		{ "GET /tunnels HTTP/1.1\r\nHost: x", 408 },	/* slowloris: never finishes */
		{ "", 408 },				/* silent */
	};

	expect_statuses(cases, sizeof(cases) / sizeof(cases[0]));
}

static void caps(void **state)
{
	struct http_request req;
	struct verr err = { 0 };
	char *big = malloc(HTTP_MAX_HEAD * 2);
	int n;

	n = snprintf(big, HTTP_MAX_HEAD * 2, "GET /");
	memset(big + n, 'a', 400);
	strcpy(big + n + 400, " HTTP/1.1\r\n\r\n");
	assert_int_equal(read_from(big, strlen(big), 500, &req, &err), 414);

	n = snprintf(big, HTTP_MAX_HEAD * 2, "GET / HTTP/1.1\r\nX: ");
	memset(big + n, 'a', HTTP_MAX_HEAD);
	strcpy(big + n + HTTP_MAX_HEAD, "\r\n\r\n");
	assert_int_equal(read_from(big, strlen(big), 500, &req, &err), 431);

	assert_int_equal(read_from("GET / HTTP/1.1\r\nX: \0\r\n\r\n", 24, 500, &req, &err), 400);
	free(big);
}

/*
 * Requests tests/netns/hostile.sh found answered wrongly, with the status
 * RFC 9110/9112 asks for. Before: a bare CR cut the line short and what
 * followed it (a Content-Length even) was dropped unseen; Transfer-Encoding
 * next to Content-Length was a 411, not the framing conflict it is; "post"
 * and unknown methods were 400 or reached the handler (405); CONNECT and
 * "OPTIONS *" were 400; a malformed version was 505; '#', control and 8-bit
 * bytes in the target went through; control characters in header values too.
 */
static void hostile_found_end_to_end(void **state)
{
	static const struct status_case cases[] = {
		{ "GET /tunnels HTTP/1.1\rX-Injected: 1\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\nX: a\rContent-Length: 5\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\nX: a\r\r\n\r\n", 400 },
		{ "POST /lease HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}",
		  400 },
		{ "POST /lease HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
		  400 },
		{ "post /lease HTTP/1.1\r\n\r\n", 501 },
		{ "Get /lease HTTP/1.1\r\n\r\n", 501 },
		{ "FOO /lease HTTP/1.1\r\n\r\n", 501 },
		{ "G@T /lease HTTP/1.1\r\n\r\n", 400 },
		{ "CONNECT [::1]:12234 HTTP/1.1\r\n\r\n", 501 },
		{ "CONNECT /lease HTTP/1.1\r\n\r\n", 501 },
		{ "OPTIONS * HTTP/1.1\r\n\r\n", 501 },
		{ "GET * HTTP/1.1\r\n\r\n", 400 },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505 },
		{ "GET /tunnels HTTP/0.9\r\n\r\n", 505 },
		{ "GET /tunnels http/1.1\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.10\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1\r\n\r\n", 400 },
		{ "GET /tunnels#frag HTTP/1.1\r\n\r\n", 400 },
		{ "GET /lease\x01 HTTP/1.1\r\n\r\n", 400 },
		{ "GET /lease\xff HTTP/1.1\r\n\r\n", 400 },
		{ "GET https://[::1]/tunnels HTTP/1.1\r\n\r\n", 400 },
		{ "GET ftp://[::1]/tunnels HTTP/1.1\r\n\r\n", 400 },
		{ "GET http:///tunnels HTTP/1.1\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\nContent-Length : 0\r\n\r\n", 400 },
		{ "GET /tunnels HTTP/1.1\r\nX-\xff: 1\r\n\r\n", 400 },
	};

	expect_statuses(cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * What is allowed: the absolute form a server must accept (RFC 9112,
 * 3.2.2), HTTP/1.2 read as 1.1, obs-text in a value. Bytes past
 * Content-Length were a 400 when they came in the same segment as the body
 * and ignored otherwise; now they are always ignored (one request per
 * connection).
 */
static void accepted_forms(void **state)
{
	struct http_request req;
	struct verr err = { 0 };

	assert_int_equal(READ("GET http://[fc00::1]:12234/lease?public_key=x HTTP/1.1\r\n\r\n", 200,
			      &req, &err), 0);
	assert_string_equal(req.path, "/lease");
	assert_string_equal(req.query, "public_key=x");
	http_request_free(&req);
	assert_int_equal(READ("GET HTTP://host HTTP/1.1\r\n\r\n", 200, &req, &err), 0);
	assert_string_equal(req.path, "/");
	http_request_free(&req);
	assert_int_equal(READ("GET http://host?a=b HTTP/1.2\r\nX: caf\xe9\r\n\r\n", 200, &req,
			      &err), 0);
	assert_string_equal(req.path, "/");
	assert_string_equal(req.query, "a=b");
	http_request_free(&req);
	assert_int_equal(READ("POST /lease HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/1.1\r\n\r\n",
			      200, &req, &err), 0);
	assert_int_equal(req.body_len, 2);
	assert_string_equal(req.body, "{}");
	http_request_free(&req);
}

/* A request line that does not fit the head is a target too long (414), not a 431. */
static void request_line_over_head_cap(void **state)
{
	struct http_request req;
	struct verr err = { 0 };
	char *big = malloc(HTTP_MAX_HEAD * 2);

	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', HTTP_MAX_HEAD + 100);
	strcpy(big + 5 + HTTP_MAX_HEAD + 100, " HTTP/1.1\r\n\r\n");
	assert_int_equal(read_from(big, strlen(big), 500, &req, &err), 414);
	free(big);
}

static void response(void **state)
{
	char buf[512];
	int sv[2];
	ssize_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(http_write_response(sv[1], 0, 404, NULL, "{\"error\":\"no lease\"}"), 0);
	n = read(sv[0], buf, sizeof(buf) - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
				 "Content-Length: 21\r\nConnection: close\r\n\r\n"
				 "{\"error\":\"no lease\"}\n");
	assert_int_equal(http_write_response(sv[1], 1, 200, NULL, "{}"), 0);
	n = read(sv[0], buf, sizeof(buf) - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "Status: 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: 3\r\n\r\n{}\n");
	/* RFC 9110, 15.5.6: a 405 says what is allowed. */
	assert_int_equal(http_write_response(sv[1], 0, 405, "GET, POST, DELETE", "{}"), 0);
	n = read(sv[0], buf, sizeof(buf) - 1);
	buf[n] = '\0';
	assert_string_equal(buf, "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n"
				 "Content-Length: 3\r\nAllow: GET, POST, DELETE\r\n"
				 "Connection: close\r\n\r\n{}\n");
	close(sv[0]);
	close(sv[1]);
}

static void cgi(void **state)
{
	struct http_request req;
	struct verr err = { 0 };
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], "{}", 2), 2);
	setenv("REQUEST_METHOD", "POST", 1);
	setenv("PATH_INFO", "/lease", 1);
	setenv("CONTENT_LENGTH", "2", 1);
	setenv("REMOTE_ADDR", "fc00::1", 1);
	assert_int_equal(http_read_cgi(sv[0], 500, &req, &err), 0);
	assert_string_equal(req.path, "/lease");
	assert_string_equal(req.body, "{}");
	assert_string_equal(req.remote_addr, "fc00::1");
	http_request_free(&req);
	setenv("CONTENT_LENGTH", "100000", 1);
	assert_int_equal(http_read_cgi(sv[0], 500, &req, &err), 413);
	/* The method from the web server is held to the same rules. */
	setenv("CONTENT_LENGTH", "", 1);
	setenv("REQUEST_METHOD", "post", 1);
	assert_int_equal(http_read_cgi(sv[0], 500, &req, &err), 501);
	setenv("REQUEST_METHOD", "P T", 1);
	assert_int_equal(http_read_cgi(sv[0], 500, &req, &err), 400);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_post),
		cmocka_unit_test(hostile),
		cmocka_unit_test(caps),
		cmocka_unit_test(hostile_found_end_to_end),
		cmocka_unit_test(accepted_forms),
		cmocka_unit_test(request_line_over_head_cap),
		cmocka_unit_test(response),
		cmocka_unit_test(cgi),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
