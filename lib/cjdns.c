// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The cjdns admin client. One UDP socket per handle; every request carries a
 * unique txid so that late replies to earlier tries are recognised and
 * dropped. cjdns answers nothing at all to requests it cannot parse, so
 * every wait has a deadline and lost requests are sent again.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cjdns.h"
#include "fileutil.h"
#include "key.h"
#include "sha2.h"

/* A reply is at most 64 KiB (cjdns aborts rather than send more). */
#define REPLY_MAX 65536
/* cjdns accepts a cookie for about 20 s; take a fresh one well before that. */
#define COOKIE_MAX_AGE_MS 10000
#define MAX_PAGES 100000
/* Pages fetched together once the first says how many there are. */
#define PAGE_WINDOW 16

struct cjdns {
	int fd;
	char *password;
	char where[300];		/* "127.0.0.1:11234", for messages */
	char cookie[32];
	int64_t cookie_at;		/* monotonic ms; 0 = none yet */
	int timeout_ms, tries;
	int cookie_max_age_ms;
	char txid_prefix[9];
	uint64_t txid_next;
	char *rbuf;
	struct bulk *bulk;		/* the bulk call under way, if any */
};

static void bulk_take(struct cjdns *cj, struct bulk *b, struct bval *reply);

/*
 * The txid prefix of a run where getrandom has nothing yet (early boot) or
 * does not exist: the pid and the clock differ from one run to the next too.
 */
