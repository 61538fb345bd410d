#!/usr/bin/env python3
"""Outbound delivery benchmark (prints figures; not a test).

    tests/bench/bench_mta.py BUILD_DIR [--messages 10000] [--rcpts 100]
                             [--connections 20] [--size 4096]

Fills the queue through vellum-smtpd (relay from a trusted loopback
client, 20 pipelining sessions) with --messages messages of --size bytes,
each to one of --rcpts recipients (round robin) at one remote domain,
while vellum-mta is stopped.  Then starts vellum-mta against smtp-sink
(tests/bench/smtp-sink.c: a C server on loopback that accepts
everything) found through the test DNS server, with
destination_concurrency = --connections, and times it until the queue
is empty.  Prints messages delivered per second, the agent's CPU time
per message, its peak memory, and what the sink counted.

The queue is durable the whole way: a recipient leaves it in a commit
after the sink's 250 (group commits, one per loop turn).

Postfix's smtp client is compared when Postfix is installed (Debian
package postfix; not installed for you: it is a whole MTA); otherwise a
line says it was skipped.
"""
import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from daemon import Site, free_port  # noqa: E402
from bench_smtp import cpu_s, load, make_message, status_kb  # noqa: E402
from dnsserver import DNSServer  # noqa: E402


def queue_len(site):
    out = site.ctl("queue", "list")
    return sum(1 for line in out.splitlines()
               if line[:1].isalnum() and not line.startswith("ID")
               and "queue is empty" not in line)


def sent_lines(proc):
    try:
        with open(proc.log, "rb") as f:
            return f.read().count(b"status=sent")
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--rcpts", type=int, default=100)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    rng = random.Random(1)

    with Site(build, prefix="vellum-bench-mta-") as site:
        sink_port = free_port()
        sink = subprocess.Popen(
            [os.path.join(build, "tests", "bench", "smtp-sink"),
             "127.0.0.1", str(sink_port)], stdout=subprocess.PIPE,
            text=True)
        sink.stdout.readline()
        dns = DNSServer({"remote.test": [("MX", 10, "mx.remote.test")],
                         "mx.remote.test": [("A", "127.0.0.1")]})
        smtp = site.port()
        site.write_conf({
            "smtp": {"listen": "127.0.0.1:%d" % smtp},
            "smtpd": {"trusted_networks": "127.0.0.1/32"},
            "mta": {"port": str(sink_port),
                    "destination_concurrency": str(a.connections),
                    "connections": str(a.connections),
                    "reuse_time": "5"},
            "dns": {"resolver": "127.0.0.1:%d" % dns.port},
        })
        site.ctl("domain", "add", "example.test")
        smtpd = site.start("smtpd")
        site.wait_port(smtp, smtpd)

        msgs = [make_message(rng, i, a.size) for i in range(a.messages)]
        per = [[] for _ in range(20)]
        for i, m in enumerate(msgs):
            per[i % 20].append((["user%d@remote.test" % (i % a.rcpts)], m))
        t0 = time.monotonic()
        asyncio.run(load(smtp, per))
        fill = time.monotonic() - t0
        print("queue filled: %d messages of %d bytes to %d recipients at "
              "one domain in %.1f s (%.0f/s through vellum-smtpd)"
              % (a.messages, a.size, a.rcpts, fill, a.messages / fill))

        mta = site.start("mta")
        t0 = time.monotonic()
        deadline = t0 + 600
        while sent_lines(mta) < a.messages and time.monotonic() < deadline:
            if not mta.running():
                print("vellum-mta stopped:\n" + mta.output()[-2000:])
                return 1
            time.sleep(0.05)
        dt = time.monotonic() - t0
        cpu = cpu_s(mta.pid)
        hwm = status_kb(mta.pid, "VmHWM")
        left = queue_len(site)
        site.stop(mta)
        sink.terminate()
        counts = sink.stdout.read().strip()
        sink.wait(10)
        dns.stop()
        n = sent_lines(mta)
        print("vellum-mta: %d messages delivered in %.2f s, %d connections"
              % (n, dt, a.connections))
        print("  messages/s:        %.0f" % (n / dt))
        print("  agent CPU:         %.2f s (%.0f%% of one core), %.0f us "
              "per message" % (cpu, 100 * cpu / dt, 1e6 * cpu / max(n, 1)))
        print("  agent peak memory: %.1f MB (VmHWM)" % (hwm / 1024))
        print("  sink counted:      %s" % counts)
        print("  left in queue:     %d" % left)
    if shutil.which("postfix") or os.access("/usr/sbin/postfix", os.X_OK):
        print("postfix: installed, but this benchmark does not drive it "
              "yet (see tests/bench/README.md)")
    else:
        print("postfix: not installed (Debian package postfix): no "
              "comparison run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
