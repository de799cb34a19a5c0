#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# visp share end to end: a host on a LAN behind a client node runs no cjdns
# and still reaches a gateway's fc00::/8 address (masqueraded as the client
# node) and, while the client node holds a lease, the "internet" through the
# client's tunnel (the internet sees the gateway). Without a lease its
# internet traffic does not leak out of the client's own uplink (unless
# --internet-fallback). Mesh nodes and the gateway cannot open connections
# into the LAN. up twice changes nothing; down restores the exact ruleset,
# routes and sysctls. On the gateway, share and tunnel coexist in one table
# and neither's down switches off forwarding the other still needs. Run as
# root; the simulator (tests/sim/cjdns-sim.py) stands in for cjdroute, or
# the real cjdroute that CJDROUTE names (tests/lib/node.sh): the same checks.
#
#  LAN host ($nsh)         client node ($nsc)          router/"internet" ($nsr)     gateway ($nsg)
# +------------------+    +----------------------+    +-----------------------+    +----------------------+
# | no cjdns         |    | cjdns tun0           |    | lo 192.0.2.80         |    | cjdns tun0           |
# | a0 ------------- +----+ lan0 192.168.77.1/24 |    |    2001:db8:2::80     |    | visp tunnel up       |
# | 192.168.77.2/24  |    |      fd77::1/64      |    |    (whoami on :80)    |    | pools 172.23.23.0/24 |
# | fd77::2/64       |    | visp client connect  |    |                       |    |   fd00:23::/64 (NAT) |
# | default, fc00::/8|    | visp share up        |    |  br0 203.0.113.1/24 --+-+--+ eth0 203.0.113.2/24  |
# |  via the client  |    | eth0 198.51.100.2/24 +----+ rc0  2001:db8:1::1/64 | |  |  2001:db8:1::2/64    |
# +------------------+    |  2001:db8:3::2/64    |    |  198.51.100.1/24      | |  | lease serve :12234   |
#                         | default via $nsr     |    |  2001:db8:3::1/64     | |  +----------------------+
#                         +----------------------+    +-----------------------+ |  mesh node ($nsm)
#                                                                               |  +----------------------+
#                                                                               +--+ eth0 203.0.113.3/24  |
#                                                                                  | cjdns, peer of       |
#                                                                                  | the gateway only     |
#                                                                                  +----------------------+
#
# The client node reaches the internet directly too (its uplink eth0), so a
# leak would be seen: the internet host answers "you are ADDR" with the
# address it sees. Only documentation ranges face the "internet"; the LAN
# uses private addresses; nothing leaves these namespaces.

set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/node.sh"	# node_start, node_stop: the simulator or $CJDROUTE
. "$top/tests/lib/test.sh"	# poll
visp=${VISP:-$top/${B:-build}/visp}

skip() { echo "share.sh: $*: skipped"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, tun devices)"
for tool in ip nft python3 socat curl ping; do
	command -v "$tool" >/dev/null || skip "$tool is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -x "$visp" ] || { echo "share.sh: $visp is not built"; exit 1; }
"$visp" share --help >/dev/null 2>&1 || { echo "share.sh: this visp has no share command"; exit 1; }
"$visp" client --help >/dev/null 2>&1 || skip "visp client is not built in yet"

nsh=visp-sh-h-$$ nsc=visp-sh-c-$$ nsr=visp-sh-r-$$ nsg=visp-sh-g-$$ nsm=visp-sh-m-$$
tmp=$(mktemp -d /tmp/visp-share.XXXXXX)
pw=share-pw-$$
pids=()

nh() { ip netns exec "$nsh" "$@"; }
nc_() { ip netns exec "$nsc" "$@"; }
nr() { ip netns exec "$nsr" "$@"; }
ng() { ip netns exec "$nsg" "$@"; }
nm() { ip netns exec "$nsm" "$@"; }
vc() { nc_ "$visp" -c "$tmp/c.conf" "$@"; }
vg() { ng "$visp" -c "$tmp/g.conf" "$@"; }

