#!/usr/bin/env python3
"""POP3 benchmark (prints figures; not a test).

    tests/bench/bench_pop3.py BUILD_DIR [CORPUS_DIR] [--clients N]
        [--messages M] [--seconds S]

Starts vellum-pop3d on a free loopback port with a temporary store in
which each of N users holds the first M messages of the corpus (default
../shared/corpus/spamassassin-public), then runs N concurrent clients
(asyncio, one per user: the maildrop lock allows one session per user)
for S seconds, each repeating login (USER/PASS), STAT, RETR of every
message, QUIT.  Prints sessions/s, messages/s and MB/s, then the
server's resident memory before and with 1,000 idle connections open.
"""
import argparse
import asyncio
import glob
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def corpus_messages(corpus, count):
    """The first count *.eml files under corpus/*/ (sorted), each without
    its first line (the mbox "From " envelope); exits if there are none."""
    files = sorted(glob.glob(os.path.join(corpus, "*", "*.eml")))
    if not files:
        sys.exit("no *.eml files under %s" % corpus)
    msgs = []
    for f in files[:count]:
        with open(f, "rb") as fh:
            data = fh.read()
        msgs.append(data[data.index(b"\n") + 1:])
    return msgs


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def session(port, user, password, stats):
    r, w = await asyncio.open_connection("127.0.0.1", port)

    async def cmd(text):
        w.write(text.encode() + b"\r\n")
        line = await r.readline()
        if not line.startswith(b"+OK"):
            raise RuntimeError("%s: %r" % (text.split()[0], line))
        return line

    async def multi():
        n = 0
        while True:
            line = await r.readline()
            if line == b".\r\n":
                return n
            n += len(line)

    await r.readline()
    await cmd("USER " + user)
    await cmd("PASS " + password)
    count = int((await cmd("STAT")).split()[1])
    for i in range(1, count + 1):
        await cmd("RETR %d" % i)
        stats["bytes"] += await multi()
        stats["msgs"] += 1
    await cmd("QUIT")
    w.close()
    stats["sessions"] += 1


async def client(port, user, password, stats, until):
    while time.monotonic() < until:
        await session(port, user, password, stats)


async def load(port, users, seconds):
    stats = {"sessions": 0, "msgs": 0, "bytes": 0}
    t0 = time.monotonic()
    await asyncio.gather(*(client(port, u, p, stats, t0 + seconds)
                           for u, p in users))
    return stats, time.monotonic() - t0


async def idle(port, n):
    conns = []
    for _ in range(n):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await r.readline()
        conns.append(w)
    return conns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?",
                    default="../shared/corpus/spamassassin-public")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--idle", type=int, default=1000)
    a = ap.parse_args()

    msgs = corpus_messages(a.corpus, a.messages)
    with Site(a.build, prefix="vellum-bench-pop3-") as site:
        port = site.port()
        site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % port},
                         "limits": {"connections_per_ip": str(a.idle + 100),
                                    "connections": str(a.idle + 1000)}})
        users = [("u%d@bench.test" % i, "pw%d" % i)
                 for i in range(a.clients)]
        for u, p in users:
            site.add_user(u, p)
            site.add_mail(u, *msgs)
        proc = site.start("pop3d")
        site.wait_port(port, proc)
        base = rss_kb(proc.pid)
        cpu0 = cpu_s(proc.pid)
        stats, dt = asyncio.run(load(port, users, a.seconds))
        cpu = cpu_s(proc.pid) - cpu0
        print("pop3 load: %d clients x %d messages (%.1f MB per maildrop) "
              "for %.1f s" % (a.clients, len(msgs),
                              sum(len(m) for m in msgs) / 1e6, dt))
        print("  sessions/s: %.1f  (login, STAT, RETR all, QUIT)"
              % (stats["sessions"] / dt))
        print("  messages/s: %.0f" % (stats["msgs"] / dt))
        print("  MB/s:       %.1f" % (stats["bytes"] / dt / 1e6))
        print("  server CPU: %.1f s in %.1f s (%.0f%% of one core; the "
              "rest is the Python client)" % (cpu, dt, 100 * cpu / dt))
        print("  server RSS: %d KiB at start, %d KiB after the load"
              % (base, rss_kb(proc.pid)))

        async def hold():
            conns = await idle(port, a.idle)
            time.sleep(0.5)
            mem = rss_kb(proc.pid)
            for w in conns:
                w.close()
            return mem
        before = rss_kb(proc.pid)
        with_idle = asyncio.run(hold())
        print("  %d idle connections: RSS %d KiB -> %d KiB (%.1f KiB per "
              "connection)" % (a.idle, before, with_idle,
                               (with_idle - before) / a.idle))
        site.stop(proc)


if __name__ == "__main__":
    main()
