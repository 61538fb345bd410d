"""The file view fixture: vellum-fs on a mountpoint inside the test's temp
dir, next to vellum-imapd (and vellum-pop3d / vellum-smtpd when a test asks)
on the same data dir.

    from fstest import FsSite, run
    def test(site, args):
        site.write_fs_conf(pop3=True)            # [fs] + [imap] (+ [pop3])
        site.add_user("a@example.test", "pw")
        site.start_imapd(conf=False)
        site.start_fs()                          # mounted and live
        mail = site.maildir("a@example.test")    # MOUNT/example.test/a/Mail
        ...
    run(test)          # SKIP (77) unless root and /dev/fuse can mount

A test is skipped (exit 77, never a pass) when it does not run as root,
when /dev/fuse is missing or is not the FUSE device, or when a FUSE mount
cannot be made here at all (a container without the capability): the
probe mounts an unserved FUSE connection on a temp dir and detaches it at
once.  When the probe mounts but vellum-fs does not, that is a failure.

vellum-fs is stopped by the pid started (SIGTERM, then SIGKILL, as every
daemon of daemon.py); after that nothing may stay mounted on the
mountpoint: cleanup() detaches what is left (fusermount3 -uz, then
umount -l) before the temp dir is removed, so a failed test never leaves
a mount behind and never removes files through one.
"""
import ctypes
import errno
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import SKIP, Failure, check, main  # noqa: E402,F401
from imaptest import ImapSite, Raw, wait_for  # noqa: E402,F401

SRCDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                      "..")
HOSTNAME = "mail.example.test"		# daemon.py writes this hostname
# What the contract promises for changes made elsewhere: visible in the
# file view within 1 s.  Tests poll for LIVE_LIMIT s (a little slack for a
# loaded machine) and print how long it took.
LIVE_LIMIT = 1.5
LIVE_STEP = 0.05
# How long the mount may take to come up.
MOUNT_TIMEOUT = 20.0

# <date>.<uid>.<host>,S=<size>[:2,<letters>]
NAME_RE = re.compile(r"^(\d+)\.(\d+)\.([^,/]+),S=(\d+)(?::2,([A-Za-z]*))?$")
MNT_DETACH = 2


def fuse_usable():
    """(True, "") when this process can make FUSE mounts, else (False,
    why): not root, no /dev/fuse, not the FUSE device, cannot be opened,
    or mount(2) of a FUSE connection is refused here."""
    if os.geteuid() != 0:
        return False, "not running as root (vellum-fs needs root to mount)"
    try:
        st = os.stat("/dev/fuse")
    except OSError as e:
        return False, "/dev/fuse: %s" % e.strerror
    if not stat.S_ISCHR(st.st_mode) or (os.major(st.st_rdev),
                                         os.minor(st.st_rdev)) != (10, 229):
        return False, "/dev/fuse is not the FUSE character device (10,229)"
    try:
        fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return False, "cannot open /dev/fuse: %s" % e.strerror
    libc = ctypes.CDLL(None, use_errno=True)
    d = tempfile.mkdtemp(prefix="vellum-fuse-probe-")
    try:
        opts = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
        r = libc.mount(b"vellum-probe", d.encode(), b"fuse.vellum-probe",
                       ctypes.c_ulong(0), opts.encode())
        if r != 0:
            e = ctypes.get_errno()
            return False, "mount(2) of a FUSE file system fails here: %s" \
                % os.strerror(e)
        libc.umount2(d.encode(), MNT_DETACH)
        return True, ""
    finally:
        os.close(fd)
        try:
            os.rmdir(d)
        except OSError:
            pass


