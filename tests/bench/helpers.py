#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Python half of tests/bench/run: keys, floors, load, duplicate check.

    helpers.py keys N                       N "key fc-address" lines
    helpers.py admin HOST:PORT PW N         admin round trips (µs, medians of N)
    helpers.py fsync DIR N                  one durable write (µs, median of N)
    helpers.py load PORT KEYS CONC          POST /lease for every key, CONC at a time
                                            (and the latencies' median and 99th percentile)
    helpers.py dups HOST:PORT PW < list     store (visp lease list -j) vs cjdns

Timings are printed as "name value" lines for the shell to read.
"""

import json
import os
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
import cjdns_codec as codec  # noqa: E402
from cjdns_admin import Admin  # noqa: E402


def new_key():
    return codec.key_to_string(codec.generate_key())


def median_us(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t) / 1000)
    return statistics.median(times)


def admin_of(hostport, pw):
    host, port = hostport.rsplit(":", 1)
    return Admin(host.strip("[]"), int(port), pw)


def cmd_keys(n):
    for _ in range(int(n)):
        k = new_key()
        print(k, codec.address_of_key(k))


def cmd_admin(hostport, pw, n):
    """The admin floors of shared/cjdns/README.md "Timings seen", measured
    against this cjdns with a Python client (so a little high)."""
    n = int(n)
    a = admin_of(hostport, pw)

    def fresh_cookie():
        a._cookie = None
        a.call_raw("Core_pid")

    print("ping_us %.0f" % median_us(lambda: a.call_raw("ping"), n))
    print("cookie_auth_us %.0f" % median_us(fresh_cookie, n))
    print("auth_us %.0f" % median_us(lambda: a.call_raw("Core_pid"), n))
    keys = [new_key() for _ in range(n)]
    conns = []

    def allow():
        r = a.call_raw("IpTunnel_allowConnection", {
            "publicKeyOfAuthorizedNode": keys[len(conns)].encode(),
            "ip4Address": b"10.%d.%d.%d" % (len(conns) >> 16, len(conns) >> 8 & 255, len(conns) & 255)})
        conns.append(r[b"connection"])
    print("allow_us %.0f" % median_us(allow, n))
    for c in conns:
        a.call_raw("IpTunnel_removeConnection", {"connection": c})


def cmd_fsync(directory, n):
    """A SQLite-commit-sized write made durable: pwrite 512 bytes + fdatasync."""
    path = os.path.join(directory, "bench-fsync")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    block = os.urandom(512)
    try:
        print("fsync_us %.0f" % median_us(lambda: (os.pwrite(fd, block, 0), os.fdatasync(fd)),
                                          int(n)))
    finally:
        os.close(fd)
        os.unlink(path)


def post_lease(port, key, addr):
    """POST /lease from the key's own address; the HTTP status and body."""
    body = json.dumps({"public_key": key}).encode()
    req = (b"POST /lease HTTP/1.1\r\nHost: [::1]:%d\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (port, len(body), body))
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        s.connect(("::1", port))
        s.sendall(req)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def cmd_load(port, keys_file, conc):
    with open(keys_file) as f:
        todo = [line.split() for line in f if line.strip()]
    port, lock, results, latencies = int(port), threading.Lock(), [], []

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                key, addr = todo.pop()
            t0 = time.perf_counter()
            try:
                status, body = post_lease(port, key, addr)
            except OSError as e:
                status, body = 0, str(e).encode()
            with lock:
                results.append((status, body))
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker) for _ in range(int(conc))]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    ok = [json.loads(b) for s, b in results if s == 200]
    bad = [(s, b[:200]) for s, b in results if s != 200]
    v4 = {o["ipv4_address"] for o in ok}
    print("requests %d" % len(results))
    print("ok %d" % len(ok))
    print("distinct_v4 %d" % len(v4))
    print("seconds %.3f" % elapsed)
    latencies.sort()
    print("p50_ms %.1f" % (latencies[len(latencies) // 2] * 1000 if latencies else 0))
    print("p99_ms %.1f" % (latencies[len(latencies) * 99 // 100] * 1000 if latencies else 0))
    for s, b in bad[:5]:
        print("failed %d %r" % (s, b), file=sys.stderr)


def cmd_dups(hostport, pw):
    """Every lease of the store once in cjdns, with its address; no key,
    address or cjdns entry twice. Prints the counts, exits 1 on a problem."""
    leases = json.load(sys.stdin)
    a = admin_of(hostport, pw)
    conns = a.call("IpTunnel_listConnections")["connections"]
    entries = [a.call("IpTunnel_showConnection", connection=c) for c in conns]
    problems = []
    for field in ("public_key", "ipv4_address", "ipv6_address"):
        values = [l[field] for l in leases if l.get(field)]
        if len(values) != len(set(values)):
            problems.append("duplicate %s in the store" % field)
    keys = [e["key"] for e in entries]
    if len(keys) != len(set(keys)):
        problems.append("%d duplicate keys in cjdns" % (len(keys) - len(set(keys))))
    by_key = {e["key"]: e for e in entries}
    for l in leases:
        e = by_key.get(l["public_key"])
        want4 = (l.get("ipv4_address") or "").split("/")[0] or None
        if not e or e.get("ip4Address") != want4:
            problems.append("lease of %s not in cjdns as stored" % l["public_key"])
            break
    print("leases %d" % len(leases))
    print("cjdns_entries %d" % len(entries))
    for p in problems:
        print("problem:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    cmds = {"keys": cmd_keys, "admin": cmd_admin, "fsync": cmd_fsync, "load": cmd_load,
            "dups": cmd_dups}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
