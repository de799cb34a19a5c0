#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The lease endpoint and store, end to end through a real TCP listener.
#
#   $ns (one namespace: the gateway and its clients)
#  +---------------------------------------------------------------+
#  | cjdns node (admin only, 127.0.0.1:11234): the simulator, or  |
#  |   the real cjdroute that CJDROUTE names (tests/lib/node.sh)   |
#  |     ^ admin                                                   |
#  | visp lease serve  <- systemd-socket-activate --accept [::]:12234
#  |     ^ HTTP                                                    |
#  | curl --interface fcXX..  (lo holds 200+ client identities,    |
#  |                           fc00::/8 /128 each)                 |
#  +---------------------------------------------------------------+
#
# Checks: a POST gets a lease and cjdns shows the matching allowConnection;
# a second POST returns the same addresses; a key that does not match the
# source address gets 403 and changes nothing; 200 concurrent POSTs from
# distinct keys get 200 distinct addresses, no duplicate in the store or in
# cjdns; a full pool gives 503 and nothing else; after cjdns restarts,
# lease sync restores every lease; lease grant SIGKILLed at random points
# never breaks the store, and the next sync repairs cjdns.
# Everything here runs the same against a real cjdroute (CJDROUTE=binary).
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for tool in ip curl python3 systemd-socket-activate; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# stop_pid
. "$top/tests/lib/node.sh"	# node_start, node_stop: the simulator or $CJDROUTE
VISP=${VISP:-$top/visp}
ADMIN=$top/tests/sim/cjdns_admin.py
PW=lease-test-pw
ns=lease-$$
tmp=$(mktemp -d /tmp/visp-lease.XXXXXX)
listen_pid=

n() { ip netns exec "$ns" "$@"; }
admin() { n python3 "$ADMIN" --admin 127.0.0.1:11234 --password "$PW" "$@"; }
visp() { n "$VISP" -c "$tmp/visp.conf" "$@"; }

