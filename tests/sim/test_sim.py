#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Tests of the cjdns simulator against the real node's wire captures.

Run: python3 tests/sim/test_sim.py [-v] [TestClass.test_name ...]
Most tests need no root (the simulator runs with --no-tun on 127.0.0.1);
TunTest needs root and /dev/net/tun and is skipped otherwise.
"""

import ast
import hashlib
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from cjdns_admin import Admin  # noqa: E402
from cjdns_codec import (  # noqa: E402
    bdecode, bencode, b32decode, b32encode, cookie_now, format_ip6_full,
    generate_key, key_to_string, parse_key, KeyError_, sign_request,
)

SIM = os.path.join(HERE, "cjdns-sim.py")
CAPTURES = os.path.join(HERE, "wire-captures-v21.1.txt")
SHARED_JSON = os.path.join(HERE, "..", "..", "..", "shared", "cjdns", "available-functions-v21.1.json")
PASSWORD = "topo-admin-pw"
CLIENT_KEY = "5sh08zrr9wfs9ulyupn1kp6pry7q0h6yb80s48k044fr9z2p4xz0.k"   # the key in the captures

_spec = importlib.util.spec_from_file_location("cjdns_sim", SIM)
sim = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sim)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_captures():
    """[(title, request bytes, reply bytes or None for silence)]"""
    cases = []
    title = req = None
    with open(CAPTURES, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("### "):
                title = line[4:]
            elif line.startswith("  req : "):
                req = ast.literal_eval(line[8:])
            elif line.startswith("  resp: "):
                text = line[8:]
                resp = None if text.startswith("<no reply") else ast.literal_eval(text)
                cases.append((title, req, resp))
    return cases


def resign(req, password=PASSWORD, cookie=None):
    """Re-sign a captured authenticated request with a fresh cookie (keeping
    the cookie's type, string or int) and return the new bytes."""
    msg = bdecode(req)
    assert bencode(msg) == req, "captured request is not canonical bencode"
    old = msg.pop(b"cookie")
    del msg[b"hash"]
    if cookie is None:
        cookie = cookie_now()
    if isinstance(old, bytes):
        cookie = str(cookie).encode()
    return sign_request(msg, password, cookie)


class Sim:
    """One simulator process (no tun unless asked)."""

    def __init__(self, tmp, *extra, password=PASSWORD, no_tun=True, underlay=None,
                 peers=(), netns=None, name="sim", verbose=False):
        self.tmp = tmp
        self.port = free_udp_port()
        self.ready = os.path.join(tmp, "%s-%d.ready" % (name, self.port))
        self.logpath = os.path.join(tmp, "%s-%d.log" % (name, self.port))
        self.key_file = os.path.join(tmp, "%s.key" % name)
        self.password = password
        self.underlay = underlay
        cmd = [sys.executable, SIM, "--admin", "127.0.0.1:%d" % self.port,
               "--password", password, "--ready-file", self.ready,
               "--key-file", self.key_file, "--log", self.logpath]
        if verbose:
            cmd.append("-v")
        if no_tun:
            cmd.append("--no-tun")
        if underlay:
            cmd += ["--underlay", "127.0.0.1:%d" % underlay]
        for p in peers:
            cmd += ["--peer", "127.0.0.1:%d" % p]
        cmd += list(extra)
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None:
                raise RuntimeError("simulator exited: %s" % self.proc.stderr.read().decode())
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("simulator not ready in 15 s")
            time.sleep(0.02)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(("127.0.0.1", self.port))
        self.admin = Admin("127.0.0.1", self.port, password)

    def send(self, data, timeout=1.0):
        """Send raw bytes, return the reply or None (silence)."""
        self.sock.settimeout(0)
        try:
            while True:
                self.sock.recv(70000)          # drop leftovers
        except (BlockingIOError, socket.timeout):
            pass
        self.sock.settimeout(timeout)
        self.sock.send(data)
        try:
            return self.sock.recv(70000)
        except socket.timeout:
            return None

    def call(self, fn, **args):
        return self.admin.call(fn, **args)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for s in ("sock", "admin"):
            if hasattr(self, s):
                getattr(self, s).close()
        self.proc.stderr.close()
        return self.proc.returncode

    def log(self):
        try:
            with open(self.logpath) as f:
                return f.read()
        except FileNotFoundError:
            return ""


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def shape(obj):
    """Types and keys of a decoded value, values left out."""
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [shape(x) for x in obj[:1]]
    return type(obj).__name__


class SimTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="cjdns-sim-test.")
        self.sims = []

    def tearDown(self):
        for s in self.sims:
            s.stop()
        if os.environ.get("KEEP_SIM_LOGS"):
            sys.stderr.write("\nsimulator logs kept in %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, *extra, **kw):
        s = Sim(self.tmp, *extra, **kw)
        self.sims.append(s)
        return s


# ---------------------------------------------------------------------------
# codecs
# ---------------------------------------------------------------------------

class CodecTest(unittest.TestCase):
    VECTORS = [
        ("5n251q3f00d1c1ctmzp7yryq4ypcgxm9mc6ujy6plygf30cjphf0.k", "fccd:d5a9:d4ef:c53d:52a5:55b9:1e67:9610"),
        ("y690udz349hhc3n1xu9rjz6gtb4844dkdc98d9bqudmxd553ksl0.k", "fcb6:8382:890b:a66c:0ac5:7234:6528:2b98"),
        ("jf86wn3nzxdg0dspj72n1uulgrj2xms5vqj8t0f7cykxm7kdwpf0.k", "fca4:eea9:7060:c7d6:25d3:273c:b94b:eef5"),
        ("0jpwfb6fpxfgncmjcwlt09c5v1pu756lwc7rqrqkhjzlhfkz6r80.k", "fc47:6362:4bbb:3af1:685d:52a3:1067:e0f5"),
    ]

    def test_key_vectors(self):
        for key, addr in self.VECTORS:
            kb, a = parse_key(key)
            self.assertEqual(format_ip6_full(a), addr)
            self.assertEqual(key_to_string(kb), key)

    def test_key_errors(self):
        good = self.VECTORS[0][0]
        for bad, msg in [("abc.k", "key must be 52 characters long"),
                         (good[:52], "key must end in .k"),
                         (good[:52] + ".x", "key must end in .k"),
                         ("a" + good[1:], "failed to base-32 decode key"),
                         (good[:51] + "z.k", "failed to base-32 decode key"),   # leftover bits
                         ("rp281rv3psppbbqr1n30wrk9rpy83rxkmkcfzzbx3zp9d2p5uv41.k",
                          "not a valid cjdns public key")]:
            with self.assertRaises(KeyError_) as cm:
                parse_key(bad)
            self.assertEqual(str(cm.exception), msg, bad)
        parse_key(good + "GARBAGE")   # the real one accepts trailing garbage

    def test_base32_roundtrip(self):
        for _ in range(50):
            kb = os.urandom(32)
            self.assertEqual(b32decode(b32encode(kb)), kb)
        kb = generate_key()
        self.assertEqual(parse_key(key_to_string(kb))[1][0], 0xFC)

    def test_bencode(self):
        self.assertEqual(bdecode(b"d000001:q4:ponge"), {b"q": b"pong"})
        self.assertEqual(bdecode(b"i-5e"), -5)
        for bad in (b"", b"d1:q4:pingexx", b"hello", b"d1:q", b"di1e1:ae", b"5:ab"):
            with self.assertRaises(ValueError):
                bdecode(bad)
        self.assertEqual(sim.bencode_padded({"q": "pong"}), b"d000001:q4:ponge")

    def test_functions_table_matches_shared_json(self):
        if not os.path.exists(SHARED_JSON):
            self.skipTest("shared/cjdns not present")
        with open(SHARED_JSON) as f:
            self.assertEqual(json.load(f), sim.AVAILABLE_FUNCTIONS)

    def test_parse_sockaddr(self):
        ok = {b"10.66.0.9": "10.66.0.9", b"10.66.0.9/24": "10.66.0.9", b"10.66.0.9:80": "10.66.0.9",
              b"[fd66::9]": "fd66::9", b"fd66::9": "fd66::9", b"[fd66::9]:80": "fd66::9"}
        for raw, want in ok.items():
            self.assertEqual(str(sim.parse_sockaddr(raw)), want, raw)
        for raw in (b"10.66.0", b"", b"x", b"10.66.0.9:99999", b"fe80::1%eth0"):
            self.assertIsNone(sim.parse_sockaddr(raw), raw)

    def test_routegen(self):
        rg = sim.RouteGen()
        rg.add("prefix", ipaddress.ip_network("0.0.0.0/0"))
        rg.add("prefix", ipaddress.ip_network("::/0"))
        self.assertEqual([str(n) for n in rg.generate(4)], ["0.0.0.0/1", "128.0.0.0/1"])
        self.assertEqual([str(n) for n in rg.generate(6)], ["::/1", "8000::/1"])
        rg.add("exception", ipaddress.ip_network("192.0.2.7/32"))
        routes = rg.generate(4)
        self.assertEqual(len(routes), 32)
        self.assertFalse(any(ipaddress.ip_address("192.0.2.7") in r for r in routes))
        self.assertTrue(any(ipaddress.ip_address("192.0.2.8") in r for r in routes))
        rg.add("exception", ipaddress.ip_network("10.99.0.1/32"))   # local prefix: ignored
        self.assertEqual(len(rg.generate(4)), 32)
        rg2 = sim.RouteGen()
        rg2.add("prefix", ipaddress.ip_network("10.66.0.0/24"))
        self.assertEqual([str(n) for n in rg2.generate(4)], ["10.66.0.0/24"])
        # A local prefix that holds a routed prefix no longer hides the
        # exceptions inside it (seen on v21.1: 10.66.0.5/24 minus 10.66.0.7).
        rg2.add("exception", "10.66.0.7")
        self.assertEqual(len(rg2.generate(4)), 8)
        self.assertFalse(any(ipaddress.ip_address("10.66.0.7") in r for r in rg2.generate(4)))


# ---------------------------------------------------------------------------
# (a) replay of the wire captures
# ---------------------------------------------------------------------------

class ReplayTest(SimTestCase):
    """Every captured request against a fresh simulator; replies compared
    byte for byte where they do not depend on the node (key, pid, peers)."""

    STRUCTURAL = {"peerStats page 0", "auth-free fn (peerStats) without auth",
                  "InterfaceController_interfaces", "Core_nodeInfo", "Core_pid", "cookie"}

    def test_replay(self):
        gw_underlay, cl_underlay = free_udp_port(), free_udp_port()
        gw = self.start(underlay=gw_underlay, name="gw")
        self.start(password="other", underlay=cl_underlay, peers=[gw_underlay], name="cl")
        # Connection 0 existed on the captured node before the first case.
        self.assertEqual(gw.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=CLIENT_KEY,
                                 ip4Address="10.66.0.2")["connection"], 0)
        self.assertTrue(wait_for(lambda: gw.call("InterfaceController_peerStats")["total"] == 1),
                        "client peer never showed up")
        cases = load_captures()
        self.assertGreater(len(cases), 50)
        for title, req, want in cases:
            with self.subTest(title):
                self._replay_one(gw, title, req, want)

    def _replay_one(self, gw, title, req, want):
        if title.startswith("request > 512"):
            # The capture file shows the request cut at 300 bytes; rebuild it.
            req = bencode({b"q": b"auth", b"aq": b"IpTunnel_allowConnection",
                           b"args": {b"pad": b"x" * 600}})
            self.assertGreater(len(req), 512)
        elif b"4:hash64:" in req:
            if title == "wrong password":
                req = resign(req, password="not-" + PASSWORD)
            elif title.startswith("stale cookie"):
                req = resign(req, cookie=cookie_now() - 30)
            elif title.startswith("future cookie"):
                req = resign(req, cookie=cookie_now() + 30)
            else:
                req = resign(req)
        got = gw.send(req)
        if want is None:
            self.assertIsNone(got, "expected silence")
            return
        self.assertIsNotNone(got, "no reply")
        if want != b"d5:error16:Request too big.e":
            self.assertEqual(len(got) % 8, 0, "reply not padded to 8: %r" % got)
        if title not in self.STRUCTURAL:
            self.assertEqual(got, want)
            return
        g, w = bdecode(got), bdecode(want)
        if title == "cookie":
            self.assertRegex(got, rb"^d6:cookie10:\d{10}4:txid1:ce$")
            self.assertLessEqual(abs(int(g[b"cookie"]) - cookie_now()), 2)
        elif title == "Core_pid":
            self.assertEqual(shape(g), shape(w))
            self.assertEqual(g[b"pid"], gw.proc.pid)
        elif title == "Core_nodeInfo":
            self.assertEqual(shape(g), shape(w))
            for k in (b"compressedSchemeHex", b"encodingScheme", b"error", b"version", b"txid"):
                self.assertEqual(g[k], w[k])
            m = re.fullmatch(rb"v21\.0000\.0000\.0000\.0001\.([0-9a-z]{52}\.k)", g[b"myAddr"])
            self.assertTrue(m, g[b"myAddr"])
            self.assertEqual(format_ip6_full(parse_key(m.group(1))[1]).encode(), g[b"myIp6"])
        elif title == "InterfaceController_interfaces":
            self.assertEqual(shape(g), shape(w))
            self.assertEqual(g[b"ifaces"][0][b"name"], b"UDP/IPv4/127.0.0.1:%d" % gw.underlay)
        else:   # peerStats
            self.assertEqual(shape(g), shape(w))
            p, wp = g[b"peers"][0], w[b"peers"][0]
            for k in (b"state", b"isIncoming", b"user", b"ifNum", b"duplicates"):
                self.assertEqual(p[k], wp[k], k)
            self.assertRegex(p[b"addr"], rb"^v21\.0000\.0000\.0000\.0013\.[0-9a-z]{52}\.k$")
            self.assertRegex(p[b"lladdr"], rb"^127\.0\.0\.1:\d+$")
            self.assertLessEqual(abs(p[b"last"] - time.time() * 1000), 5000)
            self.assertEqual(g[b"total"], 1)


