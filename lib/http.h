/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_HTTP_H
#define VISP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/*
 * The server half of the lease protocol's HTTP: read one request with hard
 * caps and a deadline, write one JSON response. Every cap is small: the
 * protocol needs a few hundred bytes, and the endpoint listens on a mesh.
 */
#define HTTP_MAX_HEAD 8192	/* request line + headers */
#define HTTP_MAX_TARGET 256
#define HTTP_MAX_BODY 4096

struct http_request {
	char method[8];
	char path[HTTP_MAX_TARGET];	/* without the query string */
	char query[HTTP_MAX_TARGET];	/* after '?', "" when none */
	long content_length;		/* -1 when absent */
	char *body;			/* NUL-terminated, body_len bytes */
	size_t body_len;
	char remote_addr[64];		/* the peer's address, as text */
};

/*
 * Read one request from fd within timeout_ms (a silent or slow client is cut
 * off). Returns 0, or the HTTP status to answer with (400, 408, 411, 413,
 * 414, 431, 501, 505) and a reason in err. The method of a 0 return is one
 * of RFC 9110's (and PATCH), but not CONNECT; the path starts with '/'.
 */
int http_read_request(int fd, int timeout_ms, struct http_request *req, struct verr *err);

/*
 * The same reading a piece at a time, for a server that waits on many
 * connections at once (http_read_request goes through it too). After
 * http_reader_start, read at most *cap bytes into http_reader_space and
 * hand the count to http_reader_got (0 or less: end of file or an error):
 * -EAGAIN while the request is incomplete, else as http_read_request.
 * http_reader_timeout gives the 408 for a deadline the caller keeps.
 */
struct http_reader {
	struct http_request *req;
	char *buf;		/* the head so far, HTTP_MAX_HEAD + 1 */
	size_t len;
	bool in_body;
};

int http_reader_start(struct http_reader *r, struct http_request *req, struct verr *err);
char *http_reader_space(struct http_reader *r, size_t *cap);
int http_reader_got(struct http_reader *r, ssize_t n, struct verr *err);
int http_reader_timeout(struct http_reader *r, struct verr *err);
void http_reader_free(struct http_reader *r);

/*
 * CGI: the request from the environment (REQUEST_METHOD, PATH_INFO or
 * REQUEST_URI, CONTENT_LENGTH, REMOTE_ADDR) and the body from fd.
 */
int http_read_cgi(int fd, int timeout_ms, struct http_request *req, struct verr *err);

void http_request_free(struct http_request *req);

/*
 * Write a complete response with a JSON body; cgi selects "Status:" framing,
 * allow (NULL: none) is the Allow header a 405 needs.
 */
int http_write_response(int fd, int cgi, int status, const char *allow, const char *json);
/* The same response in a buffer (*out, malloc'd, *len bytes): for a non-blocking writer. */
int http_format_response(int cgi, int status, const char *allow, const char *json, char **out,
			 size_t *len);

/* The peer of a connected socket, as text (IPv4-mapped IPv6 unwrapped). */
int http_peer_addr(int fd, char *buf, size_t len);

#endif
