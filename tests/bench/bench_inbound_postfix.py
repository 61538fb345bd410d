#!/usr/bin/env python3
"""What the antivirus costs Postfix and Vellum (prints figures; not a test).

    tests/bench/bench_inbound_postfix.py BUILD_DIR [--messages 2000]
                                 [--sessions 20] [--size 4096] [--rounds 3]
                                 [--clamd-tmp DIR]

The load of bench_inbound.py (its jobs(), session() and load(): --sessions
clients from 127.0.0.10, .11, ..., --messages DKIM-signed messages of
about --size bytes to five users of example.test, pipelined
MAIL/RCPT/DATA, one message at a time per session; messages accepted per
second at the client, first connect to the last 250 after DATA) against
four servers per round, all scanning with one real clamd started here
(tests/integration/clamdtest.py: a one-signature EICAR database, its own
socket and config in a temporary dir, stopped by its pid):

  vellum off   bench_inbound's run() in its "off" mode (no check);
  vellum on    the same with only its antivirus check ([antivirus] clamd);
  postfix off  a private Postfix -> Dovecot LMTP pair (bench_delivery.py's
               Pair: own config_directory, queue, data dirs, base_dir,
               static userdb, maildir; free loopback ports) taking mail
               for example.test, none of Postfix's checks, no client
               hostname lookup (smtpd_peername_lookup = no: the clients
               have no PTR outside bench_inbound's DNS server);
  postfix on   the same plus clamav-milter (Debian clamav-milter) on a
               free loopback port, its own config file in a temporary
               dir (Foreground, ClamdSocket unix: the same clamd,
               OnInfected Reject, AddHeader Replace, LogFile there),
               started and stopped by its pid; Postfix has
               smtpd_milters = inet:127.0.0.1:PORT and
               milter_default_action = tempfail.

Every server is fresh for its run; the order of the four alternates from
round to round.  Printed per run: msgs/s accepted, CPU per message of the
server processes and of clamd alone.  For Vellum that is vellum-smtpd
(it has stored every message before its 250) and clamd.  For Postfix it
is counted from the first connect until every message is in its maildir
(also printed, as msgs/s delivered): the Postfix master and all its
processes, Dovecot's master and all its processes (live ones plus the
children they have waited for), clamav-milter and clamd.  Then the
stored messages are checked: Vellum's as bench_inbound does (all present,
for "on" all with X-Virus-Status: Clean), the pair's maildirs must hold
--messages messages and, for "on", each must carry clamav-milter's
X-Virus-Scanned and X-Virus-Status: Clean fields (what shows that every
message was scanned).  At the end: the medians of each mode (server CPU
counting clamd for both: vellum-smtpd + clamd; Postfix + Dovecot +
clamav-milter + clamd), the on/off ratios of rate and CPU for both
servers, and Vellum on / Postfix off (and on).

Needs root (Postfix and Dovecot start as root) and the Debian packages
postfix, dovecot-lmtpd, clamav-milter and clamav-daemon; when one is
missing it says which (with the apt-get line) and exits 2.  Installing
them in a container without systemd does not start them.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types

import asyncio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from daemon import free_port, port_open  # noqa: E402
from clamdtest import (CLAMD, Clamd, have_clamd, stop_proc,  # noqa: E402
                       tails)
from dnsserver import DNSServer  # noqa: E402
from bench_smtp import cpu_s  # noqa: E402
from bench_delivery import Pair, pair_missing  # noqa: E402
from bench_pop3_cores import tree_cpu_s  # noqa: E402
from bench_inbound import (DOM, FIRST_SRC, USERS, jobs, load,  # noqa: E402
                           records, rsa_key, run)

MILTER = "/usr/sbin/clamav-milter"
PACKAGES = (("postfix", "/usr/sbin/postfix"),
            ("dovecot-lmtpd", "/usr/lib/dovecot/lmtp"),
            ("clamav-milter", MILTER), ("clamav-daemon", CLAMD))


class Milter:
    """clamav-milter on 127.0.0.1:port, scanning with clamd's socket."""

    def __init__(self, clamd_sock):
        self.dir = tempfile.mkdtemp(prefix="vellum-bench-milter-")
        self.port = free_port()
        self.log = os.path.join(self.dir, "milter.log")
        self.conf = os.path.join(self.dir, "clamav-milter.conf")
        with open(self.conf, "w") as f:
            f.write("Foreground yes\n"
                    "MilterSocket inet:%d@127.0.0.1\n"
                    "ClamdSocket unix:%s\n"
                    "OnClean Accept\nOnInfected Reject\nOnFail Defer\n"
                    "AddHeader Replace\nReportHostname bench.milter.test\n"
                    "LogFile %s\nLogTime yes\nLogSyslog no\n"
                    "TemporaryDirectory %s\n"
                    % (self.port, clamd_sock, self.log, self.dir))
        self.proc = None
        self.out = None

    def start(self):
        self.out = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen([MILTER, "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.out)
        t0 = time.monotonic()
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() - t0 > 30:
                raise RuntimeError("clamav-milter did not start: %s"
                                   % self.output())
            time.sleep(0.1)

    def output(self):
        return tails((os.path.join(self.dir, "stderr"), self.log))

    def cleanup(self):
        stop_proc(self.proc)
        if self.out is not None:
            self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def pid_in(path):
    with open(path) as f:
        return int(f.read().split()[0])


def heads(pair):
    """The header part of every message in the pair's maildirs."""
    out = []
    for a in USERS:
        local, dom = a.split("@")
        new = os.path.join(pair.dir, "mail", dom, local, "Maildir", "new")
        for name in os.listdir(new) if os.path.isdir(new) else ():
            with open(os.path.join(new, name), "rb") as f:
                out.append(f.read().replace(b"\r\n", b"\n")
                           .split(b"\n\n", 1)[0])
    return out


def run_postfix(a, mode, per, clamd):
    """One run against a fresh pair; (accepted msgs/s, server CPU us per
    message, clamd CPU us per message)."""
    extra = "smtpd_peername_lookup = no\n"
    milter = None
    pair = None
    try:
        if mode == "on":
            milter = Milter(clamd.sock)
            milter.start()
            extra += ("smtpd_milters = inet:127.0.0.1:%d\n"
                      "milter_default_action = tempfail\n" % milter.port)
        pair = Pair(types.SimpleNamespace(port=free_port), domain=DOM,
                    main_extra=extra)
        pair.start()
        pmaster = pid_in(os.path.join(pair.dir, "pfqueue", "pid",
                                      "master.pid"))
        dmaster = pid_in(os.path.join(pair.dir, "run", "master.pid"))

        def cpu():
            return (tree_cpu_s(pmaster), tree_cpu_s(dmaster),
                    cpu_s(milter.proc.pid) if milter else 0.0,
                    cpu_s(clamd.proc.pid))
        c0 = cpu()
        t0 = time.monotonic()
        stats = asyncio.run(load(pair.sport, per))
        acc = time.monotonic() - t0
        n = stats["msgs"]
        dt = pair.wait(USERS, a.messages, t0, limit=600)
        c1 = cpu()
        load1 = open("/proc/loadavg").read().split()[0]
        d = [1e6 * (y - x) / n for x, y in zip(c0, c1)]
        hs = heads(pair)
        scanned = sum(1 for h in hs if b"\nX-Virus-Scanned: " in h and
                      b"\nX-Virus-Status: Clean" in h)
        fields = sorted(set(m.group(0).decode("utf-8", "replace")
                            for h in hs[:1] for m in re.finditer(
                                rb"(?m)^X-Virus-[^\n]*", h)))
        print("postfix %-3s accepted %6.0f msgs/s, %d in maildirs (%.0f "
              "msgs/s delivered); CPU per message: all %4.0f us (postfix "
              "%4.0f, dovecot %4.0f, milter %4.0f, clamd %4.0f); load %s"
              % (mode, n / acc, len(hs), a.messages / dt, sum(d), d[0],
                 d[1], d[2], d[3], load1))
        print("    stored with X-Virus-Scanned and X-Virus-Status: Clean %d%s"
              % (scanned, " (the first: %s)" % "; ".join(fields)
                 if fields else ""))
        if len(hs) != a.messages:
            raise RuntimeError("postfix %s: %d messages delivered, %d sent"
                               % (mode, len(hs), a.messages))
        if mode == "on" and scanned != a.messages:
            example = hs[0].decode("utf-8", "replace") if hs else ""
            raise RuntimeError("only %d of %d delivered copies were "
                               "scanned; a header:\n%s\nmilter:\n%s"
                               % (scanned, a.messages, example,
                                  milter.output()))
        sys.stdout.flush()
        return n / acc, sum(d), d[3]
    finally:
        if pair is not None:
            pair.stop()
        if milter is not None:
            milter.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clamd-tmp", metavar="DIR",
                    help="clamd's TemporaryDirectory (default: clamd's, "
                    "$TMPDIR or /tmp)")
    a = ap.parse_args()
    if not 1 <= a.sessions <= 240:
        ap.error("--sessions: 1 to 240 (127.0.0.10 ... 127.0.0.249)")
    if a.messages < a.sessions:
        ap.error("--messages: at least one per session")
    missing = [n for n, p in PACKAGES if not os.access(p, os.X_OK)]
    if missing:
        print("not installed: %s; as root:\n    DEBIAN_FRONTEND="
              "noninteractive apt-get install -y %s"
              % (", ".join(missing), " ".join(missing)))
        return 2
    why = pair_missing()
    if why is not None:
        print("Postfix -> Dovecot pair cannot run: %s" % why)
        return 2
    build = os.path.abspath(a.build)
    tmp = tempfile.mkdtemp(prefix="vellum-bench-inbound-key-")
    try:
        pem, pub = rsa_key(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per = jobs(a, pem)
    print("bench_inbound_postfix: %d messages of %d bytes over %d sessions "
          "(127.0.0.%d-%d), %d rounds; load %s"
          % (a.messages, a.size, a.sessions, FIRST_SRC,
             FIRST_SRC + a.sessions - 1, a.rounds,
             " ".join(open("/proc/loadavg").read().split()[:3])))
    res = {}
    clamd = dns = None
    try:
        clamd = Clamd(tmpdir=a.clamd_tmp)
        clamd.start()
        version = subprocess.run(
            ["/usr/sbin/postconf", "-d", "-h", "mail_version"],
            capture_output=True, text=True).stdout.strip()
        print("clamd pid %d on %s; Postfix %s; %s" % (
            clamd.proc.pid, clamd.sock, version, subprocess.run(
                [MILTER, "--version"], capture_output=True,
                text=True).stdout.strip()))
        sys.stdout.flush()
        dns = DNSServer(records(a.sessions, pub))
        order = [("vellum", "off"), ("vellum", "on"),
                 ("postfix", "off"), ("postfix", "on")]
        for i in range(a.rounds):
            print("round %d" % (i + 1))
            for srv, mode in order if i % 2 == 0 else order[::-1]:
                if srv == "vellum":
                    print("vellum  ", end="")
                    r = run(a, build, mode, per, dns, clamd, ["av"])
                    # server CPU counts clamd, as Postfix's does
                    r = (r[0], r[1] + r[2], r[2])
                else:
                    r = run_postfix(a, mode, per, clamd)
                res.setdefault((srv, mode), []).append(r)
    finally:
        if dns is not None:
            dns.stop()
        if clamd is not None:
            clamd.cleanup()

    def med(srv, mode, k):
        return statistics.median(r[k] for r in res[(srv, mode)])
    for srv in ("vellum", "postfix"):
        for mode in ("off", "on"):
            print("median %-7s %-3s %6.0f msgs/s, server CPU (with clamd) "
                  "%5.0f us/msg, clamd alone %4.0f us/msg" % (srv, mode, med(srv, mode, 0),
                                         med(srv, mode, 1),
                                         med(srv, mode, 2)))
    for srv in ("vellum", "postfix"):
        ratios = [on[0] / off[0] for on, off in zip(res[(srv, "on")],
                                                    res[(srv, "off")])]
        print("%-7s on/off: rate %.0f%% (rounds: %s), CPU per message "
              "%.2fx (+%.0f us)" % (
                  srv, 100 * med(srv, "on", 0) / med(srv, "off", 0),
                  ", ".join("%.0f%%" % (100 * x) for x in ratios),
                  med(srv, "on", 1) / med(srv, "off", 1),
                  med(srv, "on", 1) - med(srv, "off", 1)))
    print("vellum on / postfix off: rate %.2fx; vellum on / postfix on: "
          "rate %.2fx" % (med("vellum", "on", 0) / med("postfix", "off", 0),
                          med("vellum", "on", 0) / med("postfix", "on", 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
