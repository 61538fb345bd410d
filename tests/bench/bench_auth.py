#!/usr/bin/env python3
"""Login benchmark (prints figures; not a test).

    tests/bench/bench_auth.py BUILD_DIR [--seconds 15] [--rate 20]
                              [--login-rate 20] [--probes 40]
                              [--login-via both|smtp|pop3]

Starts vellum-smtpd (port 25 style listener for deliveries, submission
for SMTP AUTH) and vellum-pop3d on free loopback ports with a temporary
store, then:

  1. delivery latency: one SMTP session sends a 2 KB message to a local
     user every 1/rate seconds (MAIL, RCPT, DATA through the 250); p50,
     p99 and max of the time each transaction took,
       a. with no logins going on,
       b. while --login-rate bad logins per second arrive, each on a new
          connection, alternating POP3 USER/PASS and SMTP AUTH PLAIN
          (--login-via: only one of them; SMTP AUTH shares the
          delivering process, POP3 only the CPU), half of them for an existing user with a wrong password, half
          for unknown users;
  2. the answer time of a failed login: POP3 PASS for an unknown user
     and for an existing user with a wrong password, --probes each,
     alternating, one at a time: median and p90 of each.

The failure policy is set so that nothing is locked out or delayed
(fail_delay = 0, lockout = 0, fail_max = 100000), so every bad login
costs a password hash: what is measured is what the hash does to the
server.  The keys used exist in every version, so the same script runs
against an older build for a before/after comparison.
"""
import argparse
import base64
import os
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

USER = "rcpt@example.test"
VICTIM = "victim@example.test"
PASSWORD = "correct horse"


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * (len(v) - 1)))))
    return v[k]


class Lines:
    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port),
                                          timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def line(self):
        return self.f.readline().decode("utf-8", "replace").rstrip("\r\n")

    def smtp_reply(self):
        while True:
            ln = self.line()
            if len(ln) < 4 or ln[3] != "-":
                return ln

    def send(self, text):
        self.s.sendall(text.encode() if isinstance(text, str) else text)

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


def pop_bad_login(port, user, password):
    """Seconds from PASS to its answer."""
    c = Lines(port)
    try:
        c.line()
        c.send("USER %s\r\n" % user)
        c.line()
        t0 = time.monotonic()
        c.send("PASS %s\r\n" % password)
        r = c.line()
        dt = time.monotonic() - t0
        if not r.startswith("-ERR"):
            raise RuntimeError("bad login answered %r" % r)
        c.send("QUIT\r\n")
        return dt
    finally:
        c.close()


def smtp_bad_login(port, user, password):
    c = Lines(port)
    try:
        c.smtp_reply()
        c.send("EHLO bench.example.test\r\n")
        c.smtp_reply()
        resp = base64.b64encode(b"\0" + user.encode() + b"\0" +
                                password.encode()).decode()
        t0 = time.monotonic()
        c.send("AUTH PLAIN %s\r\n" % resp)
        r = c.smtp_reply()
        dt = time.monotonic() - t0
        if not r.startswith("535"):
            raise RuntimeError("bad AUTH answered %r" % r)
        c.send("QUIT\r\n")
        return dt
    finally:
        c.close()


class Deliverer:
    """One SMTP session delivering at a steady rate; latencies in s."""

    def __init__(self, port):
        self.c = Lines(port)
        self.c.smtp_reply()
        self.c.send("EHLO bench.example.test\r\n")
        self.c.smtp_reply()
        body = ("Subject: bench\r\nFrom: <bench@remote.test>\r\n\r\n" +
                ("x" * 70 + "\r\n") * 28)
        self.body = body.encode() + b".\r\n"

    def one(self):
        t0 = time.monotonic()
        self.c.send("MAIL FROM:<bench@remote.test>\r\n")
        r1 = self.c.smtp_reply()
        self.c.send("RCPT TO:<%s>\r\n" % USER)
        r2 = self.c.smtp_reply()
        self.c.send("DATA\r\n")
        r3 = self.c.smtp_reply()
        self.c.send(self.body)
        r4 = self.c.smtp_reply()
        dt = time.monotonic() - t0
        if not (r1.startswith("250") and r2.startswith("250") and
                r3.startswith("354") and r4.startswith("250")):
            raise RuntimeError("delivery failed: %r" % [r1, r2, r3, r4])
        return dt

    def run(self, seconds, rate):
        lat = []
        period = 1.0 / rate
        t_next = time.monotonic()
        end = t_next + seconds
        while t_next < end:
            now = time.monotonic()
            if now < t_next:
                time.sleep(t_next - now)
            lat.append(self.one())
            t_next += period
        return lat

    def close(self):
        self.c.send("QUIT\r\n")
        self.c.close()