static void weak_random(unsigned char rnd[4])
{
	struct timespec ts;
	uint32_t v;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	v = (uint32_t)getpid() * 2654435761u ^ (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
	memcpy(rnd, &v, sizeof(v));
}

int cjdns_open(struct cjdns **out, const char *host, int port, const char *password,
	       struct verr *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL, *ai;
	struct cjdns *cj = NULL;
	unsigned char rnd[4];
	char portstr[8];
	int ret, gai;

	cj = calloc(1, sizeof(*cj));
	if (!cj || !(cj->rbuf = malloc(REPLY_MAX + 1))) {
		ret = -ENOMEM;
		goto out;
	}
	cj->fd = -1;
	cj->timeout_ms = CJDNS_DEFAULT_TIMEOUT_MS;
	cj->tries = CJDNS_DEFAULT_TRIES;
	cj->cookie_max_age_ms = COOKIE_MAX_AGE_MS;
	snprintf(cj->where, sizeof(cj->where), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
		 port);
	if (password && !(cj->password = strdup(password))) {
		ret = -ENOMEM;
		goto out;
	}
	/* A prefix that other runs are unlikely to share: not a secret. */
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		weak_random(rnd);
	hex_lower(cj->txid_prefix, rnd, sizeof(rnd));
	snprintf(portstr, sizeof(portstr), "%d", port);
	gai = getaddrinfo(host, portstr, &hints, &res);
	if (gai) {
		ret = verr_set(err, -EINVAL, "cjdns admin address %s: %s", cj->where,
			       gai_strerror(gai));
		goto out;
	}
	ret = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		cj->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (cj->fd < 0)
			continue;
		/* connect() so that an ICMP port unreachable shows up as ECONNREFUSED. */
		if (connect(cj->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			ret = 0;
			break;
		}
		ret = -errno;
		close(cj->fd);
		cj->fd = -1;
	}
	if (ret < 0) {
		verr_set(err, ret, "cannot reach cjdns admin at %s: %s", cj->where, strerror(-ret));
		goto out;
	}
	*out = cj;
	cj = NULL;
out:
	if (res)
		freeaddrinfo(res);
	cjdns_close(cj);
	return ret;
}

void cjdns_close(struct cjdns *cj)
{
	if (!cj)
		return;
	if (cj->fd >= 0)
		close(cj->fd);
	if (cj->password) {
		explicit_bzero(cj->password, strlen(cj->password));
		free(cj->password);
	}
	free(cj->rbuf);
	free(cj);
}

void cjdns_set_timeout(struct cjdns *cj, int timeout_ms, int tries)
{
	cj->timeout_ms = timeout_ms > 0 ? timeout_ms : CJDNS_DEFAULT_TIMEOUT_MS;
	cj->tries = tries > 0 ? tries : 1;
}

void cjdns_set_cookie_max_age(struct cjdns *cj, int ms)
{
	cj->cookie_max_age_ms = ms > 0 ? ms : COOKIE_MAX_AGE_MS;
}

static void next_txid(struct cjdns *cj, char *txid, size_t len)
{
	snprintf(txid, len, "%s%llu", cj->txid_prefix, (unsigned long long)cj->txid_next++);
}

/* Append "<len>:<bytes>" to buf at *at; false when it does not fit. */
static bool put_str(char *buf, size_t cap, size_t *at, const char *s, size_t len)
{
	int n = snprintf(buf + *at, cap - *at, "%zu:", len);

	if (n < 0 || (size_t)n + len >= cap - *at)
		return false;
	memcpy(buf + *at + n, s, len);
	*at += n + len;
	return true;
}

static bool put_raw(char *buf, size_t cap, size_t *at, const char *s, size_t len)
{
	if (len >= cap - *at)
		return false;
	memcpy(buf + *at, s, len);
	*at += len;
	return true;
}

#define PUT_KEY(k) put_str(buf, sizeof(buf), &at, k, sizeof(k) - 1)

int cjdns_encode_request(const char *password, const char *cookie, const char *fn,
			 const struct bval *args, const char *txid, char **out, size_t *outlen,
			 struct verr *err)
{
	uint8_t digest[SHA256_BYTES];
	char buf[CJDNS_MAX_REQUEST + 1], h[2 * SHA256_BYTES + 1];
	char *enc = NULL;
	size_t elen = 0, at = 0, hash_at = 0;
	bool fits;
	int ret;

	ret = args ? bencode_encode(args, &enc, &elen) : 0;
	if (ret < 0)
		goto out;
	/* The dict's keys, written in sorted order: aq args cookie hash q txid. */
	fits = put_raw(buf, sizeof(buf), &at, "d", 1);
	if (password)
		fits = fits && PUT_KEY("aq") && put_str(buf, sizeof(buf), &at, fn, strlen(fn));
	fits = fits && PUT_KEY("args") &&
	       put_raw(buf, sizeof(buf), &at, enc ? enc : "de", enc ? elen : 2);
	if (password) {
		struct sha256 st;

		/* H0 = hex sha256(password || cookie), the placeholder the hash is taken over. */
		sha256_init(&st);
		sha256_update(&st, password, strlen(password));
		sha256_update(&st, cookie, strlen(cookie));
		sha256_final(&st, digest);
		hex_lower(h, digest, sizeof(digest));
		fits = fits && PUT_KEY("cookie") &&
		       put_str(buf, sizeof(buf), &at, cookie, strlen(cookie)) && PUT_KEY("hash") &&
		       put_str(buf, sizeof(buf), &at, h, 64);
		hash_at = at - 64;
		fits = fits && PUT_KEY("q") && PUT_KEY("auth");
	} else {
		fits = fits && PUT_KEY("q") && put_str(buf, sizeof(buf), &at, fn, strlen(fn));
	}
	fits = fits && PUT_KEY("txid") && put_str(buf, sizeof(buf), &at, txid, strlen(txid)) &&
	       put_raw(buf, sizeof(buf), &at, "e", 1);
	if (!fits) {
		ret = verr_set(err, -EMSGSIZE, "%s: the request is over cjdns's %d-byte limit", fn,
			       CJDNS_MAX_REQUEST);
		goto out;
	}
	if (password) {
		/* H = hex sha256(the request with H0 in it), written over H0. */
		sha256(buf, at, digest);
		hex_lower(h, digest, sizeof(digest));
		memcpy(buf + hash_at, h, 64);
	}
	*out = malloc(at + 1);
	if (!*out) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(*out, buf, at);
	(*out)[at] = '\0';
	*outlen = at;
	ret = 0;
out:
	explicit_bzero(digest, sizeof(digest));
	explicit_bzero(h, sizeof(h));
	explicit_bzero(buf, sizeof(buf));
	free(enc);
	return ret;
}

static int build_request(struct cjdns *cj, const char *fn, const struct bval *args,
			 const char *txid, char **out, size_t *outlen, struct verr *err)
{
	return cjdns_encode_request(cj->password, cj->cookie, fn, args, txid, out, outlen, err);
}

/*
 * Receive one datagram (waiting at most wait_ms) and decode it. Returns 0
 * with *reply set, -EAGAIN on timeout, -EBADMSG on an undecodable datagram
 * (skipped by callers: a garbage packet must not end a call).
 */
static int recv_reply(struct cjdns *cj, int wait_ms, struct bval **reply)
{
	struct pollfd pfd = { .fd = cj->fd, .events = POLLIN };
	ssize_t n;
	int r;

	r = poll(&pfd, 1, wait_ms < 0 ? 0 : wait_ms);
	if (r < 0)
		return errno == EINTR ? -EAGAIN : -errno;
	if (r == 0)
		return -EAGAIN;
	n = recv(cj->fd, cj->rbuf, REPLY_MAX + 1, MSG_TRUNC | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : -errno;
	if (n > REPLY_MAX)
		return -EBADMSG;
	if (bencode_decode(cj->rbuf, n, reply, NULL) < 0)
		return -EBADMSG;
	if ((*reply)->type != BVAL_DICT) {
		bval_free(*reply);
		*reply = NULL;
		return -EBADMSG;
	}
	return 0;
}

static bool txid_is(const struct bval *reply, const char *txid)
{
	const struct bval *t = bval_dict_get(reply, "txid");

	return t && t->type == BVAL_STR && t->len == strlen(txid) && !memcmp(t->s, txid, t->len);
}

/* Map a reply's "error" field to a return code and message. */
static int reply_status(const char *fn, const struct bval *reply, char *error, size_t elen,
			struct verr *err)
{
	const char *e = bval_dict_str(reply, "error");

	if (error && elen)
		snprintf(error, elen, "%s", e ? e : "");
	if (!e || !strcmp(e, "none"))
		return 0;
	if (!strcmp(e, "Auth failed."))
		return verr_set(err, -EKEYREJECTED, "%s: cjdns refused the admin password "
				"(Auth failed.)", fn);
	/*
	 * cjdns answers a function that needs auth, called without it, as if
	 * the function did not exist: say what probably happened.
	 */
	if (!strncmp(e, "No functions matched", 20))
		return verr_set(err, -EREMOTEIO, "%s: %s (unknown function, or it needs the admin "
				"password and none is configured)", fn, e);
	return verr_set(err, -EREMOTEIO, "%s: %s", fn, e);
}

static int send_bytes(struct cjdns *cj, const char *bytes, size_t len)
{
	if (send(cj->fd, bytes, len, 0) < 0)
		return -errno;
	return 0;
}

static int transport_error(struct cjdns *cj, const char *fn, int ret, struct verr *err)
{
	if (ret == -ETIMEDOUT)
		return verr_set(err, ret, "%s: no answer from cjdns admin at %s after %d tries of "
				"%d ms: is cjdroute running?", fn, cj->where, cj->tries,
				cj->timeout_ms);
	return verr_set(err, ret, "%s: cannot reach cjdns admin at %s: %s", fn, cj->where,
			strerror(-ret));
}

/* One request, one reply, matched by txid, with retries. No auth handling. */
static int exchange(struct cjdns *cj, const char *fn, const char *bytes, size_t len,
		    const char *txid, struct bval **reply, struct verr *err)
{
	int ret = -ETIMEDOUT;

	for (int try = 0; try < cj->tries; try++) {
		int64_t deadline = mono_ms() + cj->timeout_ms;

		ret = send_bytes(cj, bytes, len);
		if (ret < 0)
			break;
		ret = -ETIMEDOUT;
		while (mono_ms() < deadline) {
			struct bval *r = NULL;
			int rr = recv_reply(cj, (int)(deadline - mono_ms()), &r);

			if (rr == -EAGAIN || rr == -EBADMSG)
				continue;
			if (rr < 0) {
				ret = rr;
				goto out;
			}
			if (!txid_is(r, txid)) {
				/*
				 * A late reply to something earlier, or, while a
				 * bulk call refreshes its cookie, the answer to one
				 * of its requests: dropping it would have the
				 * request made again.
				 */
				if (cj->bulk)
					bulk_take(cj, cj->bulk, r);
				else
					bval_free(r);
				continue;
			}
			*reply = r;
			return 0;
		}
	}
out:
	return transport_error(cj, fn, ret, err);
}

static int refresh_cookie(struct cjdns *cj, struct verr *err)
{
	struct bval *req = bval_new_dict(), *reply = NULL;
	char txid[32], *bytes = NULL;
	const char *c;
	size_t len;
	int ret = -ENOMEM;

	next_txid(cj, txid, sizeof(txid));
	if (!req || bval_dict_set(req, "q", bval_new_cstr("cookie")) < 0 ||
	    bval_dict_set(req, "txid", bval_new_cstr(txid)) < 0 ||
	    bencode_encode(req, &bytes, &len) < 0)
		goto out;
	ret = exchange(cj, "cookie", bytes, len, txid, &reply, err);
	if (ret < 0)
		goto out;
	c = bval_dict_str(reply, "cookie");
	if (!c || !*c || strlen(c) >= sizeof(cj->cookie) || strspn(c, "0123456789") != strlen(c)) {
		ret = verr_set(err, -EBADMSG, "cjdns admin at %s sent a malformed cookie", cj->where);
		goto out;
	}
	strcpy(cj->cookie, c);
	cj->cookie_at = mono_ms();
	ret = 0;
out:
	bval_free(req);
	bval_free(reply);
	free(bytes);
	return ret;
}

static int ensure_cookie(struct cjdns *cj, struct verr *err)
{
	if (!cj->password)
		return 0;
	if (cj->cookie_at && mono_ms() - cj->cookie_at < cj->cookie_max_age_ms)
		return 0;
	return refresh_cookie(cj, err);
}

int cjdns_call(struct cjdns *cj, const char *fn, const struct bval *args, struct bval **reply,
	       struct verr *err)
{
	struct bval *r = NULL;
	char txid[32], *bytes = NULL;
	size_t len;
	int ret;

	/* One fresh-cookie retry: "Auth failed." can mean the cookie just aged out. */
	for (int attempt = 0; attempt < 2; attempt++) {
		bval_free(r);
		r = NULL;
		free(bytes);
		bytes = NULL;
		if (attempt)
			cj->cookie_at = 0;
		ret = ensure_cookie(cj, err);
		if (ret < 0)
			goto out;
		next_txid(cj, txid, sizeof(txid));
		ret = build_request(cj, fn, args, txid, &bytes, &len, err);
		if (ret < 0)
			goto out;
		ret = exchange(cj, fn, bytes, len, txid, &r, err);
		if (ret < 0)
			goto out;
		ret = reply_status(fn, r, NULL, 0, err);
		if (ret != -EKEYREJECTED)
			break;
	}
out:
	if (reply)
		*reply = r;
	else
		bval_free(r);
	free(bytes);
	return ret;
}

/* Bulk calls: per-request bookkeeping. */
struct flight {
	char txid[32];
	char *bytes;
	size_t len;
	int64_t deadline;
	int tries;
};

/*
 * Datagrams sent or received by one system call in bulk calls: on a small
 * (or virtualised) machine the syscalls cost more than the rest of the
 * client's work per request.
 */
#define BURST 32
#define SLOTS_SIZE (BURST * (REPLY_MAX + 1))

struct burst {
	struct mmsghdr m[BURST];
	struct iovec iov[BURST];
	unsigned n;
	char *slots;		/* BURST replies of up to REPLY_MAX + 1 bytes */
};

/* Sign (again, with a new txid per try: a late first reply is then harmless). */
static int sign_one(struct cjdns *cj, const struct cjdns_req *r, struct flight *f, size_t i,
		    int64_t now, struct verr *err)
{
	int ret = ensure_cookie(cj, err);	/* a long batch outlives a cookie */

	if (ret < 0)
		return ret;
	free(f->bytes);
	f->bytes = NULL;
	snprintf(f->txid, sizeof(f->txid), "%s.%zu.%d", cj->txid_prefix, i, f->tries);
	ret = build_request(cj, r->fn, r->args, f->txid, &f->bytes, &f->len, err);
	f->deadline = now + cj->timeout_ms;
	return ret;
}

static void burst_add(struct burst *b, char *bytes, size_t len)
{
	b->iov[b->n] = (struct iovec){ .iov_base = bytes, .iov_len = len };
	b->m[b->n] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &b->iov[b->n], .msg_iovlen = 1 } };
	b->n++;
}

