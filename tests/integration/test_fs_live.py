"""vellum-fs follows the store: what IMAP, SMTP, POP3 and vellumctl change
shows in the file view within 1 s (the test polls every 50 ms, fails
after 1.5 s and prints how long each took), and what a rename changes is
seen over IMAP at once (FETCH FLAGS in another session; an IDLE session
gets the FETCH).  A message delivered over SMTP lands in new/; EXAMINE
leaves new/ alone, SELECT moves it to cur/; flags set over IMAP rename
the file (stat by name follows, both ways); IMAP EXPUNGE, POP3 DELE and
vellumctl mail delete remove the file (one held open still reads);
users, domains and folders made and removed elsewhere come and go; a
folder deleted or renamed and made again shows its new bytes under the
old file names; the mtime of cur/ and new/ moves when they change; a
listing of Mail/ while folders are deleted skips none that stayed.

usage: test_fs_live.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py).
"""
import errno
import os
import poplib
import random
import re
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fstest import (Failure, check, ename, errno_of, folder_files,  # noqa
                    imap_find, parse_name, run, wait_change,
                    write_maildir)

A = "alice@example.test"
PW = "fs-live-pw"
D2024 = 1709294400
IDLE_LIMIT = 5.0


def mail(tag, body=b"hello\r\n"):
    return (b"From: Sender <s@remote.test>\r\nTo: " + A.encode() +
            b"\r\nSubject: " + tag.encode() + b"\r\nMessage-ID: <" +
            tag.encode() + b"@fs-live.test>\r\n\r\n" + body)


def find_file(path, tag):
    """(uid, sub, name) of the message file in the folder at path whose
    bytes hold Message-ID <tag@...>, None when there is none."""
    needle = b"<" + tag.encode() + b"@fs-live.test>"
    for uid, (sub, name) in folder_files(path).items():
        try:
            with open(os.path.join(path, sub, name), "rb") as f:
                if needle in f.read():
                    return uid, sub, name
        except FileNotFoundError:
            continue
    return None


def uid_of(m, tag):
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", tag)
    check(typ == "OK" and data[0].split(), "UID SEARCH finds %s" % tag,
          data)
    return int(data[0].split()[0])


def fetch_flags(m, uid):
    typ, data = m.uid("FETCH", str(uid), "(FLAGS)")
    check(typ == "OK" and data and data[0], "UID FETCH %d FLAGS" % uid,
          data)
    raw = data[0] if isinstance(data[0], bytes) else data[0][0]
    flags = set(x.decode() for x in re.search(rb"FLAGS \(([^)]*)\)",
                                               raw).group(1).split())
    flags.discard("\\Recent")
    return flags


def mtime_ns(path):
    return os.stat(path).st_mtime_ns


