// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The admin client against the captures (auth hash vectors) and against a
 * scripted fake cjdns in a thread: lost packets, stray and garbage replies,
 * stale cookies, paging, bulk calls, silence, refusal, oversized requests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bencode.h"
#include "cjdns.h"
#include "sha2.h"

#define PW "topo-admin-pw"

/* Authenticated requests from ../shared/cjdns/wire-captures-v21.1.txt. */
static const char *captured[] = {
	"d2:aq7:Foo_bar4:argsde6:cookie10:17532300564:hash64:25fc1e3584c0b8016b490481625a54d4ba0c26002955e4d259f05468bdea7e201:q4:auth4:txid2:t1e",
	"d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:a2db7ccb4e0317a348a7f512241d32083ec35a7e546776b9e280ca396830bb251:q4:auth4:txid2:t1e",
	"d2:aq24:IpTunnel_listConnections4:argsde6:cookie10:17532300564:hash64:515447f0b55acadda8df6d6c936fa3f9fe47083895db1db0de8057a7f36b03781:q4:auth4:txid1:te",
	"d2:aq29:InterfaceController_peerStats4:argsd4:pagei0ee6:cookie10:17532300564:hash64:bfad5051890b77c1b36f5f8174705557539b675c7091b1f6083add42f46d90fa1:q4:auth4:txid2:t1e",
	"d2:aq13:Core_nodeInfo4:argsde6:cookie10:17532300564:hash64:d55e4dc1d3bd5f83e75f86029a9764cb484724a75f5fbe0fa4f024134682f7741:q4:auth4:txid2:t1e",
	"d2:aq25:IpTunnel_removeConnection4:argsd10:connectioni7ee6:cookie10:17532300564:hash64:9d8e64c685b6efdca7e95c0125d5e066ecfe73e6654d93579bc6a9600fcd60201:q4:auth4:txid2:t1e",
	"d2:aq24:IpTunnel_allowConnection4:argsd10:ip4Address10:10.66.0.5025:publicKeyOfAuthorizedNode54:5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.ke6:cookie10:17532300564:hash64:3482cbfea379f0357e7779e6569e0468f6a666636af2b5a709a433f431f8d7551:q4:auth4:txid2:t1e",
};

/* The documented check: H == sha256hex(bytes with H replaced by sha256hex(pw || cookie)). */
static bool hash_ok(const char *bytes, size_t len, const char *pw)
{
	unsigned char d[32];
	char h0[65], h[65], *copy = malloc(len + 1), *at;
	const char *cookie_at = memmem(bytes, len, "6:cookie", 8);
	char cookie[32] = "";
	struct bval *v = NULL;
	bool ok = false;

	if (bencode_decode(bytes, len, &v, NULL) < 0 || !bval_dict_str(v, "hash") || !cookie_at)
		goto out;
	snprintf(cookie, sizeof(cookie), "%s", bval_dict_str(v, "cookie"));
	{
		struct sha256 st;

		sha256_init(&st);
		sha256_update(&st, pw, strlen(pw));
		sha256_update(&st, cookie, strlen(cookie));
		sha256_final(&st, d);
	}
	hex_lower(h0, d, 32);
	memcpy(copy, bytes, len);
	at = memmem(copy, len, bval_dict_str(v, "hash"), 64);
	if (!at)
		goto out;
	memcpy(at, h0, 64);
	sha256(copy, len, d);
	hex_lower(h, d, 32);
	ok = !strcmp(h, bval_dict_str(v, "hash"));
out:
	bval_free(v);
	free(copy);
	return ok;
}

static void capture_hashes(void **state)
{
	for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
		assert_true(hash_ok(captured[i], strlen(captured[i]), PW));
		assert_false(hash_ok(captured[i], strlen(captured[i]), "wrong"));
	}
}

/*
 * What visp sends is what the real client sent, byte for byte: decode each
 * capture, rebuild it from its fn, args, cookie and txid, compare.
 */
