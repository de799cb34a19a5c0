// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * file_read: whole files up to a limit, sized by fstat where it can be and
 * growing where it cannot (a FIFO says 0 bytes, like /proc files): exact
 * contents at every size around the first buffer and the limit, and -EFBIG
 * one byte past the limit. Symbolic links to visp's own state are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileutil.h"

static char dir[] = "/tmp/visp-test-fileutil.XXXXXX";
static char path[sizeof(dir) + 16];

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/f", dir);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return rmdir(dir);
}

/* n bytes of a pattern that shows a byte out of place. */
static char *pattern(size_t n)
{
	char *p = malloc(n + 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)('a' + i * 7 % 26);
	return p;
}

static void write_file(const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void expect(size_t n, size_t max)
{
	char *want = pattern(n), *got = NULL;
	size_t len = 0;
	struct verr err = { 0 };

	write_file(want, n);
	if (n > max) {
		assert_int_equal(file_read(path, max, 0, &got, &len, &err), -EFBIG);
		assert_null(got);
		assert_non_null(strstr(err.msg, "is larger than"));
	} else {
		assert_int_equal(file_read(path, max, 0, &got, &len, &err), 0);
		assert_int_equal(len, n);
		assert_memory_equal(got, want, n);
		assert_int_equal(got[n], '\0');
	}
	free(got);
	free(want);
}

static void regular_files(void **state)
{
	static const size_t sizes[] = { 0, 1, 300, 4095, 4096, 4097, 8192, 70000 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		expect(sizes[i], 1 << 20);
		expect(sizes[i], sizes[i]);		/* at the limit */
		if (sizes[i])
			expect(sizes[i], sizes[i] - 1);	/* one past it */
	}
}

/* A FIFO of n bytes: fstat knows nothing, the buffer grows as it reads. */
static void fifo(size_t n, size_t max)
{
	char *want = pattern(n), *got = NULL;
	size_t len = 0;
	pid_t pid;
	int st, ret;

	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY);
		size_t at = 0;
		ssize_t w;

		while (fd >= 0 && at < n && (w = write(fd, want + at, n - at)) > 0)
			at += (size_t)w;
		_exit(0);
	}
	ret = file_read(path, max, 0, &got, &len, NULL);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (n > max) {
		assert_int_equal(ret, -EFBIG);
	} else {
		assert_int_equal(ret, 0);
		assert_int_equal(len, n);
		assert_memory_equal(got, want, n);
	}
	unlink(path);
	free(got);
	free(want);
}

static void unsized_files(void **state)
{
	unlink(path);
	fifo(10, 1 << 20);
	fifo(4096, 1 << 20);
	fifo(50000, 1 << 20);
	fifo(50000, 50000);
	fifo(50001, 50000);
}

/*
 * Visp's own state is never read or locked through a symbolic link: one in
 * a run directory would have root create or read the file it names.
 */
static void symlinks_refused(void **state)
{
	char target[sizeof(dir) + 16], link_path[sizeof(dir) + 16], *text = NULL;
	struct verr err = { 0 };
	struct stat st;
	FILE *f;
	int fd = -1;

	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(link_path, sizeof(link_path), "%s/link", dir);
	assert_int_equal(symlink(target, link_path), 0);
	/* A lock: refused, and the file it names is not created. */
	assert_int_equal(file_lock(link_path, 0600, 0, &fd, &err), -ELOOP);
	assert_non_null(strstr(err.msg, "is a symbolic link: visp never follows links"));
	assert_int_equal(fd, -1);
	assert_int_equal(lstat(target, &st), -1);
	/* Reads: refused with FILE_NOFOLLOW and by file_fopen_state, followed otherwise. */
	write_file("x", 1);
	unlink(link_path);
	assert_int_equal(symlink(path, link_path), 0);
	assert_int_equal(file_read(link_path, 16, FILE_NOFOLLOW, &text, NULL, &err), -ELOOP);
	assert_null(text);
	errno = 0;
	f = file_fopen_state(link_path);
	assert_null(f);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(file_read(link_path, 16, 0, &text, NULL, &err), 0);
	assert_string_equal(text, "x");
	free(text);
	f = file_fopen_state(path);
	assert_non_null(f);
	fclose(f);
	/* A lock file of its own is taken. */
	assert_int_equal(file_lock(target, 0600, 0, &fd, &err), 0);
	close(fd);
	unlink(target);
	unlink(link_path);
}

/* A lock another holds: -EBUSY once the wait is over, and it says so. */
static void lock_deadline(void **state)
{
	struct verr err = { 0 };
	int held, fd = -1;

	held = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_EX), 0);
	assert_int_equal(file_lock(path, 0600, 100, &fd, &err), -EBUSY);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(err.msg, "another visp run holds"));
	close(held);
	assert_int_equal(file_lock(path, 0600, 100, &fd, &err), 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(regular_files),
		cmocka_unit_test(unsized_files),
		cmocka_unit_test(symlinks_refused),
		cmocka_unit_test(lock_deadline),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
