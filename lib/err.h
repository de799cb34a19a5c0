/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_ERR_H
#define VISP_ERR_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The library never prints: a failing function returns a negative errno and,
 * when the caller passed one, leaves a human message in a struct verr. The
 * command layer prints "visp: NOUN VERB: <msg>" and maps the code to an exit
 * status once, in exit_code() (cmd/common.c).
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

/*
 * For a series of best-effort steps: keep the first failure's code in *ret
 * and its message (e) in err (may be NULL); later ones are dropped.
 */
void verr_first(int *ret, int r, struct verr *err, const struct verr *e);

/*
 * Progress a long library operation reports for the command to show (the
 * library never prints): detail = only with -v. fn may be NULL.
 */
typedef void (*visp_note_fn)(void *arg, bool detail, const char *msg);

void visp_note(visp_note_fn fn, void *arg, bool detail, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
