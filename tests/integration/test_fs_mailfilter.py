"""vellum-fs, the user's filter file: Mail/.mailfilter shows the filter
`vellumctl filter set` stored (mode 0600, owned by the user's mapped
account, size and bytes exact, CRLF kept; absent without a filter, and a
folder named "mailfilter" does not take its name), and a shell user edits
it as a file: `echo >`, `cp`, open(O_TRUNC) + write + close, an editor's
write-a-copy-then-rename(2), vim, mv away (rename(2) is EXDEV: mv
copies) and back, rm, `: >`.  What is stored is what
`vellumctl filter get` prints.  An edit is stored once the file has had no write for a second (vellum-fs
does not answer FUSE FLUSH: it would cost every close on the mount a round
trip), or at once at fsync(2), rename(2) over the name or the last close.
A text that does not parse is refused: fsync(2) fails EINVAL, a rename
over the name fails EINVAL and the copy stays, vellum-fs logs
FILE:LINE:COL, and the stored filter and the file keep the old text.
The mapped account (nobody) edits its own filter; another account cannot
read it.

usage: test_fs_mailfilter.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py).
"""
import errno
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fstest import (SKIP, Failure, check, ename, errno_of,  # noqa: F401
                    run, wait_change)

A, B = "alice@example.test", "bob@example.test"
PW = "fs-mailfilter-pw"

GOOD1 = (b"# the global recipe, CRLF\r\n"
         b"if (/^X-Spam-Flag: YES/)\r\n{\r\n  to Mail/.Spam/\r\n}\r\n")
GOOD2 = (b"if ($SIZE < 131072) {\n"
         b"  exception {\n    xfilter \"/usr/bin/spamc -u $RECIPIENT\"\n"
         b"  }\n}\n")
GOOD3 = b'if (hasaddr("spam@example.test"))\n{\n  to /dev/null\n}\n'
GOOD4 = b'to "!user@example.com"\n'
# Unclosed parenthesis on line 2: the error names line 2 or 3.
BAD = b"# broken\nif (/^Subject: x/\n{\n  to Mail/.X/\n}\n"


def read(path):
    with open(path, "rb") as f:
        return f.read()


def stored(site, addr):
    """What vellumctl filter get prints for addr (None: no filter)."""
    argv = [site.binary("vellumctl"), "-d", site.data, "filter", "get", addr]
    p = subprocess.run(argv, capture_output=True, timeout=60)
    if p.returncode == 1:
        return None
    check(p.returncode == 0, "vellumctl filter get %s runs" % addr,
          p.stderr.decode("utf-8", "replace"))
    return p.stdout


def settle(path, want, what):
    """Waits (at most fstest's LIVE_LIMIT) until the file shows want
    (bytes, or None: absent); the kernel's attribute cache lasts 1 s."""
    def now():
        try:
            return read(path)
        except FileNotFoundError:
            return None
    wait_change(lambda: now() == want, what)
    check(now() == want, what, now())


def fs_log(site):
    return site.fs.output()


def refusals(site):
    return fs_log(site).count("filter refused")


def stored_soon(site, addr, want, what):
    """Waits until `vellumctl filter get` prints want (an edit is stored
    a second after its last write)."""
    wait_change(lambda: stored(site, addr) == want, what, limit=15)
    check(stored(site, addr) == want, what, stored(site, addr))


def refused_soon(site, before, addr, old, what):
    """Waits for a new refusal in vellum-fs's log; the old text stays."""
    wait_change(lambda: refusals(site) > before, what + ": refusal logged",
                limit=15)
    check(stored(site, addr) == old, what + ": the old text stays",
          stored(site, addr))


