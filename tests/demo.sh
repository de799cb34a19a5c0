#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# visp's main job, end to end, in network namespaces: two gateways serve
# leases, a client connects through one of them to a web server on the
# "internet", fails over to the other when its gateway dies, and
# disconnects. The cjdns simulator (tests/sim/) stands in for cjdroute.
# Run as root from a clone: it installs what is missing (tests/deps.sh),
# builds visp, and removes everything it started when it ends.
#
#   client (c)                  gateway 1 (g1)                    internet (i)
#  +--------------------+      +---------------------------+     +------------------+
#  | cjdns-sim  tun0    |      | cjdns-sim tun0 203.0.113.1|     |                  |
#  | visp client        | br0  | eth0 198.51.100.11        |     | br0 192.0.2.100  |
#  | br0 198.51.100.2 --|--+---| eth1 192.0.2.1 -----------|--+--| web server :80   |
#  | (no default route) |  |   +---------------------------+  |  +------------------+
#  +--------------------+  |   gateway 2 (g2)                 |
#                          |   +---------------------------+  |
#                          +---| eth0 198.51.100.12        |  |
#                              | eth1 192.0.2.2 -----------|--+
#                              | cjdns-sim tun0 203.0.113.65
#                              +---------------------------+
#
# cjdns peers over 198.51.100.0/24 (UDP 4000). The client reaches 192.0.2.0/24
# only through a gateway's tunnel: pools 203.0.113.0/26 and 203.0.113.64/26,
# masqueraded to eth1. Documentation addresses only; nothing leaves the
# namespaces. KEEP=1 keeps the logs.
set -e

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/tests/lib/test.sh"	# poll
cd "$top"

