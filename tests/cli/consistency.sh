#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# The command table, --help, the bash completion and the man page name the
# same commands and options (git's t0450 idea), so none of them can drift.
#
#   source tables   visp.c's visp_nouns, each cmd/<noun>.c's <noun>_verbs
#   the binary      'visp --help' (nouns, global options), 'visp NOUN --help'
#                   (verbs), 'visp NOUN VERB --help' (a verb's options)
#   the completion  _visp driven on every noun, verb and "-"
#   the man page    COMMANDS: one .TP per command, its options as nested .TP
#                   entries and in its synopsis; OPTIONS; CONFIGURATION (the
#                   keys of lib/config.c); EXIT STATUS (the codes of cmd/cmd.h)
#
# The binary is the reference: the others must match it exactly.
set -e

top=$(cd "$(dirname "$0")/../.." && pwd)
visp=${VISP:-$top/${B:-build}/visp}
man=$top/man/visp.8
comp=$top/completions/visp.bash

skip() { echo "SKIP: $*"; exit 77; }
[ -x "$visp" ] || skip "no visp binary at $visp (run make)"
command -v python3 >/dev/null || skip "python3 is not installed"
[ -f "$man" ] || { echo "FAIL: no $man"; exit 1; }
[ -f "$comp" ] || { echo "FAIL: no $comp"; exit 1; }

tmp=$(mktemp -d /tmp/visp-consistency.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }
ok() { echo "ok: $*"; }

# same WHAT FILE-WANT FILE-GOT: report the difference of two sorted lists.
same() {
	if ! diff -u "$2" "$3" >"$tmp/diff"; then
		fail "$1 differ (- ${2##*/}, + ${3##*/}):"
		sed '1,2d' "$tmp/diff" | grep '^[-+]' >&2
		return 1
	fi
}

# --help texts of one section: the names under "Commands:" or "Verbs:".
names() { sed -n "/^$1:\$/,/^\$/s/^  \\([a-z][a-z0-9-]*\\) .*/\\1/p"; }
# Option lines of a --help text: "LONG SHORT ARG" ("-" when absent). With
# "own", only the verb's own options (before popt's "Help options:").
opts() {
	awk -v own="$1" '
		own == "own" && /^(Help|Common) options:/ { exit }
		match($0, /^ +(-[[:alnum:]?], )?--[[:alnum:]-]+(=[^ ]+)?/) {
			s = substr($0, RSTART, RLENGTH); sub(/^ +/, "", s)
			short = "-"; arg = "-"
			if (s ~ /^-[^-]/) { short = substr(s, 2, 1); s = substr(s, 5) }
			if (s ~ /=/) { arg = s; sub(/^[^=]*=/, "", arg); sub(/=.*/, "", s) }
			print s, short, arg
		}'
}

# ---- the binary, and the source tables it is built from ----

"$visp" --help >"$tmp/help" || { echo "FAIL: visp --help"; exit 1; }
names Commands <"$tmp/help" | sort >"$tmp/nouns.bin"
[ -s "$tmp/nouns.bin" ] || { echo "FAIL: no commands in visp --help"; exit 1; }
sed -n '/visp_nouns\[\] = {/,/^};/s/^[[:space:]]*{ "\([a-z0-9-]*\)",.*/\1/p' "$top/visp.c" |
	sort >"$tmp/nouns.src"
same "visp.c's noun table and 'visp --help' (is the binary stale? run make)" \
	"$tmp/nouns.src" "$tmp/nouns.bin" || true

