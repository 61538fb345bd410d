#!/usr/bin/env python3
"""spamd.py, the spamd of the filter tests, works: a real spamd started
on a free loopback port with its own directories answers spamc; GTUBE
scores at least 1000 and is flagged (X-Spam-Flag: YES), a plain message
is not; stop() leaves no spamd process behind.  Prints the start time
and one GTUBE round trip (figures, never asserted).  Skipped (77) when
spamassassin/spamc are not installed.

Usage: test_spamd_fixture.py
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, pid_alive  # noqa: E402
from spamd import Spamd  # noqa: E402

SKIP = 77
GTUBE = (b"From: spammer@example.test\r\n"
         b"To: user@example.test\r\n"
         b"Subject: test spam\r\n"
         b"Message-ID: <gtube@example.test>\r\n"
         b"Date: Wed, 02 Dec 2026 01:00:00 +0000\r\n"
         b"\r\n"
         b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*"
         b"C.34X\r\n")
HAM = (b"From: alice@example.test\r\n"
       b"To: bob@example.test\r\n"
       b"Subject: lunch on thursday\r\n"
       b"Message-ID: <ham1@example.test>\r\n"
       b"Date: Wed, 02 Dec 2026 01:00:00 +0000\r\n"
       b"\r\n"
       b"Hi Bob,\r\n\r\nShall we meet at noon on Thursday at the usual "
       b"place?\r\n\r\nAlice\r\n")


def header_block(msg):
    head = msg.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return head.decode("utf-8", "replace")


def flagged(msg):
    return re.search(r"(?mi)^X-Spam-Flag:\s*YES", header_block(msg)) \
        is not None


def score_of(msg):
    m = re.search(r"(?mi)^X-Spam-Status:.*?score=(-?[0-9.]+)",
                  header_block(msg))
    return float(m.group(1)) if m else None


def run(sd):
    t0 = time.monotonic()
    rc, out = sd.spamc(GTUBE)
    rtt = time.monotonic() - t0
    check(rc == 0, "spamc on GTUBE exits 0 (without -E)", (rc, out))
    check(flagged(out), "GTUBE gets X-Spam-Flag: YES", header_block(out))
    score = score_of(out)
    check(score is not None and score >= 1000,
          "GTUBE scores >= 1000 (X-Spam-Status)", header_block(out))
    check(out.rstrip().endswith(GTUBE.rstrip().split(b"\r\n")[-1]),
          "the body comes back", out[-200:])
    # -c: the score alone, exit 1 for spam.
    rc, out2 = sd.spamc(GTUBE, "-c")
    check(rc == 1 and out2.startswith(b"1"), "spamc -c says spam",
          (rc, out2))

    rc, out = sd.spamc(HAM)
    check(rc == 0, "spamc on the ham message exits 0", (rc, out))
    check(not flagged(out), "the ham message is not flagged",
          header_block(out))
    score = score_of(out)
    check(score is not None and score < 5, "the ham message scores < 5",
          header_block(out))
    rc, out2 = sd.spamc(HAM, "-c")
    check(rc == 0, "spamc -c says ham", (rc, out2))
    return rtt


def main():
    if not Spamd.available():
        print("spamd, spamc or the spamassassin rules are not installed")
        sys.exit(SKIP)
    sd = Spamd()
    pid = None
    try:
        sd.start()
        pid = sd.proc.pid
        rtt = run(sd)
        print("spamd start (to the first PONG): %.2f s" % sd.start_seconds)
        print("GTUBE round trip (spamc): %.3f s" % rtt)
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        print("spamd's log:\n%s" % sd.log()[-4000:], file=sys.stderr)
        sd.stop()
        sys.exit(1)
    except Exception:
        print("spamd's log:\n%s" % sd.log()[-4000:], file=sys.stderr)
        sd.stop()
        raise
    tmp = sd.tmp
    sd.stop()
    if pid_alive(pid) or os.path.exists(tmp):
        print("FAIL: stop() left spamd %d running (%s) or %s behind"
              % (pid, pid_alive(pid), tmp), file=sys.stderr)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
