#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The lease store on a full disk and on a read-only one.
#
#   $ns (network namespace) + a private mount namespace (held by a sleep)
#  +---------------------------------------------------------------------+
#  | cjdns-sim (admin only, 127.0.0.1:11234)                             |
#  | $tmp/store: a 320 KiB tmpfs, mounted only in the mount namespace    |
#  |   state_dir = $tmp/store/state (leases.db, -wal, -shm)              |
#  | visp lease grant/revoke/sync/list, nsenter'd into both namespaces   |
#  | visp lease serve <- systemd-socket-activate [::]:12234              |
#  +---------------------------------------------------------------------+
#
# With the disk full, then remounted read-only: grant, revoke, sync and a
# POST to lease serve fail with a clear message (lease list and show, which
# open the store read-only, still work on the read-only one), the documented exit status
# (1: the command failed) or a 503 with a JSON error, and what was already
# stored is still there, unchanged and intact (SQLite's integrity_check).
# Made writable again, one sync makes cjdns hold exactly the store.
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for tool in ip curl nsenter unshare systemd-socket-activate; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step, run
. "$top/tests/lib/node.sh"	# node_start --sim: these faults need the simulator
VISP=${VISP:-$top/visp}
PY=$(command -v /usr/bin/python3 || command -v python3)
PW=store-test-pw
ns=visp-store-$$
tmp=$(mktemp -d /tmp/visp-store.XXXXXX)
holder= listen_pid=

# m CMD: in the network namespace and the private mount namespace.
m() { nsenter -t "$holder" -m -n "$@"; }
v() { m "$VISP" -c "$tmp/visp.conf" "$@"; }

cleanup() {
	local rc=$?
	set +e
	node_stop_all
	for pid in $listen_pid $holder; do
		stop_pid "$pid"
	done
	ip netns del "$ns" 2>/dev/null
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do echo "---- $f"; tail -n 15 "$f"; done
	fi
	rm -rf "$tmp"	# the tmpfs went with the mount namespace
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }
ip netns add "$ns"
ip -n "$ns" link set lo up
mkdir "$tmp/store"
# A mount namespace of our own inside the network namespace, kept by a
# sleep: the tmpfs and its remounts are seen there and nowhere else.
ip netns exec "$ns" unshare -m --propagation private sleep 3600 &
holder=$!
poll 10 m mountpoint -q / || fail "no mount namespace"
m mount -t tmpfs -o size=320k,mode=0700 visp-store "$tmp/store"
m mountpoint -q "$tmp/store" || fail "the tmpfs is not mounted"
! mountpoint -q "$tmp/store" || fail "the tmpfs leaked out of its mount namespace"

node_start gw "$ns" --password "$PW" --no-tun --sim

cat >"$tmp/visp.conf" <<EOF
// faults-store.sh
{
  "cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$PW" },
  "state_dir": "$tmp/store/state",
  "run_dir": "$tmp/run",
  "ipv4_pool": "172.23.0.0/16",
  "ipv6_pool": "fd23:2323:2323::/64",
  "routes": ["default"],
  "lease_time": 3600
}
EOF
"$PY" -c "
import sys; sys.path.insert(0, '$top/tests/sim')
import cjdns_codec as c
for _ in range(400):
    k = c.key_to_string(c.generate_key())
    print(k, c.address_of_key(k))
" >"$tmp/keys"
key_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f1; }
addr_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f2; }
for i in 1 2 3; do echo "address add $(addr_n $i)/128 dev lo nodad"; done | ip -n "$ns" -6 -batch -
# The endpoint runs in the mount namespace too, so it sees the same store.
nsenter -t "$holder" -m -n systemd-socket-activate --accept --inetd -l '[::]:12234' \
	"$VISP" -c "$tmp/visp.conf" lease serve 2>"$tmp/serve.log" &
listen_pid=$!
poll 10 m curl -sf -o /dev/null -g 'http://[::1]:12234/nameservers' ||
	fail "the lease endpoint did not come up"
post() {
	m curl -s -g -o "$tmp/post.out" -w '%{http_code}' --max-time 30 --interface "$(addr_n "$1")" \
		-d "{\"public_key\": \"$(key_n "$1")\"}" 'http://[::1]:12234/lease' || true
}

# intact: the leases of $tmp/before.json are all still there, unchanged; SQLite agrees.
intact() {
	v lease list -a -j >"$tmp/now.json" 2>"$tmp/list.err" || fail "lease list: $(cat "$tmp/list.err")"
	"$PY" - "$tmp/before.json" "$tmp/now.json" <<-'PY' || fail "stored leases changed"
	import json, sys
	before = {l["public_key"]: l for l in json.load(open(sys.argv[1]))}
	now = {l["public_key"]: l for l in json.load(open(sys.argv[2]))}
	for k, l in before.items():
	    n = now.get(k)
	    assert n is not None, "lost: " + k
	    for f in ("ipv4_address", "ipv6_address", "current", "connection"):
	        assert n[f] == l[f], (k, f, l[f], n[f])
	PY
	m "$PY" -c "
import sqlite3, sys
con = sqlite3.connect('file:$tmp/store/state/leases.db?mode=ro', uri=True)
r = [x[0] for x in con.execute('PRAGMA integrity_check')]
sys.exit(0 if r == ['ok'] else 'integrity_check: %s' % r)
" || fail "the store is corrupt"
}

