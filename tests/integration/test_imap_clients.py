"""vellum-imapd against real IMAP clients: mbsync (isync) two-way sync of a
folder tree and back, offlineimap3, curl imap/imaps, neomutt driven in
tmux (read, flag, move, delete).  Each client's effect is checked from the
other side with imaplib, so a client that merely "ran" proves nothing.

usage: test_imap_clients.py BUILD_DIR [CASE...]
A missing client program is a SKIP of its case (never a pass); the test
exits 77 when every case was skipped.
"""
import email
import imaplib
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main, SKIP  # noqa: E402

USER, PASS = "alice@example.test", "cl1ent-pw"


def msg(n, subject, body, frm="sender@example.test"):
    return ("From: %s\r\nTo: %s\r\nSubject: %s\r\n"
            "Date: Tue, 1 Dec 2026 1%d:00:00 +0000\r\n"
            "Message-ID: <m%d@example.test>\r\n\r\n%s\r\n" % (
                frm, USER, subject, n % 10, n, body)).encode()


class Server:
    def __init__(self, site):
        self.site = site
        self.port = site.port()
        self.sport = site.port()
        site.write_conf({"imap": {"listen": "127.0.0.1:%d" % self.port},
                         "imaps": {"listen": "127.0.0.1:%d" % self.sport}})
        site.add_user(USER, PASS)
        self.proc = site.start("imapd")
        site.wait_port(self.port, self.proc)
        site.wait_port(self.sport, self.proc)

    def imap(self):
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        c.login(USER, PASS)
        return c


def folder_msgs(c, folder):
    """{Message-ID: (flags, bytes)} of a server folder, read with PEEK."""
    typ, _ = c.select('"%s"' % folder, readonly=True)
    check(typ == "OK", "SELECT %s works" % folder, typ)
    typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    out = {}
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()
        m = email.message_from_bytes(item[1])
        out[m["Message-ID"]] = (sorted(f.decode() for f in flags), item[1])
    c.close()
    return out


def server_folders(c):
    typ, data = c.list()
    names = set()
    for line in data:
        m = re.match(rb'\(([^)]*)\) "/" "?([^"]*)"?$', line)
        check(m is not None, "a LIST line parses", line)
        names.add(m.group(2).decode())
    return names


