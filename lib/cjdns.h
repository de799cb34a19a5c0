/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_CJDNS_H
#define VISP_CJDNS_H

#include <stddef.h>
#include <stdint.h>

#include "bencode.h"
#include "err.h"
#include "key.h"

/*
 * The cjdns admin client: UDP, bencode, cookie + sha256 auth.
 *
 * Errors: -ETIMEDOUT (no reply after all tries: cjdns down, or it stayed
 * silent because it found the request malformed), -ECONNREFUSED (ICMP port
 * unreachable), -EMSGSIZE (request over 512 bytes, refused before sending),
 * -EKEYREJECTED ("Auth failed.": cjdns refuses us, which is not a question of
 * local permissions, so not -EACCES), -EREMOTEIO (any other cjdns "error"
 * string; it is in err->msg verbatim), -EBADMSG (an undecodable reply).
 */
struct cjdns;

#define CJDNS_MAX_REQUEST 512
#define CJDNS_DEFAULT_TIMEOUT_MS 1000
#define CJDNS_DEFAULT_TRIES 3

int cjdns_open(struct cjdns **out, const char *host, int port, const char *password,
	       struct verr *err);
void cjdns_close(struct cjdns *cj);
/* Per-try timeout and number of tries; the total bound is their product. */
void cjdns_set_timeout(struct cjdns *cj, int timeout_ms, int tries);
/* How long a cookie is used before a fresh one is asked for (default 10 s; for tests). */
void cjdns_set_cookie_max_age(struct cjdns *cj, int ms);

/*
 * Call fn with args (a dict, or NULL; not consumed). Authenticated when a
 * password is set. *reply (may be NULL) gets the decoded reply dict whenever
 * one arrived, also when it carries an error; the caller frees it.
 */
int cjdns_call(struct cjdns *cj, const char *fn, const struct bval *args, struct bval **reply,
	       struct verr *err);

/*
 * IpTunnel_removeConnection, where "not_found" is success too: the
 * connection is gone, which is what was asked, and a call whose reply was
 * lost is carried out again by its resend, which then finds nothing.
 */
int cjdns_remove_connection(struct cjdns *cj, int64_t conn, struct verr *err);

/* Call fn with page = 0, 1, ... while the reply says more=1; cb sees each reply. */
typedef int (*cjdns_page_cb)(const struct bval *reply, void *arg);
int cjdns_call_paged(struct cjdns *cj, const char *fn, const struct bval *args, cjdns_page_cb cb,
		     void *arg, struct verr *err);

/*
 * Bulk: run n calls with up to `window` requests in flight, retrying lost
 * ones. Each request gets its own result (ret, reply, error text); the
 * function returns 0 when every request got an answer (errors included),
 * else the first transport error. A reply to any try of a request answers
 * it. When no request at all is answered for tries x timeout, cjdns is
 * taken to be gone and every request still open fails with -ETIMEDOUT.
 */
struct cjdns_req {
	const char *fn;
	struct bval *args;	/* not consumed */
	struct bval *reply;	/* out, caller frees */
	int ret;		/* out: 0 or negative errno as for cjdns_call */
	char error[128];	/* out: cjdns's error string, if any */
};
int cjdns_call_many(struct cjdns *cj, struct cjdns_req *reqs, size_t n, size_t window,
		    struct verr *err);

/*
 * The datagram of one call (what cjdns_call sends): without a password
 * {args, q: fn, txid}; with one {aq: fn, args, cookie, hash, q: "auth",
 * txid}, where hash = hex sha256 of the request bytes with hash set to
 * hex sha256(password || cookie). cjdns finds the hash in the raw bytes.
 * Keys are written sorted, so the bytes are canonical bencode. args: a dict
 * or NULL. -EMSGSIZE over CJDNS_MAX_REQUEST bytes. *out is malloc'd.
 */
int cjdns_encode_request(const char *password, const char *cookie, const char *fn,
			 const struct bval *args, const char *txid, char **out, size_t *outlen,
			 struct verr *err);

/* Convenience wrappers used by several commands. */
int cjdns_ping(struct cjdns *cj, struct verr *err);
/* The node's public key (54 chars) and fc address (39 chars) via Core_nodeInfo. */
int cjdns_node_info(struct cjdns *cj, char key[KEY_BUFLEN], char ip6[IP6_BUFLEN],
		    struct verr *err);
int cjdns_pid(struct cjdns *cj, int64_t *pid, struct verr *err);

#endif