/* Send what was queued; a datagram that did not go is resent at its deadline. */
static void burst_send(struct cjdns *cj, struct burst *b)
{
	for (unsigned done = 0; done < b->n;) {
		int r = sendmmsg(cj->fd, b->m + done, b->n - done, 0);

		if (r <= 0)
			break;
		done += r;
	}
	b->n = 0;
}

/* Wait up to wait_ms for replies and receive what has come, up to BURST of them. */
static int burst_recv(struct cjdns *cj, struct burst *b, int wait_ms)
{
	struct pollfd pfd = { .fd = cj->fd, .events = POLLIN };
	int r;

	b->n = 0;
	r = poll(&pfd, 1, wait_ms < 0 ? 0 : wait_ms);
	if (r <= 0)
		return r < 0 && errno != EINTR ? -errno : 0;
	for (unsigned i = 0; i < BURST; i++) {
		b->iov[i] = (struct iovec){ .iov_base = b->slots + i * (REPLY_MAX + 1),
					    .iov_len = REPLY_MAX + 1 };
		b->m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &b->iov[i], .msg_iovlen = 1 } };
	}
	r = recvmmsg(cj->fd, b->m, BURST, MSG_DONTWAIT, NULL);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	b->n = r;
	return 0;
}

/* Which request does this txid belong to? Encoded as prefix.index.try. */
static long flight_index(const struct cjdns *cj, const struct bval *reply, size_t n)
{
	const struct bval *t = bval_dict_get(reply, "txid");
	size_t plen = strlen(cj->txid_prefix);
	char buf[32], *end = NULL;
	unsigned long i;

	if (!t || t->type != BVAL_STR || t->len >= sizeof(buf) || t->len <= plen + 1 ||
	    memcmp(t->s, cj->txid_prefix, plen) || t->s[plen] != '.')
		return -1;
	memcpy(buf, t->s, t->len);
	buf[t->len] = '\0';
	i = strtoul(buf + plen + 1, &end, 10);
	return (end && *end == '.' && i < n) ? (long)i : -1;
}

