/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_SERVER_H
#define VISP_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "err.h"
#include "gateway.h"
#include "http.h"

/*
 * The lease endpoint as one socket-activated process (systemd Accept=no):
 * one thread serves every connection of the listening sockets it was given,
 * without blocking on any of them, and returns once it has had none for a
 * while. Requests that arrive together are answered together
 * (gateway_handle_many: their grants share one durable commit).
 */
struct server_opts {
	const int *fds;			/* listening sockets */
	size_t nfds;
	int timeout_ms;			/* a request must be in and answered within this */
	int idle_ms;			/* return after this long without a connection */
	int max_conns;			/* past it, new connections wait in the backlog */
	/* Called for each answer (NULL: none), for the log: status, and why for >= 400. */
	void (*log)(void *arg, const struct http_request *req, int status, const char *why);
	void *log_arg;
};

/* Serve until idle: 0, or -errno (err) when the sockets cannot be used. */
int server_run(struct gateway *gw, const struct server_opts *o, struct verr *err);

/* The first socket systemd passes (sd_listen_fds(3)). */
#define SERVER_LISTEN_FDS_START 3

/*
 * The number of sockets passed by systemd, from $LISTEN_PID and $LISTEN_FDS
 * (either may be NULL): 0 when they are absent or meant for another process
 * (LISTEN_PID is not self), -EINVAL when malformed.
 */
int server_listen_fds(const char *listen_pid, const char *listen_fds, pid_t self);

/* Is fd a listening stream socket (Accept=no), not a connection (Accept=yes)? */
bool server_listening(int fd);

#endif