def maildir_files(path):
    """{Message-ID: (maildir flags, bytes)} of a Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                data = f.read()
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out[email.message_from_bytes(data)["Message-ID"]] = (
                "".join(sorted(flags)), data)
    return out


def write_maildir(path, msgs):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    for i, (data, flags) in enumerate(msgs):
        name = "%d.%d_%d.local:2,%s" % (1764600000 + i, os.getpid(), i,
                                         flags)
        with open(os.path.join(path, "cur", name), "wb") as f:
            f.write(data)


def have(prog):
    return shutil.which(prog) is not None


def run(argv, what, timeout=120, env=None):
    p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise Failure("%s exited %d:\n%s\n%s" % (
            what, p.returncode, p.stdout.decode("utf-8", "replace")[-3000:],
            p.stderr.decode("utf-8", "replace")[-3000:]))
    return p.stdout.decode("utf-8", "replace") + \
        p.stderr.decode("utf-8", "replace")


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def no_tuid(b):
    """b without the X-TUID line mbsync adds to what it uploads."""
    return re.sub(rb"X-TUID: [^\r\n]*\r?\n", b"", b)


# mbsync --------------------------------------------------------------------

def mbsync_rc(site, srv, local):
    rc = site.path("mbsyncrc-%s" % os.path.basename(local))
    with open(rc, "w") as f:
        f.write("""IMAPAccount acc
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account acc

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
""" % (srv.port, USER, PASS, local, local))
    return rc


def case_mbsync(site, srv):
    """A local Maildir tree goes up, server-side changes come down, and a
    fresh sync of the whole account gives back the same messages."""
    if not have("mbsync"):
        return SKIP
    local = site.path("mb1")
    inbox = [(msg(1, "inbox one", "hello"), "S"),
             (msg(2, "inbox two", "flagged"), "FS"),
             (msg(3, "inbox three", "unread"), "")]
    work = [(msg(4, "work one", "w1"), "S"), (msg(5, "work two", "w2"), "R")]
    reports = [(msg(6, "report", "quarterly"), "S")]
    write_maildir(os.path.join(local, "INBOX"), inbox)
    write_maildir(os.path.join(local, "Work"), work)
    write_maildir(os.path.join(local, "Work", "Reports"), reports)
    rc = mbsync_rc(site, srv, local)
    run(["mbsync", "-c", rc, "-a"], "mbsync (push)")

    c = srv.imap()
    names = server_folders(c)
    for f in ("INBOX", "Work", "Work/Reports"):
        check(f in names, "mbsync created %s on the server" % f, names)
    flagmap = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered"}
    for folder, msgs in (("INBOX", inbox), ("Work", work),
                         ("Work/Reports", reports)):
        got = folder_msgs(c, folder)
        check(len(got) == len(msgs), "%s has %d messages after the push"
              % (folder, len(msgs)), sorted(got))
        for data, flags in msgs:
            mid = email.message_from_bytes(data)["Message-ID"]
            check(mid in got, "%s is in %s" % (mid, folder), sorted(got))
            want = sorted(flagmap[x] for x in flags)
            check(got[mid][0] == want, "flags of %s" % mid, got[mid][0])
            check(no_tuid(got[mid][1]) == crlf(data), "bytes of %s survive" % mid,
                  got[mid][1][:200])

    # Server-side changes: flag, expunge, a new message in Work.
    c.select("INBOX")
    typ, data = c.uid("SEARCH", "HEADER", "Message-ID", "m3@example.test")
    uid3 = data[0].split()[0]
    c.uid("STORE", uid3, "+FLAGS", "(\\Flagged)")
    typ, data = c.uid("SEARCH", "HEADER", "Message-ID", "m1@example.test")
    uid1 = data[0].split()[0]
    c.uid("STORE", uid1, "+FLAGS", "(\\Deleted)")
    c.expunge()
    c.close()
    typ, _ = c.append("Work", "(\\Seen)", None, msg(7, "new at server",
                                                   "from imap"))
    check(typ == "OK", "APPEND to Work", typ)
    c.logout()
    run(["mbsync", "-c", rc, "-a"], "mbsync (pull)")
    got = maildir_files(os.path.join(local, "INBOX"))
    check("<m1@example.test>" not in got,
          "the message expunged on the server left the Maildir", sorted(got))
    check(got.get("<m3@example.test>", ("",))[0] == "F",
          "the flag set on the server reached the Maildir",
          got.get("<m3@example.test>"))
    gotw = maildir_files(os.path.join(local, "Work"))
    check("<m7@example.test>" in gotw,
          "the message appended on the server reached the Maildir",
          sorted(gotw))

    # A second, empty Maildir pulls the whole account: same messages.
    local2 = site.path("mb2")
    os.makedirs(local2)
    run(["mbsync", "-c", mbsync_rc(site, srv, local2), "-a"],
        "mbsync (fresh pull)")
    for folder in ("INBOX", "Work", os.path.join("Work", "Reports")):
        a = maildir_files(os.path.join(local, folder))
        b = maildir_files(os.path.join(local2, folder))
        check(sorted(a) == sorted(b), "a fresh sync of %s has the same "
              "messages" % folder, (sorted(a), sorted(b)))
        for mid in a:
            check(no_tuid(crlf(a[mid][1])) == no_tuid(crlf(b[mid][1])) and
                  a[mid][0] == b[mid][0],
                  "%s in %s is the same in both syncs" % (mid, folder),
                  (a[mid][0], b[mid][0]))
    return True


# offlineimap3 ----------------------------------------------------------------

def case_offlineimap(site, srv):
    """offlineimap3 downloads every folder, and a message written in the
    local Maildir is uploaded."""
    if not have("offlineimap"):
        return SKIP
    c = srv.imap()
    c.create("Lists")
    c.append("INBOX", "(\\Seen)", None, msg(11, "oi one", "first"))
    c.append("Lists", None, None, msg(12, "oi two", "second"))
    c.logout()
    local = site.path("oi")
    conf = site.path("offlineimaprc")
    with open(conf, "w") as f:
        f.write("""[general]
