#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The gateway side when cjdns misbehaves: lost, late, garbled and refused
# admin replies, cjdroute restarting under a sync or a burst of grants, lease
# sync killed at random points and syncs racing each other and grants.
#
#   $ns (one namespace)
#  +--------------------------------------------------------------------+
#  | visp (visp.conf) --UDP--> faultproxy.py 127.0.0.1:11235 --+        |
#  |                            (drops, delays, garbles         |        |
#  |                             replies; "Auth failed.")       v        |
#  | visp (direct.conf) -----------------------------> cjdns-sim        |
#  |                                                   127.0.0.1:11234  |
#  | visp lease serve <- systemd-socket-activate [::]:12234 (visp.conf) |
#  | curl --interface fcXX.. (lo holds 30 client identities)            |
#  +--------------------------------------------------------------------+
#
# Every faulty run must end with exit 0 and a correct result, or with a
# "visp: ..." message and the documented exit status (3: cjdns unreachable
# or refusing visp; 1: the command failed), and must leave the store
# consistent: afterwards one clean `lease sync` makes cjdns hold exactly one
# entry per current lease, with the lease's addresses (leasecheck.py, which
# also runs SQLite's integrity_check on the store).
set -e

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for tool in ip curl systemd-socket-activate; do
	command -v "$tool" >/dev/null || { echo "skip: $tool not installed"; exit 77; }
done

top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/test.sh"	# poll, step, run
. "$top/tests/lib/node.sh"	# node_start --sim: these faults need the simulator
VISP=${VISP:-$top/visp}
PROXY=$top/tests/sim/faultproxy.py
PY=$(command -v /usr/bin/python3 || command -v python3)
PW=faults-test-pw
BIG=${FAULTS_LEASES:-1000}	# leases for the sync tests: thousands keep a sync in flight
ns=visp-faults-$$
tmp=$(mktemp -d /tmp/visp-faults.XXXXXX)
# The store on tmpfs when there is one: filling it is then not bound by the disk.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	state=$(mktemp -d /dev/shm/visp-faults.XXXXXX)
else
	state=$tmp/state
fi
proxy_pid= listen_pid=

n() { ip netns exec "$ns" "$@"; }
vp() { n "$VISP" -c "$tmp/visp.conf" "$@"; }		# through the proxy
vd() { n "$VISP" -c "$tmp/direct.conf" "$@"; }		# straight to cjdns

