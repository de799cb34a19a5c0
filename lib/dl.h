/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_DL_H
#define VISP_DL_H

#include <stddef.h>

#include "err.h"

/*
 * Shared libraries loaded on first use instead of at process start.
 *
 * Every visp run is a fresh process, often one a minute, often one per
 * request, and the dynamic loader's work for a library is paid on each run
 * whether the command needs it or not: libnftables (with libnftnl, libmnl,
 * libxtables, libjansson and libgmp) costs about 1.2 ms and 0.8 MiB, libnl
 * 0.7 ms, SQLite 0.5 ms, libcurl (thirty more libraries) 7 ms. A client
 * connect needs neither SQLite nor nftables, a lease request neither libnl
 * nor nftables, so those are opened by the module that uses them, when it
 * is first used. The build still compiles against their headers, and
 * packages must still depend on them.
 *
 * A module lists the functions it calls, once:
 *
 *	#define SQLITE_SYMS(X) X(sqlite3_open_v2) X(sqlite3_step) ...
 *	DL_LIBRARY(sqlite, "libsqlite3.so.0", SQLITE_SYMS)
 *
 * which defines, in that module, a pointer sym_<function> of the function's
 * own type for each (so calls are type-checked: sym_sqlite3_step(s)) and
 * `static int sqlite_load(struct verr *err)`, to call before the first use:
 * it opens the library once and resolves every symbol, or fails with
 * -ENOSYS and a message naming the library and what is missing.
 */
struct dl_sym {
	const char *name;
	void **ptr;
};

/* Open soname (once: *handle caches it) and resolve syms into their pointers. */
int dl_open(void **handle, const char *soname, const struct dl_sym *syms, size_t n,
	    struct verr *err);

#define DL_PTR_(fn) static __typeof__(fn) *sym_##fn;
#define DL_SYM_(fn) { #fn, (void **)&sym_##fn },

#define DL_LIBRARY(name, soname, SYMS)						\
	SYMS(DL_PTR_)								\
	static int name##_load(struct verr *err)				\
	{									\
		static const struct dl_sym syms[] = { SYMS(DL_SYM_) };		\
		static void *handle;						\
										\
		return dl_open(&handle, soname, syms,				\
			       sizeof(syms) / sizeof(syms[0]), err);		\
	}

#endif
