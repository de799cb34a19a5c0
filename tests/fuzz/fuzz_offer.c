// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * libFuzzer harness for the lease protocol's JSON parsers (lib/proto.c):
 * the offer and the GET /tunnels list a client takes from any gateway, and
 * the POST /lease body a gateway takes from any mesh node. Every input goes
 * to all three; objects exercise the first and the last, arrays the second.
 *
 * An offer that parses must render (proto_offer_json) to JSON that parses
 * again and renders to the same text: a client that saves the offer it got
 * must be able to read it back.
 *
 *   make fuzz FUZZ_TIME=60		(see tests/fuzz/README.md)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "proto.h"

#define MAX_ADS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void offer(const char *text, size_t len)
{
	struct offer *o = malloc(sizeof(*o)), *again = malloc(sizeof(*again));
	struct verr err = { 0 };
	char *json = NULL, *json2 = NULL;

	if (!o || !again)
		goto out;
	if (proto_parse_offer(text, len, o, &err) != 0)
		goto out;
	if (strlen(o->public_key) != KEY_STRLEN || strlen(o->gateway_key) != KEY_STRLEN ||
	    (!o->has_ipv4 && !o->has_ipv6) || o->nroutes < 0 || o->nroutes > PROTO_MAX_ROUTES ||
	    o->ngateways < 0 || o->ngateways > PROTO_MAX_ADDRS ||
	    o->nnameservers < 0 || o->nnameservers > PROTO_MAX_ADDRS)
		abort();
	json = proto_offer_json(o);
	if (!json)
		abort();
	if (proto_parse_offer(json, strlen(json), again, &err) != 0)
		abort();
	json2 = proto_offer_json(again);
	if (!json2 || strcmp(json, json2))
		abort();
out:
	free(json2);
	free(json);
	free(again);
	free(o);
}

static void tunnels(const char *text, size_t len)
{
	struct tunnel_ad ads[MAX_ADS];
	struct verr err = { 0 };
	int n;

	n = proto_parse_tunnels(text, len, ads, MAX_ADS, &err);
	if (n > MAX_ADS)
		abort();
	for (int i = 0; i < n; i++)
		if (strlen(ads[i].public_key) != KEY_STRLEN ||
		    strnlen(ads[i].lease_url, sizeof(ads[i].lease_url)) ==
			    sizeof(ads[i].lease_url) ||
		    strncmp(ads[i].lease_url, "http://", 7))
			abort();
}

static void lease_request(const char *text, size_t len)
{
	struct verr err = { 0 };
	char key[55];
	uint8_t raw[KEY_BYTES];

	if (proto_parse_lease_request(text, len, key, &err) == 0 &&
	    (strlen(key) != KEY_STRLEN || key_parse(key, raw, NULL) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;

	offer(text, size);
	tunnels(text, size);
	lease_request(text, size);
	return 0;
}
