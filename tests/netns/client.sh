#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# visp client end to end: a client whose cjdns peers are reachable only
# through a router leases a default route from one of two gateways, reaches
# the "internet" through the tunnel while its peering stays up (the pins),
# fails over when its gateway dies, recovers after a gateway restart, and
# disconnects back to the exact routing of before. Run as root.
#
#   client ns (c)              router ns (r)                 gateway ns (g1, g2)        internet ns (i)
#   +-----------------+        +------------------+          +--------------------+      +---------------+
#   | cjdns tun0      |        |                  |          | cjdns tun0         |      |               |
#   |  visp client    |        |                  |   br0 ---| eth0 203.0.113.11  |      |               |
#   | eth0 -----------|--------| c0  198.51.100.1 |   |      | eth1 192.0.2.1 ----|--+---| br0           |
#   | 198.51.100.2/24 |        | br0 203.0.113.1 -|---+      +--------------------+  |   | 192.0.2.100   |
#   | default via .1  |        | (no default,     |   |      | eth0 203.0.113.12  |  |   | http :80      |
#   +-----------------+        |  no 192.0.2/24)  |   +------| eth1 192.0.2.2 ----|--+   +---------------+
#                              +------------------+          +--------------------+
#
# The underlay (UDP 4000) runs client -> router -> gateways; 192.0.2.0/24
# ("the internet") is reachable from the client only through a gateway's
# tunnel (pools 172.23.23.0/24 and 172.23.24.0/24, NAT to eth1). The client
# peers with gateway 1 from its config (a connectTo peer, which cjdns keeps
# out of its own routes) and with gateway 2 at runtime (no such exception:
# only visp's pin keeps that peering out of the tunnel).
#
# cjdns is the simulator, or the real cjdroute that CJDROUTE names
# (tests/lib/node.sh); every check runs against both. With cjdroute, a
# restarted peer's session is held the real way (~70 s) instead of the
# simulator's --repeer-delay 120.

set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/node.sh"	# node_start, node_stop: the simulator or $CJDROUTE
. "$top/tests/lib/test.sh"	# poll
visp=${VISP:-$top/visp}

skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
[ -x "$visp" ] || skip "no visp binary at $visp (run make)"
"$visp" tunnel --help >/dev/null 2>&1 || skip "visp tunnel (gateway side) is not built in"
"$visp" lease --help 2>/dev/null | grep -q serve || skip "visp lease serve is missing"
for t in python3 socat curl ip nft ping; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

nsc1=visp-c-$$ nsr=visp-r-$$ nsg1=visp-g1-$$ nsg2=visp-g2-$$ nsi=visp-i-$$
tmp=$(mktemp -d /tmp/visp-client-test.XXXXXX)
pw=test-pw-$$
pids=()

nc1() { ip netns exec "$nsc1" "$@"; }
nr() { ip netns exec "$nsr" "$@"; }
ng1() { ip netns exec "$nsg1" "$@"; }
ng2() { ip netns exec "$nsg2" "$@"; }
ni() { ip netns exec "$nsi" "$@"; }
ng() { ip netns exec "visp-g$1-$$" "${@:2}"; }

cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	node_stop_all
	for ns in "$nsc1" "$nsr" "$nsg1" "$nsg2" "$nsi"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "$KEEP_LOGS" ]; then echo "logs kept in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do echo "--- $f"; tail -n 25 "$f"; done >&2
	exit 1
}
ok() { echo "ok: $*"; }

# ---- topology ----

for ns in "$nsc1" "$nsr" "$nsg1" "$nsg2" "$nsi"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# No duplicate address detection: "tentative" flags would make the
	# before/after comparisons of the routing race with it.
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done