say() { printf '== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces): sudo tests/demo.sh"

say "build: install missing packages (tests/deps.sh), make"
sh tests/deps.sh
make -s -j"$(nproc)" >/dev/null || die "make failed (run make to see why)"
[ -c /dev/net/tun ] || die "no /dev/net/tun: the simulator needs tun devices"

visp=$top/build/visp	# what make just built (./visp may be a SAN=1 copy)
sim=$top/tests/sim/cjdns-sim.py
pw=demo-$$
tmp=$(mktemp -d /tmp/visp-demo.XXXXXX)
nsc=visp-demo-c-$$ nsg1=visp-demo-g1-$$ nsg2=visp-demo-g2-$$ nsi=visp-demo-i-$$
pids=()
namespaces=()

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	[ $rc -ne 0 ] && for f in "$tmp"/*.log; do
		[ -s "$f" ] && { echo "---- $f"; tail -n 15 "$f"; }
	done
	say "teardown: stop what the demo started (by PID), delete the namespaces"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "$KEEP" ]; then note "logs kept in $tmp"; else rm -rf "$tmp"; fi
	[ $rc -eq 0 ] && say "done" || echo "demo: FAILED" >&2
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Background processes are started with ip netns exec itself (not through
# a function, which would fork a subshell), so that $! is their own PID.
on() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

say "network: namespaces for a client, two gateways and an internet host"
for ns in "$nsc" "$nsg1" "$nsg2" "$nsi"; do
	ip netns add "$ns"
	namespaces+=("$ns")
	ip -n "$ns" link set lo up
	on "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n "$nsc" link add br0 type bridge
ip -n "$nsi" link add br0 type bridge
for i in 1 2; do
	g=visp-demo-g$i-$$
	ip link add g$i netns "$nsc" type veth peer name eth0 netns "$g"
	ip link add g$i netns "$nsi" type veth peer name eth1 netns "$g"
	ip -n "$nsc" link set g$i master br0 up
	ip -n "$nsi" link set g$i master br0 up
	ip -n "$g" addr add 198.51.100.1$i/24 dev eth0
	ip -n "$g" addr add 192.0.2.$i/24 dev eth1
	ip -n "$g" link set eth0 up
	ip -n "$g" link set eth1 up
	ip -n "$g" route add default via 192.0.2.100 dev eth1
done
ip -n "$nsc" addr add 198.51.100.2/24 dev br0
ip -n "$nsc" link set br0 up
ip -n "$nsi" addr add 192.0.2.100/24 dev br0
ip -n "$nsi" link set br0 up

# The web server says whom it sees: the gateway's uplink address, after NAT.
cat >"$tmp/www.py" <<'EOF'
import http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from the internet, you are %s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
socketserver.TCPServer.allow_reuse_address = True
http.server.HTTPServer(("192.0.2.100", 80), H).serve_forever()
EOF
ip netns exec "$nsi" python3 "$tmp/www.py" >"$tmp/www.log" 2>&1 &
pids+=($!)
poll 10 on "$nsi" curl -sf http://192.0.2.100/ || die "the web server did not start"
note "internet host 192.0.2.100 serves http://192.0.2.100/"

say "cjdns: the simulator on each node (the client peers with both gateways)"
# start_sim NAME NS UNDERLAY [args]: one node; its PID in sim_NAME.
start_sim() {
	local name=$1 ns=$2 under=$3; shift 3
	rm -f "$tmp/$name.ready"
	ip netns exec "$ns" python3 "$sim" --admin 127.0.0.1:11234 --password "$pw" --key-file "$tmp/$name.key" \
		--tun tun0 --underlay "$under" --ready-file "$tmp/$name.ready" \
		--log "$tmp/$name-cjdns.log" "$@" >>"$tmp/$name-cjdns.log" 2>&1 &
	pids+=($!)
	eval "sim_$name=$!"
	poll 15 test -s "$tmp/$name.ready" || die "the simulator of $name did not start"
}
start_sim g1 "$nsg1" 198.51.100.11:4000
start_sim g2 "$nsg2" 198.51.100.12:4000
start_sim c "$nsc" 198.51.100.2:4000 --peer 198.51.100.11:4000 --peer 198.51.100.12:4000
k1=$(cat "$tmp/g1.key") k2=$(cat "$tmp/g2.key")
poll 20 on "$nsc" ping -6 -c1 -W1 "$("$visp" key addr "$k1")" || die "no mesh path to gateway 1"
poll 20 on "$nsc" ping -6 -c1 -W1 "$("$visp" key addr "$k2")" || die "no mesh path to gateway 2"
note "gateway 1 $k1"
note "gateway 2 $k2"
if on "$nsc" curl -sf --max-time 2 http://192.0.2.100/ >/dev/null 2>&1; then
	die "the client reaches the internet without a tunnel: the topology is wrong"
fi
note "the client cannot reach the internet yet"

for i in 1 2; do
	g=visp-demo-g$i-$$
	cat >"$tmp/g$i.conf" <<-EOF
	// gateway $i of the demo
	{
		"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
		"state_dir": "$tmp/g$i/state", "run_dir": "$tmp/g$i/run",
		"ipv4_pool": "203.0.113.$(( (i - 1) * 64 ))/26",
		"uplink": "eth1",
		"routes": ["default"],
		"lease_time": 3600
	}
	EOF
	say "gateway $i: visp tunnel up"
	on "$g" "$visp" -c "$tmp/g$i.conf" tunnel up 2>"$tmp/g$i-up.log" || die "tunnel up on gateway $i"
	note "$(grep -c . "$tmp/g$i-up.log") changes: tun address, pool route, forwarding, nftables table visp"
	on "$g" "$visp" -c "$tmp/g$i.conf" tunnel status | sed -n 's/^  /   /p' | head -n 3
	say "gateway $i: lease endpoint on port 12234 (systemd-socket-activate --accept --inetd)"
	ip netns exec "$g" systemd-socket-activate --accept --inetd -l '[::]:12234' \
		"$visp" -c "$tmp/g$i.conf" lease serve >"$tmp/g$i-serve.log" 2>&1 &
	pids+=($!)
	poll 10 on "$g" curl -sf -g 'http://[::1]:12234/nameservers' || die "lease endpoint $i"
done

cat >"$tmp/c.conf" <<EOF
// the client: gateway 1 preferred, then gateway 2
{
	"cjdns": { "addr": "127.0.0.1", "port": 11234, "password": "$pw" },
	"state_dir": "$tmp/c/state", "run_dir": "$tmp/c/run",
	"gateways": ["$k1", "$k2"],
	"discover": false
}
EOF
vc() { on "$nsc" "$visp" -c "$tmp/c.conf" "$@"; }
gw_name() { [ "$1" = "$k1" ] && echo "gateway 1" || echo "gateway 2"; }
current() { vc client status -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["gateway"] or "")'; }
browse() {
	local out
	out=$(on "$nsc" curl -sf --max-time 5 http://192.0.2.100/) || die "curl through the tunnel failed"
	note "$out"
}

routing() { on "$nsc" ip route show table all; on "$nsc" ip -6 route show table all; }
before=$(routing)

say "client: visp client connect"
vc client connect >"$tmp/connect1.out" 2>"$tmp/connect1.log" || die "client connect"
note "connected through $(gw_name "$(current)"):" \
	"$(grep -E '^ipv4:' "$tmp/connect1.out" | tr -s ' ')"
note "route: $(on "$nsc" ip route get 192.0.2.100 | head -n 1 | sed 's/ uid.*//' | tr -s ' ')"
say "client: curl http://192.0.2.100/ through the tunnel"
browse

say "failover: stop gateway 1's cjdns (PID $sim_g1)"
kill "$sim_g1"
wait "$sim_g1" 2>/dev/null || true
rc=0; vc client check >/dev/null 2>&1 || rc=$?
[ $rc -eq 5 ] || die "client check with the gateway dead: exit $rc, want 5"
note "visp client check: exit 5, the tunnel is not healthy"
say "client: visp client connect (moves to the next gateway)"
t0=$SECONDS
vc client connect >"$tmp/connect2.out" 2>"$tmp/connect2.log" || die "client connect after the failure"
[ "$(current)" = "$k2" ] || die "the client did not move to gateway 2"
note "connected through $(gw_name "$(current)") in $((SECONDS - t0)) s:" \
	"$(grep -E '^ipv4:' "$tmp/connect2.out" | tr -s ' ')"
say "client: curl http://192.0.2.100/ again"
browse

say "client: visp client disconnect"
vc client disconnect 2>"$tmp/disconnect.log" || die "client disconnect"
if on "$nsc" curl -sf --max-time 2 http://192.0.2.100/ >/dev/null 2>&1; then
	die "the internet is still reachable after disconnect"
fi
[ "$(routing)" = "$before" ] || die "disconnect did not restore the routing of before"
note "the routing is as before the connect; the internet is unreachable again"

say "gateways: visp tunnel down"
for i in 1 2; do
	on "visp-demo-g$i-$$" "$visp" -c "$tmp/g$i.conf" tunnel down 2>"$tmp/g$i-down.log" ||
		die "tunnel down on gateway $i"
	note "gateway $i: $(grep -c . "$tmp/g$i-down.log") changes undone$([ $i = 1 ] &&
		echo " (its tun device went away with its cjdns)")"
done
