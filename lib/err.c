// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int verr_set(struct verr *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

int verr_wrap(struct verr *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return 0;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* A message cut short still reads; the return value says whether it was. */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) >= (int)sizeof(err->msg))
		err->msg[sizeof(err->msg) - 2] = '~';
	return err->code;
}

void verr_clear(struct verr *err)
{
	if (!err)
		return;
	err->code = 0;
	err->msg[0] = '\0';
}

void visp_note(visp_note_fn fn, void *arg, bool detail, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, detail, msg);
}

void verr_first(int *ret, int r, struct verr *err, const struct verr *e)
{
	if (r < 0 && *ret == 0) {
		*ret = r;
		if (err)
			*err = *e;
	}
}
