// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * faults N COMMAND...: the median of the minor page faults (ru_minflt) of N
 * runs of COMMAND, its output discarded; each run must exit 0. A "{}" in
 * COMMAND is replaced by the next line of stdin (its first word) for each
 * run: a new key for each lease grant. posix_spawn, so the child makes no
 * copy-on-write faults of ours before exec.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int cmp(const void *a, const void *b)
{
	return *(const long *)a < *(const long *)b ? -1 : *(const long *)a > *(const long *)b;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0;
	long *v = calloc(n > 0 ? n : 1, sizeof(*v));
	posix_spawn_file_actions_t fa;
	int keyarg = 0;

	if (n <= 0 || !v) {
		fprintf(stderr, "usage: faults N COMMAND...\n");
		return 2;
	}
	for (int a = 3; a < argc; a++)
		if (!strcmp(argv[a], "{}"))
			keyarg = a;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	for (int i = 0; i < n; i++) {
		char line[256];
		struct rusage ru;
		pid_t pid;
		int st;

		/* "{}" in the command: the next line of stdin (a new key for each run). */
		if (keyarg) {
			if (!fgets(line, sizeof(line), stdin))
				return 1;
			line[strcspn(line, " \n")] = '\0';
			argv[keyarg] = line;
		}
		if (posix_spawn(&pid, argv[2], &fa, NULL, argv + 2, environ) != 0 ||
		    wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "faults: %s failed\n", argv[2]);
			return 1;
		}
		v[i] = ru.ru_minflt;
	}
	qsort(v, n, sizeof(*v), cmp);
	printf("%ld\n", v[n / 2]);
	return 0;
}
