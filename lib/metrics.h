/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_METRICS_H
#define VISP_METRICS_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "leasedb.h"

/*
 * The gateway's OpenMetrics text (for node_exporter's textfile collector):
 *
 *	visp_lease_down_bytes_total, visp_lease_up_bytes_total	counters, this period
 *	visp_lease_rate_limit_bits_per_second{direction}	gauges, limited leases only
 *	visp_lease_quota_bytes					gauge, leases with a quota
 *	visp_lease_quota_state					stateset: ok, throttled, blocked
 *	visp_pool_leases, visp_pool_free			gauges per pool
 *	visp_usage_sync_timestamp_seconds			gauge, the last fold
 *
 * Leases are labelled by key (and name when set); they are the current ones
 * and those with usage in the current period. Ends with "# EOF".
 */
int metrics_text(struct leasedb *db, const struct visp_config *cfg, int64_t now, char **out,
		 struct verr *err);
/*
 * Write text to path through a temporary file in its directory and rename,
 * mode 0644: the collector reads the old file or the new one, never half.
 */
int metrics_write(const char *path, const char *text, struct verr *err);

#endif