accounts = test
metadata = %s
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = 127.0.0.1
remoteport = %d
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
""" % (site.path("oimeta"), local, srv.port, USER, PASS))
    run(["offlineimap", "-c", conf, "-o", "-u", "basic"], "offlineimap")
    got = maildir_files(os.path.join(local, "INBOX"))
    check("<m11@example.test>" in got and got["<m11@example.test>"][0] == "S",
          "offlineimap fetched INBOX with its \\Seen flag", {
              k: v[0] for k, v in got.items()})
    got = maildir_files(os.path.join(local, "Lists"))
    check("<m12@example.test>" in got, "offlineimap fetched Lists",
          sorted(got))
    write_maildir(os.path.join(local, "Lists"),
                  [(msg(13, "oi up", "uploaded"), "S")])
    run(["offlineimap", "-c", conf, "-o", "-u", "basic"], "offlineimap (2)")
    c = srv.imap()
    got = folder_msgs(c, "Lists")
    check("<m13@example.test>" in got and got["<m13@example.test>"][0] ==
          ["\\Seen"], "offlineimap uploaded the local message with \\Seen",
          {k: v[0] for k, v in got.items()})
    c.logout()
    return True


# curl ------------------------------------------------------------------------

def case_curl(site, srv):
    """curl lists, examines and fetches over imap:// and imaps://."""
    if not have("curl"):
        return SKIP
    c = srv.imap()
    c.append("INBOX", None, None, msg(21, "curl me", "body for curl"))
    c.select("INBOX", readonly=True)
    typ, data = c.uid("SEARCH", "HEADER", "Message-ID", "m21@example.test")
    uid = data[0].split()[0].decode()
    c.logout()
    auth = ["-u", "%s:%s" % (USER, PASS), "-s", "--max-time", "30"]
    out = run(["curl"] + auth + ["imap://127.0.0.1:%d/" % srv.port],
              "curl LIST")
    check('"INBOX"' in out or " INBOX" in out, "curl LIST shows INBOX", out)
    out = run(["curl"] + auth + ["imap://127.0.0.1:%d/INBOX;UID=%s" % (
        srv.port, uid)], "curl FETCH")
    check("body for curl" in out and "Subject: curl me" in out,
          "curl fetched the message by UID", out[:500])
    out = run(["curl", "-k"] + auth + ["imaps://127.0.0.1:%d/INBOX;UID=%s"
                                       % (srv.sport, uid)], "curl imaps")
    check("body for curl" in out, "curl fetched over imaps", out[:500])
    out = run(["curl"] + auth + ["-X", "EXAMINE INBOX",
                                 "imap://127.0.0.1:%d/" % srv.port],
              "curl EXAMINE")
    check("UIDVALIDITY" in out and "EXISTS" in out,
          "curl EXAMINE shows the mailbox state", out)
    return True


# neomutt in tmux -----------------------------------------------------------

class Tmux:
    def __init__(self, site, argv, env):
        self.name = "vellum-test-%d" % os.getpid()
        self.sock = site.path("tmux.sock")
        envs = []
        for k, v in env.items():
            envs += ["-e", "%s=%s" % (k, v)]
        run(["tmux", "-S", self.sock, "new-session", "-d", "-s", self.name,
             "-x", "160", "-y", "48"] + envs + argv, "tmux new-session")

    def keys(self, *keys):
        run(["tmux", "-S", self.sock, "send-keys", "-t", self.name] +
            list(keys), "tmux send-keys")

    def screen(self):
        p = subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p",
                            "-t", self.name], capture_output=True,
                           timeout=30)
        return p.stdout.decode("utf-8", "replace")

    def wait(self, text, timeout=30):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.2)
        raise Failure("neomutt never showed %r; screen:\n%s" % (
            text, self.screen()))

    def kill(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"],
                       capture_output=True, timeout=30)


