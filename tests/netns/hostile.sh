#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Hostile requests to the lease endpoint, end to end through real TCP.
#
#   $ns (one namespace)
#  +----------------------------------------------------------------------+
#  | cjdns-sim (admin only, 127.0.0.1:11234)                              |
#  |     ^ admin                                                          |
#  | visp lease serve  <- systemd-socket-activate [--accept] [::]:12234   |
#  |     ^ raw bytes over TCP                                             |
#  | hostile-send.py, from lo's addresses:                                |
#  |   key A's fc address (A holds a lease), key B's (B holds a lease),   |
#  |   key C's (no lease), 2001:db8::5 (not cjdns), 127.0.0.1             |
#  +----------------------------------------------------------------------+
#
# Two legitimate POSTs set up the leases of A and B. Then every case of
# hostile-requests.tsv (oversized and slow requests, broken framing, header
# injection, bad JSON and bad keys, spoofed identities, path and method
# tricks, other HTTP versions) goes out byte for byte on its own connection:
# the status must be the table's, the response well formed, and neither the
# lease store nor cjdns may change. Each request is bounded by the serve
# timeout; nothing may hang.
#
# HOSTILE_MODE=accept (the default): one visp process per connection
# (Accept=yes, inetd); HOSTILE_MODE=socket: one visp process takes the
# listening socket and serves every connection (Accept=no), which
# hostile-socket.sh runs.
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for tool in ip curl systemd-socket-activate; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll
. "$top/tests/lib/node.sh"	# node_start --sim
VISP=${VISP:-$top/visp}
# One python process does the sending and checking; /usr/bin/python3 starts
# faster than a pyenv shim.
PY=$(command -v /usr/bin/python3 || command -v python3)
PW=hostile-test-pw
ns=visp-hostile-$$
tmp=$(mktemp -d /tmp/visp-hostile.XXXXXX)
listen_pid=

n() { ip netns exec "$ns" "$@"; }
visp() { n "$VISP" -c "$tmp/visp.conf" "$@"; }

cleanup() {
	local rc=$?
	set +e
	node_stop_all
	for pid in $listen_pid; do
		stop_pid "$pid"
	done
	ip netns del "$ns" 2>/dev/null
	if [ $rc -ne 0 ]; then
		echo "---- lease serve's log (requests that failed)"
		grep -v -e "^Child [0-9]* died" -e " -> 200$" "$tmp/serve.log" | tail -n 30
		echo "---- simulator"
		tail -n 10 "$tmp/gw.log"
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

ip netns add "$ns"
n ip link set lo up

cat >"$tmp/visp.conf" <<EOF
// hostile.sh
{
  "cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$PW" },
  "state_dir": "$tmp/state",
  "run_dir": "$tmp/run",
  "ipv4_pool": "172.23.23.0/24",
  "ipv6_pool": "fd23:2323:2323::/64",
  "routes": ["default"],
  "nameservers": ["192.0.2.53"],
  "lease_time": 3600
}
EOF

node_start gw "$ns" --password "$PW" --no-tun --sim

# Keys A, B and C ("key address" lines) and their addresses on lo.
"$PY" -c "
import sys; sys.path.insert(0, '$top/tests/sim')
import cjdns_codec as c
for _ in range(3):
    k = c.key_to_string(c.generate_key())
    print(k, c.address_of_key(k))
" >"$tmp/keys"
{
	while read -r _ addr; do echo "address add $addr/128 dev lo nodad"; done <"$tmp/keys"
	echo "address add 2001:db8::5/128 dev lo nodad"
} | n ip -6 -batch -
key_a=$(sed -n 1p "$tmp/keys" | cut -d' ' -f1) addr_a=$(sed -n 1p "$tmp/keys" | cut -d' ' -f2)
key_b=$(sed -n 2p "$tmp/keys" | cut -d' ' -f1) addr_b=$(sed -n 2p "$tmp/keys" | cut -d' ' -f2)

case ${HOSTILE_MODE:=accept} in
accept) activate=(--accept --inetd) serve=() ;;
# systemd-socket-activate execs it: once it exits when idle, nothing listens.
socket) activate=() serve=(--idle 600) ;;
*) fail "HOSTILE_MODE: '$HOSTILE_MODE' is not accept or socket" ;;
esac
echo "== mode: $HOSTILE_MODE"
ip netns exec "$ns" systemd-socket-activate "${activate[@]}" -l '[::]:12234' \
	"$VISP" -c "$tmp/visp.conf" lease serve "${serve[@]}" 2>"$tmp/serve.log" &
listen_pid=$!
poll 10 n curl -sf -o /dev/null -g 'http://[::1]:12234/nameservers' ||
	fail "the lease endpoint did not come up"

echo "== baseline: A and B get leases the legitimate way"
for who in "$key_a $addr_a" "$key_b $addr_b"; do
	set -- $who
	code=$(n curl -s -g -o "$tmp/post.out" -w '%{http_code}' --interface "$2" \
		-H 'Content-Type: application/json' -d "{\"public_key\": \"$1\"}" \
		'http://[::1]:12234/lease')
	[ "$code" = 200 ] || fail "POST /lease for $1: $code $(cat "$tmp/post.out")"
done
[ "$(visp lease list -j | grep -c '"public_key"')" = 2 ] || fail "the store does not hold two leases"
visp lease list -a -j >"$tmp/store.before"

echo "== every case of hostile-requests.tsv"
n "$PY" "$top/tests/netns/hostile-send.py" --table "$top/tests/netns/hostile-requests.tsv" \
	--keys "$tmp/keys" --visp "$VISP" --conf "$tmp/visp.conf" --admin 127.0.0.1:11234 \
	--password "$PW" ${HOSTILE_ONLY:+--only "$HOSTILE_ONLY"} >"$tmp/cases.out" || {
	cat "$tmp/cases.out"
	fail "$(grep -c '^FAIL' "$tmp/cases.out") case(s) failed (above)"
}
cat "$tmp/cases.out"

echo "== afterwards: the same two leases, the endpoint still answers"
visp lease list -a -j | "$PY" -c "
import json, sys
before = json.load(open(sys.argv[1]))
after = json.load(sys.stdin)
strip = lambda ls: [{k: v for k, v in l.items() if k != 'expires'} for l in ls]
assert strip(before) == strip(after), (before, after)
" "$tmp/store.before" || fail "the store differs from the baseline"
code=$(n curl -s -g -o /dev/null -w '%{http_code}' --interface "$addr_a" \
	"http://[::1]:12234/lease?public_key=$key_a")
[ "$code" = 200 ] || fail "GET /lease for A after the cases: $code"
# The endpoint's own stderr: no sanitizer report from any request.
! grep -E 'Sanitizer|runtime error' "$tmp/serve.log" || fail "lease serve: sanitizer report above"
echo "PASS"
