// SPDX-License-Identifier: GPL-3.0-or-later
/* Rates, sizes and quota periods (units.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "units.h"

struct unit {
	const char *name;
	uint64_t mul;
};

/* The whole suffix must match one of these. */
static const struct unit rate_units[] = {
	{ "", 1 }, { "bit", 1 }, { "kbit", 1000ULL }, { "mbit", 1000000ULL },
	{ "gbit", 1000000000ULL }, { "tbit", 1000000000000ULL },
	{ "bps", 8 }, { "kbps", 8000ULL }, { "mbps", 8000000ULL }, { "gbps", 8000000000ULL },
	{ "tbps", 8000000000000ULL }, { NULL, 0 }
};

static const struct unit size_units[] = {
	{ "", 1 }, { "b", 1 },
	{ "k", 1000ULL }, { "m", 1000000ULL }, { "g", 1000000000ULL }, { "t", 1000000000000ULL },
	{ "kb", 1000ULL }, { "mb", 1000000ULL }, { "gb", 1000000000ULL },
	{ "tb", 1000000000000ULL },
	{ "ki", 1ULL << 10 }, { "mi", 1ULL << 20 }, { "gi", 1ULL << 30 }, { "ti", 1ULL << 40 },
	{ "kib", 1ULL << 10 }, { "mib", 1ULL << 20 }, { "gib", 1ULL << 30 },
	{ "tib", 1ULL << 40 }, { NULL, 0 }
};

/*
 * NUMBER[.FRACTION]UNIT in integers only (no float rounding): the value is
 * int * mul + frac * mul / 10^d, which must be whole (no fraction of a bit
 * or byte) and at most max.
 */
static int parse(const char *what, const char *s, const struct unit *units, uint64_t max,
		 uint64_t *out, struct verr *err)
{
	unsigned __int128 ip = 0, fp = 0, scale = 1, v;
	const char *p = s ? s : "";
	const struct unit *u;
	int digits = 0, fdigits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		ip = ip * 10 + (unsigned)(*p - '0');
		if (ip > max)
			goto big;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
			if (fdigits == 9)
				goto bad;
			fp = fp * 10 + (unsigned)(*p - '0');
			scale *= 10;
		}
		if (!fdigits)
			goto bad;
	}
	if (!digits)
		goto bad;
	for (u = units; u->name; u++)
		if (!strcasecmp(p, u->name))
			break;
	if (!u->name)
		goto bad;
	if (fp * u->mul % scale)
		goto bad;	/* a fraction of a bit or byte */
	v = ip * u->mul + fp * u->mul / scale;
	if (v > max)
		goto big;
	*out = (uint64_t)v;
	return 0;
big:
	return verr_set(err, -ERANGE, "%s '%s' is too large", what, s);
bad:
	return verr_set(err, -EINVAL, "'%s' is not a %s", s ? s : "", what);
}

int units_parse_rate(const char *s, uint64_t *bps, struct verr *err)
{
	int ret = parse("rate (e.g. 10mbit, 512kbit)", s, rate_units, UNITS_RATE_MAX, bps, err);

	if (ret == 0 && *bps < UNITS_RATE_MIN)
		ret = verr_set(err, -ERANGE, "rate '%s' is below the least, 8kbit", s);
	return ret;
}

int units_parse_size(const char *s, uint64_t *bytes, struct verr *err)
{
	int ret = parse("size (e.g. 50G, 500M)", s, size_units, UNITS_SIZE_MAX, bytes, err);

	if (ret == 0 && *bytes == 0)
		ret = verr_set(err, -ERANGE, "size '%s' is zero: use none for no quota", s);
	return ret;
}

int units_parse_limit(const char *s, bool rate, int64_t *out, struct verr *err)
{
	uint64_t v;
	int ret;

	if (!strcmp(s, "none") || !strcmp(s, "default")) {
		*out = s[0] == 'n' ? 0 : -1;
		return 0;
	}
	ret = rate ? units_parse_rate(s, &v, err) : units_parse_size(s, &v, err);
	if (ret == 0)
		*out = (int64_t)v;
	return ret;
}

int units_parse_rates(const char *s, int64_t *down, int64_t *up, struct verr *err)
{
	const char *slash = strchr(s, '/');
	char buf[64];
	int ret;

	if (!slash) {
		ret = units_parse_limit(s, true, down, err);
		*up = *down;
		return ret;
	}
	if ((size_t)(slash - s) >= sizeof(buf))
		return verr_set(err, -EINVAL, "'%s' is not a rate", s);
	memcpy(buf, s, slash - s);
	buf[slash - s] = '\0';
	ret = units_parse_limit(buf, true, down, err);
	return ret < 0 ? ret : units_parse_limit(slash + 1, true, up, err);
}

char *units_format_rate(uint64_t bps, char *buf, size_t len)
{
	static const char *const names[] = { "bit", "kbit", "mbit", "gbit", "tbit" };
	int i = 0;

	while (i < 4 && bps && bps % 1000 == 0) {
		bps /= 1000;
		i++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)bps, names[i]);
	return buf;
}

char *units_format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "KMGTPE";
	double v = (double)bytes;
	int i = -1;

	if (bytes < 1000) {
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
		return buf;
	}
	while (v >= 999.5 && i < 5) {
		v /= 1000;
		i++;
	}
	snprintf(buf, len, v < 9.995 ? "%.2f%c" : v < 99.95 ? "%.1f%c" : "%.0f%c", v, units[i]);
	return buf;
}

static const char *const period_names[] = { "day", "week", "month" };

int units_parse_period(const char *s, enum units_period *p, struct verr *err)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, period_names[i])) {
			*p = (enum units_period)i;
			return 0;
		}
	return verr_set(err, -EINVAL, "'%s' is not a period (day, week or month)", s ? s : "");
}

const char *units_period_name(enum units_period p)
{
	return period_names[p];
}

int64_t units_period_start(enum units_period p, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	if (p == PERIOD_WEEK)
		tm.tm_mday -= (tm.tm_wday + 6) % 7;	/* back to Monday */
	else if (p == PERIOD_MONTH)
		tm.tm_mday = 1;
	tm.tm_isdst = -1;	/* mktime finds out: a DST change may lie in between */
	return (int64_t)mktime(&tm);
}
