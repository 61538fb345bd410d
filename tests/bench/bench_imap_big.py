#!/usr/bin/env python3
"""A big INBOX over IMAP (prints figures; not a test).

    tests/bench/bench_imap_big.py BUILD_DIR [CORPUS_DIR] [--messages N]
        [--word WORD] [--runs R]

Builds an INBOX of N messages (default 37,000) from the spamassassin
corpus repeated (default ../shared/corpus/spamassassin-public; each copy
gets its own X-Bench-Copy header line, so header segments differ while
bodies are shared as they would be for mail delivered many times),
imported with `vellumctl mail import` (internal dates spread over a year
through the files' mtimes), then times over one loopback connection,
each R times (default 3, the figures of every run printed):

  SELECT INBOX, FETCH 1:* (FLAGS), UID SEARCH TEXT "word",
  UID SEARCH SUBJECT "word" (header only), SEARCH UNSEEN LARGER 10000
  (msgs rows only), SORT (DATE) UTF-8 ALL, THREAD REFERENCES UTF-8 ALL,

and, while a TEXT search runs on one session, the round trip of NOOPs
on a second session of the same process (how long the search holds the
event loop: IMAP_SEARCH_SLICE / IMAP_SEARCH_SLICE_USEC).  Ends with the
server's CPU seconds and resident memory.  Commands the server does not
answer OK (a part not built yet) are printed as such.
"""
import argparse
import glob
import os
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from imaptest import ImapSite, Raw  # noqa: E402


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def timed(conn, text):
    """Sends one command; returns (seconds, tagged line, untagged bytes,
    first untagged line of interest)."""
    t0 = time.monotonic()
    tagged, untagged = conn.cmd(text)
    dt = time.monotonic() - t0
    return dt, tagged, sum(len(u) + 2 for u in untagged), untagged


def show(name, dt, tagged, nbytes, note=""):
    if b" OK " not in tagged:
        print("  %-34s not answered OK: %s" % (
            name, tagged.decode("utf-8", "replace")[:70]))
        return
    print("  %-34s %9.1f ms  %9d bytes%s" % (name, dt * 1000, nbytes,
                                             note))


def build_inbox(site, user, files, n):
    """Writes n message files (the corpus repeated) and imports them."""
    bodies = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        if data.startswith(b"From "):
            data = data[data.index(b"\n") + 1:]
        bodies.append(data)
    d = tempfile.mkdtemp(dir=site.tmp, prefix="big-")
    base = 1700000000
    for i in range(n):
        copy, k = divmod(i, len(bodies))
        p = os.path.join(d, "%06d.eml" % i)
        with open(p, "wb") as fh:
            fh.write(b"X-Bench-Copy: %d\n" % copy)
            fh.write(bodies[k])
        t = base + (i * 853) % (365 * 86400)
        os.utime(p, (t, t))
    t0 = time.monotonic()
    site.ctl("mail", "import", user, d)
    dt = time.monotonic() - t0
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))
    os.rmdir(d)
    return dt


def noop_latencies(port, user, stop, out):
    """NOOP round trips on a second session until stop is set."""
    c = Raw(port)
    c.cmd("n1 LOGIN %s pw" % user)
    i = 0
    while not stop.is_set():
        t0 = time.monotonic()
        c.cmd("n%d NOOP" % (i + 2))
        out.append(time.monotonic() - t0)
        i += 1
    c.cmd("nz LOGOUT")
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?",
                    default="../shared/corpus/spamassassin-public")
    ap.add_argument("--messages", type=int, default=37000)
    ap.add_argument("--word", default="money")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.corpus, "**", "*.eml"),
                             recursive=True))
    if not files:
        sys.exit("no *.eml files under %s" % a.corpus)
    site = ImapSite(a.build, prefix="vellum-bench-imap-big-")
    try:
        proc = site.start_imapd(limits={"imap_idle_timeout": "3600"})
        user = "big@bench.test"
        site.add_user(user, "pw")
        dt = build_inbox(site, user, files, a.messages)
        print("INBOX: %d messages (%d corpus files repeated), imported in "
              "%.1f s" % (a.messages, len(files), dt))
        pid = proc.pid
        cpu0 = cpu_s(pid)

        c = Raw(site.imap_port, timeout=600)
        c.cmd("a LOGIN %s pw" % user)
        word = a.word
        for run in range(a.runs):
            print("run %d:" % (run + 1))
            dt, t, nb, u = timed(c, "s%d SELECT INBOX" % run)
            exists = [x for x in u if x.endswith(b" EXISTS")]
            show("SELECT INBOX", dt, t, nb,
                 "  (%s)" % exists[0].decode() if exists else "")
            dt, t, nb, u = timed(c, "f%d FETCH 1:* (FLAGS)" % run)
            show("FETCH 1:* (FLAGS)", dt, t, nb,
                 "  (%d FETCH lines)" % len(u))
            for tag, cmd in (
                    ("ut", 'UID SEARCH TEXT "%s"' % word),
                    ("us", 'UID SEARCH SUBJECT "%s"' % word),
                    ("uc", "SEARCH UNSEEN LARGER 10000"),
                    ("so", "SORT (DATE) UTF-8 ALL"),
                    ("th", "THREAD REFERENCES UTF-8 ALL")):
                dt, t, nb, u = timed(c, "%s%d %s" % (tag, run, cmd))
                hits = ""
                if u and (u[-1].startswith(b"* SEARCH") or
                          u[-1].startswith(b"* SORT")):
                    hits = "  (%d numbers)" % (len(u[-1].split()) - 2)
                show(cmd, dt, t, nb, hits)
            c.cmd("x%d UNSELECT" % run)

        # the event loop while a TEXT search runs on another session
        c.cmd("sel SELECT INBOX")
        lat, stop = [], threading.Event()
        th = threading.Thread(target=noop_latencies,
                              args=(site.imap_port, user, stop, lat))
        th.start()
        time.sleep(0.3)
        base = list(lat)
        dt, t, nb, u = timed(c, 'bg UID SEARCH TEXT "%s"' % word)
        stop.set()
        th.join()
        during = lat[len(base):]
        show("UID SEARCH TEXT (with NOOPs beside)", dt, t, nb)
        if during:
            during.sort()
            print("  NOOP round trips on a second session meanwhile: %d, "
                  "median %.2f ms, max %.2f ms" % (
                      len(during), statistics.median(during) * 1000,
                      during[-1] * 1000))
        if base:
            print("  NOOP round trip before: median %.2f ms" % (
                statistics.median(base) * 1000))
        c.cmd("z LOGOUT")
        c.close()
        print("server: %.1f CPU s for the commands above, RSS %d KiB" % (
            cpu_s(pid) - cpu0, rss_kb(pid)))
    finally:
        site.cleanup()


if __name__ == "__main__":
    try:
        main()
    except (socket.error, KeyboardInterrupt) as e:
        sys.exit("bench_imap_big: %s" % e)
