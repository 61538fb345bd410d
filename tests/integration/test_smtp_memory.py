#!/usr/bin/env python3
"""vellum-smtpd: the memory bound of messages being received, and the one
reply of SMTP when an accepted recipient goes away (issue 7).

    test_smtp_memory.py BUILD_DIR

- [smtpd] memory_limit holds while the bytes arrive, not only when DATA
  starts: many sessions that all got 354 and then send large messages
  at once are spooled to unlinked files in data_dir (all stored whole),
  and the server's peak memory (VmHWM) stays far below what they sent;
- with spool_threshold = 0 (no spool file) a session that finds no room
  reads its message to the end, answers 452 4.3.1, stores nothing, and
  its connection then delivers a small message; DATA and BDAT;
- data lines of almost 1 MiB that have not ended yet, from many sessions,
  do not grow the server's memory beyond the bound either;
- RCPT a and b both 250, then b deleted (or disabled) before the end of
  DATA: SMTP answers 451 4.1.1 for the message and stores nothing (no
  queued forward either); the retry gets 550 for b at RCPT and delivers
  to a; LMTP answers per recipient.

The bounds are on memory (VmHWM from /proc), never on time.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (Raw, SmtpSite, count, queue, require_smtpd,  # noqa
                      stored)

# Under AddressSanitizer (.ci/run's sanitizer stage) freed blocks wait in
# a quarantine of 256 MiB before reuse, which the bounds below would count:
# a small quarantine keeps them about the server's own memory.
if "ASAN_OPTIONS" in os.environ:
    os.environ["ASAN_OPTIONS"] += ":quarantine_size_mb=1"

SENDER = "sender@remote.test"
USERS = ["m%d@example.test" % i for i in range(4)]
MIB = 1024 * 1024
MEMORY_LIMIT = 4 * MIB
# Load 1: SESSIONS x BIG bytes, all held at once by the old code.
SESSIONS = 24
BIG = 6 * MIB
# What the server may grow by while receiving them: the 4 MiB limit,
# every session's read buffers, one group commit (16 MiB of messages:
# hashing, compression, the write transaction) and the allocator's slack.
# The old code grew by 116 MiB here, this code by about 20 MiB.
GROWTH_MAX = 64 * MIB
# Load 2 (no spooling): NOROOM_SESSIONS x NOROOM_BIG > MEMORY_LIMIT.
NOROOM_SESSIONS = 8
NOROOM_BIG = 2 * MIB
# Load 3: LONG_SESSIONS unfinished lines of LONG bytes (under the 1 MiB
# line limit) at once.  The old code grew by 66 MiB here (each session's
# input buffer held its line), this code by about 7 MiB.
LONG_SESSIONS = 60
LONG = 1000000
LONG_GROWTH_MAX = 32 * MIB	# old code: 66 MiB, this one: 7


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def hwm(srv):
    return vm_kib(srv.smtpd.pid, "VmHWM") * 1024


def body_of(i, size):
    """A message of about size bytes, different for every i, CRLF lines
    of 78 characters (compressible as real text is, not all alike)."""
    head = ("Subject: big %d\r\nMessage-ID: <big%d@remote.test>\r\n\r\n" %
            (i, i)).encode()
    line = ("%06d " % i).encode() + bytes(range(65, 91)) * 2 + b"0123456789"
    lines = []
    n = 0
    k = 0
    while n < size:
        ln = line[:8] + b"%08d" % k + line[16:78] + b"\r\n"
        lines.append(ln)
        n += len(ln)
        k += 1
    return head + b"".join(lines)


def start_session(srv, rcpt, port="smtp"):
    r = Raw(srv.ports[port])
    check(r.greeting[0] == 220, "greeting 220", r.greeting)
    if port == "lmtp":
        check(r.cmd("LHLO client.example.test")[0] == 250, "LHLO", "")
    else:
        r.ehlo()
    check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
    for a in rcpt if isinstance(rcpt, list) else [rcpt]:
        c = r.cmd("RCPT TO:<%s>" % a)
        check(c[0] == 250, "RCPT %s" % a, c)
    return r


def run_parallel(n, fn):
    """fn(i, barrier) in n threads; returns their results (an exception
    in a thread is raised here)."""
    barrier = threading.Barrier(n, timeout=120)
    out = [None] * n

    def work(i):
        try:
            out[i] = fn(i, barrier)
        except BaseException as e:  # noqa: B902 - re-raised below
            out[i] = e
            barrier.abort()

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in out:
        if isinstance(r, BaseException):
            raise r
    return out


def send_data(r, msg, barrier):
    """DATA with every session in it before anyone sends (the old code
    checked the limit only there), the message, and the end only when
    every session has sent its bytes (so all are held at once)."""
    c = r.cmd("DATA")
    check(c[0] == 354, "DATA 354", c)
    barrier.wait()
    r.send(msg.replace(b"\r\n.", b"\r\n.."))
    barrier.wait()
    r.send(b"\r\n.\r\n" if not msg.endswith(b"\r\n") else b".\r\n")
    return r.reply()


def counts(site):
    return {u: count(site, u) for u in USERS}


def test_spooled(srv):
    # Many sessions x 6 MiB with a 4 MiB limit: all are spooled and all
    # stored whole; the server does not hold them in memory.
    site = srv.site
    before = counts(site)
    base = hwm(srv)

    def one(i, barrier):
        r = start_session(srv, USERS[i % len(USERS)])
        res = send_data(r, body_of(i, BIG), barrier)
        r.cmd("QUIT")
        r.close()
        return res

    res = run_parallel(SESSIONS, one)
    grown = hwm(srv) - base
    print("spooled: %d x %d bytes, VmHWM grew by %.1f MiB" %
          (SESSIONS, BIG, grown / MIB))
    ok = sum(1 for c, _ in res if c == 250)
    for c, t in res:
        check(c == 250 or (c == 452 and t[0].startswith(b"4.3.1")),
              "each large message is stored (250) or refused with 452 "
              "4.3.1", (c, t))
    after = counts(site)
    check(sum(after.values()) - sum(before.values()) == ok, "exactly the "
          "messages answered 250 are stored", (ok, before, after))
    check(ok == SESSIONS, "with spooling every message fits", ok)
    want = body_of(1, BIG)
    got = [m for m in stored(site, USERS[1]) if b"Subject: big 1\r\n" in m]
    check(len(got) == 1 and got[0].endswith(want), "a spooled message is "
          "stored byte for byte", [len(m) for m in got])
    check(grown < GROWTH_MAX, "smtpd's peak memory grew by less than %d "
          "MiB while %d sessions sent %d MiB (memory_limit %d MiB)" %
          (GROWTH_MAX // MIB, SESSIONS, SESSIONS * BIG // MIB,
           MEMORY_LIMIT // MIB), "%.1f MiB" % (grown / MIB))
    left = [f for f in os.listdir(site.data) if "spool" in f]
    check(left == [], "no spool file is left in data_dir", left)
    # BDAT past spool_threshold: spooled too, stored byte for byte.
    r = start_session(srv, USERS[2])
    msg = body_of(300, 3 * MIB)
    half = len(msg) // 3
    c = r.cmd(b"BDAT %d\r\n" % half + msg[:half])
    check(c[0] == 250, "BDAT chunk", c)
    c = r.cmd(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
    check(c[0] == 250, "a spooled BDAT message is accepted", c)
    got = [m for m in stored(site, USERS[2]) if b"Subject: big 300\r\n" in m]
    check(len(got) == 1 and got[0].endswith(msg), "a spooled BDAT message "
          "is stored byte for byte", [len(m) for m in got])
    r.cmd("QUIT")
    r.close()


def test_noroom_data(srv):
    # spool_threshold = 0: what does not fit gets 452 4.3.1 at its end,
    # nothing stored, the connection stays usable.
    site = srv.site
    before = counts(site)
    base = hwm(srv)

    def one(i, barrier):
        r = start_session(srv, USERS[i % len(USERS)])
        res = send_data(r, body_of(100 + i, NOROOM_BIG), barrier)
        return r, res

    out = run_parallel(NOROOM_SESSIONS, one)
    grown = hwm(srv) - base
    print("no spool, DATA: %d x %d bytes: %s, VmHWM grew by %.1f MiB" %
          (NOROOM_SESSIONS, NOROOM_BIG, [c for _, (c, _) in out],
           grown / MIB))
    ok = sum(1 for _, (c, _) in out if c == 250)
    refused = [r for r, (c, t) in out if c == 452 and
               t[0].startswith(b"4.3.1")]
    check(ok + len(refused) == NOROOM_SESSIONS, "each message is stored "
          "(250) or refused with 452 4.3.1", [res for _, res in out])
    check(len(refused) > 0, "%d x %d bytes at once do not fit in %d: some "
          "get 452 4.3.1" % (NOROOM_SESSIONS, NOROOM_BIG, MEMORY_LIMIT),
          [res for _, res in out])
    after = counts(site)
    check(sum(after.values()) - sum(before.values()) == ok, "exactly the "
          "messages answered 250 are stored", (ok, before, after))
    check(grown < GROWTH_MAX, "smtpd's peak memory grew by less than %d "
          "MiB" % (GROWTH_MAX // MIB), "%.1f MiB" % (grown / MIB))
    # The same connection delivers a small message after its 452.
    r = refused[0]
    n0 = count(site, USERS[0])
    check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL after 452", "")
    check(r.cmd("RCPT TO:<%s>" % USERS[0])[0] == 250, "RCPT after 452", "")
    check(r.cmd("DATA")[0] == 354, "DATA after 452", "")
    c = r.cmd("Subject: small\r\n\r\nafter the 452\r\n.")
    check(c[0] == 250, "a small message after a 452 on the same "
          "connection is accepted", c)
    check(count(site, USERS[0]) == n0 + 1, "and stored", "")
    for r, _ in out:
        r.cmd("QUIT")
        r.close()


def test_noroom_bdat(srv):
    # The same with BDAT: chunks of a message that found no room are
    # answered 452 4.3.1, LAST too; RSET, then a small message is fine.
    site = srv.site
    before = counts(site)

    def one(i, barrier):
        r = start_session(srv, USERS[i % len(USERS)])
        msg = body_of(200 + i, NOROOM_BIG)
        half = len(msg) // 2
        barrier.wait()
        r.send(b"BDAT %d\r\n" % half + msg[:half])
        first = r.reply()
        barrier.wait()
        r.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
        return r, first, r.reply()

    out = run_parallel(NOROOM_SESSIONS, one)
    print("no spool, BDAT: %s" % [(f[0], c[0]) for _, f, c in out])
    ok = 0
    refused = []
    for r, first, last in out:
        if last[0] == 250:
            check(first[0] == 250, "a stored message had its chunks "
                  "accepted", first)
            ok += 1
            continue
        check(last[0] == 452 and last[1][0].startswith(b"4.3.1"),
              "BDAT LAST: 250 or 452 4.3.1", last)
        refused.append(r)
    check(refused, "some BDAT messages find no room", "")
    after = counts(site)
    check(sum(after.values()) - sum(before.values()) == ok, "exactly the "
          "BDAT messages answered 250 are stored", (ok, before, after))
    r = refused[0]
    n0 = count(site, USERS[0])
    check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL after a BDAT "
          "452", "")
    check(r.cmd("RCPT TO:<%s>" % USERS[0])[0] == 250, "RCPT", "")
    small = b"Subject: small\r\n\r\nbdat after 452\r\n"
    c = r.cmd(b"BDAT %d LAST\r\n" % len(small) + small)
    check(c[0] == 250, "a small BDAT message after a 452 is accepted", c)
    check(count(site, USERS[0]) == n0 + 1, "and stored", "")
    for r, _, _ in out:
        r.cmd("QUIT")
        r.close()


def settled(srv):
    """Waits until the server's resident size stops changing (it has
    read what the clients sent)."""
    last = -1
    for _ in range(80):
        time.sleep(0.25)
        now = vm_kib(srv.smtpd.pid, "VmRSS")
        if now == last:
            return
        last = now


def test_long_lines(srv):
    # Unfinished data lines of LONG bytes from many sessions at once.
    site = srv.site
    base = hwm(srv)
    n0 = sum(counts(site).values())
    sent, measured = threading.Event(), threading.Event()
    holder = {}

    def one(i, barrier):
        r = start_session(srv, USERS[i % len(USERS)])
        c = r.cmd("DATA")
        check(c[0] == 354, "DATA 354", c)
        r.send(b"Subject: long %d\r\n\r\n" % i + b"%07d" % i +
               b"z" * (LONG - 7))
        if barrier.wait() == 0:
            sent.set()
        measured.wait(120)
        return r, r.cmd(b"\r\n.\r\n")

    def run_all():
        try:
            holder["out"] = run_parallel(LONG_SESSIONS, one)
        except BaseException as e:  # noqa: B902 - re-raised below
            holder["out"] = e
            sent.set()

    runner = threading.Thread(target=run_all)
    runner.start()
    sent.wait(300)
    settled(srv)
    grown = hwm(srv) - base
    measured.set()
    runner.join()
    out = holder["out"]
    if isinstance(out, BaseException):
        raise out
    print("unfinished lines: %d x %d bytes, VmHWM grew by %.1f MiB" %
          (LONG_SESSIONS, LONG, grown / MIB))
    for r, c in out:
        check(c[0] == 250, "a message with a line of %d bytes is accepted"
              % LONG, c)
        r.cmd("QUIT")
        r.close()
    check(sum(counts(site).values()) == n0 + LONG_SESSIONS, "all stored",
          "")
    check(grown < LONG_GROWTH_MAX, "smtpd's peak memory grew by less than "
          "%d MiB with %d unfinished lines of %d bytes" %
          (LONG_GROWTH_MAX // MIB, LONG_SESSIONS, LONG),
          "%.1f MiB" % (grown / MIB))


def test_rcpt_gone(srv):
    # RCPT a and b both 250; b deleted / disabled before the end of DATA.
    site = srv.site
    for how in ("del", "disable"):
        a, b = "ga-%s@example.test" % how, "gb-%s@example.test" % how
        site.add_user(a, "pw")
        site.add_user(b, "pw")
        site.ctl("addr", "add", "gf-%s@example.test" % how,
                 "someone@external.test", b)
        r = start_session(srv, [a, b, "gf-%s@example.test" % how])
        check(r.cmd("DATA")[0] == 354, "DATA", "")
        r.send(b"Subject: gone\r\n\r\nhello\r\n")
        if how == "del":
            site.ctl("user", "del", b)
        else:
            site.ctl("user", "disable", b, "--reason", "test")
        c = r.cmd(".")
        check(c[0] == 451 and c[1][0].startswith(b"4.1.1"), "user %s of an "
              "accepted recipient before the end of DATA: 451 4.1.1 for "
              "the message" % how, c)
        check(count(site, a) == 0, "nothing stored for the other "
              "recipient after the 451", count(site, a))
        check("someone@external.test" not in queue(site), "no forward "
              "queued after the 451", queue(site))
        # The retry: b refused at RCPT, a delivered once.
        check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
        check(r.cmd("RCPT TO:<%s>" % a)[0] == 250, "RCPT a", "")
        c = r.cmd("RCPT TO:<%s>" % b)
        check(c[0] == 550, "the retry's RCPT of the gone user: 550", c)
        check(r.cmd("DATA")[0] == 354, "DATA", "")
        c = r.cmd(b"Subject: gone\r\n\r\nhello\r\n.\r\n")
        check(c[0] == 250, "the retry is delivered", c)
        check(count(site, a) == 1, "one copy for the other recipient", "")
        r.cmd("QUIT")
        r.close()
    # LMTP keeps one reply per recipient.
    a, b = "la@example.test", "lb@example.test"
    site.add_user(a, "pw")
    site.add_user(b, "pw")
    r = start_session(srv, [a, b], port="lmtp")
    check(r.cmd("DATA")[0] == 354, "LMTP DATA", "")
    r.send(b"Subject: gone\r\n\r\nhello\r\n")
    site.ctl("user", "del", b)
    r.send(b".\r\n")
    c1, c2 = r.reply(), r.reply()
    check(c1[0] == 250, "LMTP: the remaining recipient gets 250", c1)
    check(c2[0] == 550, "LMTP: the deleted recipient gets 550", c2)
    check(count(site, a) == 1, "LMTP: delivered to the remaining one", "")
    r.cmd("QUIT")
    r.close()


def test_bdat_refused_first_chunk(srv):
    # A message whose first BDAT chunk found no room stays refused up to
    # LAST, even when room came back meanwhile: its later chunks never
    # start a message of their own (one without its first part).
    site = srv.site
    hold = start_session(srv, USERS[1])
    c = hold.cmd("DATA")
    check(c[0] == 354, "DATA 354", c)
    # 3 MiB held: its buffer doubles to 4 MiB, all of memory_limit
    big = body_of(300, MEMORY_LIMIT)
    hold.send(big[:3 * MIB])
    time.sleep(0.5)
    r = start_session(srv, USERS[2])
    before = count(site, USERS[2])
    msg = body_of(301, 64 * 1024)
    half = len(msg) // 2
    r.send(b"BDAT %d\r\n" % half + msg[:half])
    first = r.reply()
    check(first[0] == 452, "the first chunk finds no room: 452", first)
    hold.close()			# the room comes back
    time.sleep(0.5)
    r.send(b"BDAT %d LAST\r\n" % (len(msg) - half) + msg[half:])
    last = r.reply()
    check(last[0] == 452, "LAST of a message whose first chunk was "
          "refused is refused too", last)
    check(count(site, USERS[2]) == before, "nothing stored for it",
          count(site, USERS[2]))
    c = r.cmd("RSET")
    check(c[0] == 250, "RSET", c)
    r.cmd("QUIT")
    r.close()


def run(site, args):
    # One process: the memory checks read that process's RSS.
    site.workers = 1
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site, pop3=False,
                   smtpd={"memory_limit": str(MEMORY_LIMIT)})
    srv.sections["limits"] = {"connections_per_ip": "200"}
    site.write_conf(srv.sections)
    for u in USERS:
        site.add_user(u, "pw")
    srv.start(pop3=False)
    test_rcpt_gone(srv)
    test_spooled(srv)
    srv.restart()
    test_long_lines(srv)
    srv.reconfigure(smtpd={"spool_threshold": "0"})
    srv.restart()
    test_noroom_data(srv)
    test_noroom_bdat(srv)
    test_bdat_refused_first_chunk(srv)
    srv.alive("the memory tests")
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes", out)
    return 0


if __name__ == "__main__":
    main(run)
