// SPDX-License-Identifier: GPL-3.0-or-later
/* Standby leases, failback and ordering of gateways (gwselect.h). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gwselect.h"
#include "key.h"

/* A standby lease is renewed past half its life, and not relied on in its last minute. */
#define HELD_MARGIN 60

static void entry_dir(const char *run_dir, const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%s/" GW_STANDBY_DIR "/%s", run_dir, key);
}

static bool is_key(const char *s)
{
	uint8_t raw[KEY_BYTES];

	return key_parse(s, raw, NULL) == 0;
}

void gw_book_load(const char *run_dir, struct gw_book *b)
{
	char dir[4200], sub[4600];
	struct dirent *de;
	DIR *d;

	b->n = 0;
	snprintf(dir, sizeof(dir), "%s/" GW_STANDBY_DIR, run_dir);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) && b->n < GW_BOOK_MAX) {
		struct client_state *e = &b->v[b->n];

		/* A name that is no key is not ours; a record must be the gateway it is filed as. */
		if (!is_key(de->d_name))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		if (client_state_load(sub, e, NULL) < 0 || strcmp(e->gateway, de->d_name))
			continue;
		b->n++;
	}
	closedir(d);
}

int gw_book_save(const char *run_dir, const struct gw_book *b, struct verr *err)
{
	char dir[4200], sub[4600], path[4700];
	struct dirent *de;
	int ret = 0;
	DIR *d;

	for (size_t i = 0; ret == 0 && i < b->n; i++) {
		entry_dir(run_dir, b->v[i].gateway, sub, sizeof(sub));
		ret = client_state_save(sub, &b->v[i], err);
	}
	snprintf(dir, sizeof(dir), "%s/" GW_STANDBY_DIR, run_dir);
	d = ret == 0 ? opendir(dir) : NULL;
	while (d && (de = readdir(d))) {
		bool keep = false;

		if (!is_key(de->d_name))
			continue;
		for (size_t i = 0; i < b->n && !keep; i++)
			keep = !strcmp(b->v[i].gateway, de->d_name);
		if (keep)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
		snprintf(path, sizeof(path), "%s/" CLIENT_STATE_FILE, sub);
		unlink(path);
		rmdir(sub);
	}
	if (d)
		closedir(d);
	if (ret == 0 && !b->n)
		rmdir(dir);
	return ret;
}

struct client_state *gw_book_find(struct gw_book *b, const char *key)
{
	for (size_t i = 0; key && i < b->n; i++)
		if (!strcmp(b->v[i].gateway, key))
			return &b->v[i];
	return NULL;
}

void gw_book_remove(struct gw_book *b, const char *key)
{
	struct client_state *e = gw_book_find(b, key);

	if (!e)
		return;
	memmove(e, e + 1, (size_t)(&b->v[b->n] - (e + 1)) * sizeof(*e));
	b->n--;
}

/* Find or make the record of key; NULL when the book is full. */
static struct client_state *book_get(struct gw_book *b, const char *key, const char *url)
{
	struct client_state *e = gw_book_find(b, key);

	if (e || b->n == GW_BOOK_MAX)
		return e;
	e = &b->v[b->n++];
	client_state_init(e);
	snprintf(e->gateway, sizeof(e->gateway), "%s", key);
	snprintf(e->lease_url, sizeof(e->lease_url), "%s", url);
	return e;
}

bool gw_held(const struct client_state *e, int64_t now)
{
	return e && e->connected && e->lease.expires > now + HELD_MARGIN;
}

static int64_t backoff(int failures)
{
	int64_t s = GW_BACKOFF_MIN;

	for (int i = 1; i < failures && s < GW_BACKOFF_MAX; i++)
		s *= 2;
	return s < GW_BACKOFF_MAX ? s : GW_BACKOFF_MAX;
}

static bool may_ask(const struct client_state *e, int64_t now)
{
	return !e || e->connected || !e->failures || now >= e->leased_at + backoff(e->failures);
}

void gw_failed(struct gw_book *b, const char *key, const char *url, int64_t now, const char *why)
{
	struct client_state *e = book_get(b, key, url);

	if (!e)
		return;
	e->connected = false;
	e->since = 0;
	e->leased_at = now;
	e->failures++;
	snprintf(e->last_error, sizeof(e->last_error), "%.255s", why ? why : "");
}

static void move_to(struct candidate *v, size_t n, size_t from, size_t to)
{
	struct candidate t = v[from];

	if (from < to)
		memmove(&v[from], &v[from + 1], (to - from) * sizeof(*v));
	else if (from > to)
		memmove(&v[to + 1], &v[to], (from - to) * sizeof(*v));
	v[to] = t;
	(void)n;
}

