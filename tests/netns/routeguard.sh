#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A gateway's lease routes never replace or remove the client's own routes.
# A hostile gateway (its cjdns really allows the client's tunnel, its lease
# endpoint offers whatever routes this test names) offers routes that equal,
# cover or lie inside the client's LAN, its underlay subnet, the gateway's
# underlay address, a pinned peer; "0.0.0.0/0" and "::/0"; a route covering
# a static route of the client's; one equal to a foreign route on the tun.
# After each connect and disconnect the client's routing is what it was.
# A renewal whose routes changed reconnects, so the new routes meet the same checks.
#
#   client ns ($nsc)                               gateway ns ($nsg)
#  +-------------------------------------+       +------------------------------------+
#  | cjdns tun0                          |       | cjdns tun0, underlay 203.0.113.7   |
#  | eth0 198.51.100.2/24 2001:db8:1::2 -|-------|- eth0 198.51.100.1/24 2001:db8:1::1 |
#  |   default via .1 / 2001:db8:1::1    |       |  lo 203.0.113.7/32                 |
#  | lan0 192.0.2.1/24 2001:db8:2::1/64  |       | lease endpoint :12234 (hostile,    |
#  |   (veth to lan1: the client's LAN)  |       |  offers the routes of routes.json) |
#  | 203.0.113.192/26 via 198.51.100.1   |       +------------------------------------+
#  | 2001:db8:99::/48 dev tun0 (foreign) |
#  +-------------------------------------+
#
# The gateway's underlay address is reached through the default route, so
# visp pins it. The gateway's cjdns allows the client 172.23.23.2 and
# fd00:23::2 with prefix 0 (cjdns routes the /1 pairs itself).
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step
. "$top/tests/lib/node.sh"	# node_start: the simulator or $CJDROUTE
VISP=${VISP:-$top/visp}
PY=$(command -v /usr/bin/python3 || command -v python3)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
[ -x "$VISP" ] || skip "no visp binary at $VISP (run make)"
for t in ip ping; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

nsc=visp-rgc-$$ nsg=visp-rgg-$$
tmp=$(mktemp -d /tmp/visp-routeguard.XXXXXX)
pw=routeguard-pw
pids=()
failed=0

nc() { ip netns exec "$nsc" "$@"; }
ng() { ip netns exec "$nsg" "$@"; }

