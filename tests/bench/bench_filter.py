#!/usr/bin/env python3
"""Filter benchmark (prints figures; not a test).

    tests/bench/bench_filter.py BUILD_DIR [--sessions 20] [--messages 2000]
        [--spamd-messages 200] [--workers 4] [--max-procs 8] [--no-spamd]

Delivery through vellum-smtpd on loopback (bench_smtp.py's asyncio client:
pipelined MAIL/RCPT/DATA, durable commits) of 4 KB messages, each to one
of 100 mailboxes, over 20 sessions, in three runs, each on a fresh data
dir:

  none:   no filter at all;
  cat:    the issue's global recipe (the seeds' maildroprc) with spamc
          replaced by a no-op xfilter, `/bin/cat`: every message is
          evaluated and goes through one program run;
  spamd:  the same recipe with the real spamc talking to the real spamd
          (tests/integration/spamd.py, `-d 127.0.0.1 -p PORT` added),
          fewer messages (spamd is slow); skipped when spamd is not
          installed or the fixture is missing.

For each run: messages/s; vellum-smtpd's CPU time from /proc/PID/stat
(utime + stime) over the run divided by the messages (the evaluation of
filters happens on smtpd's filter workers, so it is in there); the
program runner's CPU (the helper process smtpd forked and the programs
it waited for: utime + stime + cutime + cstime of smtpd's child
processes); for spamd, spamd's CPU (the parent and its children) and
which side bounds the rate (the one nearest 100% of a core, on a machine
with os.cpu_count() cores).  Then the ratio cat/none (target >= 90%) and
the difference of smtpd CPU per message (the cost of evaluating the
filter, without the program itself).
"""
import argparse
import asyncio
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from daemon import Site, descendants_of  # noqa: E402
from bench_smtp import load, make_message, own_cpu_s  # noqa: E402

USERS = 100
RECIPE = """if ($SIZE < 131072)
{
  exception {
    xfilter "%s"
  }
}
DELETE_THRESHOLD=10.0
if (/^X-Spam-Flag: YES/)
{
  /X-Spam-Score: (\\d+)/
  if ($MATCH1 >= $DELETE_THRESHOLD)
  {
    to /dev/null
  }
  else
  {
    to Mail/.Spam/
  }
}
"""