step "20 leases on a 320 KiB tmpfs"
for i in $(seq 10 29); do v -q lease grant "$(key_n "$i")" >/dev/null; done
code=$(post 1)
[ "$code" = 200 ] || fail "POST /lease before the faults: $code"
v lease sync >/dev/null
v lease list -a -j >"$tmp/before.json"

step "the disk full: grants fail with a clear message, exit 1, nothing stored is lost"
# Everything left goes to a file; SQLite may still have room in its WAL, so
# grant until the store has to grow.
m dd if=/dev/zero of="$tmp/store/filler" bs=4k 2>/dev/null || true
m df -k "$tmp/store" | tail -n 1 | awk '{ print "   tmpfs: " $4 " KiB free" }'
full=
for i in $(seq 30 399); do
	run "lease grant on a full disk" "0 1" v lease grant "$(key_n "$i")"
	if [ $last_rc -ne 0 ]; then
		full=$i
		break
	fi
	v lease list -a -j >"$tmp/before.json"	# a grant that succeeded is stored too
done
[ -n "$full" ] || fail "370 grants fit on a full 320 KiB disk?"
echo "   grant $((full - 29)) failed: $(cat "$tmp/run.err")"
grep -q -e "disk is full" -e "No space left on device" "$tmp/run.err" ||
	fail "the message does not say the disk is full"
run "lease revoke on a full disk" "0 1" v lease revoke "$(key_n 10)"
echo "   lease revoke on a full disk: exit $last_rc $(head -n 1 "$tmp/run.err")"
[ $last_rc -eq 0 ] && v lease list -a -j >"$tmp/before.json"
run "lease sync on a full disk" "0 1" v lease sync
echo "   lease sync on a full disk: exit $last_rc $(head -n 1 "$tmp/run.err")"
code=$(post 2)
case $code in
200) ;;
503) grep -q '"error"' "$tmp/post.out" || fail "503 without a JSON error"
     ! grep -q "$tmp" "$tmp/post.out" || fail "the 503 names a server path: $(cat "$tmp/post.out")" ;;
*) fail "POST /lease on a full disk: $code $(cat "$tmp/post.out")" ;;
esac
# Reading needs the -wal and -shm files, which SQLite removes on the last
# close and must create again: on a full disk even listing may fail, but
# then it must say why.
run "lease list on a full disk" "0 1" v lease list -a -j
echo "   lease list: exit $last_rc $(head -n 1 "$tmp/run.err")"
m rm -f "$tmp/store/filler"
intact

step "read-only: grant, revoke, sync and POST fail with a clear message, nothing changes"
v lease list -a -j >"$tmp/before.json"
m mount -o remount,ro "$tmp/store"
run "lease grant on a read-only store" "1" v lease grant "$(key_n 300)"
echo "   lease grant on a read-only store: exit $last_rc $(head -n 1 "$tmp/run.err")"
grep -q -i "read-only" "$tmp/run.err" || fail "the message does not say read-only: $(cat "$tmp/run.err")"
run "lease revoke on a read-only store" "1" v lease revoke "$(key_n 11)"
echo "   lease revoke on a read-only store: exit $last_rc $(head -n 1 "$tmp/run.err")"
run "lease sync on a read-only store" "1" v lease sync
echo "   lease sync on a read-only store: exit $last_rc $(head -n 1 "$tmp/run.err")"
code=$(post 3)
[ "$code" = 503 ] && grep -q '"error"' "$tmp/post.out" ||
	fail "POST /lease on a read-only store: $code $(cat "$tmp/post.out")"
! grep -q "$tmp" "$tmp/post.out" || fail "the 503 names a server path: $(cat "$tmp/post.out")"
# Reading commands open the store read-only: they still work.
run "lease list on a read-only store" "0" v lease list -a -j
cmp -s "$tmp/before.json" "$tmp/run.out" || fail "lease list on a read-only store: $(cat "$tmp/run.out")"
run "lease show on a read-only store" "0" v lease show "$(key_n 11)"
grep -q "$(key_n 11)" "$tmp/run.out" || fail "lease show on a read-only store: $(cat "$tmp/run.out")"
echo "   lease list and lease show on a read-only store: the leases, as before"
m mount -o remount,rw "$tmp/store"
intact

step "writable again: grants work, one sync and cjdns holds exactly the store"
v -q lease grant "$(key_n 300)" >/dev/null || fail "a grant after the remount"
m "$VISP" -c "$tmp/visp.conf" lease sync >/dev/null || fail "sync after the remount"
m "$PY" "$top/tests/netns/leasecheck.py" --visp "$VISP" --conf "$tmp/visp.conf" \
	--admin 127.0.0.1:11234 --password "$PW" --db "$tmp/store/state/leases.db" ||
	fail "cjdns does not hold the store"
! grep -E 'Sanitizer|runtime error' "$tmp/serve.log" || fail "lease serve: sanitizer report above"
echo "PASS"
