// SPDX-License-Identifier: GPL-3.0-or-later
#include <dlfcn.h>
#include <errno.h>

#include "dl.h"

int dl_open(void **handle, const char *soname, const struct dl_sym *syms, size_t n,
	    struct verr *err)
{
	void *h;

	if (*handle)
		return 0;
	h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return verr_set(err, -ENOSYS, "cannot load %s: %s", soname, dlerror());
	for (size_t i = 0; i < n; i++) {
		*syms[i].ptr = dlsym(h, syms[i].name);
		if (!*syms[i].ptr) {
			dlclose(h);
			return verr_set(err, -ENOSYS, "%s lacks %s", soname, syms[i].name);
		}
	}
	*handle = h;
	return 0;
}
