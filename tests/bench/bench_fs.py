#!/usr/bin/env python3
"""The file view (vellum-fs) against a real Maildir on ext4 (prints
figures; not a test).

    tests/bench/bench_fs.py BUILD_DIR [CORPUS_DIR] [--messages 10000]
        [--big 100000] [--deliveries 1000] [--big-deliveries 100]
        [--word money] [--runs 3] [--quick] [--keep] [--fs PATH]

Needs root (vellum-fs mounts; caches are dropped through
/proc/sys/vm/drop_caches) and /dev/fuse.  One Site (tests/integration/
daemon.py) holds the store, vellum.conf, the mount point and the ext4
Maildirs, all in one temporary directory, so both sides live on the same
disk.  The same messages go to both sides:

  seq@bench.test     a folder of --messages messages: the corpus
                     (default ../shared/corpus/spamassassin-public, every
                     *.eml, its first `From ` line stripped) repeated, each
                     copy with its own X-Bench-Copy header line; written
                     as a Maildir (cur/, names as the file view writes
                     them) that is imported with `vellumctl mail import`
                     and is the ext4 side itself;
  big@bench.test     --big messages made the same way (the import's
                     seconds are printed: the build time);
  corpus@bench.test  the corpus, one folder per corpus directory, imported
                     from the .eml files; the ext4 side is its
                     `vellumctl mail export` (a Maildir++);
  deliver@bench.test empty: the target of the delivery part.

Then vellum-fs is started and, on each side in turn:

  1. read: every message of seq's cur/ in name order by one process
     (os.open, os.readv until end of file, os.close: like cat), the
     listing included; cold (sync, drop_caches; vellum-fs has just
     mounted and served nothing yet) then warm (--runs more
     passes: the median is shown, every pass beside it; the same for
     the warm figures below); then one `xargs -0 cat > /dev/null` pass
     (warm, --runs passes) to show whether the Python loop is the
     limit; the bytes of every file are compared between the sides
     (untimed); between the warm passes and cat, stat(2) of every file
     twice (the first stat of a file after it was read goes to
     vellum-fs: FUSE invalidates the atime on read; `ls -l` asks statx
     for no atime and is not affected);
  2. `LC_ALL=C ls -l` of big's cur/ (output to /dev/null): cold and
     warm; for vellum-fs cold twice: after a fresh mount (vellum-fs
     restarted) and after drop_caches alone (the daemon's own caches
     warm);
  3. `LC_ALL=C grep -rl WORD` over corpus's whole Maildir: cold, warm
     (the two sides' lists of matching files are compared);
  4. delivery of --deliveries corpus messages like `cp` then `mv`: one
     process copies each file from a source dir into Mail/tmp/ and
     renames it into Mail/new/; on ext4 without fsync (what cp + mv
     do) and with fsync of each file before its rename (what an MDA
     does) for reference; then --big-deliveries (100) more the same way
     into big's folder right after an `ls -l` of it (the kernel then
     holds an entry for every message of it);
  5. vellum-fs's serving process (the child of the pid started): VmHWM,
     VmRSS, RssAnon and RssFile after each part, and the peak of VmRSS and
     RssAnon sampled every 20 ms throughout (VmHWM counts mapped file
     pages, LMDB's data file, which the kernel can drop; RssAnon is the
     daemon's own memory).

The table gives wall seconds, MB/s (10^6 bytes), the ratio of vellum-fs
to ext4 and the issue's targets beside them.  --quick runs small sizes
(a smoke run); --keep leaves the temporary directory; --fs runs another
vellum-fs binary (an older build, for a before/after figure).  The end
unmounts by stopping vellum-fs by pid (SIGTERM), and unmounts lazily
(umount -l of the mount point) only if a mount is left; the directory is
kept then.
"""
import argparse
import glob
import os
import shlex
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site, children_of  # noqa: E402

DOMAIN = "bench.test"
HOST = "mail.example.test"      # daemon.py's hostname in vellum.conf
BASE_DATE = 1700000000
READ_BUF = 256 * 1024
MIB = 1024 * 1024

TARGET_COLD = 0.50      # cold read >= 50% of ext4's
TARGET_WARM = 0.90      # warm read >= 90% of ext4's
TARGET_LS = 2.0         # ls -l of 100k under 2 s
TARGET_RSS = 64 * MIB   # vellum-fs RSS under 64 MiB throughout


def say(*a):
    print(*a, flush=True)


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def is_mounted(path):
    """Whether a file system is mounted at path (/proc/self/mountinfo:
    os.path.ismount misses a bind mount within one file system)."""
    want = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                mp = line.split()[4].decode("utf-8", "replace")
                mp = mp.replace("\\040", " ").replace(
                    "\\011", "\t").replace("\\012", "\n").replace(
                    "\\134", "\\")
                if mp == want:
                    return True
    except OSError:
        pass
    return False


