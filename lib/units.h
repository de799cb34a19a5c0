/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_UNITS_H
#define VISP_UNITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * Rates and sizes as operators write them, tc's way for rates:
 *
 *	rate:  NUMBER[UNIT], UNIT one of bit kbit mbit gbit tbit (bits per
 *	       second, powers of 1000) or bps kbps mbps gbps tbps (bytes per
 *	       second, times 8); no unit: bit/s. "1.5mbit" is 1500000 bit/s.
 *	size:  NUMBER[UNIT], UNIT one of K M G T (powers of 1000, as ISPs
 *	       bill) or Ki Mi Gi Ti (powers of 1024), each with an optional
 *	       trailing B; no unit: bytes.
 *
 * Case does not matter; a number has at most 9 decimals. Errors quote the
 * text. "none" is not a rate or size here: callers that take it check first.
 */
#define UNITS_RATE_MIN 8000ULL			/* 8 kbit/s: HTB's granularity is bytes */
#define UNITS_RATE_MAX 34000000000ULL		/* HTB's 32-bit bytes/s rate field */
#define UNITS_SIZE_MAX (1ULL << 60)

int units_parse_rate(const char *s, uint64_t *bps, struct verr *err);
int units_parse_size(const char *s, uint64_t *bytes, struct verr *err);

/*
 * A lease's own limit, as lease grant takes it: "none" (0), "default" (-1:
 * the config's), else a rate (bit/s) or a size (bytes).
 */
int units_parse_limit(const char *s, bool rate, int64_t *out, struct verr *err);
/* DOWN[/UP] of such rates: one rate is both directions. */
int units_parse_rates(const char *s, int64_t *down, int64_t *up, struct verr *err);

/* "4mbit", "1500kbit", "123bit": exact, in the largest unit that divides it. */
char *units_format_rate(uint64_t bps, char *buf, size_t len);
/* "1.50G", "12.0M", "512": three significant digits, powers of 1000. */
char *units_format_size(uint64_t bytes, char *buf, size_t len);

/* Quota periods: each starts at local midnight, on Monday, on the 1st. */
enum units_period { PERIOD_DAY, PERIOD_WEEK, PERIOD_MONTH };
int units_parse_period(const char *s, enum units_period *p, struct verr *err);
const char *units_period_name(enum units_period p);
/* The local start of the period that holds t (unix seconds). */
int64_t units_period_start(enum units_period p, int64_t t);

#endif
