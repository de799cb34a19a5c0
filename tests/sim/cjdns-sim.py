#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""cjdns-sim: a test-only stand-in for one cjdroute (v21.1) node.

One process is one node. It speaks the real admin protocol over UDP (cookie,
auth hash, padded replies, exact error strings, the 512-byte request limit)
and, for end-to-end tests, owns a real tun device and carries IpTunnel traffic
to other simulated nodes over a UDP "underlay". The behaviour it copies is the
one written down in shared/cjdns/README.md; where it simplifies, the comment
says so. See tests/sim/README.md for the command line and the list of
simplifications.

Structure (top to bottom):
  helpers ............ address parsing, `ip` wrapper, logging
  IpTunnel ........... the connection table (allowConnection / connectTo ...)
  RouteGen ........... prefixes - exceptions -> proto 52 routes on the tun
  Peer / Mesh ........ hello + distance-vector routing over the underlay
  Node ............... admin API, tun, packet switching, the select loop
"""

import argparse
import errno
import fcntl
import hashlib
import ipaddress
import logging
import os
import re
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cjdns_codec import (  # noqa: E402
    BencodeError, KeyError_, bdecode, bencode, bencode_padded, cookie_now,
    format_ip6_full, generate_key, key_bytes_to_address, key_to_string, parse_key,
)
from cjdns_functions import AVAILABLE_FUNCTIONS  # noqa: E402

log = logging.getLogger("cjdns-sim")

# ---------------------------------------------------------------------------
# Constants taken from the real node (README.md and the wire captures)
# ---------------------------------------------------------------------------

VERSION = 21
MAX_REQUEST = 512            # larger requests get "Request too big."
MAX_REPLY = 65536            # a larger reply aborts the real core
COOKIE_WINDOW = 20           # cookie units (1.024 s) accepted either side of now
FUNCTIONS_PER_PAGE = 8       # Admin_availableFunctions
PEERS_PER_PAGE = 6           # InterfaceController_peerStats
ROUTES_PER_PAGE = 20         # RouteGen_get* (33 routes: 20 with "more", then 13)
TUN_MTU = 1304
ROUTE_PROTO = "52"           # cjdns's route generator installs "proto 52"
ABORT_STATUS = 134           # 128 + SIGABRT: what a crashed cjdroute exits with

ERR_NO_FUNCTION = "No functions matched your request, try Admin_availableFunctions()"
REQUEST_TOO_BIG = b"d5:error16:Request too big.e"   # sent as is: unpadded, no txid

# Functions that answer without authentication; everything else needs auth.
NO_AUTH = {"ping", "Admin_asyncEnabled", "Admin_availableFunctions",
           "InterfaceController_peerStats"}

# The order Admin_availableFunctions pages through. The real registration
# order is unknown except for page 0 (in the captures); the rest is sorted.
FIRST_PAGE = ["Admin_asyncEnabled", "Admin_availableFunctions", "Admin_exportFd",
              "Admin_importFd", "RouteGen_getPrefixes", "UpperDistributor_listHandlers",
              "UpperDistributor_registerHandler", "UpperDistributor_unregisterHandler"]
FUNCTION_ORDER = FIRST_PAGE + sorted(set(AVAILABLE_FUNCTIONS) - set(FIRST_PAGE))

# Core_nodeInfo's encoding scheme fields, copied from the capture.
ENCODING_SCHEME = [
    {"bitCount": 3, "prefix": "01", "prefixLen": 1},
    {"bitCount": 5, "prefix": "02", "prefixLen": 2},
    {"bitCount": 8, "prefix": "00", "prefixLen": 2},
]
COMPRESSED_SCHEME_HEX = "6114458100"

# RouteGen drops exceptions inside these (README: "except addresses in its
# local prefixes").
DEFAULT_LOCAL_PREFIXES = ["fe80::/10", "fd00::/8",
                          "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"]

FC00 = ipaddress.IPv6Network("fc00::/8")

# Underlay wire format (ours, not cjdns's; nothing outside the simulator
# reads it). Every datagram starts with MAGIC and a type byte:
#   H hello : key(32) boot_id(8) count(1) count*(addr(16) hops(1))
#   D data  : ttl(1) IPv6 packet between fc00::/8 addresses
#   T tunnel: ttl(1) dst_addr(16) src_key(32) kind(1) payload
#             kind Q = address request, A = answer (bencoded), P = IP packet
MAGIC = b"cjS1"
MAX_HOPS = 3                 # distance-vector horizon
INITIAL_TTL = 8
MAX_ADVERTS = 255

# Linux tun ioctl
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


class CoreAbort(BaseException):
    """Raised to crash the node like the real core does (not an Exception, so
    the per-datagram error guards let it through)."""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------

def parse_hostport(text):
    """"127.0.0.1:11234" or "[::1]:11234" -> (family, host, port)."""
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)", text) or re.fullmatch(r"([^:\[\]]+):(\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError("expected HOST:PORT or [IPV6]:PORT, got %r" % text)
    host, port = m.group(1), int(m.group(2))
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise argparse.ArgumentTypeError("not an IP address: %r" % host) from None
    if port > 65535:
        raise argparse.ArgumentTypeError("bad port in %r" % text)
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return family, str(ip), port


def format_lladdr(sockaddr):
    """Underlay address as peerStats shows it: ip:port or [ip6]:port."""
    host, port = sockaddr[0], sockaddr[1]
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def parse_sockaddr(raw):
    """Parse an address argument the lenient way cjdns's Sockaddr_parse does.

    Returns an IPv4Address/IPv6Address or None. A ":port" and/or "/prefix"
    suffix and [brackets] around IPv6 are accepted and thrown away (README:
    "silently accepted"). The exact limits of the real parser are unknown;
    this one wants a sane port and prefix."""
    try:
        s = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    m = (re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?(?:/(\d{1,3}))?", s)
         or re.fullmatch(r"([0-9.]+)(?::(\d{1,5}))?(?:/(\d{1,3}))?", s)
         or re.fullmatch(r"([0-9A-Fa-f:.]+)()(?:/(\d{1,3}))?", s))
    if not m:
        return None
    try:
        ip = ipaddress.ip_address(m.group(1))
    except ValueError:
        return None
    if m.group(2) and int(m.group(2)) > 65535:
        return None
    if m.group(3) and int(m.group(3)) > ip.max_prefixlen:
        return None
    return ip


def parse_route(raw):
    """RouteGen route argument: "a.b.c.d/n", "x::/n" or a bare address (/32,
    /128), as an ip_interface: the address is kept unmasked, like the real
    node keeps it. More than 63 bytes is "parse_failed" there too."""
    if len(raw) > 63:
        return None
    try:
        return ipaddress.ip_interface(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def run_ip(*args, check=True):
    """Run `ip ARGS...` (argument list, never a shell). Returns (rc, stderr)."""
    cmd = ["ip"] + [str(a) for a in args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        msg = p.stderr.strip()
        if check:
            log.warning("%s: %s", " ".join(cmd), msg)
        return p.returncode, msg
    log.debug("%s", " ".join(cmd))
    return 0, p.stdout


def run_ip_batch(fam, lines, force=False):
    """Run many `ip FAM ...` commands in one process (`ip -batch -`): the
    RouteGen commit of a /0 lease adds dozens of routes, and one process per
    route kept the admin socket unanswered for seconds on a loaded machine.
    Without force it stops at the first failure. Returns (rc, stderr)."""
    if not lines:
        return 0, ""
    cmd = ["ip", fam] + (["-force"] if force else []) + ["-batch", "-"]
    p = subprocess.run(cmd, input="".join(l + "\n" for l in lines), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        msg = p.stderr.strip()
        log.warning("%s: %s", " ".join(cmd), msg)
        return p.returncode, msg
    log.debug("%s: %d commands", " ".join(cmd), len(lines))
    return 0, ""


def arg_str(args, name):
    """Dict_getString: the value if it is a string, else None."""
    v = args.get(name.encode())
    return v if isinstance(v, bytes) else None


def arg_int(args, name):
    """Dict_getInt: the value if it is an integer, else None (so an Int sent
    as a string is ignored and the default applies)."""
    v = args.get(name.encode())
    return v if isinstance(v, int) else None


def packet_addresses(pkt):
    """(src, dst) of an IPv4/IPv6 packet as ip_address objects, or None."""
    if len(pkt) >= 20 and pkt[0] >> 4 == 4:
        return ipaddress.IPv4Address(pkt[12:16]), ipaddress.IPv4Address(pkt[16:20])
    if len(pkt) >= 40 and pkt[0] >> 4 == 6:
        return ipaddress.IPv6Address(pkt[8:24]), ipaddress.IPv6Address(pkt[24:40])
    return None


# ---------------------------------------------------------------------------
# IpTunnel: the connection table
# ---------------------------------------------------------------------------

class Connection:
    """One IpTunnel entry: incoming (allowConnection, on a gateway) or
    outgoing (connectTo, on a client)."""

    __slots__ = ("number", "key", "addr", "outgoing", "ip4", "ip4_prefix", "ip4_alloc",
                 "ip6", "ip6_prefix", "ip6_alloc", "answered", "next_request")

    def __init__(self, number, key, outgoing):
        self.number = number
        self.key = key                          # 32 raw key bytes
        self.addr = key_bytes_to_address(key)   # its fc00::/8 address (16 bytes)
        self.outgoing = outgoing
        self.ip4 = self.ip6 = None
        self.ip4_prefix, self.ip4_alloc = 32, 32
        self.ip6_prefix, self.ip6_alloc = 128, 128
        self.answered = False                   # outgoing: gateway has answered
        self.next_request = 0.0                 # outgoing: when to ask again

    def networks(self):
        """The leased ranges (address/alloc) as networks."""
        nets = []
        if self.ip4 is not None:
            nets.append(ipaddress.ip_network("%s/%d" % (self.ip4, self.ip4_alloc), strict=False))
        if self.ip6 is not None:
            nets.append(ipaddress.ip_network("%s/%d" % (self.ip6, self.ip6_alloc), strict=False))
        return nets

    def leases(self, ip):
        return any(ip in net for net in self.networks())

    def address_fields(self):
        """ip4Address/ip4Prefix/... as showConnection and the answer carry
        them; an all-zero address counts as unset (cjdns tests Bits_isZero)."""
        d = {}
        if self.ip4 is not None and int(self.ip4):
            d.update(ip4Address=str(self.ip4), ip4Prefix=self.ip4_prefix, ip4Alloc=self.ip4_alloc)
        if self.ip6 is not None and int(self.ip6):
            d.update(ip6Address=str(self.ip6), ip6Prefix=self.ip6_prefix, ip6Alloc=self.ip6_alloc)
        return d


class IpTunnel:
    """Connection numbers come from one counter shared by incoming and
    outgoing entries, start at 0 and are never reused.

    Order quirks, modelled so that the captures replay byte for byte:
    - The internal list puts each new entry right after the head ("insert
      after head"), and listConnections emits the list back to front. With
      entries 0..9 created in order the reply is [1,2,...,9,0], with 7,8,9
      removed it is [1,...,6,0], exactly as captured. The README calls this
      "reverse order"; the point for visp is: it is not chronological.
    - Duplicates for one key are accepted. Traffic from a key is checked
      against the OLDEST entry for that key (lowest number) while the address
      answer to a client comes from the NEWEST one, so a stale duplicate with
      a different address silently drops that client's traffic, as on the
      real node.
    """

    def __init__(self):
        self.next_number = 0
        self.order = []              # connection numbers, internal order
        self.by_number = {}          # number -> Connection
        self.incoming_by_key = {}    # key -> [numbers], ascending
        self.outgoing = {}           # number -> Connection (few)
        self.exact = {}              # leased ip (alloc = full length) -> [numbers]
        self.ranged = set()          # numbers of entries leasing a range

    def _add(self, conn):
        self.by_number[conn.number] = conn
        if self.order:
            self.order.insert(1, conn.number)
        else:
            self.order.append(conn.number)

    def allow(self, key, ip4, ip4_prefix, ip4_alloc, ip6, ip6_prefix, ip6_alloc):
        conn = Connection(self.next_number, key, outgoing=False)
        self.next_number += 1
        conn.ip4, conn.ip6 = ip4, ip6
        conn.ip4_prefix, conn.ip4_alloc = ip4_prefix, ip4_alloc
        conn.ip6_prefix, conn.ip6_alloc = ip6_prefix, ip6_alloc
        self._add(conn)
        self.incoming_by_key.setdefault(key, []).append(conn.number)
        self._index_leases(conn, add=True)
        return conn

    def connect_to(self, key):
        conn = Connection(self.next_number, key, outgoing=True)
        self.next_number += 1
        self._add(conn)
        self.outgoing[conn.number] = conn
        return conn

    def remove(self, number):
        conn = self.by_number.pop(number, None)
        if conn is None:
            return None
        self.order.remove(number)
        if conn.outgoing:
            del self.outgoing[number]
        else:
            nums = self.incoming_by_key[conn.key]
            nums.remove(number)
            if not nums:
                del self.incoming_by_key[conn.key]
            self._index_leases(conn, add=False)
        return conn

    def _index_leases(self, conn, add):
        for ip, alloc in ((conn.ip4, conn.ip4_alloc), (conn.ip6, conn.ip6_alloc)):
            if ip is None:
                continue
            if alloc == ip.max_prefixlen:
                nums = self.exact.setdefault(ip, [])
                if add:
                    nums.append(conn.number)
                else:
                    nums.remove(conn.number)
                    if not nums:
                        del self.exact[ip]
            elif add:
                self.ranged.add(conn.number)
            else:
                self.ranged.discard(conn.number)

    def listing(self):
        return list(reversed(self.order))

    def entry_for_traffic(self, key):
        """Incoming entry whose addresses a key's packets must carry."""
        nums = self.incoming_by_key.get(key)
        return self.by_number[nums[0]] if nums else None

    def entry_for_answer(self, key):
        """Incoming entry whose addresses are handed to a client."""
        nums = self.incoming_by_key.get(key)
        return self.by_number[nums[-1]] if nums else None

    def entry_for_destination(self, ip):
        """Incoming entry that leases ip (lowest number wins)."""
        cands = list(self.exact.get(ip, ()))
        cands += [n for n in self.ranged if self.by_number[n].leases(ip)]
        return self.by_number[min(cands)] if cands else None

    def outgoing_for_source(self, ip):
        """Answered outgoing connection whose lease contains ip."""
        for conn in self.outgoing.values():
            if conn.answered and conn.leases(ip):
                return conn
        return None


# ---------------------------------------------------------------------------
# RouteGen: which routes the tun gets
# ---------------------------------------------------------------------------

def subtract(networks, hole):
    """networks minus hole, as a minimal list of covering prefixes."""
    out = []
    for net in networks:
        if net.version != hole.version or not net.overlaps(hole):
            out.append(net)
        elif hole.supernet_of(net):
            continue
        else:
            out.extend(net.address_exclude(hole))
    return out


class RouteGen:
    """prefixes minus exceptions -> routes with proto 52 on the tun.

    Entries are kept the way the real node keeps them: the address as given
    with its prefix length, unmasked ("172.23.23.2/0" for a client's lease
    with prefix 0, which is what RouteGen_getPrefixes shows), a bare address
    as /32 or /128, duplicates allowed; a remove must name address and length
    exactly ("0.0.0.0/0" does not remove "172.23.23.2/0") and removes every
    copy. Lists come out ordered by prefix length, then by address from the
    highest, as the real node's sorted lists do.

    A /0 is installed as two /1 halves (so the default route survives);
    with an exception the result is the covering set of everything minus the
    exception (32 IPv4 routes for one excepted /32). Exceptions that fall in
    a local prefix are ignored (README: peers in 10/8, 192.168/16... are no
    exceptions), unless that local prefix holds one of the prefixes."""

    def __init__(self, exceptions=()):
        self.prefixes = []
        self.exceptions = [self.entry(e) for e in exceptions]
        self.local_prefixes = [self.entry(p) for p in DEFAULT_LOCAL_PREFIXES]

    @staticmethod
    def entry(x):
        """An ip_interface: address and prefix length, not masked."""
        return x if isinstance(x, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)) \
            else ipaddress.ip_interface(str(x))

    def _list(self, what):
        return {"prefix": self.prefixes, "exception": self.exceptions,
                "local": self.local_prefixes}[what]

    def add(self, what, net):
        self._list(what).append(self.entry(net))

    def remove(self, what, net):
        net = self.entry(net)
        lst = self._list(what)
        keep = [e for e in lst if not (e.version == net.version and e.ip == net.ip
                                       and e.network.prefixlen == net.network.prefixlen)]
        found = len(keep) != len(lst)
        lst[:] = keep
        return found

    def effective_exceptions(self):
        nets = [p.network for p in self.prefixes]
        local = [lp.network for lp in self.local_prefixes
                 if not any(n.version == lp.version and n.subnet_of(lp.network) for n in nets)]
        return [e.network for e in self.exceptions
                if not any(e.version == lp.version and e.network.subnet_of(lp) for lp in local)]

    def generate(self, version):
        exc = [e for e in self.effective_exceptions() if e.version == version]
        out = []
        for p in self.prefixes:
            if p.version != version:
                continue
            parts = [p.network]
            for e in exc:
                parts = subtract(parts, e)
            out.extend(parts)
        routes = []
        for net in ipaddress.collapse_addresses(out):
            routes.extend(net.subnets(1) if net.prefixlen == 0 else [net])
        return sorted(routes)

    def get(self, what, version):
        """The strings RouteGen_get* lists."""
        if what == "generated":
            # A prefix that comes out whole is shown as it was given.
            given = {p.network: str(p) for p in self.prefixes}
            return [given.get(n, str(n)) for n in self.generate(version)]
        return [str(e) for e in sorted((e for e in self._list(what) if e.version == version),
                                       key=lambda e: (e.network.prefixlen, -int(e.ip)))]

    def commit(self, tun_name, dry):
        """Make the proto 52 routes on tun_name equal the generated set.
        Returns None or an error message."""
        for version in (4, 6):
            want = set(self.generate(version))
            if dry:
                log.info("RouteGen commit (no tun): v%d routes %s", version,
                         ", ".join(map(str, sorted(want))) or "none")
                continue
            fam = "-%d" % version
            rc, out = run_ip(fam, "route", "show", "dev", tun_name, "proto", ROUTE_PROTO)
            if rc:
                return out or "cannot read routes of %s" % tun_name
            have = set()
            for line in out.splitlines():
                tok = line.split()[0] if line.split() else ""
                if tok == "default":
                    tok = "0.0.0.0/0" if version == 4 else "::/0"
                try:
                    have.add(ipaddress.ip_network(tok, strict=False))
                except ValueError:
                    continue
            run_ip_batch(fam, ["route del %s dev %s proto %s" % (net, tun_name, ROUTE_PROTO)
                               for net in sorted(have - want)], force=True)
            rc, msg = run_ip_batch(fam, ["route replace %s dev %s proto %s" % (net, tun_name, ROUTE_PROTO)
                                         for net in sorted(want - have)])
            if rc:
                return msg
        return None


