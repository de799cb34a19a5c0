#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# visp client connect against gateways that misbehave: a lease endpoint
# that trickles its answer, one that accepts and never answers, one that
# sends 10 MB, one that sends garbage, one that grants a lease its cjdns
# never honours; and the client's own cjdns losing admin replies, or
# falling silent just as a connection gets its addresses.
#
#   hostile ns ($nsh)                  client ns ($nsc)                 gateway ns ($nsg)
#  +-----------------------+        +------------------------+        +---------------------------+
#  | cjdns-sim tun0        |  veth  | cjdns-sim tun0         |  veth  | cjdns-sim tun0            |
#  | eth0 192.0.2.3/24 ----|--------|-- eth1 192.0.2.2/24    |        | visp tunnel up            |
#  | lease endpoints that  |        | eth0 198.51.100.2/24 --|--------|-- eth0 198.51.100.1/24    |
#  |  trickle :12240,      |        | visp client connect    |        |   (pool 172.23.23.0/24,   |
#  |  never answer :12241, |        | faultproxy :11235 ->   |        |    NAT out of up0         |
#  |  send 10 MB :12242,   |        |   cjdns admin :11234   |        |    203.0.113.1/24)        |
#  |  garbage :12243, a    |        +------------------------+        | visp lease serve :12234   |
#  |  lease its cjdns      |                                          |   (socat)                 |
#  |  never honours :12244 |                                          +---------------------------+
#  +-----------------------+
#
# Every failed connect must exit 6 with the reason on stderr, within the
# client's HTTP and address-wait deadlines, with bounded memory, and leave
# nothing behind: the routing exactly as before, no IpTunnel connection in
# the client's cjdns, the client not connected. With a good gateway last
# in the list, connect fails over to it.
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step
. "$top/tests/lib/node.sh"	# node_start --sim: these faults need the simulator
VISP=${VISP:-$top/visp}
PROXY=$top/tests/sim/faultproxy.py
ADMIN=$top/tests/sim/cjdns_admin.py
PY=$(command -v /usr/bin/python3 || command -v python3)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
for t in ip socat curl nft ping; do
	command -v "$t" >/dev/null || skip "$t is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

nsc=visp-fc-$$ nsg=visp-fg-$$ nsh=visp-fh-$$
tmp=$(mktemp -d /tmp/visp-faults-client.XXXXXX)
pw=faults-client-pw
pids=()

nc() { ip netns exec "$nsc" "$@"; }
ng() { ip netns exec "$nsg" "$@"; }
nh() { ip netns exec "$nsh" "$@"; }

cleanup() {
	local rc=$?
	set +e
	node_stop_all
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "$nsc" "$nsg" "$nsh"; do ip netns del "$ns" 2>/dev/null; done
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do echo "---- $f"; tail -n 15 "$f"; done
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# ---- topology ----

for ns in "$nsc" "$nsg" "$nsh"; do
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip link add eth0 netns "$nsc" type veth peer name eth0 netns "$nsg"
ip -n "$nsc" addr add 198.51.100.2/24 dev eth0
ip -n "$nsg" addr add 198.51.100.1/24 dev eth0
ip link add eth1 netns "$nsc" type veth peer name eth0 netns "$nsh"
ip -n "$nsc" addr add 192.0.2.2/24 dev eth1
ip -n "$nsh" addr add 192.0.2.3/24 dev eth0
ip -n "$nsg" link add up0 type veth peer name up1
ip -n "$nsg" addr add 203.0.113.1/24 dev up0
for l in eth0 eth1; do ip -n "$nsc" link set $l up; done
for l in eth0 up0 up1; do ip -n "$nsg" link set $l up; done
ip -n "$nsh" link set eth0 up

# start_sim NAME NS UNDERLAY [simulator args...]: one node, with tun0.
start_sim() {
	local name=$1 ns=$2 under=$3
	shift 3
	node_start "$name" "$ns" --password "$pw" --underlay "$under" --sim -- "$@"
}
start_sim g "$nsg" 198.51.100.1:4000
start_sim h "$nsh" 192.0.2.3:4000
# The client's simulator binds one underlay address (on eth0): the hostile
# node reaches it across eth1.
ip -n "$nsh" route add 198.51.100.0/24 via 192.0.2.2
start_sim c "$nsc" 198.51.100.2:4000 --peer 198.51.100.1:4000 --peer 192.0.2.3:4000
kg=$(cat "$tmp/g.key") kh=$(cat "$tmp/h.key") kc=$(cat "$tmp/c.key")
ag=$("$VISP" key addr "$kg") ah=$("$VISP" key addr "$kh")

cat >"$tmp/g.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/g/state", "run_dir": "$tmp/g/run",
	"ipv4_pool": "172.23.23.0/24", "uplink": "up0", "routes": ["default"], "lease_time": 3600
}
EOF
ng "$VISP" -q -c "$tmp/g.conf" tunnel up >"$tmp/g-up.log" 2>&1 || fail "visp tunnel up: $(cat "$tmp/g-up.log")"
ip netns exec "$nsg" socat TCP6-LISTEN:12234,fork,reuseaddr \
	EXEC:"$VISP -c $tmp/g.conf lease serve",nofork >/dev/null 2>"$tmp/serve.log" &
