#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# lease serve's socket-activated mode (Accept=no): one process takes the
# listening socket and serves every connection.
#
#   $ns (one namespace)
#  +----------------------------------------------------------------------+
#  | cjdns: the simulator or cjdroute (admin only, 127.0.0.1:11234)       |
#  |     ^ admin                                                          |
#  | visp lease serve --max-connections 8 --idle 6                        |
#  |     ^ LISTEN_FDS=1      <- systemd-socket-activate [::]:12234        |
#  | load generator, slowloris, flood, from lo's 300 fc addresses         |
#  +----------------------------------------------------------------------+
#
# 300 POST /lease at 32 connections at a time: every one answered 200, no
# address twice in the store or in cjdns, all by one process. A slowloris
# client (a byte a second) gets its 408 and delays nobody: 100 leases go
# through meanwhile. A flood of 150 connections past the cap of 8, while
# 6 silent ones hold slots: every request answered, the process still the
# same, its memory bounded. With no connection for --idle seconds the
# process exits. LISTEN_PID naming another process: the socket is not
# taken (sd_listen_fds semantics).
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for tool in ip curl systemd-socket-activate; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step
. "$top/tests/lib/node.sh"	# node_start: the simulator, or cjdroute with CJDROUTE
VISP=${VISP:-$top/visp}
PY=$(command -v /usr/bin/python3 || command -v python3)
PW=serve-test-pw
ns=visp-serve-$$
tmp=$(mktemp -d /tmp/visp-serve.XXXXXX)
listen_pid=

n() { ip netns exec "$ns" "$@"; }
visp() { n "$VISP" -c "$tmp/visp.conf" "$@"; }
helper() { n "$PY" "$top/tests/bench/helpers.py" "$@"; }
clients() { n "$PY" "$top/tests/netns/serve-clients.py" "$@"; }

cleanup() {
	local rc=$?
	set +e
	node_stop_all
	stop_pid "$listen_pid"
	ip netns del "$ns" 2>/dev/null
	if [ $rc -ne 0 ]; then
		echo "---- lease serve's log (requests that failed)"
		grep -v " -> 200$" "$tmp/serve.log" | tail -n 30
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# start_serve: the socket-activated lease serve, its pid in $listen_pid.
start_serve() {
	ip netns exec "$ns" systemd-socket-activate -l '[::]:12234' \
		"$VISP" -c "$tmp/visp.conf" lease serve --max-connections 8 --idle 6 \
		2>>"$tmp/serve.log" &
	listen_pid=$!
	poll 10 n curl -sf -o /dev/null -g 'http://[::1]:12234/nameservers' ||
		fail "the lease endpoint did not come up"
}
alive() { kill -0 "$listen_pid" 2>/dev/null; }

ip netns add "$ns"
n ip link set lo up
cat >"$tmp/visp.conf" <<EOF2
{
  "cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$PW" },
  "state_dir": "$tmp/state", "run_dir": "$tmp/run",
  "ipv4_pool": "10.64.0.0/22", "ipv6_pool": "fd00:64::/64",
  "routes": ["default"], "nameservers": ["192.0.2.53"], "lease_time": 3600
}
EOF2
node_start gw "$ns" --password "$PW" --no-tun
helper keys 400 >"$tmp/keys"
while read -r _ addr; do echo "address add $addr/128 dev lo nodad"; done <"$tmp/keys" |
	n ip -6 -batch -
sed -n 1,300p "$tmp/keys" >"$tmp/load.keys"
sed -n 301,400p "$tmp/keys" >"$tmp/slow.keys"

start_serve
first=$listen_pid
step "300 leases, 32 connections at a time, one process"
helper load 12234 "$tmp/load.keys" 32 >"$tmp/load.vars"
cat "$tmp/load.vars"
grep -qx "ok 300" "$tmp/load.vars" || fail "not every POST was answered 200"
grep -qx "distinct_v4 300" "$tmp/load.vars" || fail "an address was handed out twice"
visp lease list -j | helper dups 127.0.0.1:11234 "$PW" || fail "duplicates in the store or cjdns"
[ "$(grep -c 'POST /lease socket from .* -> 200$' "$tmp/serve.log")" -ge 300 ] ||
	fail "the leases were not all served in socket mode"
alive || fail "lease serve exited under load"

step "a slowloris client does not delay the others"
clients slowloris 12234 8 >"$tmp/slow.out" &
slow=$!
sleep 1
t0=$SECONDS
helper load 12234 "$tmp/slow.keys" 16 >"$tmp/slow.vars"
cat "$tmp/slow.vars"
grep -qx "ok 100" "$tmp/slow.vars" || fail "leases failed beside the slowloris client"
[ $((SECONDS - t0)) -le 3 ] || fail "100 leases beside the slowloris took $((SECONDS - t0)) s"
wait "$slow"
[ "$(cat "$tmp/slow.out")" = 408 ] || fail "the slowloris client got '$(cat "$tmp/slow.out")', not 408"

step "a flood past the cap of 8, 6 slots held by silent connections"
clients flood 12234 150 6 >"$tmp/flood.out"
cat "$tmp/flood.out"
[ "$(cat "$tmp/flood.out")" = "200:150" ] || fail "not every request of the flood was answered"
alive && [ "$listen_pid" = "$first" ] || fail "lease serve did not survive the flood"
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$listen_pid/status")
echo "peak RSS ${rss} KiB"
# (ASan's shadow memory and quarantine make a sanitized build's RSS meaningless.)
ldd "$VISP" | grep -q libasan || [ "$rss" -lt 16384 ] || fail "lease serve's peak RSS is $rss KiB"

step "idle: the process exits after 6 s without a connection"
poll 12 eval '! alive' || fail "lease serve still runs after --idle 6"
wait "$listen_pid" || fail "lease serve exited $? when idle"
listen_pid=
grep -E 'Sanitizer|runtime error' "$tmp/serve.log" && fail "sanitizer report above"

step "LISTEN_PID of another process: the socket is not taken"
clients listen 12235 other "$VISP" -c "$tmp/visp.conf" lease serve --idle 1 >"$tmp/other.out" 2>&1
cat "$tmp/other.out"
grep -q "^answered 0 exit 1$" "$tmp/other.out" || fail "a socket meant for another pid was served"
clients listen 12236 own "$VISP" -c "$tmp/visp.conf" lease serve --idle 1 >"$tmp/own.out" 2>&1
cat "$tmp/own.out"
grep -q "^answered 200 exit 0$" "$tmp/own.out" || fail "the socket passed with its own LISTEN_PID was not served"
echo "PASS"