/* A bulk call under way: reachable from exchange(), which may read its replies. */
struct bulk {
	struct cjdns_req *reqs;
	struct flight *fl;
	size_t next;		/* requests [0, next) were sent */
	size_t *live, nlive;	/* those in flight */
	int64_t progress;	/* when a request was last answered */
};

/*
 * A reply to one of the requests in flight, of any try: a reply that comes
 * after its try's deadline (a slow or loaded cjdns) is still the answer,
 * and the call was made; waiting for the last try's own reply would fail
 * every request of a cjdns slower than the timeout after it had carried
 * each one out `tries` times. Consumes reply.
 */
static void bulk_take(struct cjdns *cj, struct bulk *b, struct bval *reply)
{
	long idx = flight_index(cj, reply, b->next);

	for (size_t j = 0; idx >= 0 && j < b->nlive; j++) {
		if (b->live[j] != (size_t)idx)
			continue;
		b->reqs[idx].reply = reply;
		b->reqs[idx].ret = reply_status(b->reqs[idx].fn, reply, b->reqs[idx].error,
						sizeof(b->reqs[idx].error), NULL);
		reply = NULL;
		free(b->fl[idx].bytes);
		b->fl[idx].bytes = NULL;
		b->live[j] = b->live[--b->nlive];
		b->progress = mono_ms();
		break;
	}
	bval_free(reply);	/* a stray, or a second answer to a request */
}

