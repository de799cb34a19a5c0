// SPDX-License-Identifier: GPL-3.0-or-later
/*
 * The "inet visp" nftables table, assembled from parts (see nft.h), applied
 * through libnftables in single transactions.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dl.h"
#include "fileutil.h"
#include "nft.h"

/* Loaded by the commands that touch the table only (dl.h). */
#define NFT_SYMS(X)								\
	X(nft_ctx_new) X(nft_ctx_free) X(nft_ctx_buffer_output)			\
	X(nft_ctx_buffer_error) X(nft_ctx_get_output_buffer)			\
	X(nft_ctx_get_error_buffer) X(nft_run_cmd_from_buffer)			\
	X(nft_ctx_output_set_flags)
DL_LIBRARY(nftables, "libnftables.so.1", NFT_SYMS)

#define PART_MAX 16		/* parts in one table */
#define PART_NAME_MAX 32
#define TEXT_MAX (1 << 20)	/* a part file or listing larger than this is not ours */

/* Interface names go inside nft double quotes: keep to what needs no escaping. */
int nft_check_ifname(const char *what, const char *name, struct verr *err)
{
	size_t len = name ? strlen(name) : 0;

	if (!len || len >= IFNAMSIZ)
		return verr_set(err, -EINVAL, "%s interface name '%s' is not valid", what,
				name ? name : "");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = name[i];

		if (!isgraph(c) || c == '"' || c == '\\' || c == '/')
			return verr_set(err, -EINVAL, "%s interface name '%s' is not valid",
					what, name);
	}
	return 0;
}

int nft_gateway_text(const struct nft_gateway *gw, char **out, struct verr *err)
{
	char p4[CIDR_STRLEN] = "", p6[CIDR_STRLEN] = "";
	const char *t = gw->tun, *u = gw->uplink;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int ret;

	*out = NULL;
	ret = nft_check_ifname("tun", t, err);
	if (ret == 0)
		ret = nft_check_ifname("uplink", u, err);
	if (ret < 0)
		goto out;
	if (!strcmp(t, u)) {
		ret = verr_set(err, -EINVAL, "the uplink '%s' is the tun device", u);
		goto out;
	}
	if ((!gw->pool4 && !gw->pool6) || (gw->pool4 && gw->pool4->family != AF_INET) ||
	    (gw->pool6 && gw->pool6->family != AF_INET6)) {
		ret = verr_set(err, -EINVAL,
			       "the gateway needs an IPv4 pool, an IPv6 pool or both");
		goto out;
	}
	if (gw->pool4)
		cidr_format(gw->pool4, true, p4, sizeof(p4));
	if (gw->pool6)
		cidr_format(gw->pool6, true, p6, sizeof(p6));
	f = open_memstream(&buf, &len);
	if (!f) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * Interfaces are matched by name (iifname/oifname), not index: cjdroute
	 * re-creates its tun on restart and the rules must still hold.
	 * Forwarding: the pools out to the uplink, replies back, nothing else
	 * between the two (no spoofed sources out, no new connections in).
	 */
	/*
	 * The lease endpoint answers whoever's source address is a key's
	 * fc00::/8 address, trusting that cjdns carries the reply back to that
	 * key: true only for requests that came in through the tun. Any other
	 * interface (the uplink, a LAN) could bring a forged fc00::/8 source.
	 * Loopback stays open: only this host sends there, from its own
	 * addresses (local checks, a web server in front of a CGI).
	 */
	if (gw->listen_port > 0 && gw->listen_port < 65536) {
		fprintf(f, "\tchain gw_input {\n"
			   "\t\ttype filter hook input priority filter; policy accept;\n");
		fprintf(f, "\t\tiifname \"%s\" tcp dport %d accept\n", t, gw->listen_port);
		fprintf(f, "\t\tiifname \"lo\" tcp dport %d accept\n", gw->listen_port);
		fprintf(f, "\t\ttcp dport %d drop\n", gw->listen_port);
		fprintf(f, "\t}\n");
	}
	fprintf(f, "\tchain gw_forward {\n"
		   "\t\ttype filter hook forward priority filter; policy accept;\n");
	if (gw->pool4)
		fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" ip saddr %s accept\n", t, u, p4);
	if (gw->pool6)
		fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" ip6 saddr %s accept\n", t, u, p6);
	fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" drop\n", t, u);
	fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" ct state established,related accept\n", u, t);
	fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" drop\n", u, t);
	fprintf(f, "\t}\n");
	/*
	 * cjdns's tun MTU is about 1304: a TCP peer told a larger MSS sends
	 * segments that only get through with PMTU discovery, which too many
	 * paths break. "rt mtu" is the smaller of the routes' MTUs towards
	 * the packet's destination and back towards its source, so clamping
	 * the SYNs of both directions covers the tun either way (and the
	 * kernel only ever lowers an MSS). Priority mangle runs before the
	 * filter chain above.
	 */
	fprintf(f, "\tchain gw_mss {\n"
		   "\t\ttype filter hook forward priority mangle; policy accept;\n");
	fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" tcp flags syn / syn,rst "
		   "tcp option maxseg size set rt mtu\n", t, u);
	fprintf(f, "\t\tiifname \"%s\" oifname \"%s\" tcp flags syn / syn,rst "
		   "tcp option maxseg size set rt mtu\n", u, t);
	fprintf(f, "\t}\n");
	if (gw->pool4 || (gw->pool6 && gw->nat6)) {
		fprintf(f, "\tchain gw_postrouting {\n"
			   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
		if (gw->pool4)
			fprintf(f, "\t\toifname \"%s\" ip saddr %s masquerade\n", u, p4);
		if (gw->pool6 && gw->nat6)
			fprintf(f, "\t\toifname \"%s\" ip6 saddr %s masquerade\n", u, p6);
		fprintf(f, "\t}\n");
	}
	ret = memstream_finish(f, &buf, out, err);
	f = NULL;
out:
	if (f)
		fclose(f);
	free(buf);
	return ret;
}

