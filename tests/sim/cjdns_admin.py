#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A tiny cjdns admin client for tests (works against cjdns-sim.py and a real
cjdroute alike).

Command line:
    python3 tests/sim/cjdns_admin.py [--admin HOST:PORT] [--password PW]
        FUNCTION [name=value ...]
A value made of digits (optionally negative) is sent as an Int, anything else
as a String; force the type with name:str=value or name:int=value.
The reply is printed as JSON (strings decoded as UTF-8 with escapes).
Exit status: 0 reply without error (or error "none"), 1 reply with an error,
3 no reply.

As a module:
    a = Admin("127.0.0.1", 11234, "pw")
    a.call("IpTunnel_listConnections")      -> dict with str keys/values
"""

import argparse
import json
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cjdns_codec import BencodeError, bdecode, bencode, sign_request  # noqa: E402

NO_AUTH = {"ping", "Admin_asyncEnabled", "Admin_availableFunctions"}


class AdminTimeout(Exception):
    pass


def to_text(obj):
    """bytes -> str recursively (for JSON output and convenient tests)."""
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="backslashreplace")
    if isinstance(obj, list):
        return [to_text(x) for x in obj]
    if isinstance(obj, dict):
        return {to_text(k): to_text(v) for k, v in obj.items()}
    return obj


class Admin:
    def __init__(self, host="127.0.0.1", port=11234, password=None, timeout=1.0, retries=3):
        self.addr = (host, port)
        self.password = None if password in (None, "NONE") else password
        self.timeout = timeout
        self.retries = retries
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.connect(self.addr)
        self._cookie = None
        self._cookie_time = 0.0
        self._n = 0

    def close(self):
        self.sock.close()

    def _txid(self):
        self._n += 1
        return b"%d-%d" % (os.getpid(), self._n)

    def _exchange(self, data, txid):
        """Send request bytes; retry until the reply carrying our txid."""
        for _ in range(self.retries):
            self.sock.send(data)
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.sock.settimeout(left)
                try:
                    reply = bdecode(self.sock.recv(70000))
                except socket.timeout:
                    break
                except BencodeError:
                    continue
                if isinstance(reply, dict) and reply.get(b"txid") == txid:
                    return reply
        raise AdminTimeout("no reply from %s:%d" % self.addr)

    def cookie(self):
        # The cookie is floor(unix_ms/1024) and valid ~20 s: reuse it ~10 s.
        now = time.monotonic()
        if self._cookie is None or now - self._cookie_time > 10:
            txid = self._txid()
            r = self._exchange(bencode({b"q": b"cookie", b"txid": txid}), txid)
            self._cookie = r[b"cookie"].decode()
            self._cookie_time = now
        return self._cookie

    def call_raw(self, function, args=None, auth=None):
        """Call and return the decoded reply (bytes keys and strings)."""
        args = {k.encode() if isinstance(k, str) else k: v for k, v in (args or {}).items()}
        if auth is None:
            auth = self.password is not None and function not in NO_AUTH
        txid = self._txid()
        if not auth:
            return self._exchange(bencode({b"q": function.encode(), b"args": args, b"txid": txid}), txid)
        req = {b"q": b"auth", b"aq": function.encode(), b"args": args, b"txid": txid}
        return self._exchange(sign_request(req, self.password, self.cookie()), txid)

    def call(self, function, **args):
        """Call and return the reply as str-keyed dict, without its txid."""
        reply = to_text(self.call_raw(function, args))
        reply.pop("txid", None)
        return reply


def parse_value(spec):
    m = re.fullmatch(r"([^=:]+)(?::(str|int))?=(.*)", spec, re.S)
    if not m:
        raise argparse.ArgumentTypeError("expected name=value, got %r" % spec)
    name, kind, value = m.groups()
    if kind == "str" or (kind is None and not re.fullmatch(r"-?\d+", value)):
        return name, value.encode()
    return name, int(value)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Call one cjdns admin function, print the reply as JSON.")
    ap.add_argument("--admin", default="127.0.0.1:11234", metavar="HOST:PORT")
    ap.add_argument("--password", default=None, help='admin password ("NONE" or absent: no auth)')
    ap.add_argument("--timeout", type=float, default=1.0)
    ap.add_argument("--retries", type=int, default=3)
    ap.add_argument("--no-auth", action="store_true", help="send the call unauthenticated")
    ap.add_argument("function")
    ap.add_argument("args", nargs="*", type=parse_value, metavar="name=value")
    opts = ap.parse_args(argv)
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)|([^:]+):(\d+)", opts.admin)
    if not m:
        ap.error("bad --admin %r" % opts.admin)
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    admin = Admin(host, port, opts.password, opts.timeout, opts.retries)
    try:
        reply = admin.call_raw(opts.function, dict(opts.args),
                               auth=False if opts.no_auth else None)
    except AdminTimeout as e:
        print("cjdns_admin: %s" % e, file=sys.stderr)
        return 3
    finally:
        admin.close()
    out = to_text(reply)
    out.pop("txid", None)
    print(json.dumps(out, sort_keys=True))
    err = out.get("error")
    return 0 if err in (None, "none") else 1


if __name__ == "__main__":
    sys.exit(main())
