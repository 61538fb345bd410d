#!/usr/bin/env python3
"""SMTP benchmark (prints figures; not a test).

    tests/bench/bench_smtp.py BUILD_DIR [--sessions 20] [--scale 1.0]

Starts vellum-smtpd on a free loopback port with a temporary store
(durable commits: nothing is configured to skip fsync) and runs three
loads with its own asyncio client (pipelined MAIL/RCPT.../DATA, then the
message; one message at a time per session):

  A. 10,000 messages of 4 KB, one recipient each (session i sends to
     user i), over 20 sessions;
  B. 2,000 messages of 4 KB to 10 recipients each;
  C. 2,000 messages of 4 KB all to ONE recipient (20 sessions contend for
     one delivery lock).

--scale multiplies the message counts (0.1 for a quick look).  For each
load: messages/s, recipients/s, the server's CPU time beside the wall
time and the client's own CPU time (to see which side is the
bottleneck: with the server under 100% of a core while the client is
near 100%, the client is the limit), the raw bytes sent, the data dir's
allocated size afterwards (`du` style: st_blocks * 512) and its growth.
At the end the server's peak resident memory (VmHWM).

When Postfix's smtp-source is installed (Debian package postfix; it is
not installed for you: it pulls in an MTA), load A is also run with it
for comparison.
"""
import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

WORDS = (b"the of and to in is was for on that with as by at from this be "
         b"are have it an not or which but all were when we there can one "
         b"mail server message delivery store quota folder account domain "
         b"invoice meeting report project tomorrow please thanks regards "
         b"attached schedule review budget update customer order").split()
SENDER = "bench@remote.test"


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    t = os.times()
    return t.user + t.system


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def allocated(path):
    """Bytes allocated under path (sum of st_blocks * 512, as du)."""
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            total += st.st_blocks * 512
    return total


def make_message(rng, n, size):
    """A text message of about size bytes, different from every other,
    compressible like real text; dot-stuffed, CRLF, ending in CRLF."""
    head = ("From: Bench <bench@remote.test>\r\nTo: user@bench.test\r\n"
            "Subject: bench message %d\r\nMessage-ID: <%d.%d@remote.test>"
            "\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n"
            % (n, n, rng.getrandbits(48))).encode()
    body = []
    left = size - len(head)
    while left > 0:
        line = b" ".join(rng.choice(WORDS) for _ in range(12))[:76]
        body.append(line)
        left -= len(line) + 2
    m = head + b"\r\n".join(body) + b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", m)


async def reply(r):
    """(code, last line) of one reply."""
    while True:
        line = await r.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if line[3:4] != b"-":
            return int(line[:3]), line


