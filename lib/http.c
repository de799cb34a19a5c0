// SPDX-License-Identifier: GPL-3.0-or-later
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "http.h"

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

/*
 * The body's buffer, with what came along with the head: -EAGAIN while
 * short of Content-Length, 0 once complete.
 */
static int body_begin(struct http_request *req, const char *have, size_t nhave, struct verr *err)
{
	size_t want = req->content_length;

	/*
	 * Bytes past Content-Length would be a pipelined next request; with
	 * "Connection: close" there is none, so they are not ours. Refusing them
	 * would make the answer depend on how the segments happened to arrive.
	 */
	if (nhave > want)
		nhave = want;
	req->body = malloc(want + 1);
	if (!req->body)
		return verr_set(err, 503, "out of memory");
	if (nhave)
		memcpy(req->body, have, nhave);
	req->body_len = nhave;
	req->body[req->body_len] = '\0';
	return req->body_len < want ? -EAGAIN : 0;
}

/* n more bytes read into the body (0 or less: the peer closed or failed). */
static int body_got(struct http_request *req, ssize_t n, struct verr *err)
{
	if (n <= 0)
		return verr_set(err, 400, "body shorter than Content-Length");
	req->body_len += n;
	req->body[req->body_len] = '\0';
	return req->body_len < (size_t)req->content_length ? -EAGAIN : 0;
}

static int read_body(int fd, long long deadline, struct http_request *req, struct verr *err)
{
	int ret = body_begin(req, NULL, 0, err);

	while (ret == -EAGAIN) {
		ssize_t n = read_some(fd, req->body + req->body_len,
				      req->content_length - req->body_len, deadline);

		ret = n == -ETIMEDOUT ? verr_set(err, 408, "request body too slow")
				      : body_got(req, n, err);
	}
	return ret;
}

/* RFC 9110 tchar: what a method or a header name is made of. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * Methods are case-sensitive tokens. One visp does not know ("post", "FOO")
 * is 501; one it knows reaches the handler, which answers 405 where the
 * resource does not allow it.
 */
static int check_method(struct http_request *req, const char *m, size_t len, struct verr *err)
{
	static const char *const known[] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT",
	};

	if (!is_token(m, len))
		return verr_set(err, 400, "malformed method");
	if (len >= sizeof(req->method))
		return verr_set(err, 501, "unknown method");
	memcpy(req->method, m, len);
	req->method[len] = '\0';
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(req->method, known[i]))
			return 0;
	return verr_set(err, 501, "unknown method");
}

/* "HTTP/" DIGIT "." DIGIT: 1.x is spoken (1.2 as 1.1), other majors get 505. */
static int check_version(const char *v, struct verr *err)
{
	if (strncmp(v, "HTTP/", 5) || !isdigit((unsigned char)v[5]) || v[6] != '.' ||
	    !isdigit((unsigned char)v[7]) || v[8])
		return verr_set(err, 400, "malformed HTTP version");
	if (v[5] != '1')
		return verr_set(err, 505, "only HTTP/1.x is spoken here");
	return 0;
}

/*
 * The origin form "/path?query", or the absolute form "http://host/path?query"
 * that a server must accept too (RFC 9112, 3.2.2; the authority is ignored:
 * the requester is known by its address). Visible ASCII only, no fragment.
 */
