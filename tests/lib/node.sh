# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
#
# "A cjdns node" for the end-to-end tests: the simulator (tests/sim/cjdns-sim.py)
# by default, a real cjdroute when the environment variable CJDROUTE names its
# binary. Sourced by tests/netns/*.sh after tests/lib/test.sh (pid_gone), not a
# test itself; the caller defines fail() (print, exit non-zero) and $tmp (or
# $NODE_DIR), a directory it removes.
#
#   node_start NAME NS [OPTIONS] [-- SIMULATOR-ONLY OPTIONS]
#	--admin HOST:PORT   admin bind (default 127.0.0.1:11234)
#	--password PW       admin password (default NONE)
#	--tun NAME          tun device (default tun0); --no-tun for none
#	--underlay IP:PORT  UDP bind for peering
#	--peer NAME         peer with the node started (or named) as NAME from the
#	                    start, repeatable: a connectTo entry of cjdroute.conf
#	                    with NAME's key and peering password (so its address
#	                    becomes a route exception), the simulator's --peer
#	--route-exception CIDR  one more RouteGen exception (simulator only: with
#	                    cjdroute it must be a --peer's address, which cjdroute
#	                    makes an exception by itself)
#	--sim               the simulator even with CJDROUTE, for what a real
#	                    cjdroute cannot be made to do (--fake-peers)
#	after "--": for the simulator only (--repeer-delay, --iptunnel-retry...);
#	            a real cjdroute keeps its own timings
#     Returns once the node answers on its admin port and is set up (tun
#     included), or fails the test after NODE_START_TIMEOUT (15) seconds.
#   node_peer NAME PEER  NAME peers with PEER now, over the admin API
#                        (UDPInterface_beginConnection): no route exception
#   node_call NAME FUNCTION [ARG=VALUE...]  an admin call; the reply as JSON
#   node_stop NAME [SIGNAL]  stop it (SIGNAL: TERM, or KILL for a crash): the
#                        simulator by pid, cjdroute by process
#                        group (its "cjdroute core" child too), and wait
#   node_stop_all        every node still running (for the cleanup trap)
#   node_key NAME        its public key     node_pid NAME  its pid (group)
#   node_real [NAME]     true with CJDROUTE (and NAME not started --sim)
#   node_kind [NAME]     "cjdroute" or "the simulator"
#
# Files in $NODE_DIR (default $tmp), kept across restarts:
#	NAME.key      the node's public key (a restart keeps the identity)
#	NAME.log      its output, every run appended   NAME.ready  its pid
#	NAME.node.*   keys (cjdroute), cjdroute.conf, peering password, underlay
#	              address, the core's pipe

node_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NODE_SIM=${NODE_SIM:-$node_lib_dir/tests/sim/cjdns-sim.py}
NODE_ADMIN_CLIENT=$node_lib_dir/tests/sim/cjdns_admin.py
NODE_START_TIMEOUT=${NODE_START_TIMEOUT:-15}
# Helpers run with the system interpreter: the one on PATH may be a slow shim.
node_py=python3
[ -x /usr/bin/python3 ] && node_py=/usr/bin/python3
declare -A node_pids=() node_ns=() node_admin=() node_password=() node_force_sim=()

if [ -n "${CJDROUTE:-}" ]; then
	case $CJDROUTE in /*) ;; *) CJDROUTE=$PWD/$CJDROUTE ;; esac
	if [ ! -f "$CJDROUTE" ] || [ ! -x "$CJDROUTE" ]; then
		echo "CJDROUTE=$CJDROUTE is not an executable file" >&2
		exit 1
	fi
fi

node_real() { [ -n "${CJDROUTE:-}" ] && { [ $# -eq 0 ] || [ -z "${node_force_sim[$1]:-}" ]; }; }
node_kind() { if node_real "$@"; then echo cjdroute; else echo "the simulator"; fi; }
node_dir() { echo "${NODE_DIR:-$tmp}"; }
node_pid() { echo "${node_pids[$1]}"; }

# node_cjstr TEXT: TEXT as a JSON string that cjdroute reads back: its JSON
# parser knows no \" or \\ escapes, only \xNN.
node_cjstr() {
	local LC_ALL=C s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[\ !#-\[\]-~]) out+=$c ;;
		*) out+=$(printf '\\x%02x' "'$c") ;;
		esac
	done
	printf '"%s"' "$out"
}

# node_identity NAME: the node's keys and peering password, made once.
node_identity() {
	local d
	d=$(node_dir)
	if node_real "$1" && [ ! -s "$d/$1.node.keys" ]; then
		# The first of each: a commented example repeats the public key.
		"$CJDROUTE" --genconf |
			sed -n 's/^ *"\(privateKey\|publicKey\)": "\([^"]*\)".*/\1 \2/p' |
			awk '!seen[$1]++' >"$d/$1.node.keys.tmp"
		[ "$(wc -l <"$d/$1.node.keys.tmp")" = 2 ] || fail "$CJDROUTE --genconf gave no keys"
		mv "$d/$1.node.keys.tmp" "$d/$1.node.keys"
		sed -n 's/^publicKey //p' "$d/$1.node.keys" >"$d/$1.key"
	elif ! node_real "$1" && [ ! -s "$d/$1.key" ]; then
		# The simulator makes its key file itself; a node named as a peer
		# before it ever ran gets one here, in the same format.
		"$node_py" -c 'import sys; sys.path.insert(0, sys.argv[1]); import cjdns_codec as c
