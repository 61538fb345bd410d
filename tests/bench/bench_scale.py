#!/usr/bin/env python3
"""Issue 13 "flat at scale" benchmark (prints figures; not a test).

    tests/bench/bench_scale.py BUILD_DIR [--users 100000]
        [--messages 1000000] [--corpus DIR] [--jobs 2] [--keep DIR]
        [--reuse DIR] [--mem-limit SIZE] [--seed N]
        [--only PART,...] [--rounds N]

Builds a store of --users users (over users/1000 domains, at least one)
holding --messages messages made from the SpamAssassin public corpus
(tests/bench/README.md), then measures what should not grow with it:

  - durable appends/s with an empty store (the users exist, no mail) and
    again once the store is full, measured the same way: Postfix's
    smtp-source delivering 20 x 4 KB messages to each of 100 random users
    over SMTP, 20 sessions at once, and `vellumctl mail import` of a fixed
    batch (10 random users x 100 corpus messages, one process each);
  - the time of a POP3 USER/PASS login of random users (the address
    lookup and the password check), at the start and at the end;
  - the times of `vellumctl user list`, `quota report`, `store check`,
    `store backup`, `store stats`;
  - the store's size per message (du of DATA_DIR/store / messages);
  - the peak resident memory (VmHWM) of vellum-smtpd, -pop3d, -imapd and
    -fs while they are exercised, each in a memory cgroup whose limit is
    far below the store's size, after the store file has been dropped
    from the page cache, so that the map cannot stay in memory.

How the store is built (the fastest real path): the users come from one
`vellumctl user import` (one SHA-512-crypt hash, computed once, for all:
hashing 100,000 passwords would only measure crypt), the mail from one
`vellumctl mail import` per user of a directory of that user's messages
(--jobs of them at once).  Each message is a corpus message (first
"From " line stripped; the corpus's own size mix) with new Message-ID,
Date and To headers and a unique last line, so that no two messages have
the same header or text; most go to one recipient, some to several (the
same bytes imported for each of them, which the store keeps once):
90% 1 recipient, 8% 2-5, 2% 6-30.  Recipients are drawn with log-normal
weights, so a few mailboxes are large and many are small.  --messages
counts messages in mailboxes (each recipient's copy is one).

--keep DIR keeps the site (data dir, config) in DIR; --reuse DIR starts
from a site kept that way and skips the build.  --only smtp,import,login,
admin,memory measures only those parts (all by default); --rounds N
repeats the import measurement N times (new messages each round, the
same users) and prints each round and the median, to see through a busy
machine.  The start of a --reuse run is measured on a users-only site:
`--messages 0 --keep START` makes one (nothing is built), and
`--reuse FULL --start START` measures the import start on START and the
end on FULL with the same binaries and the same users.
"""
import argparse
import concurrent.futures
import json
import math
import os
import poplib
import imaplib
import random
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "scale-bench-pw"
SMTP_USERS, SMTP_PER_USER, SMTP_SESSIONS = 100, 20, 20
IMPORT_USERS, IMPORT_PER_USER = 10, 100
LOGINS = 200
PARTS = ("smtp", "import", "login", "admin", "memory")
# Corpus messages have lines longer than poplib's default limit (2048).
poplib._MAXLINE = 1 << 20


def out(*a):
    print(*a)
    sys.stdout.flush()


def du(path):
    """Allocated bytes under path (du -s --block-size=1)."""
    p = subprocess.run(["du", "-s", "--block-size=1", path],
                       capture_output=True, text=True, check=True)
    return int(p.stdout.split()[0])


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return "%.1f %s" % (n, unit) if unit != "B" else "%d B" % n
        n /= 1024.0


def parse_size(s):
    s = s.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def smtp_source_path():
    exe = shutil.which("smtp-source")
    if exe is None and os.access("/usr/sbin/smtp-source", os.X_OK):
        exe = "/usr/sbin/smtp-source"
    return exe


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_pids(pid):
    """pid and its descendants."""
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return pids


# --- the corpus and the plan ----------------------------------------------

def load_corpus(d):
    msgs = []
    for root, _, files in os.walk(d):
        for name in sorted(files):
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            if data.startswith(b"From "):
                nl = data.find(b"\n")
                data = data[nl + 1:] if nl >= 0 else b""
            hdr_end = data.find(b"\n\n")
            if hdr_end < 0:
                continue
            msgs.append((data[:hdr_end + 1], data[hdr_end + 1:]))
    return msgs


