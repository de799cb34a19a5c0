// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The huge-page heap (hugeheap.h). Each block is a 16-byte header (its
 * class, or the size of a block malloc gave) and the caller's bytes, which
 * keeps every block 16-byte aligned. A free block of the region holds the
 * next free block of its class in its first bytes.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hugeheap.h"

#define REGION (2u << 20)	/* one PMD-sized huge page on x86-64 and arm64 */
/* Bigger blocks are rare and malloc keeps them; SQLite's statement journal
 * takes a 64 KiB chunk at once, its WAL recovery 36 KiB. */
#define MAX_BLOCK (256u << 10)
#define NCLASS 27		/* 32, 48, 64, 96, ... 256 KiB: header included */
#define FROM_MALLOC UINT32_MAX
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"

struct hdr {
	uint32_t cls;		/* a class, or FROM_MALLOC */
	uint32_t unused;
	uint64_t size;		/* FROM_MALLOC: the usable size */
};

_Static_assert(sizeof(struct hdr) == 16, "blocks stay 16-byte aligned");

static char *base, *next, *end;
static void *free_list[NCLASS];

static size_t class_size(unsigned int cls)
{
	return (size_t)(cls % 2 ? 48 : 32) << (cls / 2);
}

/* The smallest class that holds total bytes; total <= MAX_BLOCK. */
static unsigned int class_of(size_t total)
{
	unsigned int cls = 0;

	while (class_size(cls) < total)
		cls++;
	return cls;
}

/*
 * Would a MADV_HUGEPAGE region get huge pages? Read with open/read: stdio
 * would malloc a buffer, the very kind of page this saves.
 */
static bool thp_offered(void)
{
	char buf[128];
	ssize_t n;
	int fd;

	fd = open(THP_ENABLED, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strstr(buf, "[always]") || strstr(buf, "[madvise]");
}

bool hugeheap_init(void)
{
	char *m, *a;

	if (base)
		return true;
	if (!thp_offered())
		return false;
	/* Twice the size, to cut an aligned region out of it. */
	m = mmap(NULL, 2 * REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return false;
	a = (char *)(((uintptr_t)m + REGION - 1) & ~(uintptr_t)(REGION - 1));
	if (a > m)
		munmap(m, a - m);
	munmap(a + REGION, m + 2 * REGION - (a + REGION));
	if (madvise(a, REGION, MADV_HUGEPAGE) < 0) {
		munmap(a, REGION);
		return false;
	}
	base = next = a;
	end = a + REGION;
	return true;
}

static struct hdr *hdr_of(const void *p)
{
	return (struct hdr *)((char *)p - sizeof(struct hdr));
}

/* A block of the region, or NULL when the class is empty and the region full. */
static struct hdr *region_block(unsigned int cls)
{
	struct hdr *h = NULL;

	if (free_list[cls]) {
		h = free_list[cls];
		free_list[cls] = *(void **)(h + 1);
	} else if ((size_t)(end - next) >= class_size(cls)) {
		h = (struct hdr *)next;
		next += class_size(cls);
	}
	return h;
}

void *hugeheap_alloc(size_t n)
{
	size_t total = sizeof(struct hdr) + (n ? n : 1);
	struct hdr *h = NULL;
	unsigned int cls = 0;

	if (base && total <= MAX_BLOCK) {
		cls = class_of(total);
		h = region_block(cls);
	}
	if (h) {
		h->cls = cls;
	} else {
		if (total < n)
			return NULL;
		h = malloc(total);
		if (!h)
			return NULL;
		h->cls = FROM_MALLOC;
		h->size = total - sizeof(struct hdr);
	}
	return h + 1;
}

void hugeheap_free(void *p)
{
	struct hdr *h;

	if (!p)
		return;
	h = hdr_of(p);
	if (h->cls == FROM_MALLOC) {
		free(h);
		return;
	}
	*(void **)p = free_list[h->cls];
	free_list[h->cls] = h;
}

size_t hugeheap_size(const void *p)
{
	const struct hdr *h = hdr_of(p);

	return h->cls == FROM_MALLOC ? h->size : class_size(h->cls) - sizeof(struct hdr);
}

size_t hugeheap_roundup(size_t n)
{
	size_t total = sizeof(struct hdr) + (n ? n : 1);

	if (base && total <= MAX_BLOCK)
		return class_size(class_of(total)) - sizeof(struct hdr);
	return n;
}

void *hugeheap_realloc(void *p, size_t n)
{
	void *q;

	if (!p)
		return hugeheap_alloc(n);
	if (n <= hugeheap_size(p))
		return p;
	q = hugeheap_alloc(n);
	if (q) {
		memcpy(q, p, hugeheap_size(p));
		hugeheap_free(p);
	}
	return q;
}