static void requests_match_captures(void **state)
{
	for (size_t i = 0; i < sizeof(captured) / sizeof(captured[0]); i++) {
		struct bval *v = NULL;
		char *out = NULL;
		size_t len = 0;

		assert_int_equal(bencode_decode(captured[i], strlen(captured[i]), &v, NULL), 0);
		assert_int_equal(cjdns_encode_request(PW, bval_dict_str(v, "cookie"),
						      bval_dict_str(v, "aq"), bval_dict_get(v, "args"),
						      bval_dict_str(v, "txid"), &out, &len, NULL), 0);
		assert_int_equal(len, strlen(captured[i]));
		assert_memory_equal(out, captured[i], len);
		free(out);
		bval_free(v);
	}
}

/* Unauthenticated requests, and the 512-byte limit. */
static void request_shapes(void **state)
{
	struct bval *args = bval_new_dict();
	char *out = NULL, big[600];
	size_t len = 0;
	struct verr err = { 0 };

	assert_int_equal(cjdns_encode_request(NULL, NULL, "ping", NULL, "t1", &out, &len, NULL), 0);
	assert_string_equal(out, "d4:argsde1:q4:ping4:txid2:t1e");
	free(out);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(bval_dict_set(args, "k", bval_new_cstr(big)), 0);
	assert_int_equal(cjdns_encode_request(PW, "1", "Foo_bar", args, "t", &out, &len, &err),
			 -EMSGSIZE);
	assert_non_null(strstr(err.msg, "512-byte"));
	bval_free(args);
}

/* ---- a scripted fake cjdns ---- */

struct fake {
	int fd, port;
	pthread_t thread;
	volatile int stop;
	/* script */
	int drop_every;		/* drop each Nth request (0: never), see fake_main */
	int stray_first;	/* answer with a wrong txid and garbage before the real reply */
	int auth_fail_once;	/* first authenticated request: "Auth failed." */
	int silent;
	int pages;		/* paged function: this many pages */
	int per_page;		/* ... each listing this many items, with a "total" (0: neither) */
	int claimed_pages;	/* ... "total" as if there were this many pages (0: pages) */
	int delay_ms;		/* hold every reply this long (a slow cjdns) */
	/* counters */
	int received;		/* datagrams, also those left unanswered */
	int requests, bad_hash, echoes;
	uint64_t removed;	/* IpTunnel_removeConnection: the numbers (< 64) gone */
	char last_fn[64];
	/* replies held by delay_ms, sent in order when due */
	struct held {
		struct timespec due;
		struct sockaddr_storage to;
		socklen_t tl;
		char *bytes;
		size_t len;
	} held[1024];
	size_t nheld;
};