/* The LANs (and extra, may be NULL) as an nft anonymous set: { "lan0", "lan1" }. */
static void put_set(FILE *f, const struct nft_share *sh, const char *extra1, const char *extra2)
{
	fputs("{ ", f);
	if (extra1)
		fprintf(f, "\"%s\", ", extra1);
	if (extra2)
		fprintf(f, "\"%s\", ", extra2);
	for (size_t i = 0; i < sh->nlans; i++)
		fprintf(f, "\"%s\"%s", sh->lans[i], i + 1 < sh->nlans ? ", " : " }");
}

static int check_share(const struct nft_share *sh, struct verr *err)
{
	int ret;

	ret = nft_check_ifname("tun", sh->tun, err);
	if (ret == 0 && sh->uplink)
		ret = nft_check_ifname("uplink", sh->uplink, err);
	if (ret < 0)
		return ret;
	if (!sh->nlans)
		return verr_set(err, -EINVAL, "no LAN interface to share with");
	if (sh->fallback && !sh->uplink)
		return verr_set(err, -EINVAL, "internet fallback needs an uplink");
	if (sh->uplink && !strcmp(sh->uplink, sh->tun))
		return verr_set(err, -EINVAL, "the uplink '%s' is the tun device", sh->uplink);
	for (size_t i = 0; i < sh->nlans; i++) {
		const char *l = sh->lans[i];

		ret = nft_check_ifname("LAN", l, err);
		if (ret < 0)
			return ret;
		if (!strcmp(l, sh->tun))
			return verr_set(err, -EINVAL, "LAN '%s' is the cjdns tun device", l);
		if (sh->uplink && !strcmp(l, sh->uplink))
			return verr_set(err, -EINVAL, "LAN '%s' is the uplink", l);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(l, sh->lans[j]))
				return verr_set(err, -EINVAL, "LAN '%s' is named twice", l);
	}
	return 0;
}

