// SPDX-License-Identifier: GPL-3.0-or-later
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read what is available (at most cap bytes) before the deadline: >0, 0 on EOF, -ETIMEDOUT. */
static ssize_t read_some(int fd, char *buf, size_t cap, long long deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - mono_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		n = read(fd, buf, cap);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		return n < 0 ? -errno : n;
	}
}

static int read_body(int fd, long long deadline, struct http_request *req, const char *have,
		     size_t nhave, struct verr *err)
{
	size_t want = req->content_length;

	if (nhave > want)
		return verr_set(err, 400, "more bytes than Content-Length");
	req->body = malloc(want + 1);
	if (!req->body)
		return verr_set(err, 503, "out of memory");
	if (nhave)
		memcpy(req->body, have, nhave);
	req->body_len = nhave;
	while (req->body_len < want) {
		ssize_t n = read_some(fd, req->body + req->body_len, want - req->body_len, deadline);

		if (n == -ETIMEDOUT)
			return verr_set(err, 408, "request body too slow");
		if (n <= 0)
			return verr_set(err, 400, "body shorter than Content-Length");
		req->body_len += n;
	}
	req->body[req->body_len] = '\0';
	return 0;
}

static int set_target(struct http_request *req, const char *t, size_t len, struct verr *err)
{
	size_t plen = strcspn(t, "?#");

	if (len >= HTTP_MAX_TARGET)
		return verr_set(err, 414, "request target too long");
	if (plen > len)
		plen = len;
	if (plen == 0 || t[0] != '/')
		return verr_set(err, 400, "request target must be an absolute path");
	memcpy(req->path, t, plen);
	req->path[plen] = '\0';
	if (plen < len && t[plen] == '?') {
		size_t qlen = strcspn(t + plen + 1, "#");

		if (qlen > len - plen - 1)
			qlen = len - plen - 1;
		memcpy(req->query, t + plen + 1, qlen);
		req->query[qlen] = '\0';
	}
	return 0;
}

static int set_content_length(struct http_request *req, const char *v, struct verr *err)
{
	char *end = NULL;
	long n;

	while (*v == ' ' || *v == '\t')
		v++;
	if (!isdigit((unsigned char)*v))
		return verr_set(err, 400, "bad Content-Length");
	errno = 0;
	n = strtol(v, &end, 10);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno || *end)
		return verr_set(err, 400, "bad Content-Length");
	if (req->content_length >= 0 && req->content_length != n)
		return verr_set(err, 400, "conflicting Content-Length headers");
	if (n > HTTP_MAX_BODY)
		return verr_set(err, 413, "body larger than %d bytes", HTTP_MAX_BODY);
	req->content_length = n;
	return 0;
}

/* Parse the request line and headers (NUL-terminated head, lines end in \r\n or \n). */
static int parse_head(char *head, struct http_request *req, struct verr *err)
{
	char *line, *save = NULL, *sp1, *sp2;
	int ret;

	line = strtok_r(head, "\n", &save);
	if (!line)
		return verr_set(err, 400, "empty request");
	line[strcspn(line, "\r")] = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
		return verr_set(err, 400, "malformed request line");
	if (sp1 - line >= (long)sizeof(req->method) || sp1 == line)
		return verr_set(err, 501, "unknown method");
	for (char *p = line; p < sp1; p++)
		if (!isupper((unsigned char)*p))
			return verr_set(err, 400, "malformed method");
	memcpy(req->method, line, sp1 - line);
	req->method[sp1 - line] = '\0';
	if (strncmp(sp2 + 1, "HTTP/1.", 7) || !isdigit((unsigned char)sp2[8]) || sp2[9])
		return verr_set(err, 505, "only HTTP/1.x is spoken here");
	ret = set_target(req, sp1 + 1, sp2 - sp1 - 1, err);
	if (ret)
		return ret;
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *colon;

		line[strcspn(line, "\r")] = '\0';
		if (!*line)
			break;
		colon = strchr(line, ':');
		if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
			return verr_set(err, 400, "malformed header line");
		*colon = '\0';
		for (char *p = line; *p; p++)
			if (!isgraph((unsigned char)*p))
				return verr_set(err, 400, "malformed header name");
		if (!strcasecmp(line, "Content-Length")) {
			ret = set_content_length(req, colon + 1, err);
			if (ret)
				return ret;
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			return verr_set(err, 411, "chunked bodies are not accepted: send Content-Length");
		}
	}
	return 0;
}