cleanup() {
	local rc=$?
	set +e
	for pid in $listen_pid; do
		stop_pid "$pid"
	done
	node_stop_all
	ip netns del "$ns" 2>/dev/null
	if [ $rc -ne 0 ]; then
		# systemd-socket-activate logs every child's exit, and the served
		# requests that went well say little: keep the rest.
		for f in "$tmp"/*.log; do
			echo "---- $f"
			grep -v -e "^Child [0-9]* died" -e " -> 200$" "$f" | tail -n 20
		done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# The gateway's cjdns: admin only, no tun, no peers.
start_node() { node_start gw "$ns" --password "$PW" --no-tun; }

ip netns add "$ns"
n ip link set lo up

cat >"$tmp/visp.conf" <<EOF
// lease.sh
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

start_node
# Keys whose fc00::/8 addresses the clients send from: "key address" lines.
python3 -c "
import sys; sys.path.insert(0, '$top/tests/sim')
import cjdns_codec as c
for _ in range(203):
    k = c.key_to_string(c.generate_key())
    print(k, c.address_of_key(k))
" >"$tmp/keys"
while read -r _ addr; do
	echo "address add $addr/128 dev lo nodad"
done <"$tmp/keys" | n ip -6 -batch -

ip netns exec "$ns" systemd-socket-activate --accept --inetd -l '[::]:12234' \
	"$VISP" -c "$tmp/visp.conf" lease serve 2>"$tmp/serve.log" &
listen_pid=$!
for _ in $(seq 100); do
	n curl -s -o /dev/null -g 'http://[::1]:12234/nameservers' && break
	sleep 0.1
done

key_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f1; }
addr_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f2; }

# post N [KEY]: POST /lease from key N's address (naming KEY, default key N).
post() {
	local from key
	from=$(addr_n "$1")
	key=${2:-$(key_n "$1")}
	n curl -s -g --interface "$from" -w '\n%{http_code}\n' \
		-H 'Content-Type: application/json' -d "{\"public_key\": \"$key\"}" \
		'http://[::1]:12234/lease'
}
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.readline())['$1'])"; }
count_conns() {
	admin IpTunnel_listConnections | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["connections"]))'
}

echo "== a client gets a lease, and cjdns allows it"
out=$(post 1)
[ "$(echo "$out" | tail -n 1)" = 200 ] || fail "POST: $out"
ip4=$(echo "$out" | head -n 1 | field ipv4_address)
[ "$ip4" = 172.23.23.2/24 ] || fail "first lease is $ip4"
conn=$(visp lease show -j "$(key_n 1)" | python3 -c "import json,sys; print(json.load(sys.stdin)['connection'])")
admin IpTunnel_showConnection connection="$conn" >"$tmp/show.json"
grep -q "$(key_n 1)" "$tmp/show.json" || fail "cjdns has no entry for the key: $(cat "$tmp/show.json")"
grep -q '"ip4Address": "172.23.23.2"' "$tmp/show.json" || fail "wrong address in cjdns: $(cat "$tmp/show.json")"
grep -q '"ip4Prefix": 0' "$tmp/show.json" || fail "a default route lease needs prefix 0"

echo "== the same key posting again gets the same addresses"
again=$(post 1)
[ "$(echo "$again" | head -n 1 | field ipv4_address)" = "$ip4" ] || fail "renewal moved: $again"
[ "$(echo "$again" | head -n 1 | field ipv6_address)" = "$(echo "$out" | head -n 1 | field ipv6_address)" ] ||
	fail "IPv6 renewal moved"

echo "== a key that does not match the source address is refused, nothing changes"
visp lease list -j >"$tmp/before.json"
admin IpTunnel_listConnections >"$tmp/before.cjdns"
out=$(post 2 "$(key_n 3)")
[ "$(echo "$out" | tail -n 1)" = 403 ] || fail "spoofed key: $out"
visp lease list -j >"$tmp/after.json"
admin IpTunnel_listConnections >"$tmp/after.cjdns"
cmp -s "$tmp/before.json" "$tmp/after.json" || fail "the store changed"
cmp -s "$tmp/before.cjdns" "$tmp/after.cjdns" || fail "cjdns changed"

echo "== 200 concurrent POSTs from distinct keys"
posters=()
for i in $(seq 2 201); do
	post "$i" >"$tmp/post.$i" &
	posters+=($!)
done
wait "${posters[@]}"
for i in $(seq 2 201); do
	[ "$(tail -n 1 "$tmp/post.$i")" = 200 ] || fail "POST $i: $(cat "$tmp/post.$i")"
done
visp lease list -j | python3 -c "
import json, sys
leases = json.load(sys.stdin)
assert len(leases) == 201, len(leases)
v4 = [l['ipv4_address'] for l in leases]
v6 = [l['ipv6_address'] for l in leases]
assert len(set(v4)) == 201 and len(set(v6)) == 201, 'duplicate address in the store'
" || fail "store"
[ "$(count_conns)" = 201 ] || fail "cjdns does not hold exactly 201 entries"

echo "== a full pool answers 503 and changes nothing"
sed -e 's|"172.23.23.0/24"|"172.23.24.0/30"|' -e 's|"fd23:2323:2323::/64"|"fd23:2424::/126"|' \
	-e "s|$tmp/state|$tmp/small|" "$tmp/visp.conf" >"$tmp/small.conf"
n "$VISP" -c "$tmp/small.conf" lease grant "$(key_n 1)" >/dev/null
n "$VISP" -c "$tmp/small.conf" lease list -j >"$tmp/small.before"
before=$(count_conns)
set +e
n "$VISP" -c "$tmp/small.conf" lease grant "$(key_n 2)" 2>"$tmp/full.err"
rc=$?
set -e
[ $rc -eq 6 ] || fail "a full pool: exit $rc, $(cat "$tmp/full.err")"
grep -q exhausted "$tmp/full.err" || fail "no 'exhausted' in: $(cat "$tmp/full.err")"
n "$VISP" -c "$tmp/small.conf" lease list -j >"$tmp/small.after"
cmp -s "$tmp/small.before" "$tmp/small.after" || fail "a refused grant changed the store"
[ "$(count_conns)" = "$before" ] || fail "a refused grant changed cjdns"
# The same through the endpoint: 503 with a JSON error.
sed -i "s|$tmp/state|$tmp/small|; s|\"172.23.23.0/24\"|\"172.23.24.0/30\"|; s|\"fd23:2323:2323::/64\"|\"fd23:2424::/126\"|" "$tmp/visp.conf"
out=$(post 3)
[ "$(echo "$out" | tail -n 1)" = 503 ] || fail "full pool over HTTP: $out"
echo "$out" | head -n 1 | grep -q '"error"' || fail "503 without a JSON error: $out"
sed -i "s|$tmp/small|$tmp/state|; s|\"172.23.24.0/30\"|\"172.23.23.0/24\"|; s|\"fd23:2424::/126\"|\"fd23:2323:2323::/64\"|" "$tmp/visp.conf"

echo "== after cjdns restarts, lease sync restores every lease"
node_stop gw
start_node
[ "$(count_conns)" = 0 ] || fail "the restarted $(node_kind) kept entries"
visp lease sync
[ "$(count_conns)" = 201 ] || fail "sync did not restore 201 entries"
visp lease sync | grep -q '^201 in place, 0 added' || fail "a second sync was not a no-op"

echo "== lease grant killed at random points: the store stays consistent"
for i in $(seq 1 30); do
	k=$(key_n $((202 + i % 2)))
	ip netns exec "$ns" "$VISP" -c "$tmp/visp.conf" lease grant "$k" >/dev/null 2>&1 &
	pid=$!
	sleep "0.00$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done
visp lease sync >/dev/null
keys=$(for c in $(admin IpTunnel_listConnections | python3 -c 'import json,sys; print(*json.load(sys.stdin)["connections"])'); do
	visp cjdns call IpTunnel_showConnection connection="$c" | grep -o '"key":"[^"]*"'
done | sort)
[ -z "$(echo "$keys" | uniq -d)" ] || fail "cjdns holds duplicate entries after the kill loop"
visp lease list -j | python3 -c "
import json, sys
leases = json.load(sys.stdin)
v4 = [l['ipv4_address'] for l in leases]
assert len(v4) == len(set(v4))
" || fail "store"
# The endpoint's own stderr (its log): no sanitizer report from any request.
! grep -E 'Sanitizer|runtime error' "$tmp/serve.log" || fail "lease serve: sanitizer report above"
echo "PASS"