def case_neomutt(site, srv):
    """neomutt reads a message (\\Seen), flags one, saves one to Archive
    and deletes one; the server shows each change."""
    if not have("neomutt") or not have("tmux"):
        return SKIP
    c = srv.imap()
    c.create("NM")
    for n, s in ((31, "nm alpha"), (32, "nm bravo"), (33, "nm charlie")):
        typ, _ = c.append("NM", None, None, msg(n, s, "text of %s" % s))
        check(typ == "OK", "APPEND to NM", typ)
    c.logout()
    home = site.path("nmhome")
    os.makedirs(home, exist_ok=True)
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as f:
        f.write("""set folder="imap://%s@127.0.0.1:%d/"
set spoolfile="+NM"
set imap_user="%s"
set imap_pass="%s"
set ssl_starttls=no
set ssl_force_tls=no
set imap_check_subscribed=no
set header_cache=""
set message_cachedir=""
set confirmappend=no
set confirmcreate=no
set delete=yes
set move=no
set sort=date-sent
set record=""
set postponed=""
set mark_old=no
set wait_key=no
set pager_stop=yes
set timeout=1
set mail_check=1
""" % (USER.replace("@", "%40"), srv.port, USER, PASS))
    t = Tmux(site, ["neomutt", "-n", "-F", rc],
             {"HOME": home, "TERM": "xterm", "LANG": "C.UTF-8"})
    try:
        t.wait("nm charlie")
        # The first line is the oldest (nm alpha): read it, back to index.
        t.keys("Enter")
        t.wait("text of nm alpha")
        t.keys("q")
        t.wait("nm bravo")
        # Flag the current message (alpha), move to bravo, save it.
        t.keys("F")
        time.sleep(0.5)
        # Jump by number: neomutt may move on by itself after F.
        t.keys("2", "Enter")
        time.sleep(0.5)
        t.keys("s")
        t.wait("Save")
        t.keys("C-u", "=Archive", "Enter")
        time.sleep(1)
        # charlie: delete; then sync ($) and quit.
        t.keys("3", "Enter")
        time.sleep(0.5)
        t.keys("d")
        time.sleep(0.5)
        t.keys("$")
        time.sleep(2)
        t.keys("q")
        time.sleep(2)
    finally:
        screen = t.screen()
        t.kill()
    c = srv.imap()
    got = folder_msgs(c, "NM")
    check("<m31@example.test>" in got, "alpha stays in NM", (sorted(got),
                                                            screen))
    check("\\Seen" in got["<m31@example.test>"][0] and "\\Flagged" in
          got["<m31@example.test>"][0], "alpha is \\Seen and \\Flagged",
          (got["<m31@example.test>"][0], screen))
    check("<m32@example.test>" not in got and "<m33@example.test>" not in
          got, "bravo (saved, so deleted) and charlie (deleted) left NM",
          (sorted(got), screen))
    arch = folder_msgs(c, "Archive")
    check("<m32@example.test>" in arch, "bravo is in Archive", (sorted(arch),
                                                               screen))
    c.logout()
    return True


CASES = {"mbsync": case_mbsync, "offlineimap": case_offlineimap,
         "curl": case_curl, "neomutt": case_neomutt}


def test(site, args):
    if not site.have("imapd"):
        print("vellum-imapd is not built")
        return SKIP
    wanted = args or list(CASES)
    ran = 0
    for name in wanted:
        srv = None
        sub = type(site)(site.build, prefix="vellum-imapcl-%s-" % name)
        try:
            srv = Server(sub)
            r = CASES[name](sub, srv)
            if r is SKIP:
                print("SKIP %s: the client is not installed" % name)
            else:
                print("ok %s" % name)
                ran += 1
        except Failure:
            sub.keep = True
            raise
        finally:
            sub.cleanup()
    return True if ran else SKIP


if __name__ == "__main__":
    main(test, "BUILD_DIR [CASE...]")