: >"$tmp/cmds.bin"
: >"$tmp/opts.bin"
: >"$tmp/longopts.bin"
: >"$tmp/common.bin"
for n in $(cat "$tmp/nouns.bin"); do
	"$visp" "$n" --help >"$tmp/help.$n" 2>&1 || fail "visp $n --help: exit $?"
	if grep -q '^Verbs:$' "$tmp/help.$n"; then
		names Verbs <"$tmp/help.$n" | sort >"$tmp/verbs.$n.bin"
		# The verb table in the noun's source file, when it has one of its own.
		src=$(grep -l "^const struct verb ${n//-/_}_verbs\\[\\]" "$top"/cmd/*.c || true)
		if [ -n "$src" ]; then
			sed -n "/^const struct verb ${n//-/_}_verbs\\[\\]/,/^};/s/^[[:space:]]*{ \"\\([a-z0-9-]*\\)\",.*/\\1/p" \
				"$src" | sort >"$tmp/verbs.$n.src"
			same "the verbs of $n in ${src#"$top"/} and 'visp $n --help'" \
				"$tmp/verbs.$n.src" "$tmp/verbs.$n.bin" || true
		fi
		[ -s "$tmp/verbs.$n.bin" ] || fail "visp $n --help lists no verbs"
		for v in $(cat "$tmp/verbs.$n.bin"); do
			"$visp" "$n" "$v" --help >"$tmp/help.$n.$v" 2>&1 ||
				fail "visp $n $v --help: exit $?"
			echo "$n $v" >>"$tmp/cmds.bin"
			opts own <"$tmp/help.$n.$v" | sed "s/^/$n $v /" >>"$tmp/opts.bin"
			opts all <"$tmp/help.$n.$v" | awk '{ print $1 }' | sort >"$tmp/long.$n.$v.bin"
			sed -n '/^Common options:/,$p' "$tmp/help.$n.$v" | opts all >>"$tmp/common.bin"
		done
	else
		# A noun without verbs (sudoers): its --help is its options.
		cp "$tmp/help.$n" "$tmp/help.$n."
		echo "$n" >>"$tmp/cmds.bin"
		opts own <"$tmp/help.$n" | sed "s/^/$n /" >>"$tmp/opts.bin"
		opts all <"$tmp/help.$n" | awk '{ print $1 }' | sort >"$tmp/long.$n..bin"
		sed -n '/^Common options:/,$p' "$tmp/help.$n" | opts all >>"$tmp/common.bin"
	fi
done
sort -o "$tmp/cmds.bin" "$tmp/cmds.bin"
sort -o "$tmp/opts.bin" "$tmp/opts.bin"
sort -u -o "$tmp/common.bin" "$tmp/common.bin"
opts all <"$tmp/help" | sort >"$tmp/global.bin"
echo "binary: $(wc -l <"$tmp/nouns.bin") nouns, $(wc -l <"$tmp/cmds.bin") commands," \
	"$(wc -l <"$tmp/opts.bin") verb options, $(wc -l <"$tmp/global.bin") global options"
# The options every verb accepts after it are global options too.
comm -23 "$tmp/common.bin" "$tmp/global.bin" >"$tmp/x"
[ ! -s "$tmp/x" ] || fail "verb options missing from 'visp --help': $(cat "$tmp/x")"
[ $failed -eq 0 ] && ok "the source tables and --help agree"

# ---- the completion ----

(
	set +e
	# shellcheck source=../../completions/visp.bash
	source "$comp"
	c() {
		COMP_WORDS=("$visp" "$@")
		COMP_CWORD=$#
		COMPREPLY=()
		_visp
		printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
	}
	c "" >"$tmp/nouns.comp"
	c - >"$tmp/global.comp"
	for n in $(cat "$tmp/nouns.bin"); do
		if [ -f "$tmp/verbs.$n.bin" ]; then
			c "$n" "" >"$tmp/verbs.$n.comp"
			for v in $(cat "$tmp/verbs.$n.bin"); do
				c "$n" "$v" - >"$tmp/long.$n.$v.comp"
			done
		else
			c "$n" - >"$tmp/long.$n..comp"
		fi
	done
)
same "nouns of the binary and the completion" "$tmp/nouns.bin" "$tmp/nouns.comp" || true
awk '{ print $1 }' "$tmp/global.bin" | sort >"$tmp/global.long.bin"
same "global options of the binary and the completion" "$tmp/global.long.bin" \
	"$tmp/global.comp" || true
for f in "$tmp"/verbs.*.bin; do
	same "verbs of the binary and the completion" "$f" "${f%.bin}.comp" || true
done
for f in "$tmp"/long.*.bin; do
	same "options of the binary and the completion" "$f" "${f%.bin}.comp" || true
done
[ $failed -eq 0 ] && ok "the completion offers exactly the binary's nouns, verbs and options"

# ---- the man page ----

python3 - "$man" "$tmp" "$top" <<'PYEOF'
import re, shlex, sys

man, tmp, top = sys.argv[1:4]

def text(line):
    """A source line as it reads: macros and font escapes gone."""
    line = line.rstrip("\n")
    if line.startswith("."):
        parts = line.split(None, 1)
        macro, rest = parts[0], parts[1] if len(parts) > 1 else ""
        try:
            args = shlex.split(rest.replace("\\", "\\\\"), posix=True)
        except ValueError:
            args = rest.split()
        # .B/.I join their arguments with spaces, .BR and friends without.
        line = " ".join(args) if macro in (".B", ".I", ".SM", ".SB", ".SH", ".SS") else "".join(args)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    for a, b in (("\\-", "-"), ("\\(dq", '"'), ("\\(em", "--"), ("\\&", ""), ("\\e", "\\"),
                 ("\\ ", " ")):
        line = line.replace(a, b)
    return line.strip()

def opt(tag):
    m = re.match(r"^(?:-([A-Za-z0-9?]), )?(--[A-Za-z0-9-]+)(?:=(\S+))?$", tag)
    return None if not m else (m.group(2), m.group(1) or "-", m.group(3) or "-")

lines = open(man).read().splitlines()
section, sections = None, []
cmds, cmd_opts, synopsis, global_opts, keys, codes, bad = [], [], {}, [], [], [], []
current, depth = None, 0
for i, raw in enumerate(lines):
    if raw.startswith(".SH"):
        section = text(raw)
        sections.append(section)
        current = None
        continue
    if raw.startswith(".RS"):
        depth += 1
    elif raw.startswith(".RE"):
        depth -= 1
    if not raw.startswith(".TP") or i + 1 >= len(lines):
        continue
    tag = text(lines[i + 1])
    if section == "COMMANDS" and depth == 0:
        words = tag.split()
        if not words or words[0] != "visp":
            bad.append("COMMANDS: the .TP tag '%s' is not a command" % tag)
            continue
        name = []
        for w in words[1:3]:
            if not re.match(r"^[a-z][a-z0-9-]*$", w):
                break
            name.append(w)
        current = " ".join(name)
        cmds.append(current)
        synopsis[current] = set(re.findall(r"--?[A-Za-z0-9?][A-Za-z0-9-]*", tag))
    elif section == "COMMANDS" and tag.startswith("-"):
        o = opt(tag)
        if not o or not current:
            bad.append("COMMANDS: cannot read the option '%s'" % tag)
            continue
        cmd_opts.append("%s %s %s %s" % (current, *o))
        if o[0] not in synopsis[current] and "-" + o[1] not in synopsis[current]:
            bad.append("COMMANDS: the synopsis of 'visp %s' does not show %s" % (current, o[0]))
    elif section == "OPTIONS" and tag.startswith("-"):
        o = opt(tag)
        if not o:
            bad.append("OPTIONS: cannot read the option '%s'" % tag)
            continue
        global_opts.append("%s %s %s" % o)
    elif section == "CONFIGURATION":
        keys.append(tag)
    elif section == "EXIT STATUS":
        codes.append(tag)

for want in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "CONFIGURATION",
             "FILES", "EXIT STATUS", "EXAMPLES", "SECURITY", "SEE ALSO"):
    if want not in sections:
        bad.append("no section %s" % want)

