#!/usr/bin/env python3
"""LIST over many mailboxes (prints figures; never asserts).

    tests/bench/bench_imap_list.py BUILD_DIR [--mailboxes N] [--runs R]

Starts vellum-imapd on a free loopback port with a temporary store in
which one user has N mailboxes (default 10,000: N/100 top-level ones with
99 children each, made by the store-helper in one transaction), then
times each command R times (default 5) on one kept session and prints
the median wall time (client included) and the server CPU per command
(the mean over the runs, from /proc/<pid>/stat, in clock ticks):

    LIST "" "*"                      every name, children, special-use
    LIST "" "%"                      the top level
    LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)
    LSUB "" "*"
    LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))
    LIST "" "*f*f...*b"              the longest pattern that can match
    CREATE                           500 pipelined, each durable

The imapd RSS after the runs is printed too.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from imaptest import ImapSite  # noqa: E402

USER, PW = "bench@example.test", "secret"


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.buf = b""
        self.n = 0
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(1 << 20)
            if not d:
                raise SystemExit("connection closed")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        """Sends one command; returns (tagged line, untagged count)."""
        self.n += 1
        tag = b"t%d" % self.n
        self.s.sendall(tag + b" " + text.encode() + b"\r\n")
        count = 0
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise SystemExit("%s: %r" % (text, line))
                return count
            count += 1

    def pipeline(self, cmds):
        tags = []
        out = b""
        for c in cmds:
            self.n += 1
            tags.append(b"t%d" % self.n)
            out += tags[-1] + b" " + c.encode() + b"\r\n"
        self.s.sendall(out)
        for tag in tags:
            while not self.line().startswith(tag + b" "):
                pass


def bench(site, n, runs):
    helper = os.path.join(site.build, "tests", "integration", "store-helper")
    site.start_imapd()
    site.add_user(USER, PW)
    names = []
    for i in range(max(1, n // 100)):
        names.append("f%04d" % i)
        names += ["f%04d/s%02d" % (i, k) for k in range(1, 100)]
    names = names[:n]
    t0 = time.monotonic()
    p = subprocess.run([helper, site.data, "mailboxes", USER],
                       input="\n".join(names).encode(),
                       capture_output=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit("store-helper: %s" % p.stderr.decode())
    print("%d mailboxes made by store-helper in one transaction: %.2f s" %
          (len(names), time.monotonic() - t0))

    pid = site.imapd.popen.pid
    c = Conn(site.imap_port)
    c.cmd("LOGIN %s %s" % (USER, PW))
    cases = [
        ('LIST "" "*"', 'LIST "" "*"'),
        ('LIST "" "%"', 'LIST "" "%"'),
        ("LIST (SUBSCRIBED RECURSIVEMATCH) % RETURN (CHILDREN)",
         'LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)'),
        ('LSUB "" "*"', 'LSUB "" "*"'),
        ("LIST * RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))",
         'LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))'),
        ('LIST "" "*f*f...*b" (1,022 bytes)',
         'LIST "" "%s"' % ("*f" * 510 + "*b")),
    ]
    for label, cmd in cases:
        walls, lines = [], 0
        c0 = cpu_s(pid)
        for _ in range(runs):
            t0 = time.monotonic()
            lines = c.cmd(cmd)
            walls.append(time.monotonic() - t0)
        cpu = (cpu_s(pid) - c0) / runs
        print("%-52s %6d lines  median %8.1f ms  server CPU %7.1f ms" % (
            label, lines, 1000 * statistics.median(walls), 1000 * cpu))
    creates = ["CREATE new%04d" % i for i in range(500)]
    c0, t0 = cpu_s(pid), time.monotonic()
    c.pipeline(creates)
    wall = time.monotonic() - t0
    print("500 CREATE pipelined (durable each): %.0f/s, server CPU %.2f "
          "ms each" % (500 / wall, 1000 * (cpu_s(pid) - c0) / 500))
    print("vellum-imapd RSS after the runs: %d KiB" % rss_kib(pid))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--mailboxes", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    site = ImapSite(a.build)
    try:
        bench(site, a.mailboxes, a.runs)
    finally:
        site.cleanup()


if __name__ == "__main__":
    main()
