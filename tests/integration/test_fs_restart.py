"""vellum-fs stops and starts cleanly: kill -9 of the process started
leaves the mount dead or gone and its serving child ends with it
(PR_SET_PDEATHSIG); starting again on the same mountpoint works (a stale
mount is detached first) and shows the same files under the same names,
tmp/ files and programs' own files included; kill -9 of the serving
child makes the parent unmount and exit (not 0), SIGTERM to it makes it
exit 0; SIGTERM and SIGINT unmount and exit 0; without a usable
/dev/fuse (a mount namespace where it is /dev/null) vellum-fs exits 1
and says why.

usage: test_fs_restart.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py).
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import descendants_of, pid_alive, proc_start  # noqa: E402
from fstest import (Failure, check, folder_files, imap_find,  # noqa
                    mount_entry, mounted, run, write_maildir)

A, B = "alice@example.test", "bob@example.test"
PW = "fs-restart-pw"
D2024 = 1709294400


def mail(tag):
    return (b"From: s@remote.test\r\nSubject: " + tag.encode() +
            b"\r\nMessage-ID: <" + tag.encode() + b"@fs-restart.test>"
            b"\r\n\r\nbody of " + tag.encode() + b"\r\n")


def snapshot(root):
    """{relative path: (size, mtime)} of every file below root; (size,
    None) for the files that are not messages (maildirfolder: its mtime
    is not the contract's)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (st.st_size, int(
                st.st_mtime) if ",S=" in f else None)
    return out


def dead_or_gone(path):
    """Whether the mount on path is gone or answers nothing (ENOTCONN)."""
    if not mounted(path):
        return "gone"
    try:
        os.listdir(path)
    except OSError as e:
        return "dead (%s)" % os.strerror(e.errno)
    return None


