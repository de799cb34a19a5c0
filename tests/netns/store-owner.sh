#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The state directory is shared between root (lease grant, tunnel up) and the
# unprivileged user that runs lease serve: root must leave that user able to
# work, and the user must not be able to make root write elsewhere.
#
#   $ns (one namespace)
#  +-----------------------------------------------------------------+
#  | cjdns node (admin only, 127.0.0.1:11234): the simulator, or the |
#  |   real cjdroute that CJDROUTE names (tests/lib/node.sh)         |
#  | $tmp/state: owned by $owner (nobody), mode 0700                 |
#  |   root:   visp lease grant / list / sync                        |
#  |   $owner: visp lease serve <- systemd-socket-activate           |
#  |           --accept [::]:12234 (setpriv, no capabilities)        |
#  | curl --interface fcXX.. (client identities on lo)               |
#  +-----------------------------------------------------------------+
#
# Checks: a grant and a sync as root leave every file in the state
# directory to its owner, so the owner's lease serve then answers a POST
# with a lease (not 503); a leases.db, -wal, leases.lock or grants.lock
# that the owner made a symbolic link makes root's lease list / grant fail
# saying so, and nothing is created where the link points; a state
# directory writable by others (sticky or not) is refused, saying why.
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for tool in ip curl python3 setpriv systemd-socket-activate; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done
owner=nobody
id "$owner" >/dev/null 2>&1 || { echo "skip: no user $owner"; exit 77; }
group=$(id -gn "$owner")

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step, run
. "$top/tests/lib/node.sh"	# node_start: the simulator or $CJDROUTE
VISP=${VISP:-$top/visp}
PW=owner-test-pw
ns=visp-owner-$$
tmp=$(mktemp -d /tmp/visp-owner.XXXXXX)
listen_pid=

n() { ip netns exec "$ns" "$@"; }
v() { n "$VISP" -c "$tmp/visp.conf" "$@"; }
# as_owner CMD...: CMD as the state directory's owner, no capabilities.
as_owner() { setpriv --reuid="$owner" --regid="$group" --clear-groups --inh-caps=-all "$@"; }

cleanup() {
	local rc=$?
	set +e
	for pid in $listen_pid; do
		stop_pid "$pid"
	done
	node_stop_all
	ip netns del "$ns" 2>/dev/null
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do echo "---- $f"; tail -n 15 "$f"; done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# The owner must reach the config and the binary.
chmod 0755 "$tmp"
ip netns add "$ns"
n ip link set lo up
node_start gw "$ns" --password "$PW" --no-tun
echo "cjdns: $(node_kind gw)"

# conf FILE STATE_DIR: a gateway config readable by the owner.
conf() {
	cat >"$1" <<EOF
{
  "cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$PW" },
  "state_dir": "$2",
  "run_dir": "$tmp/run",
  "ipv4_pool": "172.23.23.0/24",
  "ipv6_pool": "fd23:2323:2323::/64",
  "routes": ["default"],
  "lease_time": 3600
}
EOF
	chmod 0644 "$1"
}
conf "$tmp/visp.conf" "$tmp/state"
install -d -m 0700 -o "$owner" -g "$group" "$tmp/state"

python3 -c "
import sys; sys.path.insert(0, '$top/tests/sim')
import cjdns_codec as c
for _ in range(3):
    k = c.key_to_string(c.generate_key())
    print(k, c.address_of_key(k))
" >"$tmp/keys"
while read -r _ addr; do
	n ip -6 address add "$addr/128" dev lo nodad
done <"$tmp/keys"
key_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f1; }
addr_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f2; }

# not_owned DIR: the files in DIR that the owner does not own.
not_owned() { find "$1" -mindepth 1 ! -user "$owner" -printf '%p (%u)\n'; }