pids+=($!)

# The hostile endpoints, one process, a thread per connection.
cat >"$tmp/hostile.py" <<'PYEOF'
import json, socket, socketserver, sys, threading, time
gw_key = sys.argv[1]

def head(rfile):
    """Read a request (head and Content-Length body); return the body."""
    n = 0
    while True:
        line = rfile.readline(65537)
        if not line or line in (b"\r\n", b"\n"):
            break
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    return rfile.read(n) if n else b""

def reply(wfile, body, extra=b""):
    wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s"
                b"Connection: close\r\n\r\n" % (len(body), extra) + body)

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        port = self.server.server_address[1]
        body = head(self.rfile)
        try:
            if port == 12240:	# trickle: a byte every 0.3 s, never done
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.3)
            elif port == 12241:	# accept, read, and never answer
                self.rfile.read()	# until the client gives up
            elif port == 12242:	# 10 MB of JSON-ish body
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n{\"a\":\"")
                chunk = b"x" * 65536
                for _ in range(160):
                    self.wfile.write(chunk)
            elif port == 12243:	# garbage
                reply(self.wfile, b"\x00\xff{\"public_key\": [1, 2}\xc0\xaf")
            elif port == 12244 and body:	# a lease the gateway's cjdns never honours
                key = json.loads(body)["public_key"]
                reply(self.wfile, json.dumps({
                    "public_key": key, "gateway_key": gw_key,
                    "ipv4_address": "172.23.23.77/24", "ipv6_address": None,
                    "routes": ["default"], "gateways": ["172.23.23.1"], "nameservers": [],
                    "expires": "2099-01-01T00:00:00Z"}).encode())
            else:			# DELETE /lease after the failed attempt
                reply(self.wfile, b"{}")
        except (BrokenPipeError, ConnectionResetError):
            pass

class Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

for port in range(12240, 12245):
    threading.Thread(target=Server(("::", port), Handler).serve_forever, daemon=True).start()
open(sys.argv[2], "w").write("up\n")
threading.Event().wait()
PYEOF
ip netns exec "$nsh" "$PY" "$tmp/hostile.py" "$kh" "$tmp/hostile.ready" >"$tmp/hostile.log" 2>&1 &
pids+=($!)
poll 10 test -s "$tmp/hostile.ready" || fail "the hostile endpoints did not start"

cat >"$tmp/c.conf" <<EOF
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"run_dir": "$tmp/c/run", "discover": false
}
EOF
sed 's/"port": 11234/"port": 11235/' "$tmp/c.conf" >"$tmp/c-proxy.conf"
vc() { nc "$VISP" -c "$tmp/c.conf" "$@"; }