/* The requests still open fail with ret; what was not sent is not sent. */
static void bulk_fail(struct bulk *b, size_t n, int ret)
{
	for (size_t j = 0; j < b->nlive; j++)
		b->reqs[b->live[j]].ret = ret;
	b->nlive = 0;
	for (; b->next < n; b->next++)
		b->reqs[b->next].ret = ret;
}

static bool transport_failure(int ret)
{
	return ret == -ETIMEDOUT || ret == -ECONNREFUSED || ret == -EKEYREJECTED;
}

/*
 * live[] holds the indices of the requests in flight, at most window of
 * them: every pass looks at those only, so a batch costs O(n * window).
 * When nothing at all is answered for tries x timeout, cjdns is taken to be
 * gone and every open request fails: a dead cjdns costs that long once,
 * not once per window of requests.
 */
int cjdns_call_many(struct cjdns *cj, struct cjdns_req *reqs, size_t n, size_t window,
		    struct verr *err)
{
	struct bulk bk = { .reqs = reqs };
	struct burst *b = NULL;
	int ret;

	if (!window)
		window = 1;
	bk.fl = calloc(n ? n : 1, sizeof(*bk.fl));
	bk.live = calloc(window, sizeof(*bk.live));
	b = calloc(1, sizeof(*b));
	ret = -ENOMEM;
	if (!bk.fl || !bk.live || !b)
		goto out;
	/*
	 * 2 MiB of address space of which only what replies fill is touched;
	 * mapped directly, so malloc neither keeps it nor grows the heap for it.
	 */
	b->slots = mmap(NULL, SLOTS_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->slots == MAP_FAILED) {
		b->slots = NULL;
		goto out;
	}
	ret = ensure_cookie(cj, err);
	if (ret < 0)
		goto out;
	cj->bulk = &bk;
	bk.progress = mono_ms();
	while (bk.next < n || bk.nlive) {
		int64_t now = mono_ms(), wait = cj->timeout_ms;

		if (now - bk.progress >= (int64_t)cj->tries * cj->timeout_ms) {
			bulk_fail(&bk, n, -ETIMEDOUT);
			break;
		}
		for (; bk.nlive < window && bk.next < n && b->n < BURST; bk.next++) {
			struct flight *f = &bk.fl[bk.next];

			reqs[bk.next].ret = sign_one(cj, &reqs[bk.next], f, bk.next, now, NULL);
			if (transport_failure(reqs[bk.next].ret)) {
				bulk_fail(&bk, n, reqs[bk.next].ret);	/* the cookie refresh */
				break;
			}
			if (reqs[bk.next].ret < 0)
				continue;
			burst_add(b, f->bytes, f->len);
			bk.live[bk.nlive++] = bk.next;
		}
		/* Resend what has timed out; find the next deadline. */
		for (size_t j = 0; j < bk.nlive;) {
			size_t i = bk.live[j];
			struct flight *f = &bk.fl[i];

			if (f->deadline <= now && b->n == BURST) {
				wait = 0;	/* no room in this burst: resent on the next pass */
			} else if (f->deadline <= now) {
				if (++f->tries >= cj->tries ||
				    sign_one(cj, &reqs[i], f, i, now, NULL) < 0) {
					reqs[i].ret = -ETIMEDOUT;
					bk.live[j] = bk.live[--bk.nlive];
					continue;
				}
				burst_add(b, f->bytes, f->len);
			}
			if (f->deadline - now < wait)
				wait = f->deadline - now;
			j++;
		}
		burst_send(cj, b);
		if (!bk.nlive)
			continue;
		/* More to send and room for it: only take what has come. */
		ret = burst_recv(cj, b, bk.next < n && bk.nlive < window ? 0 : (int)wait);
		if (ret < 0) {
			ret = transport_error(cj, "bulk", ret, err);
			goto out;
		}
		for (unsigned i = 0; i < b->n; i++) {
			struct bval *reply = NULL;

			if (!(b->m[i].msg_hdr.msg_flags & MSG_TRUNC) && b->m[i].msg_len <= REPLY_MAX &&
			    bencode_decode(b->iov[i].iov_base, b->m[i].msg_len, &reply, NULL) == 0)
				bulk_take(cj, &bk, reply);
		}
		b->n = 0;
	}
	ret = 0;
	for (size_t i = 0; i < n; i++)
		if (reqs[i].ret == -ETIMEDOUT || reqs[i].ret == -EKEYREJECTED ||
		    reqs[i].ret == -ECONNREFUSED) {
			ret = reqs[i].ret == -EKEYREJECTED
				? verr_set(err, -EKEYREJECTED, "%s: cjdns refused the admin password "
					   "(Auth failed.)", reqs[i].fn)
				: transport_error(cj, reqs[i].fn, reqs[i].ret, err);
			break;
		}
out:
	cj->bulk = NULL;
	for (size_t i = 0; bk.fl && i < n; i++)
		free(bk.fl[i].bytes);
	free(bk.fl);
	free(bk.live);
	if (b && b->slots)
		munmap(b->slots, SLOTS_SIZE);
	free(b);
	return ret;
}

