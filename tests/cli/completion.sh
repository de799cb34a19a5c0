#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# completions/visp.bash, driven the way bash drives it: set COMP_WORDS and
# COMP_CWORD, call _visp, read COMPREPLY. Nouns, verbs, options, option
# arguments, and the live values: lease keys from a real lease store (filled
# by 'visp lease grant' against the cjdns simulator, admin only, no root)
# and gateway keys from the config. tests/cli/consistency.sh checks the
# complete lists against the binary; this checks the mechanics.
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
visp=${VISP:-$top/${B:-build}/visp}
sim=$top/tests/sim/cjdns-sim.py

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$visp" ] || skip "no visp binary at $visp (run make)"
command -v python3 >/dev/null || skip "python3 is not installed"

tmp=$(mktemp -d /tmp/visp-completion.XXXXXX)
sim_pid=
cleanup() {
	set +e
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# shellcheck source=../../completions/visp.bash
source "$top/completions/visp.bash"
complete -p visp | grep -q -- '-F _visp' || fail "the file does not register _visp for visp"

# comp WORD...: complete the last word; the sorted candidates, one a line.
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_visp
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}
# expect "WANT (space separated)" WORD...
expect() {
	local want=$1 got
	shift
	got=$(comp "$@" | paste -sd' ')
	want=$(printf '%s\n' $want | sort | paste -sd' ')
	[ "$got" = "$want" ] || fail "completing [${*:2}]: got [$got], want [$want]"
}
# has WORD-EXPECTED WORD...: the candidates include it.
has() {
	local want=$1
	shift
	comp "$@" | grep -qxF -- "$want" || fail "completing [${*:2}]: no '$want' in [$(comp "$@" | paste -sd' ')]"
}

v=$visp

# ---- nouns, verbs, options ----

expect "tunnel" "$v" tu
expect "lease" "$v" lea
for n in tunnel lease client routes key cjdns sudoers; do
	"$v" --help | grep -q "^  $n " || continue	# only what this build has
	has "$n" "$v" ""
done
has "grant" "$v" lease ""
expect "grant" "$v" lease gr
expect "revoke" "$v" -c /etc/visp/visp.conf lease re
expect "revoke" "$v" --config = /etc/visp/visp.conf lease re
expect "revoke" "$v" -q -j lease re
expect "--help" "$v" lease -
has "--config" "$v" -
has "--dry-run" "$v" --d
has "--ipv4" "$v" lease grant -
has "--name" "$v" lease grant --
has "--json" "$v" lease grant KEY --
expect "--all" "$v" lease list --a
expect "--user" "$v" sudoers --use
expect "--unpin" "$v" routes pin-peers --un
expect "" "$v" nosuchnoun ""
expect "" "$v" lease nosuchverb -
ok "nouns, verbs (after global options), options per verb"

# ---- option arguments ----

touch "$tmp/some.conf"
expect "$tmp/some.conf" "$v" -c "$tmp/so"
expect "$tmp/some.conf" "$v" --config "$tmp/so"
expect "$tmp/some.conf" "$v" --config = "$tmp/so"
expect "$tmp/some.conf" "$v" sudoers --path "$tmp/so"
has root "$v" sudoers --user ro
has root "$v" sudoers -u ro
has root "$v" sudoers --group ro
expect "" "$v" lease grant --name ""
expect "" "$v" client connect --wait ""
ok "files, users and groups for the options that take them; nothing for free text"

# ---- live values: lease keys from the store, gateway keys from the config ----

[ -f "$sim" ] || skip "no simulator at $sim: live values not tested"
pw=completion-$$
started=
for _ in 1 2 3 4 5; do
	port=$((20000 + (RANDOM % 20000)))
	python3 "$sim" --admin 127.0.0.1:$port --password "$pw" --no-tun \
		--key-file "$tmp/gw.key" --ready-file "$tmp/sim.ready" --log "$tmp/sim.log" \
		>/dev/null 2>&1 &
	sim_pid=$!
	for _ in $(seq 50); do
		[ -s "$tmp/sim.ready" ] && { started=1; break; }
		kill -0 "$sim_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$started" ] && break
	kill "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null || true
	sim_pid=
done
[ -n "$started" ] || fail "the simulator did not start: $(tail -n 5 "$tmp/sim.log")"

keys=(5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k
      y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k
      jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k)
gw=0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k
cat >"$tmp/visp.conf" <<EOF
// completion.sh
{
	"cjdns": { "addr": "127.0.0.1", "port": $port, "password": "$pw" },
	"state_dir": "$tmp/state", "run_dir": "$tmp/run",
	"ipv4_pool": "172.23.23.0/24",
	"gateways": ["$gw", "${keys[2]}"]
}
EOF
for k in "${keys[@]}"; do
	"$v" -q -c "$tmp/visp.conf" lease grant "$k" >/dev/null || fail "lease grant $k"
done
"$v" -q -c "$tmp/visp.conf" lease revoke "${keys[2]}" || fail "lease revoke"

expect "${keys[0]} ${keys[1]}" "$v" -c "$tmp/visp.conf" lease show ""
expect "${keys[0]} ${keys[1]}" "$v" --config = "$tmp/visp.conf" lease revoke ""
expect "${keys[1]}" "$v" -c "$tmp/visp.conf" lease show y6
expect "" "$v" -c "$tmp/visp.conf" lease show "${keys[0]}" ""
# grant renews: it offers every key the store knows, revoked ones too
expect "${keys[*]}" "$v" -c "$tmp/visp.conf" lease grant ""
expect "${keys[*]}" "$v" -c "$tmp/visp.conf" lease grant --name x ""
ok "lease keys from 'visp lease list' of the store the command line names"

expect "$gw ${keys[2]}" "$v" -c "$tmp/visp.conf" client connect ""
expect "$gw ${keys[2]}" "$v" -c "$tmp/visp.conf" client connect "$gw" ""
expect "$gw" "$v" -c "$tmp/visp.conf" client connect --wait 5 0j
ok "gateway keys from the config's \"gateways\""

# Nothing reachable: no candidates, no noise, no hang.
echo "{ \"state_dir\": \"$tmp/empty\", \"cjdns\": { \"port\": 1 } }" >"$tmp/empty.conf"
expect "" "$v" -c "$tmp/empty.conf" lease show ""
expect "" "$v" -c "$tmp/nonexistent.conf" lease show ""
expect "" "$v" -c "$tmp/empty.conf" client connect ""
ok "no store, no config: no candidates"

echo PASS
