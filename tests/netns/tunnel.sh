#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# visp tunnel up/down/status against real addresses, routes, nftables and
# sysctls, with the cjdns simulator (tests/sim/cjdns-sim.py) as cjdroute, or
# the real cjdroute that CJDROUTE names (tests/lib/node.sh): the same checks.
#
#   $nsc: client                  $nsg: gateway                      $nsi: "internet"
#  +---------------------+      +------------------------------+    +--------------------+
#  | cjdns, tun0         |      | cjdns, tun0 (mtu 1304)       |    | lo 198.51.100.1    |
#  |  lease 172.23.23.x  |      |  172.23.23.1/24 fd00:23::1   |    |    2001:db8:2::1   |
#  |  lease fd00:23::x   |      |  (visp tunnel up)            |    |                    |
#  | c0 192.0.2.2/24 ----+------+- g0 192.0.2.1/24 (underlay)  |    |                    |
#  +---------------------+      |  g1 203.0.113.2/24 ----------+----+- i0 203.0.113.1/24 |
#                               |     2001:db8:1::2/64 (uplink)|    |    2001:db8:1::1/64|
#                               +------------------------------+    +--------------------+
#
# $nsi has no route back to the pools: replies reach the client only through
# the gateway's NAT. Only documentation ranges are used and nothing leaves
# these namespaces. Checks: up, up again (byte-identical dumps), traffic and
# NAT, MSS clamping with PMTU discovery blackholed, the lease endpoint's port
# reached only through the tun (and lo), status, dry runs, the
# refusals of bad input (each leaving nothing behind), down (back to exactly
# the dumps before up, foreign nft table and routes untouched), NDP proxy.

set -e

if [ "$(id -u)" -ne 0 ]; then
	echo "tunnel.sh: needs root (network namespaces, tun devices): skipped"
	exit 77
fi
for tool in ip nft python3 socat ping setpriv; do
	if ! command -v "$tool" >/dev/null; then
		echo "tunnel.sh: $tool is not installed: skipped"
		exit 77
	fi
done
if [ ! -c /dev/net/tun ]; then
	echo "tunnel.sh: no /dev/net/tun: skipped"
	exit 77
fi

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/node.sh"	# node_start, node_stop: the simulator or $CJDROUTE
. "$top/tests/lib/test.sh"	# poll
visp=${VISP:-$top/${B:-build}/visp}
[ -x "$visp" ] || { echo "tunnel.sh: $visp is not built"; exit 1; }

nsg=visp-gw-$$ nsc=visp-cl-$$ nsi=visp-in-$$
tmp=$(mktemp -d /tmp/visp-tunnel.XXXXXX)
chmod 755 "$tmp"	# the not-root check runs visp as nobody
pids=()

