#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Build the unit tests with ASan+UBSan (make SAN=1 tests, into build-san/) and
# run every one of them. Any sanitizer report aborts the test binary (the
# Makefile passes -fno-sanitize-recover=undefined), and LeakSanitizer makes
# leaks fail too. Skips (77) when the compiler has no sanitizer runtime.
set -u
cd "$(dirname "$0")/../.."

cc=${CC:-cc}
probe=$(mktemp -d "${TMPDIR:-/tmp}/visp-san-probe.XXXXXX") || exit 1
trap 'rm -rf "$probe"' EXIT
echo 'int main(void) { return 0; }' >"$probe/probe.c"
if ! "$cc" -fsanitize=address,undefined -o "$probe/probe" "$probe/probe.c" >/dev/null 2>&1 ||
   ! "$probe/probe"; then
	echo "skip: $cc cannot build and run -fsanitize=address,undefined (install libasan/libubsan)"
	exit 77
fi

# An outer make (make check) passes its flags down; this build is ours to choose.
unset MAKEFLAGS MFLAGS MAKELEVEL
make -j"$(nproc)" SAN=1 tests || { echo "make SAN=1 tests failed"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=${LSAN_OPTIONS:-}
failed=() n=0
for bin in build-san/tests/test_*; do
	[ -x "$bin" ] && [ -f "$bin" ] || continue
	n=$((n + 1))
	log=$probe/$(basename "$bin").log
	if "$bin" >"$log" 2>&1; then
		echo "ok   $bin"
	else
		echo "FAIL $bin (exit $?)"
		tail -n 40 "$log"
		failed+=("$bin")
	fi
done
[ "$n" -gt 0 ] || { echo "no test binaries in build-san/tests"; exit 1; }
[ ${#failed[@]} -eq 0 ] || { echo "failed under sanitizers: ${failed[*]}"; exit 1; }
echo "$n test binaries clean under ASan+UBSan"
