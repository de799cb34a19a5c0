// SPDX-License-Identifier: GPL-3.0-or-later
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dl.h"
#include "httpc.h"

/*
 * libcurl is loaded when the first request is made (dl.h): it drags in
 * some thirty shared libraries (TLS, LDAP, Kerberos, ...) that cost about
 * 7 ms and 6 MiB on every run, and most runs of visp (lease serve, a
 * healthy client connect, everything on a gateway) make no HTTP request.
 */
#define CURL_SYMS(X)							\
	X(curl_global_init) X(curl_easy_init) X(curl_easy_setopt)		\
	X(curl_easy_perform) X(curl_easy_getinfo) X(curl_easy_cleanup)		\
	X(curl_easy_strerror) X(curl_slist_append) X(curl_slist_free_all)	\
	X(curl_multi_init) X(curl_multi_add_handle) X(curl_multi_remove_handle)	\
	X(curl_multi_perform) X(curl_multi_poll) X(curl_multi_info_read)	\
	X(curl_multi_cleanup)
DL_LIBRARY(curl, "libcurl.so.4", CURL_SYMS)

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
	ret = curl_load(err);
	if (ret < 0)
		return ret;
	if (sym_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return verr_set(err, -EIO, "cannot initialise libcurl");
	done = 1;
	return 0;
}

static CURL *make_easy(const char *method, const char *url, const char *json_body,
		       const char *source, int timeout_ms, struct sink *sink,
		       struct curl_slist **headers)
{
	CURL *c = sym_curl_easy_init();
	char iface[128];

	if (!c)
		return NULL;
	sym_curl_easy_setopt(c, CURLOPT_URL, url);
	sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	sym_curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
	sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "visp/" VISP_VERSION);
	/*
	 * Never a proxy, whatever http_proxy, HTTPS_PROXY or ALL_PROXY say: the
	 * gateway knows us by the fc00::/8 address we send from, and a proxy
	 * would see our key and could answer in the gateway's name.
	 */
	sym_curl_easy_setopt(c, CURLOPT_PROXY, "");
	sym_curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	/* The gateway knows us by our source address: send from the fc address. */
	if (source) {
		snprintf(iface, sizeof(iface), "host!%s", source);
		sym_curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
	}
	sym_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (json_body) {
		*headers = sym_curl_slist_append(NULL, "Content-Type: application/json");
		sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, *headers);
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body);
		sym_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(json_body));
	} else if (!strcmp(method, "GET")) {
		sym_curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		sym_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	}
	return c;
}

static void finish(CURL *c, CURLcode rc, struct sink *s)
{
	curl_off_t connect_us = 0;

	if (rc == CURLE_OK) {
		sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->r->status);
		s->r->connected = 1;
		if (sym_curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK)
			s->r->rtt_us = (long)connect_us;
		return;
	}
	s->r->status = 0;
	s->r->connected =
		sym_curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us) == CURLE_OK &&
		connect_us > 0;
	snprintf(s->r->error, sizeof(s->r->error), "%s",
		 s->too_big ? "response body too large" : sym_curl_easy_strerror(rc));
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
	finish(c, sym_curl_easy_perform(c), &sink);
	sym_curl_easy_cleanup(c);
	sym_curl_slist_free_all(headers);
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
	m = sym_curl_multi_init();
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
		sym_curl_easy_setopt(easies[i], CURLOPT_PRIVATE, &sinks[i]);
		sym_curl_multi_add_handle(m, easies[i]);
	}
	do {
		if (sym_curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			sym_curl_multi_poll(m, NULL, 0, 200, NULL);
		while ((msg = sym_curl_multi_info_read(m, &left))) {
			struct sink *s = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			sym_curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			finish(msg->easy_handle, msg->data.result, s);
		}
	} while (running);
	ret = 0;
out:
	for (size_t i = 0; easies && i < n; i++) {
		if (!easies[i])
			continue;
		sym_curl_multi_remove_handle(m, easies[i]);
		sym_curl_easy_cleanup(easies[i]);
	}
	if (m)
		sym_curl_multi_cleanup(m);
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