# ---------------------------------------------------------------------------
# (b) admin protocol details
# ---------------------------------------------------------------------------

class AdminTest(SimTestCase):
    def setUp(self):
        super().setUp()
        self.s = self.start()

    def auth(self, fn, args=None, cookie=None, password=PASSWORD, txid=b"t"):
        req = {b"q": b"auth", b"aq": fn.encode(), b"args": args or {}, b"txid": txid}
        return sign_request(req, password, cookie_now() if cookie is None else cookie)

    def test_request_size_limit(self):
        base = bencode({b"q": b"ping", b"txid": b""})
        pad = 512 - len(base)
        exact = bencode({b"q": b"ping", b"txid": b"x" * (pad - len(str(pad)) + 1)})
        self.assertEqual(len(exact), 512, exact)
        self.assertTrue(self.s.send(exact).startswith(b"d"))
        self.assertEqual(self.s.send(exact[:-1] + b"xe"), b"d5:error16:Request too big.e")
        self.assertEqual(self.s.send(b"x" * 2000), b"d5:error16:Request too big.e")

    def test_silence(self):
        for data in (b"", b"hello world", b"d1:q4:pingexx", b"l1:qe", b"d4:txid1:xe",
                     b"di1e4:pinge", b"d1:qi5ee", b"i5e", b"d1:q4:ping", b"\xff" * 20):
            self.assertIsNone(self.s.send(data, timeout=0.3), data)
        self.assertEqual(self.s.send(b"d1:q4:pinge"), b"d000001:q4:ponge")   # still alive

    def test_txid(self):
        self.assertEqual(self.s.send(b"d1:q4:ping4:txid3:\x00\xff\x01e"), b"d001:q4:pong4:txid3:\x00\xff\x01e")
        self.assertEqual(self.s.send(b"d1:q4:ping4:txidli1eee"), b"d000001:q4:ponge")
        r = bdecode(self.s.send(b"d1:q7:Foo_bar4:txid5:helloe"))
        self.assertEqual(r[b"txid"], b"hello")
        r = bdecode(self.s.send(self.auth("IpTunnel_listConnections", password="bad", txid=b"zz")))
        self.assertEqual(r, {b"error": b"Auth failed.", b"txid": b"zz"})

    def test_every_reply_is_padded(self):
        for n in range(1, 20):
            got = self.s.send(bencode({b"q": b"ping", b"txid": b"x" * n}))
            self.assertEqual(len(got) % 8, 0)
            self.assertEqual(bdecode(got)[b"txid"], b"x" * n)

    def test_auth(self):
        ok = b"d11:connectionsle5:error4:none4:txid1:te"
        self.assertEqual(self.s.send(self.auth("IpTunnel_listConnections")), ok)
        self.assertEqual(self.s.send(self.auth("IpTunnel_listConnections", cookie=cookie_now() - 5)), ok)
        self.assertEqual(self.s.send(self.auth("IpTunnel_listConnections", cookie=str(cookie_now()))), ok)
        for c in (cookie_now() - 30, cookie_now() + 30):
            self.assertIn(b"Auth failed.", self.s.send(self.auth("IpTunnel_listConnections", cookie=c)))
        # The hash is found anywhere in the bytes: key order does not matter.
        c = str(cookie_now()).encode()
        h0 = hashlib.sha256(PASSWORD.encode() + c).hexdigest().encode()
        raw = (b"d4:hash64:" + h0 + b"1:q4:auth2:aq24:IpTunnel_listConnections6:cookie"
               + b"%d:%s4:txid1:te" % (len(c), c))
        h = hashlib.sha256(raw).hexdigest().encode()
        self.assertEqual(self.s.send(raw.replace(h0, h)), ok)
        self.assertIn(b"Auth failed.", self.s.send(raw.replace(h0, h.upper())))
        # No cookie at all.
        msg = {b"q": b"auth", b"aq": b"Core_pid", b"hash": b"0" * 64, b"txid": b"t"}
        self.assertIn(b"Auth failed.", self.s.send(bencode(msg)))
        # A function that needs auth, called without it.
        self.assertIn(b"No functions matched", self.s.send(b"d1:q8:Core_pid4:txid1:te"))
        # aq missing after good auth
        self.assertIn(b"No functions matched", self.s.send(
            sign_request({b"q": b"auth", b"txid": b"t"}, PASSWORD, cookie_now())))
        # cookie only as q, not as aq
        self.assertIn(b"No functions matched", self.s.send(self.auth("cookie")))

    def test_password_none(self):
        s = self.start(password="NONE", name="nopw")
        self.assertEqual(s.send(b"d1:q24:IpTunnel_listConnections4:txid1:te"),
                         b"d11:connectionsle5:error4:none4:txid1:te")

    def test_available_functions_paging(self):
        seen = {}
        page = 0
        while True:
            r = bdecode(self.s.send(bencode({b"q": b"Admin_availableFunctions",
                                             b"args": {b"page": page}})))
            funcs = r[b"availableFunctions"]
            self.assertLessEqual(len(funcs), 8)
            seen.update(funcs)
            if not r.get(b"more"):
                break
            self.assertEqual(len(funcs), 8)
            page += 1
        self.assertEqual(len(seen), len(sim.AVAILABLE_FUNCTIONS))
        self.assertEqual(page, (len(sim.AVAILABLE_FUNCTIONS) - 1) // 8)
        # a page given as a string is ignored: page 0
        r0 = self.s.send(bencode({b"q": b"Admin_availableFunctions", b"args": {b"page": b"3"}}))
        self.assertIn(b"Admin_asyncEnabled", r0)

    def test_entry_required(self):
        r = self.s.call("IpTunnel_removeConnection", connection="5")
        self.assertEqual(r["error"], "Entry [connection] is required and must be of type [Int]")
        r = self.s.call("RouteGen_commit")
        self.assertEqual(r["error"], "Entry [tunName] is required and must be of type [String]")
        r = self.s.call("UDPInterface_setBroadcastDevices")
        self.assertEqual(r["error"], "Entry [devices] is required and must be of type [List]")

    def test_allow_connection_validation(self):
        k = CLIENT_KEY
        cases = [
            (dict(publicKeyOfAuthorizedNode="abc.k"), "key must be 52 characters long"),
            (dict(publicKeyOfAuthorizedNode=k, ip6Prefix=3), "Must specify ip6Address or ip4Address"),
            (dict(publicKeyOfAuthorizedNode=k, ip4Address="10.1.1.1", ip6Alloc=3),
             "Must specify ip6Address with ip6Alloc"),
            (dict(publicKeyOfAuthorizedNode=k, ip6Address="fd00::1", ip4Alloc=3),
             "Must specify ip4Address with ip4Alloc"),
            (dict(publicKeyOfAuthorizedNode=k, ip4Address="bad", ip4Prefix=40),
             "ip4Prefix out of range: must be 0 to 32"),
            (dict(publicKeyOfAuthorizedNode=k, ip4Address="bad", ip6Address="bad"), "malformed ip4Address"),
            (dict(publicKeyOfAuthorizedNode=k, ip6Address="bad", ip6Alloc=129),
             "ip6Alloc out of range: must be 1 to 128"),
            (dict(publicKeyOfAuthorizedNode=k, ip6Address="fd00::1", ip6Prefix=-1),
             "ip6Prefix out of range: must be 0 to 128"),
        ]
        for args, err in cases:
            self.assertEqual(self.s.call("IpTunnel_allowConnection", **args)["error"], err, args)
        self.assertEqual(self.s.call("IpTunnel_listConnections")["connections"], [])
        r = self.s.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=k,
                        ip4Address="10.66.0.3", ip4Prefix=b"0", ip6Address="fd66::3",
                        ip6Prefix=64, ip6Alloc=b"64", bogus=1)
        self.assertEqual(r, {"connection": 0, "error": "none"})
        self.assertEqual(self.s.call("IpTunnel_showConnection", connection=0),
                         {"error": "none", "ip4Address": "10.66.0.3", "ip4Alloc": 32, "ip4Prefix": 32,
                          "ip6Address": "fd66::3", "ip6Alloc": 128, "ip6Prefix": 64, "key": k,
                          "outgoing": 0})

    def test_list_order_and_numbers(self):
        keys = [key_to_string(generate_key()) for _ in range(3)]
        nums = [self.s.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=keys[i % 3],
                            ip4Address="10.66.1.%d" % i)["connection"] for i in range(6)]
        self.assertEqual(nums, list(range(6)))
        self.assertEqual(self.s.call("IpTunnel_listConnections")["connections"], [1, 2, 3, 4, 5, 0])
        self.assertEqual(self.s.call("IpTunnel_removeConnection", connection=0)["error"], "none")
        self.assertEqual(self.s.call("IpTunnel_removeConnection", connection=0)["error"], "not_found")
        self.assertEqual(self.s.call("IpTunnel_removeConnection", connection=3)["error"], "none")
        n = self.s.call("IpTunnel_connectTo", publicKeyOfNodeToConnectTo=keys[0])["connection"]
        self.assertEqual(n, 6)                            # never reused
        self.assertEqual(self.s.call("IpTunnel_showConnection", connection=6),
                         {"error": "none", "key": keys[0], "outgoing": 1})
        lst = self.s.call("IpTunnel_listConnections")["connections"]
        self.assertEqual(sorted(lst), [1, 2, 4, 5, 6])
        self.assertNotEqual(lst, sorted(lst))              # not chronological
        self.assertEqual(self.s.call("IpTunnel_showConnection", connection=3)["error"],
                         "connection not found")

    def test_peer_stats_paging_and_unresponsive(self):
        under = free_udp_port()
        s = self.start("--unresponsive-after", "1.5", underlay=under, name="ps")
        socks = []
        for i in range(7):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            u.sendto(sim.MAGIC + b"H" + generate_key() + os.urandom(8) + b"\0", ("127.0.0.1", under))
            socks.append(u)
        try:
            self.assertTrue(wait_for(lambda: s.call("InterfaceController_peerStats")["total"] == 7))
            p0 = s.call("InterfaceController_peerStats")
            self.assertEqual((len(p0["peers"]), p0.get("more")), (6, 1))
            p1 = s.call("InterfaceController_peerStats", page=1)
            self.assertEqual((len(p1["peers"]), p1.get("more"), p1["total"]), (1, None, 7))
            labels = {p["addr"][:24] for p in p0["peers"] + p1["peers"]}
            self.assertEqual(len(labels), 7)
            self.assertTrue(all(p["state"] == "ESTABLISHED" and p["isIncoming"] == 1
                                for p in p0["peers"]))
            self.assertTrue(wait_for(lambda: all(
                p["state"] == "UNRESPONSIVE" for p in s.call("InterfaceController_peerStats")["peers"]), 6))
        finally:
            for u in socks:
                u.close()

    def test_speed_5000_allow(self):
        a = Admin("127.0.0.1", self.s.port, PASSWORD)
        t0 = time.monotonic()
        for i in range(5000):
            r = a.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=CLIENT_KEY,
                       ip4Address="10.%d.%d.%d" % (100 + i // 65536, i // 256 % 256, i % 256))
            self.assertEqual(r["connection"], i)
        dt = time.monotonic() - t0
        a.close()
        sys.stderr.write("\n5000 allowConnection in %.2f s (%.0f us each) " % (dt, dt / 5000 * 1e6))
        self.assertLess(dt, 15)

    def test_list_connections_abort(self):
        """Like the real core: a reply over 64 KiB kills the process. Numbers
        below 10,000 take 6 bytes each ("i1234e"), so 10,000 entries still fit
        and ~11,000 do not (the README's 9,000-10,000 had 5-digit numbers)."""
        a = Admin("127.0.0.1", self.s.port, PASSWORD)
        for i in range(11000):
            a.call_raw("IpTunnel_allowConnection", {"publicKeyOfAuthorizedNode": CLIENT_KEY,
                                                    "ip4Address": "10.66.0.1"})
            if i == 9999:
                r = a.call_raw("IpTunnel_listConnections")
                self.assertEqual(len(r[b"connections"]), 10000)
        a.close()
        got = self.s.send(sign_request({b"q": b"auth", b"aq": b"IpTunnel_listConnections",
                                        b"txid": b"t"}, PASSWORD, cookie_now()), timeout=2)
        self.assertTrue(got is None, "expected no reply, got %d bytes" % len(got or b""))
        self.assertEqual(self.s.proc.wait(5), 134)
        self.assertIn("aborting like cjdroute", self.s.log())

    def test_core_exit(self):
        self.assertEqual(self.s.call("Core_exit"), {"error": "none"})
        self.assertEqual(self.s.proc.wait(5), 0)
        self.assertFalse(os.path.exists(self.s.ready))

    def test_sigterm_and_key_file(self):
        my = self.s.call("Core_nodeInfo")["myAddr"]
        self.assertEqual(self.s.stop(), 0)
        self.assertFalse(os.path.exists(self.s.ready))
        s2 = self.start(name="sim")            # same key file name -> same identity
        self.assertEqual(s2.call("Core_nodeInfo")["myAddr"], my)
        self.assertEqual(s2.call("IpTunnel_listConnections")["connections"], [])
        with open(s2.key_file) as f:
            self.assertEqual(f.read().strip(), my.split(".", 5)[5])

    def test_routegen_admin(self):
        s = self.s
        self.assertEqual(s.call("RouteGen_addPrefix", route="0.0.0.0/0")["error"], "none")
        self.assertEqual(s.call("RouteGen_getGeneratedRoutes")["routes"], ["0.0.0.0/1", "128.0.0.0/1"])
        self.assertEqual(s.call("RouteGen_addException", route="198.51.100.7/32")["error"], "none")
        # 32 routes, 20 a page (as the real node pages them).
        page0 = s.call("RouteGen_getGeneratedRoutes")
        page1 = s.call("RouteGen_getGeneratedRoutes", page=1)
        self.assertEqual((len(page0["routes"]), page0.get("more")), (20, 1))
        self.assertEqual((len(page1["routes"]), page1.get("more")), (12, None))
        self.assertEqual(s.call("RouteGen_removePrefix", route="0.0.0.0/0")["error"], "none")
        self.assertEqual(s.call("RouteGen_removePrefix", route="0.0.0.0/0")["error"], "no_such_route")
        self.assertEqual(s.call("RouteGen_addPrefix", route="nonsense")["error"], "parse_failed")
        self.assertEqual(s.call("RouteGen_getGeneratedRoutes")["routes"], [])
        self.assertEqual(s.call("RouteGen_commit", tunName="tun0")["error"], "none")

    def test_routegen_keeps_what_it_is_given(self):
        """As observed on cjdroute v21.1: a prefix is kept as given, address
        unmasked, duplicates and all; removal wants address and length exactly
        and takes every copy; lists are sorted by length, then address down."""
        s = self.s
        for r in ("172.23.23.2/0", "172.23.23.2/0", "10.1.2.3/8"):
            self.assertEqual(s.call("RouteGen_addPrefix", route=r)["error"], "none")
        self.assertEqual(s.call("RouteGen_getPrefixes")["routes"],
                         ["172.23.23.2/0", "172.23.23.2/0", "10.1.2.3/8"])
        for r in ("0.0.0.0/0", "172.23.23.0/0", "172.23.23.2/24"):
            self.assertEqual(s.call("RouteGen_removePrefix", route=r)["error"], "no_such_route")
        self.assertEqual(s.call("RouteGen_removePrefix", route="172.23.23.2/0")["error"], "none")
        self.assertEqual(s.call("RouteGen_getPrefixes")["routes"], ["10.1.2.3/8"])
        self.assertEqual(s.call("RouteGen_addPrefix", route="172.23.23.2")["error"], "none")
        self.assertEqual(s.call("RouteGen_getPrefixes")["routes"], ["10.1.2.3/8", "172.23.23.2/32"])
        self.assertEqual(s.call("RouteGen_addException", route="198.51.100.7/24")["error"], "none")
        self.assertEqual(s.call("RouteGen_addException", route="203.0.113.1")["error"], "none")
        self.assertEqual(s.call("RouteGen_getExceptions")["routes"], ["198.51.100.7/24", "203.0.113.1/32"])
        self.assertEqual(s.call("RouteGen_addPrefix", route="fd00::5/64")["error"], "none")
        self.assertEqual(s.call("RouteGen_getPrefixes", ip6=1)["routes"], ["fd00::5/64"])
        self.assertEqual(s.call("RouteGen_getGeneratedRoutes", ip6=1)["routes"], ["fd00::5/64"])
        self.assertEqual(s.call("RouteGen_getLocalPrefixes")["routes"],
                         ["127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])
        self.assertEqual(s.call("RouteGen_addPrefix", route="1.2.3.4/" + "0" * 60)["error"], "parse_failed")


class RobustnessTest(SimTestCase):
    """Bad datagrams are answered or ignored, never fatal."""

    def test_fuzz_admin(self):
        import random
        rnd = random.Random(1234)
        s = self.start()
        seeds = [req for _, req, _ in load_captures()]
        for batch in range(40):
            for _ in range(50):
                data = bytearray(rnd.choice(seeds))
                for _ in range(rnd.randint(1, 4)):
                    op = rnd.randrange(3)
                    pos = rnd.randrange(len(data) + 1)
                    if op == 0 and data:
                        data[min(pos, len(data) - 1)] = rnd.randrange(256)
                    elif op == 1:
                        del data[pos:pos + rnd.randint(1, 8)]
                    else:
                        data[pos:pos] = rnd.choice([b"e", b"d", b"l", b"i9e", b"0:", b"99999:", b"\0"])
                s.sock.send(bytes(data))
            # Fuzz replies may still be in flight: wait for the one to our ping.
            s.sock.send(b"d1:q4:ping4:txid3:%03de" % batch)
            s.sock.settimeout(2)
            while True:
                got = s.sock.recv(70000)
                if got.endswith(b"4:txid3:%03de" % batch):
                    break
            self.assertEqual(got, b"d001:q4:pong4:txid3:%03de" % batch)
        self.assertNotIn("Traceback", s.log())

    def test_fuzz_underlay(self):
        import random
        rnd = random.Random(99)
        port = free_udp_port()
        s = self.start(underlay=port)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            key = generate_key()
            u.sendto(sim.MAGIC + b"H" + key + b"8bytes!!" + b"\x05" + os.urandom(30), ("127.0.0.1", port))
            for _ in range(2000):
                kind = rnd.choice([b"H", b"D", b"T", b"X"])
                body = os.urandom(rnd.randrange(0, 120))
                if kind == b"T" and rnd.random() < 0.5:   # addressed to the node itself
                    me = parse_key(s.call("Core_nodeInfo")["myAddr"].split(".", 5)[5])[1]
                    body = bytes([3]) + me + key + rnd.choice([b"Q", b"A", b"P"]) + body
                u.sendto(sim.MAGIC + kind + body, ("127.0.0.1", port))
            u.sendto(b"not a sim datagram", ("127.0.0.1", port))
        finally:
            u.close()
        self.assertEqual(s.call("ping"), {"q": "pong"})
        self.assertNotIn("Traceback", s.log())


# ---------------------------------------------------------------------------
# IpTunnel control plane between two simulators (no tun needed)
# ---------------------------------------------------------------------------

class IpTunnelTest(SimTestCase):
    def test_connect_and_duplicates(self):
        gu, cu = free_udp_port(), free_udp_port()
        gw = self.start(underlay=gu, name="gw")
        cl = self.start("--iptunnel-retry", "0.3", underlay=cu, peers=[gu], name="cl")
        gkey = gw.call("Core_nodeInfo")["myAddr"].split(".", 5)[5]
        ckey = cl.call("Core_nodeInfo")["myAddr"].split(".", 5)[5]
        self.assertTrue(wait_for(lambda: cl.call("InterfaceController_peerStats")["total"] == 1))
        peer = cl.call("InterfaceController_peerStats")["peers"][0]
        self.assertEqual((peer["isIncoming"], peer["lladdr"], peer["state"]),
                         (0, "127.0.0.1:%d" % gu, "ESTABLISHED"))
        # No entry on the gateway: the client gets no addresses (and keeps asking).
        n = cl.call("IpTunnel_connectTo", publicKeyOfNodeToConnectTo=gkey)["connection"]
        time.sleep(0.8)
        self.assertEqual(cl.call("IpTunnel_showConnection", connection=n),
                         {"error": "none", "key": gkey, "outgoing": 1})
        gw.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=ckey,
                ip4Address="10.66.0.5", ip4Prefix=0, ip6Address="fd66::5", ip6Prefix=64)
        show = wait_for(lambda: (lambda r: r if "ip4Address" in r else None)(
            cl.call("IpTunnel_showConnection", connection=n)), 5)
        self.assertEqual(show, {"error": "none", "key": gkey, "outgoing": 1,
                                "ip4Address": "10.66.0.5", "ip4Prefix": 0, "ip4Alloc": 32,
                                "ip6Address": "fd66::5", "ip6Prefix": 64, "ip6Alloc": 128})
        self.assertEqual(cl.call("RouteGen_getGeneratedRoutes")["routes"], ["0.0.0.0/1", "128.0.0.0/1"])
        # The lease's prefix is kept as issued, unmasked (and shown so when whole).
        self.assertEqual(cl.call("RouteGen_getGeneratedRoutes", ip6=1)["routes"], ["fd66::5/64"])
        self.assertEqual(cl.call("RouteGen_getPrefixes")["routes"], ["10.66.0.5/0"])
        # removeConnection leaves RouteGen's prefixes (and so the routes) behind.
        self.assertEqual(cl.call("IpTunnel_removeConnection", connection=n)["error"], "none")
        self.assertEqual(cl.call("RouteGen_getPrefixes")["routes"], ["10.66.0.5/0"])
        # A duplicate with another address: the client is answered from the
        # newest entry, traffic is checked against the oldest.
        gw.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=ckey, ip4Address="10.66.0.6")
        n2 = cl.call("IpTunnel_connectTo", publicKeyOfNodeToConnectTo=gkey)["connection"]
        show = wait_for(lambda: (lambda r: r if "ip4Address" in r else None)(
            cl.call("IpTunnel_showConnection", connection=n2)), 5)
        self.assertEqual(show["ip4Address"], "10.66.0.6")

    def test_peers_and_route_exceptions(self):
        """As on cjdroute v21.1: a connectTo peer (--peer) is a route exception
        from the start; a peer added with UDPInterface_beginConnection is
        none, shows its peerName as `user`, and without a password the core
        aborts."""
        gu, cu, cu2 = free_udp_port(), free_udp_port(), free_udp_port()
        gw = self.start(underlay=gu, name="gw")
        gkey = gw.call("Core_nodeInfo")["myAddr"].split(".", 5)[5]
        cl = self.start(underlay=cu, peers=[gu], name="cl")
        self.assertEqual(cl.call("RouteGen_getExceptions")["routes"], ["127.0.0.1/32"])
        late = self.start(underlay=cu2, name="late")
        begin = lambda **kw: late.call("UDPInterface_beginConnection", **kw)["error"]
        good = dict(publicKey=gkey, address="127.0.0.1:%d" % gu, password="pw")
        self.assertEqual(begin(**dict(good, publicKey="abc.k")), "key must be 52 characters long")
        self.assertEqual(begin(**dict(good, address="nonsense")), "unable to parse ip address and port.")
        self.assertEqual(begin(**dict(good, address="[2001:db8::1]:4000")),
                         "different address type than this socket is bound to.")
        self.assertEqual(begin(**dict(good, interfaceNumber=3)), "no such interface for interfaceNumber")
        self.assertEqual(begin(**dict(good, peerName="gw")), "none")
        self.assertEqual(late.call("RouteGen_getExceptions")["routes"], [])

        def peers():
            return late.call("InterfaceController_peerStats")["peers"]

        self.assertTrue(wait_for(lambda: [p["state"] for p in peers()] == ["ESTABLISHED"]))
        self.assertEqual((peers()[0]["user"], peers()[0]["lladdr"]), ("gw", "127.0.0.1:%d" % gu))
        self.assertIsNone(late.send(sign_request(
            {b"q": b"auth", b"aq": b"UDPInterface_beginConnection", b"txid": b"t",
             b"args": {b"publicKey": gkey.encode(), b"address": b"127.0.0.1:9"}},
            PASSWORD, cookie_now()), timeout=2))
        self.assertEqual(late.proc.wait(5), 134)

    def test_gateway_restart_and_reset_peering(self):
        """--repeer-delay: after the gateway restarts, the client's peering
        stays down until resetPeering (README: ~70 s on the real node)."""
        gu, cu = free_udp_port(), free_udp_port()
        gw = self.start(underlay=gu, name="gw")
        cl = self.start("--repeer-delay", "60", underlay=cu, peers=[gu], name="cl")

        def state():
            peers = cl.call("InterfaceController_peerStats")["peers"]
            return peers[0]["state"] if peers else None

        self.assertEqual(wait_for(lambda: state() == "ESTABLISHED"), True)
        gkey = gw.call("Core_nodeInfo")["myAddr"].split(".", 5)[5]
        old_pid = gw.call("Core_pid")["pid"]
        gw.call("IpTunnel_allowConnection", publicKeyOfAuthorizedNode=CLIENT_KEY, ip4Address="10.66.0.9")
        self.assertEqual(gw.stop(), 0)
        gw2 = self.start(underlay=gu, name="gw")              # same key file, same port
        self.assertEqual(gw2.call("Core_nodeInfo")["myAddr"].split(".", 5)[5], gkey)
        self.assertNotEqual(gw2.call("Core_pid")["pid"], old_pid)
        self.assertEqual(gw2.call("IpTunnel_listConnections")["connections"], [])
        # The client hears the new gateway but holds the peering down.
        self.assertTrue(wait_for(lambda: "restarted: peering held" in cl.log(), 5))
        self.assertEqual(state(), "UNRESPONSIVE")
        self.assertEqual(cl.call("InterfaceController_resetPeering", pubkey="abc.k")["error"], "bad key")
        self.assertEqual(cl.call("InterfaceController_resetPeering", pubkey=gkey)["error"], "none")
        self.assertTrue(wait_for(lambda: state() == "ESTABLISHED", 1.0))


# ---------------------------------------------------------------------------
# tun device (root only)
# ---------------------------------------------------------------------------

@unittest.skipUnless(os.geteuid() == 0 and os.path.exists("/dev/net/tun") and shutil.which("ip"),
                     "needs root, /dev/net/tun and ip")
class TunTest(SimTestCase):
    def setUp(self):
        super().setUp()
        self.ns = "simtest-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        subprocess.run(["ip", "-n", self.ns, "link", "set", "lo", "up"], check=True)

    def tearDown(self):
        super().tearDown()
        subprocess.run(["ip", "netns", "del", self.ns], check=False)

    def ipj(self, *args):
        out = subprocess.run(["ip", "-n", self.ns, "-j"] + list(args), check=True,
                             stdout=subprocess.PIPE, text=True).stdout
        return json.loads(out) if out.strip() else []

    def test_tun_lifecycle(self):
        s = Sim(self.tmp, "--tun", "simtun0", no_tun=False, netns=self.ns, name="tun")
        self.sims.append(s)
        # The admin socket is inside the namespace: talk to it from there.
        out = subprocess.run(["ip", "netns", "exec", self.ns, sys.executable,
                              os.path.join(HERE, "cjdns_admin.py"), "--admin", "127.0.0.1:%d" % s.port,
                              "--password", PASSWORD, "Core_nodeInfo"],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        ip6 = json.loads(out)["myIp6"]
        link = self.ipj("addr", "show", "dev", "simtun0")[0]
        self.assertEqual(link["mtu"], 1304)
        self.assertIn("UP", link["flags"])
        addrs = [(a["local"], a["prefixlen"]) for a in link["addr_info"]]
        self.assertIn((str(ipaddress.ip_address(ip6)), 8), addrs)
        self.assertEqual(s.stop(), 0)
        self.assertFalse(os.path.exists(s.ready))
        r = subprocess.run(["ip", "-n", self.ns, "link", "show", "simtun0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.assertNotEqual(r.returncode, 0, "tun survived the process")


if __name__ == "__main__":
    unittest.main(verbosity=2)
