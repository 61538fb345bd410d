#!/usr/bin/env python3
"""Connection plumbing under attack (prints figures; not a test).

    tests/bench/bench_conn.py BUILD_DIR [--tricklers 100] [--old]

A. vellum-pop3d under `prlimit --nofile=256` with 300 connections held
   for 5 s: log lines per second, and how long a POP3 session (login,
   STAT, QUIT) from 127.0.0.2 takes meanwhile (or that it timed out).
B. vellum-pop3d and vellum-smtpd each with --tricklers connections
   sending one byte of an endless command line every 0.5 s
   (command_timeout = 5, login_timeout = 10): the time of ten normal
   POP3 and SMTP sessions from 127.0.0.2 while they trickle (median,
   worst), and the seconds until every trickler was closed (or how many
   were still open after 60 s).

--old leaves the deadline keys out of the config, for a build that does
not know them (a checkout of the code before them).
"""
import argparse
import os
import shutil
import smtplib
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

USER, PASS = "bench@example.test", "bench-pw"
OTHER = "127.0.0.2"


def pop3_session(port, timeout=10):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((OTHER, 0))
    s.connect(("127.0.0.1", port))
    f = s.makefile("rwb")
    try:
        ok = f.readline().startswith(b"+OK")
        for cmd in ("USER " + USER, "PASS " + PASS, "STAT", "QUIT"):
            f.write(cmd.encode() + b"\r\n")
            f.flush()
            ok = ok and f.readline().startswith(b"+OK")
        return ok
    finally:
        f.close()
        s.close()


def smtp_session(port, timeout=10):
    s = smtplib.SMTP("127.0.0.1", port, timeout=timeout,
                     source_address=(OTHER, 0))
    s.ehlo("bench.example.test")
    s.sendmail("a@remote.test", [USER], b"Subject: b\r\n\r\nbody\r\n")
    s.quit()
    return True


def timed(fn, *args):
    t0 = time.monotonic()
    try:
        ok = fn(*args)
    except (OSError, smtplib.SMTPException):
        ok = False
    return time.monotonic() - t0, ok


def part_a(site, port):
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % port},
                     "limits": {"connections_per_ip": "1000"}})
    proc = site.start(shutil.which("prlimit"), "--nofile=256:256",
                      site.binary("pop3d"), "-c", site.conf, conf=False)
    site.wait_port(port, proc)
    time.sleep(0.3)
    mark = len(proc.output())
    held = []
    for _ in range(300):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        held.append(s)
    t0 = time.monotonic()
    took, ok = timed(pop3_session, port, 5)
    time.sleep(max(0, 5 - (time.monotonic() - t0)))
    dt = time.monotonic() - t0
    lines = proc.output()[mark:].count("\n")
    for s in held:
        s.close()
    site.stop(proc)
    print("A. pop3d, RLIMIT_NOFILE 256, 300 connections held %.1f s:" % dt)
    print("   log lines/s:            %.0f" % (lines / dt))
    print("   POP3 from %s:     %s" % (OTHER, "%.3f s" % took if ok else
                                         "failed/timed out after %.1f s" %
                                         took))


def part_b(site, ports, n, old):
    limits = {"connections": str(4 * n + 100),
              "connections_per_ip": str(n + 20)}
    if not old:
        limits.update({"command_timeout": "5", "login_timeout": "10"})
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % ports["pop3"]},
                     "smtp": {"listen": "127.0.0.1:%d" % ports["smtp"]},
                     "limits": limits})
    procs = [site.start("pop3d"), site.start("smtpd")]
    site.wait_port(ports["pop3"], procs[0])
    site.wait_port(ports["smtp"], procs[1])
    socks = []
    for kind in ("pop3", "smtp"):
        for _ in range(n):
            s = socket.socket()
            s.connect(("127.0.0.1", ports[kind]))
            s.setblocking(False)
            socks.append([s, False])
    t0 = time.monotonic()
    times = {"pop3": [], "smtp": []}
    all_closed = None
    while time.monotonic() - t0 < 60:
        for t in socks:
            if t[1]:
                continue
            try:
                while True:
                    d = t[0].recv(4096)
                    if not d:
                        t[1] = True
                        break
            except BlockingIOError:
                pass
            except OSError:
                t[1] = True
            if not t[1]:
                try:
                    t[0].send(b"x")
                except OSError:
                    pass
        if len(times["pop3"]) < 10:
            times["pop3"].append(timed(pop3_session, ports["pop3"]))
            times["smtp"].append(timed(smtp_session, ports["smtp"]))
        if all(t[1] for t in socks):
            all_closed = time.monotonic() - t0
            break
        time.sleep(0.5)
    still = sum(not t[1] for t in socks)
    for t in socks:
        t[0].close()
    for p in procs:
        site.stop(p)
    print("B. %d trickling connections on each of pop3d and smtpd%s:" %
          (n, " (no deadline keys)" if old else
           ", command_timeout 5 s, login_timeout 10 s"))
    for kind in ("pop3", "smtp"):
        ok = [d for d, good in times[kind] if good]
        print("   %s from %s: %d/%d served, median %.3f s, worst %.3f s"
              % (kind.upper(), OTHER, len(ok), len(times[kind]),
                 statistics.median(ok) if ok else 0, max(ok) if ok else 0))
    if all_closed is not None:
        print("   all tricklers closed after %.1f s" % all_closed)
    else:
        print("   %d of %d tricklers still open after 60 s" %
              (still, len(socks)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--tricklers", type=int, default=100)
    ap.add_argument("--old", action="store_true")
    a = ap.parse_args()
    if shutil.which("prlimit") is None:
        sys.exit("prlimit (util-linux) is needed")
    with Site(a.build, prefix="vellum-bench-conn-") as site:
        site.add_user(USER, PASS)
        part_a(site, site.port())
        part_b(site, {"pop3": site.port(), "smtp": site.port()},
               a.tricklers, a.old)


if __name__ == "__main__":
    main()