print(c.key_to_string(c.generate_key()))' "$(dirname "$NODE_SIM")" >"$d/$1.key"
	fi
	# The password peers connect with (the simulator does not check it).
	[ -s "$d/$1.node.peerpw" ] || echo "peer-$1-$$-$RANDOM$RANDOM" >"$d/$1.node.peerpw"
}

node_key() {
	node_identity "$1"
	cat "$(node_dir)/$1.key"
}

# node_peer_addr PEER: PEER's underlay address, or fail.
node_peer_addr() {
	local f
	f=$(node_dir)/$1.node.underlay
	[ -s "$f" ] || fail "cjdns node $1 has no underlay address to peer with"
	cat "$f"
}

# node_write_conf NAME ADMIN PASSWORD TUN UNDERLAY PEER...: its cjdroute.conf.
node_write_conf() {
	local name=$1 admin=$2 pw=$3 tun=$4 under=$5 d p sep=
	shift 5
	d=$(node_dir)
	{
		echo '{'
		echo "  \"privateKey\": \"$(sed -n 's/^privateKey //p' "$d/$name.node.keys")\","
		echo "  \"admin\": { \"bind\": $(node_cjstr "$admin"), \"password\": $(node_cjstr "$pw") },"
		echo "  \"authorizedPasswords\": [ { \"password\": $(node_cjstr "$(cat "$d/$name.node.peerpw")"), \"user\": \"visp-test\" } ],"
		echo '  "interfaces": {'
		if [ -n "$under" ]; then
			echo '    "UDPInterface": [ {'
			echo "      \"bind\": $(node_cjstr "$under"), \"beacon\": 0,"
			echo '      "connectTo": {'
			for p in "$@"; do
				echo "        $sep$(node_cjstr "$(node_peer_addr "$p")"): {" \
					"\"password\": $(node_cjstr "$(cat "$d/$p.node.peerpw")")," \
					"\"publicKey\": $(node_cjstr "$(cat "$d/$p.key")")," \
					"\"peerName\": $(node_cjstr "$p") }"
				sep=', '
			done
			echo '      }'
			echo '    } ]'
		fi
		echo '  },'
		echo '  "router": {'
		if [ -n "$tun" ]; then
			echo "    \"interface\": { \"type\": \"TUNInterface\", \"tunDevice\": $(node_cjstr "$tun") },"
		else
			echo '    "interface": { "type": "none" },'
		fi
		echo '    "ipTunnel": { "allowedConnections": [], "outgoingConnections": [] },'
		echo '    "supernodes": []'
		echo '  },'
		# The core stays root and unconfined (a test harness); without
		# setupComplete it exits (232) a few seconds after the start.
		echo '  "security": [ { "setuser": 0 }, { "chroot": 0 }, { "nofiles": 0 },'
		echo '                { "noforks": 0 }, { "seccomp": 0 }, { "setupComplete": 1 } ],'
		echo '  "logging": { "logTo": "stdout" },'
		echo '  "noBackground": 1,'
		# The default /tmp/cjdroute.sock is one file for every namespace,
		# unlinked at each start: one per node.
		echo "  \"pipe\": $(node_cjstr "$d/$name.node.pipe"),"
		echo '  "version": 2'
		echo '}'
	} >"$d/$name.node.conf"
}