ip link add eth0 netns "$nsc1" type veth peer name c0 netns "$nsr"
ip -n "$nsr" link add br0 type bridge
ip -n "$nsi" link add br0 type bridge
for i in 1 2; do
	ip link add eth0 netns "visp-g$i-$$" type veth peer name g$i netns "$nsr"
	ip link add eth1 netns "visp-g$i-$$" type veth peer name g$i netns "$nsi"
	ip -n "$nsr" link set g$i master br0 up
	ip -n "$nsi" link set g$i master br0 up
	ip -n "visp-g$i-$$" addr add 203.0.113.1$i/24 dev eth0
	ip -n "visp-g$i-$$" addr add 192.0.2.$i/24 dev eth1
	ip -n "visp-g$i-$$" link set eth0 up
	ip -n "visp-g$i-$$" link set eth1 up
	ip -n "visp-g$i-$$" route add default via 192.0.2.100 dev eth1
	ip -n "visp-g$i-$$" route add 198.51.100.0/24 via 203.0.113.1 dev eth0
done
ip -n "$nsc1" addr add 198.51.100.2/24 dev eth0
ip -n "$nsc1" link set eth0 up
ip -n "$nsc1" route add default via 198.51.100.1 dev eth0
ip -n "$nsr" addr add 198.51.100.1/24 dev c0
ip -n "$nsr" addr add 203.0.113.1/24 dev br0
ip -n "$nsr" link set c0 up
ip -n "$nsr" link set br0 up
nr sysctl -qw net.ipv4.ip_forward=1
ip -n "$nsi" addr add 192.0.2.100/24 dev br0
ip -n "$nsi" link set br0 up

mkdir -p "$tmp/www"
echo "hello from the internet" >"$tmp/www/index.html"
ip netns exec "$nsi" python3 -m http.server 80 --bind 192.0.2.100 --directory "$tmp/www" \
	>"$tmp/www.log" 2>&1 &
pids+=($!)

# ---- cjdns ----

# start_cjdns NAME NS UNDERLAY [node_start args...]: one node, its key in $tmp/NAME.key.
start_cjdns() {
	node_start "$1" "$2" --password "$pw" --tun tun0 --underlay "$3" "${@:4}"
}

start_cjdns g1 "$nsg1" 203.0.113.11:4000
start_cjdns g2 "$nsg2" 203.0.113.12:4000
# The client holds a restarted peer's session like real cjdns does (~70 s)
# unless resetPeering is called: the restart test below depends on it.
start_cjdns c "$nsc1" 198.51.100.2:4000 --peer g1 -- --repeer-delay 120
node_peer c g2

k1=$(cat "$tmp/g1.key") k2=$(cat "$tmp/g2.key") kc=$(cat "$tmp/c.key")
a1=$("$visp" key addr "$k1") a2=$("$visp" key addr "$k2")

for i in 1 2; do
	mkdir -p "$tmp/g$i"
	cat >"$tmp/g$i.conf" <<-EOF
	{
		"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
		"state_dir": "$tmp/g$i/state", "run_dir": "$tmp/g$i/run",
		"ipv4_pool": "172.23.2$((2 + i)).0/24",
		"uplink": "eth1",
		"routes": ["default"],
		"lease_time": 3600
	}
	EOF
	ng $i "$visp" -q -c "$tmp/g$i.conf" tunnel up >"$tmp/g$i-up.log" 2>&1 ||
		fail "visp tunnel up on gateway $i"
	ip netns exec "visp-g$i-$$" socat TCP6-LISTEN:12234,fork,reuseaddr \
		EXEC:"$visp -c $tmp/g$i.conf lease serve",nofork >/dev/null 2>"$tmp/g$i-serve.log" &
	pids+=($!)
done

cat >"$tmp/c.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/c/state", "run_dir": "$tmp/c/run",
	"gateways": ["$k1", "$k2"]
}
EOF
vc() { nc1 "$visp" -c "$tmp/c.conf" "$@"; }