pretty() { echo -e "\x1b[32m\x1b[1m[+] ${1:+$1: }$2\x1b[0m" >&3; }
# Background processes are started with "ip netns exec" itself, which execs
# the program: $! is then its PID, for cleanup to kill.
ng() { ip netns exec "$nsg" "$@"; }
nc_() { ip netns exec "$nsc" "$@"; }
ni() { ip netns exec "$nsi" "$@"; }
vg() { ng "$visp" -c "$tmp/gw.conf" "$@"; }
vc() { nc_ "$visp" -c "$tmp/cl.conf" "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# nobody ng CMD...: CMD on the gateway as an unprivileged user.
nobody() { "${@:1:1}" setpriv --reuid=65534 --regid=65534 --clear-groups "${@:2}"; }

exec 3>&1

cleanup() {
	set +e
	exec 2>/dev/null
	for pid in "${pids[@]}"; do
		kill "$pid"
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	node_stop_all
	for ns in "$nsg" "$nsc" "$nsi"; do
		ip netns del "$ns"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: poll until COMMAND succeeds, fail at the deadline.
wait_for() { poll "$@" || fail "timed out waiting for: ${*:2}"; }

# Everything visp may touch on the gateway, in a form to compare byte for byte.
# After a simulated cjdroute restart the tun has a new ifindex and link-local
# address: norm=1 hides both (the tun is still the last interface, so the
# order holds).
norm=0
normalize() { sed -E 's/^[0-9]+: /N: /; s/inet6 fe80::[0-9a-f:]+/inet6 fe80::X/'; }
dump() {
	if [ "$norm" = 1 ]; then
		ng ip addr | normalize
	else
		ng ip addr
	fi
	ng ip route
	ng ip -6 route
	ng ip -6 neigh show proxy
	# Table by table, in name order: replacing inet visp moves it behind
	# inet visp_usage (kept) in a listing of the whole ruleset. Its
	# counters move with the traffic: not state that up or down makes.
	ng nft list tables | sort | while read -r _ fam name; do
		ng nft list table "$fam" "$name" | grep -v "counter packets"
	done
	ng sysctl -a 2>/dev/null |
		grep -E '^net\.ipv(4\.ip_forward|[46]\.conf\.[^.]+\.(forwarding|proxy_ndp|accept_ra)) '
}

same_dump() {
	dump >"$tmp/now"
	diff -u "$1" "$tmp/now" >&2 || fail "$2"
}

# expect_fail CODE PATTERN CONFIG VISP-ARGS...: visp on the gateway fails with
# CODE and a message matching PATTERN, and the gateway is exactly as in $ref.
ref=
expect_fail() {
	local code=$1 pattern=$2 conf=$3 rc=0
	shift 3
	ng "$visp" -c "$conf" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq "$code" ] || { cat "$tmp/err" >&2; fail "visp $* exited $rc, not $code"; }
	grep -q -- "$pattern" "$tmp/err" || { cat "$tmp/err" >&2; fail "visp $*: no '$pattern'"; }
	same_dump "${ref:-$tmp/before}" "visp $* left changes behind"
}

config() {
	# config FILE JSON-MEMBERS...: a gateway config with the test's dirs and cjdns.
	local file=$1
	shift
	{
		echo '{ "cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "pw" },'
		echo "  \"state_dir\": \"${state:-$tmp/state}\", \"run_dir\": \"$tmp/run\""
		for m in "$@"; do echo "  , $m"; done
		echo '}'
	} >"$file"
	chmod 644 "$file"
}

pretty "" "setting up namespaces"
for ns in "$nsg" "$nsc" "$nsi"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# No DAD: addresses must not change state between two dumps.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n "$nsg" link add g0 type veth peer name c0 netns "$nsc"
ip -n "$nsg" link add g1 type veth peer name i0 netns "$nsi"
ip -n "$nsg" addr add 192.0.2.1/24 dev g0
ip -n "$nsc" addr add 192.0.2.2/24 dev c0
ip -n "$nsg" addr add 203.0.113.2/24 dev g1
ip -n "$nsg" addr add 2001:db8:1::2/64 dev g1 nodad
ip -n "$nsi" addr add 203.0.113.1/24 dev i0
ip -n "$nsi" addr add 2001:db8:1::1/64 dev i0 nodad
ip -n "$nsi" addr add 198.51.100.1/32 dev lo
ip -n "$nsi" addr add 2001:db8:2::1/128 dev lo
for l in "$nsg g0" "$nsg g1" "$nsc c0" "$nsi i0"; do
	set -- $l
	ip -n "$1" link set "$2" up
done
ip -n "$nsg" route add default via 203.0.113.1 dev g1
ip -n "$nsg" -6 route add default via 2001:db8:1::1 dev g1

pretty "" "starting cjdns ($(node_kind))"
start_gw() { node_start gw "$nsg" --password pw --tun tun0 --underlay 192.0.2.1:4000; }
start_gw
# A connectTo peer: its address is a route exception of cjdns's own.
node_start cl "$nsc" --password pw --tun tun0 --underlay 192.0.2.2:4000 --peer gw
gwkey=$(cat "$tmp/gw.key") clkey=$(cat "$tmp/cl.key")
gwfc=$("$visp" key addr "$gwkey")
wait_for 20 nc_ ping -6 -c1 -W1 "$gwfc"

config "$tmp/gw.conf" '"ipv4_pool": "172.23.23.0/24"' '"ipv6_pool": "fd00:23::/64"'
config "$tmp/cl.conf"

pretty "" "foreign state the test adds: it must survive up and down"
ng nft add table inet foreign
ng nft add chain inet foreign filter_fwd '{ type filter hook forward priority 10; policy accept; }'
ng nft add rule inet foreign filter_fwd ip saddr 192.0.2.99 drop
ng ip route add 198.51.100.128/25 via 203.0.113.1 proto static
ng ip -6 route add 2001:db8:ffff::/48 via 2001:db8:1::1 proto static
# A pinned peer route with visp's protocol (visp routes pin-peers): not the gateway's.
ng ip route add 192.0.2.77/32 via 192.0.2.2 proto 86
dump >"$tmp/before"

pretty "refusals" "bad input changes nothing"
config "$tmp/bad.conf" '"ipv4_pool": "172.23.23.1/24"'
expect_fail 2 "not a network" "$tmp/bad.conf" tunnel up
config "$tmp/bad.conf" '"ipv4_pool": "203.0.113.0/25"'
expect_fail 2 "overlaps 203.0.113.2/24 on g1" "$tmp/bad.conf" tunnel up
config "$tmp/bad.conf" '"ipv6_pool": "fc00:1::/64"'
expect_fail 2 "inside cjdns" "$tmp/bad.conf" tunnel up
# Routes every client would refuse are the operator's error, not silently dropped or offered.
config "$tmp/bad.conf" '"ipv4_pool": "172.23.23.0/24"' '"routes": ["default", "1.2.3.4/40"]'
expect_fail 2 "routes: route '1.2.3.4/40' has a bad prefix length" "$tmp/bad.conf" tunnel up
config "$tmp/bad.conf" '"ipv4_pool": "172.23.23.0/24"' '"routes": ["fc00::/8"]'
expect_fail 2 "route fc00::/8 overlaps fc00::/8" "$tmp/bad.conf" tunnel up
config "$tmp/bad.conf" '"ipv4_pool": "172.23.23.0/24"' '"routes": ["127.0.0.0/8"]'
expect_fail 2 "route 127.0.0.0/8 is in a reserved network" "$tmp/bad.conf" tunnel up
config "$tmp/bad.conf" '"ipv4_pool": "172.23.23.0/24"' '"tun": "nosuch0"'
expect_fail 1 "tun device 'nosuch0'" "$tmp/bad.conf" tunnel up
expect_fail 3 "cannot get the node's address from cjdns" "$tmp/gw.conf" --cjdns 127.0.0.1:9 tunnel up
config "$tmp/bad.conf" '"ipv4_pool": "172.23.23.0/24"' '"uplink": "tun0"'
expect_fail 2 "is the cjdns tun device" "$tmp/bad.conf" tunnel up
ng ip route add 172.23.23.0/24 via 192.0.2.2
dump >"$tmp/ref"
ref=$tmp/ref expect_fail 1 "a route for 172.23.23.0/24 already exists (dev g0" "$tmp/gw.conf" tunnel up
ng ip route del 172.23.23.0/24 via 192.0.2.2
ng ip route del default
ng ip -6 route del default
dump >"$tmp/ref"
ref=$tmp/ref expect_fail 1 "no uplink" "$tmp/gw.conf" tunnel up
ng ip route add default via 203.0.113.1 dev g1
ng ip -6 route add default via 2001:db8:1::1 dev g1
same_dump "$tmp/before" "the refusals left changes behind"
# A failure half way (here another part of the nft table that does not
# parse, so the table cannot be applied) undoes what that run had done.
mkdir -p "$tmp/run/nft"
printf '\tchain share_bad {\n\t\tnonsense\n\t}\n' >"$tmp/run/nft/share.nft"
expect_fail 1 "nftables: cannot apply the visp table" "$tmp/gw.conf" tunnel up
rm "$tmp/run/nft/share.nft"
[ ! -e "$tmp/run/tunnel.state" ] || { cat "$tmp/run/tunnel.state"; fail "state after rollback"; }
rc=0
nobody ng "$visp" -c "$tmp/gw.conf" tunnel up 2>"$tmp/err" || rc=$?
[ "$rc" -eq 4 ] && grep -q "must be run as root" "$tmp/err" || { cat "$tmp/err"; fail "not root: $rc"; }
same_dump "$tmp/before" "not-root refusal left changes behind"
nobody ng "$visp" -c "$tmp/gw.conf" -n tunnel up >"$tmp/out" 2>"$tmp/err" ||
	{ cat "$tmp/err"; fail "a dry run needs no root"; }
grep -q "^add address 172.23.23.1/24 dev tun0" "$tmp/out" || { cat "$tmp/out"; fail "dry run"; }

pretty "dry run" "up -n prints the changes and makes none"
vg -n tunnel up >"$tmp/out"
grep -q "^add address 172.23.23.1/24 dev tun0" "$tmp/out" || { cat "$tmp/out"; fail "dry run"; }
grep -q "^add route fd00:23::/64 dev tun0 proto 86" "$tmp/out" || { cat "$tmp/out"; fail "dry run"; }
grep -q "^set sysctl net/ipv4/ip_forward = 1" "$tmp/out" || { cat "$tmp/out"; fail "dry run"; }
same_dump "$tmp/before" "dry run changed something"
[ ! -e "$tmp/run/tunnel.state" ] || fail "dry run wrote state"

pretty "up" "addresses, routes, nftables, forwarding"
vg tunnel up 2>"$tmp/err" || { cat "$tmp/err"; fail "tunnel up"; }
dump >"$tmp/up1"
ng ip -4 addr show dev tun0 | grep -q "inet 172.23.23.1/24 .*noprefixroute" || fail "no v4 address"
ng ip -6 addr show dev tun0 | grep -q "inet6 fd00:23::1/64" || fail "no v6 address"
ng ip route show proto 86 | grep -q "^172.23.23.0/24 dev tun0" || fail "no v4 route"
ng ip -6 route show proto 86 | grep -q "^fd00:23::/64 dev tun0" || fail "no v6 route"
ng nft list table inet visp | grep -q 'oifname "g1" ip saddr 172.23.23.0/24 masquerade' ||
	fail "no masquerade"
ng nft list table inet visp | grep -q 'maxseg size set rt mtu' || fail "no MSS clamping"
[ "$(ng sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "no IPv4 forwarding"
[ "$(ng sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "no IPv6 forwarding"

pretty "up" "a second run changes nothing"
vg tunnel up >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "second up"; }
[ ! -s "$tmp/err" ] && [ ! -s "$tmp/out" ] || { cat "$tmp/out" "$tmp/err"; fail "second up spoke"; }
same_dump "$tmp/up1" "the second up changed something"
vg -n tunnel up >"$tmp/out"
# The lease sync and the usage fold run on every up: a dry run names them always.
grep -v -e "^sync " -e "^count " "$tmp/out" | grep -q . && { cat "$tmp/out"; fail "dry run after up has changes"; }

pretty "up" "repairs a table someone edited"
ng nft flush chain inet visp gw_forward
vg tunnel status | grep -q "nftables table inet visp, part gateway *edited" || fail "edit unseen"
vg tunnel up 2>"$tmp/err" || { cat "$tmp/err"; fail "up after an edit"; }
grep -q "^replace nftables table inet visp, part gateway" "$tmp/err" || fail "no repair"
same_dump "$tmp/up1" "up after an edit did not restore the table"

pretty "status" "everything in place"
vg -j tunnel status >"$tmp/status.json"
python3 - "$tmp/status.json" <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	assert s["up"] is True, s
	assert s["tun"] == "tun0" and s["uplink"] == "g1" and s["tun_mtu"] == 1304, s
	assert all(i["state"] == "in place" for i in s["items"]), s["items"]
	kinds = sorted({i["kind"] for i in s["items"]})
	assert kinds == ["address", "nft", "route", "sysctl"], kinds
EOF
vg tunnel status | grep -q "^up: *yes" || fail "human status"
nobody ng "$visp" -c "$tmp/gw.conf" tunnel status >"$tmp/out" 2>&1 || fail "status as nobody"
grep -q "part gateway *unknown (not root)" "$tmp/out" && grep -q "^up: *unknown" "$tmp/out" ||
	{ cat "$tmp/out"; fail "status as nobody"; }

pretty "traffic" "a client through the tunnel reaches the internet, NATed"
vg lease grant "$clkey" >/dev/null
vc cjdns call IpTunnel_connectTo publicKeyOfNodeToConnectTo="$gwkey" >/dev/null
wait_for 30 sh -c "ip -n $nsc -4 addr show dev tun0 | grep -q 'inet 172.23.23'"
wait_for 10 nc_ ping -c1 -W1 198.51.100.1
nc_ ping -6 -c1 -W2 2001:db8:2::1 >/dev/null || fail "IPv6 ping through the tunnel (NAT66)"
ip netns exec "$nsi" socat TCP-LISTEN:8080,bind=198.51.100.1,reuseaddr,fork SYSTEM:'echo "$SOCAT_PEERADDR"' &
pids+=($!)
ip netns exec "$nsi" socat TCP6-LISTEN:8080,bind=[2001:db8:2::1],reuseaddr,fork SYSTEM:'echo "$SOCAT_PEERADDR"' &
pids+=($!)
ip netns exec "$nsi" socat TCP-LISTEN:8081,bind=198.51.100.1,reuseaddr,fork SYSTEM:'head -c 300000 /dev/zero' &
pids+=($!)
wait_for 10 ni sh -c "ss -ltn | grep -q 198.51.100.1:8081"
seen=$(nc_ socat -T5 -u TCP:198.51.100.1:8080 -)
[ "$seen" = 203.0.113.2 ] || fail "the internet saw '$seen', not the gateway's uplink address"
wait_for 10 ni sh -c "ss -ltn | grep -q '\[2001:db8:2::1\]:8080'"
seen=$(nc_ socat -T5 -u TCP6:[2001:db8:2::1]:8080 - | tr -d '[]')
python3 -c 'import ipaddress as i, sys; sys.exit(i.ip_address(sys.argv[1]) != i.ip_address(sys.argv[2]))' \
	"$seen" 2001:db8:1::2 || fail "the internet saw '$seen' over IPv6, not 2001:db8:1::2"
# A client whose own MTU says 1500 (a LAN behind it, say) with PMTU discovery
# blackholed on the way: only the gateway's MSS clamp keeps the server's
# segments small enough for the gateway's 1304-byte tun.
nc_ ip link set dev tun0 mtu 1500
ni nft add table inet blackhole
ni nft add chain inet blackhole in '{ type filter hook input priority 0; policy accept; }'
ni nft add rule inet blackhole in icmp type destination-unreachable drop
got=$(nc_ timeout 20 socat -T10 -u TCP:198.51.100.1:8081 - | wc -c)
[ "$got" -eq 300000 ] || fail "bulk TCP through the tunnel: $got of 300000 bytes (MSS clamping?)"

pretty "endpoint" "port 12234 is reached through the tun and loopback, not from the uplink"
ng nft list chain inet visp gw_input | grep -q 'tcp dport 12234 drop' ||
	fail "no input rule for the lease endpoint"
ip netns exec "$nsg" socat TCP-LISTEN:12234,reuseaddr,fork SYSTEM:'echo endpoint' &
pids+=($!)
wait_for 10 ng sh -c "ss -ltn | grep -q ':12234 '"
[ "$(nc_ socat -T5 -u TCP:172.23.23.1:12234 -)" = endpoint ] ||
	fail "the endpoint is not reached through the tun"
[ "$(ng socat -T5 -u TCP:127.0.0.1:12234 -)" = endpoint ] || fail "the endpoint is not reached on lo"
seen=$(ni timeout 10 socat -T3 -u TCP:203.0.113.2:12234,connect-timeout=3 - 2>/dev/null || true)
[ -z "$seen" ] || fail "the endpoint is reached from the uplink: '$seen'"
seen=$(nc_ timeout 10 socat -T3 -u TCP:192.0.2.1:12234,connect-timeout=3 - 2>/dev/null || true)
[ -z "$seen" ] || fail "the endpoint is reached over the underlay: '$seen'"

pretty "down" "dry run first, then exactly back to before"
vg -n tunnel down >"$tmp/out"
grep -q "^delete address 172.23.23.1/24 dev tun0" "$tmp/out" || { cat "$tmp/out"; fail "down -n"; }
same_dump "$tmp/up1" "down -n changed something"
vg tunnel down 2>"$tmp/err" || { cat "$tmp/err"; fail "tunnel down"; }
same_dump "$tmp/before" "down did not restore the gateway"
ng nft list table inet foreign >/dev/null || fail "the foreign table is gone"
ng ip route show proto 86 | grep -q "^192.0.2.77 via 192.0.2.2" || fail "pinned route is gone"
vg tunnel down >"$tmp/out" 2>"$tmp/err"
[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] || fail "a second down spoke"
same_dump "$tmp/before" "the second down changed something"
vg -j tunnel status | python3 -c 'import json,sys; s=json.load(sys.stdin); assert not s["up"], s'

pretty "restart" "cjdroute restarts: up puts the tun addresses and the leases back"
vg tunnel up 2>/dev/null
node_stop gw
start_gw
vg tunnel status | grep -q "^up: *no" || fail "status after the restart does not say down"
vg tunnel up 2>"$tmp/err" || { cat "$tmp/err"; fail "tunnel up after a restart"; }
grep -q "add address 172.23.23.1/24 dev tun0" "$tmp/err" || { cat "$tmp/err"; fail "restart"; }
grep -q "lease sync: 1 added" "$tmp/err" || { cat "$tmp/err"; fail "no lease re-applied"; }
norm=1
dump >"$tmp/up2"
diff -u <(normalize <"$tmp/up1") "$tmp/up2" >&2 || fail "up after a restart differs"
# The client's cjdns holds the dead gateway's session: a real cjdroute
# peers again after about 70 s (nobody calls resetPeering here).
if node_real; then wait_for 120 nc_ ping -c1 -W1 198.51.100.1; else wait_for 20 nc_ ping -c1 -W1 198.51.100.1; fi
vg tunnel down 2>/dev/null
normalize <"$tmp/before" >"$tmp/before.norm"
same_dump "$tmp/before.norm" "down after the restart did not restore the gateway"

pretty "ndp proxy" "a routed IPv6 pool inside the uplink's prefix"
state=$tmp/state-ndp config "$tmp/ndp.conf" '"ipv4_pool": "172.23.23.0/24"' \
	'"ipv6_pool": "2001:db8:1:0:1::/80"' '"ndp_proxy": true'
ng "$visp" -c "$tmp/ndp.conf" tunnel up 2>"$tmp/err" || { cat "$tmp/err"; fail "ndp up"; }
[ "$(ng sysctl -n net.ipv6.conf.g1.proxy_ndp)" = 1 ] || fail "proxy_ndp is not on"
ng nft list table inet visp | grep -q "ip6 saddr 2001:db8:1:0:1::/80 masquerade" &&
	fail "a routed pool is NATed"
ndpkey=$(ng python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import cjdns_codec as c
print(c.key_to_string(c.generate_key()))' "$top/tests/sim")
ng "$visp" -c "$tmp/ndp.conf" lease grant "$ndpkey" >/dev/null
ng "$visp" -c "$tmp/ndp.conf" tunnel up 2>"$tmp/err" || { cat "$tmp/err"; fail "ndp up"; }
leased=$(ng "$visp" -c "$tmp/ndp.conf" -j lease show "$ndpkey" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["ipv6_address"].split("/")[0])')
ng ip -6 neigh show proxy | grep -q "^$leased dev g1" || fail "no proxy entry for $leased"
# The internet side's neighbour discovery for the leased address gets the gateway's answer.
ni ping -6 -c1 -W1 "$leased" >/dev/null 2>&1 || true
gwmac=$(ng cat /sys/class/net/g1/address)
wait_for 5 sh -c "ip -n $nsi -6 neigh show $leased | grep -q 'lladdr $gwmac'"
ng "$visp" -c "$tmp/ndp.conf" tunnel down 2>"$tmp/err" || { cat "$tmp/err"; fail "ndp down"; }
same_dump "$tmp/before.norm" "down after the NDP proxy run did not restore the gateway"

pretty "nft parts" "down removes the gateway's chains and leaves another part's"
printf '\tchain share_test {\n\t\ttype filter hook forward priority 5; policy accept;\n\t}\n' \
	>"$tmp/run/nft/share.nft"
vg tunnel up 2>/dev/null
ng nft list table inet visp | grep -q "chain share_test" || fail "the share part is not applied"
ng nft list table inet visp | grep -q "chain gw_forward" || fail "the gateway part is missing"
vg tunnel down 2>/dev/null
ng nft list table inet visp | grep -q "chain share_test" || fail "down removed the share part"
ng nft list table inet visp | grep -q "chain gw_" && fail "down left gateway chains"
ng nft delete table inet visp
# The nft part's record lost (run_dir/nft wiped): down still removes visp's table.
vg tunnel up 2>/dev/null
rm -r "$tmp/run/nft"
vg tunnel down 2>"$tmp/err"
grep -q "^delete nftables table inet visp, part gateway" "$tmp/err" || fail "no table delete"
same_dump "$tmp/before.norm" "down without the nft record did not restore the gateway"

pretty "" "all passed"
