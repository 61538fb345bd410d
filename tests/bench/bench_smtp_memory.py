#!/usr/bin/env python3
"""SMTP memory benchmark (prints figures; not a test).

    tests/bench/bench_smtp_memory.py BUILD_DIR [--sessions 100]
        [--size 19922944] [--only default|4M]

Starts vellum-smtpd on a free loopback port with a temporary store and
sends SESSIONS messages of SIZE bytes (19 MiB: under the default
max_message_size of 20,480,000) at once: every session gets its 354 before
any sends, and each ends its data only when all have sent their bytes, so
the server sees them all in flight together.  Twice: with the default
[smtpd] settings, then with memory_limit = 4M ([limits]
connections_per_ip is raised to let the sessions in; nothing else is set,
so the same script runs against older builds).

For each run: smtpd's peak resident memory (VmHWM, /proc/PID/status):
idle, once every session has sent its bytes (receiving; one second after
the last byte left the clients) and at the end (receiving + delivering),
the peak of its anonymous memory (RssAnon sampled every 20 ms: VmHWM
also counts mapped file pages, LMDB's data file and a spool file being
stored, which the kernel can drop), the replies (250 stored, 452 refused,
other), the seconds from the first byte of data to the last reply (without the
one-second pause before the ends) and of them the seconds the clients
took to send the bytes, and the data
dir's allocated size.  Messages differ per session and per MiB (a line
with the session and chunk number), and compress like text does.
"""
import argparse
import base64
import os
import random
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

SENDER = "bench@remote.test"
MIB = 1024 * 1024


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def allocated(path):
    n = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                n += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return n


class Client:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise EOFError("connection closed")
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b" ".join(lines)

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()


def chunks(i, size):
    """The message of session i in pieces of about 1 MiB (generated as
    sent: the client does not hold SESSIONS x SIZE bytes)."""
    rng = random.Random(i)
    block = base64.encodebytes(rng.randbytes(48 * 1024)).replace(
        b"\n", b"\r\n")
    yield (b"From: <%s>\r\nSubject: memory bench %d\r\n\r\n" %
           (SENDER.encode(), i))
    sent = 0
    k = 0
    while sent < size:
        head = b"session %d chunk %d %s\r\n" % (i, k, b"-" * (k % 61))
        piece = head + block * (MIB // len(block))
        piece = piece[:min(len(piece), size - sent)]
        if not piece.endswith(b"\r\n"):
            piece = piece[:piece.rfind(b"\r\n") + 2] if b"\r\n" in \
                piece else b""
            if not piece:
                break
        yield piece
        sent += len(piece)
        k += 1


def run(build, name, smtpd, sessions, size):
    with Site(build, prefix="vellum-bench-smtpmem-") as site:
        port = site.port()
        site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port},
                         "smtpd": smtpd,
                         "limits": {"connections_per_ip": str(sessions + 50),
                                    "connections": str(sessions + 100)}})
        users = ["u%d@bench.test" % i for i in range(10)]
        for u in users:
            site.add_user(u, "pw")
        proc = site.start("smtpd")
        site.wait_port(port, proc)
        idle = status_kb(proc.pid, "VmHWM")
        size0 = allocated(site.data)
        barrier = threading.Barrier(sessions + 1)
        results = [None] * sessions

        def one(i):
            try:
                c = Client(port)
                c.reply()
                c.cmd("EHLO bench.test")
                c.cmd("MAIL FROM:<%s>" % SENDER)
                c.cmd("RCPT TO:<%s>" % users[i % len(users)])
                code, _ = c.cmd("DATA")
                barrier.wait()
                if code != 354:
                    results[i] = (code, b"DATA")
                    barrier.wait()
                    return
                for piece in chunks(i, size):
                    c.s.sendall(piece)
                barrier.wait()
                c.s.sendall(b".\r\n")
                results[i] = c.reply()
                c.cmd("QUIT")
                c.s.close()
            except (OSError, EOFError, threading.BrokenBarrierError) as e:
                results[i] = (0, repr(e).encode())
                barrier.abort()

        # VmHWM also counts the pages of files the server maps (LMDB's
        # data file, a spool file being stored): sample the anonymous
        # (heap) memory too.
        anon = {"peak": 0, "stop": False}

        def sampler():
            while not anon["stop"]:
                anon["peak"] = max(anon["peak"],
                                   status_kb(proc.pid, "RssAnon"))
                time.sleep(0.02)

        st = threading.Thread(target=sampler)
        st.start()
        ts = [threading.Thread(target=one, args=(i,))
              for i in range(sessions)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.monotonic()
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        # Every session has sent its bytes, none its end yet.
        t_sent = time.monotonic() - t0
        time.sleep(1)
        received = status_kb(proc.pid, "VmHWM")
        for t in ts:
            t.join()
        secs = time.monotonic() - t0 - 1
        peak = status_kb(proc.pid, "VmHWM")
        anon["stop"] = True
        st.join()
        ok = sum(1 for r in results if r and r[0] == 250)
        full = sum(1 for r in results if r and r[0] == 452)
        other = sessions - ok - full
        print("%-8s %s: %d x %.1f MiB: VmHWM %.1f MiB (idle %.1f, "
              "%.1f before the ends of data), peak RssAnon %.1f MiB, "
              "accepted %d, 452 %d, other %d, %.1f s (%.1f s sending), "
              "data dir +%.0f MB" % (
                  name, " ".join("%s=%s" % kv for kv in smtpd.items()) or
                  "defaults", sessions, size / MIB, peak / 1024,
                  idle / 1024, received / 1024, anon["peak"] / 1024, ok,
                  full, other, secs, t_sent,
                  (allocated(site.data) - size0) / 1e6))
        if other:
            print("  other replies: %s" % sorted(set(
                r[1][:80] if r else b"none" for r in results
                if not r or r[0] not in (250, 452))))
        site.stop(proc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--size", type=int, default=19 * MIB)
    ap.add_argument("--only", choices=("default", "4M"))
    a = ap.parse_args()
    if a.only in (None, "default"):
        run(a.build, "default", {}, a.sessions, a.size)
    if a.only in (None, "4M"):
        run(a.build, "4M", {"memory_limit": str(4 * MIB)}, a.sessions,
            a.size)


if __name__ == "__main__":
    main()
