/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_KEY_H
#define VISP_KEY_H

#include <stdint.h>

#include "err.h"

/* cjdns public keys ("<52 base32 chars>.k") and the fc00::/8 addresses they hash to. */

#define KEY_BYTES 32
#define KEY_STRLEN 54	/* 52 base32 chars + ".k" */
#define KEY_BUFLEN (KEY_STRLEN + 1)
/* An IPv6 address as cjdns prints it (eight groups of four hex digits): 39 chars. */
#define IP6_BUFLEN 40

/*
 * Validate as cjdns does, and stricter: exactly 54 characters ending in ".k",
 * lowercase cjdns base32 only, zero leftover bits, an address in fc00::/8.
 * -EINVAL with err holding cjdns's own message: "key must be 52 characters
 * long", "key must end in .k", "failed to base-32 decode key" or "not a valid
 * cjdns public key".
 */
int key_parse(const char *s, uint8_t key[KEY_BYTES], struct verr *err);

void key_format(const uint8_t key[KEY_BYTES], char out[KEY_BUFLEN]);

/* The first 16 bytes of sha512(sha512(key)). */
void key_to_ip6(const uint8_t key[KEY_BYTES], uint8_t ip6[16]);

/* key_parse, then key_to_ip6. */
int key_str_to_ip6(const char *s, uint8_t ip6[16], struct verr *err);

/* key_parse, then the address in cjdns's zero-padded colon form (39 chars + NUL). */
int key_addr_str(const char *s, char out[IP6_BUFLEN], struct verr *err);

/*
 * The key of a cjdns node address "v<version>.<label>.<key>.k" (peerStats
 * addr, Core_nodeInfo myAddr), validated like key_parse. -EINVAL if malformed.
 */
int key_from_addr(const char *addr, char out[KEY_BUFLEN], struct verr *err);

#endif
