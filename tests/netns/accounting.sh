#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Per-lease usage, rate limits, quotas and metrics on a gateway with two
# clients, end to end through cjdns. Run as root.
#
#   client 1 ns (c1)        underlay ns (u)          gateway ns (g)             internet ns (i)
#   +---------------+       +-----------------+      +---------------------+     +---------------+
#   | cjdns tun0    |       | br0             |      | cjdns tun0          |     |               |
#   | visp client   |       | 198.51.100.254  |      | visp tunnel up      |     |               |
#   | eth0 .2 ------|-------|-- (no route to  |------| eth0 198.51.100.1   |     |               |
#   +---------------+       |  192.0.2.0/24)  |      | eth1 192.0.2.1 -----|-----| eth0          |
#   client 2 ns (c2)        |                 |      | pool 172.23.23.0/24 |     | 192.0.2.100   |
#   | eth0 .3 ------|-------|--               |      +---------------------+     | http :80      |
#   +---------------+       +-----------------+                                  +---------------+
#
# The internet is reachable from the clients only through the gateway's
# tunnel. Checks: usage in the store equals the bytes moved (within
# headers) and is kept across tunnel up and a restart of the gateway's
# cjdns; a 4 Mbit/s down limit gives a single TCP download 3.4-4.1 Mbit/s
# of goodput while the unlimited client is not held to it; a quota
# throttles, then (over: block) blocks, and raising it lifts that; lease
# metrics writes OpenMetrics that a strict parser accepts; bad rates and
# sizes are usage errors. cjdns is the simulator, or cjdroute (CJDROUTE=).

set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/node.sh"	# node_start, node_stop: the simulator or $CJDROUTE
. "$top/tests/lib/test.sh"	# poll, step, run
visp=${VISP:-$top/visp}

skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
[ -x "$visp" ] || skip "no visp binary at $visp (run make)"
for t in python3 socat curl ip nft tc; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

nsc1=visp-ac1-$$ nsc2=visp-ac2-$$ nsu=visp-au-$$ nsg=visp-ag-$$ nsi=visp-ai-$$
tmp=$(mktemp -d /tmp/visp-accounting.XXXXXX)
pw=test-pw-$$
pids=()

nc1() { ip netns exec "$nsc1" "$@"; }
nc2() { ip netns exec "$nsc2" "$@"; }
ng() { ip netns exec "$nsg" "$@"; }
ni() { ip netns exec "$nsi" "$@"; }
vg() { ng "$visp" -c "$tmp/g.conf" "$@"; }

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	node_stop_all
	for ns in "$nsc1" "$nsc2" "$nsu" "$nsg" "$nsi"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "$KEEP_LOGS" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do echo "--- $f"; tail -n 15 "$f"; done >&2
	exit 1
}
ok() { echo "ok: $*"; }

# ---- topology ----

for ns in "$nsc1" "$nsc2" "$nsu" "$nsg" "$nsi"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n "$nsu" link add br0 type bridge
ip -n "$nsu" addr add 198.51.100.254/24 dev br0
ip -n "$nsu" link set br0 up
n=1
for ns in "$nsg" "$nsc1" "$nsc2"; do
	ip link add eth0 netns "$ns" type veth peer name p$n netns "$nsu"
	ip -n "$nsu" link set p$n master br0 up
	ip -n "$ns" addr add 198.51.100.$n/24 dev eth0
	ip -n "$ns" link set eth0 up
	n=$((n + 1))
done
for ns in "$nsc1" "$nsc2"; do ip -n "$ns" route add default via 198.51.100.254; done
ip link add eth1 netns "$nsg" type veth peer name eth0 netns "$nsi"
ip -n "$nsg" addr add 192.0.2.1/24 dev eth1
ip -n "$nsg" link set eth1 up
ip -n "$nsg" route add default via 192.0.2.100
ip -n "$nsi" addr add 192.0.2.100/24 dev eth0
ip -n "$nsi" link set eth0 up

mkdir -p "$tmp/www"
head -c 1000000 /dev/urandom >"$tmp/www/1m"
head -c 2500000 /dev/urandom >"$tmp/www/2500k"
head -c 500000 /dev/urandom >"$tmp/www/500k"
# Backgrounded without the ni/ng functions: $! must be the server itself, not a
# subshell whose kill would leave it running.
ip netns exec "$nsi" python3 -m http.server 80 --bind 192.0.2.100 --directory "$tmp/www" >"$tmp/www.log" 2>&1 &
pids+=($!)

