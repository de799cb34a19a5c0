/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_FILEUTIL_H
#define VISP_FILEUTIL_H

/*
 * The small file, lock and clock helpers every module needs, once: the
 * client state, the kernel-state record, the nft parts, the config, the
 * locks and the deadlines all go through these.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "err.h"

/* mkdir -p: every missing component of dir, with mode (existing ones are left alone). */
int file_mkdir_p(const char *dir, mode_t mode, struct verr *err);

/* What file_read checks before reading. */
enum {
	FILE_REGULAR = 1 << 0,		/* refuse what is not a regular file */
	FILE_ROOT_OWNED = 1 << 1,	/* refuse what root does not own or others may write */
	FILE_ENOENT_QUIET = 1 << 2,	/* a missing file: -ENOENT with no message */
	FILE_NOFOLLOW = 1 << 3,		/* refuse a symbolic link (-ELOOP): visp's own state */
};

/*
 * Read a whole file of at most max bytes into *out (NUL-terminated, caller
 * frees); *len (may be NULL) gets its length. Larger files fail with -EFBIG.
 */
int file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len,
	      struct verr *err);

/*
 * Replace path with len bytes of data: written to a temporary file beside
 * it, fsync'd, then renamed, so a reader sees the old content or the new,
 * never half. The temporary file is removed on failure.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct verr *err);

/*
 * How long a run waits for another run's lock on visp's kernel state before
 * it gives up with an error: each holder is bounded by its own timeouts, so
 * only a holder that is stuck (stopped, on a hung file system) lasts this
 * long, and runs from a timer or cron must not pile up behind it.
 */
#define FILE_LOCK_WAIT_MS 60000

/*
 * Take an exclusive flock on fd. wait_ms < 0 waits as long as it takes (in
 * the kernel); otherwise it polls until wait_ms have passed and then fails
 * with -EBUSY. Other failures return -errno.
 */
int file_flock(int fd, int wait_ms);

/*
 * -ELOOP, said plainly: path is a symbolic link where visp opens with
 * O_NOFOLLOW (its state and run directories).
 */
int file_link_refused(const char *path, struct verr *err);

/*
 * Open visp's own state file path for reading with stdio, never through a
 * symbolic link (NULL and errno ELOOP): a link in a run or state directory
 * is not visp's, whoever put it there.
 */
FILE *file_fopen_state(const char *path);

/*
 * Open (creating with mode) the lock file path and file_flock it; *fd = -1
 * on failure. A symbolic link there is refused (-ELOOP): root would
 * otherwise create the file it names, wherever that is.
 */
int file_lock(const char *path, mode_t mode, int wait_ms, int *fd, struct verr *err);

/*
 * Close an open_memstream() stream f and hand its text (*buf) to *out. A
 * failed final flush is out of memory: the text is freed, *out is NULL.
 * Either way *buf is NULL afterwards and f is closed.
 */
int memstream_finish(FILE *f, char **buf, char **out, struct verr *err);

/* CLOCK_MONOTONIC in milliseconds: for deadlines, never for dates. */
long long mono_ms(void);

void sleep_ms(int ms);

#endif
