// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * ICMP echo through the tun. A raw socket when we may (root: the common
 * case for visp client), else the kernel's unprivileged ping socket
 * (net.ipv4.ping_group_range), so that `visp client check` can also run
 * from a monitoring account. Replies are matched by a random cookie in the
 * payload, because a raw ICMP socket sees every ICMP packet of the host and
 * a ping socket rewrites the identifier.
 */
#include <errno.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"
#include "probe.h"

#define COOKIE_LEN 16
#define PKT_MAX 1500

struct prober {
	int fd;
	bool raw;
	int family;
	uint16_t id;
	uint8_t cookie[COOKIE_LEN];
	struct sockaddr_storage dst;
	socklen_t dlen;
};

static uint16_t checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int open_socket(struct prober *p, const char *ifname, struct verr *err)
{
	int proto = p->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;

	p->raw = true;
	p->fd = socket(p->family, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (p->fd < 0 && (errno == EPERM || errno == EACCES)) {
		p->raw = false;
		p->fd = socket(p->family, SOCK_DGRAM | SOCK_CLOEXEC, proto);
	}
	if (p->fd < 0)
		return verr_set(err, errno == EACCES ? -EPERM : -errno,
				"cannot open an ICMP socket: %s (needs root or ping_group_range)",
				strerror(errno));
	/*
	 * Bound to the tun, a reply can only mean the tunnel works. An
	 * unprivileged ping socket may not bind; it still follows the routes,
	 * which send the gateway's address into the tun.
	 */
	if (ifname && setsockopt(p->fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
				 strlen(ifname) + 1) < 0 && (p->raw || errno != EPERM))
		return verr_set(err, -errno, "cannot bind the probe to '%s': %s", ifname,
				strerror(errno));
	if (p->family == AF_INET6 && p->raw) {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		setsockopt(p->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
	return 0;
}

static void set_dst(struct prober *p, const struct cidr *target)
{
	memset(&p->dst, 0, sizeof(p->dst));
	if (p->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&p->dst;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, target->addr, 4);
		p->dlen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&p->dst;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, target->addr, 16);
		p->dlen = sizeof(*s);
	}
}

static int send_echo(struct prober *p, uint16_t seq, struct verr *err)
{
	uint8_t pkt[8 + COOKIE_LEN] = { 0 };
	uint16_t sum;

	pkt[0] = p->family == AF_INET ? 8 : ICMP6_ECHO_REQUEST;
	pkt[4] = p->id >> 8;
	pkt[5] = p->id & 0xff;
	pkt[6] = seq >> 8;
	pkt[7] = seq & 0xff;
	memcpy(pkt + 8, p->cookie, COOKIE_LEN);
	/* The kernel sums ICMPv6 and ping sockets itself; raw ICMPv4 is ours. */
	if (p->family == AF_INET && p->raw) {
		sum = checksum(pkt, sizeof(pkt));
		pkt[2] = sum >> 8;
		pkt[3] = sum & 0xff;
	}
	if (sendto(p->fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&p->dst, p->dlen) < 0) {
		/* No route or a downed tun: worth a retry, not an abort. */
		if (errno == ENETUNREACH || errno == EHOSTUNREACH || errno == ENOBUFS)
			return 0;
		return verr_set(err, -errno, "cannot send the probe: %s", strerror(errno));
	}
	return 0;
}

static bool same_source(const struct prober *p, const struct sockaddr_storage *from)
{
	if (p->family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)from)->sin_addr,
			       &((const struct sockaddr_in *)&p->dst)->sin_addr, 4);
	return !memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr,
		       &((const struct sockaddr_in6 *)&p->dst)->sin6_addr, 16);
}

/* Is buf[0..len) the reply to one of our requests? */
static bool is_reply(const struct prober *p, const uint8_t *buf, size_t len,
		     const struct sockaddr_storage *from)
{
	size_t off = 0;

	/* Raw IPv4 sockets hand over the IP header too. */
	if (p->family == AF_INET && p->raw) {
		if (len < 20)
			return false;
		off = (buf[0] & 0x0f) * 4;
	}
	if (len < off + 8 + COOKIE_LEN || !same_source(p, from))
		return false;
	buf += off;
	if (buf[0] != (p->family == AF_INET ? 0 : ICMP6_ECHO_REPLY) || buf[1] != 0)
		return false;
	if (p->raw && (buf[4] != p->id >> 8 || buf[5] != (p->id & 0xff)))
		return false;
	return !memcmp(buf + 8, p->cookie, COOKIE_LEN);
}

/* Wait until deadline for a reply: 1 got one, 0 not yet, <0 error. */
static int wait_reply(struct prober *p, long long until, struct verr *err)
{
	uint8_t buf[PKT_MAX];
	struct sockaddr_storage from;
	socklen_t flen;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
	long long left;
	ssize_t n;

	while ((left = until - mono_ms()) > 0) {
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return verr_set(err, -errno, "poll: %s", strerror(errno));
		}
		if (!(pfd.revents & POLLIN))
			continue;
		flen = sizeof(from);
		n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
		if (n < 0)
			continue;	/* ICMP errors queued on the socket: keep waiting */
		if (is_reply(p, buf, (size_t)n, &from))
			return 1;
	}
	return 0;
}

int probe_icmp(const char *ifname, const struct cidr *target, int timeout_ms, int tries,
	       struct verr *err)
{
	struct prober p = { .fd = -1, .family = target->family };
	char buf[CIDR_STRLEN];
	long long deadline, interval;
	int ret;

	if (timeout_ms <= 0)
		timeout_ms = PROBE_DEFAULT_TIMEOUT_MS;
	if (tries <= 0)
		tries = PROBE_DEFAULT_TRIES;
	ret = open_socket(&p, ifname, err);
	if (ret < 0)
		goto out;
	if (getrandom(p.cookie, sizeof(p.cookie), 0) != sizeof(p.cookie))
		memset(p.cookie, 0x5a, sizeof(p.cookie));
	p.id = (uint16_t)(getpid() ^ (p.cookie[0] << 8 | p.cookie[1]));
	set_dst(&p, target);
	deadline = mono_ms() + timeout_ms;
	interval = timeout_ms / tries;
	ret = 0;
	for (int i = 0; ret == 0 && i < tries; i++) {
		long long until = i == tries - 1 ? deadline : mono_ms() + interval;

		ret = send_echo(&p, (uint16_t)i, err);
		if (ret == 0)
			ret = wait_reply(&p, until < deadline ? until : deadline, err);
	}
	if (ret == 1)
		ret = 0;
	else if (ret == 0)
		ret = verr_set(err, -ETIMEDOUT, "no echo reply from %s%s%s within %d ms",
			       cidr_format(target, false, buf, sizeof(buf)),
			       ifname ? " through " : "", ifname ? ifname : "", timeout_ms);
out:
	if (p.fd >= 0)
		close(p.fd);
	return ret;
}
