// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * SHA-256 and SHA-512 against the FIPS 180-4 examples (NIST's "abc", the
 * two-block messages, a million "a"), the padding's edges (lengths around
 * the block and the length field, digests from Python's hashlib), and
 * streaming in pieces. The cjdns vectors (auth hashes, key to address) are
 * in test_cjdns and test_key.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sha2.h"

#define TWO_BLOCK_256 "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define TWO_BLOCK_512 "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn" \
		      "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"

static const struct {
	const char *msg;
	const char *sha256, *sha512;
} fips[] = {
	{ "",
	  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
	  "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e" },
	{ "abc",
	  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	  "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
	{ TWO_BLOCK_256,
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	  "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
	  "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445" },
	{ TWO_BLOCK_512,
	  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
	  "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
	  "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909" },
};

/* Byte i of the edge messages is i * 7 + 1 (mod 256). */
static const struct {
	size_t len;
	const char *sha256, *sha512;
} edges[] = {
	{ 55, "16fa57a0a3423a715d594516339f36189d6b5f93754a9714fef202616a9fabfe",
	  "44f6d40f3dc121a98043a1771d55650d64a6f196078beedd9c6ca6fe73011666"
	  "88bf9b5cb4c5057df7345665ef7f1a4ffddd0743615d9ececca811d304e2afd3" },
	{ 56, "c37b44e5f1b18554b36966f4f8e08bfbf3164c4b6c10374d12d89850892073c5",
	  "acf4d3a552c68dc641082395cf73955b7a496e67e4b7968e3d3154367f9ca548"
	  "b7b90e82d35bdc63c5abba19a5d8cd24ac3626c55219f311afea1c3c164a891b" },
	{ 63, "bbba992d2c85af960fb2987a1fd05e0aa82a3db3c740dd8982a9e273b75e36a3",
	  "12a188bdf4206eb6e7e7ab95a803fd7c748ffc87bf6a6f38dad0d6365913ab9a"
	  "d147954ca19dfeafec3003e5e11d55e94636d498ba158c565e55a02f7582e21b" },
	{ 64, "66bd4633ed6f71c4ecfa4763bf7ba1c8ec7612de9aa6c0578a7b675207c71e0b",
	  "1df51ad9960b51cd1d186dc402e9070ead3d517047225dee450a3d0a6a85c2e3"
	  "3759bea36f40ab8ef53360529e8a49fb83e9d9d2f03d49be1faa06c3054925f7" },
	{ 111, "1796402e8fc028fc1d3a61e3e4cac839872632c2d7b381cbd802d0768f5cfd13",
	  "3dfde1184fd99f233f98be4250f4edb9b535157909b668334370742204d97e04"
	  "7f1fd6a74bb5ba447f337286f421d9af957811f7ef62a458771457da126cb65e" },
	{ 112, "e19b57d2618b2898cb915bf2be9bf558f761faa651cd6c5f892610750714dea4",
	  "acc96c509e6d01787330a4c6a241e2cda9dcc2529dbe4288dbbcc3812133233c"
	  "4698831127cf6ed0b333632b22715a5ce53a0a1002a684367b71c98aa6d1d900" },
	{ 127, "44480fb9672845177f5368a08b69ea263275f2a5ec42e06a933370fe0d2968a4",
	  "a315910cb7812a8e66d87c0c49a42d93dbe97bf0240ee995792292c529256d93"
	  "f40199a59b3f6266343f302651fea1589e2040a2f3756126d3fe4f421a72079d" },
	{ 128, "e462c130fef8c97e34f7dc3ff3ad2f8b3533ab849af21c10531552a2852387a4",
	  "31f33a52b36dc2e70c83b604fa999a5cabf33bf70e4556fbed7bff10870c1b7b"
	  "241dd3f15d1ade24599f068fc58ab51e0028b0f0c98895c23358e8dee032ce06" },
};

static void check(const uint8_t *msg, size_t len, const char *want256, const char *want512)
{
	uint8_t d[SHA512_BYTES];
	char hex[2 * SHA512_BYTES + 1];

	sha256(msg, len, d);
	hex_lower(hex, d, SHA256_BYTES);
	assert_string_equal(hex, want256);
	sha512(msg, len, d);
	hex_lower(hex, d, SHA512_BYTES);
	assert_string_equal(hex, want512);
}

static void fips_examples(void **state)
{
	for (size_t i = 0; i < sizeof(fips) / sizeof(fips[0]); i++)
		check((const uint8_t *)fips[i].msg, strlen(fips[i].msg), fips[i].sha256,
		      fips[i].sha512);
}

static void million_a(void **state)
{
	uint8_t *m = malloc(1000000);

	assert_non_null(m);
	memset(m, 'a', 1000000);
	check(m, 1000000,
	      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	      "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
	      "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");
	free(m);
}

static void padding_edges(void **state)
{
	uint8_t m[128];

	for (size_t i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		check(m, edges[i].len, edges[i].sha256, edges[i].sha512);
}

/* Any cut into updates gives the one-shot digest; the final wipes the state. */
static void streaming(void **state)
{
	const char *msg = TWO_BLOCK_512 TWO_BLOCK_256 "abc";
	size_t len = strlen(msg);
	uint8_t whole[SHA256_BYTES], d[SHA256_BYTES];
	static const struct sha256 zero;

	sha256(msg, len, whole);
	for (size_t piece = 1; piece <= 70; piece++) {
		struct sha256 s;

		sha256_init(&s);
		for (size_t at = 0; at < len; at += piece)
			sha256_update(&s, msg + at, len - at < piece ? len - at : piece);
		sha256_update(&s, msg, 0);
		sha256_final(&s, d);
		assert_memory_equal(d, whole, sizeof(d));
		assert_memory_equal(&s, &zero, sizeof(s));
	}
}

/* key_to_ip6 hashes its own output: input and output may be one buffer. */
static void in_place(void **state)
{
	uint8_t buf[SHA512_BYTES] = "abc";
	char hex[2 * SHA512_BYTES + 1];

	sha512(buf, 3, buf);
	hex_lower(hex, buf, sizeof(buf));
	assert_string_equal(hex, fips[1].sha512);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fips_examples),
		cmocka_unit_test(million_a),
		cmocka_unit_test(padding_edges),
		cmocka_unit_test(streaming),
		cmocka_unit_test(in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