# ---- cjdns and visp ----

start_cjdns() { node_start "$1" "$2" --password "$pw" --tun tun0 --underlay "$3" "${@:4}"; }
start_cjdns g "$nsg" 198.51.100.1:4000
start_cjdns c1 "$nsc1" 198.51.100.2:4000 --peer g
start_cjdns c2 "$nsc2" 198.51.100.3:4000 --peer g
kg=$(cat "$tmp/g.key") k1=$(cat "$tmp/c1.key") k2=$(cat "$tmp/c2.key")

write_gconf() {
	cat >"$tmp/g.conf" <<-EOF
	{
		"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
		"state_dir": "$tmp/g/state", "run_dir": "$tmp/g/run",
		"ipv4_pool": "172.23.23.0/24", "uplink": "eth1", "routes": ["default"],
		"lease_time": 3600 $1
	}
	EOF
}
write_gconf ""
mkdir -p "$tmp/g"
vg -q tunnel up >"$tmp/g-up.log" 2>&1 || fail "tunnel up"
ip netns exec "$nsg" socat TCP6-LISTEN:12234,fork,reuseaddr EXEC:"$visp -c $tmp/g.conf lease serve",nofork \
	>/dev/null 2>"$tmp/g-serve.log" &
pids+=($!)

for c in 1 2; do
	cat >"$tmp/c$c.conf" <<-EOF
	{
		"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
		"state_dir": "$tmp/c$c/state", "run_dir": "$tmp/c$c/run", "gateways": ["$kg"]
	}
	EOF
done
vc() { ip netns exec "visp-ac$1-$$" "$visp" -c "$tmp/c$1.conf" "${@:2}"; }
ag=$("$visp" key addr "$kg")
poll 30 nc1 ping -6 -c1 -W1 "$ag" || fail "no mesh path from client 1 to the gateway"
poll 30 nc2 ping -6 -c1 -W1 "$ag" || fail "no mesh path from client 2 to the gateway"
! nc1 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/1m ||
	fail "the internet is reachable without a tunnel: the topology is wrong"
vc 1 client connect >/dev/null 2>"$tmp/c1-connect.log" || fail "client 1 connect"
vc 2 client connect >/dev/null 2>"$tmp/c2-connect.log" || fail "client 2 connect"
poll 20 nc1 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/1m || fail "no internet for client 1"
poll 20 nc2 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/1m || fail "no internet for client 2"
ok "topology up ($(node_kind)): two clients leased through gateway $kg"

