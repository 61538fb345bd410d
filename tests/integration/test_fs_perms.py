"""vellum-fs ownership: two mail users mapped to the system accounts
`nobody` and `daemon` (vellumctl user set ADDR unix-user NAME; no
account is created), each tree owned by its account (uid and primary gid,
dirs 0700, files 0600).  As each account (a child that drops to it with
setgid/setgroups/setuid) reading and listing its own mail works, and so
does delivering with tmp/ + rename; reading or listing the other's fails
EACCES.  An unmapped user's tree belongs to the daemon's user (root here)
and nobody cannot read it; with a top-level `user = daemon` the serving
process runs as daemon and unmapped trees are daemon's.  Listing the top
and a domain, root sees every domain and user, an account only the users
it owns and their domains.  A remap that comes with a delivery in one
batch of notifications still changes the owner of the message files the
kernel holds.  A folder whose mailbox id is past what an
inode number holds is not shown, and dan cannot reach (or unlink) nina's
message through it.

usage: test_fs_perms.py BUILD_DIR
Skipped (77) unless root with a usable /dev/fuse (fstest.py).
"""
import errno
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import descendants_of  # noqa: E402
from fstest import (SKIP, Failure, check, ename, folder_files,  # noqa
                    imap_find, run, wait_change, write_maildir)

N, D, U = "nina@example.test", "dan@example.test", "uma@example.test"
O = "olga@other.test"			# unmapped, in another domain
PW = "fs-perms-pw"
D2024 = 1709294400

# Run by the child as the account: each op -> errno (None: it worked) and
# what it gave.
PROBE = r"""
import json, os, sys
res = []
for op, path, arg in json.loads(sys.argv[1]):
    try:
        if op == "read":
            with open(path, "rb") as f:
                v = f.read().decode("latin-1")
        elif op == "list":
            v = sorted(os.listdir(path))
        elif op == "stat":
            v = os.stat(path).st_size
        elif op == "unlink":
            os.unlink(path)
            v = None
        elif op == "deliver":
            tmp = os.path.join(path, "tmp", "from-shell")
            with open(tmp, "wb") as f:
                f.write(arg.encode())
            os.rename(tmp, os.path.join(path, "new", "from-shell"))
            v = None
        res.append([None, v])
    except OSError as e:
        res.append([e.errno, None])
print(json.dumps(res))
"""


def mail(tag):
    return (b"From: s@remote.test\r\nSubject: " + tag.encode() +
            b"\r\nMessage-ID: <" + tag.encode() + b"@fs-perms.test>"
            b"\r\n\r\nfor " + tag.encode() + b" only\r\n")


def as_account(name, ops):
    """Runs PROBE as the system account name; [(errno, value)]."""
    pw = pwd.getpwnam(name)

    def drop():
        os.setgid(pw.pw_gid)
        os.setgroups([])
        os.setuid(pw.pw_uid)
    p = subprocess.run(["/usr/bin/python3", "-c", PROBE, json.dumps(ops)],
                       preexec_fn=drop, capture_output=True, timeout=60,
                       cwd="/", env={"PATH": "/usr/bin:/bin"})
    check(p.returncode == 0, "the probe runs as %s" % name,
          p.stderr.decode("utf-8", "replace"))
    return json.loads(p.stdout)