poll 20 nc1 ping -6 -c1 -W1 "$a1" || fail "no mesh path from the client to gateway 1"
poll 20 nc1 ping -6 -c1 -W1 "$a2" || fail "no mesh path from the client to gateway 2"
poll 10 ni curl -sf http://192.0.2.100/ || fail "the internet host's web server did not start"
ok "topology up: client $kc, gateways $k1 $k2"

routing() {
	nc1 ip -4 route show table all
	nc1 ip -6 route show table all
	nc1 ip -o addr show | sed 's/valid_lft.*//'
}
# Is the routing what it was before the client did anything? Shows the difference if not.
as_before() {
	local now
	now=$(routing)
	[ "$now" = "$before" ] && return 0
	diff <(echo "$before") <(echo "$now") >&2 || true
	return 1
}
no_prefixes() { node_call c RouteGen_getPrefixes | grep -q '"routes": \[\]'; }
internet() { nc1 curl -sf --max-time 5 http://192.0.2.100/ | grep -q "hello from the internet"; }
current() { vc client status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["gateway"] or "")'; }
default_route_kept() { nc1 ip route show default | grep -q "via 198.51.100.1 dev eth0"; }

before=$(routing)
! internet || fail "the internet is reachable without a tunnel: the topology is wrong"

# ---- bad input: nothing changes, documented exit codes ----

# Only the gateways named on the command line: no config list, no discovery.
cat >"$tmp/c-only.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"run_dir": "$tmp/c-only/run", "discover": false
}
EOF
vo() { nc1 "$visp" -c "$tmp/c-only.conf" "$@"; }

rc=0; vo client connect 0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k \
	>/dev/null 2>"$tmp/err.log" || rc=$?
[ $rc -eq 6 ] || fail "connect to a gateway nobody runs: exit $rc, want 6 ($(cat "$tmp/err.log"))"
rc=0; vo client connect 2>/dev/null || rc=$?
[ $rc -eq 6 ] || fail "connect with no gateway at all: exit $rc, want 6"
rc=0; vo client connect not-a-key 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "connect with a malformed gateway: exit $rc, want 2"
rc=0; nc1 "$visp" -c "$tmp/c-only.conf" --cjdns 127.0.0.1:1 client connect 2>/dev/null || rc=$?
[ $rc -eq 3 ] || fail "connect with cjdns down: exit $rc, want 3"
sed 's|"discover": false|"discover": false, "tun": "nosuchtun"|' "$tmp/c-only.conf" >"$tmp/c-notun.conf"
rc=0; nc1 "$visp" -c "$tmp/c-notun.conf" client connect "$k1" 2>"$tmp/err.log" || rc=$?
[ $rc -eq 1 ] && grep -q "tun device is missing" "$tmp/err.log" ||
	fail "connect without the tun: exit $rc, want 1 ($(cat "$tmp/err.log"))"

# A gateway that refuses (allowlist without us), one that lies, one that floods.
cat >"$tmp/g1-closed.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/g1/state", "run_dir": "$tmp/g1/run",
	"ipv4_pool": "172.23.23.0/24", "uplink": "eth1", "routes": ["default"],
	"policy": "allowlist", "allowlist": "$tmp/nobody"
}
EOF
: >"$tmp/nobody"
ip netns exec "$nsg1" socat TCP6-LISTEN:12235,fork,reuseaddr \
	EXEC:"$visp -c $tmp/g1-closed.conf lease serve",nofork >/dev/null 2>&1 &
