/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_SHA2_H
#define VISP_SHA2_H

#include <stddef.h>
#include <stdint.h>

/*
 * SHA-256 and SHA-512 (FIPS 180-4): what cjdns hashes with, the admin
 * password (sha256) and keys into addresses (sha512 twice). visp's own
 * rather than libsodium's, so that no run loads a shared library for two
 * hash functions (README, design notes). Not for secrets that an attacker
 * times: nothing here branches on the data, but nothing is hardened either.
 */

#define SHA256_BYTES 32
#define SHA512_BYTES 64

struct sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes hashed so far */
	uint8_t block[64];	/* the next block, filled up to len % 64 */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* The digest; wipes the state (it may have held a password). */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_BYTES]);
void sha256(const void *data, size_t len, uint8_t out[SHA256_BYTES]);

void sha512(const void *data, size_t len, uint8_t out[SHA512_BYTES]);

/* The n bytes of in as lowercase hex, 2n characters and a NUL, into out. */
void hex_lower(char *out, const uint8_t *in, size_t n);

#endif
