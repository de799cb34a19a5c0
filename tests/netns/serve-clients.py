#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""The clients of tests/netns/serve.sh, against lease serve's socket mode.

    serve-clients.py slowloris PORT SECONDS   one byte a second; prints the status
    serve-clients.py flood PORT N HOLD        N GET /nameservers at once while HOLD
                                              silent connections sit; prints the
                                              statuses' counts
    serve-clients.py listen PORT PID-MODE CMD...
                                              CMD with a listening socket as fd 3,
                                              LISTEN_FDS=1 and LISTEN_PID its own
                                              pid (PID-MODE "own") or 1 ("other");
                                              prints whether a request was answered
"""

import collections
import os
import socket
import subprocess
import sys
import threading
import time


def status_of(data):
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def read_all(s):
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def get(port, timeout=30):
    with socket.create_connection(("::1", port), timeout=timeout) as s:
        s.sendall(b"GET /nameservers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return status_of(read_all(s))


def cmd_slowloris(port, seconds):
    req = b"GET /nameservers HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("::1", int(port)), timeout=30) as s:
        try:
            for i in range(int(seconds)):
                s.send(req[i % len(req):i % len(req) + 1])
                time.sleep(1)
        except OSError:
            pass	# answered and closed
        try:
            print(status_of(read_all(s)))
        except OSError:
            print(0)


def cmd_flood(port, n, hold):
    port, counts, lock = int(port), collections.Counter(), threading.Lock()
    silent = []
    for _ in range(int(hold)):
        silent.append(socket.create_connection(("::1", port), timeout=30))

    def one():
        try:
            st = get(port)
        except OSError:
            st = 0
        with lock:
            counts[st] += 1

    threads = [threading.Thread(target=one) for _ in range(int(n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in silent:
        s.close()
    print(" ".join("%d:%d" % kv for kv in sorted(counts.items())))


def cmd_listen(port, pid_mode, *cmd):
    ls = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("::1", int(port)))
    ls.listen(16)
    os.dup2(ls.fileno(), 9, inheritable=True)
    # LISTEN_PID is the pid of the process that reads it: the shell's, which execs CMD.
    pid = "$$" if pid_mode == "own" else "1"
    proc = subprocess.Popen(["sh", "-c", 'exec 3<&9 9<&-; LISTEN_PID=%s LISTEN_FDS=1 exec "$@"'
                             % pid, "sh"] + list(cmd), pass_fds=(9,),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    os.close(9)
    try:
        st = get(int(port), timeout=3)
    except OSError:
        st = 0
    ls.close()
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    print("answered %d exit %d" % (st, proc.returncode))
    sys.stderr.write(err.decode(errors="replace"))


if __name__ == "__main__":
    cmds = {"slowloris": cmd_slowloris, "flood": cmd_flood, "listen": cmd_listen}
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
