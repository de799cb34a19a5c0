/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_ERR_H
#define VISP_ERR_H

#include <stddef.h>

/*
 * The library never prints: a failing function returns a negative errno and,
 * when the caller passed one, leaves a human message in a struct verr. The
 * command layer prints "visp: NOUN VERB: <msg>" and maps the code to an exit
 * status (see exitcode.h).
 */
struct verr {
	int code;		/* negative errno, 0 when unset */
	char msg[512];
};

/* Record code and message (printf-style) in err (may be NULL); returns code. */
int verr_set(struct verr *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the message already in err with "fmt: " (adds context going up). */
int verr_wrap(struct verr *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void verr_clear(struct verr *err);

#endif
