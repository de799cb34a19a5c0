// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * libFuzzer harness for the config parser (lib/config.c config_parse): JSON
 * with comments, read with yajl, into a config holding the defaults. The
 * config is not network input, but it is hand-written and, under sudo, may
 * come from a user: a typo must give a message naming the line, never a
 * crash or a leak. Every error must carry a message.
 *
 * A "password_file" in the "cjdns" block makes config_parse read that file;
 * the fuzzer may name any path, which is harmless (it is only read).
 *
 *   make fuzz FUZZ_TIME=60		(see tests/fuzz/README.md)
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct visp_config *cfg = config_new_defaults();
	struct verr err = { 0 };
	int ret;

	if (!cfg)
		return 0;
	ret = config_parse(cfg, (const char *)data, size, "fuzz.conf", &err);
	if (ret > 0 || strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg))
		abort();
	if (ret < 0 && ret != -ENOMEM && !err.msg[0])
		abort();
	/* What the commands take for granted after a successful parse. */
	if (ret == 0 && (!cfg->policy || !cfg->state_dir || !cfg->run_dir || !cfg->cjdns_host ||
			 (strcmp(cfg->policy, "open") && strcmp(cfg->policy, "allowlist"))))
		abort();
	config_free(cfg);
	return 0;
}
