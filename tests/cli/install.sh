#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# make install / uninstall: with DESTDIR and PREFIX=/usr every file lands
# under DESTDIR (the binary, visp(8), the completion, every unit of systemd/
# with @BINDIR@ replaced, the sysusers.d entry), and uninstall removes
# exactly those. Then a real install into a temporary PREFIX, so that
# systemd-analyze verify checks the units against a binary and a man page
# that exist (it fails on a missing ExecStart binary, and on a
# Documentation=man: page that man cannot find); any warning fails too.
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
command -v make >/dev/null || skip "make is not installed"
[ -x "$top/build/visp" ] || skip "visp is not built (run make)"

tmp=$(mktemp -d /tmp/visp-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# An outer make (make check) passes its flags down; these runs are ours.
unset MAKEFLAGS MFLAGS MAKELEVEL
mk() { make -s -C "$top" "$@" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make $*"; }; }
files() { (cd "$1" && find . ! -type d | sed 's|^\./||' | sort); }

units=$(cd "$top/systemd" && ls -- *.service *.socket *.timer)
[ -n "$units" ] || fail "no units in systemd/"

# ---- DESTDIR + PREFIX=/usr ----

d=$tmp/dest
mk install DESTDIR="$d" PREFIX=/usr
{
	echo usr/lib/sysusers.d/visp.conf
	echo usr/sbin/visp
	echo usr/share/bash-completion/completions/visp
	echo usr/share/man/man8/visp.8
	for u in $units; do echo "usr/lib/systemd/system/$u"; done
} | sort >"$tmp/want"
files "$d" >"$tmp/got"
diff -u "$tmp/want" "$tmp/got" || fail "make install installed other files than expected"
[ -x "$d/usr/sbin/visp" ] && "$d/usr/sbin/visp" --version >/dev/null || fail "the installed binary does not run"
for u in $units; do
	f=$d/usr/lib/systemd/system/$u
	[ "$(stat -c %a "$f")" = 644 ] || fail "$u is mode $(stat -c %a "$f")"
	! grep -q @BINDIR@ "$f" || fail "$u still says @BINDIR@"
	! grep -q "$d" "$f" || fail "$u names DESTDIR"
	if grep -q '^ExecStart=' "$f"; then
		grep -q '^ExecStart=/usr/sbin/visp ' "$f" || fail "$u: $(grep '^ExecStart=' "$f")"
	fi
done
cmp -s "$top/systemd/visp.sysusers" "$d/usr/lib/sysusers.d/visp.conf" || fail "sysusers.d entry differs"
cmp -s "$top/man/visp.8" "$d/usr/share/man/man8/visp.8" || fail "man page differs"
bash -c "source '$d/usr/share/bash-completion/completions/visp' && complete -p visp" >/dev/null ||
	fail "the installed completion does not register itself"
ok "make install DESTDIR=... PREFIX=/usr: $(wc -l <"$tmp/got") files, units name /usr/sbin/visp"

mk uninstall DESTDIR="$d" PREFIX=/usr
files "$d" >"$tmp/left"
[ ! -s "$tmp/left" ] || fail "make uninstall left: $(cat "$tmp/left")"
ok "make uninstall removes every file it installed"

# The default PREFIX is /usr/local, and BINDIR follows PREFIX into the units.
mk install DESTDIR="$tmp/dest2"
[ -x "$tmp/dest2/usr/local/sbin/visp" ] || fail "the default PREFIX is not /usr/local"
grep -q '^ExecStart=/usr/local/sbin/visp ' "$tmp/dest2/usr/local/lib/systemd/system/visp-client.service" ||
	fail "BINDIR is not substituted for PREFIX=/usr/local"
mk uninstall DESTDIR="$tmp/dest2"
[ -z "$(files "$tmp/dest2")" ] || fail "uninstall of the default PREFIX left: $(files "$tmp/dest2")"
ok "default PREFIX=/usr/local, BINDIR follows it"

# ---- systemd-analyze verify on a real install ----

if ! command -v systemd-analyze >/dev/null; then
	echo "note: systemd-analyze is not installed: units not verified"
	echo PASS
	exit 0
fi
p=$tmp/prefix
mk install PREFIX="$p"
cd "$p/lib/systemd/system"
# A broken unit must fail, or this check proves nothing here.
printf '[Service]\nExecStart=%s/nonexistent\n' "$p" >"$tmp/broken.service"
! MANPATH=$p/share/man systemd-analyze verify "$tmp/broken.service" >/dev/null 2>&1 ||
	fail "systemd-analyze verify accepts a unit without its binary: the check is not real"
# shellcheck disable=SC2086
MANPATH=$p/share/man systemd-analyze verify $units >"$tmp/verify.log" 2>&1 ||
	{ cat "$tmp/verify.log"; fail "systemd-analyze verify rejects the units"; }
[ ! -s "$tmp/verify.log" ] || { cat "$tmp/verify.log"; fail "systemd-analyze verify warns"; }
ok "systemd-analyze verify accepts $(echo $units | wc -w) units (binary and man page found)"
if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$tmp/sysroot/etc"
	systemd-sysusers --root="$tmp/sysroot" "$p/lib/sysusers.d/visp.conf" >/dev/null 2>&1 ||
		fail "systemd-sysusers rejects visp.conf"
	grep -q '^visp:' "$tmp/sysroot/etc/passwd" || fail "systemd-sysusers made no visp user"
	ok "systemd-sysusers creates the visp user from visp.conf (in a scratch root)"
fi
cd "$top"
mk uninstall PREFIX="$p"
[ -z "$(files "$p")" ] || fail "uninstall left: $(files "$p")"

echo PASS
