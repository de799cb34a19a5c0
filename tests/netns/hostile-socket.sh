#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# hostile.sh's table of hostile requests against the socket-activated mode
# of lease serve (Accept=no: one process serves every connection).
HOSTILE_MODE=socket exec "$(dirname "$0")/hostile.sh" "$@"