# field KEY NAME: one field of lease show -j.
field() { vg -j lease show "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
# down KEY: bytes down this period, after a fold by lease sync.
synced_down() { vg -q lease sync >/dev/null 2>>"$tmp/sync.log" || fail "lease sync"; field "$1" down_bytes; }
# fetch C FILE: download through client C, print the goodput in bit/s.
fetch() {
	ip netns exec "visp-ac$1-$$" curl -sf --max-time 60 -o /dev/null -w '%{speed_download}\n' \
		"http://192.0.2.100/$2" || fail "client $1 could not fetch $2"
}
within() { python3 -c 'import sys; v,lo,hi=map(float,sys.argv[1:]); sys.exit(0 if lo<=v<=hi else 1)' "$@"; }

# ---- usage: counted in the kernel, folded into the store, never lost ----

# Bytes the gateway sent into its tun: client 1's download (client 2 is idle).
tx() { ng cat /sys/class/net/tun0/statistics/tx_bytes; }
# moved WHAT USAGE TX: the usage folded for a 1,000,000 byte file is at least
# the file and at most what went into the tun (retransmissions included), and
# within headers of that: the tun counts each segment's, the forward hook a
# GRO-merged packet's once.
moved() {
	within "$2" 1000000 "$3" && within "$2" "$(($3 * 95 / 100))" "$3" ||
		fail "$1: usage $2 for a 1,000,000 byte file, $3 bytes into the tun"
}

base=$(synced_down "$k1") t0=$(tx)
fetch 1 1m >/dev/null
d1=$(synced_down "$k1") t1=$(tx)
moved "lease sync" $((d1 - base)) $((t1 - t0))
[ "$(field "$k1" up_bytes)" -gt 0 ] || fail "no usage up (the requests and ACKs)"
ok "usage: $((d1 - base)) bytes down for a 1,000,000 byte file ($((t1 - t0)) into the tun)"

# tunnel up again (it folds, and keeps the table and its counters).
handle() { ng nft -j list table inet visp_usage | python3 -c 'import json,sys; print([o["table"]["handle"] for o in json.load(sys.stdin)["nftables"] if "table" in o][0])'; }
h=$(handle)
fetch 1 1m >/dev/null
vg -q tunnel up >>"$tmp/g-up.log" 2>&1 || fail "tunnel up again"
[ "$(handle)" = "$h" ] || fail "tunnel up replaced the counting table"
d2=$(field "$k1" down_bytes) t2=$(tx)
moved "tunnel up" $((d2 - d1)) $((t2 - t1))
ok "usage kept across tunnel up ($((d2 - d1)) bytes folded by it)"

# The gateway's cjdns restarts: its tun goes and comes back, the counters stay.
fetch 1 1m >/dev/null
t3=$(tx)
node_stop g
start_cjdns g "$nsg" 198.51.100.1:4000
vg -q tunnel up >>"$tmp/g-up.log" 2>&1 || fail "tunnel up after the cjdns restart"
d3=$(field "$k1" down_bytes)
moved "cjdns restart" $((d3 - d2)) $((t3 - t2))
vc 1 client connect >/dev/null 2>>"$tmp/c1-connect.log" || fail "client 1 reconnect"
vc 2 client connect >/dev/null 2>>"$tmp/c2-connect.log" || fail "client 2 reconnect"
poll 30 nc1 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/ || fail "no internet for client 1 after the restart"
poll 30 nc2 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/ || fail "no internet for client 2 after the restart"
d3=$(synced_down "$k1") t3=$(tx)
fetch 1 1m >/dev/null
d4=$(synced_down "$k1") t4=$(tx)
moved "after the cjdns restart" $((d4 - d3)) $((t4 - t3))
ok "usage kept across a restart of the gateway's cjdns, and counted after it"

# ---- rate limits: shaped, not dropped; the other client unaffected ----

# A qdisc as visp made it before its classes went into child qdiscs (every
# lease's class in the root, no classifier): it is made again, not patched.
ng tc qdisc add dev tun0 root handle 7650: htb default 0
ng tc class add dev tun0 parent 7650: classid 7650:1 htb rate 1mbit
run "grant --rate" 0 vg lease grant --rate 4mbit "$k1"
[ "$(field "$k1" rate_down)" = 4000000 ] || fail "rate_down is $(field "$k1" rate_down), want 4000000"
[ "$(field "$k2" rate_down)" = None ] || fail "client 2 got a rate limit"
ng tc class show dev tun0 | grep -q "rate 4Mbit" || fail "no 4Mbit HTB class on tun0: $(ng tc class show dev tun0)"
ng tc class show dev eth1 | grep -q "rate 4Mbit" || fail "no 4Mbit HTB class on eth1 (up)"
# The lease's class is in a child HTB qdisc (its own major), which hangs from
# a class of visp's root; the root has its classifier and no lease's class.
for dev in tun0 eth1; do
	major=$(ng tc class show dev "$dev" | awk '/rate 4Mbit/ { split($3, c, ":"); print c[1] }')
	[ -n "$major" ] && [ "$major" != 7650 ] || fail "the lease's class on $dev is $major:, not a child's"
	ng tc qdisc show dev "$dev" | grep -q "qdisc htb $major: parent 7650:$major " ||
		fail "no child qdisc $major: under 7650:$major on $dev: $(ng tc qdisc show dev "$dev")"
	! ng tc class show dev "$dev" | grep "class htb 7650:" | grep -v "rate 100Gbit" ||
		fail "a lease's class in the root on $dev"
	ng tc filter show dev "$dev" parent 7650: | grep -q "bpf.*visp-group" ||
		fail "no classifier on visp's qdisc on $dev: $(ng tc filter show dev "$dev")"
done
ok "the limited lease's classes are in child qdiscs; the old layout was made again"
g1=$(fetch 1 2500k)
g2=$(fetch 2 2500k)
within "$(python3 -c "print($g1 * 8)")" 3400000 4100000 ||
	fail "goodput through a 4mbit limit: $(python3 -c "print($g1 * 8)") bit/s, want 3.4-4.1 Mbit/s"
python3 -c "import sys; sys.exit(0 if $g2 * 8 > 2 * 4100000 else 1)" ||
	fail "the unlimited client got $(python3 -c "print($g2 * 8)") bit/s: held to the other's limit"
ok "rate 4mbit: $(python3 -c "print(round($g1 * 8 / 1e6, 2))") Mbit/s goodput; unlimited client $(python3 -c "print(round($g2 * 8 / 1e6, 1))") Mbit/s"
# Lifting one of two limits deletes that lease's classes and keeps the other's.
run "grant --rate, client 2" 0 vg lease grant --rate 8mbit "$k2"
run "grant --rate none" 0 vg lease grant --rate none "$k1"
for dev in tun0 eth1; do
	! ng tc class show dev "$dev" | grep -q "rate 4Mbit" || fail "the class stayed on $dev after --rate none"
	ng tc class show dev "$dev" | grep -q "rate 8Mbit" || fail "client 2's class went from $dev"
done
run "grant --rate none, client 2" 0 vg lease grant --rate none "$k2"
! ng tc qdisc show dev tun0 | grep -q "htb 7650:" || fail "visp's qdisc stayed with no limit left"
ok "rate none: the class is gone, the other lease's stays"

# The operator's own qdisc on the uplink is left alone, with a warning; down is still shaped.
ng tc qdisc add dev eth1 root handle 1: tbf rate 1gbit burst 100k latency 50ms
run "grant --rate with a foreign qdisc" 0 vg lease grant --rate 4mbit/1mbit "$k1"
grep -q "eth1 has a root qdisc (tbf 1:) that is not visp's" "$tmp/run.err" ||
	fail "no warning about the operator's qdisc: $(cat "$tmp/run.err")"
ng tc qdisc show dev eth1 | grep -q "qdisc tbf 1: root" || fail "the operator's qdisc was replaced"
ng tc class show dev tun0 | grep -q "rate 4Mbit" || fail "down was not shaped next to a foreign qdisc"
nc1 curl -sf --max-time 10 -o /dev/null http://192.0.2.100/500k || fail "no internet next to a foreign qdisc"
ng tc qdisc del dev eth1 root
run "grant --rate none" 0 vg lease grant --rate none "$k1"
ok "a foreign root qdisc: left alone, said so, the rest works"

# ---- quotas: throttle, block, lift ----

# A daily period (a new one: the usage of the month so far does not count).
write_gconf ', "quota": { "bytes": "100G", "period": "day", "over": "throttle", "throttle": "1mbit" }'
used=$(( $(synced_down "$k2") + $(field "$k2" up_bytes) ))
run "grant --quota" 0 vg lease grant --quota $((used + 1500000)) "$k2"
[ "$(field "$k2" quota_bytes)" = $((used + 1500000)) ] || fail "quota_bytes is $(field "$k2" quota_bytes)"
[ "$(field "$k2" quota_state)" = ok ] || fail "quota_state is $(field "$k2" quota_state) under the quota"
[ "$(field "$k1" quota_bytes)" = 100000000000 ] || fail "client 1 does not have the config's quota"
fetch 2 2500k >/dev/null	# past the quota: it counts from the next fold on
synced_down "$k2" >/dev/null
[ "$(field "$k2" quota_state)" = throttled ] || fail "quota_state is $(field "$k2" quota_state) over the quota"
[ "$(field "$k2" rate_down)" = 1000000 ] || fail "throttled rate_down is $(field "$k2" rate_down)"
g=$(fetch 2 500k)
within "$(python3 -c "print($g * 8)")" 800000 1100000 ||
	fail "goodput while throttled to 1mbit: $(python3 -c "print($g * 8)") bit/s"
ok "over the quota: throttled to $(python3 -c "print(round($g * 8 / 1e6, 2))") Mbit/s"

write_gconf ', "quota": { "bytes": "100G", "period": "day", "over": "block" }'
vg -q lease sync >/dev/null || fail "lease sync with over: block"
[ "$(field "$k2" quota_state)" = blocked ] || fail "quota_state is $(field "$k2" quota_state), want blocked"
! nc2 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/ || fail "a blocked lease still reaches the internet"
ng nft list set inet visp_usage blocked4 | grep -q 172.23.23 || fail "the address is not in blocked4"
nc1 curl -sf --max-time 5 -o /dev/null http://192.0.2.100/ || fail "client 1 was blocked with client 2"
ok "over the quota with over: block: no internet; client 1 unaffected"

run "grant --quota none" 0 vg lease grant --quota none "$k2"
[ "$(field "$k2" quota_state)" = ok ] || fail "quota_state is $(field "$k2" quota_state) after lifting"
nc2 curl -sf --max-time 5 -o /dev/null http://192.0.2.100/ || fail "lifting the quota did not unblock at once"
ok "quota lifted: the internet back at once"

# ---- a revoked lease stops counting and keeps its total ----

run "lease revoke" 0 vg lease revoke "$k2"
kept=$(synced_down "$k2")
[ "$kept" -gt 0 ] || fail "the revoked lease lost its usage"
! ng nft list set inet visp_usage down4 | grep -q "172.23.23.3 " ||
	fail "the revoked lease's address is still counted: $(ng nft list set inet visp_usage down4)"
! nc2 curl -sf --max-time 3 -o /dev/null http://192.0.2.100/ || true
[ "$(synced_down "$k2")" = "$kept" ] || fail "the revoked lease's usage changed"
ok "revoked: the address no longer counted, the total ($kept bytes) kept"

# ---- bad input ----

for bad in "4 mbit" "4mbits" "1.5bit" "mbit" "4mbit/" "9999gbit"; do
	run "grant --rate '$bad'" 2 vg lease grant --rate "$bad" "$k1"
	grep -qF "'${bad#*/}'" "$tmp/run.err" || grep -qF "'$bad'" "$tmp/run.err" ||
		fail "the error for --rate '$bad' does not quote it: $(cat "$tmp/run.err")"
done
for bad in "50X" "1.5" "G" "0"; do
	run "grant --quota '$bad'" 2 vg lease grant --quota "$bad" "$k1"
	grep -qF "'$bad'" "$tmp/run.err" || fail "the error for --quota '$bad' does not quote it"
done
write_gconf ', "rate_limit": "fast"'
run "config rate_limit: fast" 2 vg lease list
grep -q "'fast'" "$tmp/run.err" || fail "the config error does not quote the rate: $(cat "$tmp/run.err")"
write_gconf ', "quota": { "bytes": "100G", "period": "day", "over": "block" }'
ok "bad rates and sizes: usage errors that quote the text"

# ---- metrics ----

run "lease metrics" 0 vg lease metrics -o "$tmp/g/visp.prom"
python3 "$top/tests/netns/openmetrics.py" "$tmp/g/visp.prom" ||
	fail "lease metrics is not valid OpenMetrics: $(head -c 2000 "$tmp/g/visp.prom")"
grep -q "^visp_lease_down_bytes_total{key=\"$k1\"" "$tmp/g/visp.prom" || fail "no usage of client 1 in the metrics"
grep -q "^visp_pool_leases{pool=\"172.23.23.0/24\"} 1$" "$tmp/g/visp.prom" ||
	fail "the pool's leases are not 1 (client 2's was revoked)"
grep -q "^visp_pool_free{pool=\"172.23.23.0/24\"} 252$" "$tmp/g/visp.prom" ||
	fail "the pool's free addresses are not 252 (253 leasable, 1 held)"
grep -q "^visp_lease_down_bytes_total{key=\"$k2\"} $kept$" "$tmp/g/visp.prom" ||
	fail "the revoked lease's usage this period is not in the metrics"
ok "lease metrics: valid OpenMetrics ($(wc -l <"$tmp/g/visp.prom") lines)"

# ---- tunnel down: the table and qdiscs go ----
run "grant --rate" 0 vg lease grant --rate 2mbit/1mbit "$k1"
vg -q tunnel down >/dev/null 2>&1 || fail "tunnel down"
! ng nft list table inet visp_usage >/dev/null 2>&1 || fail "the counting table stayed after tunnel down"
! ng tc qdisc show dev eth1 | grep -q "htb 7650:" || fail "visp's qdisc stayed on the uplink"
ok "tunnel down removed the counting table and the qdiscs"

echo PASS
