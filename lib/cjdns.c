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
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cjdns.h"
#include "key.h"

/* A reply is at most 64 KiB (cjdns aborts rather than send more). */
#define REPLY_MAX 65536
/* cjdns accepts a cookie for about 20 s; take a fresh one well before that. */
#define COOKIE_MAX_AGE_MS 10000
#define MAX_PAGES 100000

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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cjdns_open(struct cjdns **out, const char *host, int port, const char *password,
	       struct verr *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res = NULL, *ai;
	struct cjdns *cj = NULL;
	unsigned char rnd[4];
	char portstr[8];
	int ret, gai;

	if (sodium_init() < 0)
		return verr_set(err, -EIO, "cannot initialise libsodium");
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
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(cj->txid_prefix, sizeof(cj->txid_prefix), rnd, sizeof(rnd));
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
		sodium_memzero(cj->password, strlen(cj->password));
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

/*
 * Build the datagram for one call. With a password:
 *   H0 = hex sha256(password || cookie)
 *   bytes = bencode({q:auth, aq:fn, args, cookie, hash:H0, txid})
 *   H = hex sha256(bytes), written over H0 in place.
 * cjdns finds the hash in the raw bytes, so the byte order of keys is free.
 */
static int build_request(struct cjdns *cj, const char *fn, const struct bval *args,
			 const char *txid, char **out, size_t *outlen, struct verr *err)
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char h0[2 * crypto_hash_sha256_BYTES + 1], h[sizeof(h0)];
	struct bval *req = bval_new_dict(), *a = NULL;
	char *bytes = NULL, *at;
	size_t len = 0;
	int ret = -ENOMEM;

	if (!req)
		goto out;
	if (args) {
		char *enc = NULL;
		size_t elen;

		/* Copy args through the codec: the request owns what it holds. */
		if (bencode_encode(args, &enc, &elen) < 0 ||
		    bencode_decode(enc, elen, &a, NULL) < 0) {
			free(enc);
			goto out;
		}
		free(enc);
	} else if (!(a = bval_new_dict())) {
		goto out;
	}
	if (bval_dict_set(req, "args", a) < 0 || bval_dict_set(req, "txid", bval_new_cstr(txid)) < 0)
		goto out;
	if (cj->password) {
		crypto_hash_sha256_state st;

		crypto_hash_sha256_init(&st);
		crypto_hash_sha256_update(&st, (const unsigned char *)cj->password,
					  strlen(cj->password));
		crypto_hash_sha256_update(&st, (const unsigned char *)cj->cookie,
					  strlen(cj->cookie));
		crypto_hash_sha256_final(&st, digest);
		sodium_bin2hex(h0, sizeof(h0), digest, sizeof(digest));
		if (bval_dict_set(req, "q", bval_new_cstr("auth")) < 0 ||
		    bval_dict_set(req, "aq", bval_new_cstr(fn)) < 0 ||
		    bval_dict_set(req, "cookie", bval_new_cstr(cj->cookie)) < 0 ||
		    bval_dict_set(req, "hash", bval_new_cstr(h0)) < 0)
			goto out;
	} else if (bval_dict_set(req, "q", bval_new_cstr(fn)) < 0) {
		goto out;
	}
	ret = bencode_encode(req, &bytes, &len);
	if (ret < 0)
		goto out;
	if (len > CJDNS_MAX_REQUEST) {
		ret = verr_set(err, -EMSGSIZE, "%s: request is %zu bytes, over cjdns's %d-byte limit",
			       fn, len, CJDNS_MAX_REQUEST);
		goto out;
	}
	if (cj->password) {
		at = memmem(bytes, len, h0, strlen(h0));
		crypto_hash_sha256(digest, (unsigned char *)bytes, len);
		sodium_bin2hex(h, sizeof(h), digest, sizeof(digest));
		memcpy(at, h, strlen(h));
		sodium_memzero(h0, sizeof(h0));
	}
	*out = bytes;
	*outlen = len;
	bytes = NULL;
	ret = 0;
out:
	bval_free(req);
	free(bytes);
	return ret;
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
		int64_t deadline = now_ms() + cj->timeout_ms;

		ret = send_bytes(cj, bytes, len);
		if (ret < 0)
			break;
		ret = -ETIMEDOUT;
		while (now_ms() < deadline) {
			struct bval *r = NULL;
			int rr = recv_reply(cj, (int)(deadline - now_ms()), &r);

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
				 * of its requests: losing that would have the
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
	cj->cookie_at = now_ms();
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
	if (cj->cookie_at && now_ms() - cj->cookie_at < cj->cookie_max_age_ms)
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

int cjdns_call_paged(struct cjdns *cj, const char *fn, const struct bval *args, cjdns_page_cb cb,
		     void *arg, struct verr *err)
{
	struct bval *a = NULL, *reply = NULL;
	int64_t more = 0;
	char *enc = NULL;
	size_t elen;
	int ret = -ENOMEM;

	for (int64_t page = 0; page < MAX_PAGES; page++) {
		bval_free(a);
		a = NULL;
		if (args) {
			if (bencode_encode(args, &enc, &elen) < 0 ||
			    bencode_decode(enc, elen, &a, NULL) < 0)
				goto out;
			free(enc);
			enc = NULL;
		} else if (!(a = bval_new_dict())) {
			goto out;
		}
		if (bval_dict_set(a, "page", bval_new_int(page)) < 0)
			goto out;
		ret = cjdns_call(cj, fn, a, &reply, err);
		if (ret < 0)
			goto out;
		ret = cb(reply, arg);
		if (ret < 0)
			goto out;
		if (bval_dict_int(reply, "more", &more) < 0 || more != 1)
			goto out;
		bval_free(reply);
		reply = NULL;
	}
	ret = verr_set(err, -EBADMSG, "%s: cjdns keeps saying there are more pages", fn);
out:
	free(enc);
	bval_free(a);
	bval_free(reply);
	return ret;
}

/* Bulk calls: per-request bookkeeping. */
struct flight {
	char txid[32];
	char *bytes;
	size_t len;
	int64_t deadline;
	int tries;
	bool done, sent;
};

static int sign_one(struct cjdns *cj, struct cjdns_req *r, struct flight *f, size_t i,
		    struct verr *err)
{
	int ret = ensure_cookie(cj, err);	/* a long batch outlives a cookie */

	if (ret < 0)
		return ret;
	free(f->bytes);
	f->bytes = NULL;
	snprintf(f->txid, sizeof(f->txid), "%s.%zu.%d", cj->txid_prefix, i, f->tries);
	return build_request(cj, r->fn, r->args, f->txid, &f->bytes, &f->len, err);
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

/* A bulk call's state, so that a reply can be taken wherever it is read. */
struct bulk {
	struct cjdns_req *reqs;
	struct flight *fl;
	size_t n, next, inflight, left;
	int64_t progress;	/* when a request was last answered */
};

/*
 * A reply to one of the batch's requests, of any try: a reply that comes
 * after its try's deadline (a slow or loaded cjdns) is still the answer,
 * and the call was made. Taking only the last try's own reply failed every
 * request of a cjdns slower than the timeout, after it had carried out each
 * one `tries` times. Consumes reply.
 */
static void bulk_take(struct cjdns *cj, struct bulk *b, struct bval *reply)
{
	long idx = flight_index(cj, reply, b->next);
	struct cjdns_req *r;

	if (idx < 0 || b->fl[idx].done) {
		bval_free(reply);
		return;
	}
	r = &b->reqs[idx];
	r->reply = reply;
	r->ret = reply_status(r->fn, reply, r->error, sizeof(r->error), NULL);
	b->fl[idx].done = true;
	b->progress = now_ms();
	b->inflight--;
	b->left--;
}

/* Every request still open fails with ret: the batch is over. */
static void bulk_fail_open(struct bulk *b, int ret)
{
	for (size_t i = 0; i < b->n; i++)
		if (!b->fl[i].done) {
			b->reqs[i].ret = ret;
			b->fl[i].done = true;
		}
	b->left = 0;
}

int cjdns_call_many(struct cjdns *cj, struct cjdns_req *reqs, size_t n, size_t window,
		    struct verr *err)
{
	struct bulk b = { .reqs = reqs, .n = n, .left = n, .progress = now_ms() };
	int ret = 0;

	b.fl = calloc(n ? n : 1, sizeof(*b.fl));
	if (!b.fl)
		return -ENOMEM;
	if (!window)
		window = 1;
	ret = ensure_cookie(cj, err);
	if (ret < 0) {
		bulk_fail_open(&b, ret);
		goto out;
	}
	cj->bulk = &b;
	while (b.left) {
		int64_t now = now_ms(), wait = cj->timeout_ms;
		struct bval *reply = NULL;
		int rr;

		/*
		 * Nothing answered for as long as one call may take: cjdns is gone
		 * (or hopelessly slow). Stop rather than spend that long again on
		 * every window of requests; the ones not sent yet are not sent.
		 */
		if (b.inflight && now - b.progress >= (int64_t)cj->tries * cj->timeout_ms) {
			bulk_fail_open(&b, -ETIMEDOUT);
			break;
		}
		/* Fill the window (a cookie refresh in sign_one may take replies in). */
		while (b.inflight < window && b.next < n) {
			size_t i = b.next++;

			ret = sign_one(cj, &reqs[i], &b.fl[i], i, err);
			if (ret == -EMSGSIZE) {		/* this request alone */
				reqs[i].ret = ret;
				b.fl[i].done = true;
				b.left--;
				ret = 0;
				continue;
			}
			if (ret < 0) {			/* no cookie: nothing more can be sent */
				bulk_fail_open(&b, ret);
				goto out;
			}
			if (send_bytes(cj, b.fl[i].bytes, b.fl[i].len) < 0)
				(void)0;	/* counted as lost: the deadline resends it */
			b.fl[i].deadline = now_ms() + cj->timeout_ms;
			b.fl[i].sent = true;
			b.inflight++;
		}
		/* Resend or give up on what has timed out; find the next deadline. */
		now = now_ms();
		for (size_t i = 0; i < b.next; i++) {
			struct flight *f = &b.fl[i];

			if (f->done)
				continue;
			if (f->deadline <= now) {
				if (++f->tries >= cj->tries) {
					reqs[i].ret = -ETIMEDOUT;
					f->done = true;
					b.inflight--;
					b.left--;
					continue;
				}
				/* Signed again: a long batch may have outlived the cookie. */
				ret = sign_one(cj, &reqs[i], f, i, err);
				if (ret < 0) {
					bulk_fail_open(&b, ret);
					goto out;
				}
				send_bytes(cj, f->bytes, f->len);
				f->deadline = now_ms() + cj->timeout_ms;
			}
			if (f->deadline - now < wait)
				wait = f->deadline - now;
		}
		if (!b.left)
			break;
		rr = recv_reply(cj, (int)wait, &reply);
		if (rr == -EAGAIN || rr == -EBADMSG)
			continue;
		if (rr < 0) {
			bulk_fail_open(&b, rr);
			ret = transport_error(cj, "bulk", rr, err);
			goto out;
		}
		bulk_take(cj, &b, reply);
	}
	for (size_t i = 0; i < n; i++)
		if (reqs[i].ret == -ETIMEDOUT || reqs[i].ret == -EKEYREJECTED) {
			ret = reqs[i].ret == -ETIMEDOUT
				? transport_error(cj, reqs[i].fn, -ETIMEDOUT, err)
				: verr_set(err, -EKEYREJECTED, "%s: cjdns refused the admin "
					   "password (Auth failed.)", reqs[i].fn);
			break;
		}
out:
	cj->bulk = NULL;
	for (size_t i = 0; i < n; i++)
		free(b.fl[i].bytes);
	free(b.fl);
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

int cjdns_node_info(struct cjdns *cj, char key[55], char ip6[40], struct verr *err)
{
	struct bval *reply = NULL;
	const char *addr, *ip;
	int ret;

	ret = cjdns_call(cj, "Core_nodeInfo", NULL, &reply, err);
	if (ret < 0)
		goto out;
	addr = bval_dict_str(reply, "myAddr");
	ip = bval_dict_str(reply, "myIp6");
	if (!addr || !ip || strlen(ip) >= 40) {
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
