"""neomutt on the file view: `neomutt -n -F /dev/null -f MOUNT/.../Mail`
driven in tmux (test_imap_clients.py's Tmux) reads a message (it moves to
cur/ with S), flags one (F in the name), saves one to .Trash (copied
there, deleted here) and deletes one ($ sync: the file goes); every
effect is checked over IMAP and in the file view.  A message APPENDed
while neomutt is open shows in its index.

usage: test_fs_mutt.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py), or when
neomutt or tmux is not installed.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fstest import (SKIP, Failure, check, folder_files, imap_find,  # noqa
                    run, write_maildir)
from test_imap_clients import Tmux  # noqa: E402

A = "alice@example.test"
PW = "fs-mutt-pw"
D2024 = 1709294400


def mail(n, word):
    return ("From: Sender <s@remote.test>\r\nTo: %s\r\nSubject: nm %s\r\n"
            "Date: Tue, 1 Dec 2026 1%d:00:00 +0000\r\n"
            "Message-ID: <nm%d@fs-mutt.test>\r\n\r\ntext of nm %s\r\n" % (
                A, word, n, n, word)).encode()


MSGS = {1: mail(1, "alpha"), 2: mail(2, "bravo"), 3: mail(3, "charlie")}


def files_with(path, tag):
    out = []
    for uid, (sub, name) in folder_files(path).items():
        with open(os.path.join(path, sub, name), "rb") as f:
            if tag.encode() in f.read():
                out.append((sub, name))
    return out


def test(site, args):
    if not shutil.which("neomutt") or not shutil.which("tmux"):
        print("SKIP: neomutt or tmux is not installed")
        return SKIP
    site.write_fs_conf()
    site.add_user(A, PW)
    src = site.path("import")
    write_maildir(src, [(MSGS[n], D2024 + n, None) for n in (1, 2, 3)])
    site.ctl("mail", "import", A, src)
    site.start_imapd(conf=False)
    site.start_fs()
    root = site.maildir(A)
    check(len(os.listdir(os.path.join(root, "new"))) == 3, "the three "
          "messages start in new/", os.listdir(os.path.join(root, "new")))
    home = site.path("nmhome")
    os.makedirs(home)
    settings = ("set sort=date-sent delete=yes move=no mark_old=no "
                "wait_key=no confirmappend=no confirmcreate=no record='' "
                "postponed='' header_cache='' timeout=1 mail_check=1 "
                "folder='%s'" % root)
    t = Tmux(site, ["neomutt", "-n", "-F", "/dev/null", "-e", settings,
                    "-f", root],
             {"HOME": home, "TERM": "xterm", "LANG": "C.UTF-8"})
    try:
        t.wait("nm charlie")
        # Mail that arrives while neomutt is open shows in its index (it
        # watches the mtime of new/ and cur/, in whole seconds as this
        # neomutt is built: a change in the second it last looked goes
        # unseen on any file system, so the APPEND waits for the next).
        time.sleep(1.1)
        c = site.login(A, PW)
        typ, _ = c.append("INBOX", None, None, mail(4, "delta"))
        check(typ == "OK", "APPEND nm delta", typ)
        c.logout()
        t.wait("nm delta", timeout=15)
        # Read alpha (the first line), back to the index.
        t.keys("Enter")
        t.wait("text of nm alpha")
        t.keys("q")
        t.wait("nm bravo")
        # Flag alpha; save bravo to .Trash; delete charlie; sync; quit.
        t.keys("F")
        time.sleep(0.5)
        t.keys("2", "Enter")
        time.sleep(0.5)
        t.keys("s")
        t.wait("Save")
        t.keys("C-u", "=.Trash", "Enter")
        time.sleep(1)
        after_save = t.screen()
        t.keys("3", "Enter")
        time.sleep(0.5)
        t.keys("d")
        time.sleep(0.5)
        t.keys("$")
        time.sleep(2)
        screen = t.screen()
        t.keys("q")
        time.sleep(2)
    finally:
        last = t.screen()
        t.kill()
    if "screen" not in locals():
        raise Failure("neomutt did not get to the sync; screen:\n%s" % last)
    status = [ln for ln in (after_save + screen).splitlines()
              if ln.strip() and "NeoMutt:" not in ln and
              not ln.lstrip()[:1].isdigit() and "q:Quit" not in ln]

    # The file view.
    got = files_with(root, "nm1@")
    check(len(got) == 1 and got[0][0] == "cur" and
          got[0][1].endswith(":2,FS"), "alpha (read, flagged) is in cur/ "
          "with FS", (folder_files(root), screen))
    check(files_with(root, "nm3@") == [], "charlie (deleted, $ sync) left "
          "INBOX's files", (folder_files(root), status, screen))
    check("Error saving message" not in after_save, "neomutt saved bravo "
          "to =.Trash without an error", status)
    check(files_with(root, "nm2@") == [], "bravo (saved to =.Trash, so "
          "deleted here) left INBOX's files", (folder_files(root), status))
    check(len(files_with(os.path.join(root, ".Trash"), "nm2@")) == 1,
          "bravo's file is in .Trash", folder_files(os.path.join(root,
                                                                 ".Trash")))
    # IMAP.
    m = site.login(A, PW)
    uid, flags, data = (imap_find(m, "INBOX", "nm1@") or [(0, None, b"")])[0]
    check(flags == {"\\Seen", "\\Flagged"} and data == MSGS[1],
          "alpha is \\Seen \\Flagged over IMAP, its bytes unchanged",
          (flags, data[:200], screen))
    check(imap_find(m, "INBOX", "nm2@") == [] and
          imap_find(m, "INBOX", "nm3@") == [], "bravo and charlie were "
          "expunged from INBOX", (imap_find(m, "INBOX", "nm2@"),
                                  imap_find(m, "INBOX", "nm3@"), screen))
    tr = imap_find(m, "Trash", "nm2@")
    check(len(tr) == 1 and b"text of nm bravo" in tr[0][2] and
          b"Subject: nm bravo" in tr[0][2], "bravo is in Trash over IMAP",
          (tr, screen))
    check(imap_find(m, "Trash", "nm3@") == [], "charlie was deleted, not "
          "moved", imap_find(m, "Trash", "nm3@"))
    check(len(imap_find(m, "INBOX", "nm4@")) == 1, "delta (seen arriving) "
          "is still in INBOX", None)
    m.logout()
    return True


if __name__ == "__main__":
    run(test)