static bool due(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void send_held(struct fake *f)
{
	size_t i = 0;

	while (i < f->nheld && due(&f->held[i].due)) {
		sendto(f->fd, f->held[i].bytes, f->held[i].len, 0,
		       (struct sockaddr *)&f->held[i].to, f->held[i].tl);
		free(f->held[i].bytes);
		i++;
	}
	memmove(f->held, f->held + i, (f->nheld - i) * sizeof(f->held[0]));
	f->nheld -= i;
}

/* cjdns pads the first string length of the reply so its size is a multiple of 8. */
static void send_padded(struct fake *f, struct sockaddr *to, socklen_t tl, struct bval *reply)
{
	char *enc = NULL, *out;
	size_t len, pad;

	bencode_encode(reply, &enc, &len);
	pad = (8 - len % 8) % 8;
	out = malloc(len + pad);
	out[0] = 'd';
	memset(out + 1, '0', pad);
	memcpy(out + 1 + pad, enc + 1, len - 1);
	free(enc);
	if (f->delay_ms && f->nheld < sizeof(f->held) / sizeof(f->held[0])) {
		struct held *h = &f->held[f->nheld++];

		clock_gettime(CLOCK_MONOTONIC, &h->due);
		h->due.tv_sec += f->delay_ms / 1000;
		h->due.tv_nsec += (long)(f->delay_ms % 1000) * 1000000;
		if (h->due.tv_nsec >= 1000000000) {
			h->due.tv_sec++;
			h->due.tv_nsec -= 1000000000;
		}
		memcpy(&h->to, to, tl);
		h->tl = tl;
		h->bytes = out;
		h->len = len + pad;
		return;
	}
	sendto(f->fd, out, len + pad, 0, to, tl);
	free(out);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char buf[2048];

	while (!f->stop) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		struct timeval tv = { 0, f->delay_ms ? 5000 : 50000 };
		struct bval *req = NULL, *reply = bval_new_dict();
		const char *q, *fn, *txid;
		ssize_t n;

		send_held(f);
		setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		n = recvfrom(f->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		f->received += n > 0;
		if (n <= 0 || bencode_decode(buf, n, &req, NULL) < 0 || f->silent) {
			bval_free(req);
			bval_free(reply);
			continue;
		}
		f->requests++;
		q = bval_dict_str(req, "q");
		fn = q && !strcmp(q, "auth") ? bval_dict_str(req, "aq") : q;
		txid = bval_dict_str(req, "txid");
		snprintf(f->last_fn, sizeof(f->last_fn), "%s", fn ? fn : "");
		/*
		 * Lose every Nth request, but never a bulk request's last try
		 * (txid "prefix.index.2"): resends go out in lockstep, so a
		 * plain modulo would lose one request on every try.
		 */
		if (f->drop_every && f->requests % f->drop_every == 0 &&
		    !(txid && strlen(txid) > 2 && !strcmp(txid + strlen(txid) - 2, ".2")))
			goto next;
		if (txid)
			bval_dict_set(reply, "txid", bval_new_cstr(txid));
		if (f->stray_first) {
			struct bval *stray = bval_new_dict();

			bval_dict_set(stray, "txid", bval_new_cstr("not-yours"));
			bval_dict_set(stray, "error", bval_new_cstr("none"));
			send_padded(f, (struct sockaddr *)&from, fl, stray);
			sendto(f->fd, "garbage", 7, 0, (struct sockaddr *)&from, fl);
			bval_free(stray);
		}
		if (!strcmp(fn, "cookie")) {
			bval_dict_set(reply, "cookie", bval_new_cstr("1753230056"));
		} else if (q && !strcmp(q, "auth") && (!hash_ok(buf, n, PW) || f->auth_fail_once)) {
			f->bad_hash += !f->auth_fail_once;
			f->auth_fail_once = 0;
			bval_dict_set(reply, "error", bval_new_cstr("Auth failed."));
		} else if (!strcmp(fn, "Paged")) {
			int64_t page = -1;

			bval_dict_int(bval_dict_get(req, "args"), "page", &page);
			bval_dict_set(reply, "page", bval_new_int(page));
			if (page + 1 < f->pages)
				bval_dict_set(reply, "more", bval_new_int(1));
			if (f->per_page) {
				struct bval *items = bval_new_list();
				int claimed = f->claimed_pages ? f->claimed_pages : f->pages;

				for (int i = 0; i < f->per_page; i++)
					bval_list_append(items, bval_new_int(i));
				bval_dict_set(reply, "items", items);
				bval_dict_set(reply, "total", bval_new_int(claimed * f->per_page - 1));
			}
		} else if (!strcmp(fn, "Fails")) {
			bval_dict_set(reply, "error", bval_new_cstr("connection not found"));
		} else if (!strcmp(fn, "IpTunnel_removeConnection")) {
			int64_t c = -1;

			bval_dict_int(bval_dict_get(req, "args"), "connection", &c);
			if (c < 0 || c >= 64) {
				bval_dict_set(reply, "error", bval_new_cstr("invalid connection"));
			} else if (f->removed & (1ull << c)) {
				bval_dict_set(reply, "error", bval_new_cstr("not_found"));
			} else {
				f->removed |= 1ull << c;
				bval_dict_set(reply, "error", bval_new_cstr("none"));
			}
		} else {
			const struct bval *a = bval_dict_get(req, "args");
			int64_t v = 0;

			bval_dict_int(a, "n", &v);
			f->echoes++;
			bval_dict_set(reply, "echo", bval_new_int(v));
			bval_dict_set(reply, "error", bval_new_cstr("none"));
		}
		send_padded(f, (struct sockaddr *)&from, fl, reply);
next:
		bval_free(req);
		bval_free(reply);
	}
	return NULL;
}

static struct fake *fake_start(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(f->fd, (struct sockaddr *)&sa, &sl);
	f->port = ntohs(sa.sin_port);
	pthread_create(&f->thread, NULL, fake_main, f);
	return f;
}

static void fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	for (size_t i = 0; i < f->nheld; i++)
		free(f->held[i].bytes);
	close(f->fd);
	free(f);
}