int nft_share_text(const struct nft_share *sh, char **out, struct verr *err)
{
	const char *t = sh->tun, *u = sh->fallback ? sh->uplink : NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int ret;

	*out = NULL;
	ret = check_share(sh, err);
	if (ret < 0)
		goto out;
	f = open_memstream(&buf, &len);
	if (!f) {
		ret = verr_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/*
	 * By interface name, like the gateway part. The rules do not depend on
	 * the lease: routing does. With a lease, cjdns routes the internet into
	 * the tun and LAN traffic follows it there; without one it would go to
	 * the uplink, where the last rule stops it. So the part is right in
	 * both states and client connect/disconnect never has to touch it.
	 * Nothing from the tun (mesh nodes, the gateway) opens a connection
	 * into a LAN; replies are let through.
	 */
	fprintf(f, "\tchain share_forward {\n"
		   "\t\ttype filter hook forward priority filter; policy accept;\n");
	fprintf(f, "\t\tiifname \"%s\" oifname ", t);
	put_set(f, sh, NULL, NULL);
	fprintf(f, " ct state established,related accept\n");
	fprintf(f, "\t\tiifname \"%s\" oifname ", t);
	put_set(f, sh, NULL, NULL);
	fprintf(f, " drop\n");
	if (u) {
		fprintf(f, "\t\tiifname \"%s\" oifname ", u);
		put_set(f, sh, NULL, NULL);
		fprintf(f, " ct state established,related accept\n");
		fprintf(f, "\t\tiifname \"%s\" oifname ", u);
		put_set(f, sh, NULL, NULL);
		fprintf(f, " drop\n");
	}
	/*
	 * No leak: a LAN host opens nothing out of any interface but the tun
	 * and the LANs (and the uplink with fallback). It may still answer
	 * what reached it from elsewhere by the operator's own routing.
	 */
	fputs("\t\tiifname ", f);
	put_set(f, sh, NULL, NULL);
	fputs(" oifname != ", f);
	put_set(f, sh, t, u);
	fputs(" ct direction reply accept\n", f);
	fputs("\t\tiifname ", f);
	put_set(f, sh, NULL, NULL);
	fputs(" oifname != ", f);
	put_set(f, sh, t, u);
	fputs(" drop\n", f);
	fprintf(f, "\t}\n");
	/* LAN hosts think their MTU is 1500; the tun's is about 1304 (see the gateway's). */
	fprintf(f, "\tchain share_mss {\n"
		   "\t\ttype filter hook forward priority mangle; policy accept;\n");
	fputs("\t\tiifname ", f);
	put_set(f, sh, NULL, NULL);
	fprintf(f, " oifname \"%s\" tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n",
		t);
	fprintf(f, "\t\tiifname \"%s\" oifname ", t);
	put_set(f, sh, NULL, NULL);
	fputs(" tcp flags syn / syn,rst tcp option maxseg size set rt mtu\n", f);
	fprintf(f, "\t}\n");
	/*
	 * Masquerade picks the tun address the node itself would use for the
	 * destination: its fc address for fc00::/8, the leased IPv4 address,
	 * and the leased IPv6 address for the internet (cjdns drops anything
	 * else). iifname matches forwarded packets in postrouting too.
	 */
	fprintf(f, "\tchain share_postrouting {\n"
		   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	fputs("\t\tiifname ", f);
	put_set(f, sh, NULL, NULL);
	fprintf(f, " oifname \"%s\" masquerade\n", t);
	if (u) {
		fputs("\t\tiifname ", f);
		put_set(f, sh, NULL, NULL);
		fprintf(f, " oifname \"%s\" masquerade\n", u);
	}
	fprintf(f, "\t}\n");
	ret = memstream_finish(f, &buf, out, err);
	f = NULL;
out:
	if (f)
		fclose(f);
	free(buf);
	return ret;
}

int nft_table_text(const char *const *texts, int n, char **out, struct verr *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	*out = NULL;
	f = open_memstream(&buf, &len);
	if (!f)
		return verr_set(err, -ENOMEM, "out of memory");
	/* "add" first so that "delete" finds a table even on the first run. */
	fprintf(f, "add table " NFT_FAMILY " " NFT_TABLE "\n"
		   "delete table " NFT_FAMILY " " NFT_TABLE "\n");
	if (n > 0) {
		fprintf(f, "table " NFT_FAMILY " " NFT_TABLE " {\n");
		for (int i = 0; i < n; i++) {
			size_t tl = strlen(texts[i]);

			fputs(texts[i], f);
			if (tl && texts[i][tl - 1] != '\n')
				fputc('\n', f);
		}
		fprintf(f, "}\n");
	}
	return memstream_finish(f, &buf, out, err);
}

/* nft's error text: the first line, "Error: " dropped. */
static int nft_error(const char *text, const char *what, struct verr *err)
{
	char line[256];
	const char *s = text ? text : "";
	size_t n;
	int code = -EIO;

	if (!strncmp(s, "Error: ", 7))
		s += 7;
	n = strcspn(s, "\n");
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	if (strstr(text ? text : "", "Operation not permitted"))
		code = -EPERM;
	else if (strstr(text ? text : "", "No such file or directory"))
		code = -ENOENT;
	return verr_set(err, code, "nftables: %s: %s", what, n ? line : "failed");
}

/*
 * libnftables itself prints "Operation not permitted (you must be root)" on
 * stderr when it lacks CAP_NET_ADMIN, and a library of visp must not print:
 * find out first.
 */
static bool can_admin_net(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return geteuid() == 0;
	return data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN);
}

static int run(const char *cmds, bool json, char **output, struct verr *err)
{
	struct nft_ctx *nft = NULL;
	const char *o;
	int ret;

	if (output)
		*output = NULL;
	if (!can_admin_net()) {
		ret = verr_set(err, -EPERM, "nftables: not permitted (needs root)");
		goto out;
	}
	ret = nftables_load(err);
	if (ret < 0)
		goto out;
	nft = sym_nft_ctx_new(NFT_CTX_DEFAULT);
	if (!nft) {
		ret = verr_set(err, -ENOMEM, "nftables: cannot create a context");
		goto out;
	}
	if (sym_nft_ctx_buffer_output(nft) || sym_nft_ctx_buffer_error(nft)) {
		ret = verr_set(err, -ENOMEM, "nftables: cannot buffer output");
		goto out;
	}
	if (json)
		sym_nft_ctx_output_set_flags(nft, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
	if (sym_nft_run_cmd_from_buffer(nft, cmds) != 0) {
		ret = nft_error(sym_nft_ctx_get_error_buffer(nft), "cannot apply the visp table", err);
		goto out;
	}
	if (output) {
		o = sym_nft_ctx_get_output_buffer(nft);
		*output = strdup(o ? o : "");
		if (!*output) {
			ret = verr_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	ret = 0;
out:
	if (nft)
		sym_nft_ctx_free(nft);
	return ret;
}

int nft_run(const char *cmds, char **output, struct verr *err)
{
	return run(cmds, false, output, err);
}

int nft_run_json(const char *cmds, char **output, struct verr *err)
{
	return run(cmds, true, output, err);
}

/*
 * The live table's listing, or *out = NULL when there is no such table:
 * nft answers a listing of a missing table with ENOENT, so one command
 * tells both, without listing every table on the host.
 */
static int nft_table_list(char **out, struct verr *err)
{
	int ret = nft_run("list table " NFT_FAMILY " " NFT_TABLE, out, err);

	if (ret == -ENOENT) {
		verr_clear(err);
		ret = 0;
	} else if (ret < 0) {
		verr_wrap(err, "cannot list the table");
	}
	return ret;
}

static int check_part_name(const char *name, struct verr *err)
{
	size_t len = strlen(name);

	if (!len || len >= PART_NAME_MAX || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-")
	    != len)
		return verr_set(err, -EINVAL, "'%s' is not an nft part name", name);
	return 0;
}

/* A missing file is -ENOENT with no message: the callers treat it as empty. */
static int read_text(const char *path, char **out, struct verr *err)
{
	int ret = file_read(path, TEXT_MAX, FILE_ENOENT_QUIET | FILE_NOFOLLOW, out, NULL, err);

	if (ret == -EFBIG)
		ret = verr_set(err, -EFBIG, "%s is not a visp nft file", path);
	return ret;
}

static int write_text(const char *path, const char *text, struct verr *err)
{
	return file_write_atomic(path, text, strlen(text), 0644, err);
}

/*
 * The generation the table was last seen as visp left it in, or none ("":
 * the file goes). Best effort: without it the next run lists the table.
 */
static void write_stamp(const char *path, const char *gen)
{
	if (!gen[0] || write_text(path, gen, NULL) < 0)
		unlink(path);
}

static int part_path(const char *run_dir, const char *name, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/nft/%s.nft", run_dir, name) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int nft_part_read(const char *run_dir, const char *name, char **text, struct verr *err)
{
	char path[512];
	int ret;

	*text = NULL;
	ret = check_part_name(name, err);
	if (ret < 0)
		return ret;
	if (part_path(run_dir, name, path, sizeof(path)) < 0)
		return verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
	return read_text(path, text, err);
}

int nft_boot_id(char *buf, size_t len)
{
	char id[64] = "";
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	size_t n;

	if (f) {
		if (!fgets(id, sizeof(id), f))
			id[0] = '\0';
		fclose(f);
	}
	id[strcspn(id, "\n")] = '\0';
	n = strspn(id, "0123456789abcdef-");
	if (!id[0] || id[n])
		snprintf(id, sizeof(id), "unknown");
	snprintf(buf, len, "%s", id);
	return 0;
}

bool nft_part_stale(const char *text)
{
	char id[64], want[80];
	size_t n;

	if (strncmp(text, NFT_BOOT_LINE, strlen(NFT_BOOT_LINE)))
		return false;
	nft_boot_id(id, sizeof(id));
	n = (size_t)snprintf(want, sizeof(want), NFT_BOOT_LINE "%s\n", id);
	return strncmp(text, want, n) != 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the stored parts, sorted (the table's order); caller frees each. */
static int list_parts(const char *run_dir, char **names, int *n, struct verr *err)
{
	char path[512];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	*n = 0;
	snprintf(path, sizeof(path), "%s/nft", run_dir);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 :
		       verr_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char name[PART_NAME_MAX];

		if (len < 5 || len - 4 >= sizeof(name) || strcmp(de->d_name + len - 4, ".nft"))
			continue;
		memcpy(name, de->d_name, len - 4);
		name[len - 4] = '\0';
		if (check_part_name(name, NULL) < 0)
			continue;
		if (*n == PART_MAX) {
			ret = verr_set(err, -E2BIG, "too many parts in %s", path);
			break;
		}
		names[*n] = strdup(name);
		if (!names[*n]) {
			ret = verr_set(err, -ENOMEM, "out of memory");
			break;
		}
		(*n)++;
	}
	closedir(d);
	qsort(names, *n, sizeof(*names), cmp_str);
	return ret;
}

static int lock_dir(const char *dir, int *fd, struct verr *err)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/.lock", dir);
	return file_lock(path, 0600, FILE_LOCK_WAIT_MS, fd, err);
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/*
 * The kernel's nftables generation: it rises with every committed change
 * to any table of the namespace. One netlink round trip, where listing the
 * table takes libnftables (loading it, its parser, the listing): a healthy
 * client run at the timer's cadence looks at the generation and lists only
 * when something changed. Into buf as "<boot id> <netns> <generation>\n"
 * (each boot and network namespace counts on its own); -errno when the
 * kernel does not tell (no CAP_NET_ADMIN, say): then every run lists.
 */
static int ruleset_stamp(char *buf, size_t len)
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg nf;
	} req = {
		.nh = { .nlmsg_len = sizeof(req), .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1,
			.nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETGEN },
		.nf = { .nfgen_family = AF_UNSPEC, .version = NFNETLINK_V0 },
	};
	uint32_t reply[256];
	const struct nlmsghdr *nh = (const struct nlmsghdr *)reply;
	struct stat ns = { 0 };
	char boot[64];
	ssize_t n;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER), ret = -EBADMSG;

	if (fd < 0)
		return -errno;
	if (send(fd, &req, sizeof(req), 0) < 0) {
		ret = -errno;
		goto out;
	}
	n = recv(fd, reply, sizeof(reply), 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_seq != 1)
		goto out;
	if (nh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nh);

		if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error < 0)
			ret = e->error;
		goto out;
	}
	/* The attributes after the nfgenmsg: NFTA_GEN_ID, a big-endian u32. */
	for (size_t off = NLMSG_LENGTH(sizeof(struct nfgenmsg));
	     off + NLA_HDRLEN <= nh->nlmsg_len && off + NLA_HDRLEN <= (size_t)n;) {
		const struct nlattr *a = (const struct nlattr *)((const char *)nh + off);
		uint32_t gen;

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > nh->nlmsg_len ||
		    off + a->nla_len > (size_t)n)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID && a->nla_len >= NLA_HDRLEN + 4) {
			memcpy(&gen, (const char *)a + NLA_HDRLEN, 4);
			nft_boot_id(boot, sizeof(boot));
			stat("/proc/self/ns/net", &ns);
			snprintf(buf, len, "%s %llu %u\n", boot, (unsigned long long)ns.st_ino,
				 ntohl(gen));
			ret = 0;
			break;
		}
		off += NLA_ALIGN(a->nla_len);
	}
