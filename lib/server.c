// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The socket-activated lease endpoint (server.h). Every connection has a
 * slot of bounded size (the request reader's buffers, capped by http.h, and
 * one response), there are at most max_conns of them, and each has a
 * deadline: a client that trickles its request, or reads its answer slowly,
 * gets a 408 or is dropped when its time is up and holds nobody else up,
 * as nothing here ever waits on one connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "server.h"

enum conn_state {
	READING,	/* the request is coming in */
	READY,		/* complete: to be handled with the others that are */
	WRITING,	/* the response is going out */
};

struct conn {
	int fd;			/* -1: a free slot */
	enum conn_state state;
	long long deadline;	/* CLOCK_MONOTONIC ms */
	int pi;			/* its entry in the poll set, -1: none */
	struct http_reader rd;
	struct http_request req;
	char *out;		/* the response */
	size_t outlen, outoff;
};

int server_listen_fds(const char *listen_pid, const char *listen_fds, pid_t self)
{
	char *end = NULL;
	long long pid, n;

	if (!listen_pid || !listen_fds)
		return 0;
	errno = 0;
	pid = strtoll(listen_pid, &end, 10);
	if (errno || end == listen_pid || *end || pid <= 0)
		return -EINVAL;
	if (pid != self)
		return 0;	/* inherited from a parent it was meant for */
	errno = 0;
	n = strtoll(listen_fds, &end, 10);
	if (errno || end == listen_fds || *end || n < 0 || n > INT_MAX - SERVER_LISTEN_FDS_START)
		return -EINVAL;
	return (int)n;
}

bool server_listening(int fd)
{
	int on = 0, type = 0;
	socklen_t len = sizeof(on), tlen = sizeof(type);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on &&
	       getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM;
}

static void conn_close(struct conn *c, size_t *nconns)
{
	http_reader_free(&c->rd);
	http_request_free(&c->req);
	free(c->out);
	close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	(*nconns)--;
}

/* Queue the response; a connection that cannot have one is closed. */
static void conn_respond(struct conn *c, int status, const char *json, const char *why,
			 const struct server_opts *o, size_t *nconns)
{
	const char *allow = status == 405 ? gateway_allow(c->req.path) : NULL;

	if (o->log)
		o->log(o->log_arg, &c->req, status, why);
	c->state = WRITING;
	c->deadline = mono_ms() + o->timeout_ms;
	if (http_format_response(0, status, allow, json ? json : "{}", &c->out, &c->outlen) < 0)
		conn_close(c, nconns);
}

/* An answer the gateway is not asked for: the request could not be read. */
static void conn_refuse(struct conn *c, int status, const struct verr *err,
			const struct server_opts *o, size_t *nconns)
{
	char *json = proto_error_json(err->msg);

	conn_respond(c, status, json, err->msg, o, nconns);
	free(json);
}

static void conn_write(struct conn *c, size_t *nconns)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			break;	/* the peer is gone: nothing more to do for it */
		c->outoff += n;
	}
	conn_close(c, nconns);
}

/* Take what the peer has sent, up to the end of its request. */
static void conn_read(struct conn *c, const struct server_opts *o, size_t *nconns)
{
	struct verr err = { 0 };
	int ret = -EAGAIN;

	while (ret == -EAGAIN) {
		size_t cap;
		char *p = http_reader_space(&c->rd, &cap);
		ssize_t n = recv(c->fd, p, cap, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		ret = http_reader_got(&c->rd, n, &err);
	}
	if (ret == 0)
		c->state = READY;
	else
		conn_refuse(c, ret, &err, o, nconns);
}

static void conn_accept(struct conn *c, int fd, const struct server_opts *o, size_t *nconns)
{
	struct verr err = { 0 };
	int ret;

	c->fd = fd;
	c->pi = -1;
	c->state = READING;
	c->deadline = mono_ms() + o->timeout_ms;
	(*nconns)++;
	ret = http_reader_start(&c->rd, &c->req, &err);
	/* Its own peer: the identity every request is checked against. */
	if (ret == 0 && http_peer_addr(fd, c->req.remote_addr, sizeof(c->req.remote_addr)) < 0)
		ret = verr_set(&err, 500, "the connection has no peer address");
	if (ret)
		conn_refuse(c, ret, &err, o, nconns);
	else
		conn_read(c, o, nconns);	/* often the request is there already */
}

/* Accept from one listener while there is room. */
static void accept_some(int lfd, struct conn *conns, const struct server_opts *o,
			size_t *nconns)
{
	size_t slot = 0;

	while (*nconns < (size_t)o->max_conns) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			return;	/* EAGAIN: none left; EMFILE and the like: later */
		while (conns[slot].fd >= 0)
			slot++;
		conn_accept(&conns[slot], fd, o, nconns);
	}
}

/*
 * Every complete request at once: the grants among them share one durable
 * commit. Each peer is known by its own address, as in the one-request
 * mode; none of them is answered before the whole group is on disk.
 */