static struct cjdns *client(struct fake *f, const char *pw)
{
	struct cjdns *cj = NULL;

	assert_int_equal(cjdns_open(&cj, "127.0.0.1", f->port, pw, NULL), 0);
	cjdns_set_timeout(cj, 200, 3);
	return cj;
}

static int call_n(struct cjdns *cj, const char *fn, int64_t n, int64_t *echo, struct verr *err)
{
	struct bval *args = bval_new_dict(), *reply = NULL;
	int ret;

	bval_dict_set(args, "n", bval_new_int(n));
	ret = cjdns_call(cj, fn, args, &reply, err);
	if (ret == 0 && echo)
		bval_dict_int(reply, "echo", echo);
	bval_free(args);
	bval_free(reply);
	return ret;
}

static void auth_and_cookie_reuse(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	int64_t echo = 0;

	assert_int_equal(call_n(cj, "Echo", 42, &echo, NULL), 0);
	assert_int_equal(echo, 42);
	assert_int_equal(call_n(cj, "Echo", 43, &echo, NULL), 0);
	assert_int_equal(echo, 43);
	/* One cookie for both calls: 3 requests in all. */
	assert_int_equal(f->requests, 3);
	assert_int_equal(f->bad_hash, 0);
	cjdns_close(cj);
	fake_stop(f);
}

static void retries_and_strays(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	int64_t echo = 0;

	f->drop_every = 2;
	f->stray_first = 1;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(call_n(cj, "Echo", i, &echo, NULL), 0);
		assert_int_equal(echo, i);
	}
	cjdns_close(cj);
	fake_stop(f);
}

static void auth_failed_then_fresh_cookie(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW), *bad = client(f, "wrong");
	struct verr err = { 0 };

	f->auth_fail_once = 1;
	assert_int_equal(call_n(cj, "Echo", 1, NULL, &err), 0);
	/* Not -EACCES, which maps to "not permitted" (exit 4): cjdns refusing us is exit 3. */
	assert_int_equal(call_n(bad, "Echo", 1, NULL, &err), -EKEYREJECTED);
	assert_non_null(strstr(err.msg, "Auth failed."));
	cjdns_close(cj);
	cjdns_close(bad);
	fake_stop(f);
}

static void errors_reach_the_user(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	struct bval *reply = NULL, *args = bval_new_dict();
	struct verr err = { 0 };
	char pad[600];

	assert_int_equal(call_n(cj, "Fails", 1, NULL, &err), -EREMOTEIO);
	assert_string_equal(err.msg, "Fails: connection not found");

	/* Over 512 bytes: refused before anything is sent. */
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	bval_dict_set(args, "pad", bval_new_cstr(pad));
	f->requests = 0;
	assert_int_equal(cjdns_call(cj, "Echo", args, &reply, &err), -EMSGSIZE);
	assert_int_equal(f->requests, 0);
	assert_non_null(strstr(err.msg, "512"));
	bval_free(args);
	cjdns_close(cj);
	fake_stop(f);
}

/*
 * A removeConnection whose reply is lost is carried out by the first try
 * and answered "not_found" at the resend: gone, as asked, and so a
 * success (faults-client.sh: a disconnect through a lossy cjdns failed).
 */