DROP = (b"message-id:", b"date:", b"to:", b"cc:", b"delivered-to:",
        b"x-original-to:")


def strip_headers(hdr):
    """The header block without the fields we write ourselves."""
    outl, skip = [], False
    for line in hdr.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                outl.append(line)
            continue
        skip = line.lower().startswith(DROP)
        if not skip:
            outl.append(line)
    return b"\n".join(outl).rstrip(b"\n") + b"\n"


class Plan:
    """Which message goes to whom; message bytes made on demand."""

    def __init__(self, corpus, users, messages, seed, domains):
        self.corpus = [(strip_headers(h), b) for h, b in corpus]
        self.users, self.domains = users, domains
        self.seed = seed
        rng = random.Random(seed)
        weights = [rng.lognormvariate(0.0, 1.0) for _ in range(users)]
        cum, s = [], 0.0
        for w in weights:
            s += w
            cum.append(s)
        self.msgs = []          # msg id -> (corpus index, (user, ...))
        self.inbox = [[] for _ in range(users)]
        rows = 0
        ids = range(users)
        while rows < messages:
            r = rng.random()
            if r < 0.90:
                k = 1
            elif r < 0.98:
                k = rng.randint(2, 5)
            else:
                k = rng.randint(6, 30)
            k = min(k, messages - rows, users)
            rcpts = set()
            while len(rcpts) < k:
                rcpts.update(rng.choices(ids, cum_weights=cum,
                                         k=k - len(rcpts)))
            rcpts = tuple(sorted(rcpts))
            mid = len(self.msgs)
            self.msgs.append((rng.randrange(len(self.corpus)), rcpts))
            for u in rcpts:
                self.inbox[u].append(mid)
            rows += k
        self.rows = rows

    def address(self, u):
        return "u%d@d%d.scale.test" % (u, u % self.domains)

    def message(self, mid):
        c, rcpts = self.msgs[mid]
        hdr, body = self.corpus[c]
        t = 1700000000 + mid * 7
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
        to = ",\n ".join(self.address(u) for u in rcpts)
        new = ("Message-ID: <%d.%d@scale.bench.test>\nDate: %s\nTo: %s\n"
               % (mid, self.seed, date, to)).encode()
        tail = body if body.endswith(b"\n") else body + b"\n"
        return new + hdr + tail + b"scale-bench-ref: %d\n" % mid


def write_dir(d, datas):
    os.makedirs(d)
    for i, data in enumerate(datas):
        with open(os.path.join(d, "%06d.eml" % i), "wb") as f:
            f.write(data)


# --- phases ---------------------------------------------------------------