poll 20 nc ping -6 -c1 -W1 "$ag" || fail "no mesh path from the client to the gateway"
poll 20 nc ping -6 -c1 -W1 "$ah" || fail "no mesh path from the client to the hostile node"
poll 10 nc curl -s -o /dev/null -g "http://[$ag]:12234/tunnels" || fail "lease serve is not answering"

routing() {
	nc ip -4 route show table all
	nc ip -6 route show table all
	nc ip -o addr show | sed 's/valid_lft.*//'
}
before=$(routing)
# Nothing left behind: the routing of before, no connectTo in the client's cjdns, not connected.
nothing_left() {
	local now conns
	now=$(routing)
	[ "$now" = "$before" ] || { diff <(echo "$before") <(echo "$now"); fail "$1: the routing changed"; }
	conns=$(nc "$PY" "$ADMIN" --admin 127.0.0.1:11234 --password "$pw" IpTunnel_listConnections)
	echo "$conns" | grep -q '"connections": \[\]' || fail "$1: the client's cjdns keeps $conns"
	vc client status -j | grep -q '"connected": false' || fail "$1: the client thinks it is connected"
}
url() { echo "http://[$ah]:$1/lease"; }

step "failover: a gateway that trickles, then a good one; one whose lease cjdns never honours, then a good one"
for port in 12240 12244; do
	rc=0
	t0=$SECONDS
	vc client connect --wait 2 "$(url $port)" "$kg" >/dev/null 2>"$tmp/failover.err" || rc=$?
	echo "   :$port then the gateway: exit $rc after $((SECONDS - t0)) s"
	[ $rc -eq 0 ] || fail "failover from :$port: exit $rc: $(cat "$tmp/failover.err")"
	vc client status -j | grep -q "\"gateway\": \"$kg\"" || fail "not connected to the good gateway"
	vc client check >/dev/null || fail "the tunnel after failover is not healthy"
	# One connectTo, to the good gateway: the hostile one's is gone.
	conns=$(nc "$PY" "$ADMIN" --admin 127.0.0.1:11234 --password "$pw" IpTunnel_listConnections)
	[ "$(echo "$conns" | grep -o '[0-9]\+' | wc -l)" = 1 ] || fail "after failover the client's cjdns holds $conns"
	c=$(echo "$conns" | grep -o '[0-9]\+')
	nc "$PY" "$ADMIN" --admin 127.0.0.1:11234 --password "$pw" IpTunnel_showConnection connection="$c" |
		grep -q "$kg" || fail "the client's connection is not to the good gateway"
	vc client disconnect 2>"$tmp/disc.err" || fail "disconnect: $(cat "$tmp/disc.err")"
	nothing_left "disconnect after failover from :$port"
done

step "each hostile gateway alone: exit 6, the reason, bounded memory, nothing left behind"
for port in 12240 12241 12242 12243 12244; do
	rc=0
	t0=$SECONDS
	nc /usr/bin/time -f %M -o "$tmp/rss" "$VISP" -v -c "$tmp/c.conf" client connect --wait 2 \
		"$(url $port)" >/dev/null 2>"$tmp/err.$port" || rc=$?
	rss=$(tail -n 1 "$tmp/rss")
	echo "   :$port exit $rc after $((SECONDS - t0)) s, peak RSS ${rss} KiB: $(grep -v '^\s' "$tmp/err.$port" | tail -n 1)"
	[ $rc -eq 6 ] || fail ":$port: exit $rc, want 6: $(cat "$tmp/err.$port")"
	case $port in
	12240|12241) want="Timeout|timed out" ;;
	12242) want="too large" ;;
	12243) want="bad lease" ;;
	12244) want="addresses" ;;
	esac
	grep -Eq "$want" "$tmp/err.$port" || fail ":$port: the reason ($want) is not named: $(cat "$tmp/err.$port")"
	# It took the connection: the peering works and is left alone (no reset, no retry).
	! grep -q "reset the peering" "$tmp/err.$port" || fail ":$port: a working peering was reset"
	# A generous bound, far above the 64 KiB visp reads of a reply: 10 MB must not be held.
	[ "$rss" -lt 65536 ] || fail ":$port: peak RSS $rss KiB"
	nothing_left ":$port"
