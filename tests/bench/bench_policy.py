#!/usr/bin/env python3
"""Outgoing policy benchmark (prints figures; not a test).

    tests/bench/bench_policy.py BUILD_DIR [--messages 4000] [--sessions 20]
                                [--size 4096] [--rounds 3]

Submission with every policy on against the same with none, in one run
(issue 14: at least 90% of the rate without policies, signing included).
Each round starts a fresh site for each mode: vellum-smtpd (submission
with AUTH PLAIN, [auth] plaintext = yes on loopback) and vellum-mta
delivering to smtp-sink (tests/bench/smtp-sink.c) found through the test
DNS server.  --sessions clients, each logged in as its own user of
example.test, send --messages messages of --size bytes in all, one
recipient each at remote.test, pipelined, one message at a time per
session.

  off  no policy settings, no DKIM key (the per-sender counters still
       run: they always do, for `vellumctl user usage`);
  on   every limit of the domain set (high enough never to refuse),
       sender-domain and valid-sender (the envelope sender resolved and
       the From: header parsed for every message), attachment-size (the
       MIME structure walked, on smtpd's filter threads), and an rsa-2048
       DKIM key: vellum-mta signs every message while submission goes on.
       Not spam-score: spamd takes tens of milliseconds a message and
       would measure SpamAssassin (bench_spamscore.py does).

Printed per mode and round: messages accepted per second (the clients'
clock: connect to the last 250), messages delivered per second (until the
sink counted all), CPU of vellum-smtpd and of vellum-mta per message;
then the medians and on/off ratios.
"""
import argparse
import asyncio
import base64
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from daemon import Site  # noqa: E402
from dnsserver import DNSServer  # noqa: E402
from bench_smtp import cpu_s, make_message, reply  # noqa: E402
from bench_mta import Sink  # noqa: E402

DOM = "example.test"
PASSWORD = "bench-pw-1"
LIMITS = ["per-minute", "1000000", "per-hour", "1000000", "per-day",
          "1000000", "bytes-per-day", "100G", "recipients-per-day",
          "1000000", "invalid-per-day", "1000", "lock-time", "1h",
          "sender-domain", DOM, "valid-sender", "yes",
          "attachment-size", "10M"]


async def session(port, user, jobs, stats):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    await reply(r)
    w.write(b"EHLO bench.example.test\r\n")
    await reply(r)
    tok = base64.b64encode(b"\0" + user.encode() + b"\0" +
                           PASSWORD.encode())
    w.write(b"AUTH PLAIN " + tok + b"\r\n")
    code, line = await reply(r)
    if code != 235:
        raise RuntimeError("AUTH %s: %r" % (user, line))
    for rcpt, data in jobs:
        cmds = [b"MAIL FROM:<%s> SIZE=%d\r\n" % (user.encode(), len(data)),
                b"RCPT TO:<%s>\r\n" % rcpt.encode(), b"DATA\r\n"]
        w.write(b"".join(cmds))
        for c in cmds:
            code, line = await reply(r)
            if code != (354 if c == b"DATA\r\n" else 250):
                raise RuntimeError("%r: %r" % (c, line))
        w.write(data + b".\r\n")
        code, line = await reply(r)
        if code != 250:
            raise RuntimeError("end of data: %r" % line)
        stats["msgs"] += 1
    w.write(b"QUIT\r\n")
    await reply(r)
    w.close()


async def load(port, per_user):
    stats = {"msgs": 0}
    await asyncio.gather(*(session(port, u, jobs, stats)
                           for u, jobs in per_user.items()))
    return stats


def jobs(a, rng):
    per = {}
    for i in range(a.messages):
        u = "u%d@%s" % (i % a.sessions, DOM)
        m = make_message(rng, i, a.size).replace(
            b"From: Bench <bench@remote.test>",
            b"From: Bench <" + u.encode() + b">", 1)
        per.setdefault(u, []).append(("r%d@remote.test" % (i % 100), m))
    return per


def run(a, build, mode, per):
    sink = Sink(build)
    dns = DNSServer({"remote.test": [("MX", 10, "mx.remote.test")],
                     "mx.remote.test": [("A", "127.0.0.1")]})
    try:
        return run_site(a, build, mode, per, sink, dns)
    finally:
        sink.stop()
        dns.stop()


def run_site(a, build, mode, per, sink, dns):
    with Site(build, prefix="vellum-bench-policy-") as site:
        sub = site.port()
        site.write_conf({
            "smtp": {"listen": "127.0.0.1:%d" % site.port()},
            "submission": {"listen": "127.0.0.1:%d" % sub},
            "auth": {"plaintext": "yes"},
            # the sessions and wait_port()'s probe, which may not be
            # closed yet when they connect
            "limits": {"connections_per_ip": "1000"},
            "mta": {"port": str(sink.port), "connections": "20",
                    "destination_concurrency": "20", "reuse_time": "5"},
            "dns": {"resolver": "127.0.0.1:%d" % dns.port},
        })
        site.ctl("domain", "add", DOM)
        for u in per:
            site.add_user(u, PASSWORD)
        if mode == "on":
            site.ctl("domain", "policy", DOM, *LIMITS)
            site.ctl("dkim", "keygen", DOM, "srsa", "--algorithm", "rsa")
        smtpd = site.start("smtpd")
        mta = site.start("mta")
        site.wait_port(sub, smtpd)
        c0, m0 = cpu_s(smtpd.pid), cpu_s(mta.pid)
        t0 = time.monotonic()
        stats = asyncio.run(load(sub, per))
        acc = time.monotonic() - t0
        # the sink's count is of this run only: wait for all of them
        while sink.count()[0] < stats["msgs"]:
            if not mta.running():
                raise RuntimeError("vellum-mta stopped")
            if time.monotonic() - t0 > 900:
                raise RuntimeError("not delivered within 900 s")
            time.sleep(0.02)
        dlv = time.monotonic() - t0
        cs, cm = cpu_s(smtpd.pid) - c0, cpu_s(mta.pid) - m0
        site.stop(mta)
        site.stop(smtpd)
        signed = mta.output().count("DKIM-signed")
        n = stats["msgs"]
        print("%-3s accepted %6.0f msgs/s, delivered %6.0f msgs/s; CPU per "
              "message: smtpd %4.0f us, mta %4.0f us; %d signed"
              % (mode, n / acc, n / dlv, 1e6 * cs / n, 1e6 * cm / n,
                 signed))
        sys.stdout.flush()
        return n / acc, n / dlv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=4000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    per = jobs(a, random.Random(1))
    print("bench_policy: %d messages of %d bytes over %d sessions, %d "
          "rounds; load %s" % (a.messages, a.size, a.sessions, a.rounds,
                               " ".join(open("/proc/loadavg").read()
                                        .split()[:3])))
    res = {"off": [], "on": []}
    for i in range(a.rounds):
        for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
            res[mode].append(run(a, build, mode, per))
    for k, name in ((0, "accepted"), (1, "delivered")):
        off = statistics.median(r[k] for r in res["off"])
        on = statistics.median(r[k] for r in res["on"])
        print("median %-9s off %6.0f msgs/s, on %6.0f msgs/s: on/off %.0f%%"
              % (name, off, on, 100 * on / off))


if __name__ == "__main__":
    main()