def _unescape_mountinfo(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mount_entry(path):
    """The /proc/self/mountinfo fields of the mount on path (the last one
    when several are stacked), None when nothing is mounted there.  Unlike
    os.path.ismount() this sees a dead FUSE mount (stat fails ENOTCONN)."""
    path = os.path.realpath(path)
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if _unescape_mountinfo(fields[4]) == path:
                found = fields
    return found


def mounted(path):
    return mount_entry(path) is not None


def fs_type(path):
    """The file system type of the mount on path ("fuse.vellum"...)."""
    e = mount_entry(path)
    if e is None:
        return None
    return e[e.index("-") + 1]


def detach(path):
    """Unmounts whatever is on path (lazily); True when nothing is left."""
    for argv in (["fusermount3", "-uz", path], ["umount", "-l", path]):
        if not mounted(path):
            return True
        if shutil.which(argv[0]):
            subprocess.run(argv, capture_output=True, timeout=30)
    return not mounted(path)


def errno_of(fn, *args, **kw):
    """The errno fn(*args) fails with, None when it works."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return None


def ename(e):
    return errno.errorcode.get(e, str(e)) if e is not None else "success"


def parse_name(name):
    """{date, uid, host, size, letters} of a message file name, or None."""
    m = NAME_RE.match(name)
    if m is None:
        return None
    return {"date": int(m.group(1)), "uid": int(m.group(2)),
            "host": m.group(3), "size": int(m.group(4)),
            "letters": m.group(5), "info": m.group(5) is not None}


def folder_files(path, tries=5):
    """{uid: (sub, name)} of the message files of a Maildir folder (cur/
    and new/).  A name that does not parse is a Failure.  new/ is read
    before cur/, so a message moving from new/ to cur/ meanwhile shows in
    both (any Maildir reader sees that race): the listing is then read
    again, a few times, before a uid seen twice is a Failure."""
    for attempt in range(tries):
        out, twice = {}, None
        for sub in ("new", "cur"):
            d = os.path.join(path, sub)
            for name in os.listdir(d):
                p = parse_name(name)
                check(p is not None, "%s/%s is a <date>.<uid>.<host>,S="
                      "<size>[:2,<letters>] name" % (d, name), name)
                if p["uid"] in out:
                    twice = (out[p["uid"]], (sub, name))
                out[p["uid"]] = (sub, name)
        if twice is None:
            return out
        time.sleep(0.05)
    raise Failure("a uid appears in two names of %s in %d listings in a "
                  "row: %r" % (path, tries, twice))


def wait_change(fn, what, limit=LIVE_LIMIT, step=LIVE_STEP):
    """Polls fn() every step s until it returns something true; returns
    (value, seconds it took).  Failure after limit s, saying how long it
    waited and what fn() returned last."""
    t0 = time.monotonic()
    while True:
        v = fn()
        took = time.monotonic() - t0
        if v:
            print("  %s: %.3f s" % (what, took))
            return v, took
        if took > limit:
            raise Failure("%s: not seen within %.1f s (waited %.3f s)" % (
                what, limit, took))
        time.sleep(step)


def export(site, address, dest=None):
    """`vellumctl mail export` of every folder of the user: {folder dir
    relative to the Maildir ("" for INBOX, ".Sent"...; in modified UTF-7,
    as both the file view and export name them): {uid: {date,
    letters, keywords (set of names), data}}}."""
    dest = dest or tempfile.mkdtemp(dir=site.tmp, prefix="export-")
    out = site.ctl("mail", "export", address, os.path.join(dest, "m"))
    check("0 failed" in out, "vellumctl mail export writes every message",
          out)
    root = os.path.join(dest, "m")
    res = {}
    for rel in [""] + sorted(n for n in os.listdir(root)
                             if n.startswith(".")):
        d = os.path.join(root, rel)
        kws = read_keywords(d)
        box = {}
        for sub in ("cur", "new"):
            for name in os.listdir(os.path.join(d, sub)):
                p = parse_name(name)
                check(p is not None, "export name %s parses" % name, name)
                with open(os.path.join(d, sub, name), "rb") as f:
                    data = f.read()
                check(len(data) == p["size"], "export %s: S= is the size"
                      % name, len(data))
                box[p["uid"]] = {
                    "date": p["date"], "data": data,
                    "flags": "".join(c for c in (p["letters"] or "")
                                     if c.isupper()),
                    "keywords": set(kws[c] for c in (p["letters"] or "")
                                    if c.islower())}
        res[rel] = box
    shutil.rmtree(dest, ignore_errors=True)
    return res


def read_keywords(folder):
    """{letter: keyword} from folder/dovecot-keywords ({} when none)."""
    try:
        with open(os.path.join(folder, "dovecot-keywords")) as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\d+) (\S+)$", line)
        check(m is not None and int(m.group(1)) < 26,
              "%s/dovecot-keywords has \"N name\" lines" % folder, text)
        out[chr(ord("a") + int(m.group(1)))] = m.group(2)
    return out


def write_maildir(path, msgs, folders=None):
    """A plain Maildir on disk for `vellumctl mail import`: msgs is
    [(bytes, date, letters or None)] (None: in new/); folders {".Name":
    msgs} under it."""
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i, (data, date, letters) in enumerate(msgs):
        base = "%d.M%dP%d.importer" % (date, i, os.getpid())
        if letters is None:
            p = os.path.join(path, "new", base)
        else:
            p = os.path.join(path, "cur", base + ":2," + letters)
        with open(p, "wb") as f:
            f.write(data)
        os.utime(p, (date, date))
    for name, sub in (folders or {}).items():
        write_maildir(os.path.join(path, name), sub)
        open(os.path.join(path, name, "maildirfolder"), "w").close()


class FsSite(ImapSite):
    """An ImapSite with vellum-fs on site.mount."""

    fs = None
    fs_procs = ()
    pop3_port = None
    smtp_port = None

    @property
    def mount(self):
        return self.path("mnt")

    def maildir(self, address, *parts):
        local, domain = address.rsplit("@", 1)
        return os.path.join(self.mount, domain, local, "Mail", *parts)

    def write_fs_conf(self, pop3=False, smtp=False, smtpd=None, top=None,
                      sections=None, **kw):
        """vellum.conf with [fs] mountpoint = site.mount, [imap] and
        [imaps], and [pop3] / [smtp] (+ [smtpd] keys) when asked."""
        secs = {"fs": {"mountpoint": self.mount}}
        if pop3:
            self.pop3_port = self.port()
            secs["pop3"] = {"listen": "127.0.0.1:%d" % self.pop3_port}
        if smtp:
            self.smtp_port = self.port()
            secs["smtp"] = {"listen": "127.0.0.1:%d" % self.smtp_port}
        if smtpd:
            secs["smtpd"] = dict(smtpd)
        secs.update(sections or {})
        return self.write_imap_conf(sections=secs, top=top, **kw)

    def start_pop3d(self):
        proc = self.start("pop3d")
        self.wait_port(self.pop3_port, proc)
        return proc

    def start_smtpd(self):
        proc = self.start("smtpd")
        self.wait_port(self.smtp_port, proc)
        return proc

    def start_fs(self, domains=("example.test",), timeout=MOUNT_TIMEOUT,
                 args=()):
        """Starts vellum-fs -c vellum.conf and waits until the mount is
        live: mounted (mountinfo and os.path.ismount) with each domain's
        directory visible.  Returns the Proc (also site.fs)."""
        proc = self.start("fs", *args)
        self.fs = proc
        self.fs_procs = tuple(self.fs_procs) + (proc,)
        t0 = time.monotonic()
        while True:
            if not proc.running():
                raise Failure("vellum-fs exited %s before the mount was "
                              "live; output:\n%s" % (proc.popen.returncode,
                                                     proc.output()))
            try:
                live = (mounted(self.mount) and
                        os.path.ismount(self.mount) and
                        all(os.path.isdir(os.path.join(self.mount, d))
                            for d in domains))
            except OSError:
                live = False
            if live:
                break
            if time.monotonic() - t0 > timeout:
                raise Failure("vellum-fs did not mount %s with %s within "
                              "%.0f s (mountinfo: %r); output:\n%s" % (
                                  self.mount, domains, timeout,
                                  mount_entry(self.mount), proc.output()))
            time.sleep(0.05)
        check(fs_type(self.mount) is not None and
              fs_type(self.mount).startswith("fuse"),
              "the mount on %s is a FUSE mount" % self.mount,
              mount_entry(self.mount))
        return proc

    def stop_fs(self, proc=None, timeout=10.0):
        """SIGTERM (then SIGKILL) to vellum-fs by its pid; returns the
        exit status.  The serving child must end with it (Site.stop), and
        nothing may stay mounted on the mountpoint (Failure otherwise,
        after detaching it)."""
        rc = self.stop(proc or self.fs, timeout=timeout)
        if mounted(self.mount):
            entry = mount_entry(self.mount)
            detach(self.mount)
            raise Failure("vellum-fs exited (status %s) and left %s "
                          "mounted: %r" % (rc, self.mount, entry))
        return rc

    def ctl_json(self, *args):
        out = self.ctl("--json", *args)
        try:
            return json.loads(out)
        except ValueError:
            raise Failure("vellumctl --json %s: not JSON: %r" % (
                " ".join(args), out[:2000]))

    def cleanup(self):
        # vellum-fs first, then anything left on the mountpoint, and only
        # then the rest (the temp dir must not be removed through a mount).
        for proc in self.fs_procs:
            if proc.running():
                self.stop(proc, timeout=10.0, strict=False)
        if os.path.isdir(self.tmp) and mounted(self.mount):
            print("fstest.py: %s was still mounted; detaching it" %
                  self.mount, file=sys.stderr)
            if not detach(self.mount):
                print("fstest.py: %s stays mounted; the temp dir %s is "
                      "kept" % (self.mount, self.tmp), file=sys.stderr)
                self.procs = [p for p in self.procs if p not in
                              self.fs_procs]
                for p in self.procs:
                    if p.running():
                        self.stop(p, timeout=10.0, strict=False)
                self.procs = []
                return
        super().cleanup()


def require_fs(site):
    """SKIP when FUSE cannot be used here (said why); Failure when
    vellum-fs was not built although fs/ is in the tree."""
    ok, why = fuse_usable()
    if not ok:
        print("SKIP: %s" % why)
        return SKIP
    if not site.have("fs"):
        if os.path.isdir(os.path.join(SRCDIR, "fs")):
            raise Failure("vellum-fs was not built (%s)" %
                          site.binary("fs"))
        print("SKIP: there is no fs/ in this tree")
        return SKIP
    if not site.have("imapd"):
        raise Failure("vellum-imapd was not built")
    return 0


def run(fn):
    """daemon.main() with an FsSite, skipping (77) where FUSE cannot be
    used before fn runs."""
    def wrapped(site, args):
        if require_fs(site) == SKIP:
            return SKIP
        try:
            rc = fn(site, args)
        except OSError as e:
            # A file operation the test expected to work: say which.
            tb = traceback.extract_tb(sys.exc_info()[2])
            where = [f for f in tb if os.path.basename(
                f.filename).startswith("test_fs")] or tb
            raise Failure("%s failed unexpectedly: %s (%s)" % (
                type(e).__name__, e, " <- ".join(
                    "%s line %d: %s" % (os.path.basename(f.filename),
                                        f.lineno, f.line)
                    for f in reversed(where))))
        # Every test ends by stopping vellum-fs as a service manager
        # would: SIGTERM, exit 0, nothing left mounted.
        if rc is not SKIP and site.fs is not None and site.fs.running():
            st = site.stop_fs()
            check(st == 0, "vellum-fs exits 0 on SIGTERM", (
                st, site.fs.output()[-2000:]))
        return rc
    daemon.Site = FsSite
    main(wrapped)


def imap_find(m, folder, msgid):
    """[(uid, set of flags, bytes)] of the messages of folder (selected
    read-only, so \\Recent and new/ stay as they are) whose Message-ID
    header contains msgid."""
    typ, data = m.select('"%s"' % folder, readonly=True)
    check(typ == "OK", "EXAMINE %s" % folder, data)
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", msgid)
    check(typ == "OK", "UID SEARCH HEADER Message-ID %s" % msgid, data)
    uids = data[0].split()
    out = []
    if uids:
        typ, data = m.uid("FETCH", b",".join(uids).decode(),
                          "(FLAGS BODY.PEEK[])")
        check(typ == "OK", "UID FETCH FLAGS BODY.PEEK[]", data)
        for item in data:
            if not isinstance(item, tuple):
                continue
            uid = int(re.search(rb"UID (\d+)", item[0]).group(1))
            flags = set(f.decode() for f in re.search(
                rb"FLAGS \(([^)]*)\)", item[0]).group(1).split())
            flags.discard("\\Recent")
            out.append((uid, flags, item[1]))
    m.close()
    return sorted(out)


def imap_folders(m):
    """The folder names LIST "" "*" gives (modified UTF-7, as sent)."""
    typ, data = m.list()
    check(typ == "OK", "LIST works", data)
    names = set()
    for line in data:
        mm = re.match(rb'\(([^)]*)\) (?:"/"|NIL) "?((?:[^"\\]|\\.)*)"?$',
                      line)
        check(mm is not None, "a LIST line parses", line)
        names.add(mm.group(2).decode())
    return names
