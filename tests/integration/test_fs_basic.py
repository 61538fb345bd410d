"""vellum-fs, reading: the mount (FUSE, "vellum", allow_other,
default_permissions), the tree (domains, users, Mail/ with cur new tmp,
one .Folder per folder in modified UTF-7 with '.' as \\2e, maildirfolder,
directory link counts), the message names (<date>.<uid>.<host>,S=<size>
[:2,<letters>]) against `vellumctl mail export` byte for byte, sizes and
mtimes, new/ against cur/, partial reads (pread, mmap), a 600-message
listing, `cp -a`, tar, `grep -rl`, `find -newer`, statfs (df) against the
byte and message quotas (over quota: nothing free; no quota: the data
dir's file system), and dovecot-keywords with keyword letters after an
IMAP STORE (26 letters at most; a file read before follows).

usage: test_fs_basic.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py).
"""
import mmap
import os
import random
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fstest import (HOSTNAME, Failure, check, export, folder_files,  # noqa
                    imap_folders, mount_entry, parse_name, read_keywords, run, wait_change,
                    write_maildir)

A, B, C = "alice@example.test", "bob@example.test", "carol@other.test"
PW = "fs-basic-pw"
MIB = 1024 * 1024
QUOTA_A, QUOTA_B = 10 * MIB, 24 * MIB
QUOTA_B_MSGS = 500			# bob's message quota: statfs's inodes
DEFAULTS = (".Sent", ".Drafts", ".Trash", ".Spam", ".Archive")
UNICODE_IMAP = "&ANw-n&AO8-code &- x"	# "Ünïcode & x" in modified UTF-7
NEEDLE = b"needle-7f3a-grep-me"
# Internal dates: 2020-01-01, 2021-06-01, 2024-03-01, 2025-02-01 (UTC).
D2020, D2021, D2024, D2025 = 1577880000, 1622548800, 1709294400, 1738411200
FIND_REF = 1672574400			# 2023-01-01: find -newer's reference


def mail(n, subject, body, nl=b"\r\n", extra=b""):
    head = [b"From: Sender <s@remote.test>", b"To: " + A.encode(),
            b"Subject: " + subject, b"Message-ID: <fsb%d@remote.test>" % n]
    return nl.join(head) + nl + extra + nl + body


def big_body():
    r = random.Random(10)
    lines = []
    for i in range(2600):
        lines.append(("%05d " % i + "".join(
            r.choice("abcdefghijklmnopqrstuvwxyz0123456789 ")
            for _ in range(70))).encode())
    lines.insert(1700, b"here is the " + NEEDLE + b" in a big one")
    return b"\r\n".join(lines) + b"\r\n"


INBOX = [
    # (bytes, internal date, letters: None = new/)
    (mail(1, b"plain new", b"hello\r\n"), D2020, None),
    (mail(2, b"LF only, 8-bit", "caf\u00e9 na\u00efve \xff\n".encode(
        "latin-1", "replace") + "\u00fcber\n".encode(), nl=b"\n"),
     D2021, "S"),
    (mail(3, b"big", big_body()), D2025, "FS"),
    (mail(4, b"empty body", b""), D2024, "RS"),
    (mail(5, b"deleted", b"to be expunged\r\n"), D2021, "ST"),
    (mail(6, b"draft", b"draft text\r\n"), D2024, "D"),
]
WORK = [
    (mail(11, b"work new", b"the " + NEEDLE + b" again\r\n"), D2025, None),
    (mail(12, b"work seen", b"w2\r\n"), D2020, "S"),
]
REPORTS = [(mail(21, b"report", b"quarterly\r\n"), D2024, "S")]
# Enough names that a listing takes several readdir calls (a few KB
# each).
BULK = [(mail(1000 + i, b"bulk %d" % i, b"b\r\n"), D2020 + i,
         "S" if i % 3 else None) for i in range(600)]