class Attacker(threading.Thread):
    """Starts a bad login every 1/rate s, each in its own thread."""

    def __init__(self, pop3, submission, rate, via):
        super().__init__(daemon=True)
        self.pop3, self.submission, self.rate = pop3, submission, rate
        self.via = via
        self.stop_ev = threading.Event()
        self.done = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.workers = []

    def _one(self, i):
        user = VICTIM if i % 2 == 0 else "nobody%d@example.test" % i
        try:
            if self.via == "pop3" or (self.via == "both" and
                                      (i // 2) % 2 == 0):
                pop_bad_login(self.pop3, user, "guess%d" % i)
            else:
                smtp_bad_login(self.submission, user, "guess%d" % i)
            with self.lock:
                self.done += 1
        except Exception:
            with self.lock:
                self.errors += 1

    def run(self):
        i = 0
        period = 1.0 / self.rate
        t_next = time.monotonic()
        while not self.stop_ev.is_set():
            now = time.monotonic()
            if now < t_next:
                time.sleep(t_next - now)
            t = threading.Thread(target=self._one, args=(i,), daemon=True)
            t.start()
            self.workers.append(t)
            i += 1
            t_next += period

    def stop(self):
        self.stop_ev.set()
        self.join()
        for t in self.workers:
            t.join(30)


def show(name, lat):
    ms = [x * 1000 for x in lat]
    print("  %-34s n=%-4d p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms" % (
        name, len(ms), pct(ms, 50), pct(ms, 99), max(ms)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rate", type=float, default=20)
    ap.add_argument("--login-rate", type=float, default=20)
    ap.add_argument("--probes", type=int, default=40)
    ap.add_argument("--login-via", choices=("both", "smtp", "pop3"),
                    default="both")
    a = ap.parse_args()

    site = Site(a.build)
    try:
        smtp, sub, pop3 = site.port(), site.port(), site.port()
        site.add_user(USER, PASSWORD)
        site.add_user(VICTIM, PASSWORD)
        site.write_conf({
            "smtp": {"listen": "127.0.0.1:%d" % smtp},
            "submission": {"listen": "127.0.0.1:%d" % sub},
            "pop3": {"listen": "127.0.0.1:%d" % pop3},
            "limits": {"connections_per_ip": "1000"},
            "auth": {"plaintext": "yes", "fail_delay": "0",
                     "fail_max": "100000", "lockout": "0"}})
        procs = []
        for name, port in (("smtpd", smtp), ("pop3d", pop3)):
            p = site.start(name)
            site.wait_port(port, p)
            procs.append(p)
        site.wait_port(sub, procs[0])

        print("bench_auth: %s, %.0f s per phase, deliveries %.0f/s, bad "
              "logins %.0f/s via %s; load average %s" % (
                  a.build, a.seconds, a.rate, a.login_rate, a.login_via,
                  " ".join(open("/proc/loadavg").read().split()[:3])))
        d = Deliverer(smtp)
        d.run(2, a.rate)		# warm up
        print("delivery latency (MAIL..250 after DATA, one session):")
        show("no logins", d.run(a.seconds, a.rate))
        att = Attacker(pop3, sub, a.login_rate, a.login_via)
        att.start()
        lat = d.run(a.seconds, a.rate)
        att.stop()
        show("%.0f bad logins/s (%s)" % (a.login_rate, a.login_via), lat)
        print("  (bad logins answered: %d, failed: %d)" % (att.done,
                                                          att.errors))
        d.close()

        unknown, wrong = [], []
        for i in range(a.probes):
            unknown.append(pop_bad_login(pop3, "ghost%d@example.test" % i,
                                         "guess"))
            wrong.append(pop_bad_login(pop3, VICTIM, "guess%d" % i))
        print("failed POP3 login, PASS to -ERR (fail_delay = 0):")
        for name, v in (("unknown user", unknown),
                        ("existing user, wrong password", wrong)):
            ms = [x * 1000 for x in v]
            print("  %-34s n=%-4d median %7.2f ms  p90 %7.2f ms" % (
                name, len(ms), statistics.median(ms), pct(ms, 90)))
        for p in procs:
            site.stop(p)
    finally:
        site.cleanup()


if __name__ == "__main__":
    main()
