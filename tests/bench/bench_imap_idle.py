#!/usr/bin/env python3
"""IMAP IDLE benchmark (prints figures; never asserts).

    tests/bench/bench_imap_idle.py BUILD_DIR [--connections N]
        [--users U] [--messages M] [--deliveries D] [--workers W]

Starts vellum-imapd (W worker processes) and vellum-smtpd on free
loopback ports with a temporary store of U users, each with M messages
in INBOX.  Then opens N connections (asyncio, from 127.0.0.1-16 so that
the per-address limit does not stop them), each LOGIN, SELECT INBOX,
IDLE, spread evenly over the users, and prints:

1. Memory: the resident (RSS) and proportional (PSS) size of every
   vellum-imapd process before and with the N idling sessions, in all
   and per session.
2. Notification latency: D messages sent by SMTP, one at a time, each to
   a user chosen in turn; for each, the time from the 250 reply to the
   end of DATA to the "* n EXISTS" of one idling session of that user
   (every idler of the user is woken; one is timed): median, p99, max.
"""
import argparse
import asyncio
import os
import resource
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site, descendants_of  # noqa: E402


def mem_kb(pid):
    """(RSS, PSS) in KiB of pid and its worker processes."""
    rss = pss = 0
    for p in [pid] + [c for c, _ in descendants_of(pid)]:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


class Idler:
    """One session idling on INBOX; exists is set when EXISTS arrives."""

    def __init__(self):
        self.r = self.w = None
        self.waiter = None

    async def start(self, port, user, pw, src):
        # From 127.0.0.x: the per-address limit is half the connections.
        self.r, self.w = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(src, 0))
        await self.r.readline()
        self.w.write(b"a LOGIN %s %s\r\nb SELECT INBOX\r\nc IDLE\r\n" % (
            user.encode(), pw.encode()))
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("closed during setup")
            if line.startswith(b"+ idling"):
                return
            if line.startswith((b"a NO", b"a BAD", b"b NO", b"b BAD")):
                raise RuntimeError(line)

    async def reader(self):
        while True:
            line = await self.r.readline()
            if not line:
                return
            if re.match(rb"\* \d+ EXISTS", line) and self.waiter and \
                    not self.waiter.done():
                self.waiter.set_result(time.monotonic())


async def smtp_send(port, rcpt, n):
    r, w = await asyncio.open_connection("127.0.0.1", port)

    async def reply():
        while True:
            line = await r.readline()
            if line[3:4] != b"-":
                return line

    await reply()
    for cmd in (b"EHLO bench.test", b"MAIL FROM:<bench@bench.test>",
                b"RCPT TO:<%s>" % rcpt.encode(), b"DATA"):
        w.write(cmd + b"\r\n")
        line = await reply()
        if line[:1] not in (b"2", b"3"):
            raise RuntimeError("%r: %r" % (cmd, line))
    w.write(b"Subject: idle bench %d\r\n\r\nbody\r\n.\r\n" % n)
    line = await reply()
    t = time.monotonic()
    if not line.startswith(b"250"):
        raise RuntimeError("end of DATA: %r" % line)
    w.write(b"QUIT\r\n")
    w.close()
    return t


async def run(a, imap_port, smtp_port, users, proc):
    idlers = []
    t0 = time.monotonic()
    before = mem_kb(proc.pid)
    for i in range(a.connections):
        u, p = users[i % len(users)]
        x = Idler()
        await x.start(imap_port, u, p, "127.0.0.%d" % (1 + i % 16))
        idlers.append(x)
    setup = time.monotonic() - t0
    tasks = [asyncio.ensure_future(x.reader()) for x in idlers]
    await asyncio.sleep(1.0)
    after = mem_kb(proc.pid)
    n = a.connections
    print("imap IDLE memory: %d sessions (LOGIN, SELECT INBOX of %d "
          "messages, IDLE) over %d users, %d process(es), opened in %.1f s"
          % (n, a.messages, len(users), a.workers, setup))
    print("  before: RSS %.1f MiB, PSS %.1f MiB" % (before[0] / 1024,
                                                    before[1] / 1024))
    print("  with them: RSS %.1f MiB, PSS %.1f MiB; per session RSS "
          "%.1f KiB, PSS %.1f KiB" % (
              after[0] / 1024, after[1] / 1024,
              (after[0] - before[0]) / n, (after[1] - before[1]) / n))

    lat = []
    for k in range(a.deliveries):
        ui = k % len(users)
        # the first idler of that user is timed
        x = idlers[ui]
        x.waiter = asyncio.get_running_loop().create_future()
        t250 = await smtp_send(smtp_port, users[ui][0], k)
        t_exists = await asyncio.wait_for(x.waiter, 30)
        lat.append((t_exists - t250) * 1000)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    print("imap IDLE latency: %d deliveries by SMTP, %d idle sessions "
          "(%d per user): SMTP 250 -> * n EXISTS" % (
              len(lat), n, n // len(users)))
    print("  median %.2f ms, p99 %.2f ms, max %.2f ms (an EXISTS before "
          "the 250 counts as 0)" % (
              max(statistics.median(lat), 0), max(p99, 0),
              max(lat[-1], 0)))
    for t in tasks:
        t.cancel()
    for x in idlers:
        x.w.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--deliveries", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 2 * a.connections + 1024)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    with Site(a.build, prefix="vellum-bench-imap-idle-") as site:
        imap_port, smtp_port = site.port(), site.port()
        site.write_conf({
            "imap": {"listen": "127.0.0.1:%d" % imap_port,
                     "workers": str(a.workers)},
            "smtp": {"listen": "127.0.0.1:%d" % smtp_port},
            "limits": {"connections_per_ip": str(a.connections + 100),
                       "connections": str(a.connections + 400)}})
        users = [("u%d@bench.test" % i, "pw%d" % i)
                 for i in range(a.users)]
        msgs = [b"Subject: m%d\r\nFrom: a@bench.test\r\n\r\nbody %d\r\n"
                % (i, i) for i in range(a.messages)]
        for u, p in users:
            site.add_user(u, p)
            site.add_mail(u, *msgs)
        proc = site.start("imapd")
        site.wait_port(imap_port, proc)
        smtpd = site.start("smtpd")
        site.wait_port(smtp_port, smtpd)
        try:
            asyncio.run(run(a, imap_port, smtp_port, users, proc))
        except Exception:
            print("vellum-imapd's log (end):\n%s" % proc.output()[-3000:])
            raise
        site.stop(smtpd)
        site.stop(proc)


if __name__ == "__main__":
    main()
