"""Clients that hang up right after the end of their message, while it is
in a group commit on vellum-smtpd's store writer thread or waits for its
sync: the daemon keeps running and serving, frees those sessions only
once the writer is done with their messages (a session freed under the
thread would show as a crash or damaged mail here, and under the
sanitizers), and every message stored is whole and stored once.  Over
SMTP and LMTP, many clients at once so that groups form.

usage: test_smtp_hangup.py BUILD_DIR
"""
import collections
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, half_close, main  # noqa: E402
from smtptest import (HOST, Raw, SmtpSite, listing, message,  # noqa: E402
                      require_smtpd, sent_ok, stored)
import smtplib  # noqa: E402

USERS = ["hang%d@example.test" % i for i in range(3)]
SENDER = "sender@remote.test"
CLIENTS = 16	# at once: under the per-address limit (20)
ROUNDS = 3


def hang_up(port, lmtp, subject, rcpt, errors):
    """One message, then the connection closed without reading a reply."""
    try:
        r = None
        for _ in range(100):
            try:
                r = Raw(port)
                if r.greeting[0] == 220:
                    break
                r.close()
                r = None
                time.sleep(0.05)
            except (EOFError, OSError):
                # the per-address limit: the last round's sessions may
                # not all be gone yet
                time.sleep(0.05)
        if r is None:
            raise RuntimeError("no session within the limit")
        code, _ = r.cmd(("LHLO" if lmtp else "EHLO") + " c.example.test")
        if code != 250:
            raise RuntimeError("EHLO/LHLO %d" % code)
        for line, want in (("MAIL FROM:<%s>" % SENDER, 250),
                           ("RCPT TO:<%s>" % rcpt, 250),
                           ("DATA", 354)):
            code, text = r.cmd(line)
            if code != want:
                raise RuntimeError("%s: %d %r" % (line, code, text))
        r.send(message(subject, size=3000 + len(subject) * 37) +
               b".\r\n")
        # A reset, not an EOF: an EOF is answered (daemon.half_close()), a
        # reset ends the session while its message is in the group.
        r.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                       struct.pack("ii", 1, 0))
        r.close()
    except Exception as e:  # noqa: BLE001 - reported by the test
        errors.append("%s: %r" % (subject, e))


def _final_codes(got):
    """The code of each reply's last line."""
    return [ln[:3] for ln in got.split(b"\r\n")
            if len(ln) >= 4 and ln[3:4] == b" "]


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site, pop3=False, lmtp=True)
    for u in USERS:
        site.add_user(u, "pw")
    srv.start(pop3=False)
    sent = collections.defaultdict(dict)	# user -> subject -> bytes
    errors = []
    for via in ("smtp", "lmtp"):
        for rnd in range(ROUNDS):
            threads = []
            for c in range(CLIENTS):
                subject = "hangup-%s-%d-%d" % (via, rnd, c)
                rcpt = USERS[c % len(USERS)]
                sent[rcpt][subject] = message(
                    subject, size=3000 + len(subject) * 37)
                t = threading.Thread(target=hang_up, args=(
                    srv.ports[via], via == "lmtp", subject, rcpt, errors))
                t.start()
                threads.append(t)
            for t in threads:
                t.join(60)
            srv.alive("%d %s clients hung up after their data (round %d)"
                      % (CLIENTS, via.upper(), rnd))
    check(not errors, "every client got as far as its end of data",
          errors[:5])

    # A client that shuts down its side once it has sent everything
    # ("nc -N"): what it sent is answered, a message it ended is stored
    # and acknowledged, one it did not end is not.
    halfclosed = []
    for via in ("smtp", "lmtp"):
        hello = b"LHLO" if via == "lmtp" else b"EHLO"
        for case in ("quit", "noquit", "cut"):
            subject = "halfclose-%s-%s" % (via, case)
            body = message(subject)
            tail = {"quit": b".\r\nQUIT\r\n", "noquit": b".\r\n",
                    "cut": b""}[case]
            got = half_close(srv.ports[via], hello + b" c.example.test\r\n"
                             b"MAIL FROM:<" + SENDER.encode() + b">\r\n"
                             b"RCPT TO:<" + USERS[0].encode() + b">\r\n"
                             b"DATA\r\n" + body[:len(body) - 10 *
                                                 (case == "cut")] + tail)
            want = [b"220", b"250", b"250", b"250", b"354"]
            if case != "cut":
                want.append(b"250")
            if case == "quit":
                want.append(b"221")
            check(_final_codes(got) == want,
                  "%s, EOF after %s: every reply, then the server closes"
                  % (via, case), got)
            if case != "cut":
                sent[USERS[0]][subject] = body
            halfclosed.append((subject, case != "cut"))

    # The daemon still delivers, answering once the commit is synced.
    s = smtplib.SMTP(HOST, srv.ports["smtp"], timeout=30)
    s.ehlo("after.example.test")
    sent_ok(s, SENDER, USERS, message("after the hang-ups"),
            "a delivery to every user after the clients that hung up")
    s.quit()
    srv.alive("the delivery after the hang-ups")

    subjects = [m.get("subject") for m in listing(site, USERS[0])]
    for subject, kept in halfclosed:
        check((subject in subjects) == kept, "%s is %s" % (
            subject, "stored" if kept else "not stored (never ended)"),
            subjects[-8:])
    got_total = 0
    for u in USERS:
        subjects = [m.get("subject") for m in listing(site, u)]
        have = collections.Counter(subjects)
        dups = [k for k, c in have.items() if c > 1]
        check(not dups, "no message is stored twice for %s" % u, dups[:5])
        check("after the hang-ups" in have, "the later delivery reached %s"
              % u, subjects[-5:])
        for copy in stored(site, u):
            subj = None
            for line in copy.split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    subj = line[9:].decode()
                    break
            if subj is None or subj not in sent[u]:
                continue
            check(copy.endswith(sent[u][subj]), "the stored copy of %s for "
                  "%s is the message sent, whole" % (subj, u),
                  (len(copy), len(sent[u][subj])))
            if subj.startswith("halfclose-"):
                continue
            got_total += 1
    print("hangup: %d of %d messages were stored (a message may or may not "
          "be, its client never saw a reply)" %
          (got_total, 2 * ROUNDS * CLIENTS))
    log = srv.smtpd.output()
    print("hangup: the log says %d connection(s) lost while the writer "
          "thread committed, %d while the sync ran, %d before the end of "
          "data was read" % (
              log.count("connection lost before the reply; message id=") -
              log.count("its sync not awaited"),
              log.count("its sync not awaited"),
              log.count("connection lost in state")))
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes after the hang-ups", out)
    rc = srv.stop()
    check(rc == 0, "vellum-smtpd stops cleanly after the hang-ups", rc)
    return 0


if __name__ == "__main__":
    main(run, usage="BUILD_DIR")
