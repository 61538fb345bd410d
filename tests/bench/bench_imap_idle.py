#!/usr/bin/env python3
"""IMAP IDLE benchmark (prints figures; not a test).

    tests/bench/bench_imap_idle.py BUILD_DIR [CORPUS_DIR] [--sessions N]
        [--messages M] [--users U] [--latency-sessions L] [--deliveries D]

Memory: U users each hold the first M messages of the corpus (default
../shared/corpus/spamassassin-public; generated messages when it is
absent) in INBOX; N sessions (spread over the users and over the source
addresses 127.0.0.2..) log in, SELECT INBOX and IDLE.  Prints the imapd
processes' total RSS and PSS with every session idling, and per session.

Latency: L sessions of one user IDLE on its INBOX; D messages are sent
to that user through vellum-smtpd one after the other; for each, the
time from the SMTP 250 reply to each idling session's "* n EXISTS".
Prints the median and the 99th percentile over all sessions and
deliveries (negative: the EXISTS came before the client read the 250).
"""
import argparse
import asyncio
import glob
import os
import resource
import smtplib
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site, descendants_of  # noqa: E402

PW = "bench-pw"


def mem_kb(pid):
    """(RSS, PSS) in KiB of one process."""
    rss = pss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def imapd_mem(pid):
    pids = [pid] + [p for p, _ in descendants_of(pid)]
    rss = pss = 0
    for p in pids:
        r, s = mem_kb(p)
        rss += r
        pss += s
    return rss, pss, len(pids)


class Session:
    def __init__(self):
        self.r = self.w = None
        self.n = 0

    async def open(self, port, src, user):
        self.r, self.w = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=(src, 0), limit=1 << 20)
        await self.r.readline()
        await self.cmd("a LOGIN %s %s" % (user, PW))
        await self.cmd("b SELECT INBOX")
        self.w.write(b"c IDLE\r\n")
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("closed before IDLE")
            if line.startswith(b"+"):
                return

    async def cmd(self, text):
        tag = text.split()[0].encode()
        self.w.write(text.encode() + b"\r\n")
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("closed during %s" % text)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError("%s: %r" % (text, line))
                return

    async def wait_exists(self):
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("closed while idling")
            if line.endswith(b" EXISTS\r\n"):
                return time.monotonic()

    def close(self):
        if self.w:
            self.w.close()


async def open_many(port, users, n, conc=200):
    sem = asyncio.Semaphore(conc)
    out = []

    async def one(i):
        async with sem:
            s = Session()
            src = "127.0.0.%d" % (2 + i % 50)
            await s.open(port, src, users[i % len(users)])
            out.append(s)
    await asyncio.gather(*(one(i) for i in range(n)))
    return out


async def latency(port, smtp_port, user, n, deliveries):
    sessions = await open_many(port, [user], n)
    samples = []
    loop = asyncio.get_running_loop()
    for d in range(deliveries):
        waits = [asyncio.ensure_future(s.wait_exists()) for s in sessions]

        def send():
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as c:
                c.sendmail("bench@remote.test", [user],
                           "Subject: idle %d\r\n\r\nping\r\n" % d)
            return time.monotonic()
        t250 = await loop.run_in_executor(None, send)
        done = await asyncio.gather(*waits)
        samples += [(t - t250) * 1000 for t in done]
    for s in sessions:
        s.close()
    return samples


def messages(corpus, m):
    files = sorted(glob.glob(os.path.join(corpus, "*", "*.eml")))[:m]
    out = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        out.append(data[data.index(b"\n") + 1:])
    while len(out) < m:
        out.append(("From: gen@bench.test\r\nSubject: generated %d\r\n\r\n"
                    "body %d\r\n" % (len(out), len(out))).encode())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?",
                    default="../shared/corpus/spamassassin-public")
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--latency-sessions", type=int, default=1000)
    ap.add_argument("--deliveries", type=int, default=20)
    a = ap.parse_args()

    want = a.sessions * 2 + 2000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError) as e:
        print("cannot raise the descriptor limit to %d (%s): the figures "
              "may stop short" % (want, e))
    msgs = messages(a.corpus, a.messages)
    with Site(a.build, prefix="vellum-bench-idle-") as site:
        port, smtp_port = site.port(), site.port()
        site.write_conf({
            "imap": {"listen": "127.0.0.1:%d" % port},
            "smtp": {"listen": "127.0.0.1:%d" % smtp_port},
            "limits": {"connections": str(a.sessions + 100),
                       "connections_per_ip": str(a.sessions + 100),
                       "idle_timeout": "3600"}})
        users = ["u%d@bench.test" % i for i in range(a.users)]
        for u in users:
            site.add_user(u, PW)
            site.add_mail(u, *msgs)
        imapd = site.start("imapd")
        smtpd = site.start("smtpd")
        site.wait_port(port, imapd)
        site.wait_port(smtp_port, smtpd)

        samples = asyncio.run(latency(port, smtp_port, users[0],
                                      a.latency_sessions, a.deliveries))
        samples.sort()
        print("IDLE latency, SMTP 250 -> * n EXISTS, %d sessions x %d "
              "deliveries:" % (a.latency_sessions, a.deliveries))
        print("  median %.2f ms, p99 %.2f ms, max %.2f ms" % (
            statistics.median(samples),
            samples[min(len(samples) - 1, int(len(samples) * 0.99))],
            samples[-1]))

        base_rss, base_pss, _ = imapd_mem(imapd.pid)

        async def hold():
            t0 = time.monotonic()
            ss = await open_many(port, users, a.sessions)
            dt = time.monotonic() - t0
            rss, pss, nproc = imapd_mem(imapd.pid)
            print("memory: %d sessions (%d users x %d-message INBOX) "
                  "logged in, selected, idling; opened in %.1f s" % (
                      len(ss), a.users, a.messages, dt))
            print("  imapd (%d process%s): RSS %.1f MiB (%.1f KiB per "
                  "session over the %.1f MiB before), PSS %.1f MiB" % (
                      nproc, "" if nproc == 1 else "es", rss / 1024,
                      (rss - base_rss) / max(1, len(ss)), base_rss / 1024,
                      pss / 1024))
            for s in ss:
                s.close()
        asyncio.run(hold())


if __name__ == "__main__":
    main()