cleanup() {
	local rc=$?
	set +e
	node_stop_all
	for pid in $listen_pid $proxy_pid; do
		stop_pid "$pid"
	done
	ip netns del "$ns" 2>/dev/null
	if [ $rc -ne 0 ]; then
		for f in "$tmp"/*.log; do
			echo "---- $f"
			grep -v -e "^Child [0-9]* died" -e " -> 200$" "$f" | tail -n 15
		done
	fi
	rm -rf "$tmp" "$state"
	exit $rc
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

start_sim() { node_start gw "$ns" --password "$PW" --no-tun --sim; }
# stop_sim [SIGNAL]: TERM, or KILL for a crash; waits until it is gone.
stop_sim() { node_stop gw "$@"; }
start_proxy() {
	rm -f "$tmp/proxy.ready"
	ip netns exec "$ns" "$PY" "$PROXY" --listen 127.0.0.1:11235 --target 127.0.0.1:11234 \
		--ready-file "$tmp/proxy.ready" --log "$tmp/proxy.log" "$@" &
	proxy_pid=$!
	poll 15 test -s "$tmp/proxy.ready" || fail "the fault proxy did not start"
}
stop_proxy() {
	stop_pid "$proxy_pid"
	proxy_pid=
}

# holds_store [N]: cjdns holds exactly the store (of N current leases), which is intact.
holds_store() {
	n "$PY" "$top/tests/netns/leasecheck.py" --visp "$VISP" --conf "$tmp/direct.conf" \
		--admin 127.0.0.1:11234 --password "$PW" --db "$state/leases.db" ${1:+--expect "$1"} \
		>"$tmp/check.out"
}
# consistent [N]: one clean sync, then holds_store.
consistent() {
	vd lease sync >"$tmp/sync.out" 2>"$tmp/sync.err" ||
		fail "the clean sync after the faults failed: $(cat "$tmp/sync.err")"
	holds_store "$@" || fail "$(cat "$tmp/check.out")"
	echo "   $(cat "$tmp/sync.out"); $(cat "$tmp/check.out")"
}
# A point in a sync of the whole store after a restart, in ms (see the calibration below).
random_point() { echo $((RANDOM % (sync_ms > 0 ? sync_ms : 1))); }
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
current_leases() { vd lease list -j | grep -c '"public_key"' || true; }

ip netns add "$ns"
n ip link set lo up

for f in visp direct; do
	port=11235
	[ $f = direct ] && port=11234
	cat >"$tmp/$f.conf" <<-EOF
	// faults-cjdns.sh
	{
	  "cjdns": { "addr": "127.0.0.1", "port": $port, "password": "$PW" },
	  "state_dir": "$state",
	  "run_dir": "$tmp/run",
	  "ipv4_pool": "172.23.0.0/16",
	  "ipv6_pool": "fd23:2323:2323::/64",
	  "routes": ["default"],
	  "lease_time": 3600
	}
	EOF
done

start_sim
start_proxy
# Keys: the first 30 can send requests from their fc addresses on lo.
"$PY" -c "
import sys; sys.path.insert(0, '$top/tests/sim')
import cjdns_codec as c
for _ in range($BIG + 200):
    k = c.key_to_string(c.generate_key())
    print(k, c.address_of_key(k))
" >"$tmp/keys"
cut -d' ' -f1 "$tmp/keys" >"$tmp/keys.only"
head -n 30 "$tmp/keys" | while read -r _ addr; do
	echo "address add $addr/128 dev lo nodad"
done | n ip -6 -batch -
key_n() { sed -n "${1}p" "$tmp/keys.only"; }
addr_n() { sed -n "${1}p" "$tmp/keys" | cut -d' ' -f2; }
ip netns exec "$ns" systemd-socket-activate --accept --inetd -l '[::]:12234' \
	"$VISP" -c "$tmp/visp.conf" lease serve 2>"$tmp/serve.log" &
listen_pid=$!
poll 10 n curl -sf -o /dev/null -g 'http://[::1]:12234/nameservers' ||
	fail "the lease endpoint did not come up"

# post N: POST /lease for key N from its address; prints the HTTP status.
post() {
	n curl -s -g -o "$tmp/post.$1" -w '%{http_code}' --max-time 30 --interface "$(addr_n "$1")" \
		-d "{\"public_key\": \"$(key_n "$1")\"}" 'http://[::1]:12234/lease' || true
}
# grants FIRST LAST ALLOWED: lease grant through the proxy for keys FIRST..LAST.
grants() {
	for i in $(seq "$1" "$2"); do
		run "lease grant $i ($fault)" "$3" vp lease grant "$(key_n "$i")"
	done
}

step "40 leases, granted with a healthy cjdns (keys 31-70)"
sed -n 31,70p "$tmp/keys.only" | n xargs -n 1 "$VISP" -q -c "$tmp/direct.conf" lease grant >/dev/null
consistent 40

step "30% of the replies lost (seed 11): grants, a sync after a restart, POSTs"
stop_proxy; start_proxy --drop 0.3 --seed 11
fault="30% lost"
grants 71 73 "0 3"
stop_sim; start_sim
run "lease sync ($fault)" "0 3" vp lease sync
[ $last_rc -eq 0 ] || grep -q "no answer from cjdns admin" "$tmp/run.err" ||
	fail "a sync that lost replies should say so: $(cat "$tmp/run.err")"
for i in 1 2; do
	code=$(post $i)
	case $code in
	200) ;;
	503) grep -q '"error"' "$tmp/post.$i" || fail "503 without a JSON error" ;;
	*) fail "POST /lease with lost replies: $code $(cat "$tmp/post.$i")" ;;
	esac
done
stop_proxy; start_proxy
consistent

step "every reply 1.5 s late (past the 1 s timeout, within 3 tries): slow but right"
stop_proxy; start_proxy --delay-ms 1500
fault="1.5 s late"
grants 81 81 "0"
stop_sim; start_sim
run "lease sync ($fault)" "0" vp lease sync
grep -q " added" "$tmp/run.out" || fail "the slow sync printed no report"
stop_proxy; start_proxy
consistent

step "every reply 5 s late (past every try): exit 3 within the admin timeouts, nothing stored"
stop_proxy; start_proxy --delay-ms 5000
fault="5 s late"
vd lease list -a -j >"$tmp/store.before"
run "lease grant ($fault)" "3" vp lease grant "$(key_n 83)"
grep -q "no answer from cjdns admin at 127.0.0.1:11235 after 3 tries" "$tmp/run.err" ||
	fail "unclear message: $(cat "$tmp/run.err")"
run "lease sync ($fault)" "3" vp lease sync
vd lease list -a -j >"$tmp/store.after"
cmp -s "$tmp/store.before" "$tmp/store.after" || fail "a grant with cjdns silent changed the store"
stop_proxy; start_proxy
consistent

step "garbage, truncated and doubled replies (seed 5)"
stop_proxy; start_proxy --garbage 0.2 --truncate 0.2 --duplicate 0.3 --seed 5
fault="garbled"
grants 84 85 "0 3"
stop_sim; start_sim
run "lease sync ($fault)" "0 3" vp lease sync
stop_proxy; start_proxy
consistent

step "\"Auth failed.\" to everything: exit 3, nothing granted, a revoke says what is left"
stop_proxy; start_proxy --auth-failed 1
vd lease list -a -j >"$tmp/store.before"
run "lease grant (Auth failed.)" "3" vp lease grant "$(key_n 91)"
grep -q "Auth failed." "$tmp/run.err" || fail "the refusal is not named: $(cat "$tmp/run.err")"
run "lease sync (Auth failed.)" "3" vp lease sync
vd lease list -a -j >"$tmp/store.after"
cmp -s "$tmp/store.before" "$tmp/store.after" || fail "a refused grant changed the store"
code=$(post 4)
[ "$code" = 503 ] && grep -q '"error"' "$tmp/post.4" || fail "POST with Auth failed.: $code $(cat "$tmp/post.4")"
! grep -q "$tmp\|$state" "$tmp/post.4" || fail "the 503 names a server path: $(cat "$tmp/post.4")"
run "lease revoke (Auth failed.)" "3" vp lease revoke "$(key_n 31)"
grep -q "revoked in the lease store" "$tmp/run.err" || fail "revoke does not say what happened: $(cat "$tmp/run.err")"
! vd lease list -j | grep -q "$(key_n 31)" || fail "the revoked lease is still current"

step "\"Auth failed.\" to half the requests (seed 3): a fresh cookie and a retry, or exit 3"
stop_proxy; start_proxy --auth-failed 0.5 --seed 3
fault="Auth failed. half"
grants 92 94 "0 3"
stop_proxy; start_proxy
consistent
small=$(current_leases)

step "filling the store to $BIG more leases"
sed -n "101,$((100 + BIG))p" "$tmp/keys.only" |
	n xargs -n 1 -P 2 "$VISP" -q -c "$tmp/direct.conf" lease grant >/dev/null
total=$((small + BIG))
consistent $total

# How long a whole sync into an empty cjdroute takes here, with this binary:
# the kills below land at random points within it. A calibration, not a check.
stop_sim; start_sim
t0=$(date +%s%N)
vd lease sync >/dev/null
sync_ms=$((($(date +%s%N) - t0) / 1000000))
echo "   (a sync of $total leases into an empty cjdroute takes $sync_ms ms here)"

step "cjdroute killed and restarted under a sync of $total leases"
for i in 1 2 3; do
	stop_sim; start_sim
	# The third time through the proxy, which hides the restart from visp.
	conf=direct
	[ $i -eq 3 ] && conf=visp
	ip netns exec "$ns" "$VISP" -c "$tmp/$conf.conf" lease sync >"$tmp/bg.out" 2>"$tmp/bg.err" &
	bg=$!
	ms=$(random_point)
	sleep_ms "$ms"
	stop_sim KILL; start_sim
	rc=0; wait $bg || rc=$?
	echo "   restart after ${ms} ms: sync exit $rc $(cat "$tmp/bg.out" "$tmp/bg.err" | head -n 1)"
	[[ " 0 1 3 " == *" $rc "* ]] || fail "sync under a restart: exit $rc: $(cat "$tmp/bg.err")"
	[ $rc -eq 0 ] || grep -q "^visp: " "$tmp/bg.err" || fail "exit $rc without a message"
	# A sync that noticed the restart and synced again is right as it stands.
	if grep -q "synced again" "$tmp/bg.out"; then
		holds_store $total || fail "synced again, yet: $(cat "$tmp/check.out")"
	fi
	consistent $total
done

step "a burst of 12 POSTs while cjdroute is killed and restarted"
posters=()
for i in $(seq 5 16); do
	post "$i" >"$tmp/code.$i" &
	posters+=($!)
done
sleep 0.1
stop_sim KILL; start_sim
wait "${posters[@]}"	# bounded: curl --max-time
granted=0
for i in $(seq 5 16); do
	code=$(cat "$tmp/code.$i")
	case $code in
	200) granted=$((granted + 1))
	     ip4=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["ipv4_address"])' "$tmp/post.$i")
	     vd lease show -j "$(key_n "$i")" | grep -q "\"$ip4\"" || fail "a 200 lease for key $i is not in the store" ;;
	503) grep -q '"error"' "$tmp/post.$i" || fail "503 without a JSON error" ;;
	*) fail "POST $i under a restart: $code $(cat "$tmp/post.$i" 2>/dev/null)" ;;
	esac
done
echo "   $granted of 12 got 200, the rest 503"
consistent

step "lease sync killed (SIGKILL) at random points, each after a cjdroute restart"
total=$(current_leases)
for i in $(seq 1 6); do
	stop_sim; start_sim
	ip netns exec "$ns" "$VISP" -q -c "$tmp/direct.conf" lease sync >/dev/null 2>&1 &
	bg=$!
	ms=$(random_point)
	sleep_ms "$ms"
	kill -KILL $bg 2>/dev/null || true
	wait $bg 2>/dev/null || true
	printf '   killed after %d ms\n' $ms
done
consistent $total

step "two syncs racing each other and five grants, after a restart: nothing lost meanwhile"
for round in 1 2; do
	stop_sim; start_sim
	pids=()
	for s in 1 2; do
		ip netns exec "$ns" "$VISP" -q -c "$tmp/direct.conf" lease sync >/dev/null 2>"$tmp/race.$s" &
		pids+=($!)
	done
	for i in $(seq $((110 + BIG + round * 5)) $((114 + BIG + round * 5))); do
		ip netns exec "$ns" "$VISP" -q -c "$tmp/direct.conf" lease grant "$(key_n "$i")" \
			>/dev/null 2>"$tmp/race.g$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || fail "a racing sync or grant failed: $(cat "$tmp"/race.* 2>/dev/null | head -n 5)"
	done
	total=$((total + 5))
	# Before any repair: no lease may have lost its entry to the other sync.
	holds_store $total || fail "after racing syncs and grants: $(cat "$tmp/check.out")"
	consistent $total
done

! grep -E 'Sanitizer|runtime error' "$tmp/serve.log" || fail "lease serve: sanitizer report above"
echo "PASS"
