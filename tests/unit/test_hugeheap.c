// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "hugeheap.h"

/* Blocks are aligned, hold what was asked, keep their bytes, come back after free. */
static void blocks(void **state)
{
	size_t sizes[] = { 0, 1, 15, 16, 17, 100, 4096, 4096 + 300, 65536 + 8, 300000 };
	void *p[sizeof(sizes) / sizeof(sizes[0])];
	size_t n = sizeof(sizes) / sizeof(sizes[0]);

	for (size_t i = 0; i < n; i++) {
		p[i] = hugeheap_alloc(sizes[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		assert_true(hugeheap_size(p[i]) >= sizes[i]);
		assert_true(hugeheap_roundup(sizes[i]) >= sizes[i]);
		memset(p[i], (int)i + 1, sizes[i]);
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < sizes[i]; j++)
			if (((unsigned char *)p[i])[j] != i + 1)
				fail_msg("block %zu byte %zu overwritten", i, j);
	for (size_t i = 0; i < n; i++)
		hugeheap_free(p[i]);
	hugeheap_free(NULL);
}

/* A freed block of the region is the next one of its class. */
static void reuse(void **state)
{
	void *a, *b;

	if (!hugeheap_init())
		skip();	/* no huge pages here: everything is malloc's */
	a = hugeheap_alloc(100);
	assert_non_null(a);
	hugeheap_free(a);
	b = hugeheap_alloc(90);
	assert_ptr_equal(a, b);
	hugeheap_free(b);
}

/* Growing keeps the bytes; shrinking, or growing within the class, keeps the block. */
static void grow(void **state)
{
	unsigned char *p, *q;

	p = hugeheap_realloc(NULL, 40);
	assert_non_null(p);
	for (int i = 0; i < 40; i++)
		p[i] = (unsigned char)i;
	q = hugeheap_realloc(p, 10);
	assert_ptr_equal(p, q);
	q = hugeheap_realloc(p, hugeheap_size(p));
	assert_ptr_equal(p, q);
	q = hugeheap_realloc(p, 5000);
	assert_non_null(q);
	for (int i = 0; i < 40; i++)
		assert_int_equal(q[i], i);
	p = hugeheap_realloc(q, 400000);	/* past the biggest class: malloc's */
	assert_non_null(p);
	for (int i = 0; i < 40; i++)
		assert_int_equal(p[i], i);
	assert_true(hugeheap_size(p) >= 400000);
	hugeheap_free(p);
}

/* A full region hands out malloc's blocks, and takes its own back as before. */
static void full(void **state)
{
	enum { N = 64 };
	void *p[N];

	if (!hugeheap_init())
		skip();
	for (int i = 0; i < N; i++) {
		p[i] = hugeheap_alloc(100000);	/* 32 of these would fill 2 MiB */
		assert_non_null(p[i]);
		memset(p[i], 0xa5, 100000);
	}
	for (int i = 0; i < N; i++)
		hugeheap_free(p[i]);
	for (int i = 0; i < N; i++) {
		p[i] = hugeheap_alloc(100000);
		assert_non_null(p[i]);
	}
	for (int i = 0; i < N; i++)
		hugeheap_free(p[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(blocks),
		cmocka_unit_test(reuse),
		cmocka_unit_test(grow),
		cmocka_unit_test(full),
	};
	/* A block from before init is malloc's and must still free. */
	void *early = hugeheap_alloc(10);

	if (!early)
		return 1;
	hugeheap_init();
	hugeheap_free(early);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
