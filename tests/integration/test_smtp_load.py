"""vellum-smtpd killed with SIGKILL under load loses no acknowledged
message: 8 threads send as fast as they can (one or two recipients per
message, each message a unique Subject), the daemon is killed after a
few seconds, every 250 is counted per recipient; after a restart each
acknowledged message is in its recipients' mailboxes exactly once
(messages that got no reply may or may not be there), a new delivery is
not held up by the dead daemon's locks, and `store check` passes.

usage: test_smtp_load.py BUILD_DIR [SECONDS]
"""
import collections
import os
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (HOST, SmtpSite, listing, message,  # noqa: E402
                      require_smtpd, sent_ok)

THREADS = 8
USERS = ["load%d@example.test" % i for i in range(4)]
SENDER = "sender@remote.test"


class Load:
    def __init__(self, port):
        self.port = port
        self.killed = threading.Event()
        self.lock = threading.Lock()
        self.acked = collections.defaultdict(set)	# user -> subjects
        self.sent = 0
        self.refused = []
        self.errors = []

    def worker(self, t):
        n = 0
        s = None
        while not self.killed.is_set():
            try:
                if s is None:
                    s = smtplib.SMTP(HOST, self.port, timeout=30)
                    s.ehlo("load%d.example.test" % t)
                subject = "load-t%d-%d" % (t, n)
                rcpts = [USERS[(t + n) % len(USERS)]]
                if n % 3 == 0:
                    rcpts.append(USERS[(t + n + 1) % len(USERS)])
                n += 1
                m = message(subject, size=1000 + 500 * (n % 8))
                if s.mail(SENDER)[0] != 250:
                    raise smtplib.SMTPException("MAIL refused")
                for r in rcpts:
                    code, resp = s.rcpt(r)
                    if code != 250:
                        raise smtplib.SMTPException("RCPT %s: %d %r" %
                                                    (r, code, resp))
                with self.lock:
                    self.sent += 1
                code, resp = s.data(m)
                if code == 250:
                    with self.lock:
                        for r in rcpts:
                            self.acked[r].add(subject)
                else:
                    with self.lock:
                        self.refused.append((subject, code, resp))
            except (smtplib.SMTPException, OSError) as e:
                if not self.killed.is_set():
                    with self.lock:
                        self.errors.append(repr(e))
                s = None
                if self.killed.is_set():
                    break
                time.sleep(0.05)


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    seconds = float(args[0]) if args else 4.0
    srv = SmtpSite(site, pop3=False, lmtp=False)
    for u in USERS:
        site.add_user(u, "pw")
    proc = srv.start()
    load = Load(srv.ports["smtp"])
    threads = [threading.Thread(target=load.worker, args=(t,), daemon=True)
               for t in range(THREADS)]
    for th in threads:
        th.start()
    time.sleep(seconds)
    load.killed.set()		# first: errors from now on are expected
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    for th in threads:
        th.join(60)
    check(not any(th.is_alive() for th in threads), "every load thread "
          "ended after the kill", "")
    total = sum(len(v) for v in load.acked.values())
    print("load: %d messages started DATA, %d recipients acknowledged "
          "with 250 in %.1f s before kill -9; %d refusals, %d errors"
          % (load.sent, total, seconds, len(load.refused),
             len(load.errors)))
    check(not load.refused, "no message was refused under load",
          load.refused[:5])
    check(not load.errors, "no session failed before the kill",
          load.errors[:5])
    check(total >= 50, "the load acknowledged enough messages to prove "
          "anything (at least 50 recipients)", total)

    # restart on the same store: the dead daemon's state is recovered
    srv.start(pop3=False)
    extra = 0
    for u in USERS:
        subjects = [m.get("subject") for m in listing(site, u)]
        have = collections.Counter(subjects)
        missing = sorted(load.acked[u] - set(have))
        check(not missing, "every message acknowledged with 250 for %s is "
              "stored (%d acknowledged)" % (u, len(load.acked[u])),
              missing[:10])
        dups = [k for k, c in have.items() if c > 1]
        check(not dups, "no message is stored twice for %s" % u, dups[:10])
        extra += len(set(have) - load.acked[u])
    print("load: %d stored copies got no 250 before the kill (allowed)"
          % extra)
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes after kill -9 under load", out)

    s = smtplib.SMTP(HOST, srv.ports["smtp"], timeout=30)
    t0 = time.monotonic()
    sent_ok(s, SENDER, USERS, message("after restart"), "a delivery to "
            "every load user after the restart")
    took = time.monotonic() - t0
    check(took < 5, "the dead daemon's delivery locks did not hold up the "
          "new delivery", took)
    s.quit()
    return 0


if __name__ == "__main__":
    main(run, usage="BUILD_DIR [SECONDS]")
