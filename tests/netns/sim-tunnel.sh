#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# End-to-end test of the cjdns simulator's IpTunnel data plane (no visp
# involved): a client reaches a web server on the "internet" through a
# gateway, the way cjdroute's IpTunnel does it.
#
#   $ns_c (client)                $ns_g (gateway)                    $ns_i (internet)
#  +-----------------+          +-------------------+              +------------------+
#  | cjdns-sim       |   ul0    | cjdns-sim         |    up0/inet0 | python3 -m       |
#  |  tun0 fc../8    |==========|  tun0 fc../8      |==============|   http.server    |
#  |  10.66.0.x/32   | 10.99.0.2| 10.66.0.1/24      |198.51.100.1  | 198.51.100.2     |
#  |  proto 52 /1s   | 10.99.0.1| forward+masquerade|  -> .2       | 203.0.113.80 (lo)|
#  +-----------------+  (UDP    +-------------------+              +------------------+
#                      underlay)
#
# The test plays visp's part on the gateway (tun address, forwarding, NAT,
# allowConnection) and checks: addresses and routes appear on the client,
# fc00::/8 traffic flows, curl goes through the tunnel and is NATed to the
# gateway's uplink, removeConnection leaves routes until RouteGen removes
# them, a restarted gateway forgets its allowConnection, and a stale
# duplicate entry drops the client's traffic.
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
[ -c /dev/net/tun ] || { echo "skip: no /dev/net/tun"; exit 77; }
for tool in ip nft curl ping python3; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step
SIM=$top/tests/sim/cjdns-sim.py
ADMIN=$top/tests/sim/cjdns_admin.py
PW=sim-tunnel-pw
ns_c=simc-$$ ns_g=simg-$$ ns_i=simi-$$
tmp=$(mktemp -d /tmp/sim-tunnel.XXXXXX)
pids=()

nc_() { ip netns exec "$ns_c" "$@"; }
ng() { ip netns exec "$ns_g" "$@"; }
ni() { ip netns exec "$ns_i" "$@"; }

