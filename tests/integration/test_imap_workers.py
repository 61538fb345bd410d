"""vellum-imapd with [imap] workers = 3: the workers share the listeners,
each opens the store and its notification listener itself, sessions on
any of them see each other's changes (IDLE included), and SIGTERM to the
first process stops them all.

usage: test_imap_workers.py BUILD_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import workers_of  # noqa: E402
from imaptest import Failure, check, run  # noqa: E402

USER, PASS = "alice@example.test", "alice-pw"


def sockets_of(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith(
                    "socket:"):
                n += 1
        except OSError:
            pass
    return n


def test(site, args):
    site.write_imap_conf(sections={})
    with open(site.conf) as f:
        text = f.read()
    text = text.replace("[imap]\n", "[imap]\nworkers = 3\n", 1)
    with open(site.conf, "w") as f:
        f.write(text)
    site.add_user(USER, PASS)
    site.add_mail(USER, *[b"Subject: m%d\r\n\r\nbody\r\n" % i
                          for i in range(5)])
    proc = site.start_imapd(conf=False)
    kids = workers_of(proc.pid, 2)
    check(len(kids) == 2, "two worker processes under the first", kids)
    pids = [proc.pid] + kids
    before = {p: sockets_of(p) for p in pids}
    idlers = []
    for i in range(8):
        r = site.raw()
        r.cmd("a%d LOGIN %s %s" % (i, USER, PASS))
        _, unt = r.cmd("b%d SELECT INBOX" % i)
        check(b"* 5 EXISTS" in unt, "session %d sees 5 messages" % i, unt)
        r.send("c%d IDLE\r\n" % i)
        check(r.line() == b"+ idling", "session %d idles" % i, r.buf)
        idlers.append(r)
    spread = {p: sockets_of(p) - before[p] for p in pids}
    print("connections per process: %s" % spread)
    # A change by one more session reaches every idler, on any worker.
    w = site.raw()
    w.cmd("w0 LOGIN %s %s" % (USER, PASS))
    w.cmd("w1 SELECT INBOX")
    tagged, _ = w.cmd("w2 STORE 2 +FLAGS (\\Deleted)")
    check(tagged.startswith(b"w2 OK"), "STORE", tagged)
    tagged, unt = w.cmd("w3 EXPUNGE")
    check(unt == [b"* 2 EXPUNGE"], "EXPUNGE", (tagged, unt))
    for i, r in enumerate(idlers):
        r.s.settimeout(10)
        got = []
        while True:
            line = r.line()
            got.append(line)
            if line == b"* 2 EXPUNGE":
                break
            if not line.startswith(b"* 2 FETCH"):
                raise Failure("idler %d: unexpected %r" % (i, got))
        r.send("DONE\r\n")
        tagged, _ = r.until_tagged("c%d" % i)
        check(tagged == b"c%d OK Idle completed." % i, "DONE", tagged)
    w.cmd("w4 LOGOUT")
    # SIGTERM to the first process: BYE everywhere, every worker ends
    # (Site.stop() fails on leftovers).
    rc = site.stop(proc)
    check(rc == 0, "vellum-imapd with workers stops cleanly", rc)
    for i, r in enumerate(idlers):
        line = r.line_or_eof(timeout=10)
        check(line == b"* BYE Server shutting down.",
              "session %d told at shutdown" % i, line)


if __name__ == "__main__":
    run(test)