cleanup() {
	set +e
	exec 2>/dev/null
	for p in "${pids[@]}"; do kill "$p"; done
	for p in "${pids[@]}"; do wait "$p"; done
	node_stop_all
	for ns in "$nsh" "$nsc" "$nsr" "$nsg" "$nsm"; do ip netns del "$ns"; done
	if [ -n "$KEEP_LOGS" ]; then echo "logs kept in $tmp" >&3; else rm -rf "$tmp"; fi
}
exec 3>&1
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done >&2
	exit 1
}
ok() { echo "ok: $*"; }

# ---- topology ----

for ns in "$nsh" "$nsc" "$nsr" "$nsg" "$nsm"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# No DAD: addresses must not change state between two dumps.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip link add a0 netns "$nsh" type veth peer name lan0 netns "$nsc"
ip link add eth0 netns "$nsc" type veth peer name rc0 netns "$nsr"
ip link add eth0 netns "$nsg" type veth peer name rg0 netns "$nsr"
ip link add eth0 netns "$nsm" type veth peer name rm0 netns "$nsr"

ip -n "$nsh" addr add 192.168.77.2/24 dev a0
ip -n "$nsh" addr add fd77::2/64 dev a0 nodad
ip -n "$nsh" link set a0 up
ip -n "$nsh" route add default via 192.168.77.1
ip -n "$nsh" -6 route add fc00::/8 via fd77::1
ip -n "$nsh" -6 route add default via fd77::1

ip -n "$nsc" addr add 192.168.77.1/24 dev lan0
ip -n "$nsc" addr add fd77::1/64 dev lan0 nodad
ip -n "$nsc" addr add 198.51.100.2/24 dev eth0
ip -n "$nsc" addr add 2001:db8:3::2/64 dev eth0 nodad
ip -n "$nsc" link set lan0 up
ip -n "$nsc" link set eth0 up
ip -n "$nsc" route add default via 198.51.100.1
ip -n "$nsc" -6 route add default via 2001:db8:3::1

ip -n "$nsr" link add br0 type bridge
ip -n "$nsr" link set rg0 master br0
ip -n "$nsr" link set rm0 master br0
for l in rc0 rg0 rm0 br0; do ip -n "$nsr" link set "$l" up; done
ip -n "$nsr" addr add 198.51.100.1/24 dev rc0
ip -n "$nsr" addr add 2001:db8:3::1/64 dev rc0 nodad
ip -n "$nsr" addr add 203.0.113.1/24 dev br0
ip -n "$nsr" addr add 2001:db8:1::1/64 dev br0 nodad
ip -n "$nsr" addr add 192.0.2.80/32 dev lo
ip -n "$nsr" addr add 2001:db8:2::80/128 dev lo
nr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

ip -n "$nsg" addr add 203.0.113.2/24 dev eth0
ip -n "$nsg" addr add 2001:db8:1::2/64 dev eth0 nodad
ip -n "$nsg" link set eth0 up
ip -n "$nsg" route add default via 203.0.113.1
ip -n "$nsg" -6 route add default via 2001:db8:1::1
ip -n "$nsm" addr add 203.0.113.3/24 dev eth0
ip -n "$nsm" link set eth0 up

# The internet host: GET / answers "you are ADDR" with the address it sees.
cat >"$tmp/whoami.py" <<'EOF'
import http.server, socket, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("you are %s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
Server((sys.argv[1], 80), Handler).serve_forever()
EOF
ip netns exec "$nsr" python3 "$tmp/whoami.py" 192.0.2.80 >"$tmp/www4.log" 2>&1 &
pids+=($!)
ip netns exec "$nsr" python3 "$tmp/whoami.py" 2001:db8:2::80 >"$tmp/www6.log" 2>&1 &
pids+=($!)

# ---- cjdns, the gateway, the client's config ----

# start_cjdns NAME NS UNDERLAY [node_start args...]: its key in $tmp/NAME.key.
start_cjdns() {
	node_start "$1" "$2" --password "$pw" --tun tun0 --underlay "$3" "${@:4}"
}
start_cjdns g "$nsg" 203.0.113.2:4000
start_cjdns c "$nsc" 198.51.100.2:4000 --peer g
start_cjdns m "$nsm" 203.0.113.3:4000 --peer g
kg=$(cat "$tmp/g.key") kc=$(cat "$tmp/c.key") km=$(cat "$tmp/m.key")
fg=$("$visp" key addr "$kg") fc=$("$visp" key addr "$kc")

cat >"$tmp/g.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/g/state", "run_dir": "$tmp/g/run",
	"ipv4_pool": "172.23.23.0/24", "ipv6_pool": "fd00:23::/64",
	"uplink": "eth0", "routes": ["default"], "lease_time": 3600
}
EOF
cat >"$tmp/c.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/c/state", "run_dir": "$tmp/c/run",
	"gateways": ["$kg"], "discover": false
}
EOF
vg tunnel up >"$tmp/g-up.log" 2>&1 || fail "visp tunnel up on the gateway"
ip netns exec "$nsg" socat TCP6-LISTEN:12234,fork,reuseaddr \
	EXEC:"$visp -c $tmp/g.conf lease serve",nofork >/dev/null 2>"$tmp/g-serve.log" &