node_start() {
	local name=$1 ns=$2 admin=127.0.0.1:11234 pw=NONE tun=tun0 under='' sim='' d p q _
	local peers=() excs=() simopts=() args=()
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--admin) admin=$2; shift ;;
		--password) pw=$2; shift ;;
		--tun) tun=$2; shift ;;
		--no-tun) tun= ;;
		--underlay) under=$2; shift ;;
		--peer) peers+=("$2"); shift ;;
		--route-exception) excs+=("$2"); shift ;;
		--sim) sim=1 ;;
		--) shift; simopts=("$@"); break ;;
		*) fail "node_start: unknown option $1" ;;
		esac
		shift
	done
	d=$(node_dir)
	[ -z "${node_pids[$name]:-}" ] || fail "node_start: $name is already running"
	node_force_sim[$name]=$sim
	node_identity "$name"
	echo "$under" >"$d/$name.node.underlay"
	for p in "${peers[@]}"; do
		node_identity "$p"
		[ -s "$d/$p.node.underlay" ] || fail "node_start $name: the peer $p has no underlay address"
	done
	node_ns[$name]=$ns node_admin[$name]=$admin node_password[$name]=$pw
	rm -f "$d/$name.ready"
	echo "==== $(date '+%F %T') node_start $name ($(node_kind "$name"))" >>"$d/$name.log"
	if node_real "$name"; then
		for p in "${excs[@]}"; do
			for q in "${peers[@]}"; do
				q=$(node_peer_addr "$q")
				q=${q%:*} q=${q#[} q=${q%]}
				[ "${p%/*}" = "$q" ] && continue 2
			done
			fail "node_start $name: cjdroute takes route exceptions from its connectTo peers, and $p is none of them"
		done
		node_write_conf "$name" "$admin" "$pw" "$tun" "$under" "${peers[@]}"
		"$CJDROUTE" --cleanconf <"$d/$name.node.conf" >/dev/null 2>>"$d/$name.log" ||
			fail "cjdroute does not accept $d/$name.node.conf"
		# cjdroute races with its own core: the client connects to the
		# core's pipe once the file exists, which can be before the core
		# listens ("uv_pipe_connect() failed [connection refused]"), and
		# then exits. A start that dies like that is tried again.
		for _ in 1 2 3; do
			node_start_real "$name" "$ns" "$admin" "$tun" && return 0
			[ $? -eq 2 ] || break
			echo "==== $(date '+%F %T') cjdroute $name died while starting: again" >>"$d/$name.log"
		done
		fail "cjdroute $name did not start (see $d/$name.log)"
	fi
	args=(--admin "$admin" --password "$pw" --key-file "$d/$name.key"
		--ready-file "$d/$name.ready" --log "$d/$name.log")
	if [ -n "$tun" ]; then args+=(--tun "$tun"); else args+=(--no-tun); fi
	[ -z "$under" ] || args+=(--underlay "$under")
	for p in "${peers[@]}"; do args+=(--peer "$(node_peer_addr "$p")"); done
	for p in "${excs[@]}"; do args+=(--route-exception "$p"); done
	# ip netns exec execs the interpreter: $! is the simulator itself.
	ip netns exec "$ns" python3 "$NODE_SIM" "${args[@]}" "${simopts[@]}" >>"$d/$name.log" 2>&1 &
	node_pids[$name]=$!
	node_poll "$NODE_START_TIMEOUT" node_sim_ready "$name" ||
		fail "the simulator $name did not come up (see $d/$name.log)"
}

# node_start_real NAME NS ADMIN TUN: one try; 0 ready, 2 died, 1 timed out.
node_start_real() {
	local name=$1 ns=$2 admin=$3 tun=$4 d pid off rc=0
	d=$(node_dir)
	off=$(stat -c %s "$d/$name.log")
	# setsid and ip netns exec both exec in place (a background job is no
	# process group leader), so $! is cjdroute, the leader of a new group
	# that also holds its "cjdroute core" child. stdbuf: the line that
	# says it is set up must reach the log at once.
	setsid ip netns exec "$ns" stdbuf -oL "$CJDROUTE" --nobg <"$d/$name.node.conf" \
		>>"$d/$name.log" 2>&1 &
	pid=$!
	node_pids[$name]=$pid
	node_wait_admin "$ns" "$admin" "$NODE_START_TIMEOUT" "$pid" || rc=$?
	# The admin port answers before the client has set up the core
	# (peers, UDP, tun, security); it logs a line when it is done.
	[ $rc -ne 0 ] || node_poll "$NODE_START_TIMEOUT" node_started "$name" "$ns" "$tun" "$off" ||
		rc=$?
	if [ $rc -ne 0 ]; then
		node_stop "$name"
		return $rc
	fi
	echo "$pid" >"$d/$name.ready"
}