def write(name, items):
    with open("%s/%s" % (tmp, name), "w") as f:
        f.writelines(sorted(x + "\n" for x in items))

write("cmds.man", cmds)
write("opts.man", cmd_opts)
write("global.man", global_opts)
write("keys.man", keys)
write("codes.man", codes)
write("bad.man", bad)

# What the sources say the other sections must name.
src = open(top + "/lib/config.c").read()
found = set(re.findall(r'K\("([a-z0-9_]+)"', src))
block = re.search(r"static int set_cjdns_block\(.*?\n}\n", src, re.S)
if block:
    found |= set(re.findall(r'strcmp\(name, "([a-z0-9_]+)"\)', block.group(0)))
# Keys with a parser of their own (rate_limit, quota), dispatched in config_parse.
found |= set(re.findall(r'else if \(!strcmp\(key, "([a-z0-9_]+)"\)\)', src))
write("keys.src", found)
hdr = open(top + "/cmd/cmd.h").read()
write("codes.src", re.findall(r"EXIT_[A-Z_]+ = (\d+),", hdr))
PYEOF
if [ -s "$tmp/bad.man" ]; then
	while read -r line; do fail "man page: $line"; done <"$tmp/bad.man"
fi
same "commands of the binary and the man page's COMMANDS" "$tmp/cmds.bin" "$tmp/cmds.man" || true
same "verb options (LONG SHORT ARG) of the binary and the man page's COMMANDS" \
	"$tmp/opts.bin" "$tmp/opts.man" || true
same "global options (LONG SHORT ARG) of 'visp --help' and the man page's OPTIONS" \
	"$tmp/global.bin" "$tmp/global.man" || true
same "configuration keys of lib/config.c and the man page's CONFIGURATION" \
	"$tmp/keys.src" "$tmp/keys.man" || true
same "exit codes of cmd/cmd.h and the man page's EXIT STATUS" "$tmp/codes.src" "$tmp/codes.man" || true
grep -q '\\-\\-usage' "$man" || fail "the man page does not mention popt's --usage"
[ $failed -eq 0 ] && ok "the man page documents exactly the binary's commands and options," \
	"lib/config.c's keys and cmd/cmd.h's exit codes"

# It renders without warnings.
if command -v groff >/dev/null; then
	groff -man -Tutf8 -ww -z "$man" >"$tmp/groff" 2>&1 || true
	[ ! -s "$tmp/groff" ] || fail "groff warns: $(head -n 5 "$tmp/groff")"
	[ $failed -eq 0 ] && ok "groff -man -ww renders it without a warning"
else
	echo "note: groff is not installed: rendering not checked"
fi

[ $failed -eq 0 ] || exit 1
echo PASS
