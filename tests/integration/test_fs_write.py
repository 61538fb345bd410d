"""vellum-fs, writing: cp into tmp/ + mv into new/ or cur/ stores the
message (seen over IMAP and POP3 byte for byte, with the flags of the
name; a 400 KB 8-bit one; a tmp/ file edited in place; tmp/ of one
folder into another's cur/; four writers at once), the name given keeps
working for a while (utime included), rename changes flags and keyword
letters (also to a name of the program's own), moving one message out
of new/ leaves the others, rename into another folder is a MOVE with the
target name's flags, unlink expunges, mkdir/rmdir/rename of .Folder dirs
are folder operations (ENOTEMPTY with messages; the INBOX stays), files
of programs beside cur/ new/ tmp/ are kept and are not mail, and what a
Maildir does not allow fails with the errno a program expects: EDQUOT
over the byte or message quota (the file stays in tmp/), beyond 1000
tmp/ files and beyond 4 x max_message_size + 1 MiB in a user's tmp/ files
(all folders together), EFBIG over [smtpd] max_message_size (write, truncate or
rename), EPERM for writing into, truncating, chmod/chown of a message,
link (but link(2) of a tmp/ file into new/ or cur/ delivers it, as
qmail-local, procmail, maildrop and fdm do), symlink, mknod and new files
in cur/ or new/, EXDEV across users.

usage: test_fs_write.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py).
"""
import os
import poplib
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fstest import (Failure, check, ename, errno_of, folder_files,  # noqa
                    imap_find, imap_folders, parse_name, run, wait_change,
                    write_maildir)
import errno  # noqa: E402

A, B, Q = "alice@example.test", "bob@example.test", "quinn@example.test"
PW = "fs-write-pw"
MAX_SIZE = 1000000			# [smtpd] max_message_size
Q_QUOTA = 30000				# quinn's quota, bytes
D2024 = 1709294400


def mail(tag, body=b"hello\r\n", size=None):
    m = (b"From: Sender <s@remote.test>\r\nTo: " + A.encode() +
         b"\r\nSubject: " + tag.encode() + b"\r\nMessage-ID: <" +
         tag.encode() + b"@fs-write.test>\r\n\r\n" + body)
    if size is not None:
        line = b"z" * 78 + b"\r\n"
        while len(m) + len(line) <= size:
            m += line
        m += b"y" * (size - len(m) - 2) + b"\r\n"
        assert len(m) == size
    return m


def deliver(site, path, data, dest):
    """cp a file with data into path's tmp/, then mv it to dest (relative
    to path, e.g. "new/x" or "cur/x:2,FS"); Failure when cp or mv does."""
    local = site.path("out-" + os.path.basename(dest).replace(":", "_"))
    with open(local, "wb") as f:
        f.write(data)
    tmp = os.path.join(path, "tmp", os.path.basename(dest).split(":")[0])
    p = subprocess.run(["cp", local, tmp], capture_output=True, timeout=30)
    check(p.returncode == 0, "cp into %s works" % tmp, p.stderr)
    with open(tmp, "rb") as f:
        check(f.read() == data, "the file in tmp/ reads back as written",
              tmp)
    check(os.stat(tmp).st_size == len(data), "tmp/ file st_size",
          os.stat(tmp).st_size)
    p = subprocess.run(["mv", tmp, os.path.join(path, dest)],
                       capture_output=True, timeout=30)
    check(p.returncode == 0, "mv %s -> %s works" % (tmp, dest), p.stderr)


def one(found, what):
    check(len(found) == 1, what + ": exactly one such message", found)
    return found[0]


def file_of(path, data):
    """(sub, name) of the one message file of the folder at path with these
    bytes.  A name that goes between the listing and the open (a message
    moving from new/ to cur/) makes it read the listing again."""
    for attempt in range(5):
        hits = []
        try:
            for uid, (sub, name) in folder_files(path).items():
                with open(os.path.join(path, sub, name), "rb") as f:
                    if f.read() == data:
                        hits.append((sub, name))
        except FileNotFoundError:
            time.sleep(0.05)
            continue
        check(len(hits) == 1, "one file in %s holds the message" % path,
              hits)
        return hits[0]
    raise Failure("the listing of %s kept changing under the reads" % path)


def pop3_messages(site, user):
    p = poplib.POP3("127.0.0.1", site.pop3_port, timeout=15)
    p.user(user)
    p.pass_(PW)
    out = []
    n = len(p.list()[1])
    for i in range(1, n + 1):
        _, lines, _ = p.retr(i)
        out.append(b"\r\n".join(lines) + b"\r\n")
    p.quit()
    return out