def test(site, args):
    site.write_fs_conf(smtp=True, pop3=True)
    site.add_user(A, PW)
    src = site.path("import")
    write_maildir(src, [(mail("new-1"), D2024, None),
                        (mail("new-2"), D2024, None),
                        (mail("cur-1"), D2024, "S"),
                        (mail("cur-2"), D2024, "S"),
                        (mail("pop-1"), D2024, "S")],
                  {".Work": [(mail("work-1"), D2024, "S")]})
    site.ctl("mail", "import", A, src)
    site.start_imapd(conf=False)
    site.start_smtpd()
    site.start_pop3d()
    site.start_fs()
    root = site.maildir(A)
    work = os.path.join(root, ".Work")
    check(find_file(root, "new-1")[1] == "new" and
          find_file(root, "cur-1")[1] == "cur",
          "before any SELECT: unflagged messages in new/, seen in cur/",
          folder_files(root))

    # -- SMTP delivery lands in new/ ------------------------------------
    s = smtplib.SMTP("127.0.0.1", site.smtp_port, timeout=30)
    s.ehlo("client.example.test")
    smtp_msg = mail("by-smtp", b"delivered over SMTP\r\n")
    s.sendmail("s@remote.test", [A], smtp_msg)
    s.quit()
    uid, sub, name = wait_change(lambda: find_file(root, "by-smtp"),
                                 "a message delivered over SMTP shows in "
                                 "the file view")[0]
    check(sub == "new" and ":2," not in name, "the SMTP delivery is in "
          "new/ without info", (sub, name))
    with open(os.path.join(root, sub, name), "rb") as f:
        data = f.read()
    check(data.endswith(smtp_msg), "the file is the delivered copy (the "
          "sent bytes after the added headers)", data[:300])

    # -- IMAP EXAMINE (read-only) leaves new/ alone; SELECT moves it ----
    m = site.login(A, PW)
    typ, _ = m.select("INBOX", readonly=True)
    check(typ == "OK", "EXAMINE INBOX", typ)
    time.sleep(1.1)
    check(all(find_file(root, t)[1] == "new" for t in
              ("new-1", "new-2", "by-smtp")), "after EXAMINE the new/ "
          "messages are still in new/", folder_files(root))
    m.close()
    typ, _ = m.select("INBOX")
    check(typ == "OK", "SELECT INBOX", typ)
    wait_change(lambda: os.listdir(os.path.join(root, "new")) == [] and
                all(find_file(root, t)[1] == "cur" for t in
                    ("new-1", "new-2", "by-smtp")),
                "SELECT INBOX (read-write) moved new/ to cur/")
    for t in ("new-1", "by-smtp"):
        name = find_file(root, t)[2]
        check(name.endswith(":2,"), "a message moved to cur/ by SELECT has "
              "an empty info", name)

    # -- IMAP flag -> file name -----------------------------------------
    u1 = uid_of(m, "cur-1")
    m.uid("STORE", str(u1), "+FLAGS", "(\\Flagged)")
    wait_change(lambda: (find_file(root, "cur-1") or (0, 0, ""))[2]
                .endswith(":2,FS"), "an IMAP STORE +FLAGS \\Flagged shows "
                "as F in the name")
    m.uid("STORE", str(u1), "-FLAGS", "(\\Seen)")
    wait_change(lambda: (find_file(root, "cur-1") or (0, 0, ""))[2]
                .endswith(":2,F"), "an IMAP STORE -FLAGS \\Seen drops S "
                "from the name")
    # By name, as a reader that remembers names looks: the old name is
    # gone, the new one is there, and a name that comes back works again
    # (no stale entry either way).
    base = find_file(root, "cur-1")[2].split(":2,")[0]
    cur = os.path.join(root, "cur")
    def by_name(gone, there):
        return (ename(errno_of(os.stat, os.path.join(cur, base + gone))),
                ename(errno_of(os.stat, os.path.join(cur, base + there))))
    try:
        wait_change(lambda: by_name(":2,FS", ":2,F") == ("ENOENT",
                                                          "success"),
                    "stat by name: :2,FS gone, :2,F there")
    except Failure as e:
        raise Failure("%s; stat of (old, new): %r; listing: %r" % (
            e, by_name(":2,FS", ":2,F"), sorted(os.listdir(cur))))
    m.uid("STORE", str(u1), "+FLAGS", "(\\Seen)")
    wait_change(lambda: errno_of(os.stat, os.path.join(
        cur, base + ":2,FS")) is None and errno_of(
            os.stat, os.path.join(cur, base + ":2,F")) == errno.ENOENT,
                "stat follows the name back to :2,FS")

    # -- rename -> IMAP FETCH FLAGS, and IDLE sees it -------------------
    r = site.raw()
    t, _ = r.cmd("i1 LOGIN %s %s" % (A, PW))
    check(t.startswith(b"i1 OK"), "raw LOGIN", t)
    t, _ = r.cmd("i2 SELECT INBOX")
    check(t.startswith(b"i2 OK"), "raw SELECT", t)
    r.send("i3 IDLE\r\n")
    line = r.line()
    check(line.startswith(b"+"), "IDLE is accepted", line)
    u2 = uid_of(m, "cur-2")
    _, sub, name = find_file(root, "cur-2")
    base = name.split(":2,")[0]
    t0 = time.monotonic()
    os.rename(os.path.join(root, "cur", name),
              os.path.join(root, "cur", base + ":2,FRS"))
    m2 = site.login(A, PW)
    m2.select("INBOX", readonly=True)
    wait_change(lambda: fetch_flags(m2, u2) == {"\\Flagged", "\\Answered",
                                                 "\\Seen"},
                "a rename to :2,FRS shows in IMAP FETCH FLAGS")
    m2.logout()
    r.s.settimeout(IDLE_LIMIT)
    seen = []
    while True:
        try:
            line = r.line()
        except Exception as e:
            raise Failure("the IDLE session saw no FETCH for the rename "
                          "within %.0f s (%s); lines: %r" % (
                              IDLE_LIMIT, e, seen))
        seen.append(line)
        if b"FETCH" in line and b"\\Flagged" in line and \
                b"\\Answered" in line:
            break
    print("  IDLE saw the rename's FETCH after %.3f s" % (
        time.monotonic() - t0))
    r.send("DONE\r\n")
    r.s.settimeout(15)
    t, _ = r.until_tagged("i3")
    check(t.startswith(b"i3 OK"), "IDLE ends OK", t)
    r.close()

    # -- IMAP EXPUNGE removes the file ----------------------------------
    m.uid("STORE", str(u1), "+FLAGS", "(\\Deleted)")
    wait_change(lambda: "T" in (find_file(root, "cur-1") or (0, 0, ""))[2]
                .split(":2,")[-1], "\\Deleted shows as T")
    # A reader that has the file open keeps reading it after the
    # expunge, as on a disk.
    _, sub, name = find_file(root, "cur-1")
    held = open(os.path.join(root, sub, name), "rb")
    first = held.read(10)
    m.expunge()
    wait_change(lambda: find_file(root, "cur-1") is None,
                "an IMAP EXPUNGE removes the file")
    rest = held.read()
    held.close()
    check(first + rest == mail("cur-1"), "a file open before the expunge "
          "still reads the whole message", first + rest)

    # -- POP3 DELE + QUIT removes the file --------------------------------
    p = poplib.POP3("127.0.0.1", site.pop3_port, timeout=15)
    p.user(A)
    p.pass_(PW)
    n = len(p.list()[1])
    gone = None
    for i in range(1, n + 1):
        if b"<pop-1@fs-live.test>" in b"\r\n".join(p.top(i, 0)[1]):
            p.dele(i)
            gone = i
    check(gone is not None, "POP3 finds pop-1", n)
    p.quit()
    wait_change(lambda: find_file(root, "pop-1") is None,
                "a POP3 DELE + QUIT removes the file")

    # -- users, domains and folders made and removed elsewhere -----------
    site.add_user("newbie@example.test", PW)
    wait_change(lambda: os.path.isdir(site.maildir("newbie@example.test",
                                                   "cur")),
                "vellumctl user add: the new user's Maildir appears")
    site.ctl("domain", "add", "fresh.test")
    site.add_user("x@fresh.test", PW)
    wait_change(lambda: os.path.isdir(site.maildir("x@fresh.test", "cur")),
                "vellumctl domain add + user add: the new domain appears")
    site.ctl("user", "del", "newbie@example.test")
    wait_change(lambda: not os.path.exists(os.path.dirname(
        site.maildir("newbie@example.test"))), "vellumctl user del: the "
                "user's tree goes")
    typ, _ = m.create("Later")
    wait_change(lambda: os.path.isdir(os.path.join(root, ".Later", "cur")),
                "IMAP CREATE: the folder appears")
    typ, _ = m.rename("Later", "Sooner")
    wait_change(lambda: os.path.isdir(os.path.join(root, ".Sooner", "cur"))
                and not os.path.exists(os.path.join(root, ".Later")),
                "IMAP RENAME: the folder's directory is renamed")
    typ, _ = m.delete("Sooner")
    wait_change(lambda: not os.path.exists(os.path.join(root, ".Sooner")),
                "IMAP DELETE: the folder's directory goes")

    # -- many messages at once ------------------------------------------
    # vellumctl mail import of 40, then one STORE, COPY, MOVE and EXPUNGE
    # over all of them: every name follows.
    bsrc = site.path("bulk-import")
    write_maildir(bsrc, [(mail("bulk-%02d" % i), D2024 + i, None)
                         for i in range(40)])
    m.create("Bulk")
    site.ctl("mail", "import", A, bsrc, "--folder", "Bulk")
    bulk = os.path.join(root, ".Bulk")

    def count(d, sub):
        return len(os.listdir(os.path.join(d, sub)))
    wait_change(lambda: count(bulk, "new") == 40, "vellumctl mail import "
                "of 40: all in .Bulk/new")
    m.select("Bulk")
    wait_change(lambda: count(bulk, "new") == 0 and count(bulk, "cur") == 40,
                "SELECT Bulk: all 40 in cur/")
    m.store("1:*", "+FLAGS", "(\\Flagged)")
    wait_change(lambda: all(n.endswith(":2,F") for n in os.listdir(
        os.path.join(bulk, "cur"))), "STORE 1:* +FLAGS \\Flagged: all 40 "
                "names end in :2,F")
    m.create("Bulk2")
    m.copy("1:20", "Bulk2")
    wait_change(lambda: len(folder_files(os.path.join(root, ".Bulk2"))) ==
                20, "COPY 1:20: 20 files in .Bulk2")
    typ, data = m._simple_command("MOVE", "21:40", "Bulk2")
    check(typ == "OK", "MOVE 21:40 Bulk2", data)
    wait_change(lambda: count(bulk, "cur") == 20 and len(folder_files(
        os.path.join(root, ".Bulk2"))) == 40, "MOVE 21:40: 20 left in "
                ".Bulk, 40 in .Bulk2")
    m.store("1:*", "+FLAGS", "(\\Deleted)")
    m.expunge()
    wait_change(lambda: count(bulk, "cur") == 0, "EXPUNGE of all: .Bulk/cur "
                "is empty")
    m.close()

    # -- renames and IMAP STOREs at once converge -------------------------
    # One thread renames files of Race to random flag letters while an
    # IMAP session sets and clears flags on the same messages; once both
    # stop, every file name shows exactly the flags IMAP has.
    rsrc = site.path("race-import")
    write_maildir(rsrc, [(mail("race-%02d" % i), D2024 + i, "S")
                         for i in range(20)])
    m.create("Race")
    site.ctl("mail", "import", A, rsrc, "--folder", "Race")
    race = os.path.join(root, ".Race")
    wait_change(lambda: len(folder_files(race)) == 20, "the Race folder "
                "shows its 20 messages")
    errors = []

    def renamer():
        r = random.Random(1)
        for i in range(100):
            files = folder_files(race)
            sub, name = files[r.choice(sorted(files))]
            letters = "".join(sorted(r.sample("DFRST", r.randrange(0, 4))))
            try:
                os.rename(os.path.join(race, sub, name), os.path.join(
                    race, "cur", name.split(":2,")[0] + ":2," + letters))
            except FileNotFoundError:
                pass		# IMAP renamed it first: a race any reader has
            except OSError as e:
                errors.append(e)

    def storer():
        r = random.Random(2)
        c = site.login(A, PW)
        c.select("Race")
        uids = sorted(folder_files(race))
        for i in range(100):
            c.uid("STORE", str(r.choice(uids)), r.choice(["+FLAGS",
                                                          "-FLAGS"]),
                  "(%s)" % r.choice(["\\Seen", "\\Flagged",
                                     "\\Answered", "\\Draft"]))
        c.logout()
    threads = [threading.Thread(target=renamer),
               threading.Thread(target=storer)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    check(not errors, "the renames raced with IMAP got no errors but "
          "ENOENT", errors[:5])
    letter = {"\\Seen": "S", "\\Flagged": "F", "\\Answered": "R",
              "\\Draft": "D", "\\Deleted": "T"}

    def converged():
        c = site.login(A, PW)
        c.select("Race", readonly=True)
        typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
        c.logout()
        want = {}
        for line in data:
            u = int(re.search(rb"UID (\d+)", line).group(1))
            fl = re.search(rb"FLAGS \(([^)]*)\)", line).group(1).decode()
            want[u] = "".join(sorted(letter[f] for f in fl.split()
                                     if f in letter))
        files = folder_files(race)
        got = {u: n.split(":2,")[1] if ":2," in n else ""
               for u, (_, n) in files.items()}
        last[:] = sorted((u, want.get(u), got.get(u)) for u in
                         set(want) | set(got) if want.get(u) != got.get(u))
        return want == got
    last = []
    try:
        wait_change(converged, "after the race every name shows IMAP's "
                    "flags")
    except Failure as e:
        raise Failure("%s; (uid, IMAP, name) that differ: %r" % (e, last))

    # -- same names, other messages: no stale pages ----------------------
    # A folder deleted and made again, and a folder renamed with a new
    # one made under the old name, hold messages whose file names equal
    # the old ones (same date, uid 1, size): reading gives the new bytes.
    when = '"01-Mar-2024 12:00:00 +0000"'
    xcur = os.path.join(root, ".Again", "cur")

    def only_file():
        try:
            names = os.listdir(xcur)
            if len(names) != 1:
                return None
            with open(os.path.join(xcur, names[0]), "rb") as f:
                return names[0], f.read()
        except OSError:
            return None
    first = b"Subject: AAAA\r\n\r\nbody A\r\n"
    m.create("Again")
    m.append("Again", "(\\Seen)", when, first)
    name1, data = wait_change(lambda: only_file(), "the first Again/ "
                              "message shows")[0]
    check(data == first, "it reads as appended", data)
    m.delete("Again")
    wait_change(lambda: not os.path.exists(xcur), "DELETE Again: gone")
    for old, new in ((first, first.replace(b"A", b"B")),
                     (first.replace(b"A", b"B"), first.replace(b"A", b"C"))):
        if old != first:
            m.rename("Again", "Renamed")
            wait_change(lambda: os.path.isdir(os.path.join(
                root, ".Renamed", "cur")), "RENAME Again Renamed")
        m.create("Again")
        m.append("Again", "(\\Seen)", when, new)
        got = wait_change(lambda: (only_file() or (0, 0))[1] == new and
                          only_file(), "the new Again/ message reads as "
                          "appended (not the old bytes)")[0]
        check(got[0] == name1, "the new message has the old file name "
              "(the point of this check)", (got[0], name1))
    ren = os.path.join(root, ".Renamed", "cur")
    with open(os.path.join(ren, os.listdir(ren)[0]), "rb") as f:
        check(f.read() == first.replace(b"A", b"B"), "the renamed folder "
              "still reads its own message", None)

    # -- directory mtimes of new/ and cur/ ------------------------------
    # Work is selected by nobody: an APPEND without flags lands in new/.
    n0 = mtime_ns(os.path.join(work, "new"))
    time.sleep(1.1)
    typ, _ = m.append("Work", None, None, mail("appended"))
    check(typ == "OK", "APPEND to Work", typ)
    wait_change(lambda: find_file(work, "appended"), "an APPEND to Work "
                "shows in .Work/new")
    check(find_file(work, "appended")[1] == "new", "the appended message is "
          "in new/", find_file(work, "appended"))
    n1 = mtime_ns(os.path.join(work, "new"))
    check(n1 > n0 and n1 // 10**9 > n0 // 10**9, "the mtime of new/ moved "
          "(by seconds) when a message came", (n0, n1))
    time.sleep(1.1)
    # A flag set over IMAP renames a file within cur/.
    typ, _ = m.select("Work")
    w1 = uid_of(m, "work-1")
    wait_change(lambda: (find_file(work, "appended") or (0, ""))[1] ==
                "cur", "SELECT Work moved the appended message to cur/")
    c1 = mtime_ns(os.path.join(work, "cur"))
    time.sleep(1.1)
    m.uid("STORE", str(w1), "+FLAGS", "(\\Flagged)")
    wait_change(lambda: (find_file(work, "work-1") or (0, 0, ""))[2]
                .endswith(":2,FS"), "the flag in Work shows")
    c2 = mtime_ns(os.path.join(work, "cur"))
    check(c2 > c1 and c2 // 10**9 > c1 // 10**9, "the mtime of cur/ moved "
          "when a name in it changed", (c1, c2))
    # vellumctl mail delete: the file goes and cur/'s mtime moves again.
    time.sleep(1.1)
    site.ctl("mail", "delete", A, "--folder", "Work", str(w1))
    wait_change(lambda: find_file(work, "work-1") is None,
                "vellumctl mail delete removes the file")
    c3 = mtime_ns(os.path.join(work, "cur"))
    check(c3 > c2 and c3 // 10**9 > c2 // 10**9, "the mtime of cur/ moved "
          "when a message left it", (c2, c3))
    listing_while_folders_change(m, root)
    m.logout()
    return True


def listing_while_folders_change(m, root):
    """A listing of Mail/ that takes several READDIRs (many folders with
    long names) while folders are deleted over IMAP: every
    folder that exists throughout shows exactly once (POSIX readdir, and
    what mbsync and mutt's folder scan rely on)."""
    names = ["Listing-%03d-%s" % (i, "x" * 200) for i in range(200)]
    for n in names:
        typ, data = m.create(n)
        check(typ == "OK", "CREATE %s" % n[:12], data)
    wait_change(lambda: all(os.path.isdir(os.path.join(root, "." + n))
                            for n in names), "200 new folders show")
    it = os.scandir(root)
    got = [next(it).name]
    # The first READDIR answered (a page of entries): drop folders it
    # listed already.
    gone = names[:3]
    for n in gone:
        typ, data = m.delete(n)
        check(typ == "OK", "DELETE %s" % n[:12], data)
    got += [e.name for e in it]
    it.close()
    stay = ["." + n for n in names if n not in gone]
    dup = sorted(set(x for x in got if got.count(x) > 1))
    missing = [n for n in stay if n not in got]
    check(not dup and not missing, "a listing of Mail/ while folders are "
          "deleted over IMAP shows every folder that stayed exactly once",
          {"duplicated": [x[:16] for x in dup],
           "missing": [x[:16] for x in missing]})
    for n in names[3:]:
        m.delete(n)


if __name__ == "__main__":
    run(test)
