#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# A short fuzzing run (10 s per harness) so the parsers of untrusted bytes are
# fuzzed on every test run; `make fuzz` runs longer. Skips (77) without clang
# or its libFuzzer runtime, which distributions package separately.
set -u
cd "$(dirname "$0")/../.."

cc=${FUZZ_CC:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
	echo "skip: $cc not found (apt install clang)"
	exit 77
fi
probe=$(mktemp -d "${TMPDIR:-/tmp}/visp-fuzz-probe.XXXXXX") || exit 1
trap 'rm -rf "$probe"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
	'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' \
	>"$probe/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/probe" "$probe/probe.c" \
	>/dev/null 2>&1; then
	echo "skip: $cc cannot link -fsanitize=fuzzer,address,undefined (no libFuzzer runtime)"
	exit 77
fi

# An outer make (make check) passes its flags down: SAN=1 or -n must not leak in here.
unset MAKEFLAGS MFLAGS MAKELEVEL
make -j"$(nproc)" fuzz FUZZ_TIME=10 FUZZ_CC="$cc"