def test(site, args):
    site.write_fs_conf()
    site.add_user(A, PW)
    site.add_user(B, PW)
    site.ctl("user", "set", A, "unix-user", "nobody")
    os.chmod(site.tmp, 0o711)
    site.start_imapd(conf=False)
    site.start_fs()
    mail = site.maildir(A)
    mf = os.path.join(mail, ".mailfilter")
    nobody = pwd.getpwnam("nobody")

    # No filter: no file.
    check(errno_of(os.stat, mf) == errno.ENOENT, "without a filter there "
          "is no Mail/.mailfilter", ename(errno_of(os.stat, mf)))
    check(".mailfilter" not in os.listdir(mail), "Mail/ lists no "
          ".mailfilter", os.listdir(mail))

    # vellumctl filter set: the file shows it, byte for byte.
    src = site.path("good1")
    with open(src, "wb") as f:
        f.write(GOOD1)
    site.ctl("filter", "set", A, src)
    settle(mf, GOOD1, "Mail/.mailfilter shows what vellumctl filter set "
           "stored (CRLF kept)")
    st = os.stat(mf)
    check(stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
          "Mail/.mailfilter is a regular file, mode 0600",
          oct(st.st_mode))
    check((st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid),
          "Mail/.mailfilter belongs to the mapped account (nobody)",
          (st.st_uid, st.st_gid))
    check(st.st_size == len(GOOD1), "its size is the stored text's",
          (st.st_size, len(GOOD1)))
    check(os.listdir(mail).count(".mailfilter") == 1, "Mail/ lists "
          ".mailfilter once", os.listdir(mail))
    out = subprocess.run(["cat", mf], capture_output=True, timeout=30)
    check(out.returncode == 0 and out.stdout == GOOD1, "cat prints it",
          out)

    # echo > with a good text (the shell's redirection closes one
    # descriptor before the write: that close must not store "").
    p = subprocess.run(["sh", "-c", "printf '%s' \"$1\" > \"$2\"", "sh",
                        GOOD2.decode(), mf], capture_output=True, timeout=30)
    check(p.returncode == 0, "printf > Mail/.mailfilter works", p)
    stored_soon(site, A, GOOD2, "vellumctl filter get prints what the "
                "shell wrote")
    settle(mf, GOOD2, "the file shows the new text")

    # echo > with a bad text: refused, the old text stays.
    n = refusals(site)
    p = subprocess.run(["sh", "-c", "echo \"$1\" > \"$2\"", "sh",
                        BAD.decode(), mf], capture_output=True, timeout=30)
    refused_soon(site, n, A, GOOD2, "shell echo > of a bad text")
    settle(mf, GOOD2, "after a refused echo > the file shows the old text")
    check(re.search(r"\.mailfilter:[23]:\d+: ", fs_log(site)) is not None,
          "vellum-fs logs the refusal as FILE:LINE:COL: message",
          fs_log(site)[-2000:])

    # cp: bad refused (logged), good stored.
    bad = site.path("bad")
    with open(bad, "wb") as f:
        f.write(BAD)
    n = refusals(site)
    p = subprocess.run(["cp", bad, mf], capture_output=True, timeout=30)
    refused_soon(site, n, A, GOOD2, "cp of a text that does not parse")
    settle(mf, GOOD2, "after a refused cp the file shows the old text")
    good3 = site.path("good3")
    with open(good3, "wb") as f:
        f.write(GOOD3)
    p = subprocess.run(["cp", good3, mf], capture_output=True, timeout=30)
    check(p.returncode == 0, "cp of a good text works", p)
    stored_soon(site, A, GOOD3, "cp's text is stored")
    settle(mf, GOOD3, "the file shows cp's text")

    # open(O_TRUNC) + write + fsync, by hand: fsync says EINVAL.
    fd = os.open(mf, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, BAD[:10])
    os.write(fd, BAD[10:])
    e = errno_of(os.fsync, fd)
    os.close(fd)
    check(e == errno.EINVAL, "fsync(2) after writing a bad text: EINVAL",
          ename(e))
    check(stored(site, A) == GOOD3, "not stored", stored(site, A))
    settle(mf, GOOD3, "the file shows the old text again")

    # An editor: write a copy beside it, fsync, rename(2) over the name.
    tmp = os.path.join(mail, ".mailfilter.swp-copy")
    with open(tmp, "wb") as f:
        f.write(BAD)
        f.flush()
        os.fsync(f.fileno())
    e = errno_of(os.rename, tmp, mf)
    check(e == errno.EINVAL, "rename of a bad copy over .mailfilter: "
          "EINVAL", ename(e))
    check(os.path.exists(tmp) and read(tmp) == BAD, "the refused copy "
          "stays where it was", os.listdir(mail))
    check(stored(site, A) == GOOD3, "the bad copy is not stored",
          stored(site, A))
    os.unlink(tmp)
    with open(tmp, "wb") as f:
        f.write(GOOD4)
    os.rename(tmp, mf)
    check(stored(site, A) == GOOD4, "an editor's copy renamed over "
          ".mailfilter is stored", stored(site, A))
    settle(mf, GOOD4, "the file shows the renamed copy")
    check(not os.path.exists(tmp), "the copy's name is gone after the "
          "rename", os.listdir(mail))

    # mv away (a backup beside it) and back: the filter goes, comes back.
    # rename(2) of the filter file itself is EXDEV: mv copies and removes.
    saved = os.path.join(mail, "mailfilter.saved")
    e = errno_of(os.rename, mf, saved)
    check(e == errno.EXDEV, "rename(2) of .mailfilter: EXDEV", ename(e))
    p = subprocess.run(["mv", mf, saved], capture_output=True, timeout=30)
    check(p.returncode == 0, "mv .mailfilter away works", p)
    check(stored(site, A) is None, "mv .mailfilter away deletes the "
          "filter", stored(site, A))
    check(read(saved) == GOOD4, "the moved file has the text",
          read(saved))
    settle(mf, None, "after mv away there is no .mailfilter")
    os.rename(saved, mf)
    check(stored(site, A) == GOOD4, "mv back stores it again",
          stored(site, A))
    check(not os.path.exists(saved), "mv back leaves no copy",
          os.listdir(mail))
    out = subprocess.run(["cat", mf], capture_output=True, timeout=30)
    check(out.returncode == 0 and out.stdout == GOOD4, "right after mv "
          "back, cat prints the filter", out)

    # vim as it saves by default (when installed): a good edit is
    # stored, a bad one fails the save and changes nothing.
    if shutil.which("vim"):
        vim = ["vim", "-u", "NONE", "-i", "NONE", "-N", "-es"]
        p = subprocess.run(vim + ["-c", "normal! Go# vim", "-c", "wq", mf],
                           capture_output=True, timeout=60)
        check(p.returncode == 0 and stored(site, A) == GOOD4 + b"# vim\n",
              "vim saves an edit of .mailfilter", (p, stored(site, A)))
        p = subprocess.run(vim + ["-c", "normal! Goif (", "-c", "wq", mf],
                           capture_output=True, timeout=60)
        check(p.returncode != 0 and stored(site, A) == GOOD4 + b"# vim\n",
              "vim's save of a text that does not parse fails, nothing "
              "stored", (p, stored(site, A)))
        check(sorted(n for n in os.listdir(mail) if "mailfilter" in n) ==
              [".mailfilter"], "vim leaves no file behind",
              os.listdir(mail))
    else:
        print("  (no vim: its save is not tried)")

    # The mapped account edits its own filter; bob's is not its own.
    pb = subprocess.run(["sh", "-c", "cat > \"$1\"", "sh", mf],
                        input=GOOD3, capture_output=True, timeout=60,
                        cwd="/", env={"PATH": "/usr/bin:/bin"},
                        preexec_fn=lambda: (os.setgid(nobody.pw_gid),
                                            os.setgroups([]),
                                            os.setuid(nobody.pw_uid)))
    check(pb.returncode == 0, "nobody writes its own .mailfilter", pb)
    stored_soon(site, A, GOOD3, "nobody's text is stored")
    site.ctl("filter", "set", B, good3)
    bf = os.path.join(site.maildir(B), ".mailfilter")
    settle(bf, GOOD3, "bob's filter shows in bob's Mail/")
    pb = subprocess.run(["cat", bf], capture_output=True, timeout=60,
                        cwd="/", env={"PATH": "/usr/bin:/bin"},
                        preexec_fn=lambda: (os.setgid(nobody.pw_gid),
                                            os.setgroups([]),
                                            os.setuid(nobody.pw_uid)))
    check(pb.returncode != 0, "nobody cannot read bob's filter", pb)

    # Too large: EFBIG, nothing stored.
    fd = os.open(mf, os.O_WRONLY)
    e = errno_of(os.pwrite, fd, b"#", 256 * 1024)
    os.close(fd)
    check(e == errno.EFBIG, "a filter file past 256 KiB: EFBIG", ename(e))
    check(stored(site, A) == GOOD3, "still the old text", stored(site, A))

    # A folder called "mailfilter" does not take the file's name.
    m = site.login(A, PW)
    typ, data = m.create("mailfilter")
    check(typ == "OK", "IMAP CREATE mailfilter", data)
    m.logout()
    names = os.listdir(mail)
    check(names.count(".mailfilter") == 1 and
          stat.S_ISREG(os.stat(mf).st_mode), "with a folder \"mailfilter\" "
          ".mailfilter is still the filter file", names)
    e = errno_of(os.mkdir, os.path.join(site.maildir(B), ".mailfilter"))
    check(e in (errno.EEXIST, errno.EPERM), "mkdir .mailfilter is no "
          "folder", ename(e))

    # rm: the filter is gone.
    os.unlink(mf)
    check(stored(site, A) is None, "rm Mail/.mailfilter deletes the filter",
          stored(site, A))
    settle(mf, None, "the file is gone after rm")
    check(".mailfilter" not in os.listdir(mail), "Mail/ no longer lists "
          "it", os.listdir(mail))

    # Made anew by cp (create): stored; an empty new file is no filter.
    p = subprocess.run(["cp", good3, mf], capture_output=True, timeout=30)
    check(p.returncode == 0, "cp makes a new filter file", p)
    stored_soon(site, A, GOOD3, "cp's new filter file is stored")
    p = subprocess.run(["sh", "-c", ": > \"$1\"", "sh", mf],
                       capture_output=True, timeout=30)
    check(p.returncode == 0, ": > .mailfilter works", p)
    # (Stored a second after the last write: generous.)
    wait_change(lambda: stored(site, A) is None, "emptied", limit=15)
    check(stored(site, A) is None, "an emptied .mailfilter is no filter",
          stored(site, A))
    settle(mf, None, "an emptied filter file is gone")
    return 0


if __name__ == "__main__":
    run(test)