pids+=($!)
cat >"$tmp/fakegw.py" <<'PYEOF'
# A lease server that answers every request with the bytes of a file.
import http.server, socket, sys
port, reply = int(sys.argv[1]), open(sys.argv[2], "rb").read()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.wfile.write(reply)
    do_GET = do_DELETE = do_POST
    def log_message(self, *args):
        pass
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
Server(("::", port), Handler).serve_forever()
PYEOF
hostile='{"public_key":"'$kc'","gateway_key":"'$k1'","ipv4_address":"127.0.0.2/8","routes":["default"],"gateways":[],"nameservers":[],"expires":"2099-01-01T00:00:00Z"}'
printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
	${#hostile} "$hostile" >"$tmp/hostile.http"
python3 -c 'import sys; sys.stdout.write("HTTP/1.1 200 OK\r\nContent-Length: 200000\r\nConnection: close\r\n\r\n{\"a\":\"" + "x" * 199992 + "\"}")' \
	>"$tmp/huge.http"
ip netns exec "$nsg1" python3 "$tmp/fakegw.py" 12236 "$tmp/hostile.http" >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$nsg1" python3 "$tmp/fakegw.py" 12237 "$tmp/huge.http" >/dev/null 2>&1 &
pids+=($!)
poll 10 nc1 curl -s -o /dev/null "http://[$a1]:12236/" || fail "the fake gateways did not start"
for port in 12235 12236 12237; do
	rc=0; vo client connect "http://[$a1]:$port/lease" >/dev/null 2>"$tmp/err.log" || rc=$?
	[ $rc -eq 6 ] || fail "gateway on port $port: exit $rc, want 6"
	case $port in
	12235) grep -q "403" "$tmp/err.log" || fail "the refusal is not reported: $(cat "$tmp/err.log")" ;;
	12236) grep -q "ipv4_address" "$tmp/err.log" || fail "the hostile lease is not named: $(cat "$tmp/err.log")" ;;
	12237) grep -q "too large" "$tmp/err.log" || fail "the huge body is not named: $(cat "$tmp/err.log")" ;;
	esac
done
as_before || fail "a failed connect changed the routing"
ok "refusals, hostile and huge leases, cjdns down, bad arguments: exit codes 6/2/3, routing untouched"

# ---- connect: default route through the tunnel, peering kept by the pins ----

vc client connect >"$tmp/connect.out" 2>"$tmp/connect.log" || fail "client connect: $(cat "$tmp/connect.log")"
[ "$(current)" = "$k1" ] || fail "connected to $(current), want the first configured gateway $k1"
nc1 ip route show proto 86 | grep -q "^203.0.113.11 via 198.51.100.1 dev eth0" ||
	fail "no pin for gateway 1's underlay address: $(nc1 ip route show proto 86)"
nc1 ip route show proto 86 | grep -q "^203.0.113.12 via 198.51.100.1 dev eth0" ||
	fail "no pin for gateway 2's underlay address"
nc1 ip route show dev tun0 proto 52 | grep -q "^0.0.0.0/1" || fail "cjdns's /1 routes are missing"
nc1 ip route get 192.0.2.100 | grep -q "dev tun0" || fail "the internet is not routed into the tunnel"
default_route_kept || fail "the original default route is gone"
internet || fail "no internet through the tunnel"
nc1 ping -6 -c1 -W2 "$a1" >/dev/null || fail "the mesh peering broke"
ok "connected through gateway 1: internet reachable, peering up, pins in place"

# Without the pins the runtime peer's underlay would go into the tunnel; with
# them it does not. The connectTo peer is a route exception of cjdns's own.
nc1 "$visp" -q -c "$tmp/c.conf" routes pin-peers --unpin
nc1 ip route get 203.0.113.12 | grep -q "dev tun0" ||
	fail "unpinned, the peer added at runtime should route into tun0"
nc1 ip route get 203.0.113.11 | grep -q "via 198.51.100.1 dev eth0" ||
	fail "unpinned, the connectTo peer should stay out of tun0 (a cjdns route exception)"
nc1 "$visp" -q -c "$tmp/c.conf" routes pin-peers
nc1 ip route get 203.0.113.12 | grep -q "via 198.51.100.1 dev eth0" || fail "pin-peers did not pin"
nc1 "$visp" -c "$tmp/c.conf" routes pin-peers -j | grep -q '"action": "keep"' || fail "pins not kept"
ok "routes pin-peers and --unpin"

# ---- a second connect changes nothing ----