int cjdns_remove_connection(struct cjdns *cj, int64_t conn, struct verr *err)
{
	struct bval *a = bval_new_dict(), *reply = NULL;
	const char *e;
	int ret = -ENOMEM;

	if (a && bval_dict_set(a, "connection", bval_new_int(conn)) == 0)
		ret = cjdns_call(cj, "IpTunnel_removeConnection", a, &reply, err);
	else
		verr_set(err, ret, "out of memory");
	e = bval_dict_str(reply, "error");
	if (ret == -EREMOTEIO && e && !strcmp(e, "not_found")) {
		verr_clear(err);
		ret = 0;
	}
	bval_free(a);
	bval_free(reply);
	return ret;
}

/* A copy of args (NULL: none) with page set. */
static struct bval *page_args(const struct bval *args, int64_t page)
{
	struct bval *a = NULL;
	char *enc = NULL;
	size_t elen;

	if (args ? bencode_encode(args, &enc, &elen) < 0 || bencode_decode(enc, elen, &a, NULL) < 0
		 : !(a = bval_new_dict()))
		a = NULL;
	free(enc);
	if (a && bval_dict_set(a, "page", bval_new_int(page)) < 0) {
		bval_free(a);
		a = NULL;
	}
	return a;
}

static bool more_pages(const struct bval *reply)
{
	int64_t more = 0;

	return bval_dict_int(reply, "more", &more) == 0 && more == 1;
}

