#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Send every case of tests/netns/hostile-requests.tsv to `visp lease serve`
over real TCP connections, and check the answer and that nothing changed.

Run by tests/netns/hostile.sh inside its namespace (standard library only):

    hostile-send.py --table T --keys K --visp BIN --conf C --admin HOST:PORT
                    --password PW [--port 12234] [--only NAME]

--keys names a file of "key address" lines: A (the acting key, with a lease),
B (another key with a lease), C (a key without a lease). For each case the
request is sent from the source address its "from" column names, the status
line is read (within a deadline: a hang is a failure), the response's form
is checked (JSON body, an "error" member for errors, Allow on 405) and then
the lease store (`visp lease list -a -j`) and cjdns (every IpTunnel entry)
are compared with their state before the case. A case that expects 200 may
renew A's own lease (its expiry moves) and nothing else.

Prints one line per case; exits 1 if any case failed.
"""

import argparse
import json
import os
import re
import select
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import cjdns_codec as codec  # noqa: E402
from cjdns_admin import Admin  # noqa: E402

ANSWER_DEADLINE = 12.0	# lease serve cuts a silent client off after 5 s
TRICKLE_GAP = 0.1

ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\", "e": b"\x1b"}


def unescape(text):
    """C-style escapes: \\r \\n \\t \\0 \\\\ \\e \\xHH; everything else as is."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 == len(text):
            out += c.encode()
            i += 1
            continue
        n = text[i + 1]
        if n == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif n in ESCAPES:
            out += ESCAPES[n]
            i += 2
        else:
            raise ValueError("unknown escape \\%s" % n)
    return bytes(out)


def not_fc_key():
    """A well-formed key whose address is not in fc00::/8."""
    while True:
        kb = os.urandom(32)
        if codec.key_bytes_to_address(kb)[0] != 0xFC:
            return codec.key_to_string(kb)


def placeholders(a, b, c):
    """Every {NAME} the table may use: the keys, and A bent out of shape."""
    body = a[:52]
    odd = "a" if body[10] != "a" else "e"	# a and e are not in cjdns's base32
    return {
        "A": a, "B": b, "C": c,
        "A51": body[:51] + ".k",		# one character short
        "A53": body + "0.k",			# one character long
        "ANOK": body,				# no .k
        "AK": body + ".K",			# .K
        "ABAD": body[:10] + odd + body[11:] + ".k",
        # The last character carries 1 bit of the key and 4 that must be 0.
        "ALEFT": body[:51] + ("z" if body[51] != "z" else "y") + ".k",
        "AUP": a.upper(),
        "NOTFC": not_fc_key(),
    }


def build(raw, names):
    """Expand a table request into (bytes, half_close, trickle)."""
    trickle = raw.startswith("{TRICKLE}")
    if trickle:
        raw = raw[len("{TRICKLE}"):]
    half_close = raw.endswith("{EOF}")
    if half_close:
        raw = raw[:-len("{EOF}")]

    def repeat(m):
        return m.group(2) * int(m.group(1))

    raw = re.sub(r"\{(\d+)\*([^{}]*)\}", repeat, raw)
    raw = re.sub(r"\{([A-Z0-9]+)\}", lambda m: names[m.group(1)] if m.group(1) in names
                 else m.group(0), raw)
    data = unescape(raw)
    if b"{CL}" in data:
        end = data.find(b"\r\n\r\n")
        body = data[end + 4:] if end >= 0 else b""
        data = data.replace(b"{CL}", str(len(body)).encode(), 1)
    return data, half_close, trickle


def source_of(frm, keys, nonfc):
    return {"own": keys[0][1], "other": keys[1][1], "nolease": keys[2][1],
            "nonfc": nonfc, "v4": "127.0.0.1"}[frm]