step "root grants and syncs in the owner's state directory: every file stays the owner's"
v -q lease grant "$(key_n 1)" >/dev/null || fail "lease grant as root"
v -q lease sync >/dev/null || fail "lease sync as root"
v lease list >/dev/null || fail "lease list as root"
ls -ln "$tmp/state"
[ -z "$(not_owned "$tmp/state")" ] || fail "root left files the owner does not own: $(not_owned "$tmp/state")"
for f in leases.db leases.db-wal leases.db-shm leases.lock grants.lock sync.lock; do
	[ -f "$tmp/state/$f" ] || fail "no $f after a grant and a sync"
done

step "the owner's lease serve then gives a lease"
# ip netns exec and setpriv exec: $! is the listener itself.
ip netns exec "$ns" setpriv --reuid="$owner" --regid="$group" --clear-groups --inh-caps=-all \
	systemd-socket-activate --accept --inetd -l '[::]:12234' \
	"$VISP" -c "$tmp/visp.conf" lease serve 2>"$tmp/serve.log" &
listen_pid=$!
poll 10 n curl -s -o /dev/null -g 'http://[::1]:12234/nameservers' || fail "lease serve does not answer"
code=$(n curl -s -g --interface "$(addr_n 2)" -o "$tmp/post.out" -w '%{http_code}' \
	-H 'Content-Type: application/json' -d "{\"public_key\": \"$(key_n 2)\"}" \
	'http://[::1]:12234/lease')
[ "$code" = 200 ] || fail "POST /lease through the owner's lease serve: $code $(cat "$tmp/post.out")"
v lease show "$(key_n 2)" >/dev/null || fail "the served lease is not in the store"
# And root again after the owner wrote: still the owner's.
v -q lease grant "$(key_n 3)" >/dev/null || fail "lease grant as root after serve"
[ -z "$(not_owned "$tmp/state")" ] || fail "root left files the owner does not own: $(not_owned "$tmp/state")"

# refused WHAT PATTERN CMD...: CMD fails saying PATTERN, nothing at $tmp/target.
refused() {
	local what=$1 pat=$2
	shift 2
	run "$what" "1 4" "$@"
	grep -q -- "$pat" "$tmp/run.err" || fail "$what: unclear message: $(cat "$tmp/run.err")"
	[ ! -e "$tmp/target" ] && [ ! -L "$tmp/target" ] ||
		fail "$what: root created $(ls -l "$tmp/target")"
	echo "   $what: exit $last_rc: $(head -n 1 "$tmp/run.err")"
}

step "links the owner planted in the state directory: root refuses them, creates nothing"
# A state directory of the owner's, with the planted link in it (made as the owner).
for f in leases.db leases.db-wal leases.lock grants.lock; do
	d=$tmp/planted-${f//./-}
	install -d -m 0700 -o "$owner" -g "$group" "$d"
	conf "$tmp/planted.conf" "$d"
	if [ "$f" != leases.db ]; then
		# A store of its own first, so the link is met where it matters.
		n "$VISP" -c "$tmp/planted.conf" -q lease grant "$(key_n 1)" >/dev/null ||
			fail "a first grant in $d"
		rm -f "$d/$f"
	fi
	as_owner ln -s "$tmp/target" "$d/$f"
	refused "lease grant with $f a link" "is a symbolic link: visp never follows links" \
		n "$VISP" -c "$tmp/planted.conf" lease grant "$(key_n 2)"
	case $f in
	leases.db | leases.db-wal)
		refused "lease list with $f a link" "is a symbolic link: visp never follows links" \
			n "$VISP" -c "$tmp/planted.conf" lease list ;;
	esac
done

step "a state directory others can write is refused, saying why"
for mode in 0777 1777 0703; do
	chmod "$mode" "$tmp/state"
	refused "lease list, state directory mode $mode" "writable by others" v lease list
	refused "lease grant, state directory mode $mode" "writable by others" \
		v lease grant "$(key_n 1)"
done
chmod 0700 "$tmp/state"
v lease list >/dev/null || fail "lease list once the directory is 0700 again"
! grep -E 'Sanitizer|runtime error' "$tmp/serve.log" || fail "lease serve: sanitizer report above"
echo "PASS"