static void remove_connection(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	struct verr err = { 0 };

	assert_int_equal(cjdns_remove_connection(cj, 7, &err), 0);
	assert_true(f->removed & (1ull << 7));
	assert_int_equal(cjdns_remove_connection(cj, 7, &err), 0);
	assert_string_equal(err.msg, "");
	assert_int_equal(cjdns_remove_connection(cj, 64, &err), -EREMOTEIO);
	assert_string_equal(err.msg, "IpTunnel_removeConnection: invalid connection");
	cjdns_close(cj);
	fake_stop(f);
}

static int count_pages(const struct bval *reply, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void paged(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, NULL);
	int n = 0;

	f->pages = 4;
	assert_int_equal(cjdns_call_paged(cj, "Paged", NULL, count_pages, &n, NULL), 0);
	assert_int_equal(n, 4);
	cjdns_close(cj);
	fake_stop(f);
}

/* Pages must reach the callback in order, whether fetched one by one or together. */
static int in_order(const struct bval *reply, void *arg)
{
	int64_t page = -1;

	bval_dict_int(reply, "page", &page);
	if (page != *(int *)arg)
		return -EPROTO;
	(*(int *)arg)++;
	return 0;
}

static void paged_in_flight(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	struct verr err = { 0 };
	int n = 0;

	/* 167 pages of 6, as 1,000 peers; a few requests lost on the way. */
	f->pages = 167;
	f->per_page = 6;
	f->drop_every = 13;
	assert_int_equal(cjdns_call_paged(cj, "Paged", NULL, in_order, &n, &err), 0);
	assert_int_equal(n, 167);
	/* More pages than page 0 said: the rest come one by one. */
	f->claimed_pages = 5;
	f->pages = 9;
	n = 0;
	assert_int_equal(cjdns_call_paged(cj, "Paged", NULL, in_order, &n, &err), 0);
	assert_int_equal(n, 9);
	/* Fewer: the page that says no more is the last handed over. */
	f->claimed_pages = 40;
	f->pages = 3;
	n = 0;
	assert_int_equal(cjdns_call_paged(cj, "Paged", NULL, in_order, &n, &err), 0);
	assert_int_equal(n, 3);
	cjdns_close(cj);
	fake_stop(f);
}

/* n bulk requests echoing their index; every fail_every-th (0: none) fails. */
static void echo_requests(struct cjdns_req *reqs, int n, int fail_every)
{
	for (int i = 0; i < n; i++) {
		bool fails = fail_every && i % fail_every == 0;

		reqs[i] = (struct cjdns_req){ .fn = fails ? "Fails" : "Echo" };
		reqs[i].args = bval_new_dict();
		bval_dict_set(reqs[i].args, "n", bval_new_int(i));
	}
}

/* Each request of echo_requests answered as it should be; frees them. */
static void assert_echoed(struct cjdns_req *reqs, int n, int fail_every)
{
	for (int i = 0; i < n; i++) {
		int64_t echo = -1;

		if (fail_every && i % fail_every == 0) {
			assert_int_equal(reqs[i].ret, -EREMOTEIO);
			assert_string_equal(reqs[i].error, "connection not found");
		} else {
			assert_int_equal(reqs[i].ret, 0);
			assert_int_equal(bval_dict_int(reqs[i].reply, "echo", &echo), 0);
			assert_int_equal(echo, i);
		}
		bval_free(reqs[i].args);
		bval_free(reqs[i].reply);
	}
}

static void bulk(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	struct cjdns_req reqs[300];

	f->drop_every = 7;	/* lost packets are resent */
	echo_requests(reqs, 300, 50);
	assert_int_equal(cjdns_call_many(cj, reqs, 300, 32, NULL), 0);
	assert_echoed(reqs, 300, 50);
	cjdns_close(cj);
	fake_stop(f);
}

/*
 * Found by tests/netns/faults-cjdns.sh: with every reply delayed past the
 * per-try timeout (but well within all tries), a single call worked (its
 * resends keep the txid) while a bulk call failed every request, having
 * made cjdns carry out each one `tries` times: only the last try's own
 * reply was taken. A lease sync of 2,500 leases took 2m42s to fail so.
 */