def wait_gone(tree, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        left = [p for p, t in tree if t is not None and proc_start(p) == t
                and pid_alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return left


def test(site, args):
    site.write_fs_conf()
    site.add_user(A, PW)
    site.add_user(B, PW)
    src = site.path("import")
    write_maildir(src, [(mail("r%d" % i), D2024 + i, "S" if i % 2 else None)
                        for i in range(20)],
                  {".Work": [(mail("w%d" % i), D2024, "FS")
                             for i in range(5)]})
    site.ctl("mail", "import", A, src)
    site.ctl("mail", "import", B, src)
    site.start_imapd(conf=False)
    fs = site.start_fs()
    # A file being written in tmp/ and a program's own file beside cur/
    # new/ tmp/ outlive restarts, as on a disk.
    keep = {site.maildir(A, "tmp", "half-written"): b"From: x\r\n" * 1000,
            site.maildir(A, ".Work", ".mbsyncstate"): b"state 1\n"}
    for p, data in keep.items():
        try:
            with open(p, "wb") as f:
                f.write(data)
        except OSError as e:
            raise Failure("writing %s fails: %s" % (p, e))
    before = snapshot(site.mount)
    check(len([p for p in before if ",S=" in p]) == 50, "50 message files "
          "are shown", sorted(before))

    # -- kill -9 of the process started ----------------------------------
    tree = descendants_of(fs.pid)
    check(tree, "vellum-fs serves in a child process (the parent mounts)",
          tree)
    os.kill(fs.pid, signal.SIGKILL)
    check(fs.wait(10) is not None, "vellum-fs died of SIGKILL", fs.pid)
    left = wait_gone(tree, 5.0)
    check(not left, "the serving child ends with the parent "
          "(PR_SET_PDEATHSIG)", left)
    state = dead_or_gone(site.mount)
    check(state is not None, "after kill -9 the mount is dead or gone",
          mount_entry(site.mount))
    print("  after kill -9 the mount is %s" % state)

    # -- start again on the same mountpoint ------------------------------
    fs = site.start_fs()
    entries = [e for e in open("/proc/self/mountinfo").read().splitlines()
               if e.split()[4] == os.path.realpath(site.mount)]
    check(len(entries) == 1, "exactly one mount on the mountpoint (the "
          "stale one was detached)", entries)
    after = snapshot(site.mount)
    check(after == before, "the same files with the same names, sizes and "
          "mtimes after the restart", sorted(
              (k, before.get(k), after.get(k)) for k in set(before) |
              set(after) if before.get(k) != after.get(k))[:20])
    for p, data in keep.items():
        with open(p, "rb") as f:
            check(f.read() == data, "%s outlived the kill -9 and restart" %
                  p, None)
    m = site.login(A, PW)
    check(len(imap_find(m, "INBOX", "fs-restart.test")) == 20,
          "IMAP still sees the INBOX", None)
    m.logout()

    # -- kill -9 of the serving child ------------------------------------
    kids = descendants_of(fs.pid)
    check(kids, "a serving child", kids)
    os.kill(kids[0][0], signal.SIGKILL)
    rc = fs.wait(10)
    check(rc is not None and rc != 0, "the parent exits (not 0) when its "
          "serving child is killed", rc)
    check(not mounted(site.mount), "the parent unmounted after the child "
          "died", mount_entry(site.mount))

    # -- SIGTERM unmounts -------------------------------------------------
    fs = site.start_fs()
    again = snapshot(site.mount)
    check(again == before, "the same files after the second restart",
          sorted((k, before.get(k), again.get(k)) for k in set(before) |
                 set(again) if before.get(k) != again.get(k))[:20])
    rc = site.stop_fs(fs)
    check(rc == 0, "vellum-fs exits 0 on SIGTERM", (rc, fs.output()[-2000:]))
    check(not mounted(site.mount) and not os.path.ismount(site.mount),
          "SIGTERM unmounted", mount_entry(site.mount))
    check("mounted at %s" % site.mount in fs.output(), "vellum-fs said "
          "\"vellum-fs: mounted at %s\"" % site.mount, fs.output()[-2000:])
    # SIGTERM to the serving child: the parent unmounts and exits with
    # the child's status (0).
    fs = site.start_fs()
    kids = descendants_of(fs.pid)
    check(kids, "a serving child", kids)
    os.kill(kids[0][0], signal.SIGTERM)
    rc = fs.wait(10)
    check(rc == 0, "the parent exits 0 after its child's clean stop",
          (rc, fs.output()[-2000:]))
    check(not mounted(site.mount), "and unmounted", mount_entry(site.mount))

    # SIGINT (^C under make run) unmounts too.
    fs = site.start_fs()
    os.kill(fs.pid, signal.SIGINT)
    rc = fs.wait(10)
    check(rc == 0, "vellum-fs exits 0 on SIGINT", (rc, fs.output()[-2000:]))
    check(not mounted(site.mount), "SIGINT unmounted",
          mount_entry(site.mount))
    no_fuse_device(site)
    return True


def no_fuse_device(site):
    """In a mount namespace of its own where /dev/fuse is /dev/null,
    vellum-fs exits 1 saying what is wrong with /dev/fuse, and mounts
    nothing."""
    if not shutil.which("unshare") or subprocess.run(
            ["unshare", "-m", "true"], capture_output=True,
            timeout=30).returncode != 0:
        print("  (no private mount namespace here: the /dev/fuse check "
              "was not run)")
        return
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", 'mount --make-rprivate / && '
         'mount --bind /dev/null /dev/fuse && exec "$0" -c "$1"',
         site.binary("fs"), site.conf], capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).decode("utf-8", "replace")
    check(p.returncode == 1 and "/dev/fuse" in out, "without a usable "
          "/dev/fuse vellum-fs exits 1 and names /dev/fuse",
          (p.returncode, out[-2000:]))
    check(not mounted(site.mount), "nothing was mounted",
          mount_entry(site.mount))
    print("  without /dev/fuse: %s" % out.strip().splitlines()[-1])


if __name__ == "__main__":
    run(test)