# node_wait_admin NS HOST:PORT SECONDS PID: until the admin port answers a
# ping (0), PID is gone (2) or time is up (1). One process, not one a try.
node_wait_admin() {
	ip netns exec "$1" "$node_py" - "$2" "$3" "$4" <<-'EOF'
	import os, socket, sys, time
	hp, end, pid = sys.argv[1], time.monotonic() + float(sys.argv[2]), int(sys.argv[3])
	host, port = hp.rsplit(":", 1)
	host = host.strip("[]")
	fam = socket.AF_INET6 if ":" in host else socket.AF_INET
	while time.monotonic() < end:
	    try:
	        os.kill(pid, 0)
	    except OSError:
	        sys.exit(2)
	    s = socket.socket(fam, socket.SOCK_DGRAM)
	    s.settimeout(0.1)
	    try:
	        s.sendto(b"d1:q4:pinge", (host, int(port)))
	        if b"q4:pong" in s.recv(4096):
	            sys.exit(0)
	    except OSError:
	        time.sleep(0.05)
	    finally:
	        s.close()
	sys.exit(1)
	EOF
}

# node_poll SECONDS CMD...: until CMD succeeds (0), gives up (its 2) or
# time is up (1).
node_poll() {
	local end=$((SECONDS + $1)) rc
	shift
	while :; do
		rc=0
		"$@" >/dev/null 2>&1 || rc=$?
		[ $rc -eq 1 ] || return $rc
		[ $SECONDS -lt $end ] || return 1
		sleep 0.1
	done
}

node_sim_ready() {
	kill -0 "${node_pids[$1]}" 2>/dev/null || return 2
	[ -s "$(node_dir)/$1.ready" ]
}

# node_started NAME NS TUN LOG-OFFSET: cjdroute says it is set up (in its log
# past LOG-OFFSET: the log holds the earlier runs too) and its tun exists.
node_started() {
	kill -0 "${node_pids[$1]}" 2>/dev/null || return 2
	tail -c "+$(($4 + 1))" "$(node_dir)/$1.log" | grep -q "Cjdns started in the background" ||
		return 1
	[ -z "$3" ] || ip -n "$2" link show dev "$3" >/dev/null 2>&1
}

node_call() {
	local name=$1
	shift
	[ -n "${node_ns[$name]}" ] || fail "node_call: no cjdns node $name"
	ip netns exec "${node_ns[$name]}" "$node_py" "$NODE_ADMIN_CLIENT" \
		--admin "${node_admin[$name]}" --password "${node_password[$name]}" "$@"
}

node_peer() {
	local d
	d=$(node_dir)
	node_identity "$2"
	node_call "$1" UDPInterface_beginConnection "publicKey=$(cat "$d/$2.key")" \
		"address=$(node_peer_addr "$2")" "password=$(cat "$d/$2.node.peerpw")" \
		"peerName=$2" >/dev/null || fail "$1 could not begin a connection to $2"
}

node_group_gone() { ! kill -0 -- "-$1" 2>/dev/null; }


node_stop() {
	local name=$1 sig=${2:-TERM} pid
	pid=${node_pids[$name]:-}
	[ -n "$pid" ] || return 0
	# Any step may fail (already gone): set -e must not end the test here.
	if node_real "$name"; then
		kill -"$sig" -- "-$pid" 2>/dev/null || true
		if ! node_poll 10 node_group_gone "$pid"; then
			kill -KILL -- "-$pid" 2>/dev/null || true
			node_poll 5 node_group_gone "$pid" || true
		fi
		wait "$pid" 2>/dev/null || true
		rm -f "$(node_dir)/$name.ready"
	else
		kill -"$sig" "$pid" 2>/dev/null || true
		if ! node_poll 10 pid_gone "$pid"; then
			echo "node_stop: $name ($pid) ignored SIG$sig for 10 s: killed" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	fi
	unset "node_pids[$name]"
	echo "==== $(date '+%F %T') node_stop $name" >>"$(node_dir)/$name.log"
}

node_stop_all() {
	local name
	for name in "${!node_pids[@]}"; do
		node_stop "$name"
	done
}
