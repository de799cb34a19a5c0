#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run every unit test of the plain build (build/tests/test_*) under valgrind:
# memcheck errors and definite or indirect leaks fail the test. This catches
# what ASan cannot see, such as reads of uninitialised memory. Forked
# children are checked as well (--child-silent-after-fork would hide them).
# Skips (77) without valgrind. valgrind also reads $VALGRIND_OPTS: add
# --track-origins=yes there to find where uninitialised bytes came from.
set -u
cd "$(dirname "$0")/../.."

if ! command -v valgrind >/dev/null 2>&1; then
	echo "skip: valgrind not found (apt install valgrind)"
	exit 77
fi

# An outer make (make SAN=1 check) passes its flags down: valgrind needs the
# plain build, never the ASan one.
unset MAKEFLAGS MFLAGS MAKELEVEL
make -j"$(nproc)" tests || { echo "make tests failed"; exit 1; }

logdir=$(mktemp -d "${TMPDIR:-/tmp}/visp-valgrind.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT
failed=() n=0
for bin in build/tests/test_*; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	n=$((n + 1))
	log=$logdir/$(basename "$bin").log
	if valgrind -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
		"$bin" >"$log" 2>&1; then
		echo "ok   $bin"
	else
		echo "FAIL $bin (exit $?)"
		tail -n 60 "$log"
		failed+=("$bin")
	fi
done
[ "$n" -gt 0 ] || { echo "no test binaries in build/tests"; exit 1; }
[ ${#failed[@]} -eq 0 ] || { echo "failed under valgrind: ${failed[*]}"; exit 1; }
echo "$n test binaries clean under valgrind"
