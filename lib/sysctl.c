// SPDX-License-Identifier: GPL-3.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sysctl.h"

#define PROC_SYS "/proc/sys/"

static int check_name(const char *name, struct verr *err)
{
	/* A name is a path under /proc/sys and nothing else. */
	if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 200)
		return verr_set(err, -EINVAL, "'%s' is not a sysctl name", name);
	return 0;
}

int sysctl_read(const char *name, char *buf, size_t len, struct verr *err)
{
	char path[256];
	ssize_t n;
	int fd = -1, ret;

	ret = check_name(name, err);
	if (ret < 0)
		goto out;
	snprintf(path, sizeof(path), PROC_SYS "%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = verr_set(err, -errno, "cannot read sysctl %s: %s", name, strerror(errno));
		goto out;
	}
	n = read(fd, buf, len - 1);
	if (n < 0) {
		ret = verr_set(err, -errno, "cannot read sysctl %s: %s", name, strerror(errno));
		goto out;
	}
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

int sysctl_write(const char *name, const char *value, struct verr *err)
{
	size_t len = strlen(value);
	char path[256];
	int fd = -1, ret;

	ret = check_name(name, err);
	if (ret < 0)
		goto out;
	snprintf(path, sizeof(path), PROC_SYS "%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = verr_set(err, -errno, "cannot set sysctl %s: %s", name, strerror(errno));
		goto out;
	}
	if (write(fd, value, len) != (ssize_t)len) {
		ret = verr_set(err, errno ? -errno : -EIO, "cannot set sysctl %s to %s: %s", name,
			       value, strerror(errno ? errno : EIO));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

int sysctl_if_path(int family, const char *ifname, const char *knob, char *buf, size_t len)
{
	if (!*ifname || strchr(ifname, '/') || !strcmp(ifname, ".") || !strcmp(ifname, ".."))
		return -EINVAL;
	if ((size_t)snprintf(buf, len, "net/%s/conf/%s/%s", family == AF_INET ? "ipv4" : "ipv6",
			     ifname, knob) >= len)
		return -ENAMETOOLONG;
	return 0;
}