pids+=($!)

poll 20 nc_ ping -6 -c1 -W1 "$fg" || fail "no mesh path from the client node to the gateway"
poll 20 nm ping -6 -c1 -W1 "$fc" || fail "no mesh path from the mesh node to the client node"
poll 10 nc_ curl -sf --max-time 2 http://192.0.2.80/ || fail "the internet host did not start"
poll 10 nc_ curl -sf --max-time 2 "http://[2001:db8:2::80]/" || fail "no IPv6 internet host"
ok "topology up: gateway $kg, client node $kc, mesh node $km"

# A listener on the LAN host that counts every TCP packet reaching port 8080.
nh nft add table inet probe
nh nft add chain inet probe in '{ type filter hook input priority 0; policy accept; }'
nh nft add rule inet probe in tcp dport 8080 counter
ip netns exec "$nsh" socat TCP6-LISTEN:8080,fork,reuseaddr SYSTEM:'echo lan-host' >/dev/null 2>&1 &
pids+=($!)
lan_hits() { nh nft list chain inet probe in | sed -n 's/.*tcp dport 8080 counter packets \([0-9]*\).*/\1/p'; }

# What share may touch on the client node, in a form to compare byte for byte.
dump() {
	nc_ ip addr
	nc_ ip -4 route show table all
	nc_ ip -6 route show table all
	nc_ nft list ruleset
	nc_ sysctl -a 2>/dev/null |
		grep -E '^net\.ipv(4\.ip_forward|[46]\.conf\.[^.]+\.(forwarding|accept_ra)) '
}
same_dump() {
	dump >"$tmp/now"
	diff -u "$1" "$tmp/now" >&2 || fail "$2"
}
# What the internet host says the LAN host is, or "" when it cannot get there.
seen4() { nh curl -s --max-time "${1:-4}" http://192.0.2.80/ | sed -n 's/^you are //p'; }
seen6() { nh curl -s --max-time "${1:-4}" "http://[2001:db8:2::80]/" | sed -n 's/^you are //p'; }
# The address the gateway sees for the LAN host's connection to its fc address.
ip netns exec "$nsg" socat TCP6-LISTEN:8081,bind="[$fg]",fork,reuseaddr \
	SYSTEM:'echo "$SOCAT_PEERADDR"' >/dev/null 2>&1 &
pids+=($!)
poll 10 ng sh -c "ss -ltn | grep -q ':8081'" || fail "the gateway's listener did not start"
seen_mesh() { nh socat -T5 -u "TCP6:[$fg]:8081,connect-timeout=5" - 2>/dev/null | tr -d '[]'; }
same_addr() {
	python3 -c 'import ipaddress as i, sys; sys.exit(i.ip_address(sys.argv[1]) != i.ip_address(sys.argv[2]))' \
		"$1" "$2" 2>/dev/null
}

dump >"$tmp/before"
[ -z "$(seen4 2)" ] || fail "the LAN host reaches the internet before share up: the topology is wrong"
! nh ping -6 -c1 -W1 "$fg" >/dev/null 2>&1 || fail "the LAN host reaches the mesh before share up"

# ---- bad input: a clear error, nothing changed ----

# expect_fail CODE PATTERN VISP-ARGS...
expect_fail() {
	local code=$1 pattern=$2 rc=0
	shift 2
	vc "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq "$code" ] || { cat "$tmp/err" >&2; fail "visp $* exited $rc, not $code"; }
	grep -q -- "$pattern" "$tmp/err" || { cat "$tmp/err" >&2; fail "visp $*: no '$pattern'"; }
	same_dump "$tmp/before" "visp $* left changes behind"
}
expect_fail 1 "LAN interface 'nosuch0' does not exist" share up --lan lan0 --lan nosuch0
expect_fail 2 "LAN interface 'eth0' is the uplink" share up --lan lan0 --lan eth0
expect_fail 2 "LAN interface 'tun0' is cjdns's tun device" share up --lan tun0
expect_fail 2 "LAN interface 'lo' is the loopback" share up --lan lo
expect_fail 2 "no LAN interface" share up
expect_fail 3 "cannot get the node's address from cjdns" --cjdns 127.0.0.1:9 share up --lan lan0
[ ! -e "$tmp/c/run/share.state" ] || fail "a refused share up left state"
vc -n share up --lan lan0 >"$tmp/out" 2>&1 || fail "share up -n: $(cat "$tmp/out")"
grep -q "^add nftables table inet visp, part share" "$tmp/out" || { cat "$tmp/out"; fail "dry run"; }
same_dump "$tmp/before" "share up -n changed something"
ok "bad input refused (exit 1/2/3, clear messages), dry run: nothing changed"

# ---- share up, no lease: the mesh yes, the internet no (no leak) ----

vc share up --lan lan0 2>"$tmp/up.log" || fail "share up: $(cat "$tmp/up.log")"
dump >"$tmp/up1"
nc_ nft list table inet visp | grep -q 'iifname "lan0" oifname "tun0" masquerade' ||
	fail "no masquerade into the tun"
[ "$(nc_ sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "no IPv4 forwarding"
[ "$(nc_ sysctl -n net.ipv6.conf.all.forwarding)" = 1 ] || fail "no IPv6 forwarding"
poll 10 nh ping -6 -c1 -W1 "$fg" || fail "the LAN host cannot ping the gateway's fc address"
seen=$(seen_mesh)
same_addr "$seen" "$fc" || fail "the gateway saw the LAN host as '$seen', not as the client node $fc"
[ -z "$(seen4)" ] || fail "no lease, yet the LAN host's IPv4 reached the internet (leak)"
[ -z "$(seen6)" ] || fail "no lease, yet the LAN host's IPv6 reached the internet (leak)"
nc_ curl -sf --max-time 4 http://192.0.2.80/ | grep -q "you are 198.51.100.2" ||
	fail "the client node itself lost its own uplink"
ok "no lease: LAN host pings and connects to $fg as $fc; its internet traffic is dropped"

vc share up --lan lan0 >"$tmp/out" 2>"$tmp/err" || fail "second share up: $(cat "$tmp/err")"
[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] || { cat "$tmp/out" "$tmp/err"; fail "second up spoke"; }
same_dump "$tmp/up1" "the second share up changed something"
vc -j share status --lan lan0 >"$tmp/status.json"
python3 - "$tmp/status.json" "$kg" <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	assert s["up"] is True and s["tun"] == "tun0" and s["uplink"] == "eth0", s
	assert s["lans"] == ["lan0"] and s["internet"] == "blocked", s
	assert s["lease"]["held"] is False, s
	assert all(i["state"] == "in place" for i in s["items"]), s["items"]
EOF
ok "share up again: no output, nothing changed; status -j in place"

vc share up --lan lan0 --internet-fallback 2>>"$tmp/verbs.log" || fail "share up --internet-fallback"
[ "$(seen4)" = 198.51.100.2 ] || fail "fallback: the internet should see the client node's uplink"
vc share up --lan lan0 2>>"$tmp/verbs.log" || fail "share up without fallback again"
same_dump "$tmp/up1" "dropping the fallback did not bring back the first table"
[ -z "$(seen4)" ] || fail "the fallback is off again, yet the LAN host reaches the internet"
ok "--internet-fallback: out of the uplink as 198.51.100.2; off again: blocked"

vc share down 2>"$tmp/down.log" || fail "share down: $(cat "$tmp/down.log")"
same_dump "$tmp/before" "share down did not restore the client node"
vc share down >"$tmp/out" 2>"$tmp/err" || fail "second share down"
[ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] || fail "a second share down spoke"
! nh ping -6 -c1 -W1 "$fg" >/dev/null 2>&1 || fail "the LAN host still reaches the mesh after down"
ok "share down: ruleset, routes and sysctls exactly as before"

# ---- with a lease: the internet through the tunnel, following the lease ----

vc share up --lan lan0 2>>"$tmp/verbs.log" || fail "share up"
vc client connect >"$tmp/connect.log" 2>&1 || fail "client connect: $(cat "$tmp/connect.log")"
seen=$(seen4)
[ "$seen" = 203.0.113.2 ] || fail "the internet saw the LAN host as '$seen', not as the gateway 203.0.113.2"
seen=$(seen6)
same_addr "$seen" 2001:db8:1::2 || fail "over IPv6 the internet saw '$seen', not the gateway 2001:db8:1::2"
nh ping -6 -c1 -W2 "$fg" >/dev/null || fail "the mesh is gone for the LAN host with a lease"
nh curl -s --max-time 10 http://192.0.2.80/ -o /dev/null -w '%{http_code}' | grep -q 200 ||
	fail "curl through the tunnel"
vc -j share status >"$tmp/status.json"
python3 - "$tmp/status.json" "$kg" <<-'EOF'
	import json, sys
	s = json.load(open(sys.argv[1]))
	assert s["lease"]["held"] is True and s["lease"]["gateway"] == sys.argv[2], s
	assert s["internet"] == "tunnel" and s["up"] is True, s
	assert all(i["state"] == "in place" for i in s["items"]), s["items"]
EOF
ok "lease: the LAN host curls the internet through the tunnel as the gateway (v4 and v6)"

# ---- nobody from the mesh opens a connection into the LAN ----

rc=0
nm socat -T3 -u "TCP6:[$fc]:8080,connect-timeout=3" - >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the mesh node opened a connection to the client node's port 8080"
nm ip -6 route add fd77::/64 dev tun0
rc=0
nm socat -T3 -u "TCP6:[fd77::2]:8080,connect-timeout=3" - >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the mesh node opened a connection to the LAN host"
# The gateway is a mesh node with a tunnel into the client node: make it
# send into the tunnel for the LAN (a second IpTunnel entry for the client's
# key covering 192.168.77.0/24) and try to connect to the LAN host. The
# client's cjdns passes to its tun only what is addressed to its lease (as
# cjdroute v21.1 does: "Got message with wrong address"), so the SYNs stop
# there, before visp's rules: the counter on the client's tun stays at 0.
conn=$(vg cjdns call IpTunnel_allowConnection publicKeyOfAuthorizedNode="$kc" \
	ip4Address=192.168.77.0 ip4Prefix=24 ip4Alloc=24 |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["connection"])')
ng ip route add 192.168.77.0/24 dev tun0
nc_ nft add table inet probe
nc_ nft add chain inet probe pre '{ type filter hook prerouting priority -300; policy accept; }'
nc_ nft add rule inet probe pre iifname tun0 ip daddr 192.168.77.2 tcp dport 8080 counter
rc=0
ng socat -T3 -u TCP:192.168.77.2:8080,connect-timeout=3 - >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the gateway opened a connection to the LAN host through the tunnel"
! nc_ nft list chain inet probe pre | grep -q "counter packets [1-9]" ||
	fail "the gateway's SYNs for the LAN reached the client node's tun (cjdns drops what is not for the lease)"
[ "$(lan_hits)" = 0 ] || fail "$(lan_hits) packets from outside reached the LAN host's port 8080"
ng ip route del 192.168.77.0/24 dev tun0
vg cjdns call IpTunnel_removeConnection connection="$conn" >/dev/null
nc_ nft delete table inet probe
nm ip -6 route del fd77::/64 dev tun0
[ "$(seen4)" = 203.0.113.2 ] || fail "the LAN host lost the internet"
ok "mesh node and gateway cannot open connections to the LAN host (its port 8080 and the client's tun saw nothing)"

# ---- the lease goes: no leak, without re-applying share ----

vc client disconnect 2>"$tmp/disconnect.log" || fail "client disconnect: $(cat "$tmp/disconnect.log")"
[ -z "$(seen4)" ] || fail "after disconnect the LAN host's traffic leaks out of the uplink"
# Both of the lease's prefixes (IPv4 and IPv6, prefix 0) left cjdns's route
# generator, or its next commit would route everything into the tunnel again.
for v6 in 0 1; do
	node_call c RouteGen_getPrefixes ip6=$v6 | grep -q '"routes": \[\]' ||
		fail "disconnect left a prefix in cjdns's RouteGen: $(node_call c RouteGen_getPrefixes ip6=$v6)"
done
nh ping -6 -c1 -W2 "$fg" >/dev/null || fail "after disconnect the LAN host lost the mesh"
vc client connect >"$tmp/connect2.log" 2>&1 || fail "client connect again: $(cat "$tmp/connect2.log")"
[ "$(seen4)" = 203.0.113.2 ] || fail "the LAN host's internet did not come back with the lease"
vc client disconnect 2>>"$tmp/verbs.log" || fail "client disconnect"
ok "the sharing follows the lease: blocked without, through the tunnel with, no re-apply"

vc share down 2>"$tmp/down.log" || fail "share down: $(cat "$tmp/down.log")"
same_dump "$tmp/before" "share down (after a lease came and went) did not restore the client node"
ok "share down after the lease: exactly as before"

# ---- one node, two roles: the gateway also shares with a LAN ----

gdump() {
	# Table by table, in name order: replacing inet visp moves it behind the
	# gateway's inet visp_usage (kept) in a whole-ruleset listing, whose
	# counters move with traffic (see tunnel.sh).
	ng nft list tables | sort | while read -r _ fam name; do
		ng nft list table "$fam" "$name" | grep -v "counter packets"
	done
	ng sysctl -a 2>/dev/null | grep -E '^net\.ipv(4\.ip_forward|[46]\.conf\.[^.]+\.(forwarding|accept_ra)) '
	ng ip route
}
ip -n "$nsg" link add glan0 type veth peer name glan1
ip -n "$nsg" link set glan0 up
ip -n "$nsg" link set glan1 up
gdump >"$tmp/g-tunnel"
vg share up --lan glan0 2>>"$tmp/verbs.log" || fail "share up on the gateway"
ng nft list table inet visp | grep -q "chain gw_forward" || fail "share up removed the gateway's chains"
ng nft list table inet visp | grep -q "chain share_forward" || fail "no share chains on the gateway"
grep -q "^sysctl net/ipv4/ip_forward 0 1" "$tmp/g/run/share.state" ||
	fail "share did not take over the gateway's record of ip_forward: $(cat "$tmp/g/run/share.state")"
vg tunnel up >"$tmp/out" 2>&1 || fail "tunnel up with share up"
grep -v "^lease sync" "$tmp/out" | grep -q . && { cat "$tmp/out"; fail "tunnel up changed something"; }
vg share down 2>>"$tmp/verbs.log" || fail "share down on the gateway"
gdump >"$tmp/now"
diff -u "$tmp/g-tunnel" "$tmp/now" >&2 || fail "share down on the gateway did not leave it as the tunnel had it"
vg share up --lan glan0 2>>"$tmp/verbs.log" || fail "share up on the gateway again"
vg tunnel down 2>>"$tmp/verbs.log" || fail "tunnel down with share up"
[ "$(ng sysctl -n net.ipv4.ip_forward)" = 1 ] || fail "tunnel down switched off forwarding that share needs"
ng nft list table inet visp | grep -q "chain share_forward" || fail "tunnel down removed the share chains"
vg share down 2>>"$tmp/verbs.log" || fail "share down after tunnel down"
[ "$(ng sysctl -n net.ipv4.ip_forward)" = 0 ] || fail "the last one down did not restore ip_forward"
! ng nft list table inet visp >/dev/null 2>&1 || fail "the visp table outlived both roles"
ok "gateway and share on one node: separate chains, forwarding handed over, last down restores"

echo "PASS"