static void handle_ready(struct gateway *gw, struct conn *conns, struct gateway_job *jobs,
			 size_t *who, const struct server_opts *o, size_t *nconns)
{
	size_t n = 0;

	for (int i = 0; i < o->max_conns; i++) {
		struct conn *c = &conns[i];

		if (c->fd < 0 || c->state != READY)
			continue;
		jobs[n] = (struct gateway_job){ .req = &c->req };
		who[n++] = i;
	}
	if (!n)
		return;
	gateway_handle_many(gw, jobs, n);
	for (size_t k = 0; k < n; k++) {
		struct conn *c = &conns[who[k]];

		conn_respond(c, jobs[k].status, jobs[k].json,
			     jobs[k].status >= 400 ? jobs[k].err.msg : NULL, o, nconns);
		free(jobs[k].json);
		if (c->fd >= 0)
			conn_write(c, nconns);
	}
}

/* The poll set: listeners while there is room, then each connection; the next deadline. */
static size_t poll_set(struct pollfd *pfd, struct conn *conns, const struct server_opts *o,
		       size_t nconns, long long *wake)
{
	size_t np = 0;

	for (size_t i = 0; i < o->nfds; i++)
		pfd[np++] = (struct pollfd){ .fd = o->fds[i],
					     .events = nconns < (size_t)o->max_conns ? POLLIN : 0 };
	for (int i = 0; i < o->max_conns; i++) {
		struct conn *c = &conns[i];

		c->pi = -1;
		if (c->fd < 0)
			continue;
		c->pi = (int)np;
		pfd[np++] = (struct pollfd){ .fd = c->fd,
					     .events = c->state == WRITING ? POLLOUT : POLLIN };
		if (c->deadline < *wake)
			*wake = c->deadline;
	}
	return np;
}

/* Connections whose poll entry fired, then those whose time is up. */
static void serve_conns(struct conn *conns, const struct pollfd *pfd,
			const struct server_opts *o, size_t *nconns)
{
	long long now = mono_ms();

	for (int i = 0; i < o->max_conns; i++) {
		struct conn *c = &conns[i];
		struct verr err = { 0 };

		if (c->fd < 0)
			continue;
		if (c->pi >= 0 && pfd[c->pi].revents) {
			if (c->state == READING)
				conn_read(c, o, nconns);
			else if (c->state == WRITING)
				conn_write(c, nconns);
		}
		if (c->fd < 0 || c->deadline > now)
			continue;
		if (c->state == READING)
			conn_refuse(c, http_reader_timeout(&c->rd, &err), &err, o, nconns);
		else if (c->state == WRITING)
			conn_close(c, nconns);	/* it does not read its answer */
		if (c->fd >= 0 && c->state == WRITING)
			conn_write(c, nconns);
	}
}

int server_run(struct gateway *gw, const struct server_opts *o, struct verr *err)
{
	size_t nconns = 0, max = o->max_conns > 0 ? (size_t)o->max_conns : 0;
	struct conn *conns = calloc(max, sizeof(*conns));
	struct pollfd *pfd = calloc(o->nfds + max, sizeof(*pfd));
	struct gateway_job *jobs = calloc(max, sizeof(*jobs));
	size_t *who = calloc(max, sizeof(*who));
	long long idle_until = mono_ms() + o->idle_ms;
	int ret = -ENOMEM;

	if (!max || !o->nfds) {
		ret = verr_set(err, -EINVAL, "no socket to serve, or no connection allowed");
		goto out;
	}
	if (!conns || !pfd || !jobs || !who) {
		verr_set(err, ret, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < max; i++)
		conns[i].fd = -1;
	for (size_t i = 0; i < o->nfds; i++) {
		int fl = fcntl(o->fds[i], F_GETFL);

		if (fl < 0 || fcntl(o->fds[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
		    fcntl(o->fds[i], F_SETFD, FD_CLOEXEC) < 0) {
			ret = verr_set(err, -errno, "socket %d: %s", o->fds[i], strerror(errno));
			goto out;
		}
	}
	for (;;) {
		long long now = mono_ms(), wake = nconns ? LLONG_MAX : idle_until;
		size_t np, had = nconns;
		int r;

		if (!nconns && now >= idle_until)
			break;
		np = poll_set(pfd, conns, o, nconns, &wake);
		r = poll(pfd, np, wake == LLONG_MAX ? -1 : wake > now ? (int)(wake - now) : 0);
		if (r < 0 && errno != EINTR) {
			ret = verr_set(err, -errno, "poll: %s", strerror(errno));
			goto out;
		}
		if (r < 0)
			continue;
		serve_conns(conns, pfd, o, &nconns);
		for (size_t i = 0; i < o->nfds; i++) {
			/* Else poll would keep returning at once for it. */
			if (pfd[i].revents & (POLLERR | POLLNVAL)) {
				ret = verr_set(err, -EBADF, "listening socket %d failed", o->fds[i]);
				goto out;
			}
			if (pfd[i].revents & POLLIN)
				accept_some(o->fds[i], conns, o, &nconns);
		}
		handle_ready(gw, conns, jobs, who, o, &nconns);
		/* Idle from when the last connection closed, not from its last byte. */
		if (nconns || had)
			idle_until = mono_ms() + o->idle_ms;
	}
	ret = 0;
out:
	for (size_t i = 0; conns && i < max; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i], &nconns);
	free(conns);
	free(pfd);
	free(jobs);
	free(who);
	return ret;
}