async def session(port, jobs, stats):
    """Sends jobs [(rcpts, data)] one after the other on one connection."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    await reply(r)
    w.write(b"EHLO bench.remote.test\r\n")
    code, line = await reply(r)
    if code != 250:
        raise RuntimeError("EHLO: %r" % line)
    for rcpts, data in jobs:
        cmds = [b"MAIL FROM:<%s> SIZE=%d\r\n" % (SENDER.encode(), len(data))]
        cmds += [b"RCPT TO:<%s>\r\n" % x.encode() for x in rcpts]
        cmds.append(b"DATA\r\n")
        w.write(b"".join(cmds))
        for c in cmds:
            code, line = await reply(r)
            want = 354 if c == b"DATA\r\n" else 250
            if code != want:
                raise RuntimeError("%r: %r" % (c, line))
        w.write(data + b".\r\n")
        code, line = await reply(r)
        if code != 250:
            raise RuntimeError("end of data: %r" % line)
        stats["msgs"] += 1
        stats["rcpts"] += len(rcpts)
        stats["bytes"] += len(data)
    w.write(b"QUIT\r\n")
    await reply(r)
    w.close()


async def load(port, per_session):
    stats = {"msgs": 0, "rcpts": 0, "bytes": 0}
    await asyncio.gather(*(session(port, jobs, stats)
                           for jobs in per_session))
    return stats


def run_load(name, site, proc, port, per_session, before_bytes):
    cpu0, own0 = cpu_s(proc.pid), own_cpu_s()
    t0 = time.monotonic()
    stats = asyncio.run(load(port, per_session))
    dt = time.monotonic() - t0
    cpu, own = cpu_s(proc.pid) - cpu0, own_cpu_s() - own0
    size = allocated(site.data)
    print("%s: %d messages, %d recipients, %d sessions in %.1f s"
          % (name, stats["msgs"], stats["rcpts"], len(per_session), dt))
    print("  messages/s:   %.0f" % (stats["msgs"] / dt))
    print("  recipients/s: %.0f" % (stats["rcpts"] / dt))
    print("  server CPU:   %.1f s (%.0f%% of one core); client CPU %.1f s "
          "(%.0f%%)" % (cpu, 100 * cpu / dt, own, 100 * own / dt))
    print("  sent %.1f MB; data dir %.1f MB allocated (+%.1f MB)"
          % (stats["bytes"] / 1e6, size / 1e6,
             (size - before_bytes) / 1e6))
    return size


def smtp_source(port, sessions, count, size, rcpt):
    exe = shutil.which("smtp-source") or (
        "/usr/sbin/smtp-source" if os.access("/usr/sbin/smtp-source",
                                             os.X_OK) else None)
    if not exe:
        print("smtp-source: not installed (Debian package postfix), "
              "skipped")
        return
    t0 = time.monotonic()
    p = subprocess.run([exe, "-s", str(sessions), "-m", str(count), "-l",
                        str(size), "-f", SENDER, "-t", rcpt,
                        "127.0.0.1:%d" % port], capture_output=True)
    dt = time.monotonic() - t0
    print("smtp-source -s %d -m %d -l %d: exit %d, %.1f s, %.0f "
          "messages/s %s" % (sessions, count, size, p.returncode, dt,
                              count / dt, p.stderr.decode()[-300:]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    rng = random.Random(1)
    n_a = int(10000 * a.scale)
    n_b = int(2000 * a.scale)
    n_c = int(2000 * a.scale)
    S = a.sessions

    with Site(a.build, prefix="vellum-bench-smtp-") as site:
        port = site.port()
        site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port},
                         "smtpd": {"max_recipients": "1000"},
                         "limits": {"connections_per_ip": "1000",
                                    "connections": "2000"}})
        users = ["u%d@bench.test" % i for i in range(S)]
        ten = ["ten%d@bench.test" % i for i in range(10)]
        one = "one@bench.test"
        for u in users + ten + [one]:
            site.add_user(u, "pw")
        proc = site.start("smtpd")
        site.wait_port(port, proc)
        print("vellum-smtpd pid %d; %d sessions; messages of %d bytes; "
              "RSS %d KiB at start" % (proc.pid, S, a.size,
                                       status_kb(proc.pid, "VmRSS")))
        size0 = allocated(site.data)
        print("data dir before: %.1f MB allocated" % (size0 / 1e6))

        def split(jobs):
            return [jobs[i::S] for i in range(S)]

        # session i always sends to users[i]
        jobs = [[([users[i]], make_message(rng, i * 100000 + k, a.size))
                 for k in range(n_a // S + (i < n_a % S))]
                for i in range(S)]
        size1 = run_load("A: 1 recipient each", site, proc, port, jobs,
                         size0)
        jobs = split([(ten, make_message(rng, 10 ** 7 + i, a.size))
                      for i in range(n_b)])
        size2 = run_load("B: 10 recipients each", site, proc, port, jobs,
                         size1)
        jobs = split([([one], make_message(rng, 2 * 10 ** 7 + i, a.size))
                      for i in range(n_c)])
        run_load("C: all to ONE recipient", site, proc, port, jobs, size2)
        print("server peak memory (VmHWM): %d KiB; RSS now %d KiB"
              % (status_kb(proc.pid, "VmHWM"), status_kb(proc.pid,
                                                         "VmRSS")))
        out = site.ctl("--json", "user", "show", one)
        print("check: %s" % out.strip()[:200])
        smtp_source(port, S, n_a, a.size, users[0])
        site.stop(proc)


if __name__ == "__main__":
    main()
