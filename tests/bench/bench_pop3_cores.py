#!/usr/bin/env python3
"""POP3 on every core, side by side with Dovecot (prints figures; not a test).

    tests/bench/bench_pop3_cores.py BUILD_DIR [CORPUS_DIR] [--users 100]
        [--messages 200] [--clients 16] [--seconds 10] [--workers 1,2]
        [--no-dovecot] [--no-install]

Fills a temporary Vellum store with USERS users (user0..userK-1@bench.test,
one password), each holding the first MESSAGES messages of the corpus
(default ../shared/corpus/spamassassin-public), then for each N in
--workers starts vellum-pop3d with `workers = N` in [pop3] (--workers ""
writes no such key: one run with the daemon's default) and runs the C load
generator pop3load (BUILD_DIR/tests/bench/pop3load, CLIENTS threads) for
SECONDS in two modes: "stat" (login, STAT, QUIT) and "retr" (login, STAT,
RETR of every message, QUIT).  Each server first gets one warm-up pass (one
retr session per user, not measured).

When /usr/sbin/dovecot exists (or can be installed: as root, apt-get
install dovecot-core dovecot-pop3d, unless --no-install), a private
Dovecot instance gets the same runs: its own config file and base_dir in a
temporary directory, listening on 127.0.0.1 on a free port only, passdb
passwd-file with {PLAIN} passwords (and SHA512-CRYPT, stat mode only),
userdb static, maildir with the same messages (its defaults otherwise:
a new login and pop3 process per session; --dovecot-fast adds a {PLAIN}
run in its high-performance login mode, login processes serving many
connections, and pop3 processes serving up to 100 sessions each).  The system's Dovecot
service is never started; if the package install started it, it is
stopped (and said so).

Prints one table line per server, configuration and mode: sessions/s,
messages/s, MB/s, errors, the server's CPU seconds per session and its CPU
use in cores (from /proc: the daemon, its live descendants and the children
it has reaped), then the ratios Vellum/Dovecot per mode.
"""
import argparse
import os
import pwd
import grp
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Failure, Site, descendants_of, free_port  # noqa: E402
from bench_pop3 import corpus_messages  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "bench-pw-1"
DOVECOT = "/usr/sbin/dovecot"
DOVECOT_POP3 = "/usr/lib/dovecot/pop3"
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid):
    """CPU seconds (user + system) of pid, of its live descendants and of
    the children they have waited for."""
    total = 0
    for p in [pid] + [d for d, _ in descendants_of(pid)]:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])
    return total / TICK


def pop3load(build, port, users, mode, clients, seconds, one_pass=False):
    """Runs pop3load; returns its result line as a dict."""
    argv = [os.path.join(build, "tests", "bench", "pop3load"),
            "-c", str(clients), "-s", str(seconds), "-v"]
    if one_pass:
        argv.append("-o")
    argv += ["127.0.0.1", str(port), str(users), DOMAIN, PASSWORD, mode]
    p = subprocess.run(argv, capture_output=True, text=True,
                       timeout=seconds + 600)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("result "):
            res = {k: float(v) for k, v in
                   (kv.split("=") for kv in line.split()[1:])}
    if res is None:
        raise Failure("pop3load %s: exit %d: %s%s" % (
            mode, p.returncode, p.stdout, p.stderr))
    if p.stderr.strip():
        print("  (pop3load: %s)" % p.stderr.strip().replace(
            "\n", "\n   "), file=sys.stderr)
    return res


def measure(a, pid, port, label, modes=("stat", "retr")):
    """Warm-up pass, then each mode; returns [row].  A row also has the
    1-minute load average at its end: other work on the machine takes
    CPU and disk from the server and from pop3load."""
    pop3load(a.build, port, a.users, "retr", a.clients, 1, one_pass=True)
    rows = []
    for mode in modes:
        cpu0 = tree_cpu_s(pid)
        r = pop3load(a.build, port, a.users, mode, a.clients, a.seconds)
        cpu = tree_cpu_s(pid) - cpu0
        r.update(label=label, mode=mode, cpu=cpu, load=os.getloadavg()[0])
        rows.append(r)
        print_row(r)
    return rows


HEADER = "%-28s %-4s %10s %10s %7s %6s %11s %6s %5s" % (
    "server", "mode", "sessions/s", "messages/s", "MB/s", "errors",
    "CPU ms/sess", "cores", "load")


def print_row(r):
    dt = r["seconds"]
    print("%-28s %-4s %10.1f %10.0f %7.1f %6d %11.2f %6.2f %5.1f" % (
        r["label"], r["mode"], r["sessions"] / dt, r["messages"] / dt,
        r["bytes"] / dt / 1e6, r["errors"],
        1000 * r["cpu"] / r["sessions"] if r["sessions"] else 0,
        r["cpu"] / dt, r["load"]), flush=True)