# ---------------------------------------------------------------------------
# Peers and the mesh
# ---------------------------------------------------------------------------

class Peer:
    """A direct neighbour on the underlay, known by its UDP address."""

    def __init__(self, lladdr, incoming, label, user):
        self.lladdr = lladdr          # (ip, port) as the socket reports it
        self.incoming = incoming
        self.label = label            # switch-label-like string for addr
        self.user = user
        self.key = None               # learnt from its hellos
        self.addr = None
        self.boot_id = None
        self.heard = None             # monotonic time of the last datagram
        self.last_ms = 0              # unix ms of the last datagram
        self.hold_until = 0.0         # --repeer-delay after the peer restarted
        self.adverts = {}             # addr16 -> hops, from its latest hello
        self.bytes_in = self.bytes_out = self.packets_in = 0
        self.rate_in = self.rate_out = 0          # kbps, updated every second
        self._snap = (0, 0)

    def alive(self, now, timeout):
        return (self.key is not None and self.heard is not None
                and now - self.heard <= timeout and now >= self.hold_until)


class FakePeer(Peer):
    """--fake-peers: a peer that only peerStats lists (for the pin-peers
    benchmark). Always ESTABLISHED, never sent to, its underlay address in a
    documentation range: 198.51.100.1-254, 203.0.113.1-254, then 2001:db8::N."""

    def __init__(self, i, label):
        if i < 254:
            ip = "198.51.100.%d" % (i + 1)
        elif i < 508:
            ip = "203.0.113.%d" % (i - 253)
        else:
            ip = "2001:db8::%x" % (i - 507)
        super().__init__((ip, 19273), False, label, format_lladdr((ip, 19273)))
        self.key = generate_key()
        self.last_ms = int(time.time() * 1000)

    def alive(self, now, timeout):
        return True


