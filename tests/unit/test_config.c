// SPDX-License-Identifier: GPL-3.0-or-later
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cidr.h"
#include "config.h"

static char dir[] = "/tmp/visp-config-test.XXXXXX";

static int setup(void **state)
{
	if (!mkdtemp(dir))
		return -1;
	setenv("HOME", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *path_of(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void full_config(void **state)
{
	struct visp_config *cfg = NULL;
	struct verr err = { 0 };

	write_file("visp.conf",
		   "// a gateway\n"
		   "{\n"
		   "  \"cjdns\": { \"addr\": \"127.0.0.2\", \"port\": 4444, \"password\": \"pw\" },\n"
		   "  /* pools */\n"
		   "  \"ipv4_pool\": \"172.23.23.0/24\",\n"
		   "  \"routes\": [\"default\"],\n"
		   "  \"lease_time\": 3600,\n"
		   "  \"ndp_proxy\": true,\n"
		   "  \"share\": { \"lan\": [\"eth1\", \"eth2\"] }\n"
		   "}\n");
	assert_int_equal(config_load(&cfg, path_of("visp.conf"), false, &err), 0);
	assert_string_equal(cfg->cjdns_host, "127.0.0.2");
	assert_int_equal(cfg->cjdns_port, 4444);
	assert_string_equal(cfg->cjdns_password, "pw");
	assert_string_equal(cfg->ipv4_pool, "172.23.23.0/24");
	assert_int_equal(cfg->routes.n, 1);
	assert_int_equal(cfg->lease_time, 3600);
	assert_true(cfg->ndp_proxy);
	assert_true(cfg->discover);
	assert_int_equal(cfg->share_lan.n, 2);
	assert_string_equal(cfg->share_lan.v[1], "eth2");
	assert_string_equal(cfg->state_dir, "/var/lib/visp");
	config_free(cfg);
}

static void errors_name_file_and_line(void **state)
{
	struct visp_config *cfg = NULL;
	struct verr err = { 0 };

	write_file("bad.conf", "{\n  \"ipv4_pool\": \"172.23.23.0/24\",\n  \"lease_time\": \"1h\"\n}\n");
	assert_int_equal(config_load(&cfg, path_of("bad.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "bad.conf:3: 'lease_time' must be a non-negative integer"));

	write_file("typo.conf", "{\n\n  \"ipv4pool\": \"x\"\n}\n");
	assert_int_equal(config_load(&cfg, path_of("typo.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "typo.conf:3: 'ipv4pool' is not a visp setting"));

	write_file("syntax.conf", "{\n  \"ipv4_pool\": \"x\",\n  oops\n}\n");
	assert_int_equal(config_load(&cfg, path_of("syntax.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "syntax.conf:3: "));

	write_file("policy.conf", "{ \"policy\": \"allowlist\" }");
	assert_int_equal(config_load(&cfg, path_of("policy.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "no 'allowlist' file"));

	write_file("array.conf", "[1, 2]");
	assert_int_equal(config_load(&cfg, path_of("array.conf"), false, &err), -EINVAL);

	assert_int_equal(config_load(&cfg, path_of("absent.conf"), false, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "absent.conf"));
	assert_null(cfg);
}

static void credentials_fallback(void **state)
{
	struct visp_config *cfg = NULL;
	struct verr err = { 0 };
	char text[512];

	/* No cjdns block: ~/.cjdnsadmin, whose "config" names cjdroute.conf. */
	write_file("empty.conf", "{}");
	snprintf(text, sizeof(text),
		 "{\"addr\": \"127.0.0.9\", \"port\": 5555, \"password\": \"adminpw\", "
		 "\"config\": \"%s/cjdroute.conf\"}", dir);
	write_file(".cjdnsadmin", text);
	assert_int_equal(config_load(&cfg, path_of("empty.conf"), false, &err), 0);
	assert_string_equal(cfg->cjdns_host, "127.0.0.9");
	assert_int_equal(cfg->cjdns_port, 5555);
	assert_string_equal(cfg->cjdns_password, "adminpw");
	config_free(cfg);

	/* No ~/.cjdnsadmin: the admin block of cjdroute.conf (JSON with comments). */
	unlink(path_of(".cjdnsadmin"));
	write_file("cjdroute.conf", "{ // cjdns\n \"admin\": { \"bind\": \"127.0.0.1:11299\", "
		   "\"password\": \"frombind\" } }");
	snprintf(text, sizeof(text), "{ \"cjdroute_conf\": \"%s/cjdroute.conf\" }", dir);
	write_file("c.conf", text);
	assert_int_equal(config_load(&cfg, path_of("c.conf"), false, &err), 0);
	assert_int_equal(cfg->cjdns_port, 11299);
	assert_string_equal(cfg->cjdns_password, "frombind");
	config_free(cfg);
}

/* A file of depth nested arrays inside {"x": ...}, or bare when !in_object. */
static void write_deep(const char *name, size_t depth, bool in_object)
{
	char *text = malloc(2 * depth + 16), *p = text;

	assert_non_null(text);
	if (in_object)
		p += sprintf(p, "{\"x\": ");
	memset(p, '[', depth);
	memset(p + depth, ']', depth);
	p += 2 * depth;
	strcpy(p, in_object ? "}" : "");
	write_file(name, text);
	free(text);
}

/*
 * yajl_tree has no depth limit and frees recursively: 600 KB of nested
 * arrays in the config, ~/.cjdnsadmin or cjdroute.conf crashed visp. Each
 * is now a clear error naming the file.
 */
static void deep_nesting_refused(void **state)
{
	struct visp_config *cfg = NULL;
	struct verr err = { 0 };
	char text[512];

	write_deep("deep.conf", 300000, true);
	assert_int_equal(config_load(&cfg, path_of("deep.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "deep.conf: JSON nested deeper than"));
	assert_null(cfg);

	write_file("empty.conf", "{}");
	write_deep(".cjdnsadmin", 300000, false);
	assert_int_equal(config_load(&cfg, path_of("empty.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ".cjdnsadmin: JSON nested deeper than"));
	assert_null(cfg);

	unlink(path_of(".cjdnsadmin"));
	write_deep("cjdroute.conf", 300000, true);
	snprintf(text, sizeof(text), "{ \"cjdroute_conf\": \"%s/cjdroute.conf\" }", dir);
	write_file("c.conf", text);
	assert_int_equal(config_load(&cfg, path_of("c.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cjdroute.conf: JSON nested deeper than"));
	assert_null(cfg);

	/* Brackets and quotes in comments and strings do not count; real depth does. */
	write_file("ok.conf", "{ // don't [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
		   "  /* \" {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{ */\n"
		   "  \"routes\": [\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"\"] }");
	assert_int_equal(config_load(&cfg, path_of("ok.conf"), false, &err), 0);
	config_free(cfg);
	cfg = NULL;
	write_deep("d40.conf", 40, true);
	assert_int_equal(config_load(&cfg, path_of("d40.conf"), false, &err), -EINVAL);
	assert_null(cfg);
}

/* Under sudo a relative path would name a file of the user's choosing. */
static void relative_paths_refused(void **state)
{
	static const char *const keys[] = { "state_dir", "run_dir", "cjdroute_conf",
					    "allowlist" };
	struct visp_config *cfg = NULL;
	struct verr err = { 0 };
	char text[256], want[128];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(text, sizeof(text), "{\n  \"%s\": \"var/visp\"\n}\n", keys[i]);
		write_file("rel.conf", text);
		assert_int_equal(config_load(&cfg, path_of("rel.conf"), false, &err), -EINVAL);
		snprintf(want, sizeof(want), "rel.conf:2: '%s' must be an absolute path", keys[i]);
		assert_non_null(strstr(err.msg, want));
		assert_null(cfg);
	}
	write_file("rel.conf", "{ \"cjdns\": { \"password_file\": \"pw\" } }");
	assert_int_equal(config_load(&cfg, path_of("rel.conf"), false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'password_file' must be an absolute path"));
	write_file("abs.conf", "{ \"state_dir\": \"/var/lib/visp-x\", \"run_dir\": \"/run/x\" }");
	assert_int_equal(config_load(&cfg, path_of("abs.conf"), false, &err), 0);
	config_free(cfg);
}

static void hostport(void **state)
{
	char host[64];
	int port = 1;

	assert_int_equal(config_parse_hostport("127.0.0.1:11234", host, sizeof(host), &port, NULL), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 11234);
	assert_int_equal(config_parse_hostport("[::1]:99", host, sizeof(host), &port, NULL), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 99);
	assert_int_equal(config_parse_hostport("fc00::1", host, sizeof(host), &port, NULL), 0);
	assert_string_equal(host, "fc00::1");
	assert_int_equal(config_parse_hostport("h:0", host, sizeof(host), &port, NULL), -EINVAL);
	assert_int_equal(config_parse_hostport("h:70000", host, sizeof(host), &port, NULL), -EINVAL);
	assert_int_equal(config_parse_hostport("[::1", host, sizeof(host), &port, NULL), -EINVAL);
}

/* The client's resilience keys: lists or one string, "never", ranges, CIDRs. */
static void client_keys(void **state)
{
	struct visp_config *cfg = config_new_defaults();
	struct verr err = { 0 };
	struct cidr a;
	int port = -1;
	static const char *const bad[] = {
		"{\"probe\": [\"tcp:192.0.2.1\"]}", "{\"probe\": \"nowhere\"}",
		"{\"probe\": [\"tcp:192.0.2.1:0\"]}", "{\"probe\": [\"192.0.2.0/24\"]}",
		"{\"probe\": [1]}", "{\"standby\": 5}", "{\"standby\": -1}",
		"{\"failback\": \"later\"}", "{\"kill_switch\": 1}",
		"{\"kill_switch_allow\": [\"10.0.0.1/8\"]}", "{\"kill_switch_allow\": \"10.0.0.0/8\"}",
		"{\"probe\": [\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", \"1.1.1.4\", \"1.1.1.5\", "
		"\"1.1.1.6\", \"1.1.1.7\", \"1.1.1.8\", \"1.1.1.9\"]}",
	};
	const char *good = "{\"probe\": [\"192.0.2.1\", \"tcp:[2001:db8::1]:443\", "
			   "\"tcp:198.51.100.7:80\"], \"standby\": 2, \"failback\": \"never\", "
			   "\"kill_switch\": true, \"kill_switch_allow\": [\"10.0.0.0/8\"]}";

	assert_non_null(cfg);
	assert_int_equal(cfg->standby, 1);
	assert_int_equal(cfg->failback, 300);
	assert_false(cfg->kill_switch);
	assert_false(cfg->kill_switch_allow_set);
	assert_int_equal(config_parse(cfg, good, strlen(good), "c.conf", &err), 0);
	assert_int_equal(cfg->probe.n, 3);
	assert_int_equal(cfg->standby, 2);
	assert_int_equal(cfg->failback, -1);
	assert_true(cfg->kill_switch);
	assert_true(cfg->kill_switch_allow_set);
	assert_int_equal(config_parse_probe(cfg->probe.v[1], &a, &port), 1);
	assert_int_equal(a.family, AF_INET6);
	assert_int_equal(port, 443);
	assert_int_equal(config_parse_probe(cfg->probe.v[0], &a, &port), 1);
	assert_int_equal(port, 0);
	assert_int_equal(config_parse_probe("none", NULL, NULL), 0);
	config_free(cfg);

	cfg = config_new_defaults();
	good = "{\"probe\": \"192.0.2.9\", \"failback\": 60}";
	assert_int_equal(config_parse(cfg, good, strlen(good), "c.conf", &err), 0);
	assert_int_equal(cfg->probe.n, 1);
	assert_int_equal(cfg->failback, 60);
	config_free(cfg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = config_new_defaults();
		memset(&err, 0, sizeof(err));
		assert_int_equal(config_parse(cfg, bad[i], strlen(bad[i]), "c.conf", &err), -EINVAL);
		assert_non_null(strstr(err.msg, "c.conf:1: '"));
		config_free(cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_config),
		cmocka_unit_test(client_keys),
		cmocka_unit_test(errors_name_file_and_line),
		cmocka_unit_test(credentials_fallback),
		cmocka_unit_test(hostport),
		cmocka_unit_test(deep_nesting_refused),
		cmocka_unit_test(relative_paths_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
