// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * libFuzzer harness for the lease server's HTTP reader, which takes whatever
 * a mesh peer sends to port 12234. The input goes through a real socket,
 * because http_read_request reads a file descriptor with poll and short
 * reads; the writer end is closed first, so every run ends at EOF instead of
 * waiting out the timeout. The same bytes then go through the CGI reader
 * twice: once as a body with a fixed environment, once with the method and
 * path taken from the first line (so hostile CGI variables are covered too).
 *
 *   make fuzz FUZZ_TIME=60		(see tests/fuzz/README.md)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

/*
 * The reader never looks past head + body caps; a little beyond them still
 * reaches every branch, and stays under the socket buffer so one write
 * cannot block.
 */
#define FEED_MAX (HTTP_MAX_HEAD + HTTP_MAX_BODY + 1024)
#define TIMEOUT_MS 200

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A socket to read data from, its peer already closed: -1 when out of fds. */
static int feed(const uint8_t *data, size_t size)
{
	int sv[2];
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	while (off < size) {
		ssize_t n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(sv[1]);
	return sv[0];
}

static bool known_status(int st)
{
	switch (st) {
	case 400: case 408: case 411: case 413: case 414: case 431: case 501: case 503: case 505:
		return true;
	}
	return false;
}

/* What a caller relies on after a 0 return. */
static void check_request(const struct http_request *req)
{
	if (!req->method[0] || req->path[0] != '/' ||
	    strnlen(req->path, sizeof(req->path)) == sizeof(req->path) ||
	    strnlen(req->query, sizeof(req->query)) == sizeof(req->query) ||
	    strchr(req->path, '?') || req->content_length > HTTP_MAX_BODY)
		abort();
	if (req->content_length > 0 &&
	    (!req->body || req->body_len != (size_t)req->content_length ||
	     req->body[req->body_len] != '\0'))
		abort();
	if (req->content_length <= 0 && req->body)
		abort();
}

static void check(int ret, const struct http_request *req, const struct verr *err)
{
	if (ret == 0)
		check_request(req);
	else if (!known_status(ret) || strnlen(err->msg, sizeof(err->msg)) == sizeof(err->msg))
		abort();
}

static void raw(const uint8_t *data, size_t size)
{
	struct http_request req;
	struct verr err = { 0 };
	int fd = feed(data, size), ret;

	if (fd < 0)
		return;
	ret = http_read_request(fd, TIMEOUT_MS, &req, &err);
	check(ret, &req, &err);
	http_request_free(&req);
	close(fd);
}

static void cgi(const char *method, const char *path, const char *clen, const uint8_t *body,
		size_t blen)
{
	struct http_request req;
	struct verr err = { 0 };
	int fd = feed(body, blen), ret;

	if (fd < 0)
		return;
	setenv("REQUEST_METHOD", method, 1);
	setenv("PATH_INFO", path, 1);
	setenv("CONTENT_LENGTH", clen, 1);
	setenv("REMOTE_ADDR", "fc00::1", 1);
	ret = http_read_cgi(fd, TIMEOUT_MS, &req, &err);
	check(ret, &req, &err);
	if (ret == 0 && strcmp(req.remote_addr, "fc00::1"))
		abort();
	http_request_free(&req);
	close(fd);
}

/* The first line's first two words as method and path, the rest as the body. */
static void cgi_from_line(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *line, *path, clen[32];
	size_t llen;

	if (!nl)
		return;
	llen = nl - data;
	line = strndup((const char *)data, llen);	/* stops at a NUL, as getenv would */
	if (!line)
		return;
	line[strcspn(line, "\r")] = '\0';
	path = strchr(line, ' ');
	if (path) {
		*path++ = '\0';
		path[strcspn(path, " ")] = '\0';
	} else {
		path = line + strlen(line);
	}
	snprintf(clen, sizeof(clen), "%zu", size - llen - 1);
	cgi(line, path, clen, nl + 1, size - llen - 1);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char clen[32];

	if (size > FEED_MAX)
		return -1;	/* keep it out of the corpus */
	raw(data, size);
	snprintf(clen, sizeof(clen), "%zu", size);
	cgi("POST", "/lease", clen, data, size);
	cgi_from_line(data, size);
	return 0;
}