static void bulk_slow_cjdns(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, NULL);	/* 200 ms x 3 tries */
	struct cjdns_req reqs[100];

	f->delay_ms = 300;
	echo_requests(reqs, 100, 0);
	assert_int_equal(cjdns_call_many(cj, reqs, 100, 16, NULL), 0);
	assert_echoed(reqs, 100, 0);
	cjdns_close(cj);
	fake_stop(f);
}

/*
 * Found by tests/netns/faults-cjdns.sh: a bulk call that outlives its
 * cookie asks for a fresh one with a plain exchange on the same socket,
 * which threw away the batch's replies arriving meanwhile; those requests
 * were sent, and carried out, again (a lease sync of 2,500 leases against
 * a cjdns answering in 1.5 s failed outright). They are the batch's now.
 */
static void bulk_outlives_cookie(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	struct cjdns_req reqs[200];

	cjdns_set_timeout(cj, 400, 3);
	cjdns_set_cookie_max_age(cj, 100);
	f->delay_ms = 150;
	echo_requests(reqs, 200, 0);
	assert_int_equal(cjdns_call_many(cj, reqs, 200, 32, NULL), 0);
	assert_echoed(reqs, 200, 0);
	/* Each carried out once: no reply was lost to a cookie refresh. */
	assert_int_equal(f->echoes, 200);
	assert_int_equal(f->bad_hash, 0);
	cjdns_close(cj);
	fake_stop(f);
}

/*
 * A cjdns that answers nothing costs a bulk call tries x timeout, not that
 * per window of requests: 200 requests 8 at a time used to send all 600
 * datagrams (and wait 15 s); now only the first window goes out, 3 times.
 */
static void bulk_dead_cjdns(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, NULL);
	struct cjdns_req reqs[200];
	struct verr err = { 0 };

	f->silent = 1;
	for (int i = 0; i < 200; i++)
		reqs[i] = (struct cjdns_req){ .fn = "Echo" };
	assert_int_equal(cjdns_call_many(cj, reqs, 200, 8, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "is cjdroute running?"));
	for (int i = 0; i < 200; i++)
		assert_int_equal(reqs[i].ret, -ETIMEDOUT);
	assert_in_range(f->received, 8, 8 * 3);
	cjdns_close(cj);
	fake_stop(f);
}

static void silence_and_refusal(void **state)
{
	struct fake *f = fake_start();
	struct cjdns *cj = client(f, PW);
	struct verr err = { 0 };
	int port = f->port;

	f->silent = 1;
	assert_int_equal(call_n(cj, "Echo", 1, NULL, &err), -ETIMEDOUT);
	assert_non_null(strstr(err.msg, "is cjdroute running?"));
	cjdns_close(cj);
	fake_stop(f);

	/* Nobody on the port any more: ICMP port unreachable. */
	assert_int_equal(cjdns_open(&cj, "127.0.0.1", port, PW, NULL), 0);
	cjdns_set_timeout(cj, 200, 2);
	assert_int_equal(cjdns_ping(cj, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "cannot reach cjdns admin at 127.0.0.1:"));
	cjdns_close(cj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(capture_hashes),
		cmocka_unit_test(requests_match_captures),
		cmocka_unit_test(request_shapes),
		cmocka_unit_test(auth_and_cookie_reuse),
		cmocka_unit_test(retries_and_strays),
		cmocka_unit_test(auth_failed_then_fresh_cookie),
		cmocka_unit_test(errors_reach_the_user),
		cmocka_unit_test(remove_connection),
		cmocka_unit_test(paged),
		cmocka_unit_test(paged_in_flight),
		cmocka_unit_test(bulk),
		cmocka_unit_test(bulk_slow_cjdns),
		cmocka_unit_test(bulk_outlives_cookie),
		cmocka_unit_test(bulk_dead_cjdns),
		cmocka_unit_test(silence_and_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