cleanup() {
	local rc=$?
	set +e
	node_stop_all
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "$nsc" "$nsg"; do ip netns del "$ns" 2>/dev/null; done
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do echo "---- $f"; tail -n 15 "$f"; done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# ---- topology ----

for ns in "$nsc" "$nsg"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip link add eth0 netns "$nsc" type veth peer name eth0 netns "$nsg"
ip -n "$nsc" addr add 198.51.100.2/24 dev eth0
ip -n "$nsc" addr add 2001:db8:1::2/64 dev eth0 nodad
ip -n "$nsg" addr add 198.51.100.1/24 dev eth0
ip -n "$nsg" addr add 2001:db8:1::1/64 dev eth0 nodad
ip -n "$nsg" addr add 203.0.113.7/32 dev lo
ip -n "$nsc" link add lan0 type veth peer name lan1
ip -n "$nsc" addr add 192.0.2.1/24 dev lan0
ip -n "$nsc" addr add 2001:db8:2::1/64 dev lan0 nodad
ip -n "$nsc" link set eth0 up
ip -n "$nsc" link set lan0 up
ip -n "$nsc" link set lan1 up
ip -n "$nsg" link set eth0 up
ip -n "$nsc" route add default via 198.51.100.1 dev eth0
ip -n "$nsc" -6 route add default via 2001:db8:1::1 dev eth0
# A static route of the client's own, which a covering lease route must leave alone.
ip -n "$nsc" route add 203.0.113.192/26 via 198.51.100.1 proto static

node_start g "$nsg" --password "$pw" --tun tun0 --underlay 203.0.113.7:4000
node_start c "$nsc" --password "$pw" --tun tun0 --underlay 198.51.100.2:4000 --peer g
kg=$(node_key g) kc=$(node_key c)
ag=$("$VISP" key addr "$kg")
poll 20 nc ping -6 -c1 -W1 "$ag" || fail "no mesh path from the client to the gateway"
# A route on the tun that is neither visp's nor cjdns's: only an exclusive add keeps it.
# IPv6: the kernel drops every IPv4 route of a device with its last IPv4 address (the
# lease's, at disconnect), and cjdns's route generator replaces the prefixes it makes.
ip -n "$nsc" -6 route add 2001:db8:99::/48 dev tun0 proto static

# The gateway's cjdns allows the client's tunnel the way visp tunnel up would for a default lease.
node_call g IpTunnel_allowConnection "publicKeyOfAuthorizedNode=$kc" \
	ip4Address=172.23.23.2 ip4Prefix=0 ip4Alloc=32 \
	ip6Address=fd00:23::2 ip6Prefix=0 ip6Alloc=128 >"$tmp/allow.log" ||
	fail "IpTunnel_allowConnection on the gateway: $(cat "$tmp/allow.log")"

# The lease endpoint: offers the routes of routes.json, logs each request's method.
cat >"$tmp/gw.py" <<'PYEOF'
import http.server, json, socket, sys, time
gw_key, routes_file, log = sys.argv[1], sys.argv[2], sys.argv[3]
class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        body = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        open(log, "a").write("POST\n")
        self.answer({"public_key": req["public_key"], "gateway_key": gw_key,
                     "ipv4_address": "172.23.23.2/24", "ipv6_address": "fd00:23::2/64",
                     "routes": json.load(open(routes_file)), "gateways": ["172.23.23.1"],
                     "nameservers": [],
                     "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))})
    def do_DELETE(self):
        open(log, "a").write("DELETE\n")
        self.answer({})
    def log_message(self, *args):
        pass
class Server(http.server.HTTPServer):
    address_family = socket.AF_INET6
Server(("::", 12234), Handler).serve_forever()
PYEOF
echo '[]' >"$tmp/routes.json"
# Not through ng(): a function backgrounds a subshell, and $! would be it, not python.
ip netns exec "$nsg" "$PY" "$tmp/gw.py" "$kg" "$tmp/routes.json" "$tmp/requests" >"$tmp/gw.log" 2>&1 &
pids+=($!)

cat >"$tmp/c.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"run_dir": "$tmp/c/run", "discover": false, "probe": "none", "dns": false
}
EOF
vc() { nc "$VISP" -c "$tmp/c.conf" "$@"; }
url="http://[$ag]:12234/lease"
poll 10 nc "$PY" -c 'import socket,sys; socket.create_connection((sys.argv[1], 12234), 1)' "$ag" ||
	fail "the gateway's lease endpoint is not answering"

routing() {
	nc ip -4 route show table all
	nc ip -6 route show table all
	nc ip -o addr show | sed 's/valid_lft.*//'
}
before=$(routing)

# bad CASE WHY: record a failed check, go on (so that a run against old code
# shows every case that fails, not only the first).
bad() {
	echo "   FAIL: $1: $2"
	failed=$((failed + 1))
}
# as_before CASE: the routing of before, no tunnel left in the client's cjdns.
as_before() {
	local now
	now=$(routing)
	if [ "$now" != "$before" ]; then
		diff <(echo "$before") <(echo "$now") | sed 's/^/      /'
		bad "$1" "the routing is not what it was"
		# Judge the next cases against what is left, not again against this loss.
		before=$now
	fi
	node_call c IpTunnel_listConnections | grep -q '"connections": \[\]' ||
		bad "$1" "the client's cjdns keeps a tunnel"
}

# refused CASE PATTERN ROUTES...: the offer is refused whole, before anything changes.
refused() {
	local what=$1 pattern=$2 rc=0
	shift 2
	"$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >"$tmp/routes.json"
	: >"$tmp/requests"
	vc client connect --wait 4 "$url" >/dev/null 2>"$tmp/err" || rc=$?
	echo "   $what: exit $rc: $(grep '^visp: ' "$tmp/err" | tail -n 1)"
	[ $rc -eq 6 ] || bad "$what" "exit $rc, want 6"
	grep -q -- "$pattern" "$tmp/err" || bad "$what" "the refusal ($pattern) is not named"
	grep -q DELETE "$tmp/requests" || bad "$what" "the refused lease was not given back"
	vc client disconnect >/dev/null 2>&1 || bad "$what" "disconnect failed"
	as_before "$what"
}

# accepted CASE CHECK ROUTES...: the lease works, CHECK holds while connected.
accepted() {
	local what=$1 check=$2 rc=0
	shift 2
	"$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >"$tmp/routes.json"
	vc client connect --wait 8 "$url" >/dev/null 2>"$tmp/err" || rc=$?
	echo "   $what: exit $rc $(grep '^visp: ' "$tmp/err" | tail -n 1)"
	[ $rc -eq 0 ] || bad "$what" "exit $rc, want 0"
	nc ip route show default | grep -q "via 198.51.100.1 dev eth0" ||
		bad "$what" "the IPv4 default route is gone while connected"
	nc ip -6 route show default | grep -q "via 2001:db8:1::1 dev eth0" ||
		bad "$what" "the IPv6 default route is gone while connected"
	eval "$check" || bad "$what" "while connected: $check does not hold"
	vc client disconnect >/dev/null 2>"$tmp/err" || bad "$what" "disconnect: $(cat "$tmp/err")"
	as_before "$what"
}

step "cjdns: $(node_kind)"
step "0.0.0.0/0 and ::/0 mean \"default\"; a covering route leaves the host's route alone"
accepted "0.0.0.0/0 and ::/0" 'nc ip route show dev tun0 | grep -q "^0.0.0.0/1"' \
	0.0.0.0/0 ::/0
accepted "covering a static route" \
	'nc ip route show 203.0.113.192/26 | grep -q "via 198.51.100.1 dev eth0 proto static" &&
	 nc ip route show dev tun0 proto 86 | grep -q "^203.0.113.128/25"' \
	203.0.113.128/25

step "offers that would take over the client's own routes are refused whole"
refused "the client's LAN" "192.0.2.0/24 of the lease equals the on-link network 192.0.2.0/24" \
	192.0.2.0/24
refused "the client's underlay subnet" "198.51.100.0/24 of the lease \(equals\|covers\)" \
	198.51.100.0/24
refused "inside the client's LAN" "lies inside the on-link network 192.0.2.0/24" 192.0.2.128/25
refused "the client's IPv6 LAN" "equals the on-link network 2001:db8:2::/64" 2001:db8:2::/64
refused "covering the gateway's underlay address" "203.0.113.0/25 of the lease covers the underlay peer 203.0.113.7" \
	203.0.113.0/25
refused "the next hop of the default route" "198.51.100.1/32 of the lease" 198.51.100.1/32
refused "one bad route among good ones" "equals the on-link network 192.0.2.0/24" \
	default 203.0.113.128/26 192.0.2.0/24
vc routes pin-peers >/dev/null 2>"$tmp/err" || fail "routes pin-peers: $(cat "$tmp/err")"
nc ip route show proto 86 | grep -q "^203.0.113.7 via 198.51.100.1" ||
	fail "the gateway's underlay address is not pinned: $(nc ip route show proto 86)"
refused "a pinned peer" "203.0.113.7/32 of the lease equals the pinned peer route 203.0.113.7" \
	203.0.113.7/32

step "a route equal to a foreign route on the tun: an error, the route stays"
rc=0
echo '["2001:db8:99::/48"]' >"$tmp/routes.json"
vc client connect --wait 8 "$url" >/dev/null 2>"$tmp/err" || rc=$?
echo "   foreign route on tun0: exit $rc: $(grep '^visp: ' "$tmp/err" | tail -n 1)"
[ $rc -eq 6 ] || bad "foreign route on tun0" "exit $rc, want 6"
grep -q "2001:db8:99::/48 is already in the main table and is not visp's" "$tmp/err" ||
	bad "foreign route on tun0" "the reason is not named"
nc ip -6 route show 2001:db8:99::/48 | grep -q "dev tun0 proto static" ||
	bad "foreign route on tun0" "it was replaced"
vc client disconnect >/dev/null 2>&1 || bad "foreign route on tun0" "disconnect failed"
as_before "foreign route on tun0"

step "a renewal whose routes changed reconnects: the new routes pass the guard first"
# renew ROUTES...: the next connect finds the lease past half its life, the gateway offering ROUTES.
renew() {
	"$PY" -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@" >"$tmp/routes.json"
	"$PY" -c 'import json,sys; p=sys.argv[1]; s=json.load(open(p)); s["leased_at"]=1; open(p,"w").write(json.dumps(s))' \
		"$tmp/c/run/client.json"
	rc=0
	vc client connect --wait 8 "$url" >/dev/null 2>"$tmp/err" || rc=$?
	echo "   renewal offering $*: exit $rc $(grep '^visp: ' "$tmp/err" | tail -n 1)"
}
echo '["203.0.113.128/26"]' >"$tmp/routes.json"
vc client connect --wait 8 "$url" >/dev/null 2>"$tmp/err" || fail "connect: $(cat "$tmp/err")"
renew 203.0.113.64/26
[ $rc -eq 0 ] || bad "renewal, a route changed" "exit $rc, want 0"
nc ip route show dev tun0 proto 86 | grep -q "^203.0.113.64/26" ||
	bad "renewal, a route changed" "the new route is not installed"
nc ip route show dev tun0 proto 86 | grep -q "^203.0.113.128/26" &&
	bad "renewal, a route changed" "the old route stayed"
renew 203.0.113.64/26 198.51.100.0/24
[ $rc -eq 6 ] || bad "renewal, the underlay subnet" "exit $rc, want 6"
grep -q "198.51.100.0/24 of the lease" "$tmp/err" ||
	bad "renewal, the underlay subnet" "the refusal is not named"
nc ip route show 198.51.100.0/24 | grep -q "dev eth0 proto kernel" ||
	bad "renewal, the underlay subnet" "the on-link route changed"
vc client disconnect >/dev/null 2>&1 || bad "renewal" "disconnect failed"
as_before "renewal"

[ $failed -eq 0 ] || fail "$failed checks failed"
echo "PASS"
