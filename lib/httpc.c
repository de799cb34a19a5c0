// SPDX-License-Identifier: GPL-3.0-or-later
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpc.h"

/*
 * libcurl is loaded when the first request is made, not at process start:
 * it drags in some thirty shared libraries (TLS, LDAP, Kerberos, ...) that
 * cost about 7 ms and 6 MiB on every run, and most runs of visp (lease
 * serve, a healthy client connect, everything on a gateway) make no HTTP
 * request at all. Only the functions visp uses are looked up.
 */
#define CURL_SONAME "libcurl.so.4"

static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *c);
	CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *c);
	const char *(*easy_strerror)(CURLcode rc);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *c);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *c);
	CURLMcode (*multi_perform)(CURLM *m, int *running);
	CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd *fds, unsigned n, int ms, int *nfds);
	CURLMsg *(*multi_info_read)(CURLM *m, int *left);
	CURLMcode (*multi_cleanup)(CURLM *m);
} C;

static int load_curl(struct verr *err)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define S(field, fn) { #fn, offsetof(__typeof__(C), field) }
		S(global_init, curl_global_init),	S(easy_init, curl_easy_init),
		S(easy_setopt, curl_easy_setopt),	S(easy_perform, curl_easy_perform),
		S(easy_getinfo, curl_easy_getinfo),	S(easy_cleanup, curl_easy_cleanup),
		S(easy_strerror, curl_easy_strerror),	S(slist_append, curl_slist_append),
		S(slist_free_all, curl_slist_free_all),	S(multi_init, curl_multi_init),
		S(multi_add_handle, curl_multi_add_handle),
		S(multi_remove_handle, curl_multi_remove_handle),
		S(multi_perform, curl_multi_perform),	S(multi_poll, curl_multi_poll),
		S(multi_info_read, curl_multi_info_read), S(multi_cleanup, curl_multi_cleanup),
#undef S
	};
	static void *lib;

	if (lib)
		return 0;
	lib = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return verr_set(err, -ENOSYS, "cannot load %s: %s", CURL_SONAME, dlerror());
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = dlsym(lib, syms[i].name);

		if (!f) {
			dlclose(lib);
			lib = NULL;
			return verr_set(err, -ENOSYS, "%s lacks %s", CURL_SONAME, syms[i].name);
		}
		memcpy((char *)&C + syms[i].off, &f, sizeof(f));
	}
	return 0;
}

struct sink {
	struct httpc_resp *r;
	size_t max;
	int too_big;
};

/* Returning less than given makes curl fail the transfer: that is the cap. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	char *p;

	if (s->r->len + n > s->max) {
		s->too_big = 1;
		return 0;
	}
	p = realloc(s->r->body, s->r->len + n + 1);
	if (!p)
		return 0;
	memcpy(p + s->r->len, ptr, n);
	s->r->body = p;
	s->r->len += n;
	p[s->r->len] = '\0';
	return n;
}

static int global_init(struct verr *err)
{
	static int done;
	int ret;

	if (done)
		return 0;
	ret = load_curl(err);
	if (ret < 0)
		return ret;
	if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return verr_set(err, -EIO, "cannot initialise libcurl");
	done = 1;
	return 0;
}

static CURL *make_easy(const char *method, const char *url, const char *json_body,
		       const char *source, int timeout_ms, struct sink *sink,
		       struct curl_slist **headers)
{
	CURL *c = C.easy_init();
	char iface[128];

	if (!c)
		return NULL;
	C.easy_setopt(c, CURLOPT_URL, url);
	C.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	C.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	C.easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	C.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	C.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	C.easy_setopt(c, CURLOPT_WRITEDATA, sink);
	C.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	C.easy_setopt(c, CURLOPT_USERAGENT, "visp/" VISP_VERSION);
	/* The gateway knows us by our source address: send from the fc address. */
	if (source) {
		snprintf(iface, sizeof(iface), "host!%s", source);
		C.easy_setopt(c, CURLOPT_INTERFACE, iface);
	}
	C.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (json_body) {
		*headers = C.slist_append(NULL, "Content-Type: application/json");
		C.easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
		C.easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
		C.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json_body));
	} else if (!strcmp(method, "GET")) {
		C.easy_setopt(c, CURLOPT_HTTPGET, 1L);
		C.easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	}
	return c;
}

static void finish(CURL *c, CURLcode rc, struct sink *s)
{
	curl_off_t connect_us = 0;

	if (rc == CURLE_OK) {
		C.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->r->status);
		s->r->connected = 1;
		return;
	}
	s->r->status = 0;
	s->r->connected = C.easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK &&
			  connect_us > 0;
	snprintf(s->r->error, sizeof(s->r->error), "%s",
		 s->too_big ? "response body too large" : C.easy_strerror(rc));
}

int httpc_request(const char *method, const char *url, const char *json_body,
		  const char *source, int timeout_ms, size_t max_body, struct httpc_resp *out,
		  struct verr *err)
{
	struct sink sink = { .r = out, .max = max_body };
	struct curl_slist *headers = NULL;
	CURL *c;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = global_init(err);
	if (ret < 0)
		return ret;
	c = make_easy(method, url, json_body, source, timeout_ms, &sink, &headers);
	if (!c)
		return -ENOMEM;
	finish(c, C.easy_perform(c), &sink);
	C.easy_cleanup(c);
	C.slist_free_all(headers);
	if (!out->status)
		return verr_set(err, out->connected ? -EPROTO : -EHOSTUNREACH, "%s %s: %s", method,
				url, out->error);
	return 0;
}

int httpc_get_many(const char *const *urls, size_t n, const char *source, int timeout_ms,
		   size_t max_body, struct httpc_resp *outs, struct verr *err)
{
	struct sink *sinks = calloc(n ? n : 1, sizeof(*sinks));
	CURL **easies = calloc(n ? n : 1, sizeof(*easies));
	struct curl_slist *unused = NULL;
	CURLM *m = NULL;
	CURLMsg *msg;
	int running = 0, left, ret = -ENOMEM;

	if (!sinks || !easies)
		goto out;
	ret = global_init(err);
	if (ret < 0)
		goto out;
	m = C.multi_init();
	if (!m) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		sinks[i] = (struct sink){ .r = &outs[i], .max = max_body };
		easies[i] = make_easy("GET", urls[i], NULL, source, timeout_ms, &sinks[i], &unused);
		if (!easies[i]) {
			ret = -ENOMEM;
			goto out;
		}
		C.easy_setopt(easies[i], CURLOPT_PRIVATE, &sinks[i]);
		C.multi_add_handle(m, easies[i]);
	}
	do {
		if (C.multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			C.multi_poll(m, NULL, 0, 200, NULL);
		while ((msg = C.multi_info_read(m, &left))) {
			struct sink *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			C.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			finish(msg->easy_handle, msg->data.result, s);
		}
	} while (running);
	ret = 0;
out:
	for (size_t i = 0; easies && i < n; i++) {
		if (!easies[i])
			continue;
		C.multi_remove_handle(m, easies[i]);
		C.easy_cleanup(easies[i]);
	}
	if (m)
		C.multi_cleanup(m);
	free(easies);
	free(sinks);
	return ret;
}

void httpc_resp_free(struct httpc_resp *r)
{
	if (!r)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}
