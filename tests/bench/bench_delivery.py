#!/usr/bin/env python3
"""Delivery benchmark with Postfix's smtp-source (prints figures; not a test).

    tests/bench/bench_delivery.py BUILD_DIR [--scale 1.0] [--sessions 20]
                                  [--loads A,B,C,L]

The loads of issue 13, 4 KB messages (smtp-source -l 4096), sessions kept
open between messages (smtp-source -d), against vellum-smtpd and its LMTP
listener on free loopback ports with a temporary store at durable
defaults:

  A. 10,000 messages x 1 recipient over 100 mailboxes: 100 smtp-source
     runs of 100 messages, one per mailbox, 20 at a time (20 sessions);
  B. 2,000 messages x 10 recipients (smtp-source -r 10);
  C. 2,000 messages all to one recipient, 20 sessions;
  L. load C again into the LMTP listener (smtp-source -L).

For each: messages/s, deliveries/s (messages x recipients), the server's
CPU time per message, and a check that every message arrived (the
mailboxes' message counts).  --scale multiplies the counts.

smtp-source comes with the Debian package postfix (tests/bench/README.md).
Postfix + Dovecot are not run side by side here (README.md): a last line
says so and which of them is missing.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

SENDER = "bench@remote.test"
SIZE = 4096


def cpu_s(pid):
    """User + system CPU seconds the process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def smtp_source_path():
    exe = shutil.which("smtp-source")
    if exe is None and os.access("/usr/sbin/smtp-source", os.X_OK):
        exe = "/usr/sbin/smtp-source"
    return exe


def source(exe, port, sessions, count, rcpt, nrcpt=1, lmtp=False):
    """One smtp-source run; raises on a failed exit or error output."""
    argv = [exe, "-d", "-s", str(sessions), "-m", str(count), "-l",
            str(SIZE), "-f", SENDER, "-t", rcpt, "-M", "bench.remote.test"]
    if nrcpt > 1:
        argv += ["-r", str(nrcpt)]
    if lmtp:
        argv.append("-L")
    argv.append("127.0.0.1:%d" % port)
    p = subprocess.run(argv, capture_output=True, timeout=900)
    err = p.stderr.decode("utf-8", "replace").strip()
    if p.returncode != 0 or err:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv),
                                                  p.returncode, err[-400:]))


def messages_of(site, address):
    return int(json.loads(site.ctl("--json", "user", "show",
                                   address))["used_messages"])


def report(name, proc, t0, cpu0, msgs, deliveries):
    dt = time.monotonic() - t0
    cpu = cpu_s(proc.pid) - cpu0
    print("%s: %d messages, %d deliveries in %.2f s" % (name, msgs,
                                                         deliveries, dt))
    print("  msgs/s %.0f  deliveries/s %.0f  server CPU %.3f ms/msg "
          "(%.0f%% of one core)" % (msgs / dt, deliveries / dt,
                                      1000 * cpu / msgs, 100 * cpu / dt))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--loads", default="A,B,C,L")
    a = ap.parse_args()
    exe = smtp_source_path()
    if exe is None:
        print("smtp-source not installed (apt-get install postfix): "
              "nothing to measure")
        return 1
    loads = set(a.loads.split(","))
    S = a.sessions
    n_a = int(10000 * a.scale)
    n_b = int(2000 * a.scale)
    n_c = int(2000 * a.scale)

    with Site(a.build, prefix="vellum-bench-delivery-") as site:
        port, lport = site.port(), site.port()
        site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port},
                         "lmtp": {"listen": "127.0.0.1:%d" % lport},
                         "smtpd": {"max_recipients": "1000"},
                         "limits": {"connections_per_ip": "1000",
                                    "connections": "2000"}})
        boxes = ["u%d@bench.test" % i for i in range(100)]
        # smtp-source -r 10 -t ten@... writes to 10 of ten@, 1ten@ ...
        # 10ten@ (which, depends on its version): all exist.
        ten = ["ten@bench.test"] + ["%dten@bench.test" % i
                                    for i in range(1, 11)]
        one, lone = "one@bench.test", "lone@bench.test"
        site.ctl("domain", "add", "bench.test")
        for u in boxes + ten + [one, lone]:
            site.ctl("user", "add", u, "--password-stdin", input="pw\n")
        proc = site.start("smtpd")
        site.wait_port(port, proc)
        site.wait_port(lport, proc)
        print("vellum-smtpd pid %d; smtp-source %s; %d sessions; %d-byte "
              "messages" % (proc.pid, exe, S, SIZE))

        if "A" in loads:
            per = max(1, n_a // len(boxes))
            t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
            with concurrent.futures.ThreadPoolExecutor(S) as pool:
                for f in [pool.submit(source, exe, port, 1, per, b)
                          for b in boxes]:
                    f.result()
            report("A: %d x 1 recipient over %d mailboxes" %
                   (per * len(boxes), len(boxes)), proc, t0, cpu0,
                   per * len(boxes), per * len(boxes))
            got = sum(messages_of(site, b) for b in boxes)
            if got != per * len(boxes):
                raise RuntimeError("A: %d messages stored, not %d" %
                                   (got, per * len(boxes)))
        if "B" in loads:
            t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
            source(exe, port, S, n_b, "ten@bench.test", nrcpt=10)
            report("B: %d x 10 recipients" % n_b, proc, t0, cpu0, n_b,
                   10 * n_b)
            got = sum(messages_of(site, u) for u in ten)
            if got != 10 * n_b:
                raise RuntimeError("B: %d deliveries stored, not %d" %
                                   (got, 10 * n_b))
        if "C" in loads:
            t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
            source(exe, port, S, n_c, one)
            report("C: %d all to one recipient" % n_c, proc, t0, cpu0,
                   n_c, n_c)
            if messages_of(site, one) != n_c:
                raise RuntimeError("C: %d messages stored, not %d" %
                                   (messages_of(site, one), n_c))
        if "L" in loads:
            t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
            source(exe, lport, S, n_c, lone, lmtp=True)
            report("L: %d all to one recipient over LMTP" % n_c, proc, t0,
                   cpu0, n_c, n_c)
            if messages_of(site, lone) != n_c:
                raise RuntimeError("L: %d messages stored, not %d" %
                                   (messages_of(site, lone), n_c))
        site.stop(proc)
    missing = [n for n, p in (("postfix", "/usr/sbin/postfix"),
                              ("dovecot-lmtpd", "/usr/lib/dovecot/lmtp"))
               if not os.access(p, os.X_OK)]
    print("Postfix + Dovecot side by side: skipped (%s; a private "
          "Postfix -> Dovecot LMTP instance on loopback is not set up by "
          "this script: tests/bench/README.md)" %
          ("not installed: " + ", ".join(missing) if missing else
           "installed, but not run"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