static int set_target(struct http_request *req, const char *t, size_t len, struct verr *err)
{
	size_t plen;

	if (len >= HTTP_MAX_TARGET)
		return verr_set(err, 414, "request target too long");
	for (size_t i = 0; i < len; i++)
		if (t[i] <= ' ' || t[i] >= 0x7f || t[i] == '#')
			return verr_set(err, 400, "bad character in request target");
	if (len > 7 && !strncasecmp(t, "http://", 7)) {
		size_t alen = strcspn(t + 7, "/?");

		if (alen == 0)
			return verr_set(err, 400, "absolute request target without a host");
		if (alen > len - 7)
			alen = len - 7;
		t += 7 + alen;
		len -= 7 + alen;
		strcpy(req->path, "/");		/* an empty path is "/" */
	} else if (!len || t[0] != '/') {
		return verr_set(err, 400, "request target must be an absolute path");
	}
	plen = strcspn(t, "?");
	if (plen > len)
		plen = len;
	if (plen) {
		memcpy(req->path, t, plen);
		req->path[plen] = '\0';
	}
	if (plen < len) {
		memcpy(req->query, t + plen + 1, len - plen - 1);
		req->query[len - plen - 1] = '\0';
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

/* A header value: visible characters, obs-text, spaces and tabs; no other control. */
static bool good_value(const char *v)
{
	for (; *v; v++)
		if (((unsigned char)*v < ' ' && *v != '\t') || *v == 0x7f)
			return false;
	return true;
}

/* Parse the request line and headers (NUL-terminated head, lines end in \r\n or \n). */
static int parse_head(char *head, struct http_request *req, struct verr *err)
{
	char *line, *save = NULL, *sp1, *sp2;
	bool chunked = false;
	int ret;

	line = strtok_r(head, "\n", &save);
	if (!line)
		return verr_set(err, 400, "empty request");
	line[strcspn(line, "\r")] = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
		return verr_set(err, 400, "malformed request line");
	/* The version first: in another version even the method may mean something else. */
	ret = check_version(sp2 + 1, err);
	if (ret == 0)
		ret = check_method(req, line, sp1 - line, err);
	if (ret)
		return ret;
	if (!strcmp(req->method, "CONNECT"))
		return verr_set(err, 501, "CONNECT: this is no proxy");
	if (sp2 - sp1 == 2 && sp1[1] == '*')
		return strcmp(req->method, "OPTIONS")
		       ? verr_set(err, 400, "request target must be an absolute path")
		       : verr_set(err, 501, "OPTIONS * is not implemented");
	ret = set_target(req, sp1 + 1, sp2 - sp1 - 1, err);
	if (ret)
		return ret;
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *colon;

		line[strcspn(line, "\r")] = '\0';
		if (!*line)
			break;
		colon = strchr(line, ':');
		/* Also refuses obs-fold and "Name : value" (RFC 9112, 5.1 and 5.2). */
		if (!colon || !is_token(line, colon - line))
			return verr_set(err, 400, "malformed header line");
		*colon = '\0';
		if (!good_value(colon + 1))
			return verr_set(err, 400, "control character in header '%.32s'", line);
		if (!strcasecmp(line, "Content-Length")) {
			ret = set_content_length(req, colon + 1, err);
			if (ret)
				return ret;
		} else if (!strcasecmp(line, "Transfer-Encoding")) {
			chunked = true;
		}
	}
	/* Two framings at once is how requests are smuggled past a proxy. */
	if (chunked && req->content_length >= 0)
		return verr_set(err, 400, "both Transfer-Encoding and Content-Length");
	if (chunked)
		return verr_set(err, 411, "chunked bodies are not accepted: send Content-Length");
	return 0;
}

/*
 * A CR is only ever part of a line end. One alone ends a line for some
 * readers and not for others, so it must not be read as either (RFC 9112,
 * 2.2): it is refused.
 */
static bool bare_cr(const char *p, size_t len)
{
	const char *end = p + len;

	for (const char *cr = memchr(p, '\r', len); cr; cr = memchr(cr + 1, '\r', end - cr - 1))
		if (cr + 1 == end || cr[1] != '\n')
			return true;
	return false;
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

int http_reader_start(struct http_reader *r, struct http_request *req, struct verr *err)
{
	memset(r, 0, sizeof(*r));
	memset(req, 0, sizeof(*req));
	req->content_length = -1;
	r->req = req;
	r->buf = malloc(HTTP_MAX_HEAD + 1);
	if (!r->buf)
		return verr_set(err, 503, "out of memory");
	r->buf[0] = '\0';
	return 0;
}

char *http_reader_space(struct http_reader *r, size_t *cap)
{
	struct http_request *req = r->req;

	if (r->in_body) {
		*cap = req->content_length - req->body_len;
		return req->body + req->body_len;
	}
	*cap = HTTP_MAX_HEAD - r->len;
	return r->buf + r->len;
}

/* The head is complete up to end (skip: the blank line's length): parse it, start the body. */
static int head_done(struct http_reader *r, char *end, size_t skip, struct verr *err)
{
	struct http_request *req = r->req;
	int ret;

	if (bare_cr(r->buf, end - r->buf + skip))
		return verr_set(err, 400, "CR without LF in request head");
	*end = '\0';
	ret = parse_head(r->buf, req, err);
	/* Without a Content-Length, bytes after the head are not ours: ignored. */
	if (ret || req->content_length <= 0)
		return ret;
	r->in_body = true;
	return body_begin(req, end + skip, r->len - (end + skip - r->buf), err);
}

int http_reader_got(struct http_reader *r, ssize_t n, struct verr *err)
{
	char *end;
	size_t skip;

	if (r->in_body)
		return body_got(r->req, n, err);
	if (n <= 0)
		return verr_set(err, 400, "connection closed mid-request");
	r->len += n;
	r->buf[r->len] = '\0';
	if (memchr(r->buf, '\0', r->len))
		return verr_set(err, 400, "NUL byte in request head");
	end = head_end(r->buf, &skip);
	if (end)
		return head_done(r, end, skip, err);
	/* Read until the blank line that ends the head, never past the cap. */
	if (r->len < HTTP_MAX_HEAD)
		return -EAGAIN;
	/* Not even the request line fits: that is the target's fault. */
	if (!memchr(r->buf, '\n', r->len))
		return verr_set(err, 414, "request line longer than %d bytes", HTTP_MAX_HEAD);
	return verr_set(err, 431, "request head larger than %d bytes", HTTP_MAX_HEAD);
}

int http_reader_timeout(struct http_reader *r, struct verr *err)
{
	return verr_set(err, 408, r->in_body ? "request body too slow" : "request too slow");
}

void http_reader_free(struct http_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

int http_read_request(int fd, int timeout_ms, struct http_request *req, struct verr *err)
{
	long long deadline = mono_ms() + timeout_ms;
	struct http_reader r;
	int ret = http_reader_start(&r, req, err);

	if (ret == 0)
		ret = -EAGAIN;
	while (ret == -EAGAIN) {
		size_t cap;
		char *p = http_reader_space(&r, &cap);
		ssize_t n = read_some(fd, p, cap, deadline);

		ret = n == -ETIMEDOUT ? http_reader_timeout(&r, err) : http_reader_got(&r, n, err);
	}
	http_reader_free(&r);
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
	if (!method || !*method)
		return verr_set(err, 400, "no REQUEST_METHOD");
	ret = check_method(req, method, strlen(method), err);
	if (ret)
		return ret;
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
		return read_body(fd, mono_ms() + timeout_ms, req, err);
	return 0;
}

void http_request_free(struct http_request *req)
{
	free(req->body);
	req->body = NULL;
}

static const char *http_reason(int status)
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

int http_format_response(int cgi, int status, const char *allow, const char *json, char **out,
			 size_t *len)
{
	size_t blen = strlen(json);
	char head[320], *p;
	int hlen;

	/* A 405 must say what is allowed (RFC 9110, 15.5.6). */
	hlen = snprintf(head, sizeof(head),
			"%s%d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
			"%s%s%s%s\r\n",
			cgi ? "Status: " : "HTTP/1.1 ", status, http_reason(status), blen + 1,
			allow ? "Allow: " : "", allow ? allow : "", allow ? "\r\n" : "",
			cgi ? "" : "Connection: close\r\n");
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return -EINVAL;
	p = malloc(hlen + blen + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, head, hlen);
	memcpy(p + hlen, json, blen);
	p[hlen + blen] = '\n';
	*out = p;
	*len = hlen + blen + 1;
	return 0;
}

int http_write_response(int fd, int cgi, int status, const char *allow, const char *json)
{
	char *text = NULL;
	size_t len = 0;
	int ret = http_format_response(cgi, status, allow, json, &text, &len);

	if (ret == 0)
		ret = write_all(fd, text, len);
	free(text);
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
