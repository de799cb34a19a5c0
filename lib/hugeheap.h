/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_HUGEHEAP_H
#define VISP_HUGEHEAP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * A heap in one 2 MiB transparent huge page, for SQLite's memory.
 *
 * A visp run is a short process, and on small or virtual machines its cost
 * is mostly page faults: every fresh 4 KiB page of heap is one, 25-70 us
 * each. SQLite touches 50-60 of them in a lease grant (the page cache, the
 * parsed schema, the statements, the WAL index it rebuilds). Where the
 * kernel gives huge pages to the regions that ask (transparent_hugepage
 * "madvise" or "always"), all of that is one fault of one 2 MiB page, which
 * the kernel clears in a fraction of the time. The price is resident
 * memory: the whole 2 MiB counts, used or not.
 *
 * Blocks come in size classes (powers of two and 1.5 times them, 32 bytes
 * to 256 KiB) and freed blocks go back to their class's list, so a
 * long-running process (lease serve) reuses them; what does not fit (a
 * bigger block, a full region) comes from malloc, and goes back to free.
 * Not thread-safe: visp runs one thread.
 */

/* Map the region: false (nothing changes, malloc serves everything) when
 * the kernel would not give it a huge page, or the mapping fails. */
bool hugeheap_init(void);
void *hugeheap_alloc(size_t n);
void hugeheap_free(void *p);
void *hugeheap_realloc(void *p, size_t n);
/* What a block of n bytes really holds (a class size, or n rounded up). */
size_t hugeheap_roundup(size_t n);
/* The usable size of p, from hugeheap_alloc or hugeheap_realloc. */
size_t hugeheap_size(const void *p);

#endif
