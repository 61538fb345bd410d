#!/usr/bin/env python3
"""What spam_score() (deliver/spamscore.c) costs per message: the round
trip to a real spamd (tests/integration/spamd.py: loopback, local rules,
no DNS) for messages of several sizes, through spamscore-probe (COUNT
calls each, wall time min/median/max), and spamc -c on the same message
for comparison (one process per call, as a maildrop xfilter runs it).

usage: bench_spamscore.py BUILD_DIR [COUNT]

Messages: a 225-byte ham, GTUBE, and the spamassassin-public messages
nearest 5 KB, 50 KB and 400 KB (../shared/corpus, from the top of the
checkout; skipped when absent).  Prints the load average: spamd is
CPU-bound, so these are rates of a shared machine.
"""
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from spamd import SPAMC, Spamd  # noqa: E402
from test_spamd_fixture import GTUBE, HAM  # noqa: E402

CORPUS = "../shared/corpus/spamassassin-public"


def nearest(size):
    best = None
    for p in glob.glob(os.path.join(CORPUS, "*", "*.eml")):
        d = abs(os.path.getsize(p) - size)
        if best is None or d < best[0]:
            best = (d, p)
    if best is None:
        return None
    with open(best[1], "rb") as f:
        data = f.read()
    if data.startswith(b"From "):
        data = data.split(b"\n", 1)[1]
    return data


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    probe = os.path.join(sys.argv[1], "tests", "integration",
                         "spamscore-probe")
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 20
    if not Spamd.available():
        print("spamassassin is not installed")
        sys.exit(0)
    msgs = [("ham", HAM), ("GTUBE", GTUBE)]
    for size in (5000, 50000, 400000):
        data = nearest(size)
        if data is not None:
            msgs.append(("corpus ~%d KB" % (size // 1000), data))
    with Spamd() as sd, tempfile.TemporaryDirectory() as tmp:
        addr = "%s:%d" % (sd.host, sd.port)
        print("spamd start %.2f s; load average %s" %
              (sd.start_seconds, os.getloadavg()))
        for name, data in msgs:
            path = os.path.join(tmp, "m.eml")
            with open(path, "wb") as f:
                f.write(data)
            p = subprocess.run([probe, "-n", str(count), addr, path],
                               stdout=subprocess.PIPE, text=True)
            lines = p.stdout.splitlines()
            verdict = lines[0] if lines else "(nothing)"
            rtt = lines[1] if len(lines) > 1 else ""
            t = []
            for _ in range(count):
                t0 = time.monotonic()
                subprocess.run([SPAMC, "-d", sd.host, "-p", str(sd.port),
                                "-c"], input=data, stdout=subprocess.DEVNULL)
                t.append((time.monotonic() - t0) * 1e3)
            t.sort()
            print("%-16s %7d bytes  %s" % (name, len(data),
                                          " ".join(verdict.split()[:3])))
            print("  spam_score: %s" % rtt)
            print("  spamc -c:   rtt_ms min %.2f median %.2f max %.2f" %
                  (t[0], t[len(t) // 2], t[-1]))
        print("load average %s" % (os.getloadavg(),))


if __name__ == "__main__":
    main()
