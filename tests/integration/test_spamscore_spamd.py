#!/usr/bin/env python3
"""spam_score() (deliver/spamscore.c) against a real spamd: the spamd of
spamd.py (loopback, free port, its own site config, no network rules)
scores GTUBE as spam (>= 1000, the GTUBE rule among the symbols) and a
plain message as ham, with and without a User: header; a stopped spamd
gives "not scored" with the reason.  Prints the round trip of 20 calls
(a figure, never asserted).  Skipped (77) when spamassassin is not
installed.

Usage: test_spamscore_spamd.py SPAMSCORE_PROBE
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check  # noqa: E402
from spamd import Spamd  # noqa: E402
from test_spamd_fixture import GTUBE, HAM  # noqa: E402

SKIP = 77


def probe(exe, addr, path, *args):
    p = subprocess.run([exe] + list(args) + [addr, path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def run(exe, sd, tmp):
    addr = "%s:%d" % (sd.host, sd.port)
    spam = os.path.join(tmp, "gtube.eml")
    ham = os.path.join(tmp, "ham.eml")
    with open(spam, "wb") as f:
        f.write(GTUBE)
    with open(ham, "wb") as f:
        f.write(HAM)

    for user in ([], ["-u", "alice@example.test"]):
        rc, out, err = probe(exe, addr, spam, *user)
        check(rc == 0 and out.startswith("scored "),
              "GTUBE is scored %s" % user, (rc, out, err))
        words = out.split()
        score, threshold = float(words[1]), float(words[2])
        check(score >= 1000 and threshold == 5.0,
              "GTUBE scores >= 1000 against 5.0", out)
        check(len(words) > 3 and "GTUBE" in words[3].split(","),
              "the GTUBE rule is among the symbols", out)

        rc, out, err = probe(exe, addr, ham, *user)
        check(rc == 0 and out.startswith("scored "),
              "the ham message is scored %s" % user, (rc, out, err))
        words = out.split()
        check(float(words[1]) < float(words[2]),
              "the ham message scores under the threshold", out)

    rc, out, err = probe(exe, addr, ham, "-n", "20")
    check(rc == 0, "20 round trips", (rc, out, err))
    rtt = [line for line in out.splitlines() if line.startswith("rtt_ms")]
    return addr, ham, rtt[0] if rtt else "(no figure)"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    exe = sys.argv[1]
    if not Spamd.available():
        print("spamd, spamc or the spamassassin rules are not installed")
        sys.exit(SKIP)
    sd = Spamd()
    with tempfile.TemporaryDirectory(prefix="vellum-spamscore-") as tmp:
        try:
            sd.start()
            addr, ham, rtt = run(exe, sd, tmp)
            sd.stop()
            rc, out, err = probe(exe, addr, ham, "-t", "2000")
            check(rc == 1 and out.startswith("not scored: spamd ") and
                  "refused" in out, "a stopped spamd: not scored, "
                  "connection refused", (rc, out, err))
        except Failure as e:
            print("FAIL: %s" % e, file=sys.stderr)
            print("spamd's log:\n%s" % sd.log()[-4000:], file=sys.stderr)
            sd.stop()
            sys.exit(1)
        except Exception:
            sd.stop()
            raise
    print("spamd start: %.2f s" % sd.start_seconds)
    print("ham round trip, spam_score(): %s" % rtt)
    print("ok")


if __name__ == "__main__":
    main()