static ssize_t index_of(const struct candidate *v, size_t n, const char *key)
{
	for (size_t i = 0; key && i < n; i++)
		if (!strcmp(v[i].key, key))
			return (ssize_t)i;
	return -1;
}

void gw_reorder(struct candidate *v, size_t n, struct gw_book *b, const char *failed,
		const char *prefer, int64_t now)
{
	size_t front = 0;
	ssize_t i;

	if (failed) {
		for (size_t j = 0; j < n; j++)
			if (strcmp(v[j].key, failed) && gw_held(gw_book_find(b, v[j].key), now))
				move_to(v, n, j, front++);
		i = index_of(v, n, failed);
		if (front && i >= 0)
			move_to(v, n, (size_t)i, n - 1);
	}
	i = index_of(v, n, prefer);
	if (i >= 0)
		move_to(v, n, (size_t)i, 0);
}

const struct candidate *gw_failback(const struct candidate *pref, size_t n, const char *current,
				    struct gw_book *b, long failback, int64_t now)
{
	if (failback < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct client_state *e;

		if (!strcmp(pref[i].key, current))
			return NULL;	/* nothing before current qualifies */
		if (pref[i].source != CAND_ARG && pref[i].source != CAND_CONFIG)
			continue;
		e = gw_book_find(b, pref[i].key);
		if (gw_held(e, now) && e->since && now - e->since >= failback)
			return &pref[i];
	}
	return NULL;
}

/* Round trips within 5 ms of each other are the same: the free addresses decide. */
static int cmp_discovered(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	long rx = x->rtt_us ? x->rtt_us / 5000 : 1000000, ry = y->rtt_us ? y->rtt_us / 5000 : 1000000;

	if (rx != ry)
		return rx < ry ? -1 : 1;
	if (x->free != y->free)
		return x->free > y->free ? -1 : 1;
	return memcmp(x->addr, y->addr, 16);	/* stable between runs */
}

void gw_sort_discovered(struct candidate *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_discovered);
}

__attribute__((format(printf, 2, 3)))
static void hook_note(const struct gw_hooks *h, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!h->note)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	h->note(h->arg, msg);
}

/* Lease (or renew) at one candidate; true when held afterwards. */
static bool ask(struct gw_book *b, const struct candidate *c, struct client_state *e,
		int64_t now, const struct gw_hooks *h)
{
	struct verr err = { 0 };
	struct offer o;
	bool was_held = gw_held(e, now);

	if (h->lease(h->arg, c, &o, &err) < 0) {
		hook_note(h, "standby %s: %.300s", c->key, err.msg);
		gw_failed(b, c->key, c->url, now, err.msg);
		return false;
	}
	e = book_get(b, c->key, c->url);
	if (!e)
		return false;
	if (!was_held) {
		e->since = now;
		hook_note(h, "standby lease held at %s", c->key);
	}
	e->connected = true;
	e->lease = o;
	e->leased_at = now;
	e->failures = 0;
	e->last_error[0] = '\0';
	snprintf(e->lease_url, sizeof(e->lease_url), "%s", c->url);
	return true;
}

int gw_tend(struct gw_book *b, const struct candidate *v, size_t n, const char *current,
	    const char *skip, int want, int64_t now, const struct gw_hooks *h, bool *changed)
{
	int held = 0;

	*changed = false;
	for (size_t i = 0; i < n; i++) {
		const struct candidate *c = &v[i];
		struct client_state *e;

		if (!c->key[0] || (current && !strcmp(c->key, current)) ||
		    (skip && !strcmp(c->key, skip)))
			continue;
		e = gw_book_find(b, c->key);
		if (held >= want) {
			if (e && e->connected) {
				/* More than wanted (standby lowered, or a better one came back). */
				h->release(h->arg, e->lease_url, NULL);
				gw_book_remove(b, c->key);
				*changed = true;
			}
			continue;
		}
		if (gw_held(e, now) && now < e->leased_at + (e->lease.expires - e->leased_at) / 2) {
			held++;
			continue;
		}
		if (!may_ask(e, now))
			continue;
		*changed = true;
		if (ask(b, c, e, now, h))
			held++;
	}
	/* The current gateway's lease is the state's own, not a standby's. */
	if (current && gw_book_find(b, current)) {
		gw_book_remove(b, current);
		*changed = true;
	}
	return held;
}

void gw_release_all(struct gw_book *b, const struct gw_hooks *h)
{
	struct verr err = { 0 };

	/*
	 * Failed ones too: a gateway that stopped answering may be back and
	 * still hold the lease it gave us before.
	 */
	for (size_t i = 0; i < b->n; i++) {
		if (!b->v[i].lease_url[0])
			continue;
		if (h->release(h->arg, b->v[i].lease_url, &err) < 0)
			hook_note(h, "standby %s: could not release the lease: %.300s",
				  b->v[i].gateway, err.msg);
	}
	b->n = 0;
}
