/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_NFT_H
#define VISP_NFT_H

#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "err.h"

/*
 * visp's nftables state: one table, "inet visp", that nothing else writes.
 *
 * The table is assembled from named parts ("gateway" for visp tunnel,
 * "share" for visp share, ...). Each part is a piece of table body (chains
 * whose names start with the part's own prefix, e.g. gw_*) stored in
 * <run_dir>/nft/<part>.nft by the command that owns it. Applying a part
 * rewrites its file and then replaces the whole table atomically with the
 * union of all the part files, in one libnftables transaction:
 *
 *	add table inet visp		(so that the delete cannot fail)
 *	delete table inet visp
 *	table inet visp { <part a> <part b> ... }
 *
 * Either the new table is in place or the old one still is. Removing the
 * last part deletes the table. Parts are stored rather than recomputed from
 * the config because some (share --lan IFACE) come from the command line;
 * run_dir lives in /run, like the table itself, so a reboot drops both.
 * After each apply the table's listing is saved too (<run_dir>/nft/table.list):
 * when the parts are unchanged and the live listing still matches, nothing
 * is sent to the kernel, and status can tell an intact table from one that
 * someone edited.
 */
#define NFT_FAMILY "inet"
#define NFT_TABLE "visp"

/* The gateway part (visp tunnel up). */
struct nft_gateway {
	const char *tun;		/* cjdns tun device */
	const char *uplink;
	const struct cidr *pool4;	/* NULL: no IPv4 pool */
	const struct cidr *pool6;	/* NULL: no IPv6 pool */
	bool nat6;			/* masquerade pool6 as well (a ULA pool) */
	int listen_port;		/* the lease endpoint's TCP port; 0: no gw_input */
};
#define NFT_PART_GATEWAY "gateway"

/* The gateway part's text (chains gw_input, gw_forward, gw_mss, gw_postrouting); free() it. */
int nft_gateway_text(const struct nft_gateway *gw, char **out, struct verr *err);

/*
 * The share part (visp share up): hosts on the LAN interfaces reach the
 * mesh, and the internet while this node holds a lease, through the cjdns
 * tun, masqueraded as this node; nothing from the tun opens a connection
 * into a LAN; a LAN host opens nothing through any other interface, unless
 * fallback lets it out of the uplink (masqueraded there too).
 */
struct nft_share {
	const char *tun;
	const char *const *lans;
	size_t nlans;
	const char *uplink;		/* NULL: none known (then no fallback) */
	bool fallback;
};
#define NFT_PART_SHARE "share"

/* The share part's text (chains share_forward, share_mss, share_postrouting); free() it. */
int nft_share_text(const struct nft_share *sh, char **out, struct verr *err);

/*
 * The transaction that replaces the table with the given parts' texts, in
 * order (n = 0: a transaction that only deletes the table); free() it.
 */
int nft_table_text(const char *const *texts, int n, char **out, struct verr *err);

/*
 * Run nft commands in one transaction; *output (may be NULL) gets what nft
 * printed (for usage.c's own table: nothing else writes visp's).
 */
int nft_run(const char *cmds, char **output, struct verr *err);
/* The same, with nft's JSON output (and handles) in *output. */
int nft_run_json(const char *cmds, char **output, struct verr *err);

/*
 * Set part name to text (NULL: remove the part) and bring the table in line
 * with all parts. *changed (may be NULL) says whether anything was sent to
 * the kernel. dry_run: compute *changed and the transaction (*cmds, may be
 * NULL, caller frees) and change nothing.
 */
int nft_part_apply(const char *run_dir, const char *name, const char *text, bool dry_run,
		   bool *changed, char **cmds, struct verr *err);

/*
 * A part may be bound to the boot it was made in: its text then starts with
 * NFT_BOOT_LINE and the boot id. In any other boot nft_part_apply leaves it
 * out of the table (its owner decides whether to put it back).
 */
#define NFT_BOOT_LINE "\t# boot "
/*
 * Interface names go inside nft double quotes: visp keeps to names that need
 * no escaping (printable, no space, '"', '\\' or '/', shorter than IFNAMSIZ).
 */
int nft_check_ifname(const char *what, const char *name, struct verr *err);
/* /proc/sys/kernel/random/boot_id, or "unknown". */
int nft_boot_id(char *buf, size_t len);
bool nft_part_stale(const char *text);

/* The stored text of a part; -ENOENT when the part is not set. */
int nft_part_read(const char *run_dir, const char *name, char **text, struct verr *err);

/*
 * How a part stands in the kernel: its chains' names (from its text) that
 * are missing from the live table go to missing (a comma-separated list,
 * "" when none); *edited is true when the live table no longer matches what
 * visp last applied.
 */
int nft_part_check(const char *run_dir, const char *name, char *missing, size_t len,
		   bool *edited, struct verr *err);

#endif
