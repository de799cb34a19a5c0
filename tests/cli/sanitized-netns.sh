#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The end-to-end tests again, with visp built with ASan+UBSan (make SAN=1,
# build-san/visp): a sanitizer report aborts visp, which fails the test that
# ran it. Every netns test takes the binary from $VISP.
set -u
cd "$(dirname "$0")/../.."

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
unset MAKEFLAGS MFLAGS MAKELEVEL
make -j"$(nproc)" SAN=1 >/dev/null || { echo "make SAN=1 failed"; exit 1; }

export VISP=$PWD/build-san/visp
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The sanitized binary starts slower: fewer leases for the sync faults (the
# kills land at points calibrated to the sync, so it is still mid-flight).
export FAULTS_LEASES=${FAULTS_LEASES:-400}
failed=()
for t in lease tunnel client share hostile hostile-socket serve faults-cjdns faults-store faults-client routeguard accounting; do
	script=tests/netns/$t.sh
	[ -x "$script" ] || continue
	log=$(mktemp "${TMPDIR:-/tmp}/visp-san-$t.XXXXXX")
	"$script" >"$log" 2>&1 </dev/null
	rc=$?
	case $rc in
	0) echo "ok   $script" ;;
	77) echo "skip $script: $(tail -n 1 "$log")" ;;
	*) echo "FAIL $script (exit $rc)"; tail -n 40 "$log"; failed+=("$script") ;;
	esac
	rm -f "$log"
done
[ ${#failed[@]} -eq 0 ] || { echo "failed with the sanitized binary: ${failed[*]}"; exit 1; }
echo "end-to-end tests clean with the ASan+UBSan binary"
