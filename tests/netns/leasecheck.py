#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Does cjdns hold exactly the lease store? For the fault tests.

    leasecheck.py --visp BIN --conf C --admin HOST:PORT --password PW
                  [--db PATH] [--expect N]

Reads the store with `visp lease list -a -j` and every IpTunnel entry of
the (simulated) cjdroute with listConnections + showConnection, then checks:
every current lease has exactly one entry, with its key and its addresses;
no entry names a key without a current lease; no two current leases share
an address. --db also runs SQLite's PRAGMA integrity_check on the store
(python's own sqlite3, read-only) and --expect the number of current leases.
Prints one line and exits 0 when all holds, else the problems and 1.
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim"))
from cjdns_admin import Admin  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--visp", required=True)
    ap.add_argument("--conf", required=True)
    ap.add_argument("--admin", default="127.0.0.1:11234")
    ap.add_argument("--password", default=None)
    ap.add_argument("--db", default=None)
    ap.add_argument("--expect", type=int, default=None)
    opts = ap.parse_args()
    problems = []

    if opts.db:
        con = sqlite3.connect("file:%s?mode=ro" % opts.db, uri=True)
        result = [r[0] for r in con.execute("PRAGMA integrity_check")]
        con.close()
        if result != ["ok"]:
            problems.append("integrity_check: %s" % "; ".join(result[:5]))

    out = subprocess.run([opts.visp, "-c", opts.conf, "lease", "list", "-a", "-j"],
                         capture_output=True, text=True)
    if out.returncode:
        print("leasecheck: visp lease list failed: %s" % out.stderr.strip())
        return 1
    leases = [l for l in json.loads(out.stdout) if l["current"]]
    if opts.expect is not None and len(leases) != opts.expect:
        problems.append("%d current leases, expected %d" % (len(leases), opts.expect))
    for fam in ("ipv4_address", "ipv6_address"):
        addrs = [l[fam] for l in leases if l[fam]]
        if len(addrs) != len(set(addrs)):
            problems.append("an %s is leased twice" % fam)

    host, port = opts.admin.rsplit(":", 1)
    admin = Admin(host, int(port), opts.password)
    conns = admin.call("IpTunnel_listConnections")["connections"]
    entries = {}
    for c in conns:
        e = admin.call("IpTunnel_showConnection", connection=c)
        if int(e.get("outgoing", 0)):
            continue
        entries.setdefault(e.get("key"), []).append((c, e))
    admin.close()

    for l in leases:
        mine = entries.pop(l["public_key"], [])
        if len(mine) != 1:
            problems.append("%s has %d entries in cjdns: %s" % (l["public_key"], len(mine),
                                                                 [c for c, _ in mine]))
            continue
        c, e = mine[0]
        want4 = l["ipv4_address"].split("/")[0] if l["ipv4_address"] else None
        want6 = l["ipv6_address"].split("/")[0] if l["ipv6_address"] else None
        if e.get("ip4Address") != want4 or e.get("ip6Address") != want6:
            problems.append("%s: cjdns entry %d has %s %s, the store %s %s" % (
                l["public_key"], c, e.get("ip4Address"), e.get("ip6Address"), want4, want6))
    for key, mine in entries.items():
        problems.append("cjdns entries %s for %s, which has no current lease"
                        % ([c for c, _ in mine], key))

    if problems:
        for p in problems[:20]:
            print("leasecheck: %s" % p)
        if len(problems) > 20:
            print("leasecheck: ... and %d more" % (len(problems) - 20))
        return 1
    print("leasecheck: %d current leases, one cjdns entry each, addresses match%s"
          % (len(leases), ", store intact" if opts.db else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