def fsync_reaches_disk(site, path):
    """fsync(2) of a program's own file (mbsync syncs its state before it
    trusts it) makes vellum-fs fsync the real file under DATA_DIR/fstmp:
    seen with strace on the serving child (strace is one of the Makefile's
    packages: its absence fails the test rather than passing it unseen)."""
    strace = shutil.which("strace")
    check(strace is not None, "strace is installed (make deps)", None)
    ppid = site.fs.popen.pid
    with open("/proc/%d/task/%d/children" % (ppid, ppid)) as f:
        kids = f.read().split()
    check(len(kids) == 1, "vellum-fs has one serving child", kids)
    child = int(kids[0])
    out = site.path("strace-fsync.out")
    tr = subprocess.Popen([strace, "-qq", "-f", "-y", "-e",
                           "trace=fsync,fdatasync", "-o", out, "-p",
                           str(child)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        def traced():
            with open("/proc/%d/status" % child) as f:
                return any(line.startswith("TracerPid:") and
                           line.split()[1] != "0" for line in f)
        wait_change(traced, "strace attached to vellum-fs", limit=20)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, b"synced\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        tr.send_signal(signal.SIGINT)
        tr.wait(timeout=20)
    with open(out) as f:
        calls = f.read()
    check(any(("fsync(" in line or "fdatasync(" in line) and
              os.path.basename(path) in line for line in calls.splitlines()),
          "fsync() of %s reaches the real file" % os.path.basename(path),
          calls[-2000:])


def test(site, args):
    site.write_fs_conf(pop3=True, smtpd={"max_message_size": str(MAX_SIZE)})
    site.add_user(A, PW, quota=str(10 * 1024 * 1024))
    site.add_user(B, PW)
    site.add_user(Q, PW, quota=str(Q_QUOTA))
    src = site.path("import-a")
    write_maildir(src, [(mail("seed-%d" % i), D2024, "S") for i in range(3)])
    site.ctl("mail", "import", A, src)
    srcq = site.path("import-q")
    write_maildir(srcq, [(mail("q-seed", size=20000), D2024, "S")])
    site.ctl("mail", "import", Q, srcq)
    site.ctl("mail", "import", B, src)
    site.start_imapd(conf=False)
    site.start_pop3d()
    site.start_fs()
    root = site.maildir(A)
    m = site.login(A, PW)

    # -- cp + mv into new/: IMAP and POP3 see the exact bytes ---------
    m1 = mail("into-new", b"delivered by cp and mv\r\nline two\r\n")
    deliver(site, root, m1, "new/msg1")
    uid1, flags, data = one(imap_find(m, "INBOX", "into-new"), "into-new")
    check(data == m1, "IMAP gives the bytes written into new/", data[:200])
    check(flags == set(), "a message put into new/ has no flags", flags)
    check(m1 in pop3_messages(site, A), "POP3 RETR gives the bytes written "
          "into new/", None)
    check(os.listdir(os.path.join(root, "tmp")) == [], "tmp/ is empty "
          "after the mv", os.listdir(os.path.join(root, "tmp")))
    sub, name = file_of(root, m1)
    check(sub == "new" and parse_name(name)["uid"] == uid1, "the message "
          "is in new/ under its uid", (sub, name, uid1))
    # The name mv gave it keeps working for a while (neomutt opens and
    # sets the times of what it just renamed).
    given = os.path.join(root, "new", "msg1")
    e = errno_of(os.utime, given, None)
    check(e is None, "utime() on the name given by the rename works",
          ename(e))
    with open(given, "rb") as f:
        check(f.read() == m1, "the name given by the rename reads the "
              "message", None)

    # What neomutt does on every save (mutt_file_safe_rename, then
    # md_commit_message): rename from tmp/ and at once set the times and
    # open the name it chose; 200 times in a row, none may fail.
    fails = {}
    for i in range(200):
        tmp = os.path.join(root, ".Archive", "tmp", "nm%d" % i)
        with open(tmp, "wb") as f:
            f.write(mail("nm-save-%d" % i))
        given = os.path.join(root, ".Archive", "new", "%d.R%d.host" % (
            1796160000 + i, i))
        os.rename(tmp, given)
        for what, fn, args in (("utime", os.utime, (given, (1, 1))),
                               ("stat", os.stat, (given,)),
                               ("open", os.open, (given, os.O_RDONLY))):
            try:
                r = fn(*args)
                if what == "open":
                    os.close(r)
            except OSError as ex:
                key = "%s: %s" % (what, errno.errorcode.get(ex.errno))
                fails[key] = fails.get(key, 0) + 1
    check(not fails, "utime, stat and open of the name given by the rename "
          "work right after it, 200 times out of 200", fails)

    # ... until the message changes again (vellum-fs(8)).
    # (In Drafts: a read-write SELECT of INBOX would move its new/.)
    m5 = mail("alias-ends")
    drafts = os.path.join(root, ".Drafts")
    deliver(site, drafts, m5, "new/alias5")
    check(errno_of(os.stat, os.path.join(drafts, "new", "alias5")) is None,
          "new/alias5 works right after the mv", None)
    m.select("Drafts")
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", "alias-ends@")
    m.uid("STORE", data[0].split()[0].decode(), "+FLAGS", "(\\Seen)")
    m.close()
    wait_change(lambda: errno_of(os.stat, os.path.join(
        drafts, "new", "alias5")) == errno.ENOENT and file_of(drafts, m5)[1]
                .endswith(":2,S"), "after a flag change over IMAP the name "
                "given by the mv is gone, the canonical one has S")

    # -- cp + mv into cur/ with letters: the flags of the name ---------
    m2 = mail("into-cur", b"flagged and seen\r\n")
    deliver(site, root, m2, "cur/msg2:2,FS")
    uid2, flags, data = one(imap_find(m, "INBOX", "into-cur"), "into-cur")
    check(data == m2, "IMAP gives the bytes written into cur/", data[:200])
    check(flags == {"\\Flagged", "\\Seen"}, "cur/X:2,FS is \\Flagged "
          "\\Seen", flags)
    check(m2 in pop3_messages(site, A), "POP3 RETR gives the bytes written "
          "into cur/", None)
    sub, name = file_of(root, m2)
    check(sub == "cur" and name.endswith(":2,FS"), "the file shows in cur/ "
          "with FS", name)

    # A big one with 8-bit lines, written by cp in many writes, goes in
    # byte for byte (and comes back in pieces from the file view).
    r = random.Random(7)
    body = b"".join(bytes(r.randrange(32, 256) for _ in range(
        r.randrange(1, 200))) + b"\r\n" for _ in range(5000))
    m3 = mail("big-8bit", body)
    check(len(m3) > 400000, "the big message is big", len(m3))
    deliver(site, root, m3, "cur/big:2,S")
    _, flags, data = one(imap_find(m, "INBOX", "big-8bit"), "big-8bit")
    check(data == m3 and flags == {"\\Seen"}, "IMAP gives the big 8-bit "
          "message byte for byte", (len(data), len(m3), flags))
    bsub, bname = file_of(root, m3)
    check(bsub == "cur" and parse_name(bname)["size"] == len(m3),
          "it is in cur/, its S= is its size", (bsub, bname))

    # tmp/ of the INBOX into another folder's cur/: stored there.
    m4 = mail("into-work", b"via INBOX tmp/\r\n")
    deliver(site, root, m4, os.path.join(".Sent", "cur", "w:2,S"))
    _, flags, data = one(imap_find(m, "Sent", "into-work"), "into-work")
    check(data == m4 and flags == {"\\Seen"}, "tmp/ -> .Sent/cur/X:2,S "
          "stores the message in Sent", (flags, data[:100]))
    check(imap_find(m, "INBOX", "into-work") == [], "and not in INBOX",
          None)
    # Another user's tmp/ into this user's new/: EXDEV.
    btmp = os.path.join(site.maildir(B), "tmp", "bob-file")
    with open(btmp, "wb") as f:
        f.write(mail("from-bob-tmp"))
    e = errno_of(os.rename, btmp, os.path.join(root, "new", "bob-file"))
    check(e == errno.EXDEV, "rename from another user's tmp/ fails EXDEV",
          ename(e))
    os.unlink(btmp)

    # Four writers at once, 25 messages each: every one stored once.
    def writer(w):
        for i in range(25):
            tag = "par-%d-%02d" % (w, i)
            tmp = os.path.join(root, "tmp", tag)
            with open(tmp, "wb") as f:
                f.write(mail(tag, b"parallel %d %d\r\n" % (w, i)))
            os.rename(tmp, os.path.join(root, "new", tag))
    errors = []

    def run_writer(w):
        try:
            writer(w)
        except OSError as ex:
            errors.append((w, ex))
    threads = [threading.Thread(target=run_writer, args=(w,))
               for w in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    check(not errors, "the parallel writers got no errors", errors)
    got = imap_find(m, "INBOX", "par-")
    tags = sorted(d.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
                  for _, _, d in got)
    want = sorted("par-%d-%02d" % (w, i) for w in range(4)
                  for i in range(25))
    check(tags == want, "the 100 messages of the parallel writers are "
          "each stored once", (len(tags), sorted(set(want) - set(tags))[:5]))
    names = [n for n in os.listdir(os.path.join(root, "new"))
             if parse_name(n)]
    check(len(names) >= 100 and len(set(parse_name(n)["uid"]
                                        for n in names)) == len(names),
          "new/ shows them under distinct uids", len(names))

    # A tmp/ file is an ordinary file: pwrite in the middle, append,
    # shrink, grow; what is renamed into new/ is what it holds then.
    tp = os.path.join(root, "tmp", "edited")
    model = bytearray(mail("edited", b"0123456789" * 10000 + b"\r\n"))
    fd = os.open(tp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, bytes(model))
        os.pwrite(fd, b"ABCDEF", 200)
        model[200:206] = b"ABCDEF"
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, b"tail line\r\n")
        model += b"tail line\r\n"
        os.ftruncate(fd, 50000)
        del model[50000:]
        os.ftruncate(fd, 50100)
        model += b"\0" * 100
        os.pwrite(fd, b"\r\nend!\r\n", 50092)
        model[50092:50100] = b"\r\nend!\r\n"
        check(os.fstat(fd).st_size == len(model), "fstat of the tmp/ file "
              "follows the writes", (os.fstat(fd).st_size, len(model)))
        check(os.pread(fd, len(model) + 10, 0) == bytes(model), "the tmp/ "
              "file reads back what was written", None)
    finally:
        os.close(fd)
    os.rename(tp, os.path.join(root, "new", "edited"))
    _, _, data = one(imap_find(m, "INBOX", "edited@"), "edited")
    check(data == bytes(model), "the edited tmp/ file was stored as it was "
          "at the rename", (len(data), len(model)))
    # Taking one message out of new/ leaves the others (older ones too).
    esub, ename_ = file_of(root, bytes(model))
    check(esub == "new" and file_of(root, m1)[0] == "new", "edited and "
          "into-new are both in new/", (esub, file_of(root, m1)))
    os.rename(os.path.join(root, "new", ename_),
              os.path.join(root, "cur", ename_ + ":2,S"))
    check(file_of(root, bytes(model))[0] == "cur" and
          file_of(root, m1)[0] == "new", "new/ -> cur/ of one message "
          "leaves the older one in new/", (file_of(root, bytes(model)),
                                           file_of(root, m1)))

    # -- rename changes flags -------------------------------------------
    base = name.split(":2,")[0]
    os.rename(os.path.join(root, "cur", name),
              os.path.join(root, "cur", base + ":2,RS"))
    _, flags, _ = one(imap_find(m, "INBOX", "into-cur"), "into-cur")
    check(flags == {"\\Answered", "\\Seen"}, "rename to :2,RS sets "
          "\\Answered \\Seen (and clears \\Flagged)", flags)
    check(file_of(root, m2) == ("cur", base + ":2,RS"), "the file has "
          "the new name", file_of(root, m2))
    # A rename to a name of the program's own (not the canonical base)
    # sets the flags too, and that name works for a while.
    os.rename(os.path.join(root, "cur", base + ":2,RS"),
              os.path.join(root, "cur", "mine:2,FRS"))
    _, flags, _ = one(imap_find(m, "INBOX", "into-cur"), "into-cur")
    check(flags == {"\\Flagged", "\\Answered", "\\Seen"}, "rename to "
          "cur/mine:2,FRS sets \\Flagged \\Answered \\Seen", flags)
    with open(os.path.join(root, "cur", "mine:2,FRS"), "rb") as f:
        check(f.read() == m2, "the program's name reads the message", None)
    check(file_of(root, m2) == ("cur", base + ":2,FRS"), "the listing "
          "shows the canonical name", file_of(root, m2))
    os.rename(os.path.join(root, "cur", base + ":2,FRS"),
              os.path.join(root, "cur", base + ":2,RS"))
    # new/ -> cur/ with letters: out of new/, flags set.
    sub, name = file_of(root, m1)
    os.rename(os.path.join(root, "new", name),
              os.path.join(root, "cur", name + ":2,S"))
    _, flags, _ = one(imap_find(m, "INBOX", "into-new"), "into-new")
    check(flags == {"\\Seen"}, "new/X -> cur/X:2,S sets \\Seen", flags)
    check(file_of(root, m1) == ("cur", name + ":2,S"), "the message left "
          "new/ for cur/", file_of(root, m1))

    # Keyword letters: a keyword set over IMAP gets a letter; a rename
    # with that letter sets it on another message, P is $Forwarded, a
    # letter past the list is ignored.
    m.select("INBOX")
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", "seed-1@")
    m.uid("STORE", data[0].split()[0].decode(), "+FLAGS", "(project)")
    m.close()
    # That read-write SELECT takes the messages out of new/ (the parallel
    # writers' 100): let it finish before looking at names again.
    wait_change(lambda: os.listdir(os.path.join(root, "new")) == [],
                "SELECT INBOX moved new/ to cur/")
    kwfile = os.path.join(root, "dovecot-keywords")
    wait_change(lambda: os.path.exists(kwfile) and
                open(kwfile).read() == "0 project\n",
                "dovecot-keywords lists the keyword set over IMAP")
    seed2 = mail("seed-2")
    sub, name = file_of(root, seed2)
    os.rename(os.path.join(root, sub, name), os.path.join(
        root, "cur", name.split(":2,")[0] + ":2,PSaz"))
    _, flags, _ = one(imap_find(m, "INBOX", "seed-2"), "seed-2")
    check(flags == {"\\Seen", "$Forwarded", "project"}, "rename to :2,PSaz "
          "sets \\Seen $Forwarded and the keyword of letter a (z: none)",
          flags)
    check(file_of(root, seed2) == ("cur", name.split(":2,")[0] + ":2,PSa"),
          "the file shows under its canonical name (no z)",
          file_of(root, seed2))

    # -- rename into .Trash/cur is a MOVE -------------------------------
    sub, name = file_of(root, m2)
    os.rename(os.path.join(root, sub, name),
              os.path.join(root, ".Trash", "cur",
                           name.split(":2,")[0] + ":2,FS"))
    check(imap_find(m, "INBOX", "into-cur") == [], "the moved message left "
          "INBOX", imap_find(m, "INBOX", "into-cur"))
    _, flags, data = one(imap_find(m, "Trash", "into-cur"), "Trash")
    check(data == m2 and flags == {"\\Flagged", "\\Seen"}, "the message "
          "is in Trash with its bytes and the flags of the target name (FS)",
          (flags, data[:100]))
    check(file_of(os.path.join(root, ".Trash"), m2)[0] == "cur",
          "the file is in .Trash/cur", None)
    check(not any(os.path.exists(os.path.join(root, s, name))
                  for s in ("cur", "new")), "the old name is gone", name)

    # -- unlink expunges ------------------------------------------------
    used0 = site.ctl_json("user", "show", A)["used_bytes"]
    sub, name = file_of(root, m1)
    os.unlink(os.path.join(root, sub, name))
    check(imap_find(m, "INBOX", "into-new") == [], "unlink expunged the "
          "message", None)
    check(not os.path.exists(os.path.join(root, sub, name)), "the file is "
          "gone", name)
    used1 = site.ctl_json("user", "show", A)["used_bytes"]
    check(used1 == used0 - len(m1), "the usage went down by the message's "
          "size", (used0, used1, len(m1)))

    # -- folders: mkdir, rename, rmdir ----------------------------------
    # As maildirmake does it: the folder, then its cur/ new/ tmp/ (each
    # mkdir must work: maildirmake and mutt fail on EEXIST).
    for d in (".Projects", ".Projects.Q1", ".&AOk-t&AOk-"):
        os.mkdir(os.path.join(root, d))
        for sub in ("cur", "new", "tmp"):
            e = errno_of(os.mkdir, os.path.join(root, d, sub))
            check(e is None, "mkdir %s/%s after mkdir %s works" % (
                d, sub, d), ename(e))
    def nlink_ok(d):
        subs = [n for n in os.listdir(d) if os.path.isdir(os.path.join(d, n))]
        return os.stat(d).st_nlink == 2 + len(subs)
    check(nlink_ok(root) and nlink_ok(os.path.join(root, ".Projects")),
          "after the mkdirs st_nlink of Mail/ and .Projects is 2 + their "
          "subdirectories", (os.stat(root).st_nlink, os.listdir(root)))
    names = imap_folders(m)
    check({"Projects", "Projects/Q1", "&AOk-t&AOk-"} <= names,
          "mkdir .Projects, .Projects.Q1, .&AOk-t&AOk- made the folders",
          names)
    for d in (".Projects", ".Projects.Q1", ".&AOk-t&AOk-"):
        check(sorted(os.listdir(os.path.join(root, d))) ==
              ["cur", "maildirfolder", "new", "tmp"], "a new %s has cur "
              "new tmp maildirfolder" % d, os.listdir(os.path.join(root,
                                                                   d)))
    deliver(site, os.path.join(root, ".Projects.Q1"), mail("in-q1"),
            "new/q1")
    os.rename(os.path.join(root, ".Projects"),
              os.path.join(root, ".Clients"))
    names = imap_folders(m)
    check({"Clients", "Clients/Q1"} <= names and not {
        "Projects", "Projects/Q1"} & names, "rename .Projects -> .Clients "
          "renamed the folder and its child", names)
    check(os.path.isdir(os.path.join(root, ".Clients.Q1")) and
          not os.path.exists(os.path.join(root, ".Projects.Q1")),
          "the child shows as .Clients.Q1", os.listdir(root))
    one(imap_find(m, "Clients/Q1", "in-q1"), "the message in the renamed "
        "child")
    e = errno_of(os.rmdir, os.path.join(root, ".Clients.Q1"))
    check(e == errno.ENOTEMPTY, "rmdir of a folder with messages fails "
          "ENOTEMPTY", ename(e))
    one(imap_find(m, "Clients/Q1", "in-q1"), "the message is still there")
    for what, fn, args in (
            ("rmdir of Mail/ (the INBOX)", os.rmdir, (root,)),
            ("rename of Mail/ (the INBOX)", os.rename,
             (root, os.path.join(os.path.dirname(root), "Mail2"))),
            ("rename of Mail/cur", os.rename,
             (os.path.join(root, "cur"), os.path.join(root, "cur2"))),
            ("rmdir of Mail/new", os.rmdir, (os.path.join(root, "new"),))):
        e = errno_of(fn, *args)
        check(e is not None, what + " fails", ename(e))
    check(sorted(os.listdir(os.path.dirname(root))) == ["Mail"] and
          {"cur", "new", "tmp"} <= set(os.listdir(root)),
          "the INBOX is intact", os.listdir(root))
    e = errno_of(os.rmdir, os.path.join(root, ".&AOk-t&AOk-"))
    check(e is None, "rmdir of an empty folder works", ename(e))
    check("&AOk-t&AOk-" not in imap_folders(m), "rmdir deleted the folder",
          imap_folders(m))
    check(not os.path.exists(os.path.join(root, ".&AOk-t&AOk-")),
          "the folder dir is gone", os.listdir(root))
    check(nlink_ok(root), "after the rmdir st_nlink of Mail/ is 2 + its "
          "subdirectories", (os.stat(root).st_nlink, os.listdir(root)))

    # -- quota: EDQUOT on the rename, nothing stored --------------------
    qroot = site.maildir(Q)
    qshow = site.ctl_json("user", "show", Q)
    big = mail("q-over", size=Q_QUOTA - qshow["used_bytes"] + 500)
    tmpq = os.path.join(qroot, "tmp", "over")

    def write_tmp(path, data):
        with open(path, "wb") as f:
            f.write(data)
    e = errno_of(write_tmp, tmpq, big)
    check(e is None, "writing the over-quota message into tmp/ works (the "
          "rename is refused)", ename(e))
    e = errno_of(os.rename, tmpq, os.path.join(qroot, "new", "over"))
    check(e == errno.EDQUOT, "rename into new/ over the quota fails "
          "EDQUOT", ename(e))
    q2 = site.ctl_json("user", "show", Q)
    check(q2["used_bytes"] == qshow["used_bytes"] and
          q2["used_messages"] == qshow["used_messages"],
          "nothing was stored over the quota", (qshow, q2))
    check(not any(parse_name(n) and parse_name(n)["size"] == len(big)
                  for s in ("cur", "new")
                  for n in os.listdir(os.path.join(qroot, s))),
          "no message file appeared", os.listdir(os.path.join(qroot, "new")))
    check(os.path.exists(tmpq) and open(tmpq, "rb").read() == big,
          "the refused message stays in tmp/ with its bytes", None)
    os.unlink(tmpq)
    small = mail("q-fits", size=2000)
    deliver(site, qroot, small, "new/fits")
    check(site.ctl_json("user", "show", Q)["used_messages"] ==
          qshow["used_messages"] + 1, "a message that fits is stored",
          None)

    # The message quota too: at the limit, the next rename fails EDQUOT.
    n = site.ctl_json("user", "show", Q)["used_messages"]
    site.ctl("quota", "set", Q, str(Q_QUOTA), "--messages", str(n))
    tmpm = os.path.join(qroot, "tmp", "one-more")
    with open(tmpm, "wb") as f:
        f.write(mail("q-count", size=500))
    e = errno_of(os.rename, tmpm, os.path.join(qroot, "cur", "one-more:2,S"))
    check(e == errno.EDQUOT, "rename into cur/ at the message quota fails "
          "EDQUOT", ename(e))
    check(site.ctl_json("user", "show", Q)["used_messages"] == n,
          "nothing was stored over the message quota", None)
    os.unlink(tmpm)
    # The same refusal for link(2) delivery (below): nothing stored.
    tmpl = os.path.join(qroot, "tmp", "link-over")
    with open(tmpl, "wb") as f:
        f.write(mail("q-link", size=500))
    e = errno_of(os.link, tmpl, os.path.join(qroot, "new", "link-over"))
    check(e == errno.EDQUOT, "link() into new/ at the message quota fails "
          "EDQUOT", ename(e))
    check(site.ctl_json("user", "show", Q)["used_messages"] == n and
          os.path.exists(tmpl), "nothing was stored over the quota by "
          "link(), the tmp/ file stays", None)
    os.unlink(tmpl)

    # -- rename from cur/ back into new/ without flags (neomutt marking a
    # message new again): it shows in new/ again -----------------------
    again = mail("new-again")
    deliver(site, root, again, "cur/new-again:2,")
    sub, name = file_of(root, again)
    check(sub == "cur", "a message renamed into cur/ is in cur/", sub)
    base = name.split(":")[0]
    os.rename(os.path.join(root, "cur", name), os.path.join(root, "new",
                                                            base))
    check(file_of(root, again) == ("new", base), "renamed back into new/ "
          "without flags it shows in new/ again", file_of(root, again))

    # -- rename of a tmp/ file over a message's name replaces it ---------
    old_m = mail("replaced-old")
    deliver(site, root, old_m, "cur/replace-me:2,S")
    sub, name = file_of(root, old_m)
    new_m = mail("replaced-new", b"the new version\r\n")
    tmpr = os.path.join(root, "tmp", "replacement")
    with open(tmpr, "wb") as f:
        f.write(new_m)
    os.rename(tmpr, os.path.join(root, sub, name))
    check(imap_find(m, "INBOX", "replaced-old") == [], "rename over a "
          "message's name replaces it (the old message is expunged)",
          None)
    one(imap_find(m, "INBOX", "replaced-new"), "the replacement is stored")

    # -- link(2) delivery: qmail-local, procmail, maildrop and fdm write
    # tmp/X, link it to new/X (or cur/X:2,..), then unlink tmp/X. ------
    for sub, dname, flags in (("new", "1709294400.P42Q1.linkhost", ""),
                              ("cur", "1709294400.P42Q2.linkhost:2,FS",
                               "FS")):
        tag = "linked-" + sub
        data = mail(tag, size=3000)
        base = dname.split(":")[0]
        tmpl = os.path.join(root, "tmp", base)
        with open(tmpl, "wb") as f:
            f.write(data)
        dest = os.path.join(root, sub, dname)
        e = errno_of(os.link, tmpl, dest)
        check(e is None, "link() of a tmp/ file into %s/ works" % sub,
              ename(e))
        if e is not None:
            continue
        with open(dest, "rb") as f:
            check(f.read() == data, "the linked name reads the message",
                  sub)
        os.unlink(tmpl)
        check(not os.path.exists(tmpl) and os.path.exists(dest),
              "after unlink of the tmp/ name the message stays", sub)
        found = imap_find(m, "INBOX", tag)
        check(len(found) == 1 and found[0][2] == data, "the linked message "
              "is stored once, byte for byte", [f[:2] for f in found])
        if flags:
            check(found[0][1] == {"\\Flagged", "\\Seen"}, "IMAP sees "
                  "the flags of the linked name", found[0][1])
        if flags:
            sub2, name2 = file_of(root, data)
            check(sub2 == "cur" and parse_name(name2)["letters"] == flags,
                  "it has the flags of the linked name", (sub2, name2))

    # -- over max_message_size: EFBIG -----------------------------------
    huge = mail("too-big", size=MAX_SIZE + 1000)
    tmpb = os.path.join(root, "tmp", "huge")
    e = None
    try:
        with open(tmpb, "wb") as f:
            f.write(huge)
    except OSError as ex:
        e = ex.errno
    if e is None:
        e = errno_of(os.rename, tmpb, os.path.join(root, "new", "huge"))
    check(e == errno.EFBIG, "a message over max_message_size fails EFBIG "
          "(at write or rename)", ename(e))
    check(imap_find(m, "INBOX", "too-big") == [], "nothing was stored",
          None)
    if os.path.exists(tmpb):
        os.unlink(tmpb)

    tmpt = os.path.join(root, "tmp", "grow")
    fd = os.open(tmpt, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        e = errno_of(os.ftruncate, fd, MAX_SIZE + 1)
    finally:
        os.close(fd)
    check(e == errno.EFBIG, "ftruncate of a tmp/ file past max_message_size "
          "fails EFBIG", ename(e))
    os.unlink(tmpt)

    # At most 1000 files in a folder's tmp/: EDQUOT beyond.
    made, e = 0, None
    for i in range(1001):
        try:
            os.close(os.open(os.path.join(root, ".Trash", "tmp", "f%04d" % i),
                             os.O_WRONLY | os.O_CREAT, 0o600))
            made += 1
        except OSError as ex:
            e = ex.errno
            break
    check(made == 1000 and e == errno.EDQUOT, "1000 files can be made in "
          "tmp/, the 1001st fails EDQUOT", (made, ename(e)))
    for i in range(made):
        os.unlink(os.path.join(root, ".Trash", "tmp", "f%04d" % i))
    check(os.listdir(os.path.join(root, ".Trash", "tmp")) == [],
          "the tmp/ files were removed", None)

    # A user's files in tmp/ and beside cur/ new/ tmp/ are not mail (the
    # quota does not count them): all its folders together hold at most
    # 4 x max_message_size + 1 MiB, EDQUOT beyond; without that, folders
    # x 1000 files x max_message_size fill the disk.
    broot = site.maildir(B)
    dirs = [os.path.join(broot, "tmp")]
    for i in range(3):
        d = os.path.join(broot, ".Fill%d" % i)
        os.mkdir(d)
        for sub in ("cur", "new", "tmp"):
            os.mkdir(os.path.join(d, sub))
        dirs.append(os.path.join(d, "tmp"))
    cap = 4 * MAX_SIZE + 1024 * 1024
    chunk = b"x" * 65536
    files, total, e = [], 0, None
    for i in range(12):
        path_i = os.path.join(dirs[i % len(dirs)], "fill%02d" % i)
        fd = os.open(path_i, os.O_WRONLY | os.O_CREAT, 0o600)
        files.append(path_i)
        try:
            left = MAX_SIZE - 1000
            while left > 0:
                n = os.write(fd, chunk[:left])
                total += n
                left -= n
        except OSError as ex:
            e = ex.errno
        finally:
            os.close(fd)
        if e is not None:
            break
    check(e == errno.EDQUOT and 4 * (MAX_SIZE - 1000) <= total <= cap,
          "a user's tmp/ files (4 folders) hold at most 4 x max_message_size"
          " + 1 MiB, EDQUOT beyond", (ename(e), total, cap))
    grow = os.path.join(dirs[0], "grow")
    os.close(os.open(grow, os.O_WRONLY | os.O_CREAT, 0o600))
    files.append(grow)
    e = errno_of(os.truncate, grow, MAX_SIZE)
    check(e == errno.EDQUOT, "truncate cannot grow a file past the room "
          "either", ename(e))
    os.unlink(files[0])
    e = errno_of(os.truncate, grow, MAX_SIZE - 1000)
    check(e is None, "after an unlink the room is there again", ename(e))
    for f in files[1:]:
        os.unlink(f)
    for i in range(3):
        os.rmdir(os.path.join(broot, ".Fill%d" % i))

    # A folder deleted over IMAP takes its tmp/ and side files with it
    # (else IMAP DELETE after each fill would grow the disk without end).
    doomed = os.path.join(broot, ".Doomed")
    os.mkdir(doomed)
    for sub in ("cur", "new", "tmp"):
        os.mkdir(os.path.join(doomed, sub))
    with open(os.path.join(doomed, "tmp", "doomed-file"), "wb") as f:
        f.write(b"z" * 100000)
    with open(os.path.join(doomed, ".doomed-state"), "wb") as f:
        f.write(b"state\n")
    fstmp = os.path.join(site.data, "fstmp")

    def held():
        out = []
        for d in os.listdir(fstmp):
            try:
                names = os.listdir(os.path.join(fstmp, d))
            except FileNotFoundError:	# removed between the two reads
                continue
            if any(n.startswith(("doomed-", ".doomed-")) for n in names):
                out.append(d)
        return sorted(out)
    check(len(held()) == 2, "the files are kept under DATA_DIR/fstmp",
          held())
    mb = site.login(B, PW)
    typ, data = mb.delete("Doomed")
    check(typ == "OK", "IMAP DELETE Doomed", data)
    mb.logout()
    wait_change(lambda: held() == [], "the deleted folder's tmp/ and side "
                "files are removed")
    check(not os.path.exists(doomed), "the folder is gone from the view",
          os.listdir(broot))

    # -- what a Maildir does not allow: EPERM, EXDEV --------------------
    seed = mail("seed-0")
    sub, name = file_of(root, seed)
    path = os.path.join(root, sub, name)
    st0 = os.stat(path)

    def write_into(flags):
        fd = os.open(path, flags)
        try:
            os.write(fd, b"X-Tampered: yes\r\n")
        finally:
            os.close(fd)
    for what, fn, args in (
            ("open(O_WRONLY) + write into a message", write_into,
             (os.O_WRONLY,)),
            ("open(O_RDWR) + write into a message", write_into,
             (os.O_RDWR,)),
            ("open(O_WRONLY|O_APPEND) + write", write_into,
             (os.O_WRONLY | os.O_APPEND,)),
            ("open(O_WRONLY|O_TRUNC)", write_into,
             (os.O_WRONLY | os.O_TRUNC,)),
            ("truncate() of a message", os.truncate, (path, 0)),
            ("link() of a message into cur/", os.link,
             (path, os.path.join(root, "cur", "linked:2,S"))),
            ("link() of a message into tmp/", os.link,
             (path, os.path.join(root, "tmp", "linked"))),
            ("symlink() in cur/", os.symlink,
             (name, os.path.join(root, "cur", "sym:2,S"))),
            ("symlink() in tmp/", os.symlink,
             (name, os.path.join(root, "tmp", "sym"))),
            ("mknod(FIFO) in tmp/", os.mknod,
             (os.path.join(root, "tmp", "fifo"), stat.S_IFIFO | 0o600)),
            ("mknod(char device) in tmp/", os.mknod,
             (os.path.join(root, "tmp", "chr"), stat.S_IFCHR | 0o600,
              os.makedev(1, 3))),
            ("open(O_CREAT) in cur/", os.open,
             (os.path.join(root, "cur", "made-here:2,S"),
              os.O_WRONLY | os.O_CREAT, 0o600)),
            ("open(O_CREAT) in new/", os.open,
             (os.path.join(root, "new", "made-here"),
              os.O_WRONLY | os.O_CREAT, 0o600)),
            ("chmod of a message", os.chmod, (path, 0o644)),
            ("chown of a message", os.chown, (path, 1, 1))):
        e = errno_of(fn, *args)
        check(e == errno.EPERM, what + " fails EPERM", ename(e))
    e = errno_of(os.utime, path, (1000000000, 1000000000))
    check(e is None, "utime() of a message works (neomutt sets the times of "
          "what it delivered)", ename(e))
    with open(path, "rb") as f:
        check(f.read() == seed, "the message is unchanged after the "
              "refused writes", None)
    st1 = os.stat(path)
    check((st1.st_size, st1.st_mtime, stat.S_IMODE(st1.st_mode),
           st1.st_uid) == (st0.st_size, st0.st_mtime,
                           stat.S_IMODE(st0.st_mode), st0.st_uid),
          "size, mtime (the internal date, utime changes nothing), mode and "
          "owner are unchanged", (st0, st1))

    # Programs' own files beside cur/ new/ tmp/ (mbsync's .uidvalidity):
    # ordinary files, never mail.
    own = os.path.join(root, ".uidvalidity")
    with open(own, "wb") as f:
        f.write(b"1\n1234\n")
    with open(own, "ab") as f:
        f.write(b"more\n")
    with open(own, "rb") as f:
        check(f.read() == b"1\n1234\nmore\n", "a program's own file in "
              "Mail/ reads back as written", None)
    check(".uidvalidity" in os.listdir(root), "it is listed", os.listdir(
        root))
    os.rename(own, own + ".new")
    os.rename(own + ".new", own)
    fsync_reaches_disk(site, own)
    check(imap_find(m, "INBOX", "uidvalidity") == [] and
          ".uidvalidity" not in imap_folders(m), "it is not mail", None)
    _, _, data = one(imap_find(m, "INBOX", "seed-0"), "seed-0")
    check(data == seed, "IMAP still gives the original bytes", data[:200])
    for d in ("cur", "tmp"):
        left = [n for n in os.listdir(os.path.join(root, d))
                if n.startswith(("linked", "sym", "fifo", "chr",
                                 "made-here"))]
        check(left == [], "nothing was made in %s/" % d, left)

    # Rename across users: EXDEV; the message stays.
    broot = site.maildir(B)
    e = errno_of(os.rename, path, os.path.join(broot, "cur", name))
    check(e == errno.EXDEV, "rename of a message to another user fails "
          "EXDEV", ename(e))
    e = errno_of(os.rename, os.path.join(root, ".Clients"),
                 os.path.join(broot, ".Clients"))
    check(e == errno.EXDEV, "rename of a folder to another user fails "
          "EXDEV", ename(e))
    check(os.path.exists(path), "the message stayed", name)
    one(imap_find(m, "INBOX", "seed-0"), "seed-0 still in alice's INBOX")
    m.logout()

    # Files of folders deleted while vellum-fs was down go at its start;
    # those of folders that exist stay.
    site.stop_fs()
    fstmp = os.path.join(site.data, "fstmp")
    for d in ("999999", "999999.root"):
        os.makedirs(os.path.join(fstmp, d), exist_ok=True)
        with open(os.path.join(fstmp, d, "orphan"), "wb") as f:
            f.write(b"o" * 1000)
    keep = os.path.join(root, ".uidvalidity")
    site.start_fs()
    check(not os.path.exists(os.path.join(fstmp, "999999")) and
          not os.path.exists(os.path.join(fstmp, "999999.root")),
          "the files of a folder that no longer exists are removed at the "
          "start", os.listdir(fstmp))
    check(os.path.exists(keep), "those of folders that exist stay",
          os.listdir(root))
    return True


if __name__ == "__main__":
    run(test)