def exchange(src, port, data, half_close, trickle):
    """Send data from src, return the response bytes (or raise TimeoutError)."""
    fam = socket.AF_INET if "." in src else socket.AF_INET6
    dst = "127.0.0.1" if fam == socket.AF_INET else "::1"
    s = socket.socket(fam, socket.SOCK_STREAM)
    deadline = time.monotonic() + ANSWER_DEADLINE
    try:
        s.bind((src, 0))
        s.settimeout(ANSWER_DEADLINE)
        s.connect((dst, port))
        try:
            if trickle:
                for i in range(len(data)):
                    if select.select([s], [], [], TRICKLE_GAP)[0]:
                        break	# the server has answered (or closed)
                    s.send(data[i:i + 1])
            else:
                s.sendall(data)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass	# the server stopped reading: its answer may still be there
        resp = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete answer within %.0f s" % ANSWER_DEADLINE)
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            except socket.timeout:
                continue
            if not chunk:
                break
            resp += chunk
        return resp
    finally:
        s.close()


def check_form(resp, want):
    """Status (int) and a list of problems with the response's form."""
    problems = []
    head, sep, body = resp.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.fullmatch(rb"HTTP/1\.1 (\d{3}) [ -~]+", lines[0])
    if not m or not sep:
        return None, ["no HTTP/1.1 status line in %r" % resp[:80]]
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if headers.get(b"content-type") != b"application/json":
        problems.append("Content-Type is %r" % headers.get(b"content-type"))
    if headers.get(b"content-length") != str(len(body)).encode():
        problems.append("Content-Length %r for %d bytes" % (headers.get(b"content-length"), len(body)))
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
        problems.append("body is not JSON: %r" % body[:80])
    if status >= 400 and not (isinstance(doc, dict) and isinstance(doc.get("error"), str)):
        problems.append("an error without {\"error\": ...}: %r" % body[:80])
    if status == 405 and not headers.get(b"allow"):
        problems.append("405 without an Allow header")
    return status, problems


class World:
    def __init__(self, opts, keys):
        self.opts = opts
        self.keys = keys
        host, port = opts.admin.rsplit(":", 1)
        self.admin = Admin(host, int(port), opts.password)

    def store(self):
        out = subprocess.run([self.opts.visp, "-c", self.opts.conf, "lease", "list", "-a", "-j"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    def cjdns(self):
        conns = self.admin.call("IpTunnel_listConnections")["connections"]
        return sorted((c, sorted(self.admin.call("IpTunnel_showConnection", connection=c).items()))
                      for c in conns)

    def snapshot(self, renewable=None):
        leases = self.store()
        if renewable:
            for l in leases:
                if l["public_key"] == renewable:
                    l.pop("expires", None)
        return leases, self.cjdns()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--visp", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--admin", default="127.0.0.1:11234")
    ap.add_argument("--password", default=None)
    ap.add_argument("--port", type=int, default=12234)
    ap.add_argument("--nonfc", default="2001:db8::5")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this")
    opts = ap.parse_args()

    keys = [line.split() for line in open(opts.keys) if line.strip()]
    names = placeholders(keys[0][0], keys[1][0], keys[2][0])
    world = World(opts, keys)
    failed = total = 0
    for lineno, line in enumerate(open(opts.table, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        name, frm, raw, want = line.split("\t")
        if opts.only and opts.only not in name:
            continue
        total += 1
        want = int(want)
        data, half_close, trickle = build(raw, names)
        renewable = keys[0][0] if want == 200 else None
        before = world.snapshot(renewable)
        t0 = time.monotonic()
        try:
            resp = exchange(source_of(frm, keys, opts.nonfc), opts.port, data, half_close, trickle)
            status, problems = check_form(resp, want)
        except (OSError, TimeoutError) as e:
            status, problems = None, [str(e)]
        took = time.monotonic() - t0
        if status != want:
            problems.insert(0, "status %s, want %d" % (status, want))
        after = world.snapshot(renewable)
        if after[0] != before[0]:
            problems.append("the lease store changed: %s -> %s" % (before[0], after[0]))
        if after[1] != before[1]:
            problems.append("cjdns changed: %s -> %s" % (before[1], after[1]))
        if problems:
            failed += 1
            print("FAIL %s (line %d, from %s, %d bytes, %.1f s): %s"
                  % (name, lineno, frm, len(data), took, "; ".join(problems)))
        else:
            print("ok   %-28s %s from %s (%.1f s)" % (name, status, frm, took))
        sys.stdout.flush()
    print("%d cases, %d failed" % (total, failed))
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main())