def owner(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test(site, args):
    if not os.path.exists("/usr/bin/python3"):
        print("SKIP: no /usr/bin/python3 for the probes run as nobody")
        return SKIP
    site.write_fs_conf()
    for u in (N, D, U):
        site.add_user(u, PW)
        src = site.path("import-" + u)
        write_maildir(src, [(mail(u.split("@")[0]), D2024, "S")])
        site.ctl("mail", "import", u, src)
    site.add_user(O, PW)
    site.ctl("user", "set", N, "unix-user", "nobody")
    site.ctl("user", "set", D, "unix-user", "daemon")
    # The accounts must reach the mountpoint inside the temp dir.
    os.chmod(site.tmp, 0o711)
    site.start_imapd(conf=False)
    site.start_fs(domains=("example.test", "other.test"))
    check(sorted(os.listdir(site.mount)) == ["example.test", "other.test"] and
          sorted(os.listdir(os.path.join(site.mount, "example.test"))) ==
          ["dan", "nina", "uma"], "root lists every domain and user",
          os.listdir(site.mount))

    accounts = {N: pwd.getpwnam("nobody"), D: pwd.getpwnam("daemon"),
                U: pwd.getpwuid(os.getuid())}
    msg = {}
    for u, acct in accounts.items():
        home = os.path.dirname(site.maildir(u))
        files = folder_files(site.maildir(u))
        check(len(files) == 1, "%s has one message" % u, files)
        sub, name = list(files.values())[0]
        msg[u] = os.path.join(site.maildir(u), sub, name)
        for path, mode in ((home, 0o700), (site.maildir(u), 0o700),
                           (site.maildir(u, "cur"), 0o700),
                           (site.maildir(u, "new"), 0o700),
                           (site.maildir(u, "tmp"), 0o700),
                           (site.maildir(u, ".Sent"), 0o700),
                           (msg[u], 0o600)):
            want = (acct.pw_uid, acct.pw_gid, mode)
            check(owner(path) == want, "%s is owned by %s (uid %d gid %d) "
                  "mode %o" % (path, acct.pw_name, want[0], want[1], mode),
                  "uid %d gid %d mode %o" % owner(path))

    # The top and the domain dirs: the daemon's user, 0755.
    for path in (site.mount, os.path.join(site.mount, "example.test")):
        check(owner(path) == (os.getuid(), os.getgid(), 0o755), "%s is "
              "the daemon's, mode 0755" % path,
              "uid %d gid %d mode %o" % owner(path))

    for me, other in ((N, D), (D, N)):
        name = accounts[me].pw_name
        ops = [("read", msg[me], None),
               ("list", site.maildir(me, "cur"), None),
               ("list", site.maildir(me), None),
               ("deliver", site.maildir(me), mail("shell-" + name).decode()),
               ("read", msg[other], None),
               ("list", site.maildir(other, "cur"), None),
               ("list", os.path.dirname(site.maildir(other)), None),
               ("stat", msg[other], None),
               ("read", msg[U], None),
               ("list", os.path.dirname(site.maildir(U)), None),
               ("list", site.mount, None),
               ("list", os.path.join(site.mount, "example.test"), None)]
        res = as_account(name, ops)
        with open(msg[me], "rb") as f:
            own = f.read()
        check(res[0] == [None, own.decode("latin-1")], "%s reads its own "
              "message" % name, res[0])
        check(res[1][0] is None and res[1][1] == sorted(os.listdir(
            site.maildir(me, "cur"))), "%s lists its own cur/" % name,
              res[1])
        check(res[2][0] is None and "cur" in res[2][1], "%s lists its own "
              "Mail/" % name, res[2])
        check(res[3][0] is None, "%s delivers with tmp/ + rename into new/"
              % name, ename(res[3][0]))
        for i, what in ((4, "read %s's message" % other),
                        (5, "list %s's cur/" % other),
                        (6, "list %s's tree" % other),
                        (7, "stat %s's message" % other),
                        (8, "read the unmapped user's message"),
                        (9, "list the unmapped user's tree")):
            check(res[i][0] == errno.EACCES, "%s cannot %s: EACCES" % (
                name, what), (ename(res[i][0]), res[i][1]))
        check(res[10] == [None, ["example.test"]], "%s lists its domain "
              "only (not other.test)" % name, res[10])
        # vellum-fs(8): an account sees only the users whose trees it owns
        # (and their domains): no other user's name.
        check(res[11] == [None, [me.split("@")[0]]], "%s lists example.test:"
              " its own name only" % name, res[11])
    m = site.login(N, PW)
    got = imap_find(m, "INBOX", "shell-nobody@")
    check(len(got) == 1 and got[0][2] == mail("shell-nobody"), "what nobody "
          "delivered through the mount is in nina's INBOX", got)
    m.logout()

    # Remapping a user while mounted: within a second its whole tree,
    # message files included, belongs to the new account (which can read
    # it) and no longer to the old one.
    site.ctl("user", "set", N, "unix-user", "daemon")
    dpw = accounts[D]
    paths = (os.path.dirname(site.maildir(N)), site.maildir(N),
             os.path.dirname(msg[N]), msg[N])

    def owners():
        return [owner(p)[:2] for p in paths]
    try:
        wait_change(lambda: owners() == [(dpw.pw_uid, dpw.pw_gid)] * 4,
                    "user set unix-user daemon: nina's tree, message "
                    "files included, belongs to daemon")
    except Failure as e:
        raise Failure("%s; owners of %s: %s" % (
            e, [os.path.relpath(p, site.mount) for p in paths], owners()))
    res = as_account("daemon", [("read", msg[N], None)])
    check(res[0][0] is None, "daemon reads nina's message after the remap",
          ename(res[0][0]))
    res = as_account("nobody", [("read", msg[N], None)])
    check(res[0][0] == errno.EACCES, "nobody no longer reads it",
          ename(res[0][0]))
    site.ctl("user", "set", N, "unix-user", "nobody")
    remap_with_delivery(site, msg, accounts)

    # With a top-level `user = daemon` the serving child runs as daemon
    # and the unmapped user's tree is daemon's; nina's stays nobody's.
    site.stop_fs()
    site.write_fs_conf(top={"user": "daemon"})
    fs = site.start_fs(domains=("example.test", "other.test"))
    dpw = accounts[D]
    kids = descendants_of(fs.pid)
    check(len(kids) == 1, "one serving child", kids)
    with open("/proc/%d/status" % kids[0][0]) as f:
        ids = [ln.split()[1:] for ln in f if ln.startswith(("Uid:", "Gid:"))]
    check(ids == [[str(dpw.pw_uid)] * 4, [str(dpw.pw_gid)] * 4],
          "the serving child runs as daemon (uid and gid)", ids)
    check(owner(os.path.dirname(site.maildir(U))) == (dpw.pw_uid,
                                                       dpw.pw_gid, 0o700),
          "the unmapped user's tree is the daemon user's",
          "uid %d gid %d mode %o" % owner(os.path.dirname(site.maildir(U))))
    check(owner(msg[N])[:2] == (accounts[N].pw_uid, accounts[N].pw_gid),
          "nina's message is still nobody's", owner(msg[N]))
    res = as_account("nobody", [("read", msg[U], None),
                                ("read", msg[N], None)])
    check(res[0][0] == errno.EACCES and res[1][0] is None, "nobody still "
          "reads its own and not the unmapped user's", res)
    res = as_account("daemon", [("read", msg[U], None)])
    check(res[0][0] is None, "the daemon's account reads the unmapped "
          "user's mail (its tree is the daemon user's)", res)
    # tmp/ keeps working in folders whose tmp/ was used while vellum-fs
    # served as root (DATA_DIR/fstmp/<id> was root's then).
    res = as_account("nobody", [("deliver", site.maildir(N),
                                 mail("after-user-set").decode())])
    check(res[0][0] is None, "nobody delivers with tmp/ + rename again "
          "after the switch to user = daemon", ename(res[0][0]))
    mailbox_ids_past_the_inode_range(site, msg)
    return True


def remap_with_delivery(site, msg, accounts):
    """A remap that reaches vellum-fs together with a delivery to the
    same mailbox (one batch of notifications: the serving process is
    stopped meanwhile) still gives the message files the kernel holds
    their new owner."""
    npw, dpw = accounts[N], accounts[D]
    wait_change(lambda: owner(msg[N])[:2] == (npw.pw_uid, npw.pw_gid),
                "nina's message is nobody's again")
    kids = descendants_of(site.fs.pid)
    check(len(kids) == 1, "one serving child", kids)
    src = site.path("import-remap")
    write_maildir(src, [(mail("remap"), D2024, "S")])
    os.kill(kids[0][0], signal.SIGSTOP)
    try:
        site.ctl("user", "set", N, "unix-user", "daemon")
        site.ctl("mail", "import", N, src)
    finally:
        os.kill(kids[0][0], signal.SIGCONT)
    wait_change(lambda: owner(msg[N])[:2] == (dpw.pw_uid, dpw.pw_gid),
                "remapped while a message came: nina's message file is "
                "daemon's")
    site.ctl("user", "set", N, "unix-user", "nobody")
    wait_change(lambda: owner(msg[N])[:2] == (npw.pw_uid, npw.pw_gid),
                "nina's message is nobody's again")


def mailbox_ids_past_the_inode_range(site, msg):
    """Mailbox ids past what an inode number holds (2^28 - 1: a user can
    use them up by creating and deleting folders): such a folder is not
    shown, and a name in it never reaches the message of the mailbox
    whose id it shares the low bits with (nina's INBOX, id 1), which dan
    (daemon) could then expunge by unlink."""
    if shutil.which("mdb_load") is None:
        print("SKIP (mailbox ids past the inode range): no mdb_load")
        return
    rec = " %s\n %s\n" % (b"next_mailbox".hex(), (1 << 28).to_bytes(
        8, "big").hex())
    p = subprocess.run(["mdb_load", "-s", "meta", "-f", "/dev/stdin",
                        os.path.join(site.data, "store")],
                       input=("VERSION=3\nformat=bytevalue\ntype=btree\n"
                              "HEADER=END\n" + rec + "DATA=END\n").encode(),
                       capture_output=True)
    if p.returncode != 0:
        print("SKIP (mailbox ids past the inode range): mdb_load: %s" %
              p.stderr.decode("utf-8", "replace"))
        return
    src = site.path("import-evil")
    write_maildir(src, [(mail("evil"), D2024, "S")])
    site.ctl("mail", "import", D, src, "--folder", "Evil")
    name = os.path.basename(msg[N])
    evil = os.path.join(site.maildir(D), ".Evil")
    res = as_account("daemon", [("unlink", os.path.join(evil, "cur", name),
                                 None)])
    check(os.path.exists(msg[N]), "dan (daemon) cannot expunge nina's "
          "message through a folder of his past the inode range", res)
    seen = [p for p in (os.path.join(evil, "cur", name),
                        os.path.join(evil, "new", name))
            if os.path.exists(p)]
    check(not seen and not os.path.exists(evil), "a folder whose mailbox "
          "id is past the inode range is not shown, and nina's message is "
          "not found in it", seen or evil)


if __name__ == "__main__":
    run(test)