done

step "the client's cjdns loses 30% of its admin replies (seed 2): connect and disconnect"
rm -f "$tmp/proxy.ready"
ip netns exec "$nsc" "$PY" "$PROXY" --listen 127.0.0.1:11235 --target 127.0.0.1:11234 \
	--drop 0.3 --seed 2 --ready-file "$tmp/proxy.ready" --log "$tmp/proxy.log" &
pids+=($!)
poll 10 test -s "$tmp/proxy.ready" || fail "the fault proxy did not start"
for round in 1 2 3; do
	rc=0
	nc "$VISP" -c "$tmp/c-proxy.conf" client connect --wait 4 "$kg" >/dev/null 2>"$tmp/lossy.err" || rc=$?
	echo "   connect: exit $rc $(grep '^visp: ' "$tmp/lossy.err" | tail -n 1)"
	[[ " 0 3 6 " == *" $rc "* ]] || fail "connect with lost replies: exit $rc: $(cat "$tmp/lossy.err")"
	rc=0
	nc "$VISP" -c "$tmp/c-proxy.conf" client disconnect >/dev/null 2>"$tmp/lossy.err" || rc=$?
	echo "   disconnect: exit $rc $(grep '^visp: ' "$tmp/lossy.err" | tail -n 1)"
	[[ " 0 3 " == *" $rc "* ]] || fail "disconnect with lost replies: exit $rc: $(cat "$tmp/lossy.err")"
	# Whatever happened, a disconnect without the losses leaves nothing behind.
	vc client disconnect >/dev/null 2>&1 || fail "a clean disconnect failed"
	nothing_left "round $round with lost replies"
done

step "cjdns falls silent as the addresses arrive: the failed connect leaves no prefix in RouteGen"
# The three tries of the first IpTunnel_showConnection that carries the
# addresses get no answer: the address wait dies with the gateway's answer
# (and its prefix) already in cjdns. The teardown's own look is answered.
sed 's/"port": 11234/"port": 11236/' "$tmp/c.conf" >"$tmp/c-mute.conf"
ip netns exec "$nsc" "$PY" "$PROXY" --listen 127.0.0.1:11236 --target 127.0.0.1:11234 \
	--mute ip4Address:3 --ready-file "$tmp/mute.ready" --log "$tmp/mute.log" &
mute_pid=$!
pids+=("$mute_pid")
poll 10 test -s "$tmp/mute.ready" || fail "the muting proxy did not start"
rc=0
nc "$VISP" -c "$tmp/c-mute.conf" client connect --wait 4 "$kg" >/dev/null 2>"$tmp/mute.err" || rc=$?
echo "   connect: exit $rc $(grep '^visp: ' "$tmp/mute.err" | tail -n 1)"
stop_pid "$mute_pid"	# its counts go to the log as it exits
grep -q "muted=3" "$tmp/mute.log" || fail "the proxy did not mute the address replies: $(tail -n 1 "$tmp/mute.log")"
[ $rc -eq 6 ] || fail "connect with cjdns silent at the addresses: exit $rc, want 6: $(cat "$tmp/mute.err")"
prefixes() { nc "$PY" "$ADMIN" --admin 127.0.0.1:11234 --password "$pw" RouteGen_getPrefixes; }
prefixes | grep -q '"routes": \[\]' || fail "the failed connect left a prefix in cjdns's RouteGen: $(prefixes)"
vc client disconnect >/dev/null 2>"$tmp/disc.err" || fail "disconnect: $(cat "$tmp/disc.err")"
nothing_left "connect with cjdns silent at the addresses"
prefixes | grep -q '"routes": \[\]' || fail "disconnect left a prefix in cjdns's RouteGen: $(prefixes)"

for f in "$tmp/serve.log"; do
	! grep -E 'Sanitizer|runtime error' "$f" || fail "lease serve: sanitizer report above"
done
echo "PASS"
