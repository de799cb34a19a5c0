#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# visp sudoers: the file it prints passes visudo, lets a throwaway user run
# exactly the verbs that need root (found by asking the binary which verbs
# refuse to run without root), with no arguments added, and nothing else.
# Also: under sudo (SUDO_UID set), visp refuses config files root does not own.
#
# The sudoers file is installed under /etc/sudoers.d/ only while the test
# runs (the trap removes it, and the user). The allowed commands really run,
# as root, but in an empty network namespace and a private mount namespace
# with tmpfs over visp's default directories, so they cannot reach a real
# cjdns or touch a real visp's state. Run as root.
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
visp=${VISP:-$top/${B:-build}/visp}

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (useradd, /etc/sudoers.d)"
[ -x "$visp" ] || skip "no visp binary at $visp (run make)"
for t in sudo visudo useradd userdel su ip unshare; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -d /etc/sudoers.d ] || skip "no /etc/sudoers.d"
grep -Eq '^[@#]includedir[[:space:]]+/etc/sudoers.d' /etc/sudoers ||
	skip "/etc/sudoers does not read /etc/sudoers.d"

# With a SAN=1 binary, leaks are tests/cli/sanitizers.sh's business, not this test's.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

user=vispsudo$$
ns=visp-sudo-$$
# Root's own directories: sudoers must name a binary the user cannot replace.
prefix=/tmp/visp-sudo.$$
bin=$prefix/sbin/visp
dropin=/etc/sudoers.d/visp-test-$$
tmp=$(mktemp -d /tmp/visp-sudoers-test.XXXXXX)
made_user=

