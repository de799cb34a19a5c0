# SPDX-License-Identifier: GPL-3.0-or-later
# shellcheck shell=bash
#
# What the end-to-end scripts share (tests/netns/*.sh, tests/demo.sh,
# make bench); sourced, not a test itself. run needs the caller's fail()
# (print, exit non-zero) and $tmp (a directory it removes).
#
#   poll SECONDS CMD...      run CMD, its output discarded, until it succeeds
#                            (0) or SECONDS have passed (1)
#   step TEXT...             a progress line, with the seconds since the start
#   run WHAT ALLOWED CMD...  CMD must exit with one of the statuses ALLOWED
#                            ("0 1 3"), and say "visp: ..." on stderr when not
#                            0; its output is left in $tmp/run.out and
#                            $tmp/run.err, its status in $last_rc
#   stop_pid PID [SECONDS]   TERM a child, KILL it if it is still there after
#                            SECONDS (default 10), reap it: a child that
#                            ignores TERM cannot hang the test, and CI with it

poll() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || return 1
		sleep 0.05
	done
}

# Has process $1 exited (gone, or a zombie waiting to be reaped)?
pid_gone() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "${st%% *}" = Z ]
}

stop_pid() {
	local pid=$1 secs=${2:-10}
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	if ! poll "$secs" pid_gone "$pid"; then
		echo "stop_pid: $pid ignored TERM for ${secs}s: killed" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

step() { echo "== [${SECONDS}s] $*"; }

run() {
	local what=$1 allowed=$2 rc=0
	shift 2
	"$@" >"$tmp/run.out" 2>"$tmp/run.err" || rc=$?
	[[ " $allowed " == *" $rc "* ]] ||
		fail "$what: exit $rc, want one of $allowed: $(head -c 600 "$tmp/run.err")"
	[ $rc -eq 0 ] || grep -q "^visp: " "$tmp/run.err" ||
		fail "$what: exit $rc without a message: $(head -c 300 "$tmp/run.err")"
	last_rc=$rc
}
