#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A UDP proxy that damages cjdns admin traffic, for visp's fault tests.

Put it between visp (config "cjdns" port -> the proxy) and the simulator:

    python3 tests/sim/faultproxy.py --listen 127.0.0.1:11235 \\
        --target 127.0.0.1:11234 [faults] [--seed N] --ready-file F --log L &

Every datagram from a client goes to the target from a socket of that
client's own, and every reply back to the client, with these faults applied
to replies (never to requests, so that cjdns does execute what visp asked:
the hard case, a change made but its answer lost):

  --drop P          drop a reply with probability P
  --delay-ms N      hold every reply N ms (past visp's 1000 ms timeout, say)
  --garbage P       replace a reply with random bytes (not bencode)
  --truncate P      cut a reply in half (undecodable)
  --duplicate P     send a reply twice
  --mute TEXT:N     drop the first N replies that contain TEXT (say
                    "ip4Address:3": cjdns falls silent the moment a
                    connection gets its addresses, for all of visp's
                    tries of that call, and answers again after)
  --auth-failed P   answer an authenticated request (q=auth) itself with
                    cjdns's {"error": "Auth failed."} and its txid, without
                    forwarding it; cookie and other requests pass
  --seed N          seed of the random choices (default 1), so a run can be
                    repeated exactly

The target may go away and come back (a cjdroute restart): requests sent
meanwhile are lost, as they would be. --ready-file is written (with the
pid) once the proxy listens. SIGTERM or SIGINT stop it; it then logs what
it did. Standard library only (and cjdns_codec beside it).
"""

import argparse
import heapq
import os
import random
import selectors
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cjdns_codec import BencodeError, bdecode, bencode  # noqa: E402

MAX_CLIENTS = 256


def hostport(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def probability(text):
    p = float(text)
    if not 0 <= p <= 1:
        raise argparse.ArgumentTypeError("a probability is between 0 and 1: %r" % text)
    return p


class Proxy:
    def __init__(self, opts):
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.listen = self._socket(opts.listen)
        self.listen.bind(opts.listen)
        self.target = opts.target
        self.upstream = {}	# client address -> [socket towards the target, last use]
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.listen, selectors.EVENT_READ, None)
        self.later = []		# (due, seq, client, data): delayed replies
        self.seq = 0
        self.counts = {k: 0 for k in ("requests", "replies", "dropped", "delayed", "garbage",
                                      "truncated", "duplicated", "auth_failed", "lost", "muted")}
        self.mute_left = opts.mute[1] if opts.mute else 0
        self.running = True

    @staticmethod
    def _socket(addr):
        """Non-blocking: a read that select announced but that finds nothing
        must not hold the loop (and a SIGTERM) up."""
        fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setblocking(False)
        return s

    def _upstream_for(self, client):
        """The socket of this client towards the target. Every visp process
        is a new client (a new port): sockets idle for a while are closed."""
        now = time.monotonic()
        u = self.upstream.get(client)
        if u is None:
            if len(self.upstream) >= MAX_CLIENTS:
                self._forget_idle(now)
            s = self._socket(self.target)
            s.connect(self.target)
            u = self.upstream[client] = [s, now]
            self.sel.register(s, selectors.EVENT_READ, client)
        u[1] = now
        return u[0]

    def _forget_idle(self, now):
        idle = sorted(self.upstream.items(), key=lambda kv: kv[1][1])
        for client, (s, last) in idle[:max(len(idle) // 2, len(idle) - MAX_CLIENTS + 1)]:
            self.sel.unregister(s)
            s.close()
            del self.upstream[client]

    def _auth_failed(self, data):
        """The reply cjdns gives a request it cannot authenticate, or None."""
        try:
            req = bdecode(data)
        except BencodeError:
            return None
        if not isinstance(req, dict) or req.get(b"q") != b"auth":
            return None
        reply = {b"error": b"Auth failed."}
        if isinstance(req.get(b"txid"), bytes):
            reply[b"txid"] = req[b"txid"]
        return bencode(reply)

    def _reply(self, data, client):
        try:
            self.listen.sendto(data, client)
        except OSError:
            self.counts["lost"] += 1	# a full buffer: UDP may lose it anyway

    def on_request(self):
        try:
            data, client = self.listen.recvfrom(65536)
        except BlockingIOError:
            return
        self.counts["requests"] += 1
        if self.opts.auth_failed and self.rng.random() < self.opts.auth_failed:
            reply = self._auth_failed(data)
            if reply is not None:
                self.counts["auth_failed"] += 1
                self._reply(reply, client)
                return
        try:
            self._upstream_for(client).send(data)
        except OSError:
            self.counts["lost"] += 1	# the target is away (restarting)

    def on_reply(self, s, client):
        try:
            data = s.recv(70000)
        except BlockingIOError:
            return
        except OSError:
            self.counts["lost"] += 1	# ICMP unreachable from an earlier send
            return
        self.counts["replies"] += 1
        r = self.rng.random
        o = self.opts
        if self.mute_left and o.mute[0] in data:
            self.mute_left -= 1
            self.counts["muted"] += 1
            return
        if o.drop and r() < o.drop:
            self.counts["dropped"] += 1
            return
        if o.garbage and r() < o.garbage:
            self.counts["garbage"] += 1
            data = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 64)))
        elif o.truncate and r() < o.truncate:
            self.counts["truncated"] += 1
            data = data[:len(data) // 2]
        copies = 1
        if o.duplicate and r() < o.duplicate:
            self.counts["duplicated"] += 1
            copies = 2
        for _ in range(copies):
            if o.delay_ms:
                self.counts["delayed"] += 1
                self.seq += 1
                heapq.heappush(self.later, (time.monotonic() + o.delay_ms / 1000, self.seq,
                                            client, data))
            else:
                self._reply(data, client)

    def flush_due(self):
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            _, _, client, data = heapq.heappop(self.later)
            self._reply(data, client)

    def run(self):
        while self.running:
            timeout = 1.0
            if self.later:
                timeout = max(0.0, min(timeout, self.later[0][0] - time.monotonic()))
            for key, _ in self.sel.select(timeout):
                if key.fileobj is self.listen:
                    self.on_request()
                else:
                    self.on_reply(key.fileobj, key.data)
            self.flush_due()


def mute(text):
    what, _, n = text.rpartition(":")
    if not what or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError("TEXT:N with N >= 1: %r" % text)
    return what.encode(), int(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Faults apply to replies only; P is a probability.")
    ap.add_argument("--listen", type=hostport, required=True, metavar="HOST:PORT",
                    help="where visp sends its admin requests")
    ap.add_argument("--target", type=hostport, required=True, metavar="HOST:PORT",
                    help="the cjdns (simulator) admin address")
    ap.add_argument("--drop", type=probability, default=0.0, metavar="P", help="lose a reply")
    ap.add_argument("--delay-ms", type=int, default=0, metavar="N", help="hold every reply N ms")
    ap.add_argument("--garbage", type=probability, default=0.0, metavar="P",
                    help="replace a reply with random bytes")
    ap.add_argument("--truncate", type=probability, default=0.0, metavar="P",
                    help="cut a reply in half")
    ap.add_argument("--duplicate", type=probability, default=0.0, metavar="P",
                    help="send a reply twice")
    ap.add_argument("--mute", type=mute, metavar="TEXT:N",
                    help="drop the first N replies that contain TEXT")
    ap.add_argument("--auth-failed", type=probability, default=0.0, metavar="P",
                    help='answer an authenticated request with "Auth failed." itself')
    ap.add_argument("--seed", type=int, default=1, help="seed of the random choices (default 1)")
    ap.add_argument("--ready-file", metavar="PATH", help="written with the pid once listening")
    ap.add_argument("--log", metavar="PATH", help="log file (default stderr)")
    opts = ap.parse_args()
    log = open(opts.log, "a") if opts.log else sys.stderr
    proxy = Proxy(opts)

    def stop(signum, frame):
        proxy.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    faults = " ".join("%s=%s" % (k, getattr(opts, k)) for k in
                      ("drop", "delay_ms", "garbage", "truncate", "duplicate", "auth_failed", "mute")
                      if getattr(opts, k))
    print("faultproxy %d: %s:%d -> %s:%d, seed %d, %s" % (os.getpid(), *opts.listen, *opts.target,
          opts.seed, faults or "no faults"), file=log, flush=True)
    if opts.ready_file:
        with open(opts.ready_file + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(opts.ready_file + ".tmp", opts.ready_file)
    proxy.run()
    print("faultproxy %d: %s" % (os.getpid(), " ".join("%s=%d" % kv for kv in proxy.counts.items())),
          file=log, flush=True)
    if opts.ready_file:
        try:
            os.unlink(opts.ready_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
