// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * libFuzzer harness for the bencode decoder, which reads whatever arrives on
 * the cjdns admin socket. Anything that decodes must also encode, decode
 * again to the same canonical bytes, and render as JSON.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -D_GNU_SOURCE \
 *	tests/fuzz/fuzz_bencode.c lib/bencode.c lib/err.c -o fuzz_bencode
 *   ./fuzz_bencode -max_total_time=60
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bencode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bval *v = NULL, *again = NULL;
	char *enc = NULL, *enc2 = NULL, *json = NULL;
	size_t elen, elen2, jlen;
	struct verr err = { 0 };
	int ret;

	ret = bencode_decode((const char *)data, size, &v, &err);
	if (ret != 0 && ret != -EBADMSG && ret != -ENOMEM)
		abort();
	if (ret != 0)
		goto out;
	if (bencode_encode(v, &enc, &elen) != 0 || elen > size)
		abort();
	if (bencode_decode(enc, elen, &again, NULL) != 0 ||
	    bencode_encode(again, &enc2, &elen2) != 0 ||
	    elen2 != elen || memcmp(enc, enc2, elen))
		abort();
	if (bval_to_json(v, &json, &jlen) != 0 || strlen(json) != jlen)
		abort();
out:
	free(json);
	free(enc2);
	free(enc);
	bval_free(again);
	bval_free(v);
	return 0;
}