cleanup() {
	set +e
	rm -f "$dropin" "$dropin-g"
	[ -n "$made_user" ] && userdel "$user" 2>/dev/null
	ip netns del "$ns" 2>/dev/null
	rm -rf "$prefix" "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

mkdir -m 0755 "$prefix" "$prefix/sbin"
install -m 0755 "$visp" "$bin"
chmod 0755 "$tmp"
useradd -M -d /nonexistent -s /bin/sh "$user"
made_user=1

# as_user CMD: a shell command as the throwaway user, stdout+stderr merged.
as_user() { su "$user" -s /bin/sh -c "$1" 2>&1 </dev/null; }

# ---- which verbs need root, according to the binary itself ----

# As the user, every verb: those that need root say so before doing anything.
# The config points at nothing real (cjdns on port 1, temp directories).
cat >"$tmp/probe.conf" <<EOF
{ "cjdns": { "addr": "127.0.0.1", "port": 1 },
  "state_dir": "$tmp/probe-state", "run_dir": "$tmp/probe-run" }
EOF
chmod 0644 "$tmp/probe.conf"
nouns=$("$visp" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
[ -n "$nouns" ] || fail "no commands in 'visp --help'"
want=
for n in $nouns; do
	verbs=$("$visp" "$n" --help 2>/dev/null | sed -n '/^Verbs:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
	for v in ${verbs:-""}; do
		out=$(as_user "$bin -c $tmp/probe.conf $n $v" || true)
		case $out in *"must be run as root"*) want="$want$n $v"$'\n' ;; esac
	done
done
[ -n "$want" ] || fail "no verb refuses to run without root: the probe is broken"
echo "verbs that need root: $(echo "$want" | paste -sd, | sed 's/,$//')"

# ---- the file: visudo accepts it, it names exactly those verbs ----

"$bin" sudoers --user "$user" --path "$bin" >"$tmp/sudoers" || fail "visp sudoers failed"
visudo -cf "$tmp/sudoers" >/dev/null || { cat "$tmp/sudoers"; fail "visudo -cf rejects the output"; }
got=$(grep -o "$bin [a-z][a-z0-9 -]*[a-z]" "$tmp/sudoers" | sed "s|^$bin ||" | sort)
[ "$got" = "$(echo -n "$want" | sort)" ] ||
	fail "the sudoers file allows [$got], the binary needs root for [$want]"
grep -q "^$user ALL = (root) NOPASSWD: VISP_U_VISPSUDO$$\$" "$tmp/sudoers" || fail "no rule line for $user"
[ "$(grep -cv '^#\|^Cmnd_Alias\|^[[:space:]]' "$tmp/sudoers")" -eq 1 ] || fail "more than one rule"
ok "visudo -cf accepts it; it allows exactly the $(echo -n "$want" | wc -l) verbs that need root"

# --group, and bad input refused with exit 2
"$bin" sudoers --group "$user" --path "$bin" >"$tmp/sudoers.g"
visudo -cf "$tmp/sudoers.g" >/dev/null || fail "visudo rejects the --group output"
grep -q "^%$user ALL" "$tmp/sudoers.g" || fail "--group does not give a %group rule"
for args in "--user 'a b'" "--user 'x,ALL'" "--user ok --group ok" "--user ok --path visp" \
	    "--user ok --path '/usr/bin/visp ALL'" "--user ok extra"; do
	rc=0; eval "\"\$bin\" sudoers $args" >/dev/null 2>&1 || rc=$?
	[ $rc -eq 2 ] || fail "visp sudoers $args: exit $rc, want 2"
done
rc=0; env -u SUDO_USER "$bin" sudoers >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "visp sudoers with no user: exit $rc, want 2"
ok "--group; unsafe names, relative paths, both --user and --group: exit 2"

# ---- a binary anyone but root could replace: refused, exit 2, saying why ----

# refused_bin DESC PATTERN ARGS...: visp sudoers ARGS exits 2 naming the fault.
refused_bin() {
	local desc=$1 pat=$2 rc=0
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ $rc -eq 2 ] || fail "$desc: exit $rc, want 2"
	[ ! -s "$tmp/out" ] || fail "$desc: printed a sudoers file anyway"
	grep -q "refusing .*$pat" "$tmp/err" || fail "$desc: unclear message: $(cat "$tmp/err")"
	echo "  $desc: $(cat "$tmp/err")"
}
mkdir -m 0755 "$prefix/gw" "$prefix/ow" "$prefix/ub" "$prefix/home"
install -m 0755 "$visp" "$prefix/gw/visp"
install -m 0755 "$visp" "$prefix/ow/visp"
install -m 0755 "$visp" "$prefix/ub/visp"
chmod 0775 "$prefix/gw"
chmod 0757 "$prefix/ow"
chown "$user" "$prefix/ub/visp"
refused_bin "a group-writable directory" "$prefix/gw is writable by its group" \
	"$bin" sudoers --user "$user" --path "$prefix/gw/visp"
refused_bin "an others-writable directory" "$prefix/ow is writable by others" \
	"$bin" sudoers --user "$user" --path "$prefix/ow/visp"
refused_bin "a binary not owned by root" "$prefix/ub/visp is owned by uid $(id -u "$user")" \
	"$bin" sudoers --user "$user" --path "$prefix/ub/visp"
# A root-owned link in root's directory that points into a user's: the link is
# followed, and the user's binary is at fault.
ln -s "$prefix/ub/visp" "$prefix/sbin/visp-link"
refused_bin "a link to a user's binary" "$prefix/ub/visp is owned by uid" \
	"$bin" sudoers --user "$user" --path "$prefix/sbin/visp-link"
# A user's directory on the way to root's binary, through a link the user owns.
mkdir -m 0755 "$prefix/home/u"
ln -s "$prefix/sbin" "$prefix/home/u/bin"
chown -h "$user" "$prefix/home/u/bin"
refused_bin "a path through a user's link" "$prefix/home/u/bin is owned by uid" \
	"$bin" sudoers --user "$user" --path "$prefix/home/u/bin/visp"
# The default path is the running binary: a user's checkout is refused.
chown "$user" "$prefix/home/u"
install -m 0755 -o "$user" "$visp" "$prefix/home/u/visp"
refused_bin "the default path, in a user's directory" "$prefix/home/u is owned by uid" \
	"$prefix/home/u/visp" sudoers --user "$user"
rm -f "$prefix/sbin/visp-link"
# Root's binary through a root link in root's directories is fine.
ln -s visp "$prefix/sbin/visp-rel"
"$bin" sudoers --user "$user" --path "$prefix/sbin/visp-rel" >/dev/null ||
	fail "a root link to root's binary is refused"
rm -f "$prefix/sbin/visp-rel"
ok "group- or others-writable directories, a user's binary, link or checkout: exit 2, saying why"

# ---- installed: what sudo permits and what it refuses ----

install -m 0440 "$tmp/sudoers" "$dropin"
visudo -c >/dev/null || fail "the system's sudoers no longer parses with the file installed"
# A second fragment, for a group, next to the first: their aliases differ.
install -m 0440 "$tmp/sudoers.g" "$dropin-g"
visudo -c >/dev/null || fail "two fragments (a user's and a group's) break visudo -c"
rm -f "$dropin-g"
ok "two fragments installed together pass visudo -c"

# sudo's own verdict, without running anything.
permitted() { as_user "sudo -n -l $bin $1" >/dev/null; }
while read -r cmd; do
	[ -n "$cmd" ] || continue
	permitted "$cmd" || fail "sudo -l refuses '$cmd'"
done <<<"$want"

# The allowed forms, really run: root visp in an empty network namespace,
# with tmpfs over /run and visp's directories. They fail to reach cjdns
# (exit 3) or find nothing to do, but sudo must not refuse them.
ip netns add "$ns"
ip -n "$ns" link set lo up
sandbox() {
	ip netns exec "$ns" unshare --mount --propagation private sh -c '
		mount -t tmpfs none /run
		for d in /etc/visp /var/lib/visp; do
			[ -d "$d" ] && mount -t tmpfs none "$d"
		done
		exec su "$1" -s /bin/sh -c "$2"' sandbox "$user" "$1" 2>&1 </dev/null
}
refused() {
	case $1 in
	*"password is required"* | *"not allowed"* | *"may not run"* | *"not in the sudoers"*) return 0 ;;
	esac
	return 1
}
while read -r cmd; do
	[ -n "$cmd" ] || continue
	rc=0; out=$(sandbox "sudo -n $bin $cmd") || rc=$?
	! refused "$out" || fail "sudo refused the allowed '$cmd': $out"
	case $out in *"visp: "*) ;; *) [ $rc -eq 0 ] || fail "'$cmd' did not run visp (exit $rc): $out" ;; esac
	echo "  sudo -n visp $cmd: permitted (visp exit $rc)"