cleanup() {
	local rc=$?
	set +e
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	for ns in "$ns_c" "$ns_g" "$ns_i"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $f"
			tail -n 30 "$f"
		done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# admin NS FUNCTION [name=value...]: call the simulator of namespace NS.
admin() {
	local ns=$1; shift
	ip netns exec "$ns" python3 "$ADMIN" --admin 127.0.0.1:11234 --password "$PW" "$@"
}

# json EXPR: evaluate EXPR on the JSON document read from stdin (as `d`).
json() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

# start_sim NAME NS ARGS...: start a simulator, wait for its ready file.
start_sim() {
	local name=$1 ns=$2; shift 2
	rm -f "$tmp/$name.ready"
	ip netns exec "$ns" python3 "$SIM" --admin 127.0.0.1:11234 --password "$PW" \
		--key-file "$tmp/$name.key" --tun tun0 --ready-file "$tmp/$name.ready" \
		--log "$tmp/$name.log" "$@" &
	pids+=($!)
	eval "pid_$name=$!"
	poll 15 test -s "$tmp/$name.ready" || fail "$name simulator did not start"
}

stop_sim() {
	local name=$1 pid
	eval "pid=\$pid_$name"
	kill "$pid"
	wait "$pid" || fail "$name simulator exited with status $?"
}

step "namespaces and links"
for ns in "$ns_c" "$ns_g" "$ns_i"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
done
ip link add ul0 netns "$ns_c" type veth peer name ul0 netns "$ns_g"
ip link add up0 netns "$ns_g" type veth peer name inet0 netns "$ns_i"
ip -n "$ns_c" addr add 10.99.0.2/24 dev ul0
ip -n "$ns_g" addr add 10.99.0.1/24 dev ul0
ip -n "$ns_g" addr add 198.51.100.1/24 dev up0
ip -n "$ns_i" addr add 198.51.100.2/24 dev inet0
ip -n "$ns_i" addr add 203.0.113.80/32 dev lo
for l in "$ns_c ul0" "$ns_g ul0" "$ns_g up0" "$ns_i inet0"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
ip -n "$ns_g" route add default via 198.51.100.2
# No route back to 10.66.0.0/24 in the internet: replies only come back NATed.

step "internet web server"
mkdir "$tmp/www"
echo "hello through the tunnel" >"$tmp/www/hello.txt"
# A simple command (not a shell function) in the background, so that $! is the
# server's own pid: ip netns exec execs python3.
ip netns exec "$ns_i" python3 -m http.server 8000 --bind 203.0.113.80 --directory "$tmp/www" \
	>"$tmp/http.log" 2>&1 &
pids+=($!)
poll 10 ni curl -sf --max-time 1 http://203.0.113.80:8000/hello.txt || fail "web server did not start"

step "simulators"
start_sim gw "$ns_g" --underlay 10.99.0.1:19273
# 192.0.2.1 stands for a public peer of cjdroute.conf (a route exception);
# 10.99.0.1 is in a local prefix and so is no exception.
start_sim cl "$ns_c" --underlay 10.99.0.2:19273 --peer 10.99.0.1:19273 --iptunnel-retry 2 \
	--route-exception 192.0.2.1/32 --route-exception 10.99.0.1/32
gw_info=$(admin "$ns_g" Core_nodeInfo)
cl_info=$(admin "$ns_c" Core_nodeInfo)
gw_key=$(echo "$gw_info" | json 'd["myAddr"].split(".", 5)[5]')
cl_key=$(echo "$cl_info" | json 'd["myAddr"].split(".", 5)[5]')
gw_ip6=$(echo "$gw_info" | json 'd["myIp6"]')
gw_pid=$(admin "$ns_g" Core_pid | json 'd["pid"]')
[ "$gw_pid" = "$pid_gw" ] || fail "Core_pid $gw_pid is not the simulator's pid $pid_gw"
ng ip -6 addr show dev tun0 | grep -q "/8 " || fail "gateway tun has no fc00::/8 address"
[ "$(ng cat /sys/class/net/tun0/mtu)" = 1304 ] || fail "gateway tun MTU is not 1304"

step "peering"
peer_up() { admin "$ns_c" InterfaceController_peerStats | json 'd["peers"][0]["state"]' | grep -qx ESTABLISHED; }
poll 10 peer_up || fail "client never peered with the gateway"
admin "$ns_g" InterfaceController_peerStats | json 'd["peers"][0]["lladdr"]' | grep -qx "10.99.0.2:19273" \
	|| fail "gateway does not list the client's underlay address"

step "fc00::/8 traffic"
poll 10 nc_ ping -6 -c 1 -W 1 "$gw_ip6" || fail "cannot ping6 the gateway's fc address"

step "gateway setup (what visp tunnel up does)"
ng ip addr add 10.66.0.1/24 dev tun0
ng sysctl -qw net.ipv4.ip_forward=1
ng nft -f - <<EOF
table ip simnat {
	chain post {
		type nat hook postrouting priority 100;
		oifname "up0" masquerade
	}
}
EOF

step "connectTo before allowConnection: no addresses yet"
conn=$(admin "$ns_c" IpTunnel_connectTo publicKeyOfNodeToConnectTo="$gw_key" | json 'd["connection"]')
[ "$conn" = 0 ] || fail "first connection should be number 0, got $conn"
admin "$ns_c" IpTunnel_showConnection connection=0 | json '"ip4Address" not in d' | grep -qx True \
	|| fail "client shows addresses before the gateway allowed it"

step "allowConnection; the client asks again and gets the lease"
admin "$ns_g" IpTunnel_allowConnection publicKeyOfAuthorizedNode="$cl_key" \
	ip4Address=10.66.0.2 ip4Prefix=0 ip6Address=fd66::2 ip6Prefix=64 | json 'd["connection"]' | grep -qx 0
has_addr() { admin "$ns_c" IpTunnel_showConnection connection=0 | json 'd["ip4Address"]' | grep -qx 10.66.0.2; }
poll 10 has_addr || fail "client never got its address"
poll 5 sh -c "ip netns exec $ns_c ip -4 addr show dev tun0 | grep -q 'inet 10.66.0.2/32'" \
	|| fail "client tun has no 10.66.0.2/32"
nc_ ip -6 addr show dev tun0 | grep -q "inet6 fd66::2/128" || fail "client tun has no fd66::2/128"
# Everything minus the exception 192.0.2.1/32: 32 prefixes, not the /1 pair.
n=$(nc_ ip -4 route show proto 52 dev tun0 | wc -l)
[ "$n" = 32 ] || fail "client has $n proto 52 routes, expected 32"
nc_ ip -4 route get 192.0.2.2 | grep -q "dev tun0" || fail "192.0.2.2 is not routed into the tunnel"
! nc_ ip -4 route get 192.0.2.1 2>/dev/null | grep -q "dev tun0" || fail "the exception 192.0.2.1 goes into the tunnel"
nc_ ip -6 route show proto 52 | grep -q "^fd66::/64 dev tun0" || fail "no fd66::/64 proto 52 route"

step "internet through the tunnel"
body=$(nc_ curl -sS --max-time 5 http://203.0.113.80:8000/hello.txt) || fail "curl through the tunnel failed"
[ "$body" = "hello through the tunnel" ] || fail "unexpected body: $body"
grep -q '^198\.51\.100\.1 .*"GET /hello.txt' "$tmp/http.log" || fail "server did not see the gateway's uplink address"
! grep -q '^10\.66\.' "$tmp/http.log" || fail "server saw the client's tunnel address (no NAT?)"

step "the gateway reaches the client's lease, and nothing behind it"
# A second entry for the client's key makes the gateway's cjdns send
# 192.168.77.0/24 to the client; the client's cjdns (like the real one)
# passes to its tun only what is addressed to its lease.
nc_ nft -f - <<EOF
table ip simprobe {
	chain pre {
		type filter hook prerouting priority -300;
		iifname "tun0" ip daddr 10.66.0.2 icmp type echo-request counter
		iifname "tun0" ip daddr 192.168.77.2 icmp type echo-request counter
	}
}
EOF
second=$(admin "$ns_g" IpTunnel_allowConnection publicKeyOfAuthorizedNode="$cl_key" \
	ip4Address=192.168.77.0 ip4Prefix=24 ip4Alloc=24 | json 'd["connection"]')
ng ip route add 192.168.77.0/24 dev tun0
ng ping -c1 -W2 10.66.0.2 >/dev/null || fail "the gateway cannot ping the client's lease"
ng ping -c2 -W1 192.168.77.2 >/dev/null 2>&1 || true
counts=$(nc_ nft list chain ip simprobe pre | grep -o "packets [0-9]*" | cut -d' ' -f2 | tr '\n' ' ')
[ "$counts" = "1 0 " ] || fail "echo requests on the client's tun for the lease, for 192.168.77.2: $counts (want 1 0)"
ng ip route del 192.168.77.0/24 dev tun0
admin "$ns_g" IpTunnel_removeConnection connection="$second" >/dev/null
nc_ nft delete table ip simprobe

step "removeConnection leaves address and routes; RouteGen removes the routes"
admin "$ns_c" IpTunnel_removeConnection connection=0 >/dev/null
[ -n "$(nc_ ip -4 route show proto 52)" ] || fail "proto 52 routes vanished with removeConnection"
nc_ ip -4 addr show dev tun0 | grep -q 10.66.0.2 || fail "address vanished with removeConnection"
! nc_ curl -s --max-time 2 -o /dev/null http://203.0.113.80:8000/hello.txt || fail "traffic still flows after removeConnection"
# RouteGen names a lease's prefix by the issued address, unmasked.
! admin "$ns_c" RouteGen_removePrefix route=0.0.0.0/0 >/dev/null || fail "the masked prefix was removed"
admin "$ns_c" RouteGen_removePrefix route=10.66.0.2/0 >/dev/null
admin "$ns_c" RouteGen_removePrefix route=fd66::2/64 >/dev/null
admin "$ns_c" RouteGen_commit tunName=tun0 >/dev/null
[ -z "$(nc_ ip -4 route show proto 52)$(nc_ ip -6 route show proto 52)" ] || fail "proto 52 routes left after commit"
nc_ ip addr del 10.66.0.2/32 dev tun0

step "gateway restart forgets allowConnection"
stop_sim gw
! ng ip link show tun0 >/dev/null 2>&1 || fail "gateway tun survived the simulator"
start_sim gw "$ns_g" --underlay 10.99.0.1:19273
[ "$(admin "$ns_g" Core_pid | json 'd["pid"]')" != "$gw_pid" ] || fail "Core_pid did not change"
[ "$(admin "$ns_g" Core_nodeInfo | json 'd["myIp6"]')" = "$gw_ip6" ] || fail "gateway key changed across restart"
[ "$(admin "$ns_g" IpTunnel_listConnections | json 'd["connections"]')" = "[]" ] || fail "restarted gateway kept connections"
! ng ip -4 addr show dev tun0 | grep -q 10.66.0.1 || fail "restarted gateway tun kept 10.66.0.1"
conn=$(admin "$ns_c" IpTunnel_connectTo publicKeyOfNodeToConnectTo="$gw_key" | json 'd["connection"]')
[ "$conn" = 1 ] || fail "connection numbers must not be reused (got $conn)"
poll 10 nc_ ping -6 -c 1 -W 1 "$gw_ip6" || fail "peering did not come back after the restart"
deadline=$((SECONDS + 3))
while [ $SECONDS -lt $deadline ]; do	# over a retry period: still no answer
	admin "$ns_c" IpTunnel_showConnection connection=1 | json '"ip4Address" not in d' | grep -qx True \
		|| fail "client got addresses from a gateway without entry"
done
admin "$ns_c" IpTunnel_removeConnection connection=1 >/dev/null

step "stale duplicate entry drops the client's traffic"
# Two entries for one key: the client is answered from the newest (10.66.0.3),
# its packets are checked against the oldest (10.66.0.2) and dropped.
ng ip addr add 10.66.0.1/24 dev tun0
admin "$ns_g" IpTunnel_allowConnection publicKeyOfAuthorizedNode="$cl_key" ip4Address=10.66.0.2 ip4Prefix=0 >/dev/null
admin "$ns_g" IpTunnel_allowConnection publicKeyOfAuthorizedNode="$cl_key" ip4Address=10.66.0.3 ip4Prefix=0 >/dev/null
conn=$(admin "$ns_c" IpTunnel_connectTo publicKeyOfNodeToConnectTo="$gw_key" | json 'd["connection"]')
has_addr3() { admin "$ns_c" IpTunnel_showConnection connection="$conn" | json 'd["ip4Address"]' | grep -qx 10.66.0.3; }
poll 10 has_addr3 || fail "client did not get the newest lease"
poll 5 sh -c "ip netns exec $ns_c ip -4 route show proto 52 | grep -q ." || fail "no routes for the new lease"
! nc_ curl -s --max-time 2 -o /dev/null http://203.0.113.80:8000/hello.txt || fail "stale duplicate did not break traffic"
admin "$ns_g" IpTunnel_removeConnection connection=0 >/dev/null
nc_ curl -sf --max-time 5 -o /dev/null http://203.0.113.80:8000/hello.txt || fail "traffic did not recover after removing the stale entry"

step "Core_exit"
admin "$ns_c" Core_exit >/dev/null
wait "$pid_cl" || fail "client simulator exited with status $?"
[ ! -e "$tmp/cl.ready" ] || fail "ready file left behind"
! nc_ ip link show tun0 >/dev/null 2>&1 || fail "client tun survived Core_exit"

echo "PASS"
