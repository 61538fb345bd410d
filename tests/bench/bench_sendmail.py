#!/usr/bin/env python3
"""vellum-sendmail benchmark (prints figures; not a test).

    tests/bench/bench_sendmail.py BUILD_DIR [--messages N] [--parallel P]

Makes a temporary store with 10 users, then runs vellum-sendmail N times
(a new process each time, as PHP's mail() and cron do) with a ~4 KB
message: to one local user, to 10 local users, to one external address
(queued), and to one local user from P processes at once.  Prints
submissions/s and the mean wall time of one submission for each.
"""
import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

USERS = ["user%d@example.test" % i for i in range(10)]


def message(i):
    head = ("From: bench@example.test\nSubject: bench %d\n\n" % i).encode()
    line = b"x" * 76 + b"\n"
    return head + line * (4000 // len(line))


def run(site, binary, rcpts, n, parallel):
    def one(i):
        p = subprocess.run([binary, "-C", site.conf] + rcpts,
                           input=message(i), capture_output=True)
        if p.returncode != 0:
            raise RuntimeError("exit %d: %s" % (p.returncode, p.stderr))
    t0 = time.monotonic()
    if parallel > 1:
        with ThreadPoolExecutor(parallel) as ex:
            list(ex.map(one, range(n)))
    else:
        for i in range(n):
            one(i)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=300)
    ap.add_argument("--parallel", type=int, default=4)
    a = ap.parse_args()
    with Site(a.build, prefix="vellum-bench-sendmail-") as site:
        binary = os.path.join(site.build, "admin", "vellum-sendmail")
        site.write_conf({"sendmail": {"domain": "example.test"}},
                        tls="self")
        for u in USERS:
            site.add_user(u, "pw")
        for what, rcpts, par in (
                ("1 local rcpt", USERS[:1], 1),
                ("10 local rcpts", USERS, 1),
                ("1 external rcpt (queued)", ["x@remote.test"], 1),
                ("1 local rcpt, %d processes" % a.parallel, USERS[1:2],
                 a.parallel)):
            dt = run(site, binary, rcpts, a.messages, par)
            print("%-34s %5d submissions in %6.2f s: %7.1f/s, %6.1f ms "
                  "each" % (what, a.messages, dt, a.messages / dt,
                            dt * 1000 / a.messages * par))


if __name__ == "__main__":
    main()