done <<<"$want"
ok "every allowed form is permitted by sudo and runs visp as root"

# Anything else: other arguments, other verbs, a shell.
echo '{ "state_dir": "/tmp" }' >"$tmp/x.conf"
first=$(echo "$want" | head -n 1)
key=5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k
for cmd in "$bin tunnel up --config $tmp/x.conf" "$bin tunnel up -c $tmp/x.conf" \
	   "$bin -c $tmp/x.conf tunnel up" "$bin --cjdns 127.0.0.1:1 tunnel up" \
	   "$bin tunnel up x" "$bin $first -v" "$bin $first --help" \
	   "$bin lease grant $key" "$bin lease revoke $key" "$bin lease sync" \
	   "$bin lease serve" "$bin cjdns call Core_exit" "$bin client connect $key" \
	   "$bin routes pin-peers --unpin" "$bin sudoers --user root" \
	   "$bin" "/bin/sh -c id" "/usr/bin/id"; do
	! permitted "$cmd" || fail "sudo -l permits '$cmd'"
	rc=0; out=$(as_user "sudo -n $cmd") || rc=$?
	[ $rc -ne 0 ] && refused "$out" || fail "sudo did not refuse '$cmd' (exit $rc): $out"
done
ok "other arguments, other verbs, global options, a shell: refused"

rm -f "$dropin"
permitted "$first" && fail "still permitted after the file is removed"

# ---- under sudo, config files root does not own are refused ----

cat >"$tmp/gw.conf" <<EOF
{ "cjdns": { "addr": "127.0.0.1", "port": 1, "password": "x" },
  "state_dir": "$tmp/state", "run_dir": "$tmp/run", "ipv4_pool": "172.23.23.0/24" }
EOF
chmod 0644 "$tmp/gw.conf"
"$visp" -c "$tmp/gw.conf" lease list >/dev/null || fail "lease list with a root-owned config"
SUDO_UID=1000 "$visp" -c "$tmp/gw.conf" lease list >/dev/null ||
	fail "under sudo, a root-owned config 0644 is refused"
chown "$user" "$tmp/gw.conf"
"$visp" -c "$tmp/gw.conf" lease list >/dev/null || fail "without sudo, a user's config is refused"
rc=0; SUDO_UID=1000 "$visp" -c "$tmp/gw.conf" lease list >/dev/null 2>"$tmp/err" || rc=$?
[ $rc -eq 4 ] || fail "under sudo, a config owned by $user: exit $rc, want 4"
grep -q "refusing $tmp/gw.conf under sudo: it is not owned by root" "$tmp/err" ||
	fail "unclear message: $(cat "$tmp/err")"
echo "  $(cat "$tmp/err")"
chown root "$tmp/gw.conf"
chmod 0666 "$tmp/gw.conf"
rc=0; SUDO_UID=1000 "$visp" -c "$tmp/gw.conf" lease list >/dev/null 2>&1 || rc=$?
[ $rc -eq 4 ] || fail "under sudo, a world-writable config: exit $rc, want 4"
# The cjdns credentials of ~/.cjdnsadmin are checked the same way.
mkdir -m 0755 "$tmp/home"
echo '{ "addr": "127.0.0.1", "port": 1, "password": "x" }' >"$tmp/home/.cjdnsadmin"
chown "$user" "$tmp/home/.cjdnsadmin"
echo "{ \"state_dir\": \"$tmp/state\", \"cjdroute_conf\": \"$tmp/none\" }" >"$tmp/nocjdns.conf"
chmod 0644 "$tmp/nocjdns.conf"
rc=0; HOME=$tmp/home SUDO_UID=1000 "$visp" -c "$tmp/nocjdns.conf" lease list >/dev/null 2>&1 || rc=$?
[ $rc -eq 4 ] || fail "under sudo, a ~/.cjdnsadmin owned by $user: exit $rc, want 4"
ok "under sudo: configs and ~/.cjdnsadmin not owned by root (or writable by others) refused, exit 4"

echo PASS