/* The blank line ending the head: "\r\n\r\n" or a bare "\n\n", whichever comes first. */
static char *head_end(char *buf, size_t *skip)
{
	char *crlf = strstr(buf, "\r\n\r\n"), *lf = strstr(buf, "\n\n");

	if (lf && (!crlf || lf < crlf)) {
		*skip = 2;
		return lf;
	}
	*skip = 4;
	return crlf;
}

int http_read_request(int fd, int timeout_ms, struct http_request *req, struct verr *err)
{
	long long deadline = mono_ms() + timeout_ms;
	char *buf = malloc(HTTP_MAX_HEAD + 1), *end = NULL;
	size_t len = 0, skip;
	int ret;

	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	if (!buf)
		return verr_set(err, 503, "out of memory");
	/* Read until the blank line that ends the head, never past the cap. */
	while (!end) {
		ssize_t n;

		if (len == HTTP_MAX_HEAD) {
			ret = verr_set(err, 431, "request head larger than %d bytes", HTTP_MAX_HEAD);
			goto out;
		}
		n = read_some(fd, buf + len, HTTP_MAX_HEAD - len, deadline);
		if (n == -ETIMEDOUT) {
			ret = verr_set(err, 408, "request too slow");
			goto out;
		}
		if (n <= 0) {
			ret = verr_set(err, 400, "connection closed mid-request");
			goto out;
		}
		len += n;
		buf[len] = '\0';
		if (memchr(buf, '\0', len)) {
			ret = verr_set(err, 400, "NUL byte in request head");
			goto out;
		}
		end = head_end(buf, &skip);
	}
	*end = '\0';
	ret = parse_head(buf, req, err);
	if (ret)
		goto out;
	/* Without a Content-Length, bytes after the head are not ours: ignored. */
	if (req->content_length > 0)
		ret = read_body(fd, deadline, req, end + skip, len - (end + skip - buf), err);
out:
	free(buf);
	return ret;
}

int http_read_cgi(int fd, int timeout_ms, struct http_request *req, struct verr *err)
{
	const char *method = getenv("REQUEST_METHOD"), *path = getenv("PATH_INFO");
	const char *uri = getenv("REQUEST_URI"), *clen = getenv("CONTENT_LENGTH");
	const char *remote = getenv("REMOTE_ADDR");
	int ret;

	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	if (!method || !*method || strlen(method) >= sizeof(req->method))
		return verr_set(err, 400, "no REQUEST_METHOD");
	strcpy(req->method, method);
	if (!path || !*path)
		path = uri;
	if (!path)
		return verr_set(err, 400, "no PATH_INFO or REQUEST_URI");
	ret = set_target(req, path, strlen(path), err);
	if (ret)
		return ret;
	if (remote)
		snprintf(req->remote_addr, sizeof(req->remote_addr), "%s", remote);
	if (getenv("QUERY_STRING") && strlen(getenv("QUERY_STRING")) < sizeof(req->query))
		strcpy(req->query, getenv("QUERY_STRING"));
	if (clen && *clen) {
		ret = set_content_length(req, clen, err);
		if (ret)
			return ret;
	}
	if (req->content_length > 0)
		return read_body(fd, mono_ms() + timeout_ms, req, NULL, 0, err);
	return 0;
}

void http_request_free(struct http_request *req)
{
	free(req->body);
	req->body = NULL;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= n;
	}
	return 0;
}

int http_write_response(int fd, int cgi, int status, const char *json)
{
	size_t blen = strlen(json);
	char head[256];
	int hlen, ret;

	hlen = snprintf(head, sizeof(head),
			"%s%d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			"%s\r\n",
			cgi ? "Status: " : "HTTP/1.1 ", status, http_reason(status), blen + 1,
			cgi ? "" : "Connection: close\r\n");
	ret = write_all(fd, head, hlen);
	if (ret == 0)
		ret = write_all(fd, json, blen);
	if (ret == 0)
		ret = write_all(fd, "\n", 1);
	return ret;
}

int http_peer_addr(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], buf, len);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, buf, len);
	} else if (ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, len);
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}