/*
 * How many pages there are, when page 0 says: its "total" over the length
 * of its list (peerStats: 6 peers a page). 0 when it does not say.
 */
static int64_t page_count(const struct bval *reply)
{
	int64_t total = 0, per = 0;

	if (bval_dict_int(reply, "total", &total) < 0 || total <= 0)
		return 0;
	for (size_t i = 0; !per && reply->type == BVAL_DICT && i < reply->n; i++)
		if (reply->items[i]->type == BVAL_LIST)
			per = reply->items[i]->n;
	if (per <= 0)
		return 0;
	return total / per + (total % per != 0);
}

/*
 * Pages [*page, last) with PAGE_WINDOW requests in flight, handed to cb in
 * order. *page ends past the last page handed over; *more tells whether
 * that page said there are more.
 */
static int pages_in_flight(struct cjdns *cj, const char *fn, const struct bval *args,
			   int64_t *page, int64_t last, cjdns_page_cb cb, void *arg, bool *more,
			   struct verr *err)
{
	struct cjdns_req reqs[PAGE_WINDOW];
	size_t m = 0;
	int ret = 0;

	while (ret == 0 && *more && *page < last) {
		m = 0;
		while (*page + (int64_t)m < last && m < PAGE_WINDOW) {
			reqs[m] = (struct cjdns_req){ .fn = fn, .args = page_args(args, *page + m) };
			if (!reqs[m++].args) {
				ret = -ENOMEM;
				break;
			}
		}
		if (ret == 0)
			ret = cjdns_call_many(cj, reqs, m, PAGE_WINDOW, err);
		for (size_t i = 0; ret == 0 && *more && i < m; i++) {
			if (reqs[i].ret < 0) {
				ret = verr_set(err, reqs[i].ret, "%s: %s", fn, reqs[i].error[0]
					       ? reqs[i].error : strerror(-reqs[i].ret));
				break;
			}
			ret = cb(reqs[i].reply, arg);
			*more = more_pages(reqs[i].reply);
			(*page)++;
		}
		for (size_t i = 0; i < m; i++) {
			bval_free(reqs[i].args);
			bval_free(reqs[i].reply);
		}
	}
	return ret;
}