snap=$(routing; cat "$tmp/c/run/client.json")
t0=$(date +%s%N)
vc client connect >/dev/null 2>"$tmp/connect2.log" || fail "second connect: $(cat "$tmp/connect2.log")"
t1=$(date +%s%N)
[ "$(routing; cat "$tmp/c/run/client.json")" = "$snap" ] || fail "the second connect changed something"
vc client check >/dev/null || fail "client check says unhealthy"
vc client status -j | grep -q '"health": "healthy"' || fail "status is not healthy"
ok "second connect: no change, $(( (t1 - t0) / 1000000 )) ms; check healthy"

# Past half its life the lease is renewed, and nothing else changes.
state_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$tmp/c/run/client.json" "$1"; }
python3 -c 'import json,sys; p=sys.argv[1]; s=json.load(open(p)); s["leased_at"]=1; open(p,"w").write(json.dumps(s))' \
	"$tmp/c/run/client.json"
snap=$(routing)
vc client connect >/dev/null 2>"$tmp/renew.log" || fail "connect to renew: $(cat "$tmp/renew.log")"
[ "$(state_field leased_at)" -gt 1 ] || fail "the lease was not renewed"
[ "$(routing)" = "$snap" ] || fail "renewing changed the routing"
ok "lease renewed at half its life, routing untouched"

# ---- failover: gateway 1 dies, the next connect moves to gateway 2 ----

node_stop g1
rc=0; vc client check >/dev/null 2>&1 || rc=$?
[ $rc -eq 5 ] || fail "check with the gateway dead: exit $rc, want 5"
snap=$(routing)
vc client connect -n >"$tmp/dry.out" 2>/dev/null || fail "dry-run connect failed"
grep -q "would" "$tmp/dry.out" || fail "a dry run does not say what it would do"
[ "$(routing)" = "$snap" ] || fail "a dry run changed the routing"
vc client connect >/dev/null 2>"$tmp/connect3.log" || fail "failover connect: $(cat "$tmp/connect3.log")"
[ "$(current)" = "$k2" ] || fail "did not fail over to gateway 2"
default_route_kept || fail "the original default route is gone after failover"
internet || fail "no internet after failover"
nc1 ping -6 -c1 -W2 "$a2" >/dev/null || fail "the peering to gateway 2 broke"
ok "failover to gateway 2: internet reachable again"

# Gateway 1 comes back (the client holds its peering; nobody needs it now).
start_cjdns g1 "$nsg1" 203.0.113.11:4000
ng1 "$visp" -q -c "$tmp/g1.conf" tunnel up >>"$tmp/g1-up.log" 2>&1 || fail "tunnel up on gateway 1 again"

# ---- the current gateway's cjdns restarts: the next connect recovers ----

node_stop g2
start_cjdns g2 "$nsg2" 203.0.113.12:4000
ng2 "$visp" -q -c "$tmp/g2.conf" tunnel up >>"$tmp/g2-up.log" 2>&1 || fail "tunnel up on gateway 2 again"
vc client connect >/dev/null 2>"$tmp/connect4.log" || fail "connect after the restart: $(cat "$tmp/connect4.log")"
internet || fail "no internet after the gateway's restart"
vc client check >/dev/null || fail "unhealthy after recovering"
ok "gateway restart: recovered through $(current)"

# ---- disconnect: routing exactly as before ----

gw=$(current)
vc client disconnect 2>"$tmp/disconnect.log" || fail "disconnect: $(cat "$tmp/disconnect.log")"
as_before || fail "disconnect did not restore the routing"
! internet || fail "the internet is still reachable after disconnect"
i=1; [ "$gw" = "$k2" ] && i=2
ng $i "$visp" -c "$tmp/g$i.conf" lease list | grep -q "$kc" && fail "the lease was not released"
rc=0; vc client check >/dev/null 2>&1 || rc=$?
[ $rc -eq 5 ] || fail "check after disconnect: exit $rc, want 5"
vc client disconnect || fail "a second disconnect failed"
as_before || fail "a second disconnect changed the routing"
# cjdns's route generator forgot the lease's prefix too, or its next commit
# (the next lease's) would bring the default route back.
no_prefixes || fail "disconnect left a prefix in cjdns's route generator: $(node_call c RouteGen_getPrefixes)"
ok "disconnect restored the routing of before and released the lease"