out:
	close(fd);
	return ret;
}

int nft_part_apply(const char *run_dir, const char *name, const char *text, bool dry_run,
		   bool *changed, char **cmds, struct verr *err)
{
	char *names[PART_MAX + 1] = { NULL }, *texts[PART_MAX + 1] = { NULL };
	char *old = NULL, *live = NULL, *saved = NULL, *tx = NULL, *stamp = NULL;
	char dir[448], path[512], ppath[512], listpath[512], genpath[512], gen[96] = "";
	int n = 0, nt = 0, lockfd = -1, ret;
	bool have_self = false, change;

	if (changed)
		*changed = false;
	if (cmds)
		*cmds = NULL;
	ret = check_part_name(name, err);
	if (ret < 0)
		goto out;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/nft", run_dir) >= sizeof(dir)) {
		ret = verr_set(err, -ENAMETOOLONG, "run_dir '%s' is too long", run_dir);
		goto out;
	}
	part_path(run_dir, name, path, sizeof(path));
	snprintf(listpath, sizeof(listpath), "%s/table.list", dir);
	snprintf(genpath, sizeof(genpath), "%s/table.gen", dir);
	if (!dry_run) {
		ret = file_mkdir_p(dir, 0755, err);
		if (ret == 0)
			ret = lock_dir(dir, &lockfd, err);
		if (ret < 0)
			goto out;
	}
	ret = list_parts(run_dir, names, &n, err);
	if (ret < 0)
		goto out;
	/* The new set of texts, in name order, with this part's text swapped in. */
	for (int i = 0; i <= n; i++) {
		const char *nm = i < n ? names[i] : NULL;

		if (!have_self && text && (!nm || strcmp(name, nm) < 0)) {
			texts[nt] = strdup(text);
			if (!texts[nt++]) {
				ret = verr_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			have_self = true;
		}
		if (!nm)
			break;
		if (!strcmp(nm, name)) {
			ret = read_text(path, &old, err);
			if (ret < 0)
				goto out;
			continue;
		}
		part_path(run_dir, nm, ppath, sizeof(ppath));
		ret = read_text(ppath, &texts[nt], err);
		if (ret < 0)
			goto out;
		if (nft_part_stale(texts[nt])) {
			/* Bound to an earlier boot: only its owner may bring it back. */
			free(texts[nt]);
			texts[nt] = NULL;
			continue;
		}
		nt++;
	}
	/*
	 * Unchanged text, and no change to the ruleset since the last look
	 * found the table as visp left it: nothing to list, nothing to do.
	 * The generation is read before the listing, so that a change made
	 * while listing shows as a new generation next time.
	 */
	if (ruleset_stamp(gen, sizeof(gen)) < 0)
		gen[0] = '\0';
	if (gen[0] && text && old && !strcmp(old, text) && read_text(genpath, &stamp, NULL) == 0 &&
	    !strcmp(stamp, gen)) {
		change = false;
		ret = nft_table_text((const char *const *)texts, nt, &tx, err);
		if (ret < 0)
			goto out;
		if (changed)
			*changed = false;
		goto done;
	}
	ret = nft_table_list(&live, err);
	if (ret < 0) {
		if (!dry_run)
			goto out;
		/* Without CAP_NET_ADMIN a dry run cannot look: assume it would change. */
		live = NULL;
		ret = 0;
		change = text || old;
	} else {
		if (read_text(listpath, &saved, NULL) < 0)
			saved = NULL;
		if (nt == 0)
			change = live != NULL;	/* a table left over when run_dir was lost, too */
		else if (!text && !old)
			change = false;		/* the part is not there: the others are not ours */
		else
			change = !same(old, text) || !live || !same(live, saved);
	}
	ret = nft_table_text((const char *const *)texts, nt, &tx, err);
	if (ret < 0)
		goto out;
	if (changed)
		*changed = change;
	if (!dry_run && !change && gen[0] && text && live && !same(stamp, gen))
		write_stamp(genpath, gen);
	if (dry_run || !change)
		goto done;
	ret = nft_run(tx, NULL, err);
	if (ret < 0)
		goto out;
	/* The kernel has the new table: now record what it was made from. */
	if (text)
		ret = write_text(path, text, err);
	else if (unlink(path) < 0 && errno != ENOENT)
		ret = verr_set(err, -errno, "cannot remove %s: %s", path, strerror(errno));
	if (ret < 0)
		goto out;
	free(live);
	live = NULL;
	if (ruleset_stamp(gen, sizeof(gen)) < 0)
		gen[0] = '\0';
	ret = nft_table_list(&live, err);
	if (ret < 0)
		goto out;
	write_stamp(genpath, live ? gen : "");
	if (live)
		ret = write_text(listpath, live, err);
	else if (unlink(listpath) < 0 && errno != ENOENT)
		ret = verr_set(err, -errno, "cannot remove %s: %s", listpath, strerror(errno));
	if (ret < 0)
		goto out;
done:
	if (cmds) {
		*cmds = tx;
		tx = NULL;
	}
	ret = 0;
out:
	for (int i = 0; i < PART_MAX + 1; i++) {
		free(names[i]);
		free(texts[i]);
	}
	free(old);
	free(live);
	free(saved);
	free(stamp);
	free(tx);
	if (lockfd >= 0)
		close(lockfd);
	return ret;
}