/*
 * Page after page while the reply says more=1. When page 0 tells how many
 * there are, the rest are fetched PAGE_WINDOW at a time rather than one
 * round trip each (a node with 1,000 peers has 167 pages of peerStats);
 * pages that appear meanwhile are then fetched one by one.
 */
int cjdns_call_paged(struct cjdns *cj, const char *fn, const struct bval *args, cjdns_page_cb cb,
		     void *arg, struct verr *err)
{
	struct bval *a = page_args(args, 0), *reply = NULL;
	int64_t page = 1, last;
	bool more;
	int ret = -ENOMEM;

	if (!a)
		goto out;
	ret = cjdns_call(cj, fn, a, &reply, err);
	if (ret == 0)
		ret = cb(reply, arg);
	if (ret < 0)
		goto out;
	more = more_pages(reply);
	last = page_count(reply);
	ret = pages_in_flight(cj, fn, args, &page, last < MAX_PAGES ? last : MAX_PAGES, cb, arg,
			      &more, err);
	while (ret == 0 && more && page < MAX_PAGES)
		ret = pages_in_flight(cj, fn, args, &page, page + 1, cb, arg, &more, err);
	if (ret == 0 && more)
		ret = verr_set(err, -EBADMSG, "%s: cjdns keeps saying there are more pages", fn);
out:
	bval_free(a);
	bval_free(reply);
	return ret;
}

int cjdns_ping(struct cjdns *cj, struct verr *err)
{
	struct bval *reply = NULL;
	char txid[32], bytes[64];
	int ret, len;

	next_txid(cj, txid, sizeof(txid));
	len = snprintf(bytes, sizeof(bytes), "d1:q4:ping4:txid%zu:%se", strlen(txid), txid);
	ret = exchange(cj, "ping", bytes, len, txid, &reply, err);
	if (ret == 0 && (!bval_dict_str(reply, "q") || strcmp(bval_dict_str(reply, "q"), "pong")))
		ret = verr_set(err, -EBADMSG, "ping: cjdns admin at %s did not answer pong",
			       cj->where);
	bval_free(reply);
	return ret;
}

int cjdns_node_info(struct cjdns *cj, char key[KEY_BUFLEN], char ip6[IP6_BUFLEN],
		    struct verr *err)
{
	struct bval *reply = NULL;
	const char *addr, *ip;
	int ret;

	ret = cjdns_call(cj, "Core_nodeInfo", NULL, &reply, err);
	if (ret < 0)
		goto out;
	addr = bval_dict_str(reply, "myAddr");
	ip = bval_dict_str(reply, "myIp6");
	if (!addr || !ip || strlen(ip) >= IP6_BUFLEN) {
		ret = verr_set(err, -EBADMSG, "Core_nodeInfo: reply lacks myAddr or myIp6");
		goto out;
	}
	if (key) {
		ret = key_from_addr(addr, key, err);
		if (ret < 0) {
			verr_wrap(err, "Core_nodeInfo: myAddr");
			goto out;
		}
	}
	if (ip6)
		strcpy(ip6, ip);
	ret = 0;
out:
	bval_free(reply);
	return ret;
}

int cjdns_pid(struct cjdns *cj, int64_t *pid, struct verr *err)
{
	struct bval *reply = NULL;
	int ret;

	ret = cjdns_call(cj, "Core_pid", NULL, &reply, err);
	if (ret == 0 && bval_dict_int(reply, "pid", pid) < 0)
		ret = verr_set(err, -EBADMSG, "Core_pid: reply has no pid");
	bval_free(reply);
	return ret;
}
