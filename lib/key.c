// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "key.h"
#include "sha2.h"

#define KEY_B32LEN 52

/* cjdns's base32 alphabet: no a, e, i, o. Lowercase only, though cjdns also takes uppercase. */
static const char b32_chars[32] = "0123456789bcdfghjklmnpqrstuvwxyz";

/*
 * cjdns packs 5 bits per character least significant first, so 52
 * characters carry 260 bits for a 256-bit key: the top 4 bits of the last
 * character must be zero, or two strings would name the same key.
 */
static int b32_decode(const char *s, uint8_t out[KEY_BYTES])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	int ret = -EINVAL;

	for (size_t i = 0; i < KEY_B32LEN; i++) {
		const char *p = memchr(b32_chars, s[i], sizeof(b32_chars));

		if (!p)
			goto out;
		acc |= (uint32_t)(p - b32_chars) << bits;
		bits += 5;
		if (bits >= 8) {
			out[o++] = acc & 0xff;
			acc >>= 8;
			bits -= 8;
		}
	}
	if (acc)
		goto out;
	ret = 0;
out:
	return ret;
}

void key_format(const uint8_t key[KEY_BYTES], char out[KEY_BUFLEN])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < KEY_BYTES; i++) {
		acc |= (uint32_t)key[i] << bits;
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32_chars[acc & 31];
			acc >>= 5;
			bits -= 5;
		}
	}
	if (bits)
		out[o++] = b32_chars[acc & 31];
	memcpy(out + o, ".k", 3);
}

void key_to_ip6(const uint8_t key[KEY_BYTES], uint8_t ip6[16])
{
	uint8_t h[SHA512_BYTES];

	sha512(key, KEY_BYTES, h);
	sha512(h, sizeof(h), h);
	memcpy(ip6, h, 16);
}

/*
 * The checks run in cjdns's order so that the messages match what cjdns
 * would say; only the exact length and the lowercase alphabet are visp's
 * own (cjdns takes "<key>.kGARBAGE" and uppercase without a word).
 */
int key_parse(const char *s, uint8_t key[KEY_BYTES], struct verr *err)
{
	uint8_t raw[KEY_BYTES], ip6[16];
	size_t len = s ? strlen(s) : 0;
	int ret = -EINVAL;

	if (len < KEY_B32LEN) {
		verr_set(err, ret, "key must be 52 characters long");
		goto out;
	}
	if (strcmp(s + len - 2, ".k")) {
		verr_set(err, ret, "key must end in .k");
		goto out;
	}
	if (len != KEY_STRLEN) {
		verr_set(err, ret, "key must be 52 characters long");
		goto out;
	}
	if (b32_decode(s, raw) < 0) {
		verr_set(err, ret, "failed to base-32 decode key");
		goto out;
	}
	key_to_ip6(raw, ip6);
	if (ip6[0] != 0xfc) {
		verr_set(err, ret, "not a valid cjdns public key");
		goto out;
	}
	memcpy(key, raw, KEY_BYTES);
	ret = 0;
out:
	return ret;
}

int key_str_to_ip6(const char *s, uint8_t ip6[16], struct verr *err)
{
	uint8_t raw[KEY_BYTES];
	int ret = key_parse(s, raw, err);

	if (ret == 0)
		key_to_ip6(raw, ip6);
	return ret;
}

int key_addr_str(const char *s, char out[IP6_BUFLEN], struct verr *err)
{
	uint8_t key[KEY_BYTES], ip6[16];
	int ret;

	ret = key_parse(s, key, err);
	if (ret < 0)
		goto out;
	key_to_ip6(key, ip6);
	for (int i = 0; i < 8; i++)
		snprintf(out + 5 * i, 6, "%02x%02x%s", ip6[2 * i], ip6[2 * i + 1],
			 i < 7 ? ":" : "");
out:
	return ret;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/*
 * "v21.0000.0000.0000.0013.<key>.k": a protocol version, the switch label
 * as dot-separated hex groups, then the key. Only the shape of the label is
 * checked, so a node that prints it differently still parses.
 */
int key_from_addr(const char *addr, char out[KEY_BUFLEN], struct verr *err)
{
	uint8_t raw[KEY_BYTES];
	const char *p, *key;
	size_t len = addr ? strlen(addr) : 0;
	int ret = -EINVAL;

	if (len < KEY_STRLEN + 5 || addr[0] != 'v' || !(addr[1] >= '0' && addr[1] <= '9'))
		goto bad;
	for (p = addr + 1; *p >= '0' && *p <= '9'; p++)
		;
	key = addr + len - KEY_STRLEN;
	if (*p++ != '.' || key[-1] != '.' || p >= key - 1)
		goto bad;
	/* The label: non-empty hex groups joined by single dots. */
	for (const char *q = p; q < key - 1; q++) {
		if (*q == '.' && (q == p || q[-1] == '.' || q + 1 == key - 1))
			goto bad;
		if (*q != '.' && !is_hex(*q))
			goto bad;
	}
	ret = key_parse(key, raw, err);
	if (ret < 0)
		goto out;
	memcpy(out, key, KEY_STRLEN + 1);
	goto out;
bad:
	verr_set(err, ret, "malformed cjdns address");
out:
	return ret;
}