/* Does the listing have a line "chain NAME {"? */
static bool has_chain(const char *listing, const char *chain)
{
	const char *p = listing;
	size_t cl = strlen(chain);

	while (p && (p = strstr(p, "chain "))) {
		if ((p == listing || p[-1] == '\t' || p[-1] == ' ') && !strncmp(p + 6, chain, cl) &&
		    (p[6 + cl] == ' ' || p[6 + cl] == '{'))
			return true;
		p += 6;
	}
	return false;
}

int nft_part_check(const char *run_dir, const char *name, char *missing, size_t len,
		   bool *edited, struct verr *err)
{
	char *text = NULL, *live = NULL, *saved = NULL;
	char listpath[512], chain[64];
	const char *p;
	int ret;

	missing[0] = '\0';
	*edited = false;
	ret = nft_part_read(run_dir, name, &text, err);
	if (ret < 0)
		goto out;
	ret = nft_table_list(&live, err);
	if (ret < 0)
		goto out;
	snprintf(listpath, sizeof(listpath), "%s/nft/table.list", run_dir);
	if (read_text(listpath, &saved, NULL) < 0)
		saved = NULL;
	*edited = !live || !same(live, saved);
	for (p = text; (p = strstr(p, "chain ")); p += 6) {
		size_t n = strcspn(p + 6, " {\n");

		if (n == 0 || n >= sizeof(chain))
			continue;
		memcpy(chain, p + 6, n);
		chain[n] = '\0';
		if (live && has_chain(live, chain))
			continue;
		if (missing[0])
			strncat(missing, ",", len - strlen(missing) - 1);
		strncat(missing, chain, len - strlen(missing) - 1);
	}
	ret = 0;
out:
	free(text);
	free(live);
	free(saved);
	return ret;
}