# ---- a lease without "default": cjdns routes the pool, visp the lease's routes ----

cat >"$tmp/g1-routed.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/g1/state", "run_dir": "$tmp/g1/run",
	"ipv4_pool": "172.23.23.0/24", "uplink": "eth1", "routes": ["192.0.2.0/24"]
}
EOF
ng1 "$visp" -q -c "$tmp/g1.conf" lease revoke "$kc" 2>/dev/null || true
ip netns exec "$nsg1" socat TCP6-LISTEN:12238,fork,reuseaddr \
	EXEC:"$visp -c $tmp/g1-routed.conf lease serve",nofork >/dev/null 2>"$tmp/g1-routed.log" &
pids+=($!)
# Gateway 1 restarted a while ago and the client's cjdns still holds that
# peering (as real cjdns does for ~70 s): connect must reset it by itself.
poll 10 ng1 curl -s -o /dev/null "http://[$a1]:12238/" || fail "the routed lease server did not start"
vo client connect "http://[$a1]:12238/lease" >/dev/null 2>"$tmp/connect6.log" ||
	fail "connect for a routed lease: $(cat "$tmp/connect6.log")"
nc1 ip route show dev tun0 proto 86 | grep -q "^192.0.2.0/24" || fail "visp did not add the lease's route"
nc1 ip route show dev tun0 proto 52 | grep -q "^172.23.23.0/24" || fail "cjdns did not route the pool"
! nc1 ip route show dev tun0 | grep -q "^0.0.0.0/1" || fail "a routed lease got a default route"
internet || fail "no route to 192.0.2.0/24 through the tunnel"
vo client disconnect || fail "disconnect of the routed lease"
as_before || fail "disconnect of the routed lease did not restore the routing"
no_prefixes || fail "the routed lease's prefix stayed in cjdns's route generator"
ok "routed lease: the pool by cjdns, 192.0.2.0/24 by visp, both gone after disconnect"

# ---- discovery: no configured gateways, peers announce theirs ----

cat >"$tmp/c2.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"run_dir": "$tmp/c/run"
}
EOF
nc1 "$visp" -c "$tmp/c2.conf" client connect >/dev/null 2>"$tmp/connect5.log" ||
	fail "connect by discovery: $(cat "$tmp/connect5.log")"
internet || fail "no internet through a discovered gateway"
nc1 "$visp" -c "$tmp/c2.conf" client disconnect || fail "disconnect after discovery"
as_before || fail "disconnect after discovery did not restore the routing"
ok "discovery via GET /tunnels of direct peers"

# ---- the client's cjdns dies under a tunnel: clear errors, clean disconnect ----

vo client connect "$k2" >/dev/null 2>"$tmp/connect7.log" || fail "connect: $(cat "$tmp/connect7.log")"
internet || fail "no internet before the client's cjdns dies"
node_stop c
default_route_kept || fail "the default route went with cjdns"
rc=0; vo client check >/dev/null 2>&1 || rc=$?
[ $rc -eq 5 ] || fail "check with cjdns dead: exit $rc, want 5"
rc=0; vo client connect >/dev/null 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "connect with cjdns dead: exit $rc, want 3"
vo client disconnect 2>"$tmp/disconnect2.log" || fail "disconnect with cjdns dead: $(cat "$tmp/disconnect2.log")"
[ "$(routing | grep -v tun0)" = "$(echo "$before" | grep -v tun0)" ] ||
	fail "disconnect with cjdns dead did not restore the routing"
ok "client cjdns down: check 5, connect 3, disconnect restores the routing"

echo "PASS"
