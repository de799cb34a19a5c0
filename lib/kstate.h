/* SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef VISP_KSTATE_H
#define VISP_KSTATE_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>

#include "cidr.h"
#include "err.h"
#include "sysctl.h"

/*
 * Kernel state that visp owns, kept per role: "tunnel" (visp tunnel up, the
 * gateway) and "share" (visp share up, the LAN router). A role works out its
 * desired items; up brings the kernel in line with them, down undoes what up
 * did, status compares.
 *
 * What up changed is recorded in <run_dir>/<role>.state, one line per item,
 * written before each change is made (so a crash leaves nothing unrecorded).
 * Up only records what it created: an address, route or sysctl value that
 * was already there is not visp's, and down leaves it alone. A sysctl line
 * keeps the value it had before, and down puts it back (unless someone has
 * changed it since). Down undoes exactly the recorded lines, newest first,
 * and needs neither the config nor cjdns. Up run again finds everything in
 * place and changes nothing; items recorded earlier that are no longer
 * wanted (a changed pool, tun, uplink or LAN) are removed first.
 *
 * Roles of one run_dir share sysctls (both turn forwarding on). A sysctl
 * that another role has recorded is recorded by the next one too, with the
 * first one's original value; down restores a value only when no other role
 * still records it, so whichever role goes down last restores it, and one
 * going down never switches off what the other still needs. All roles of a
 * run_dir take one lock (<run_dir>/kernel.lock) for up, down and sync.
 */

enum kstate_kind {
	KSTATE_ADDR,		/* an address (no prefix route) on ifname */
	KSTATE_ROUTE,		/* a VISP_RTPROT route for c on ifname, scope link */
	KSTATE_NFT,		/* a part (name) of the nft table inet visp */
	KSTATE_SYSCTL,		/* name set to want; orig is what it was */
	KSTATE_RESTORE,		/* see below */
	KSTATE_PROXY,		/* a proxy neighbour entry c on ifname */
};

/*
 * One piece of kernel state. addr/route/proxy: ifname and c. nft: name is
 * the part. sysctl: name is the path, want the value up sets, orig the one
 * it replaced. restore: a value that writing the sysctl `name` clobbers as a
 * side effect (the global forwarding switches rewrite every interface's
 * forwarding knob): path and want are put back after name is restored.
 */
struct kstate_item {
	enum kstate_kind kind;
	char ifname[IFNAMSIZ];
	struct cidr c;
	char name[128];
	char path[128];
	char want[SYSCTL_VALUE_MAX];
	char orig[SYSCTL_VALUE_MAX];
};

struct kstate;

/* A role's state: reads what <run_dir>/<role>.state records. */
int kstate_open(struct kstate **out, const char *run_dir, const char *role, struct verr *err);
void kstate_free(struct kstate *k);

/* Desired items, in the order up applies them. One nft part per role. */
int kstate_want_addr(struct kstate *k, const char *ifname, const struct cidr *addr,
		     struct verr *err);
int kstate_want_route(struct kstate *k, const char *ifname, const struct cidr *dst,
		      struct verr *err);
int kstate_want_nft(struct kstate *k, const char *part, const char *text, struct verr *err);
int kstate_want_sysctl(struct kstate *k, const char *path, const char *value,
		       struct verr *err);

/* Is it recorded (same key: kind, interface, prefix or name) by this role, or by any role? */
bool kstate_recorded(const struct kstate *k, const struct kstate_item *it, bool any_role);

/* Every change is announced to cb before it is made (or, dry run, instead). */
typedef void (*kstate_change_cb)(const char *action, const char *what, void *arg);
/* A recorded item that is not wanted stays when this says so (NULL: none stays). */
typedef bool (*kstate_keep_fn)(const struct kstate_item *it, void *arg);

/*
 * Remove recorded items that are neither wanted nor kept, then put every
 * wanted item in place. On a failure, what this run added is undone.
 */
int kstate_up(struct kstate *k, kstate_keep_fn keep, void *keep_arg, bool dry_run,
	      kstate_change_cb cb, void *arg, struct verr *err);

/*
 * Undo what <run_dir>/<role>.state records. nft_part (may be NULL) is the
 * role's part of the nft table: visp's by its name, so it goes even when
 * its record was lost.
 */
int kstate_down(const char *run_dir, const char *role, const char *nft_part, bool dry_run,
		kstate_change_cb cb, void *arg, struct verr *err);

/*
 * Make the recorded proxy neighbour entries exactly v (n full-length
 * addresses) on interface ifname: recorded entries elsewhere, not in v or
 * not kept are removed; missing ones are added; ones already there are
 * taken as visp's.
 */
int kstate_sync_proxies(struct kstate *k, const char *ifname, const struct cidr *v, size_t n,
			kstate_keep_fn keep, void *keep_arg, bool dry_run, kstate_change_cb cb,
			void *arg, struct verr *err);

/* Status: one call of cb per item, desired or recorded. */
enum kstate_item_state {
	KSTATE_IN_PLACE,	/* there, and visp's */
	KSTATE_FOREIGN,		/* there, but not put there by visp */
	KSTATE_MISSING,		/* wanted or recorded, not there */
	KSTATE_EDITED,		/* there, but changed since visp set it */
	KSTATE_STALE,		/* recorded, no longer wanted: the next up removes it */
	KSTATE_UNKNOWN,		/* cannot be looked at without root (nftables) */
};
struct kstate_item_status {
	const char *kind;	/* "address", "route", "nft", "sysctl", "proxy" */
	char what[320];
	enum kstate_item_state state;
};
typedef void (*kstate_status_cb)(const struct kstate_item_status *s, void *arg);
const char *kstate_state_name(enum kstate_item_state s);

/*
 * k may be NULL (the desired state could not be worked out): then the items
 * recorded in <run_dir>/<role>.state are all there is.
 */
int kstate_status(struct kstate *k, const char *run_dir, const char *role, kstate_keep_fn keep,
		  void *keep_arg, kstate_status_cb cb, void *arg, struct verr *err);

#endif
