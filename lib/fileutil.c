// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileutil.h"

#define LOCK_POLL_MS 20

int file_mkdir_p(const char *dir, mode_t mode, struct verr *err)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0)
		return verr_set(err, -EINVAL, "empty directory name");
	if (len >= sizeof(buf))
		return verr_set(err, -ENAMETOOLONG, "'%s' is too long", dir);
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return verr_set(err, -errno, "cannot create '%s': %s", buf, strerror(errno));
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

static int check_stat(int fd, const char *path, unsigned flags, struct verr *err)
{
	struct stat st;

	if (!(flags & (FILE_REGULAR | FILE_ROOT_OWNED)))
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return verr_set(err, -EINVAL, "%s is not a regular file", path);
	if ((flags & FILE_ROOT_OWNED) && (st.st_uid != 0 || (st.st_mode & 022)))
		return verr_set(err, -EPERM, "refusing %s under sudo: it is not owned by root "
				"or is writable by others", path);
	return 0;
}

/*
 * Room for the file as fstat sizes it, and the byte past the end that tells
 * it has grown: a small heap block for a small file, where max + 1 bytes
 * (a MiB for a config) would be an mmap and a munmap each run, and a fresh
 * page fault. A page for files that do not know their size (/proc, FIFOs).
 */
static size_t first_cap(int fd, size_t max)
{
	struct stat st;
	size_t cap = 4096;

	if (fstat(fd, &st) == 0 && st.st_size > 0 && (unsigned long long)st.st_size < max)
		cap = (size_t)st.st_size + 1;
	return cap < max + 1 ? cap : max + 1;
}

int file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len,
	      struct verr *err)
{
	char *buf = NULL, *bigger;
	size_t n = 0, cap;
	ssize_t r = 0;
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | (flags & FILE_NOFOLLOW ? O_NOFOLLOW : 0));
	if (fd < 0) {
		if (errno == ENOENT && (flags & FILE_ENOENT_QUIET))
			return -ENOENT;
		if (errno == ELOOP && (flags & FILE_NOFOLLOW))
			return file_link_refused(path, err);
		return verr_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
	}
	ret = check_stat(fd, path, flags, err);
	if (ret < 0)
		goto out;
	cap = first_cap(fd, max);
	buf = malloc(cap + 1);
	if (!buf) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* One byte more than allowed tells a file at the limit from a larger one. */
	while (n < max + 1 && (r = read(fd, buf + n, cap - n)) > 0) {
		n += r;
		if (n < cap || cap == max + 1)
			continue;
		cap = cap < (max + 1) / 2 ? 2 * cap : max + 1;
		bigger = realloc(buf, cap + 1);
		if (!bigger) {
			ret = verr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		buf = bigger;
	}
	if (r < 0) {
		ret = verr_set(err, -errno, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (n > max) {
		ret = verr_set(err, -EFBIG, "'%s' is larger than %zu bytes", path, max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      struct verr *err)
{
	char tmp[PATH_MAX];
	int fd = -1, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid()) >= sizeof(tmp))
		return verr_set(err, -ENAMETOOLONG, "'%s' is too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return verr_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
	errno = 0;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
		int e = errno ? errno : EIO;

		ret = verr_set(err, -e, "cannot write '%s': %s", tmp, strerror(e));
		goto out;
	}
	ret = close(fd);
	fd = -1;
	if (ret < 0) {
		ret = verr_set(err, -errno, "cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		ret = verr_set(err, -errno, "cannot rename '%s': %s", tmp, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0)
		unlink(tmp);
	return ret;
}

int file_flock(int fd, int wait_ms)
{
	long long deadline = mono_ms() + wait_ms;

	for (;;) {
		if (flock(fd, wait_ms < 0 ? LOCK_EX : LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return -errno;
		if (mono_ms() >= deadline)
			return -EBUSY;
		sleep_ms(LOCK_POLL_MS);
	}
}

int file_link_refused(const char *path, struct verr *err)
{
	return verr_set(err, -ELOOP, "'%s' is a symbolic link: visp never follows links "
			"in its state and run directories", path);
}

FILE *file_fopen_state(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "r");
	if (!f)
		close(fd);
	return f;
}

int file_lock(const char *path, mode_t mode, int wait_ms, int *fd, struct verr *err)
{
	int ret;

	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
	if (*fd < 0 && errno == ELOOP)
		return file_link_refused(path, err);
	if (*fd < 0)
		return verr_set(err, -errno, "cannot open '%s': %s", path, strerror(errno));
	ret = file_flock(*fd, wait_ms);
	if (ret == -EBUSY)
		ret = wait_ms >= 1000 ?
		      verr_set(err, ret, "another visp run has held '%s' for over %d s", path,
			       wait_ms / 1000) :
		      verr_set(err, ret, "another visp run holds '%s'", path);
	else if (ret < 0)
		ret = verr_set(err, ret, "cannot lock '%s': %s", path, strerror(-ret));
	if (ret < 0) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

int memstream_finish(FILE *f, char **buf, char **out, struct verr *err)
{
	int ret = fclose(f) == 0 ? 0 : verr_set(err, -ENOMEM, "out of memory");

	*out = ret == 0 ? *buf : NULL;
	if (ret < 0)
		free(*buf);
	*buf = NULL;
	return ret;
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}