def run_vellum(a, msgs):
    rows = []
    with Site(a.build, prefix="vellum-bench-pop3-cores-") as site:
        t0 = time.monotonic()
        for i in range(a.users):
            user = "user%d@%s" % (i, DOMAIN)
            site.add_user(user, PASSWORD)
            site.add_mail(user, *msgs)
        print("vellum: store filled in %.1f s" % (time.monotonic() - t0),
              flush=True)
        for n in a.workers:
            port = site.port()
            pop3 = {"listen": "127.0.0.1:%d" % port}
            if n is not None:
                pop3["workers"] = str(n)
            site.write_conf({"pop3": pop3,
                             "limits": {"connections_per_ip": "1000",
                                        "connections": "2000"}})
            label = "vellum-pop3d workers=%s" % (
                n if n is not None else "(unset)")
            proc = site.start("pop3d")
            try:
                site.wait_port(port, proc)
            except Failure as e:
                print("%s: did not start:\n    %s" % (label, "\n    ".join(
                    proc.output().strip().splitlines()[-4:])), flush=True)
                continue
            rows += measure(a, proc.pid, port, label)
            site.stop(proc)
    return rows


def dovecot_install():
    """None if dovecot can run here, else why not."""
    # dovecot-core alone (installed for Dovecot's LMTP by
    # bench_delivery.py) has no POP3 server.
    if os.path.exists(DOVECOT) and os.path.exists(DOVECOT_POP3):
        return None
    if os.geteuid() != 0:
        return "%s missing and not root to install it" % DOVECOT
    if a_no_install:
        return "%s missing (--no-install)" % DOVECOT
    if not shutil.which("apt-get"):
        return "%s missing and no apt-get" % DOVECOT
    print("dovecot: apt-get install -y dovecot-core dovecot-pop3d",
          flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(["apt-get", "install", "-y", "-o",
                        "DPkg::Lock::Timeout=300", "dovecot-core",
                        "dovecot-pop3d"], capture_output=True, text=True,
                       env=env)
    if p.returncode != 0 or not os.path.exists(DOVECOT_POP3):
        return "apt-get install failed: %s" % (
            p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    stop_system_dovecot()
    return None


def stop_system_dovecot():
    """If the package's own service runs (the default config's master pid
    file names a live dovecot), stops it with `dovecot stop`."""
    try:
        with open("/run/dovecot/master.pid") as f:
            pid = int(f.read().split()[0])
        with open("/proc/%d/comm" % pid) as f:
            alive = f.read().strip() == "dovecot"
    except (OSError, ValueError, IndexError):
        return
    if alive:
        subprocess.run([DOVECOT, "stop"], capture_output=True)
        print("dovecot: the package started the system's dovecot (pid %d); "
              "stopped it with `dovecot stop`" % pid, flush=True)


DOVECOT_CONF = """\
# written by tests/bench/bench_pop3_cores.py: a private instance
base_dir = {d}/run
state_dir = {d}/state
instance_name = vellum-bench-{port}
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:{d}/mail/%d/%n
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme={scheme} username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%d/%n
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
{login_extra}}}
{extra}"""

# --dovecot-fast: Dovecot's "high-performance" login mode (login processes
# serve many connections, one per core kept ready) and pop3 processes that
# serve up to 100 sessions one after the other (all users have one uid).
DOVECOT_FAST_LOGIN = """\
  service_count = 0
  process_min_avail = {ncpu}
  client_limit = 1000
"""
DOVECOT_FAST = """\
service pop3 {
  service_count = 100
}
"""


def dovecot_fill(d, users, msgs, uid, gid):
    """Maildirs of users in d/mail, every user's files hard links to one
    copy (the store keeps one copy of each message too)."""
    src = os.path.join(d, "messages")
    os.mkdir(src)
    names = []
    for i, m in enumerate(msgs):
        name = "%d.M%dP1.bench,S=%d:2," % (1700000000 + i, i, len(m))
        with open(os.path.join(src, name), "wb") as f:
            f.write(m)
        names.append(name)
    for i in range(users):
        md = os.path.join(d, "mail", DOMAIN, "user%d" % i)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for name in names:
            os.link(os.path.join(src, name), os.path.join(md, "cur", name))
        os.makedirs(os.path.join(d, "home", DOMAIN, "user%d" % i))
    for top in ("messages", "mail", "home"):
        for root, dirs, files in os.walk(os.path.join(d, top)):
            os.chown(root, uid, gid)
            for f in files:
                os.chown(os.path.join(root, f), uid, gid)


def dovecot_hash(scheme):
    if scheme == "PLAIN":
        return "{PLAIN}" + PASSWORD
    # SHA512-CRYPT is crypt(3)'s $6$ with 5,000 rounds; doveadm pw would
    # read the system's dovecot.conf.
    assert scheme == "SHA512-CRYPT"
    p = subprocess.run(["openssl", "passwd", "-6", "-stdin"],
                       input=PASSWORD + "\n", capture_output=True, text=True)
    if p.returncode != 0 or not p.stdout.startswith("$6$"):
        raise Failure("openssl passwd -6: %s" % p.stderr.strip())
    return "{SHA512-CRYPT}" + p.stdout.strip()


def run_dovecot(a, msgs):
    why = dovecot_install()
    if why:
        print("dovecot: skipped (%s)" % why, flush=True)
        return []
    try:
        nobody = pwd.getpwnam("nobody")
        gid = grp.getgrnam("nogroup").gr_gid
    except KeyError:
        print("dovecot: skipped (no user nobody or group nogroup for the "
              "mail files)", flush=True)
        return []
    version = subprocess.run([DOVECOT, "--version"], capture_output=True,
                             text=True).stdout.strip()
    rows = []
    site = Site(a.build, prefix="vellum-bench-dovecot-")
    with site:
        d = site.tmp
        # The login and auth processes run as dovenull/dovecot.
        os.chmod(d, 0o755)
        t0 = time.monotonic()
        dovecot_fill(d, a.users, msgs, nobody.pw_uid, gid)
        print("dovecot %s: maildirs filled in %.1f s" % (
            version, time.monotonic() - t0), flush=True)
        runs = [("PLAIN", ("stat", "retr"), False),
                ("SHA512-CRYPT", ("stat",), False)]
        if a.dovecot_fast:
            runs.append(("PLAIN", ("stat", "retr"), True))
        for scheme, modes, fast in runs:
            h = dovecot_hash(scheme)
            with open(os.path.join(d, "passwd"), "w") as f:
                for i in range(a.users):
                    f.write("user%d@%s:%s\n" % (i, DOMAIN, h))
            os.chmod(os.path.join(d, "passwd"), 0o644)
            port = free_port()
            conf = os.path.join(d, "dovecot.conf")
            with open(conf, "w") as f:
                f.write(DOVECOT_CONF.format(
                    d=d, port=port, scheme="PLAIN" if scheme == "PLAIN"
                    else "CRYPT", uid=nobody.pw_uid, gid=gid,
                    login_extra=DOVECOT_FAST_LOGIN.format(
                        ncpu=os.cpu_count()) if fast else "",
                    extra=DOVECOT_FAST if fast else ""))
            label = "dovecot {%s}%s" % (scheme, " fast" if fast else "")
            proc = site.start(DOVECOT, "-F", "-c", conf, conf=False)
            try:
                site.wait_port(port, proc)
            except Failure as e:
                print("%s: did not start: %s" % (label, e), flush=True)
                break
            try:
                rows += measure(a, proc.pid, port, label, modes)
            finally:
                site.stop(proc, strict=False)
    return rows


def ratios(rows):
    dovecots = [r for r in rows if r["label"].startswith("dovecot")]
    for r, d in ((r, d) for r in rows for d in dovecots
                 if r["label"].startswith("vellum") and
                 d["mode"] == r["mode"]):
        vs, ds = (r["sessions"] / r["seconds"], d["sessions"] / d["seconds"])
        line = "  %s / %s, %s: sessions/s x%.2f" % (
            r["label"], d["label"], r["mode"], vs / ds if ds else
            float("nan"))
        if r["mode"] == "retr":
            vm, dm = (r["messages"] / r["seconds"],
                      d["messages"] / d["seconds"])
            line += ", messages/s x%.2f" % (vm / dm if dm else float("nan"))
        if d["cpu"] and d["sessions"] and r["sessions"]:
            line += ", CPU per session x%.2f" % (
                (r["cpu"] / r["sessions"]) / (d["cpu"] / d["sessions"]))
        print(line)


a_no_install = False


def main():
    global a_no_install
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?",
                    default="../shared/corpus/spamassassin-public")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", default="1,2",
                    help='comma-separated; "" writes no workers key')
    ap.add_argument("--no-dovecot", action="store_true")
    ap.add_argument("--dovecot-fast", action="store_true",
                    help="also Dovecot with login and pop3 processes that "
                    "serve many sessions")
    ap.add_argument("--no-install", action="store_true",
                    help="do not apt-get install a missing dovecot")
    a = ap.parse_args()
    a.build = os.path.abspath(a.build)
    a_no_install = a.no_install
    try:
        a.workers = [int(w) if w.strip() else None
                     for w in a.workers.split(",")]
    except ValueError:
        ap.error("--workers: comma-separated numbers; an empty item "
                 "(\"\", \",2\") is a run without the workers key")
    if a.users < 1 or a.messages < 1 or a.clients < 1 or a.seconds <= 0:
        ap.error("--users, --messages, --clients and --seconds must be "
                 "positive")
    if not os.access(os.path.join(a.build, "tests", "bench", "pop3load"),
                     os.X_OK):
        sys.exit("%s/tests/bench/pop3load missing: ninja -C %s" % (
            a.build, a.build))
    msgs = corpus_messages(a.corpus, a.messages)
    print("pop3 cores: %d users x %d messages (%.1f MB per maildrop), %d "
          "clients, %g s per run, %d cores" % (
              a.users, len(msgs), sum(len(m) for m in msgs) / 1e6,
              a.clients, a.seconds, os.cpu_count()), flush=True)
    rows = run_vellum(a, msgs)
    if not a.no_dovecot:
        rows += run_dovecot(a, msgs)
    else:
        print("dovecot: skipped (--no-dovecot)")
    print()
    print(HEADER)
    for r in rows:
        print_row(r)
    print("Vellum/Dovecot:")
    ratios(rows)


if __name__ == "__main__":
    main()