class Bench:
    def __init__(self, a, site):
        self.a, self.site = a, site
        self.vctl = site.binary("vellumctl")
        self.stage = tempfile.mkdtemp(prefix="vellum-bench-scale-",
                                      dir="/dev/shm" if os.path.isdir(
                                          "/dev/shm") else None)
        self.extra = 0      # messages added by the measurements
        self.rng = random.Random(a.seed + 1)
        # The import's users and messages come from their own generators,
        # so that --only and --start measure the same users as a full run.
        self.imp_users = None
        self.imp_round = 0

    def ctl(self, *args, stdout=None):
        argv = [self.vctl, "-d", self.site.data] + [str(x) for x in args]
        p = subprocess.run(argv, stdout=stdout or subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise RuntimeError("vellumctl %s: exit %d: %s" % (
                " ".join(argv[3:]), p.returncode,
                p.stderr.decode("utf-8", "replace")[-500:]))
        return p.stdout.decode("utf-8", "replace") if p.stdout else ""

    def timed(self, *args):
        t0 = time.monotonic()
        with open(os.devnull, "wb") as devnull:
            self.ctl(*args, stdout=devnull)
        return time.monotonic() - t0

    def stats(self):
        return json.loads(self.ctl("--json", "store", "stats"))

    def users_setup(self, users, domains):
        t0 = time.monotonic()
        for d in range(domains):
            self.ctl("domain", "add", "d%d.scale.test" % d)
        h = subprocess.run(["openssl", "passwd", "-6", PASSWORD],
                           capture_output=True, text=True,
                           check=True).stdout.strip()
        f = os.path.join(self.stage, "users.txt")
        with open(f, "w") as fh:
            for u in range(users):
                fh.write("u%d@d%d.scale.test %s\n" % (u, u % domains, h))
        t1 = time.monotonic()
        self.ctl("user", "import", f)
        t2 = time.monotonic()
        os.unlink(f)
        out("setup: %d domains in %.1f s; user import of %d users in "
            "%.1f s (%.0f users/s)" % (domains, t1 - t0, users, t2 - t1,
                                       users / (t2 - t1)))

    def build(self, plan, jobs):
        total = plan.rows
        done, t0 = 0, time.monotonic()
        step = max(1, total // 10)
        next_mark, mark_t, mark_n = step, t0, 0

        def one(u):
            mids = plan.inbox[u]
            if not mids:
                return 0
            d = os.path.join(self.stage, "u%d" % u)
            write_dir(d, [plan.message(m) for m in mids])
            try:
                self.ctl("mail", "import", plan.address(u), d)
            finally:
                shutil.rmtree(d, ignore_errors=True)
            return len(mids)

        out("build: %d messages (%d distinct) for %d users, %d import "
            "processes at once" % (total, len(plan.msgs), plan.users, jobs))
        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for n in pool.map(one, range(plan.users), chunksize=1):
                done += n
                if done >= next_mark or done == total:
                    now = time.monotonic()
                    out("  %7d messages  %6.0f s  this slice %5.0f msgs/s"
                        "  store %s" % (done, now - t0, (done - mark_n) /
                                        max(now - mark_t, 1e-9),
                                        human(du(self.store_dir()))))
                    mark_t, mark_n = now, done
                    while next_mark <= done:
                        next_mark += step
        dt = time.monotonic() - t0
        out("build: %d messages in %.0f s (%.0f msgs/s)" % (done, dt,
                                                         done / dt))

    def store_dir(self):
        return os.path.join(self.site.data, "store")

    def random_users(self, n, users, domains):
        return ["u%d@d%d.scale.test" % (u, u % domains)
                for u in self.rng.sample(range(users), n)]

    # -- appends
    def appends_smtp(self, label, port, users, domains):
        exe = smtp_source_path()
        if exe is None:
            out("%s SMTP appends: smtp-source not installed (apt-get "
                "install postfix); skipped" % label)
            return None
        rcpts = self.random_users(SMTP_USERS, users, domains)

        def run(r):
            argv = [exe, "-d", "-s", "1", "-m", str(SMTP_PER_USER), "-l",
                    "4096", "-f", "bench@remote.test", "-t", r,
                    "-M", "bench.remote.test", "127.0.0.1:%d" % port]
            p = subprocess.run(argv, capture_output=True, timeout=900)
            if p.returncode != 0 or p.stderr.strip():
                raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr))
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(SMTP_SESSIONS) as pool:
            list(pool.map(run, rcpts))
        dt = time.monotonic() - t0
        n = SMTP_USERS * SMTP_PER_USER
        self.extra += n
        rate = n / dt
        out("%s SMTP appends: %d x 4 KB over %d random users, %d "
            "sessions: %.2f s, %.0f msgs/s (durable)" % (
                label, n, SMTP_USERS, SMTP_SESSIONS, dt, rate))
        return rate

    def appends_import(self, label, plan, users, domains):
        # Dictionary training, when due, runs first and apart (import
        # would run it between its batches): it is not an append.
        dt = self.timed("store", "optimize")
        out("%s vellumctl store optimize (when due): %.2f s" % (label, dt))
        if self.imp_users is None:
            rng = random.Random(self.a.seed + 3)
            self.imp_users = ["u%d@d%d.scale.test" % (u, u % domains)
                              for u in rng.sample(range(users),
                                                  IMPORT_USERS)]
        rates = []
        for rnd in range(self.a.rounds):
            rates.append(self.import_round(label, plan, rnd))
        if len(rates) > 1:
            rates.sort()
            out("%s import appends: median of %d rounds %.0f msgs/s "
                "(min %.0f, max %.0f)" % (label, len(rates),
                                          rates[len(rates) // 2],
                                          rates[0], rates[-1]))
        return rates[len(rates) // 2]

    def import_round(self, label, plan, rnd):
        rng = random.Random(self.a.seed + 7 + 1000 * rnd)
        dirs = []
        self.imp_round += 1
        for i, r in enumerate(self.imp_users):
            datas = []
            for k in range(IMPORT_PER_USER):
                c = rng.randrange(len(plan.corpus))
                hdr, body = plan.corpus[c]
                tag = "%s.%d.%d.%d.%d.%d" % (
                    label.split()[0], self.a.seed, os.getpid(),
                    self.imp_round, i, k)
                datas.append(("Message-ID: <%s@import.scale.test>\nTo: %s"
                              "\n" % (tag, r)).encode() + hdr + body +
                             b"\nimport-ref: " + tag.encode() + b"\n")
            d = os.path.join(self.stage, "imp%d" % i)
            write_dir(d, datas)
            dirs.append((r, d))
        t0 = time.monotonic()
        for r, d in dirs:
            self.ctl("mail", "import", r, d)
        dt = time.monotonic() - t0
        for _, d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        n = IMPORT_USERS * IMPORT_PER_USER
        self.extra += n
        out("%s import appends: %d corpus messages into %d random users "
            "(one vellumctl each): %.2f s, %.0f msgs/s (durable; load %s)"
            % (label, n, IMPORT_USERS, dt, n / dt,
               " ".join("%.2f" % x for x in os.getloadavg())))
        return n / dt

    # -- logins
    def logins(self, label, port, users, domains):
        times = []
        for addr in self.random_users(LOGINS, users, domains):
            p = poplib.POP3("127.0.0.1", port, timeout=30)
            t0 = time.monotonic()
            p.user(addr)
            p.pass_(PASSWORD)
            times.append(time.monotonic() - t0)
            p.stat()
            p.quit()
        times.sort()
        out("%s POP3 USER/PASS of %d random users: mean %.2f ms, p50 "
            "%.2f ms, p99 %.2f ms, max %.2f ms" % (
                label, len(times), 1000 * sum(times) / len(times),
                1000 * times[len(times) // 2],
                1000 * times[int(len(times) * 0.99) - 1],
                1000 * times[-1]))
        return times[len(times) // 2]

    def admin_times(self, users, domains):
        addr = self.random_users(1, users, domains)[0]
        for args in (("user", "list"), ("quota", "report"),
                     ("user", "show", addr), ("auth", "test", addr,
                                               PASSWORD),
                     ("store", "stats"), ("store", "check")):
            dt = self.timed(*args)
            out("vellumctl %s: %.2f s" % (" ".join(
                a if a != PASSWORD else "PW" for a in args), dt))
        dest = tempfile.mkdtemp(prefix="vellum-bench-scale-backup-",
                                dir=os.path.dirname(self.site.data))
        try:
            dt = self.timed("store", "backup", dest)
            out("vellumctl store backup: %.2f s (copy: %s)" % (
                dt, human(du(dest))))
        finally:
            shutil.rmtree(dest, ignore_errors=True)

    def cleanup(self):
        shutil.rmtree(self.stage, ignore_errors=True)


# --- daemons, cgroups -----------------------------------------------------

def write_conf(site, ports, mount=None, workers=None):
    sec = {"smtp": {"listen": "127.0.0.1:%d" % ports["smtp"]},
           "pop3": {"listen": "127.0.0.1:%d" % ports["pop3"]},
           "imap": {"listen": "127.0.0.1:%d" % ports["imap"]},
           "smtpd": {"max_recipients": "1000"},
           "limits": {"connections_per_ip": "1000",
                      "connections": "2000"}}
    if mount:
        sec["fs"] = {"mountpoint": mount}
    site.workers = workers
    site.write_conf(sec, fail_delay=0)


class Cgroup:
    """A memory cgroup (v2 memory.max, else v1 memory.limit_in_bytes)."""

    def __init__(self, name, limit):
        self.path = None
        self.why = None
        self.limit = limit
        v2 = "/sys/fs/cgroup"
        ctrl = os.path.join(v2, "cgroup.controllers")
        try:
            if os.path.exists(ctrl) and "memory" in open(ctrl).read():
                own = open("/proc/self/cgroup").read().split("\n")[0]
                base = os.path.join(v2, own.split("::", 1)[1].lstrip("/"))
                self.path = os.path.join(base, name)
                os.mkdir(self.path)
                with open(os.path.join(self.path, "memory.max"), "w") as f:
                    f.write(str(limit))
                with open(os.path.join(self.path, "memory.swap.max"),
                          "w") as f:
                    f.write("0")
                self.kind = "v2 memory.max"
                return
        except OSError as e:
            self.why = "cgroup v2: %s" % e
            self.path = None
        try:
            own = [ln for ln in open("/proc/self/cgroup").read().split("\n")
                   if ":memory:" in ln][0].split(":", 2)[2]
            base = "/sys/fs/cgroup/memory" + own
            self.path = os.path.join(base, name)
            os.mkdir(self.path)
            with open(os.path.join(self.path, "memory.limit_in_bytes"),
                      "w") as f:
                f.write(str(limit))
            self.kind = "v1 memory.limit_in_bytes"
        except (OSError, IndexError) as e:
            self.why = (self.why + "; " if self.why else "") + \
                "cgroup v1: %s" % e
            self.path = None

    def add(self, pid):
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    def peak(self):
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            try:
                with open(os.path.join(self.path, name)) as f:
                    return int(f.read())
            except OSError:
                pass
        return None

    def remove(self):
        if self.path:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def drop_cache(path):
    """Drops the clean pages of the store's files from the page cache."""
    for name in os.listdir(path):
        fd = os.open(os.path.join(path, name), os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def exercise_pop3(port, addrs):
    for a in addrs:
        p = poplib.POP3("127.0.0.1", port, timeout=60)
        p.user(a)
        p.pass_(PASSWORD)
        n, _ = p.stat()
        p.uidl()
        for i in range(1, min(n, 20) + 1):
            p.retr(i)
        p.quit()


def exercise_imap(port, addrs):
    for a in addrs:
        m = imaplib.IMAP4("127.0.0.1", port, timeout=60)
        m.login(a, PASSWORD)
        m.list()
        typ, data = m.select("INBOX")
        n = int(data[0])
        if n:
            m.fetch("1:*", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
            m.fetch("1:%d" % min(n, 10), "(BODY.PEEK[])")
            m.search(None, "TEXT", "money")
        m.logout()


def exercise_fs(mount, addrs):
    n = 0
    for a in addrs:
        local, dom = a.split("@")
        base = os.path.join(mount, dom, local, "Mail")
        for sub in ("cur", "new"):
            d = os.path.join(base, sub)
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names[:10]:
                with open(os.path.join(d, name), "rb") as f:
                    n += len(f.read())
    return n


def memory_part(b, a, site, users, domains, stored):
    limit = parse_size(a.mem_limit) if a.mem_limit else max(
        64 << 20, min(256 << 20, stored // 16))
    out("memory: each daemon in its own memory cgroup limited to %s; the "
        "store is %s (%.0fx the limit); its pages were dropped from the "
        "page cache first" % (human(limit), human(stored),
                              stored / limit))
    if stored < 4 * limit:
        out("memory: NOTE the store is not far larger than the limit at "
            "this size: run full size for the figure that matters")
    ports = {k: site.port() for k in ("smtp", "pop3", "imap")}
    mount = None
    if os.path.exists("/dev/fuse") and shutil.which("fusermount3") and \
            site.have("fs"):
        mount = os.path.join(os.path.dirname(site.data), "mnt")
        os.makedirs(mount, exist_ok=True)
    write_conf(site, ports, mount=mount, workers=1)
    drop_cache(b.store_dir())
    groups, procs = {}, {}
    names = ["smtpd", "pop3d", "imapd"] + (["fs"] if mount else [])
    try:
        for name in names:
            cg = Cgroup("vellum-bench-scale-%s-%d" % (name, os.getpid()),
                        limit)
            if cg.path is None:
                out("memory: cgroups not usable (%s): part skipped" % cg.why)
                return
            groups[name] = cg
        out("memory: cgroup %s" % groups[names[0]].kind)
        # The daemon joins its cgroup before it maps the store: started
        # through a shell that moves itself first, then execs.
        for name in names:
            argv = [site.binary(name), "-c", site.conf]
            cmd = "echo $$ > %s/cgroup.procs && exec \"$@\"" % \
                groups[name].path
            log = site.path("%s.mem.log" % name)
            with open(log, "ab") as lf:
                procs[name] = subprocess.Popen(
                    ["sh", "-c", cmd, "sh"] + argv, stdin=subprocess.DEVNULL,
                    stdout=lf, stderr=subprocess.STDOUT, cwd=site.tmp)
        for name, port in (("smtpd", ports["smtp"]), ("pop3d", ports["pop3"]),
                           ("imapd", ports["imap"])):
            site.wait_port(port, timeout=60)
        if mount:
            t0 = time.monotonic()
            while not os.path.ismount(mount):
                if time.monotonic() - t0 > 30 or procs["fs"].poll() \
                        is not None:
                    out("memory: the FUSE daemon did not mount (see %s); "
                        "skipped" % site.path("fs.mem.log"))
                    names.remove("fs")
                    break
                time.sleep(0.1)
        idle = {n: max(proc_status(p, "VmHWM") for p in
                       tree_pids(procs[n].pid)) for n in names}
        t0 = time.monotonic()
        b.appends_smtp("memory", ports["smtp"], users, domains)
        addrs = b.random_users(100, users, domains)
        exercise_pop3(ports["pop3"], addrs)
        exercise_imap(ports["imap"], addrs)
        if "fs" in names:
            got = exercise_fs(mount, addrs)
            out("memory: read %s through the file view" % human(got))
        out("memory: exercised in %.1f s (SMTP load as above, 100 random "
            "users over POP3 (UIDL, RETR up to 20), IMAP (LIST, SELECT, "
            "FETCH 1:* envelope+bodystructure, 10 bodies, SEARCH TEXT)%s)"
            % (time.monotonic() - t0, " and the file view (10 files from "
               "cur/ and new/)" if "fs" in names else ""))
        for n in names:
            pids = tree_pids(procs[n].pid)
            hwm = max(proc_status(p, "VmHWM") for p in pids)
            anon = max(proc_status(p, "RssAnon") for p in pids)
            peak = groups[n].peak()
            out("memory: vellum-%-5s VmHWM %s (idle %s), RssAnon now %s, "
                "cgroup peak %s (%d process%s)" % (
                    n, human(hwm), human(idle[n]), human(anon),
                    human(peak) if peak is not None else "?", len(pids),
                    "" if len(pids) == 1 else "es"))
    finally:
        if mount and os.path.ismount(mount):
            subprocess.run(["fusermount3", "-u", mount],
                           capture_output=True)
        for name, p in procs.items():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for cg in groups.values():
            cg.remove()


def start_daemons(site, ports):
    smtpd = site.start("smtpd")
    pop3d = site.start("pop3d")
    site.wait_port(ports["smtp"], smtpd, timeout=60)
    site.wait_port(ports["pop3"], pop3d, timeout=60)
    return smtpd, pop3d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--users", type=int, default=100000)
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--corpus", default=os.path.join(
        HERE, "..", "..", "..", "shared", "corpus", "spamassassin-public"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--keep", metavar="DIR")
    ap.add_argument("--reuse", metavar="DIR")
    ap.add_argument("--mem-limit", metavar="SIZE")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--only", metavar="PART,...", default=",".join(PARTS),
                    help="measure only these of: %s" % ",".join(PARTS))
    ap.add_argument("--rounds", type=int, default=1,
                    help="import measurement rounds (median printed)")
    ap.add_argument("--start", metavar="DIR",
                    help="with --reuse: a kept users-only site on which "
                    "the import start is measured")
    a = ap.parse_args()
    only = set(x for x in a.only.split(",") if x)
    if only - set(PARTS) or a.rounds < 1:
        ap.error("--only takes %s; --rounds at least 1" % ",".join(PARTS))
    if a.start and not a.reuse:
        ap.error("--start goes with --reuse")
    if not os.path.isdir(a.corpus):
        out("corpus %s not found: nothing to measure" % a.corpus)
        return 0
    domains = max(1, a.users // 1000)
    t_all = time.monotonic()
    corpus = load_corpus(a.corpus)
    out("corpus: %d messages, %s, mean %.0f bytes" % (
        len(corpus), human(sum(len(h) + len(b) for h, b in corpus)),
        sum(len(h) + len(b) for h, b in corpus) / len(corpus)))
    t0 = time.monotonic()
    plan = Plan(corpus, a.users, a.messages, a.seed, domains)
    sizes = sorted(len(plan.inbox[u]) for u in range(a.users))
    out("plan: %d messages in mailboxes, %d distinct (%.2f recipients "
        "each); mailboxes: median %d, p99 %d, max %d messages, %d empty "
        "(%.1f s)" % (plan.rows, len(plan.msgs), plan.rows / max(1,
                      len(plan.msgs)), sizes[len(sizes) // 2],
                      sizes[int(len(sizes) * 0.99)], sizes[-1],
                      sum(1 for s in sizes if s == 0),
                      time.monotonic() - t0))

    site = Site(a.build, prefix="vellum-bench-scale-")
    if a.reuse or a.keep:
        shutil.rmtree(site.tmp, ignore_errors=True)
        site.tmp = os.path.abspath(a.reuse or a.keep)
        site.data = os.path.join(site.tmp, "data")
        site.conf = os.path.join(site.tmp, "vellum.conf")
        site.keep = True
        if a.keep and not a.reuse:
            if os.path.exists(site.tmp) and os.listdir(site.tmp):
                out("--keep %s: not empty" % site.tmp)
                return 2
            os.makedirs(site.tmp, exist_ok=True)
    b = Bench(a, site)
    ports = {k: site.port() for k in ("smtp", "pop3", "imap")}
    write_conf(site, ports)
    try:
        if not a.reuse:
            b.users_setup(a.users, domains)
        else:
            st = b.stats()
            out("reuse %s: %d users, %d messages" % (
                site.tmp, st["users"], st["messages"]))
        daemons = bool(only & {"smtp", "login"})
        smtpd = pop3d = None
        if daemons:
            smtpd, pop3d = start_daemons(site, ports)
        s_smtp = s_imp = s_login = None
        if not a.reuse:
            first = "start (no mail):"
            if "smtp" in only:
                s_smtp = b.appends_smtp(first, ports["smtp"], a.users,
                                        domains)
            if "import" in only:
                s_imp = b.appends_import(first, plan, a.users, domains)
            if "login" in only:
                s_login = b.logins(first, ports["pop3"], a.users, domains)
            if daemons:
                site.stop(smtpd)
                site.stop(pop3d)
            if plan.rows > 0:
                b.build(plan, a.jobs)
            if daemons:
                smtpd, pop3d = start_daemons(site, ports)
        elif a.start and "import" in only:
            s_site = Site(a.build, prefix="vellum-bench-scale-")
            shutil.rmtree(s_site.tmp, ignore_errors=True)
            s_site.tmp = os.path.abspath(a.start)
            s_site.data = os.path.join(s_site.tmp, "data")
            s_site.conf = os.path.join(s_site.tmp, "vellum.conf")
            s_site.keep = True
            sb = Bench(a, s_site)
            try:
                st = sb.stats()
                s_imp = sb.appends_import("start (%d messages):" %
                                          st["messages"], plan, a.users,
                                          domains)
            finally:
                sb.cleanup()
        st = b.stats()
        last = "end (%d messages):" % st["messages"]
        e_smtp = e_imp = e_login = None
        if "smtp" in only:
            e_smtp = b.appends_smtp(last, ports["smtp"], a.users, domains)
        if "import" in only:
            e_imp = b.appends_import(last, plan, a.users, domains)
        if "login" in only:
            e_login = b.logins(last, ports["pop3"], a.users, domains)
        for name, s, e in (("SMTP appends/s", s_smtp, e_smtp),
                           ("import appends/s", s_imp, e_imp)):
            if s and e:
                out("flat? %s end / start = %.0f%% (target: >= 80%%)" %
                    (name, 100.0 * e / s))
        if s_login and e_login:
            out("flat? POP3 login p50 end / start = %.0f%%" %
                (100.0 * e_login / s_login))
        if daemons:
            site.stop(smtpd)
            site.stop(pop3d)
        if "admin" in only:
            b.admin_times(a.users, domains)
        st = b.stats()
        stored = du(b.store_dir())
        out("size: store %s (data.mdb file %s, map %s) for %d messages: "
            "%.0f bytes per message (raw %.0f, %d bodies, dedup %.2f, "
            "compression %.2f)" % (
                human(stored), human(st["file_bytes"]),
                human(st["map_bytes"]), st["messages"],
                stored / max(1, st["messages"]),
                st["raw_bytes"] / max(1, st["messages"]), st["bodies"],
                st["dedup_ratio"], st["compression_ratio"]))
        if "memory" in only:
            memory_part(b, a, site, a.users, domains, stored)
    finally:
        b.cleanup()
        site.cleanup()
    out("total: %.0f s" % (time.monotonic() - t_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