def ticks(pid, children=False):
    """CPU seconds of pid (utime + stime; with children, + cutime +
    cstime: the children it waited for); 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fl = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    t = int(fl[11]) + int(fl[12])
    if children:
        t += int(fl[13]) + int(fl[14])
    return t / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid):
    """CPU seconds of every process below pid (and their waited-for
    children)."""
    return sum(ticks(p, True) for p, _ in descendants_of(pid))


def make_site(build, a):
    site = Site(build, prefix="vellum-bench-filter-")
    port = site.port()
    site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port},
                     "smtpd": {"max_recipients": "1000"},
                     "filter": {"user": "nobody", "timeout": "120",
                                "max_procs": str(a.max_procs),
                                "workers": str(a.workers)},
                     "limits": {"connections_per_ip": "1000",
                                "connections": "2000"}})
    users = ["u%d@bench.test" % i for i in range(USERS)]
    site.add_user(users[0], "pw")
    # The other 99 in one import-free loop of vellumctl calls.
    for u in users[1:]:
        site.ctl("user", "add", u, "--password-stdin", input="pw\n")
    return site, port, users


def run(name, build, a, recipe, n, extra=None):
    """One run on a fresh site: returns a dict of figures."""
    site, port, users = make_site(build, a)
    with site:
        if recipe is not None:
            p = site.path("maildroprc")
            with open(p, "w") as f:
                f.write(recipe)
            site.ctl("filter", "set", "--global", p)
        proc = site.start("smtpd")
        site.wait_port(port, proc)
        rng = random.Random(7)
        S = a.sessions
        jobs = [[] for _ in range(S)]
        for i in range(n):
            jobs[i % S].append(([users[i % USERS]],
                                make_message(rng, i, a.size)))
        # Warm-up: one message per session (the runner, the caches).
        warm = [[([users[i % USERS]], make_message(rng, 10 ** 6 + i,
                                                   a.size))]
                for i in range(S)]
        asyncio.run(load(port, warm))
        cpu0, run0, own0 = ticks(proc.pid), tree_cpu(proc.pid), own_cpu_s()
        ext0 = extra() if extra else 0.0
        t0 = time.monotonic()
        stats = asyncio.run(load(port, jobs))
        dt = time.monotonic() - t0
        cpu = ticks(proc.pid) - cpu0
        runner = tree_cpu(proc.pid) - run0
        own = own_cpu_s() - own0
        ext = (extra() - ext0) if extra else None
        inbox = site.ctl("--json", "user", "show", users[1])
        site.stop(proc)
    r = {"name": name, "msgs": stats["msgs"], "dt": dt, "rate":
         stats["msgs"] / dt, "cpu": cpu, "cpu_msg": cpu / stats["msgs"],
         "runner": runner, "own": own, "extra": ext}
    print("%s: %d messages of %d bytes to %d mailboxes, %d sessions, "
          "%.1f s (load average now %.1f on %d cores: other work on the "
          "machine takes CPU from the run)" % (
              name, stats["msgs"], a.size, USERS, S, dt, os.getloadavg()[0],
              os.cpu_count()))
    print("  messages/s:        %.0f" % r["rate"])
    print("  smtpd CPU:         %.2f s (%.0f%% of a core), %.0f us per "
          "message" % (cpu, 100 * cpu / dt, 1e6 * r["cpu_msg"]))
    print("  runner+programs:   %.2f s (%.0f%% of a core), %.0f us per "
          "message" % (runner, 100 * runner / dt,
                       1e6 * runner / stats["msgs"]))
    print("  client CPU:        %.2f s (%.0f%%)" % (own, 100 * own / dt))
    if ext is not None:
        print("  spamd CPU:         %.2f s (%.0f%% of a core), %.0f us per "
              "message" % (ext, 100 * ext / dt, 1e6 * ext / stats["msgs"]))
    print("  check (user show %s): %s" % (users[1], " ".join(
        inbox.split())[:160]))
    return r


def spamd_run(build, a):
    try:
        import spamd as fixture
    except ImportError:
        print("spamd: tests/integration/spamd.py is missing, skipped")
        return None
    if not fixture.Spamd.available():
        print("spamd: not installed, skipped")
        return None

    class ScoredSpamd(fixture.Spamd):
        # The recipe reads X-Spam-Score (test_filters_spamd.py says why).
        def _setup(self):
            super()._setup()
            with open(os.path.join(self.site, "local.cf"), "a") as f:
                f.write("add_header all Score _SCORE_\n")

    sd = ScoredSpamd()
    sd.start()
    print("spamd: started in %.1f s (pid %d, port %d)" % (
        sd.start_seconds, sd.proc.pid, sd.port))
    try:
        spamc = "/usr/bin/spamc -d 127.0.0.1 -p %d -u $RECIPIENT" % sd.port
        pid = sd.proc.pid
        return run("spamd: the recipe with the real spamc/spamd", build, a,
                   RECIPE % spamc, a.spamd_messages,
                   extra=lambda: ticks(pid, True) + tree_cpu(pid))
    finally:
        sd.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--spamd-messages", type=int, default=200)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--max-procs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--no-spamd", action="store_true")
    a = ap.parse_args()
    print("%d cores; [filter] workers = %d, max_procs = %d" % (
        os.cpu_count(), a.workers, a.max_procs))
    none = run("none: no filter", a.build, a, None, a.messages)
    cat = run("cat: the recipe, xfilter /bin/cat", a.build, a,
              RECIPE % "/bin/cat", a.messages)
    print("ratio cat/none: %.0f%% of the unfiltered rate (target >= 90%%)"
          % (100 * cat["rate"] / none["rate"]))
    print("smtpd CPU per message: %.0f us without, %.0f us with the "
          "filter: %+.0f us for evaluating it (the program's own run is in "
          "runner+programs)" % (1e6 * none["cpu_msg"], 1e6 * cat["cpu_msg"],
                                1e6 * (cat["cpu_msg"] - none["cpu_msg"])))
    tot_none = none["cpu"] / none["msgs"]
    tot_cat = (cat["cpu"] + cat["runner"]) / cat["msgs"]
    print("all server CPU per message (smtpd + runner + programs): %.0f us "
          "without, %.0f us with: a CPU-bound machine delivers at most "
          "%.0f%% of the unfiltered rate with this filter" % (
              1e6 * tot_none, 1e6 * tot_cat, 100 * tot_none / tot_cat))
    if a.no_spamd:
        return
    sp = spamd_run(a.build, a)
    if sp is not None:
        shares = {"spamd": sp["extra"] / sp["dt"],
                  "smtpd": sp["cpu"] / sp["dt"],
                  "runner+spamc": sp["runner"] / sp["dt"]}
        top = max(shares, key=shares.get)
        if shares[top] >= 0.8 or sum(shares.values()) >= 0.8 * \
                os.cpu_count():
            bound = "%s's CPU (the busiest, near a full core or all " \
                "cores busy)" % top
        else:
            bound = ("no process near a full core: latency and "
                     "concurrency (spamd's children, [filter] workers) "
                     "bound it; the busiest is %s" % top)
        print("spamd run: %.1f messages/s; CPU share of the wall time: %s; "
              "bound by %s (%d cores on the machine)" % (
                  sp["rate"], ", ".join("%s %.0f%%" % (k, 100 * v)
                                        for k, v in shares.items()),
                  bound, os.cpu_count()))


if __name__ == "__main__":
    main()