# ---------------------------------------------------------------------------
# The node
# ---------------------------------------------------------------------------

class Node:
    def __init__(self, opts):
        self.opts = opts
        self.password = None if opts.password == "NONE" else opts.password.encode()
        self.key, self.addr = self._load_key(opts.key_file)
        self.key_str = key_to_string(self.key)
        self.ip6 = ipaddress.IPv6Address(self.addr)
        self.boot_id = os.urandom(8)
        self.iptun = IpTunnel()
        self.routegen = RouteGen()
        # cjdroute's configurator makes every connectTo peer of the config a
        # route exception at startup (its address, as /32 or /128); --peer is
        # that connectTo. Peers added later (beginConnection) get none.
        for _, host, _ in opts.peer:
            self.routegen.add("exception", host)
        for cidr in opts.route_exception:
            self.routegen.add("exception", cidr)
        self.peers = {}               # lladdr -> Peer
        self.next_label = 0x13
        self.fake_peers = [FakePeer(i, "%04x" % (0x1000 + 2 * i)) for i in range(opts.fake_peers)]
        self.admin_sock = self.underlay = None
        self.tun_fd = None
        self.stopping = False
        self.exit_status = 0
        self.sel = selectors.DefaultSelector()
        self.handlers = self._function_table()

    # -- identity ----------------------------------------------------------

    @staticmethod
    def _load_key(path):
        """Read the node's key from path, or create one there, so that a
        restarted node keeps its identity."""
        if path and os.path.exists(path):
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
            kb, addr = parse_key(text)   # raises KeyError_ on a bad file
            return kb, addr
        kb = generate_key()
        if path:
            tmp = path + ".tmp"
            with open(tmp, "w", encoding="ascii") as f:
                f.write(key_to_string(kb) + "\n")
            os.replace(tmp, path)
        return kb, key_bytes_to_address(kb)

    # -- setup / teardown --------------------------------------------------

    def setup(self):
        fam, host, port = self.opts.admin
        self.admin_sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.admin_sock.bind((host, port))
        self.admin_sock.setblocking(False)
        self.sel.register(self.admin_sock, selectors.EVENT_READ, self._on_admin)

        if self.opts.underlay:
            fam, host, port = self.opts.underlay
            self.underlay = socket.socket(fam, socket.SOCK_DGRAM)
            self.underlay.bind((host, port))
            self.underlay.setblocking(False)
            self.sel.register(self.underlay, selectors.EVENT_READ, self._on_underlay)
            for fam_p, phost, pport in self.opts.peer:
                if fam_p != fam:
                    raise SystemExit("cjdns-sim: --peer %s:%d is not in the --underlay family"
                                     % (phost, pport))
                self._new_peer(self._sockaddr(phost, pport), incoming=False)

        if not self.opts.no_tun:
            self._open_tun()

        # Signals wake the select loop through a socketpair.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._on_wake)

        log.info("node %s (%s) admin %s:%d tun %s underlay %s", self.key_str,
                 self.ip6, self.opts.admin[1], self.opts.admin[2],
                 "none" if self.opts.no_tun else self.opts.tun,
                 "%s:%d" % self.opts.underlay[1:] if self.opts.underlay else "none")
        if self.opts.ready_file:
            tmp = self.opts.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % os.getpid())
            os.replace(tmp, self.opts.ready_file)

    def _sockaddr(self, host, port):
        """Normalise to what recvfrom reports for that peer."""
        if self.underlay.family == socket.AF_INET6:
            return (str(ipaddress.ip_address(host)), port, 0, 0)
        return (host, port)

    def _open_tun(self):
        """A non-persistent tun: it disappears (with its addresses and routes)
        when the process exits, like cjdroute's."""
        name = self.opts.tun
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
        except OSError:
            os.close(fd)
            raise
        self.tun_fd = fd
        for args in (("-6", "addr", "add", "%s/8" % self.ip6, "dev", name),
                     ("link", "set", "dev", name, "mtu", TUN_MTU, "up")):
            rc, msg = run_ip(*args)
            if rc:
                raise SystemExit("cjdns-sim: ip %s: %s" % (" ".join(map(str, args)), msg))
        self.sel.register(fd, selectors.EVENT_READ, self._on_tun)

    def cleanup(self):
        if self.tun_fd is not None:
            os.close(self.tun_fd)      # deletes the tun device
            self.tun_fd = None
        if self.opts.ready_file:
            try:
                os.unlink(self.opts.ready_file)
            except FileNotFoundError:
                pass

    def _on_signal(self, signum, frame):
        log.info("signal %d: exiting", signum)
        self.stopping = True

    def _on_wake(self):
        try:
            while self._wake_r.recv(64):
                pass
        except BlockingIOError:
            pass

    # -- main loop ---------------------------------------------------------

    def run(self):
        tick = 0.2
        next_tick = time.monotonic()
        next_hello = next_tick
        next_rate = next_tick + 1.0
        while not self.stopping:
            timeout = max(0.0, next_tick - time.monotonic())
            for skey, _ in self.sel.select(timeout):
                skey.data()
                if self.stopping:
                    break
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + tick
                if now >= next_hello:
                    next_hello = now + self.opts.hello_interval
                    self._send_hellos(now)
                if now >= next_rate:
                    next_rate = now + 1.0
                    self._update_rates()
                self._retry_address_requests(now)

    # -- admin -------------------------------------------------------------

    def _on_admin(self):
        for _ in range(256):          # drain, but let other sockets run too
            try:
                data, src = self.admin_sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            try:
                reply = self.handle_admin(data)
            except CoreAbort:
                raise
            except Exception:          # a bad request must never kill the node
                log.exception("admin request %r failed", data[:80])
                continue
            if reply is None:
                continue
            if len(reply) > MAX_REPLY:
                # The real core aborts when a reply passes 64 KiB (seen with
                # IpTunnel_listConnections at ~9,000-10,000 entries).
                log.error("reply of %d bytes exceeds %d: aborting like cjdroute", len(reply), MAX_REPLY)
                raise CoreAbort()
            try:
                self.admin_sock.sendto(reply, src)
            except OSError as e:
                log.warning("admin reply to %s: %s", src, e)
            if self.stopping:
                return

    def handle_admin(self, data):
        """One request datagram -> reply bytes, or None for silence."""
        if len(data) > MAX_REQUEST:
            return REQUEST_TOO_BIG
        try:
            msg = bdecode(data)
        except BencodeError:
            return None               # garbage, trailing bytes, empty datagram
        if not isinstance(msg, dict):
            return None
        q = msg.get(b"q")
        if not isinstance(q, bytes):
            return None
        txid = msg.get(b"txid")
        if not isinstance(txid, bytes):
            txid = None               # only a string txid is echoed

        def reply(d):
            if txid is not None:
                d["txid"] = txid
            return bencode_padded(d)

        if q == b"cookie":
            return reply({"cookie": str(cookie_now())})

        authed = self.password is None          # password NONE: all requests
        if q == b"auth":
            if not authed and not self._auth_valid(msg, data):
                return reply({"error": "Auth failed."})
            authed = True
            q = msg.get(b"aq")
        try:
            name = q.decode("ascii") if isinstance(q, bytes) else None
        except UnicodeDecodeError:
            name = None
        spec = AVAILABLE_FUNCTIONS.get(name) if name else None
        if spec is None or (name not in NO_AUTH and not authed):
            return reply({"error": ERR_NO_FUNCTION})
        args = msg.get(b"args")
        if not isinstance(args, dict):
            args = {}
        for arg, info in spec.items():          # cjdns's checkArgs
            if not info["required"]:
                continue
            want = {"String": bytes, "Int": int, "List": list}[info["type"]]
            if not isinstance(args.get(arg.encode()), want):
                return reply({"error": "Entry [%s] is required and must be of type [%s]"
                                       % (arg, info["type"])})
        log.debug("admin %s %r", name, args)
        handler = self.handlers.get(name, self._not_implemented)
        return reply(handler(args))

    def _auth_valid(self, msg, raw):
        """cjdns's authValid: cookie in the window, then the hash.

        H0 = sha256(password || cookie); the request's own hash H must equal
        sha256(request bytes with H replaced by H0). The server finds H by
        searching the raw bytes (strstr: the search stops at a NUL byte), so
        the position of the hash key does not matter."""
        c = msg.get(b"cookie")
        if isinstance(c, bytes):
            m = re.match(rb"\s*([+-]?\d+)", c)      # strtoll
            cookie = int(m.group(1)) if m else 0
        elif isinstance(c, int):
            cookie = c
        else:
            cookie = 0
        cookie &= 0xFFFFFFFF                        # the real one keeps a uint32
        now = cookie_now()
        submitted = msg.get(b"hash")
        if (not cookie or abs(cookie - now) > COOKIE_WINDOW
                or not isinstance(submitted, bytes) or len(submitted) != 64):
            return False
        haystack = raw.split(b"\0", 1)[0]
        pos = haystack.find(submitted)
        if pos < 0:
            return False
        h0 = hashlib.sha256(self.password + str(cookie).encode()).hexdigest().encode()
        h = hashlib.sha256(raw[:pos] + h0 + raw[pos + 64:]).hexdigest().encode()
        return h == submitted

    # -- admin functions ---------------------------------------------------

    def _function_table(self):
        return {
            "ping": lambda a: {"q": "pong"},
            "Admin_asyncEnabled": lambda a: {"asyncEnabled": 1},
            "Admin_availableFunctions": self.fn_available_functions,
            "Core_nodeInfo": self.fn_node_info,
            "Core_pid": lambda a: {"pid": os.getpid()},
            "Core_exit": self.fn_core_exit,
            "IpTunnel_allowConnection": self.fn_allow_connection,
            "IpTunnel_connectTo": self.fn_connect_to,
            "IpTunnel_listConnections": self.fn_list_connections,
            "IpTunnel_showConnection": self.fn_show_connection,
            "IpTunnel_removeConnection": self.fn_remove_connection,
            "InterfaceController_peerStats": self.fn_peer_stats,
            "InterfaceController_interfaces": self.fn_interfaces,
            "InterfaceController_resetPeering": self.fn_reset_peering,
            "InterfaceController_disconnectPeer": self.fn_disconnect_peer,
            "UDPInterface_beginConnection": self.fn_begin_connection,
            "RouteGen_addException": lambda a: self.fn_routegen_change(a, "exception", True),
            "RouteGen_removeException": lambda a: self.fn_routegen_change(a, "exception", False),
            "RouteGen_addPrefix": lambda a: self.fn_routegen_change(a, "prefix", True),
            "RouteGen_removePrefix": lambda a: self.fn_routegen_change(a, "prefix", False),
            "RouteGen_addLocalPrefix": lambda a: self.fn_routegen_change(a, "local", True),
            "RouteGen_removeLocalPrefix": lambda a: self.fn_routegen_change(a, "local", False),
            "RouteGen_getPrefixes": lambda a: self.fn_routegen_get(a, "prefix"),
            "RouteGen_getExceptions": lambda a: self.fn_routegen_get(a, "exception"),
            "RouteGen_getLocalPrefixes": lambda a: self.fn_routegen_get(a, "local"),
            "RouteGen_getGeneratedRoutes": lambda a: self.fn_routegen_get(a, "generated"),
            "RouteGen_commit": self.fn_routegen_commit,
        }

    @staticmethod
    def _not_implemented(args):
        # Exists on the real node but not in the simulator.
        return {"error": "not implemented by cjdns-sim"}

    @staticmethod
    def fn_available_functions(args):
        page = arg_int(args, "page") or 0
        start = page * FUNCTIONS_PER_PAGE
        out = {}
        if start >= 0:
            for name in FUNCTION_ORDER[start:start + FUNCTIONS_PER_PAGE]:
                out[name] = AVAILABLE_FUNCTIONS[name]
        reply = {"availableFunctions": out}
        if start >= 0 and start + FUNCTIONS_PER_PAGE < len(FUNCTION_ORDER):
            reply["more"] = 1
        return reply

    def fn_node_info(self, args):
        return {
            "compressedSchemeHex": COMPRESSED_SCHEME_HEX,
            "encodingScheme": ENCODING_SCHEME,
            "error": "none",
            "myAddr": "v%d.0000.0000.0000.0001.%s" % (VERSION, self.key_str),
            "myIp6": format_ip6_full(self.addr),
            "version": VERSION,
        }

    def fn_core_exit(self, args):
        log.info("Core_exit")
        self.stopping = True
        return {"error": "none"}

    def fn_allow_connection(self, args):
        # Validation order: key, presence, "X with Y", ranges, then parsing
        # (README "Errors" and the captures).
        ip4s, ip6s = arg_str(args, "ip4Address"), arg_str(args, "ip6Address")
        p4, a4 = arg_int(args, "ip4Prefix"), arg_int(args, "ip4Alloc")
        p6, a6 = arg_int(args, "ip6Prefix"), arg_int(args, "ip6Alloc")
        try:
            key, _ = parse_key(arg_str(args, "publicKeyOfAuthorizedNode"))
        except KeyError_ as e:
            return {"error": str(e)}
        if ip4s is None and ip6s is None:
            return {"error": "Must specify ip6Address or ip4Address"}
        for val, addr, what in ((p4, ip4s, "ip4Address with ip4Prefix"),
                                (a4, ip4s, "ip4Address with ip4Alloc"),
                                (p6, ip6s, "ip6Address with ip6Prefix"),
                                (a6, ip6s, "ip6Address with ip6Alloc")):
            if val is not None and addr is None:
                return {"error": "Must specify " + what}
        for val, lo, hi, what in ((p4, 0, 32, "ip4Prefix"), (a4, 1, 32, "ip4Alloc"),
                                  (p6, 0, 128, "ip6Prefix"), (a6, 1, 128, "ip6Alloc")):
            if val is not None and not lo <= val <= hi:
                return {"error": "%s out of range: must be %d to %d" % (what, lo, hi)}
        ip4 = ip6 = None
        if ip4s is not None:
            ip4 = parse_sockaddr(ip4s)
            if ip4 is None or ip4.version != 4:
                return {"error": "malformed ip4Address"}
        if ip6s is not None:
            ip6 = parse_sockaddr(ip6s)
            if ip6 is None or ip6.version != 6:
                return {"error": "malformed ip6Address"}
        conn = self.iptun.allow(key, ip4, 32 if p4 is None else p4, 32 if a4 is None else a4,
                                ip6, 128 if p6 is None else p6, 128 if a6 is None else a6)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("allowConnection #%d %s %s %s", conn.number, key_to_string(key), ip4, ip6)
        return {"connection": conn.number, "error": "none"}

    def fn_connect_to(self, args):
        try:
            key, _ = parse_key(arg_str(args, "publicKeyOfNodeToConnectTo"))
        except KeyError_ as e:
            return {"error": str(e)}
        conn = self.iptun.connect_to(key)
        log.info("connectTo #%d %s", conn.number, key_to_string(key))
        self._send_address_request(conn, time.monotonic())
        return {"connection": conn.number, "error": "none"}

    def fn_list_connections(self, args):
        return {"connections": self.iptun.listing(), "error": "none"}

    def fn_show_connection(self, args):
        conn = self.iptun.by_number.get(arg_int(args, "connection"))
        if conn is None:
            return {"error": "connection not found"}
        d = conn.address_fields() if (not conn.outgoing or conn.answered) else {}
        d.update(error="none", key=key_to_string(conn.key), outgoing=int(conn.outgoing))
        return d

    def fn_remove_connection(self, args):
        number = arg_int(args, "connection")
        conn = self.iptun.remove(number)
        if conn is None:
            return {"error": "not_found"}
        # Like the real node, a client's address and proto 52 routes stay
        # behind; RouteGen_removePrefix + RouteGen_commit clean them up.
        log.info("removeConnection #%d", number)
        return {"connection": number, "error": "none"}

    def _peer_list(self):
        return [p for p in self.peers.values() if p.key is not None]

    def fn_peer_stats(self, args):
        now = time.monotonic()
        peers = self._peer_list() + self.fake_peers
        page = arg_int(args, "page") or 0
        start = page * PEERS_PER_PAGE
        chosen = peers[start:start + PEERS_PER_PAGE] if start >= 0 else []
        out = []
        for p in chosen:
            out.append({
                "addr": "v%d.0000.0000.0000.%s.%s" % (VERSION, p.label, key_to_string(p.key)),
                "bytesIn": p.bytes_in, "bytesOut": p.bytes_out,
                "duplicates": 0, "ifNum": 0,
                "isIncoming": int(p.incoming),
                "last": p.last_ms,
                "lladdr": format_lladdr(p.lladdr),
                "lostPackets": 0, "receivedOutOfRange": 0,
                "receivedPackets": p.packets_in,
                "recvKbps": p.rate_in, "sendKbps": p.rate_out,
                "state": "ESTABLISHED" if p.alive(now, self.opts.unresponsive_after) else "UNRESPONSIVE",
                "user": p.user,
            })
        reply = {"peers": out, "total": len(peers)}
        if start >= 0 and start + PEERS_PER_PAGE < len(peers):
            reply["more"] = 1
        return reply

    def fn_interfaces(self, args):
        ifaces = []
        if self.underlay is not None:
            fam, host, port = self.opts.underlay
            ifaces.append({"beaconState": "DISABLED", "ifNum": 0,
                           "name": "UDP/IPv%d/%s" % (6 if fam == socket.AF_INET6 else 4,
                                                     format_lladdr((host, port)))})
        page = arg_int(args, "page") or 0
        return {"ifaces": ifaces if page == 0 else [], "total": len(ifaces)}

    def _peers_by_pubkey(self, args):
        raw = arg_str(args, "pubkey")
        if raw is None:
            return self._peer_list()
        key, _ = parse_key(raw, check_address=False)
        return [p for p in self._peer_list() if p.key == key]

    def fn_reset_peering(self, args):
        """Re-handshake now: ends a --repeer-delay hold at once (README: after
        a gateway restart resetPeering brings the peering back in <1 s)."""
        try:
            peers = self._peers_by_pubkey(args)
        except KeyError_:
            return {"error": "bad key"}
        for p in peers:
            p.hold_until = 0.0
            self._send_hello(p)
        return {"error": "none"}

    def fn_disconnect_peer(self, args):
        try:
            peers = self._peers_by_pubkey(args)
        except KeyError_:
            return {"error": "bad key"}
        if not peers:
            return {"error": "no peer found for that key"}
        for p in peers:
            del self.peers[p.lladdr]
        return {"error": "none"}

    def fn_begin_connection(self, args):
        """A peer added at runtime, the way cjdroute's configurator adds its
        connectTo peers, but without their route exception (README). As
        observed on v21.1: the checks and their strings below; an address
        without a port is taken (port 0); calling it again for an address
        replaces that peer (a new label, a new handshake); peerStats' `user`
        is the peerName, else "outer"; and without a password the core
        aborts (an assertion in InterfaceController). Simplified: the
        password is not checked and the key not matched against the peer's
        hellos (the underlay has no crypto)."""
        if self.underlay is None or (arg_int(args, "interfaceNumber") or 0) != 0:
            return {"error": "no such interface for interfaceNumber"}
        try:
            parse_key(arg_str(args, "publicKey"))
        except KeyError_ as e:
            return {"error": str(e)}
        m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?|([0-9.]+)(?::(\d{1,5}))?",
                         arg_str(args, "address").decode("ascii", "replace"))
        try:
            ip = ipaddress.ip_address(m.group(1) or m.group(3))
            port = int(m.group(2) or m.group(4) or 0)
            if port > 65535:
                raise ValueError
        except (AttributeError, ValueError):
            return {"error": "unable to parse ip address and port."}
        if (ip.version == 6) != (self.underlay.family == socket.AF_INET6):
            return {"error": "different address type than this socket is bound to."}
        if arg_str(args, "password") is None:
            log.error("beginConnection without a password: aborting like cjdroute")
            raise CoreAbort()
        lladdr = self._sockaddr(str(ip), port)
        self.peers.pop(lladdr, None)
        peer = self._new_peer(lladdr, incoming=False)
        name = arg_str(args, "peerName")
        peer.user = name.decode("utf-8", "replace") if name is not None else "outer"
        log.info("beginConnection %s", format_lladdr(lladdr))
        if port:
            self._send_hello(peer)
        return {"error": "none"}

    def fn_routegen_change(self, args, what, add):
        net = parse_route(arg_str(args, "route"))
        if net is None:
            return {"error": "parse_failed"}
        if add:
            self.routegen.add(what, net)
        elif not self.routegen.remove(what, net):
            return {"error": "no_such_route"}
        return {"error": "none"}

    def fn_routegen_get(self, args, what):
        routes = self.routegen.get(what, 6 if arg_int(args, "ip6") else 4)
        page = arg_int(args, "page") or 0
        start = page * ROUTES_PER_PAGE
        chosen = routes[start:start + ROUTES_PER_PAGE] if start >= 0 else []
        reply = {"routes": [str(r) for r in chosen]}
        if start >= 0 and start + ROUTES_PER_PAGE < len(routes):
            reply["more"] = 1
        return reply

    def fn_routegen_commit(self, args):
        err = self.routegen.commit(arg_str(args, "tunName").decode(errors="replace"),
                                   dry=self.tun_fd is None)
        return {"error": err or "none"}

    # -- underlay: peers, hellos, distance vector ---------------------------

    def _new_peer(self, lladdr, incoming):
        user = "outer" if incoming else format_lladdr(lladdr)
        peer = Peer(lladdr, incoming, "%04x" % self.next_label, user)
        self.next_label += 2
        self.peers[lladdr] = peer
        return peer

    def _routes(self, now):
        """addr16 -> (hops, next-hop Peer): direct peers, then what they
        advertise, up to MAX_HOPS."""
        table = {}
        timeout = self.opts.unresponsive_after
        live = [p for p in self.peers.values() if p.alive(now, timeout)]
        for p in live:
            table[p.addr] = (1, p)
        for p in live:
            for addr, hops in p.adverts.items():
                d = hops + 1
                if d <= MAX_HOPS and addr != self.addr and (addr not in table or d < table[addr][0]):
                    table[addr] = (d, p)
        return table

    def _next_hop(self, addr16):
        entry = self._routes(time.monotonic()).get(addr16)
        return entry[1] if entry else None

    def _send_hellos(self, now):
        if self.underlay is None:
            return
        table = self._routes(now)
        for peer in list(self.peers.values()):
            self._send_hello(peer, table)

    def _send_hello(self, peer, table=None):
        if self.underlay is None:
            return
        if table is None:
            table = self._routes(time.monotonic())
        # Split horizon: do not advertise back what we learnt from the peer.
        adverts = [(a, d) for a, (d, via) in table.items()
                   if via is not peer and d < MAX_HOPS][:MAX_ADVERTS]
        body = b"".join(a + bytes([d]) for a, d in adverts)
        self._send(peer, MAGIC + b"H" + self.key + self.boot_id + bytes([len(adverts)]) + body)

    def _send(self, peer, data):
        try:
            self.underlay.sendto(data, peer.lladdr)
            peer.bytes_out += len(data)
        except OSError as e:
            log.debug("send to %s: %s", format_lladdr(peer.lladdr), e)

    def _update_rates(self):
        for p in self.peers.values():
            bi, bo = p._snap
            p.rate_in = (p.bytes_in - bi) * 8 // 1000
            p.rate_out = (p.bytes_out - bo) * 8 // 1000
            p._snap = (p.bytes_in, p.bytes_out)

    def _on_underlay(self):
        for _ in range(256):
            try:
                data, src = self.underlay.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:       # e.g. ECONNREFUSED from an ICMP error
                log.debug("underlay recv: %s", e)
                continue
            try:
                self._handle_underlay(data, src)
            except (ValueError, IndexError, KeyError, TypeError) as e:
                log.warning("bad underlay datagram from %s: %s", src, e)
            except Exception:
                log.exception("underlay datagram from %s", src)

    def _handle_underlay(self, data, src):
        if len(data) < 5 or data[:4] != MAGIC:
            log.debug("ignoring non-sim datagram from %s", src)
            return
        now = time.monotonic()
        peer = self.peers.get(src)
        kind = data[4:5]
        if kind == b"H":
            if peer is None:
                peer = self._new_peer(src, incoming=True)
                log.info("new incoming peer %s", format_lladdr(src))
            self._on_hello(peer, data, now)
        if peer is None or peer.key is None:
            return                     # no hello yet: no session
        peer.heard = now
        peer.last_ms = int(time.time() * 1000)
        peer.bytes_in += len(data)
        peer.packets_in += 1
        if kind == b"H" or now < peer.hold_until:
            return
        if kind == b"D" and len(data) >= 46:
            self._on_mesh_packet(data[5], data[6:])
        elif kind == b"T" and len(data) >= 55:
            self._on_tunnel_message(data)

    def _on_hello(self, peer, data, now):
        if len(data) < 46:
            return
        key, boot, count = data[5:37], data[37:45], data[45]
        adverts = {}
        body = data[46:46 + 17 * count]
        for i in range(0, len(body) - 16, 17):
            adverts[body[i:i + 16]] = body[i + 16]
        if peer.key != key:
            if peer.key is not None:
                log.info("peer %s changed key", format_lladdr(peer.lladdr))
            peer.key, peer.addr = key, key_bytes_to_address(key)
            peer.boot_id = None
        if peer.boot_id is not None and peer.boot_id != boot and self.opts.repeer_delay > 0:
            # The peer restarted. The real node needs ~70 s to notice (or a
            # resetPeering); model that as a hold of --repeer-delay seconds.
            peer.hold_until = now + self.opts.repeer_delay
            log.info("peer %s restarted: peering held for %gs", format_lladdr(peer.lladdr),
                     self.opts.repeer_delay)
        was_alive = peer.alive(now, self.opts.unresponsive_after)
        peer.boot_id = boot
        peer.adverts = adverts
        peer.heard = now
        if not was_alive and peer.alive(now, self.opts.unresponsive_after):
            log.info("peer %s %s ESTABLISHED", format_lladdr(peer.lladdr), key_to_string(key))
            self._send_hello(peer)     # answer at once so both sides come up fast

    def _forward(self, dst16, ttl, build):
        """Send a message toward dst16; build(ttl) gives its bytes."""
        if ttl <= 0:
            return
        peer = self._next_hop(dst16)
        if peer is None:
            log.debug("no route to %s", ipaddress.IPv6Address(dst16))
            return
        self._send(peer, build(ttl))

    # -- mesh (fc00::/8) traffic --------------------------------------------

    def _on_mesh_packet(self, ttl, pkt):
        dst = pkt[24:40]
        if dst == self.addr:
            self._write_tun(pkt)
        else:
            self._forward(dst, ttl - 1, lambda t: MAGIC + b"D" + bytes([t]) + pkt)

    # -- IpTunnel messages ---------------------------------------------------

    def _tunnel_send(self, key, kind, payload, ttl=INITIAL_TTL):
        dst = key_bytes_to_address(key)
        self._forward(dst, ttl, lambda t: MAGIC + b"T" + bytes([t]) + dst + self.key + kind + payload)

    def _on_tunnel_message(self, data):
        ttl, dst, src_key, kind, payload = data[5], data[6:22], data[22:54], data[54:55], data[55:]
        if dst != self.addr:
            self._forward(dst, ttl - 1, lambda t: data[:5] + bytes([t]) + data[6:])
            return
        if kind == b"Q":
            self._answer_address_request(src_key)
        elif kind == b"A":
            self._on_address_answer(src_key, payload)
        elif kind == b"P":
            self._on_tunnel_packet(src_key, payload)

    def _send_address_request(self, conn, now):
        conn.next_request = now + self.opts.iptunnel_retry
        self._tunnel_send(conn.key, b"Q", b"")

    def _retry_address_requests(self, now):
        for conn in list(self.iptun.outgoing.values()):
            if not conn.answered and now >= conn.next_request:
                log.debug("asking %s for addresses again", key_to_string(conn.key))
                self._send_address_request(conn, now)

    def _answer_address_request(self, key):
        entry = self.iptun.entry_for_answer(key)
        if entry is None:
            log.debug("address request from %s: no entry", key_to_string(key))
            return                     # no entry: no answer at all
        self._tunnel_send(key, b"A", bencode(entry.address_fields()))

    @staticmethod
    def _parse_answer(payload):
        """The gateway's answer -> {4: (ip, prefix, alloc), 6: (...)}; raises
        ValueError (or KeyError/TypeError) on anything malformed."""
        fields = bdecode(payload)
        out = {}
        for v in (4, 6):
            addr = fields.get(b"ip%dAddress" % v)
            if addr is None:
                continue
            ip = ipaddress.ip_address(addr.decode("ascii"))
            prefix, alloc = fields[b"ip%dPrefix" % v], fields[b"ip%dAlloc" % v]
            if ip.version != v or not (0 <= prefix <= ip.max_prefixlen and 1 <= alloc <= ip.max_prefixlen):
                raise ValueError("bad ip%d lease" % v)
            out[v] = (ip, prefix, alloc)
        return out

    def _on_address_answer(self, key, payload):
        try:
            lease = self._parse_answer(payload)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("malformed address answer from %s: %s", key_to_string(key), e)
            return
        for conn in self.iptun.outgoing.values():
            if conn.key != key or conn.answered:
                continue
            if 4 in lease:
                conn.ip4, conn.ip4_prefix, conn.ip4_alloc = lease[4]
            if 6 in lease:
                conn.ip6, conn.ip6_prefix, conn.ip6_alloc = lease[6]
            conn.answered = True
            log.info("connection #%d: got %s", conn.number, conn.address_fields())
            self._configure_client(conn)

    def _configure_client(self, conn):
        """What cjdns does on the client when the gateway answers: the lease
        as address/alloc on the tun, and proto 52 routes for prefix < full
        length (through RouteGen, so exceptions apply)."""
        for ip, prefix, alloc in ((conn.ip4, conn.ip4_prefix, conn.ip4_alloc),
                                  (conn.ip6, conn.ip6_prefix, conn.ip6_alloc)):
            if ip is None:
                continue
            if self.tun_fd is not None:
                extra = ["nodad"] if ip.version == 6 else []
                run_ip("-%d" % ip.version, "addr", "replace", "%s/%d" % (ip, alloc),
                       "dev", self.opts.tun, *extra)
            if prefix < ip.max_prefixlen:
                # As issued, unmasked: "172.23.23.2/0" (README).
                self.routegen.add("prefix", ipaddress.ip_interface("%s/%d" % (ip, prefix)))
        err = self.routegen.commit(self.opts.tun, dry=self.tun_fd is None)
        if err:
            log.warning("RouteGen commit: %s", err)

    def _on_tunnel_packet(self, key, pkt):
        addrs = packet_addresses(pkt)
        if addrs is None:
            return
        src, dst = addrs
        entry = self.iptun.entry_for_traffic(key)
        if entry is not None:
            # Gateway side: the source must be the lease of the (first
            # matched) entry for that key, else the packet is dropped.
            if entry.leases(src):
                self._write_tun(pkt)
            else:
                log.debug("drop %s -> %s from %s: not leased by #%d", src, dst,
                          key_to_string(key), entry.number)
            return
        for conn in self.iptun.outgoing.values():
            if conn.key == key and conn.answered:
                # Client side, from our gateway: like the real node's
                # ip4FromNode/ip6FromNode, only what is addressed to the
                # lease (address/alloc) reaches the tun, and no IPv6 packet
                # from or to fc00::/8. A gateway cannot push packets for
                # other addresses (a LAN behind the client) into the client.
                if conn.leases(dst) and not (dst.version == 6 and (src in FC00 or dst in FC00)):
                    self._write_tun(pkt)
                else:
                    log.debug("drop %s -> %s from %s: not to the lease of #%d", src, dst,
                              key_to_string(key), conn.number)
                return
        log.debug("drop tunnel packet from %s: no connection", key_to_string(key))

    # -- tun -------------------------------------------------------------------

    def _write_tun(self, pkt):
        if self.tun_fd is None:
            return
        try:
            os.write(self.tun_fd, pkt)
        except OSError as e:
            log.debug("tun write: %s", e)

    def _on_tun(self):
        for _ in range(256):
            try:
                pkt = os.read(self.tun_fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    return
                raise
            try:
                self._from_tun(pkt)
            except Exception:
                log.exception("packet from tun")

    def _from_tun(self, pkt):
        addrs = packet_addresses(pkt)
        if addrs is None:
            return
        src, dst = addrs
        if dst.version == 6 and dst in FC00:
            if src != self.ip6:
                log.debug("drop fc packet with foreign source %s", src)
                return
            self._forward(dst.packed, INITIAL_TTL, lambda t: MAGIC + b"D" + bytes([t]) + pkt)
            return
        conn = self.iptun.outgoing_for_source(src)
        if conn is not None:           # client: into the tunnel to the gateway
            self._tunnel_send(conn.key, b"P", pkt)
            return
        entry = self.iptun.entry_for_destination(dst)
        if entry is not None:          # gateway: back to the client
            self._tunnel_send(entry.key, b"P", pkt)
            return
        log.debug("drop %s -> %s: no IpTunnel connection", src, dst)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="cjdns-sim.py",
        description="Simulated cjdroute v21.1 node for tests (admin API + IpTunnel over tun).")
    ap.add_argument("--admin", type=parse_hostport, default=parse_hostport("127.0.0.1:11234"),
                    metavar="HOST:PORT", help="UDP admin bind (default 127.0.0.1:11234)")
    ap.add_argument("--password", default="NONE",
                    help='admin password; "NONE" makes every request authenticated (default)')
    ap.add_argument("--key-file", metavar="PATH",
                    help="node public key; created if missing, so a restart keeps the identity")
    ap.add_argument("--tun", default="tun0", metavar="NAME", help="tun device name (default tun0)")
    ap.add_argument("--no-tun", action="store_true",
                    help="no tun device and no `ip` calls (admin-only tests without root)")
    ap.add_argument("--underlay", type=parse_hostport, metavar="IP:PORT",
                    help="UDP bind for peering (without it the node has no peers)")
    ap.add_argument("--peer", type=parse_hostport, action="append", default=[], metavar="IP:PORT",
                    help="outgoing peer (repeatable), a cjdroute.conf connectTo entry: its "
                         "address is a RouteGen exception; needs --underlay")
    ap.add_argument("--route-exception", type=ipaddress.ip_interface,
                    action="append", default=[], metavar="CIDR",
                    help="one more RouteGen exception (repeatable)")
    ap.add_argument("--ready-file", metavar="PATH",
                    help="write the pid here once admin and tun are up; removed on exit")
    ap.add_argument("--log", metavar="PATH", help="log file (default stderr)")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging (every packet)")
    ap.add_argument("--hello-interval", type=float, default=1.0, metavar="SECONDS",
                    help="hello period on the underlay (default 1)")
    ap.add_argument("--unresponsive-after", type=float, default=8.0, metavar="SECONDS",
                    help="silence before a peer is UNRESPONSIVE (default 8; real ~26)")
    ap.add_argument("--iptunnel-retry", type=float, default=10.0, metavar="SECONDS",
                    help="client re-asks the gateway for addresses this often (default 10)")
    ap.add_argument("--repeer-delay", type=float, default=0.0, metavar="SECONDS",
                    help="after a peer restarts, keep the peering down this long unless "
                         "resetPeering is called (default 0; the real node takes ~70)")
    ap.add_argument("--fake-peers", type=int, default=0, metavar="N",
                    help="list N more peers in peerStats only (documentation-range lladdrs, "
                         "ESTABLISHED, no traffic); for benchmarks")
    opts = ap.parse_args(argv)
    if not 0 <= opts.fake_peers <= 10000:
        ap.error("--fake-peers must be 0 to 10000")
    if opts.peer and not opts.underlay:
        ap.error("--peer needs --underlay")
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    handler = logging.FileHandler(opts.log) if opts.log else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s cjdns-sim[%(process)d] %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if opts.verbose else logging.INFO)
    try:
        node = Node(opts)
    except (KeyError_, OSError) as e:
        print("cjdns-sim: key file %s: %s" % (opts.key_file, e), file=sys.stderr)
        return 2
    try:
        node.setup()
        node.run()
    except CoreAbort:
        node.cleanup()
        logging.shutdown()
        os._exit(ABORT_STATUS)
    except OSError as e:
        log.error("%s", e)
        node.cleanup()
        return 1
    finally:
        node.cleanup()
    log.info("exited cleanly")
    return node.exit_status


if __name__ == "__main__":
    sys.exit(main())
