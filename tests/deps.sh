#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Install every build and test dependency of visp on Debian (12 or later).
# Does nothing when all are present; needs root otherwise.
set -e

PKGS="make gcc clang pkg-config libc6-dev
libcurl4-openssl-dev libyajl-dev libnl-route-3-dev libpopt-dev
libsqlite3-dev libnftables-dev libcmocka-dev
python3 iproute2 nftables iputils-ping curl socat sudo systemd valgrind bash-completion
groff-base hyperfine time strace"

missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "visp: missing packages:$missing" >&2
	echo "visp: run as root (or: sudo apt-get install$missing)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