def walk_files(root):
    """{relative path: bytes} of every regular file below root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def walk_dirs(root):
    return sorted(os.path.relpath(d, root) for d, _, _ in os.walk(root))


def check_against_export(site, address):
    """Every folder of the file view against vellumctl mail export: the
    same folders, uids, dates, sizes, flags, keyword names and bytes;
    new/ only for messages without flags and keywords."""
    exp = export(site, address)
    root = site.maildir(address)
    fs_folders = [""] + sorted(n for n in os.listdir(root)
                               if n.startswith("."))
    check(sorted(exp) == fs_folders, "%s: the file view shows the folders "
          "export writes" % address, (sorted(exp), fs_folders))
    n = 0
    for rel, box in exp.items():
        d = os.path.join(root, rel)
        files = folder_files(d)
        kws = read_keywords(d)
        check(sorted(files) == sorted(box), "%s %s: the same uids as the "
              "export" % (address, rel or "INBOX"),
              (sorted(files), sorted(box)))
        for uid, want in box.items():
            sub, name = files[uid]
            p = os.path.join(d, sub, name)
            st = os.stat(p)
            with open(p, "rb") as f:
                data = f.read()
            nm = parse_name(name)
            what = "%s %s uid %d (%s/%s)" % (address, rel or "INBOX", uid,
                                             sub, name)
            check(nm["host"] == HOSTNAME, what + ": the host part is the "
                  "config's hostname", nm["host"])
            check(nm["date"] == want["date"], what + ": the date part is "
                  "the internal date", (nm["date"], want["date"]))
            check(nm["size"] == st.st_size == len(data) ==
                  len(want["data"]), what + ": S= == st_size == len(read) "
                  "== the stored size", (nm["size"], st.st_size, len(data),
                                         len(want["data"])))
            check(data == want["data"], what + ": read gives the exported "
                  "bytes", (data[:120], want["data"][:120]))
            check(int(st.st_mtime) == want["date"], what + ": mtime is the "
                  "internal date", (st.st_mtime, want["date"]))
            check(stat_is_file(st), what + ": a regular file", st.st_mode)
            letters = nm["letters"] or ""
            check(letters == "".join(sorted(letters)), what + ": letters "
                  "in ASCII order", letters)
            flags = "".join(c for c in letters if c.isupper())
            check(flags == want["flags"], what + ": flag letters as "
                  "export writes them", (flags, want["flags"]))
            names = set(kws.get(c, "?" + c) for c in letters if
                        c.islower())
            check(names == want["keywords"], what + ": keyword letters "
                  "name the exported keywords (dovecot-keywords %r)" % kws,
                  (names, want["keywords"]))
            if sub == "new":
                check(not nm["info"] and not flags and not names, what +
                      ": a new/ name has no :2, and no flags", name)
            else:
                check(nm["info"], what + ": a cur/ name has :2,", name)
            n += 1
    return exp, n


def check_partial_reads(root, box):
    """The big message read at odd offsets (pread), in odd-sized chunks
    and through mmap gives the same bytes as the export."""
    big = [u for u, e in box.items() if len(e["data"]) > 100000]
    check(len(big) == 1, "one big message in INBOX", sorted(box))
    want = box[big[0]]["data"]
    sub, name = folder_files(root)[big[0]]
    path = os.path.join(root, sub, name)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = len(want)
        for off, n in ((0, 1), (1, 4095), (4095, 2), (65535, 70000),
                       (size - 1, 10), (size, 10), (size + 4096, 10),
                       (131072, 131072)):
            got = os.pread(fd, n, off)
            check(got == want[off:off + n], "pread(%d bytes at %d) of %s"
                  % (n, off, name), (len(got), got[:40]))
        os.lseek(fd, 0, os.SEEK_SET)
        chunks = []
        while True:
            c = os.read(fd, 7777)
            if not c:
                break
            chunks.append(c)
        check(b"".join(chunks) == want, "read() in 7777-byte chunks gives "
              "the message", len(b"".join(chunks)))
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as mm:
            check(mm[:] == want, "mmap of the message gives its bytes",
                  len(mm))
    finally:
        os.close(fd)


def stat_is_file(st):
    return stat.S_ISREG(st.st_mode)


def test(site, args):
    site.write_fs_conf()
    site.add_user(A, PW, quota="%d" % QUOTA_A)
    site.add_user(B, PW, quota="%d" % QUOTA_B)
    site.ctl("quota", "set", B, str(QUOTA_B), "--messages", str(QUOTA_B_MSGS))
    site.add_user(C, PW)
    src = site.path("import-a")
    write_maildir(src, INBOX, {".Work": WORK, ".Work.Reports": REPORTS,
                               ".Bulk": BULK})
    site.ctl("mail", "import", A, src)
    srcb = site.path("import-b")
    write_maildir(srcb, [(mail(31, b"bob's", b"for bob " + NEEDLE +
                               b"\r\n"), D2025, "S")])
    site.ctl("mail", "import", B, srcb)
    site.start_imapd(conf=False)
    site.start_fs(domains=("example.test", "other.test"))
    mnt = site.mount
    root = site.maildir(A)

    # -- the mount -----------------------------------------------------
    e = mount_entry(mnt)
    fstype, source, opts = e[e.index("-") + 1:e.index("-") + 4]
    check(fstype.startswith("fuse") and source == "vellum", "the mount is "
          "FUSE, named vellum in /proc/mounts", e)
    check("allow_other" in opts.split(",") and "default_permissions" in
          opts.split(","), "mounted with allow_other and "
          "default_permissions", opts)

    # -- layout --------------------------------------------------------
    check(sorted(os.listdir(mnt)) == ["example.test", "other.test"],
          "the mount's top level is the domains", os.listdir(mnt))
    check(sorted(os.listdir(os.path.join(mnt, "example.test"))) ==
          ["alice", "bob"], "example.test has its users",
          os.listdir(os.path.join(mnt, "example.test")))
    check(os.listdir(os.path.join(mnt, "other.test")) == ["carol"],
          "other.test has carol", os.listdir(os.path.join(mnt,
                                                          "other.test")))
    for u in (A, B, C):
        check(os.path.isdir(site.maildir(u)), "%s has Mail/" % u,
              os.listdir(os.path.dirname(site.maildir(u))))
    want = sorted(("cur", "new", "tmp", ".Bulk") + DEFAULTS + (".Work",
                                                      ".Work.Reports"))
    check(sorted(os.listdir(root)) == want, "alice's Mail/ holds cur new "
          "tmp and a .Folder per folder (no keywords yet)",
          sorted(os.listdir(root)))
    check(not os.path.exists(os.path.join(root, "maildirfolder")),
          "the INBOX Maildir has no maildirfolder file", os.listdir(root))
    bulk = os.path.join(root, ".Bulk")
    check((len(os.listdir(os.path.join(bulk, "new"))),
           len(os.listdir(os.path.join(bulk, "cur")))) == (200, 400),
          ".Bulk lists 200 messages in new/, 400 in cur/",
          (len(os.listdir(os.path.join(bulk, "new"))),
           len(os.listdir(os.path.join(bulk, "cur")))))
    p = subprocess.run(["ls", "-l", os.path.join(bulk, "cur")],
                       capture_output=True, timeout=60)
    check(p.returncode == 0 and len(p.stdout.splitlines()) == 401,
          "ls -l of .Bulk/cur shows 400 files", p.stdout[-300:])
    for f in DEFAULTS + (".Work", ".Work.Reports", ".Bulk"):
        d = os.path.join(root, f)
        check(sorted(os.listdir(d)) == ["cur", "maildirfolder", "new",
                                        "tmp"],
              "%s holds cur new tmp maildirfolder" % f, os.listdir(d))
        check(os.path.isfile(os.path.join(d, "maildirfolder")) and
              os.path.getsize(os.path.join(d, "maildirfolder")) == 0,
              "%s/maildirfolder is an empty file" % f,
              os.stat(os.path.join(d, "maildirfolder")))
    for sub in ("cur", "new", "tmp"):
        check(os.path.isdir(os.path.join(root, sub)), "Mail/%s is a dir"
              % sub, os.listdir(root))
    check(os.listdir(os.path.join(root, "tmp")) == [], "tmp/ is empty",
          os.listdir(os.path.join(root, "tmp")))
    check(len(os.listdir(os.path.join(root, "new"))) == 1 and
          len(os.listdir(os.path.join(root, "cur"))) == 5,
          "INBOX: the one message without flags in new/, five in cur/",
          (os.listdir(os.path.join(root, "new")),
           os.listdir(os.path.join(root, "cur"))))

    # A folder made over IMAP shows in modified UTF-7, as Dovecot names it.
    m = site.login(A, PW)
    typ, data = m.create('"%s"' % UNICODE_IMAP)
    check(typ == "OK", "CREATE %s" % UNICODE_IMAP, data)
    typ, data = m.append('"%s"' % UNICODE_IMAP, "(\\Seen)", None,
                         mail(41, b"unicode folder", b"u\r\n"))
    check(typ == "OK", "APPEND into %s" % UNICODE_IMAP, data)
    udir = os.path.join(root, "." + UNICODE_IMAP)
    wait_change(lambda: os.path.isdir(os.path.join(udir, "cur")) and
                os.listdir(os.path.join(udir, "cur")),
                "the folder made over IMAP appears as .%s" % UNICODE_IMAP)
    check(os.path.isfile(os.path.join(udir, "maildirfolder")),
          "the new folder has maildirfolder", os.listdir(udir))

    # A '.' inside a level is written \2e (Dovecot's listescape), both ways.
    typ, data = m.create('"v1.2"')
    check(typ == "OK", "CREATE v1.2", data)
    wait_change(lambda: os.path.isdir(os.path.join(root, ".v1\\2e2")),
                "CREATE v1.2 shows as .v1\\2e2")
    # Only the name listed: a directory has one name (other spellings
    # would move the kernel's dentry, and getcwd with it).
    for other in (".v1\\2E2", ".&AHY-1\\2e2"):
        check(not os.path.exists(os.path.join(root, other)),
              "%s is not a second name of a folder" % other,
              os.listdir(root))
    os.mkdir(os.path.join(root, ".x\\2ey"))
    check("x.y" in imap_folders(m), "mkdir .x\\2ey makes the folder x.y",
          imap_folders(m))
    os.rmdir(os.path.join(root, ".x\\2ey"))

    # -- names, sizes, dates, bytes against the export -------------------
    exp, n = check_against_export(site, A)
    check(n == len(INBOX) + len(WORK) + len(REPORTS) + len(BULK) + 1,
          "every message was compared", n)
    check_partial_reads(root, exp[""])
    check_against_export(site, B)
    check_against_export(site, C)
    print("  %d messages of alice match the export byte for byte" % n)

    # -- directory link counts: 2 + subdirectories (find and fts trust
    # them); 1 ("not counted") is allowed for the top and domain dirs.
    def subdirs(d):
        return sum(1 for n in os.listdir(d)
                   if os.path.isdir(os.path.join(d, n)))
    for d, dirs, _ in os.walk(os.path.dirname(root)):
        check(os.stat(d).st_nlink == 2 + len(dirs), "st_nlink of %s is 2 + "
              "its %d subdirectories" % (os.path.relpath(d, mnt), len(dirs)),
              os.stat(d).st_nlink)
    for d in (mnt, os.path.join(mnt, "example.test")):
        check(os.stat(d).st_nlink in (1, 2 + subdirs(d)), "st_nlink of %s is "
              "1 or 2 + subdirectories" % d, os.stat(d).st_nlink)

    # -- cp -a of the whole Maildir ------------------------------------
    dest = site.path("copy")
    os.makedirs(dest)
    p = subprocess.run(["cp", "-a", root, dest], capture_output=True,
                       timeout=60)
    check(p.returncode == 0, "cp -a Mail out of the mount works",
          p.stderr.decode("utf-8", "replace"))
    copy = os.path.join(dest, "Mail")
    check(walk_dirs(copy) == walk_dirs(root), "cp -a copied every "
          "directory", (walk_dirs(copy), walk_dirs(root)))
    a, b = walk_files(root), walk_files(copy)
    check(sorted(a) == sorted(b), "cp -a copied every file",
          (sorted(a), sorted(b)))
    for rel in a:
        check(a[rel] == b[rel], "cp -a: %s byte-exact" % rel,
              (len(a[rel]), len(b[rel])))
        st = os.stat(os.path.join(copy, rel))
        nm = parse_name(os.path.basename(rel))
        if nm is not None:
            check(int(st.st_mtime) == nm["date"], "cp -a kept the mtime "
                  "of %s" % rel, st.st_mtime)
    exported = sum(len(box) for box in exp.values())
    copied = sum(1 for rel in b if parse_name(
        os.path.basename(rel)))
    check(copied == exported, "cp -a copied as many messages as export "
          "wrote", (copied, exported))

    # tar reads the same tree (and sees no file change while reading).
    tdir = site.path("untar")
    os.makedirs(tdir)
    p = subprocess.run("tar -C %s -cf - Mail | tar -C %s -xf -" % (
        os.path.dirname(root), tdir), shell=True, capture_output=True,
        timeout=60)
    check(p.returncode == 0 and p.stderr == b"", "tar c | tar x of Mail "
          "works without a warning", p.stderr)
    check(walk_files(os.path.join(tdir, "Mail")) == a, "tar copied every "
          "file byte for byte", sorted(walk_files(os.path.join(tdir,
                                                                "Mail"))))

    # -- grep -rl --------------------------------------------------------
    p = subprocess.run(["grep", "-rl", NEEDLE.decode(), root],
                       capture_output=True, timeout=60)
    check(p.returncode == 0, "grep -rl exits 0", p.stderr)
    got = sorted(os.path.relpath(x, root) for x in
                 p.stdout.decode().splitlines())
    want = sorted(rel for rel, data in a.items() if NEEDLE in data)
    check(len(want) == 2 and got == want, "grep -rl finds exactly the two "
          "messages with the needle", (got, want))

    # -- find -newer -----------------------------------------------------
    ref = site.path("find-ref")
    open(ref, "w").close()
    os.utime(ref, (FIND_REF, FIND_REF))
    p = subprocess.run(["find", root, "-type", "f", "-name", "*,S=*",
                        "-newer", ref], capture_output=True, timeout=60)
    check(p.returncode == 0, "find exits 0", p.stderr)
    got = sorted(os.path.relpath(x, root) for x in
                 p.stdout.decode().splitlines())
    want = sorted(rel for rel in a if parse_name(
        os.path.basename(rel)) and parse_name(
        os.path.basename(rel))["date"] > FIND_REF)
    # 2024/2025 ones and the one APPENDed today.
    check(len(want) == 6 and got == want, "find -newer lists the messages "
          "dated after the reference file", (got, want))

    # -- statfs: quota and usage ---------------------------------------
    for u, quota in ((A, QUOTA_A), (B, QUOTA_B)):
        used = site.ctl_json("user", "show", u)["used_bytes"]
        for path in (site.maildir(u), site.maildir(u, "cur")):
            sv = os.statvfs(path)
            fr = sv.f_frsize
            check(fr > 0 and sv.f_blocks * fr == quota,
                  "statvfs(%s): f_blocks * f_frsize is the quota %d" % (
                      path, quota), (sv.f_blocks, fr))
            for field in ("f_bfree", "f_bavail"):
                free = getattr(sv, field) * fr
                check(abs(free - (quota - used)) < fr,
                      "statvfs(%s): %s * f_frsize is quota - used (%d - "
                      "%d) to the block" % (path, field, quota, used),
                      (getattr(sv, field), fr, free))
        p = subprocess.run(["df", "-B1", "--output=size,used",
                            site.maildir(u)], capture_output=True,
                           timeout=30)
        check(p.returncode == 0, "df works on the mount", p.stderr)
        size, dused = (int(x) for x in p.stdout.decode().splitlines()[1]
                       .split())
        check(size == quota and abs(dused - used) < fr, "df shows %s's "
              "quota and usage" % u, (p.stdout, quota, used))
        print("  statfs of %s: %d of %d bytes used" % (u, used, quota))
    # Over the quota (imports do not enforce it): nothing free, no
    # wrap-around.
    site.ctl("quota", "set", A, "100", "--messages", "1")  # alice: ~200 KB
    sv = os.statvfs(site.maildir(A))
    check(sv.f_bfree == 0 and sv.f_bavail == 0 and sv.f_ffree == 0 and
          sv.f_favail == 0, "statvfs of a user over both quotas: nothing "
          "free", (sv.f_bfree, sv.f_bavail, sv.f_ffree, sv.f_favail))
    site.ctl("quota", "set", A, str(QUOTA_A), "--messages", "0")
    # bob's message quota shows as inodes.
    sv = os.statvfs(site.maildir(B))
    nb = site.ctl_json("user", "show", B)["used_messages"]
    check(sv.f_files == QUOTA_B_MSGS and sv.f_ffree == QUOTA_B_MSGS - nb,
          "statvfs of bob's tree: f_files is the message quota, f_ffree "
          "what is left (%d - %d)" % (QUOTA_B_MSGS, nb),
          (sv.f_files, sv.f_ffree))
    # carol has no quota: her tree shows the data directory's file system.
    sv, dv = os.statvfs(site.maildir(C)), os.statvfs(site.data)
    check((sv.f_blocks * sv.f_frsize, sv.f_files) ==
          (dv.f_blocks * dv.f_frsize, dv.f_files),
          "statvfs of a user without a quota is the data dir's file system",
          ((sv.f_blocks, sv.f_frsize, sv.f_files),
           (dv.f_blocks, dv.f_frsize, dv.f_files)))

    # -- keywords: dovecot-keywords and letters ------------------------
    typ, _ = m.select("INBOX")
    check(typ == "OK", "SELECT INBOX", typ)
    uid_of = {}
    typ, data = m.uid("FETCH", "1:*", "(BODY.PEEK[HEADER.FIELDS "
                      "(MESSAGE-ID)])")
    for item in data:
        if isinstance(item, tuple):
            u = int(re.search(rb"UID (\d+)", item[0]).group(1))
            mid = re.search(rb"<fsb(\d+)@", item[1]).group(1)
            uid_of[int(mid)] = u
    for n, kw in ((2, "work"), (4, "$Junk"), (1, "$Forwarded")):
        typ, data = m.uid("STORE", str(uid_of[n]), "+FLAGS", "(%s)" % kw)
        check(typ == "OK", "STORE +FLAGS (%s)" % kw, data)
    want_names = {uid_of[2]: "Sa", uid_of[4]: "RSb", uid_of[1]: "P"}

    def keywords_shown():
        files = folder_files(root)
        kws = read_keywords(root) if os.path.exists(
            os.path.join(root, "dovecot-keywords")) else {}
        got = {u: parse_name(files[u][1])["letters"]
               for u in want_names if u in files}
        return (kws == {"a": "work", "b": "$Junk"} and got == want_names and
                all(files[u][0] == "cur" for u in want_names))
    wait_change(keywords_shown, "dovecot-keywords (0 work, 1 $Junk) and "
                "the letters Sa, RSb, P in the names")
    with open(os.path.join(root, "dovecot-keywords")) as f:
        text = f.read()
    check(text == "0 work\n1 $Junk\n", "dovecot-keywords is \"0 work\\n1 "
          "$Junk\\n\" ($Forwarded is P, not a keyword letter)", text)
    check("dovecot-keywords" in os.listdir(root), "dovecot-keywords is "
          "listed in Mail/", os.listdir(root))
    # Read (and maybe cached) once, the file still follows a new keyword.
    typ, data = m.uid("STORE", str(uid_of[6]), "+FLAGS", "(third)")
    check(typ == "OK", "STORE +FLAGS (third)", data)

    def kwtext():
        with open(os.path.join(root, "dovecot-keywords")) as f:
            return f.read()
    wait_change(lambda: kwtext() == "0 work\n1 $Junk\n2 third\n",
                "dovecot-keywords read before gains the line \"2 third\"")
    check(parse_name(folder_files(root)[uid_of[6]][1])["letters"] == "Dc",
          "the message has the letter c", folder_files(root)[uid_of[6]])
    m.select('"Work"')
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", "fsb12@")
    w2 = data[0].split()[0].decode()
    m.uid("STORE", w2, "+FLAGS", "($Junk)")
    wdir = os.path.join(root, ".Work")
    wait_change(lambda: read_keywords(wdir) == {"a": "$Junk"} and
                folder_files(wdir).get(int(w2), ("", ""))[1].endswith(
                    ":2,Sa"),
                ".Work/dovecot-keywords has its own list (0 $Junk), the "
                "message the letter a")
    check(not os.path.exists(os.path.join(root, ".Work.Reports",
                                          "dovecot-keywords")),
          "a folder without keywords has no dovecot-keywords",
          os.listdir(os.path.join(root, ".Work.Reports")))
    # 27 keywords in one folder: the first 26 get a..z, the 27th shows
    # only over IMAP.
    typ, data = m.create("Many")
    check(typ == "OK", "CREATE Many", data)
    typ, data = m.append("Many", "(\\Seen)", None, mail(51, b"many keywords",
                                                        b"k\r\n"))
    check(typ == "OK", "APPEND to Many", data)
    m.select("Many")
    for i in range(27):
        typ, data = m.store("1", "+FLAGS", "(kw%02d)" % i)
        check(typ == "OK", "STORE +FLAGS (kw%02d)" % i, data)
    mdir = os.path.join(root, ".Many")
    letters = "".join(chr(ord("a") + i) for i in range(26))
    wait_change(lambda: os.path.exists(os.path.join(mdir,
                                                    "dovecot-keywords")) and
                [n for _, n in folder_files(mdir).values()] and
                [n for _, n in folder_files(mdir).values()][0].endswith(
                    ":2,S" + letters), "27 keywords: the letters a..z")
    with open(os.path.join(mdir, "dovecot-keywords")) as f:
        text = f.read()
    check(text == "".join("%d kw%02d\n" % (i, i) for i in range(26)),
          "dovecot-keywords lists the first 26 keywords", text)
    m.logout()
    check_against_export(site, A)

    # Local parts that cannot be a file name as they are: where vellumctl
    # takes them (refusing them is fine too), the domain still lists and
    # the others' trees still work.
    taken = []
    for odd in ("a/b@example.test", '"c/d"@example.test', "..@example.test",
                ".@example.test"):
        site.ctl("user", "add", odd, "--password-stdin",
                 input=PW + "\n", expect=None)
        if odd in site.ctl("user", "list"):
            taken.append(odd)
    print("  vellumctl took the users %s" % taken)
    dom = os.path.join(mnt, "example.test")

    def listing():
        try:
            return sorted(os.listdir(dom))
        except OSError as e:
            return "listdir: %s" % e.strerror
    time.sleep(1.1)		# the domain dir is looked up again after 1 s
    got = listing()
    check(isinstance(got, list) and {"alice", "bob"} <= set(got) and
          not any("/" in n or n in (".", "..") for n in got),
          "example.test still lists with the users %s in the store" % taken,
          got)
    check(len(folder_files(root)) > 0, "alice's Maildir still reads", None)
    return True


if __name__ == "__main__":
    run(test)