def damon_pageout():
    """A description of the DAMON schemes that page out idle memory (a
    VM's proactive reclaim empties the page cache behind a benchmark's
    back: warm figures then read from the disk again), or None."""
    out = []
    for k in sorted(glob.glob("/sys/kernel/mm/damon/admin/kdamonds/*")):
        try:
            with open(os.path.join(k, "state")) as f:
                if f.read().strip() != "on":
                    continue
        except OSError:
            continue
        for sc in sorted(glob.glob(os.path.join(k, "contexts/*/schemes/*"))):
            try:
                with open(os.path.join(sc, "action")) as f:
                    action = f.read().strip()
                with open(os.path.join(sc, "access_pattern/age/min")) as f:
                    age = int(f.read())
                with open(os.path.join(sc, "../../monitoring_attrs/"
                                       "intervals/aggr_us")) as f:
                    aggr = int(f.read())
            except (OSError, ValueError):
                continue
            if action == "pageout":
                out.append("kdamond %s pages out memory idle for %.0f s" %
                           (os.path.basename(k), age * aggr / 1e6))
    return "; ".join(out) or None


def drop_caches():
    """sync + drop the page, dentry and inode caches; False if denied."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


def load_corpus(corpus):
    """[(folder, path, bytes)] of every *.eml, first `From ` line cut."""
    out = []
    for path in sorted(glob.glob(os.path.join(corpus, "**", "*.eml"),
                                 recursive=True)):
        with open(path, "rb") as f:
            data = f.read()
        if data.startswith(b"From "):
            nl = data.find(b"\n")
            data = data[nl + 1:] if nl >= 0 else b""
        folder = os.path.relpath(os.path.dirname(path), corpus)
        out.append((folder, path, data))
    return out


def make_maildir(path, bodies, n, uid0=1):
    """A Maildir of n messages (the bodies repeated, each copy with its own
    X-Bench-Copy line) in cur/, named as the file view names them when
    they are imported into a new folder in this order; bytes written."""
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    cur = os.path.join(path, "cur")
    total = 0
    for i in range(n):
        copy, k = divmod(i, len(bodies))
        data = b"X-Bench-Copy: %d\n" % copy + bodies[k]
        name = "%d.%d.%s,S=%d:2,S" % (BASE_DATE + i * 60, uid0 + i, HOST,
                                     len(data))
        fd = os.open(os.path.join(cur, name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        total += len(data)
    return total


def same_bytes(a, b, names):
    """The names whose bytes differ between dirs a and b (untimed)."""
    bad = []
    for n in names:
        try:
            with open(os.path.join(a, n), "rb") as fa, \
                    open(os.path.join(b, n), "rb") as fb:
                if fa.read() != fb.read():
                    bad.append(n)
        except OSError as e:
            bad.append("%s (%s)" % (n, e.strerror))
    return bad


def listing(d):
    """{name: size} of the files in d."""
    out = {}
    with os.scandir(d) as it:
        for e in it:
            out[e.name] = e.stat(follow_symlinks=False).st_size
    return out


def read_all(d):
    """Reads every file of d in name order like cat; (seconds, bytes,
    files, seconds of the listing)."""
    buf = bytearray(READ_BUF)
    mv = [memoryview(buf)]
    t0 = time.monotonic()
    names = sorted(os.listdir(d))
    t_list = time.monotonic() - t0
    total = 0
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
            try:
                while True:
                    n = os.readv(fd, mv)
                    if n == 0:
                        break
                    total += n
            finally:
                os.close(fd)
    finally:
        os.close(dfd)
    return time.monotonic() - t0, total, len(names), t_list


def cat_all(d):
    """`xargs -0 cat > /dev/null` over the files of d in name order (the
    names listed in the timed part too); seconds."""
    t0 = time.monotonic()
    names = sorted(os.listdir(d))
    p = subprocess.run(["xargs", "-0", "cat"], cwd=d,
                       input=b"\0".join(n.encode() for n in names),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("xargs cat in %s: exit %d: %s" % (
            d, p.returncode, p.stderr.decode("utf-8", "replace")[:300]))
    return dt


def stat_all(d):
    """os.stat() of every file of d in name order; seconds."""
    t0 = time.monotonic()
    for name in sorted(os.listdir(d)):
        os.stat(os.path.join(d, name))
    return time.monotonic() - t0


def ls_l(d):
    env = dict(os.environ, LC_ALL="C")
    t0 = time.monotonic()
    p = subprocess.run(["ls", "-l", d], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("ls -l %s: exit %d: %s" % (
            d, p.returncode, p.stderr.decode("utf-8", "replace")[:300]))
    return dt


def grep_rl(word, d):
    """(seconds, sorted paths relative to d of the files that match)."""
    env = dict(os.environ, LC_ALL="C")
    t0 = time.monotonic()
    p = subprocess.run(["grep", "-rl", "--", word, "."], cwd=d, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    if p.returncode not in (0, 1):
        raise RuntimeError("grep -rl in %s: exit %d: %s" % (
            d, p.returncode, p.stderr.decode("utf-8", "replace")[:300]))
    return dt, sorted(p.stdout.decode("utf-8", "replace").splitlines())


def deliver(src_dir, names, maildir, tag, fsync=False):
    """cp src/NAME Mail/tmp/X; mv Mail/tmp/X Mail/new/X for each name, in
    one process; (seconds, failures [(name, error)])."""
    tmp = os.path.join(maildir, "tmp")
    new = os.path.join(maildir, "new")
    pid = os.getpid()
    bad = []
    t0 = time.monotonic()
    for i, name in enumerate(names):
        base = "%d.M%dP%d_%s.benchhost" % (int(time.time()), i, pid, tag)
        t, n = os.path.join(tmp, base), os.path.join(new, base)
        try:
            with open(os.path.join(src_dir, name), "rb") as f:
                data = f.read()
            fd = os.open(t, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    w = os.write(fd, view)
                    view = view[w:]
                if fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(t, n)
        except OSError as e:
            bad.append((name, str(e)))
    return time.monotonic() - t0, bad


def msg_keys(paths):
    """{(folder, "date.uid", size)} of Maildir paths such as
    ./.Folder/cur/1030028080.7.host,S=3792:2,S."""
    out = set()
    for p in paths:
        parts = p.split("/")
        name = parts[-1]
        folder = "/".join(x for x in parts[:-2] if x != ".")
        stem = name.split(",", 1)[0]
        size = name.split(",S=", 1)[1].split(":", 1)[0].split(",", 1)[0] \
            if ",S=" in name else "?"
        out.add((folder, ".".join(stem.split(".")[:2]), size))
    return out


def allocated(path):
    """Bytes allocated to the files under path (du -s --block-size=1)."""
    n = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                n += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return n


def count_files(maildir):
    n = 0
    for d in ("new", "cur"):
        try:
            n += len(os.listdir(os.path.join(maildir, d)))
        except OSError:
            pass
    return n


class Fs:
    """vellum-fs on the site's config: start, find the serving child,
    watch its memory, stop by pid."""

    def __init__(self, site, binary, mnt, notes):
        self.site = site
        self.binary = binary
        self.mnt = mnt
        self.notes = notes
        self.proc = None
        self.child = None
        self.peak_hwm = 0       # KiB, the max of VmHWM over every instance
        self.peak_rss = 0       # KiB, sampled
        self.peak_anon = 0      # KiB, sampled
        self.starts = []        # seconds from start to mounted
        self.stops = []         # seconds from SIGTERM to the exit
        self._stop = threading.Event()
        self._thread = None

    def start(self, timeout=60.0):
        t0 = time.monotonic()
        self.proc = self.site.start(self.binary)
        self.child = None
        while time.monotonic() - t0 < timeout:
            if not self.proc.running():
                raise RuntimeError("vellum-fs exited with %s before "
                                   "mounting; output:\n%s" % (
                                       self.proc.popen.returncode,
                                       self.proc.output()))
            if is_mounted(self.mnt) and os.path.isdir(
                    os.path.join(self.mnt, DOMAIN)):
                break
            time.sleep(0.02)
        else:
            raise RuntimeError("vellum-fs: no mount at %s after %.0f s; "
                               "output:\n%s" % (self.mnt, timeout,
                                                self.proc.output()))
        self.starts.append(time.monotonic() - t0)
        kids = children_of(self.proc.pid)
        # The root parent forks the serving child; without a child (a
        # one-process design) the started pid serves.
        self.child = kids[0] if kids else self.proc.pid
        if len(kids) > 1:
            self.notes.append("vellum-fs pid %d has %d children: %s; "
                              "watching the first" % (self.proc.pid,
                                                      len(kids), kids))
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        pid = self.child
        while not self._stop.wait(0.02):
            rss = status_kb(pid, "VmRSS")
            anon = status_kb(pid, "RssAnon")
            if rss is None:
                return
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_anon = max(self.peak_anon, anon or 0)

    def mem(self):
        """(VmHWM, VmRSS, RssAnon, RssFile) KiB of the serving process
        now."""
        pid = self.child
        if not pid:
            return (None, None, None, None)
        vals = (status_kb(pid, "VmHWM"), status_kb(pid, "VmRSS"),
                status_kb(pid, "RssAnon"), status_kb(pid, "RssFile"))
        if vals[0]:
            self.peak_hwm = max(self.peak_hwm, vals[0])
        return vals

    def cpu(self):
        return cpu_s(self.child) if self.child else None

    def running(self):
        return self.proc is not None and self.proc.running()

    def stop(self):
        """SIGTERM to the pid started (it unmounts); the child must end
        too; a mount left behind is unmounted lazily and noted."""
        if self.proc is None:
            return
        if self.child:
            self.mem()
        self._stop.set()
        if self._thread:
            self._thread.join()
        child = self.child
        t0 = time.monotonic()
        rc = self.site.stop(self.proc, timeout=20.0, strict=False)
        self.stops.append(time.monotonic() - t0)
        if rc not in (0, None):
            self.notes.append("vellum-fs (pid %d) ended with status %s on "
                              "SIGTERM" % (self.proc.pid, rc))
        if child and child != self.proc.pid and os.path.exists(
                "/proc/%d" % child):
            try:
                with open("/proc/%d/stat" % child) as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                state = "Z"
            if state not in ("Z", "X"):
                self.notes.append("vellum-fs child %d still running after "
                                  "the parent ended" % child)
        if is_mounted(self.mnt):
            self.notes.append("%s still mounted after vellum-fs ended; "
                              "umount -l" % self.mnt)
            subprocess.run(["umount", "-l", self.mnt])
        self.proc = None
        self.child = None


def warm(fn, runs, *args):
    """fn(*args) runs times: (the median run's result, [seconds of each]);
    fn returns seconds or a tuple that starts with them."""
    out = [fn(*args) for _ in range(max(1, runs))]
    secs = [r[0] if isinstance(r, tuple) else r for r in out]
    order = sorted(range(len(out)), key=lambda i: secs[i])
    return out[order[len(out) // 2]], secs


def fmt_s(x):
    return "-" if x is None else "%.3f s" % x


def runs_s(secs):
    return " ".join("%.3f" % x for x in secs)


def fmt_rate(x, unit):
    return "-" if x is None else "%.1f %s" % (x, unit)


def fmt_kib(kb):
    return "-" if kb is None else "%.1f MiB" % (kb / 1024.0)


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, ext4, fs, ratio="", target=""):
        self.rows.append((what, ext4, fs, ratio, target))

    def sep(self, title):
        self.rows.append((title,))

    def show(self):
        w = [44, 22, 22, 9, 30]
        head = ("", "ext4 Maildir", "vellum-fs", "fs/ext4", "target")
        say("  ".join(h.ljust(w[i]) for i, h in enumerate(head)).rstrip())
        say("(fs/ext4: a rate's percentage of ext4's, or seconds as a "
            "multiple of ext4's: 2.0x = twice as long)")
        for r in self.rows:
            if len(r) == 1:
                say("-- %s" % r[0])
                continue
            say("  ".join(str(c).ljust(w[i])
                          for i, c in enumerate(r)).rstrip())


def ratio(fs, ext4):
    if not fs or not ext4:
        return ""
    r = 100.0 * fs / ext4
    return "%.0f%%" % r if r >= 10 else "%.1f%%" % r


def times(fs, ext4):
    """fs's seconds as a multiple of ext4's."""
    if not fs or not ext4:
        return ""
    return "%.1fx" % (fs / ext4)


def verdict(ok):
    return "met" if ok else "MISSED"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?",
                    default="../shared/corpus/spamassassin-public")
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--big", type=int, default=100000)
    ap.add_argument("--deliveries", type=int, default=1000)
    ap.add_argument("--big-deliveries", type=int, default=100,
                    help="cp+mv deliveries into the big folder after its "
                    "ls -l")
    ap.add_argument("--word", default="money")
    ap.add_argument("--runs", type=int, default=3,
                    help="warm passes of each part (the median is shown)")
    ap.add_argument("--fs", default="fs",
                    help="the vellum-fs binary (default BUILD/fs/vellum-fs)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes: a smoke run")
    ap.add_argument("--keep", action="store_true",
                    help="leave the temporary directory")
    a = ap.parse_args()
    if a.quick:
        a.messages = min(a.messages, 500)
        a.big = min(a.big, 3000)
        a.deliveries = min(a.deliveries, 100)
        a.big_deliveries = min(a.big_deliveries, 20)

    say("command: %s" % shlex.join([sys.argv[0]] + sys.argv[1:]))
    say("cwd: %s" % os.getcwd())
    say("date: %s UTC; load average %s" % (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        " ".join(open("/proc/loadavg").read().split()[:3])))

    damon = damon_pageout()
    if damon:
        say("DAMON: %s (the page cache does not stay warm for long)" %
            damon)

    if os.geteuid() != 0:
        sys.exit("bench_fs: needs root (vellum-fs mounts; drop_caches)")
    if not os.path.exists("/dev/fuse"):
        sys.exit("bench_fs: no /dev/fuse")
    corpus = load_corpus(a.corpus)
    if not corpus:
        sys.exit("bench_fs: no *.eml files under %s" % a.corpus)
    if a.quick:
        # a few of each corpus folder
        per = {}
        small = []
        for item in corpus:
            per[item[0]] = per.get(item[0], 0) + 1
            if per[item[0]] <= 100:
                small.append(item)
        corpus_used = small
    else:
        corpus_used = corpus
    bodies = [c[2] for c in corpus]

    site = Site(a.build, prefix="vellum-bench-fs-")
    site.keep = a.keep
    if not site.have(a.fs):
        sys.exit("bench_fs: %s not built" % site.binary(a.fs))
    notes = []
    mnt = site.path("mnt")
    fs = Fs(site, a.fs, mnt, notes)
    mounted_left = False
    try:
        df = subprocess.run(["df", "-T", site.tmp], capture_output=True,
                            text=True).stdout.splitlines()[-1].split()
        say("directory: %s (%s on %s; data dir, mount point and ext4 "
            "Maildirs all in it)" % (site.tmp, df[1], df[0]))
        site.write_conf({"fs": {"mountpoint": mnt}}, tls="self")
        for u in ("seq", "big", "corpus", "deliver"):
            site.add_user("%s@%s" % (u, DOMAIN), "pw")

        # --- the stores and the ext4 Maildirs -------------------------------
        ext4 = site.path("ext4")
        seq_md = os.path.join(ext4, "seq")
        t0 = time.monotonic()
        seq_bytes = make_maildir(seq_md, bodies, a.messages)
        t_gen = time.monotonic() - t0
        t0 = time.monotonic()
        site.ctl("mail", "import", "seq@" + DOMAIN, seq_md)
        t_imp = time.monotonic() - t0
        say("seq: %d messages, %.1f MB; Maildir written in %.1f s, "
            "imported in %.1f s" % (a.messages, seq_bytes / 1e6, t_gen,
                                    t_imp))

        big_md = os.path.join(ext4, "big")
        t0 = time.monotonic()
        big_bytes = make_maildir(big_md, bodies, a.big)
        t_gen = time.monotonic() - t0
        t0 = time.monotonic()
        site.ctl("mail", "import", "big@" + DOMAIN, big_md)
        t_big = time.monotonic() - t0
        say("big: %d messages, %.1f MB; Maildir written in %.1f s, "
            "imported in %.1f s (%.0f messages/s)" % (
                a.big, big_bytes / 1e6, t_gen, t_big, a.big / t_big))

        folders = sorted({c[0] for c in corpus_used})
        src = site.path("corpus-src")
        t0 = time.monotonic()
        for folder in folders:
            d = os.path.join(src, folder)
            os.makedirs(d)
            for f, path, data in corpus_used:
                if f == folder:
                    # the original bytes, envelope line and all: the
                    # import drops that line
                    with open(path, "rb") as fi, open(os.path.join(
                            d, os.path.basename(path)), "wb") as fo:
                        fo.write(fi.read())
            site.ctl("mail", "import", "corpus@" + DOMAIN, d,
                     "--folder", folder)
        corpus_md = os.path.join(ext4, "corpus")
        site.ctl("mail", "export", "corpus@" + DOMAIN, corpus_md)
        say("corpus: %d messages in %d folders (%s), imported and "
            "exported to the ext4 side in %.1f s" % (
                len(corpus_used), len(folders), ", ".join(folders),
                time.monotonic() - t0))

        dsrc = site.path("deliver-src")
        os.makedirs(dsrc)
        dnames = []
        for i in range(a.deliveries):
            name = "%05d.eml" % i
            with open(os.path.join(dsrc, name), "wb") as f:
                f.write(b"X-Bench-Delivery: %d\n" % i +
                        bodies[i % len(bodies)])
            dnames.append(name)
        deliver_md = os.path.join(ext4, "deliver")
        deliver_sync_md = os.path.join(ext4, "deliver-fsync")
        for m in (deliver_md, deliver_sync_md):
            for d in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(m, d))

        say("allocated on disk: the store (data dir) %.1f MB, the ext4 "
            "Maildirs %.1f MB" % (allocated(site.data) / 1e6,
                                  allocated(ext4) / 1e6))

        # --- vellum-fs ------------------------------------------------------
        fs.start()
        say("vellum-fs: pid %d, serving process %d, mounted in %.2f s" % (
            fs.proc.pid, fs.child, fs.starts[-1]))
        fs_user = lambda u: os.path.join(mnt, DOMAIN, u, "Mail")  # noqa
        tab = Table()
        mem_rows = []

        def mem_row(what):
            mem_rows.append((what,) + fs.mem())

        mem_row("mounted, idle")

        fs_seq = os.path.join(fs_user("seq"), "cur")
        ext_seq = os.path.join(seq_md, "cur")

        # --- 1. sequential read ---------------------------------------------
        tab.sep("1. read every message of a %d-message cur/ in name order "
                "(one process: open, read to EOF, close)" % a.messages)
        res = {}
        for side, d in (("ext4", ext_seq), ("fs", fs_seq)):
            c0 = fs.cpu()
            if not drop_caches():
                notes.append("drop_caches refused: cold figures are warm")
            res[side, "cold"] = read_all(d)
            res[side, "warm"], res[side, "runs"] = warm(read_all, a.runs,
                                                        d)
            # stat(2) after a read, as cat, grep and cp do (FUSE
            # invalidates the atime on every read; ls -l asks statx for
            # no atime and is not affected)
            res[side, "ls1"] = stat_all(d)
            res[side, "ls2"] = stat_all(d)
            res[side, "cat"], res[side, "catruns"] = warm(cat_all, a.runs,
                                                          d)
            if side == "fs":
                res["fs", "cpu"] = fs.cpu() - c0
        mem_row("after 1 (read)")
        # sanity (untimed, after the cold pass so that it does not warm
        # the daemon): the two listings and contents of seq
        la, lb = listing(ext_seq), listing(fs_seq)
        if la != lb:
            only_a = sorted(set(la) - set(lb))
            only_b = sorted(set(lb) - set(la))
            size_diff = [n for n in set(la) & set(lb) if la[n] != lb[n]]
            notes.append("seq cur/: the file view's listing differs from "
                         "the imported Maildir: %d names only on ext4 "
                         "(e.g. %s), %d only in vellum-fs (e.g. %s), %d "
                         "sizes differ" % (len(only_a), only_a[:2],
                                           len(only_b), only_b[:2],
                                           len(size_diff)))

        differ = same_bytes(ext_seq, fs_seq, sorted(la))
        if differ:
            notes.append("seq cur/: %d files read through vellum-fs differ "
                         "from the ext4 Maildir's (e.g. %s)" % (
                             len(differ), differ[:2]))
        for kind, target in (("cold", TARGET_COLD), ("warm", TARGET_WARM)):
            e, f = res["ext4", kind], res["fs", kind]
            er, fr = e[1] / e[0] / 1e6, f[1] / f[0] / 1e6
            tab.add("%s: wall" % kind, fmt_s(e[0]), fmt_s(f[0]))
            if kind == "warm":
                tab.add("warm: every pass", runs_s(res["ext4", "runs"]),
                        runs_s(res["fs", "runs"]))
            tab.add("%s: MB/s" % kind, fmt_rate(er, "MB/s"),
                    fmt_rate(fr, "MB/s"), ratio(fr, er),
                    ">= %d%% of ext4: %s" % (
                        target * 100, verdict(fr >= target * er)))
            tab.add("%s: of it the listing (listdir + sort)" % kind,
                    fmt_s(e[3]), fmt_s(f[3]))
            if e[1] != f[1] or e[2] != f[2]:
                notes.append("read %s: ext4 read %d bytes in %d files, "
                             "vellum-fs %d bytes in %d files" % (
                                 kind, e[1], e[2], f[1], f[2]))
        tab.add("stat() of each file right after the reads",
                fmt_s(res["ext4", "ls1"]),
                fmt_s(res["fs", "ls1"]),
                times(res["fs", "ls1"], res["ext4", "ls1"]))
        tab.add("stat() of each file once more", fmt_s(res["ext4", "ls2"]),
                fmt_s(res["fs", "ls2"]),
                times(res["fs", "ls2"], res["ext4", "ls2"]))
        e, f = res["ext4", "cat"], res["fs", "cat"]
        er = res["ext4", "warm"][1] / e / 1e6
        fr = res["fs", "warm"][1] / f / 1e6
        tab.add("warm, xargs -0 cat > /dev/null: wall", fmt_s(e), fmt_s(f))
        tab.add("warm, xargs -0 cat: every pass",
                runs_s(res["ext4", "catruns"]), runs_s(res["fs", "catruns"]))
        tab.add("warm, xargs -0 cat: MB/s", fmt_rate(er, "MB/s"),
                fmt_rate(fr, "MB/s"), ratio(fr, er))
        tab.add("vellum-fs CPU during part 1", "", fmt_s(res["fs", "cpu"]))

        # --- 2. ls -l -------------------------------------------------------
        tab.sep("2. LC_ALL=C ls -l of a %d-message cur/ (> /dev/null)" %
                a.big)
        fs_big = os.path.join(fs_user("big"), "cur")
        ext_big = os.path.join(big_md, "cur")
        drop_caches()
        e_cold = ls_l(ext_big)
        e_warm, e_runs = warm(ls_l, a.runs, ext_big)
        mem_row("before the remount")
        fs.stop()
        fs.start()
        drop_caches()
        c0 = fs.cpu()
        f_fresh = ls_l(fs_big)
        f_fresh_warm, ff_runs = warm(ls_l, a.runs, fs_big)
        drop_caches()
        f_cold = ls_l(fs_big)
        f_warm, f_runs = warm(ls_l, a.runs, fs_big)
        f_cpu = fs.cpu() - c0
        n_big = len(os.listdir(fs_big))
        if n_big != a.big:
            notes.append("big cur/ lists %d names through vellum-fs, "
                         "%d expected" % (n_big, a.big))
        mem_row("after 2 (ls -l)")
        for what, e, f in (
                ("cold: fresh mount + drop_caches", e_cold, f_fresh),
                ("warm after that", e_warm, f_fresh_warm),
                ("cold: drop_caches only (daemon warm)", e_cold, f_cold),
                ("warm", e_warm, f_warm)):
            tab.add(what, fmt_s(e), fmt_s(f), times(f, e),
                    "< %.0f s: %s" % (TARGET_LS, verdict(f < TARGET_LS)))
        tab.add("warm: every pass (after the fresh mount)",
                runs_s(e_runs), runs_s(ff_runs))
        tab.add("warm: every pass (after drop_caches)", "", runs_s(f_runs))
        tab.add("vellum-fs CPU during the 4 ls -l", "", fmt_s(f_cpu))
        tab.add("build: vellumctl mail import of the Maildir", "",
                "%.1f s" % t_big, "", "%.0f msgs/s" % (a.big / t_big))

        # --- 3. grep -rl ----------------------------------------------------
        tab.sep("3. LC_ALL=C grep -rl %s over the corpus (%d messages, "
                "%d folders)" % (a.word, len(corpus_used), len(folders)))
        fs_corpus = fs_user("corpus")
        c0 = fs.cpu()
        drop_caches()
        e_cold, e_hits = grep_rl(a.word, corpus_md)
        (e_warm, _), e_runs = warm(grep_rl, a.runs, a.word, corpus_md)
        drop_caches()
        f_cold, f_hits = grep_rl(a.word, fs_corpus)
        (f_warm, _), f_runs = warm(grep_rl, a.runs, a.word, fs_corpus)
        f_cpu = fs.cpu() - c0
        mem_row("after 3 (grep -rl)")
        tab.add("cold", fmt_s(e_cold), fmt_s(f_cold),
                times(f_cold, e_cold))
        tab.add("warm", fmt_s(e_warm), fmt_s(f_warm),
                times(f_warm, e_warm))
        tab.add("warm: every pass", runs_s(e_runs), runs_s(f_runs))
        tab.add("files matched", str(len(e_hits)), str(len(f_hits)))
        tab.add("vellum-fs CPU during part 3", "", fmt_s(f_cpu))
        # The export names files with the host name of vellumctl's
        # machine (no config with -d) and puts unseen mail in cur/ where
        # the file view shows it in new/: compare folder, date.uid, size.
        e_keys, f_keys = msg_keys(e_hits), msg_keys(f_hits)
        if e_keys != f_keys:
            a_only = sorted(e_keys - f_keys)
            b_only = sorted(f_keys - e_keys)
            notes.append("grep -rl: %d paths only on ext4 (e.g. %s), %d "
                         "only in vellum-fs (e.g. %s)" % (
                             len(a_only), a_only[:2], len(b_only),
                             b_only[:2]))

        # --- 4. delivery ----------------------------------------------------
        tab.sep("4. delivery of %d messages: copy into Mail/tmp/, rename "
                "into Mail/new/ (one process)" % a.deliveries)
        e_t, e_bad = deliver(dsrc, dnames, deliver_md, "e")
        es_t, es_bad = deliver(dsrc, dnames, deliver_sync_md, "s",
                               fsync=True)
        c0 = fs.cpu()
        f_t, f_bad = deliver(dsrc, dnames, fs_user("deliver"), "f")
        f_cpu = fs.cpu() - c0
        mem_row("after 4 (delivery)")
        n = a.deliveries
        tab.add("wall", fmt_s(e_t), fmt_s(f_t))
        tab.add("messages/s", "%.0f" % (n / e_t), "%.0f" % (n / f_t),
                ratio(n / f_t, n / e_t))
        tab.add("messages/s, ext4 with fsync per file",
                "%.0f" % (n / es_t), "", ratio(n / f_t, n / es_t))
        tab.add("failed", str(len(e_bad) + len(es_bad)), str(len(f_bad)))
        tab.add("vellum-fs CPU per message", "",
                "%.1f ms" % (1000.0 * f_cpu / n))
        if f_bad:
            notes.append("delivery through vellum-fs: %d failed, first: "
                         "%s" % (len(f_bad), f_bad[0]))
        time.sleep(1.0)
        seen = count_files(fs_user("deliver"))
        if seen != n - len(f_bad):
            notes.append("delivery: %d messages in deliver's new/ + cur/ "
                         "through vellum-fs, %d delivered" % (
                             seen, n - len(f_bad)))
        listed = site.ctl("mail", "list", "deliver@" + DOMAIN)
        stored = sum(1 for line in listed.splitlines()
                     if line.strip()[:1].isdigit())
        if stored != n - len(f_bad):
            notes.append("delivery: vellumctl mail list shows %d "
                         "messages, %d delivered" % (stored,
                                                     n - len(f_bad)))

        # the same into big's INBOX once ls -l has made the kernel look up
        # every message of it (what a user's `ls -l` before new mail does)
        nb = min(a.big_deliveries, len(dnames))
        if nb > 0:
            ls_l(ext_big)
            ls_l(fs_big)
            e_t, e_bad = deliver(dsrc, dnames[:nb], big_md, "eb")
            c0 = fs.cpu()
            f_t, f_bad = deliver(dsrc, dnames[:nb], fs_user("big"), "fb")
            f_cpu = fs.cpu() - c0
            mem_row("after 4b (delivery into big)")
            tab.sep("4b. %d more the same way into the %d-message "
                    "folder of part 2, right after an ls -l of it" % (
                        nb, a.big))
            tab.add("messages/s", "%.0f" % (nb / e_t),
                    "%.0f" % (nb / f_t), ratio(nb / f_t, nb / e_t))
            tab.add("vellum-fs CPU per message", "",
                    "%.1f ms" % (1000.0 * f_cpu / nb))
            if e_bad or f_bad:
                notes.append("delivery into big: %d failed on ext4, %d "
                             "through vellum-fs (first: %s)" % (
                                 len(e_bad), len(f_bad),
                                 (e_bad + f_bad)[0]))

        # --- 5. memory ------------------------------------------------------
        mem_row("end")
        tab.sep("5. vellum-fs serving process memory (target < 64 MiB "
                "throughout)")
        for what, hwm, rss, anon, rfile in mem_rows:
            tab.add("%s: VmHWM / VmRSS" % what, "",
                    "%s / %s" % (fmt_kib(hwm), fmt_kib(rss)))
            tab.add("   of VmRSS: RssAnon / RssFile", "",
                    "%s / %s" % (fmt_kib(anon), fmt_kib(rfile)))
        tab.add("peak VmHWM (every instance)", "", fmt_kib(fs.peak_hwm),
                "", "< 64 MiB: %s" % verdict(fs.peak_hwm * 1024 <
                                             TARGET_RSS))
        tab.add("peak VmRSS sampled", "", fmt_kib(fs.peak_rss), "",
                "< 64 MiB: %s" % verdict(fs.peak_rss * 1024 < TARGET_RSS))
        tab.add("peak RssAnon sampled", "", fmt_kib(fs.peak_anon), "",
                "< 64 MiB: %s" % verdict(fs.peak_anon * 1024 <
                                         TARGET_RSS))
        fs.stop()
        say("")
        tab.show()
        say("")
        say("vellum-fs: mounted %s after each start; ended %s after each "
            "SIGTERM" % (", ".join("%.2f s" % t for t in fs.starts),
                         ", ".join("%.2f s" % t for t in fs.stops)))
    except Exception:
        site.keep = True
        raise
    finally:
        if fs.proc is not None:
            try:
                fs.stop()
            except Exception as e:  # noqa: BLE001
                notes.append("stopping vellum-fs: %s" % e)
        if is_mounted(mnt):
            mounted_left = True
            subprocess.run(["umount", "-l", mnt])
        if mounted_left or is_mounted(mnt):
            # never let rmtree walk into a mount
            site.keep = True
        for n in notes:
            say("note: %s" % n)
        site.cleanup()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench_fs: interrupted")
