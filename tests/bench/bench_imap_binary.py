#!/usr/bin/env python3
"""FETCH BINARY of a big base64 part (prints figures; not a test).

    tests/bench/bench_imap_binary.py BUILD_DIR [--mb N] [--runs R]

Stores one message with an N MB (default 20) application/octet-stream
part in base64, then over one loopback connection times, R times each
(default 3): BINARY.SIZE[1], BINARY.PEEK[1] (decoded, streamed) and
BODY.PEEK[1] (the encoded bytes, for comparison), with MB/s of what was
sent.  Then a client asks BINARY.PEEK[1] and does not read for 2 s: the
server's resident memory growth while the reply waits (the decoded part
is streamed a piece at a time, never held whole).  Ends with the
server's CPU seconds.
"""
import argparse
import base64
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from imaptest import ImapSite  # noqa: E402

USER, PASS = "bench@example.test", "bench-pw"


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
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

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise SystemExit("connection closed")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def skip(self, n):
        """Drops the next n bytes without keeping them."""
        take = min(n, len(self.buf))
        self.buf = self.buf[take:]
        n -= take
        while n > 0:
            d = self.s.recv(min(n, 1 << 20))
            if not d:
                raise SystemExit("connection closed")
            n -= len(d)

    def send(self, text):
        self.n += 1
        t = b"b%d" % self.n
        self.s.sendall(t + b" " + text.encode() + b"\r\n")
        return t

    def cmd(self, text):
        """Returns (tagged line, literal bytes received)."""
        t = self.send(text)
        got = 0
        while True:
            ln = self.line()
            if ln.startswith(t + b" "):
                return ln, got
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m:
                self.skip(int(m.group(1)))
                got += int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--mb", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    site = ImapSite(a.build)
    try:
        data = os.urandom(a.mb * 1024 * 1024)
        enc = base64.encodebytes(data)
        msg = (b"From: b@example.test\nSubject: big\nMIME-Version: 1.0\n"
               b"Content-Type: application/octet-stream\n"
               b"Content-Transfer-Encoding: base64\n\n" + enc)
        proc = site.start_imapd()
        site.add_user(USER, PASS)
        site.add_mail(USER, msg)
        c = Conn(site.imap_port)
        c.cmd("LOGIN %s %s" % (USER, PASS))
        c.cmd("SELECT INBOX")
        print("part: %d MB decoded, %d bytes base64" % (a.mb, len(enc)))
        for what in ("BINARY.SIZE[1]", "BINARY.PEEK[1]", "BODY.PEEK[1]"):
            for r in range(a.runs):
                t0 = time.monotonic()
                c0 = cpu_s(proc.pid)
                tl, got = c.cmd("FETCH 1 (%s)" % what)
                dt = time.monotonic() - t0
                print("%-15s run %d: %.3f s (server CPU %.2f s), %d bytes, "
                      "%.1f MB/s  %s" % (
                          what, r + 1, dt, cpu_s(proc.pid) - c0, got,
                          got / dt / 1e6 if got else 0,
                          tl.split(b" ", 2)[1].decode()))
        base = rss_kb(proc.pid)
        slow = Conn(site.imap_port)
        slow.cmd("LOGIN %s %s" % (USER, PASS))
        slow.cmd("SELECT INBOX")
        slow.send("FETCH 1 (BINARY.PEEK[1])")
        time.sleep(2.0)
        print("resident memory growth, BINARY reply waiting on a client "
              "that does not read: %d kB (base %d kB)" %
              (rss_kb(proc.pid) - base, base))
        slow.s.close()
        print("server CPU: %.2f s" % cpu_s(proc.pid))
    finally:
        site.cleanup()


if __name__ == "__main__":
    main()
