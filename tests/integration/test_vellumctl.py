#!/usr/bin/env python3
"""Every vellumctl command against a real store in a temporary data dir:
results, exit codes (0 ok, 1 failed, 2 usage), --json output, user and
address imports with bad lines, mail import/export of Maildir, mbox and
.eml byte for byte, quotas, mail delete, user enable refused while over
quota, domain settings, user set unix-user, Maildir export's keyword letters,
the outbound queue, locks and a clean store check at the end.

Usage: test_vellumctl.py VELLUMCTL [STORE_HELPER]
(without STORE_HELPER only the empty queue is tested)"""
import hashlib
import os
import pwd
import re
import subprocess

from vtest import check, main

MSG1 = (b"From: a@example.org\nTo: bob@example.test\nSubject: one\n\n"
        b"Hello\nFrom the start of a line\n>From quoted\n")
MSG2 = (b"Return-Path: <x@example.org>\r\nSubject: two crlf\r\n\r\n"
        b"body\r\n")
MSG3 = b"Subject: three, no final newline\n\nlast line"
MSG4 = b"Subject: four\n\nends with blank lines\n\n\n"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def maildir_files(root):
    """{relative folder: {(flags, sha256)}} of an exported Maildir."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        folder = os.path.relpath(os.path.dirname(dirpath), root)
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fp:
                data = fp.read()
            m = re.search(r":2,([A-Za-z]*)$", f)
            size = re.search(r",S=(\d+)", f)
            check(size and int(size.group(1)) == len(data),
                  "exported file name carries S=<size>", f)
            out.setdefault(folder, set()).add(
                (m.group(1) if m else "", hashlib.sha256(data).hexdigest()))
    return out


def sha(b):
    return hashlib.sha256(b).hexdigest()


def test(ctl, args):
    # --- usage and help ---------------------------------------------------
    out, _ = ctl.run("--help", data=False)
    for cmd in ("domain add", "user import", "addr export", "mail import",
                "quota report", "lock clear", "store backup", "domain set",
                "mail delete", "queue list", "queue del", "user set",
                "rate list", "rate unblock"):
        check(cmd in out, "--help lists '%s'" % cmd, out)
    out2, _ = ctl.run("help", data=False)
    check(out2 == out, "'help' prints the same as --help", out2)
    ctl.run(expect=2, data=False)
    ctl.run("frobnicate", "x", expect=2)
    ctl.run("user", expect=2)
    ctl.run("user", "frob", expect=2)
    ctl.run("domain", "add", expect=2)
    ctl.run("domain", "add", "a.test", "b.test", expect=2)
    ctl.run("user", "add", "x@a.test", "--bogus", expect=2)
    ctl.run("-d", expect=2, data=False)

    # --- no store yet ---------------------------------------------------------
    _, err = ctl.run("domain", "list", expect=1)
    check(err.startswith("vellumctl: "), "errors start with 'vellumctl: '",
          err)
    ctl.run("user", "list", expect=1)
    ctl.run("queue", "list", expect=1)

    # --- domains ---------------------------------------------------------------
    ctl.run("domain", "add", "Example.TEST")
    ctl.run("domain", "add", "other.test")
    _, err = ctl.run("domain", "add", "example.test", expect=1)
    check("exists" in err, "adding a domain twice says it exists", err)
    ctl.run("domain", "add", "not a domain", expect=1)
    ctl.run("domain", "alias", "alias.test", "example.test")
    ctl.run("domain", "alias", "x.test", "missing.test", expect=1)
    doms = ctl.json("domain", "list")
    names = {d["name"]: d["alias_of"] for d in doms}
    check(names == {"example.test": None, "other.test": None,
                    "alias.test": "example.test"},
          "domain list --json has the domains and the alias", doms)
    doms2 = ctl.json("--json", "domain", "list")
    check(doms2 == doms, "--json before the noun works too", doms2)
    ctl.run("domain", "del", "other.test")
    ctl.run("domain", "del", "other.test", expect=1)

    # --- domain settings -------------------------------------------------
    check(all(d["sender_login_match"] is False for d in doms),
          "sender-login-match is off by default", doms)
    out, _ = ctl.run("domain", "set", "example.test", "sender-login-match",
                     "yes")
    check("sender-login-match yes" in out, "domain set says what it set",
          out)
    doms = {d["name"]: d for d in ctl.json("domain", "list")}
    check(doms["example.test"]["sender_login_match"] is True and
          doms["alias.test"]["sender_login_match"] is False,
          "domain list --json shows sender_login_match", doms)
    out, _ = ctl.run("domain", "list")
    check("example.test\tsender-login-match" in out,
          "domain list shows the setting", out)
    _, err = ctl.run("domain", "set", "alias.test", "sender-login-match",
                     "yes", expect=1)
    check("alias of example.test" in err,
          "an alias domain has no settings of its own", err)
    _, err = ctl.run("domain", "set", "missing.test", "sender-login-match",
                     "yes", expect=1)
    check("no domain missing.test" in err, "unknown domain named", err)
    ctl.run("domain", "set", "example.test", "frobnicate", "yes", expect=2)
    ctl.run("domain", "set", "example.test", "sender-login-match", "maybe",
            expect=2)
    ctl.run("domain", "set", "example.test", "sender-login-match",
            expect=2)
    ctl.run("domain", "set", "example.test", "sender-login-match", "no")
    doms = {d["name"]: d for d in ctl.json("domain", "list")}
    check(doms["example.test"]["sender_login_match"] is False,
          "sender-login-match no turns it off", doms)
    out, _ = ctl.run("domain", "list")
    check("sender-login-match" not in out, "and domain list agrees", out)

    # --- config file -----------------------------------------------------
    conf = ctl.path("vellum.conf")
    write(conf, ("# test config\ndata_dir = %s\nhostname = h.test\n"
                 "[quota]\ngrace_days = 9\n" % ctl.data).encode())
    out, _ = ctl.run("-c", conf, "domain", "list", data=False)
    check("example.test" in out, "-c reads data_dir", out)
    bad = ctl.path("bad.conf")
    write(bad, b"data_dir = /x\nthis line is wrong\n[quota]\n"
          b"grace_days = many\n")
    _, err = ctl.run("-c", bad, "domain", "list", data=False, expect=1)
    check("bad.conf:2:" in err and "bad.conf:4:" in err,
          "config errors name file:line, all of them", err)
    ctl.run("-c", conf, "-d", ctl.data, "domain", "list", data=False,
            expect=2)

    # --- users -----------------------------------------------------------------
    ctl.run("user", "add", "bob@example.test", "--password-stdin",
            "--quota", "500M", "--quota-messages", "1000",
            input="secret\n")
    ctl.run("user", "add", "carol@example.test")
    ctl.run("user", "add", "bob@example.test", expect=1)
    _, err = ctl.run("user", "add", "x@nowhere.test", expect=1)
    check("domain add" in err, "unknown domain hints at domain add", err)
    ctl.run("user", "add", "y@example.test", "--quota", "lots", expect=2)
    ctl.run("user", "add", "y@example.test", "--password-stdin",
            input="", expect=1)
    u = ctl.json("user", "show", "BOB@example.test")
    check(u["address"] == "bob@example.test" and u["has_password"] and
          u["quota_bytes"] == 500 * 1024 * 1024 and
          u["quota_messages"] == 1000,
          "user show --json gives address, password, quotas", u)
    out, _ = ctl.run("user", "show", "bob#example.test")
    check("500M" in out, "user show prints the quota as 500M", out)
    ctl.run("user", "show", "nobody@example.test", expect=1)
    ctl.run("user", "passwd", "carol@example.test", input="pw2\n")
    check(ctl.json("user", "show", "carol@example.test")["has_password"],
          "user passwd sets a password",
          ctl.json("user", "show", "carol@example.test"))
    ctl.run("user", "passwd", "nobody@example.test", input="x\n", expect=1)
    ctl.run("user", "disable", "carol@example.test", expect=2)
    ctl.run("user", "disable", "carol@example.test", "--reason", "spam run")
    u = ctl.json("user", "show", "carol@example.test")
    check(u["disabled"] and u["disabled_reason"] == "spam run",
          "user disable records the reason", u)
    ctl.run("user", "enable", "carol@example.test")
    check(not ctl.json("user", "show", "carol@example.test")["disabled"],
          "user enable enables", "")
    users = ctl.json("user", "list")
    check(sorted(x["address"] for x in users) ==
          ["bob@example.test", "carol@example.test"],
          "user list --json lists the users", users)

    # --- user set ADDR unix-user (owner of the file view tree) ----------
    nobody = pwd.getpwnam("nobody")
    check(ctl.json("user", "show", "carol@example.test")["unix_user"] is None,
          "a new user is unmapped", "")
    out, _ = ctl.run("user", "show", "carol@example.test")
    check(re.search(r"^unix user: +none$", out, re.M),
          "user show says 'unix user: none'", out)
    out, _ = ctl.run("user", "set", "carol@example.test", "unix-user",
                     "nobody")
    check("unix-user nobody (uid %d, gid %d)" % (nobody.pw_uid,
                                                 nobody.pw_gid) in out,
          "user set says what it set", out)
    out, _ = ctl.run("user", "show", "carol@example.test")
    check(re.search(r"^unix user: +nobody \(uid %d, gid %d\)$" %
                    (nobody.pw_uid, nobody.pw_gid), out, re.M),
          "user show names the unix user with its ids", out)
    uu = ctl.json("user", "show", "carol@example.test")["unix_user"]
    check(uu == {"name": "nobody", "uid": nobody.pw_uid,
                 "gid": nobody.pw_gid}, "user show --json: unix_user", uu)
    users = {x["address"]: x for x in ctl.json("user", "list")}
    check(users["carol@example.test"]["unix_user"] == uu and
          users["bob@example.test"]["unix_user"] is None,
          "user list --json: unix_user", users)
    _, err = ctl.run("user", "set", "carol@example.test", "unix-user",
                     "no-such-unix-user-x", expect=1)
    check("no-such-unix-user-x" in err, "an unknown name is named", err)
    _, err = ctl.run("user", "set", "carol@example.test", "unix-user",
                     "root", expect=1)
    check("root" in err and "uid 0" in err, "root is refused", err)
    ctl.run("user", "set", "carol@example.test", "unix-user", "0:100",
            expect=1)
    check(ctl.json("user", "show", "carol@example.test")["unix_user"] == uu,
          "a refused mapping changes nothing", "")
    ctl.run("user", "set", "carol@example.test", "unix-user", "4242:4243")
    check(ctl.json("user", "show", "carol@example.test")["unix_user"]
          ["uid"] == 4242, "numeric UID:GID", "")
    ctl.run("user", "set", "carol@example.test", "unix-user", "-")
    check(ctl.json("user", "show", "carol@example.test")["unix_user"] is None,
          "'-' removes the mapping", "")
    out, _ = ctl.run("user", "show", "carol@example.test")
    check(re.search(r"^unix user: +none$", out, re.M), "and show agrees",
          out)
    ctl.run("user", "set", "carol@example.test", "frobnicate", "x",
            expect=2)
    ctl.run("user", "set", "carol@example.test", "unix-user", expect=2)
    ctl.run("user", "set", "nobody@example.test", "unix-user", "nobody",
            expect=1)

    # --- user import -----------------------------------------------------
    # A real SHA512-CRYPT hash: a truncated one is refused (it could never
    # be checked at a login; test_user_import.py has every scheme).
    sha512 = subprocess.run(["openssl", "passwd", "-6", "u3-pw"],
                            capture_output=True, check=True,
                            timeout=60).stdout.decode().strip()
    lines = ["# bulk users", "", "u1@example.test",
             "u2@example.test  pw2  100M",
             "u3@example.test {CRYPT}%s 1G" % sha512,
             "bad address here too many",
             "u4@nowhere.test pw",
             "bob@example.test",
             "u5@example.test - 20K",
             "u6@example.test pw six",
             "u1@example.test"]
    lines += ["bulk%03d@example.test pw%d" % (i, i) for i in range(250)]
    imp = ctl.path("users.txt")
    write(imp, ("\n".join(lines) + "\n").encode())
    out, err = ctl.run("user", "import", imp, expect=1)
    for n in (6, 7, 10):
        check("users.txt:%d:" % n in err,
              "bad line %d reported as FILE:LINE" % n, err)
    check("254 created, 2 skipped" in out and "3 failed" in out,
          "summary counts created, skipped, failed", out)
    u3 = ctl.json("user", "show", "u3@example.test")
    check(u3["quota_bytes"] == 1 << 30 and u3["has_password"],
          "imported hash and quota are kept", u3)
    check(not ctl.json("user", "show", "u5@example.test")["has_password"],
          "'-' means no password", "")
    out, _ = ctl.run("user", "import", imp, expect=1)
    check("0 created" in out, "re-import creates nothing", out)
    ctl.run("user", "import", ctl.path("missing.txt"), expect=1)

    # --- addresses -------------------------------------------------------
    ctl.run("addr", "add", "info@example.test", "bob@example.test",
            "ext@elsewhere.org")
    ctl.run("addr", "add", "@alias.test", "bob@example.test")
    ctl.run("addr", "add", "x@nowhere.test", "bob@example.test", expect=1)
    ctl.run("addr", "add", "info@example.test", expect=2)
    routes = {r["address"]: r["targets"] for r in ctl.json("addr", "list")}
    check({"type": "forward", "target": "ext@elsewhere.org"} in
          routes.get("info@example.test", []),
          "addr list shows the forward", routes)
    check(routes.get("bob@example.test") ==
          [{"type": "mailbox", "target": "bob@example.test"}],
          "user add made a mailbox route", routes)
    ctl.run("addr", "del", "info@example.test", "ext@elsewhere.org")
    ctl.run("addr", "del", "info@example.test", "ext@elsewhere.org",
            expect=1)
    amap = ctl.path("virtual")
    write(amap, b"# postfix virtual\n"
          b"sales@example.test   bob@example.test, carol@example.test\n"
          b"team@example.test bob@example.test\n"
          b"   carol@example.test\n"
          b"example.test anything\n"
          b"bad@nowhere.test bob@example.test\n"
          b"lonely@example.test\n"
          b"bob@example.test bob@example.test, fwd@far.org\n")
    out, err = ctl.run("addr", "import", amap, expect=1)
    check("virtual:6:" in err and "virtual:7:" in err,
          "bad map lines reported as FILE:LINE", err)
    check("virtual:2:" not in err and "virtual:3:" not in err,
          "good lines are not reported", err)
    check("nothing imported" in out, "a file with bad lines imports "
          "nothing", out)
    routes = {r["address"]: r["targets"] for r in ctl.json("addr", "list")}
    check("sales@example.test" not in routes and "team@example.test" not in
          routes, "no route of a file with bad lines was added", routes)
    write(amap, b"# postfix virtual\n"
          b"sales@example.test   bob@example.test, carol@example.test\n"
          b"team@example.test bob@example.test\n"
          b"   carol@example.test\n"
          b"example.test anything\n"
          b"bob@example.test bob@example.test, fwd@far.org\n")
    ctl.run("addr", "import", amap)
    routes = {r["address"]: r["targets"] for r in ctl.json("addr", "list")}
    check(len(routes["team@example.test"]) == 2,
          "a continuation line adds targets", routes)
    check({"type": "mailbox", "target": "bob@example.test"} in
          routes["bob@example.test"] and len(routes["bob@example.test"]) == 2,
          "own address stays the mailbox, the forward is added", routes)
    exp = ctl.path("virtual.out")
    ctl.run("addr", "export", exp)
    with open(exp) as f:
        text = f.read()
    out, _ = ctl.run("addr", "export")
    check(out == text, "export to - and to a file agree", out)
    check("bob@example.test\tbob@example.test, fwd@far.org" in text,
          "mixed route exported with the user's own address", text)
    check("carol@example.test\t" not in text,
          "plain mailbox routes are not exported", text)
    # Round trip into a second store.
    other = ctl.path("data2")
    ctl.run("-d", other, "domain", "add", "example.test", data=False)
    ctl.run("-d", other, "domain", "alias", "alias.test", "example.test",
            data=False)
    for a in ("bob", "carol"):
        ctl.run("-d", other, "user", "add", a + "@example.test", data=False)
    ctl.run("-d", other, "addr", "import", exp, data=False)
    out2, _ = ctl.run("-d", other, "addr", "export", data=False)
    check(out2 == text, "addr export -> import -> export is stable", out2)

    # --- mail import: Maildir with flags, keywords, subfolders -----------
    md = ctl.path("Maildir")
    for sub in ("tmp",):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    write(os.path.join(md, "new", "1700000001.M1.host"), MSG1)
    write(os.path.join(md, "cur", "1700000002.M2.host,S=%d:2,FRS" %
                       len(MSG2)), MSG2)
    write(os.path.join(md, "cur", "1700000003.M3.host:2,PTa"), MSG3)
    write(os.path.join(md, "dovecot-keywords"), b"0 $Label1\n")
    write(os.path.join(md, ".Sent", "cur", "1600000000.M4.h:2,S"), MSG4)
    write(os.path.join(md, ".Foo.Bar", "new", "1600000001.M5.h"), MSG1)
    os.makedirs(os.path.join(md, ".Empty", "cur"), exist_ok=True)
    out, _ = ctl.run("mail", "import", "bob@example.test", md)
    check("5 messages imported" in out and "0 failed" in out,
          "Maildir import summary", out)
    inbox = ctl.json("mail", "list", "bob@example.test")
    check(len(inbox) == 3, "three messages in INBOX", inbox)
    byuid = {m["uid"]: m for m in inbox}
    check(byuid[1]["flags"] == [] and byuid[1]["date"] ==
          "2023-11-14T22:13:21Z", "new/ is unseen; date from the name",
          byuid[1])
    check(byuid[2]["flags"] == ["\\Seen", "\\Answered", "\\Flagged"],
          "F R S become flags", byuid[2])
    check(set(byuid[3]["flags"]) ==
          {"\\Deleted", "$Forwarded", "$Label1"},
          "T is \\Deleted, P is $Forwarded, a is a dovecot keyword",
          byuid[3])
    check(byuid[2]["subject"] == "two crlf", "mail list shows Subject",
          byuid[2])
    sent = ctl.json("mail", "list", "bob@example.test", "--folder", "Sent")
    check(len(sent) == 1 and sent[0]["size"] == len(MSG4),
          "Maildir++ .Sent became Sent", sent)
    fb = ctl.json("mail", "list", "bob@example.test", "--folder", "Foo/Bar")
    check(len(fb) == 1, ".Foo.Bar became Foo/Bar", fb)
    ctl.run("mail", "list", "bob@example.test", "--folder", "Nope",
            expect=1)
    ctl.run("mail", "list", "nobody@example.test", expect=1)
    ctl.run("mail", "import", "bob@example.test", ctl.path("nothing"),
            expect=1)
    ctl.run("mail", "import", "nobody@example.test", md, expect=1)
    ctl.run("mail", "import", "bob@example.test", expect=2)

    # --- mail import: mbox, .eml, directory ------------------------------
    mbox = (b"From x@example.org Thu Sep  5 23:42:38 2002\n" +
            MSG1.replace(b"\nFrom the", b"\n>From the").replace(
                b"\n>From quoted", b"\n>>From quoted") + b"\n" +
            b"From y@example.org Fri Sep  6 01:00:00 2002\n" +
            b"Status: RO\nSubject: second\n\nbody\n")
    write(ctl.path("in.mbox"), mbox)
    out, _ = ctl.run("mail", "import", "carol@example.test",
                     ctl.path("in.mbox"), "--folder", "Old")
    check("2 messages imported" in out, "mbox gives two messages", out)
    old = ctl.json("mail", "list", "carol@example.test", "--folder", "Old")
    # The envelope sender stays as Return-Path (issue 12).
    check(old[0]["size"] == len(b"Return-Path: <x@example.org>\n" + MSG1)
          and old[0]["date"] == "2002-09-05T23:42:38Z",
          "mbox message unescaped, date from the From line, sender kept",
          old)
    check(old[1]["flags"] == ["\\Seen"], "Status: RO gives \\Seen", old)
    write(ctl.path("one.eml"), MSG2)
    ctl.run("mail", "import", "carol@example.test", ctl.path("one.eml"))
    emldir = ctl.path("emls")
    write(os.path.join(emldir, "a.eml"), MSG3)
    write(os.path.join(emldir, "b.eml"),
          b"From z@example.org Sat Sep  7 00:00:00 2002\n" + MSG4)
    write(os.path.join(emldir, ".hidden"), b"not mail")
    out, _ = ctl.run("mail", "import", "carol@example.test", emldir,
                     "--folder", "Dir")
    check("2 messages imported" in out, "directory import: two files", out)
    d = ctl.json("mail", "list", "carol@example.test", "--folder", "Dir")
    check(sorted(m["size"] for m in d) == sorted([len(MSG3), len(MSG4)]),
          "leading From line dropped, nothing else changed", d)

    # --- mail export: Maildir and mbox, byte for byte ---------------------
    out_md = ctl.path("export-md")
    ctl.run("mail", "export", "bob@example.test", out_md)
    got = maildir_files(out_md)
    want = {".": {("", sha(MSG1)), ("FRS", sha(MSG2)), ("PTa", sha(MSG3))},
            ".Sent": {("S", sha(MSG4))}, ".Foo.Bar": {("", sha(MSG1))},
            ".Foo": set(), ".Empty": set(),
            # the default folders every user has from the start
            ".Drafts": set(), ".Trash": set(), ".Spam": set(),
            ".Archive": set()}
    got = {k: v for k, v in got.items()}
    for k in want:
        got.setdefault(k, set())
    check(got == want, "Maildir export: folders, flags and bytes", got)
    with open(os.path.join(out_md, "dovecot-keywords")) as f:
        check(f.read() == "0 $Label1\n", "keywords file written", "")
    check(os.path.exists(os.path.join(out_md, ".Sent", "maildirfolder")),
          "subfolders get a maildirfolder file", os.listdir(out_md))
    _, err = ctl.run("mail", "export", "bob@example.test", out_md, expect=1)
    check("already exists" in err, "export never overwrites", err)
    # Re-import the export into a new user: same content again.
    ctl.run("user", "add", "dave@example.test")
    ctl.run("mail", "import", "dave@example.test", out_md)
    out_md2 = ctl.path("export-md2")
    ctl.run("mail", "export", "dave@example.test", out_md2)
    got2 = maildir_files(out_md2)
    for k in want:
        got2.setdefault(k, set())
    check(got2 == want, "Maildir export -> import -> export is stable",
          got2)
    one = ctl.path("export-one")
    ctl.run("mail", "export", "bob@example.test", one, "--folder", "Sent")
    check(maildir_files(one) == {".": {("S", sha(MSG4))}},
          "--folder exports one folder as the Maildir", maildir_files(one))

    mb = ctl.path("bob.mbox")
    ctl.run("mail", "export", "bob@example.test", mb, "--format", "mbox")
    with open(mb, "rb") as f:
        mtext = f.read()
    check(mtext.startswith(b"From MAILER-DAEMON ") and
          b"\n>From the start" in mtext and b"\n>>From quoted" in mtext,
          "mbox export escapes From lines (mboxrd)", mtext[:300])
    check(b"From x@example.org " in mtext,
          "envelope sender from Return-Path", mtext)
    ctl.run("user", "add", "erin@example.test")
    ctl.run("mail", "import", "erin@example.test", mb)
    erin = ctl.path("erin-md")
    ctl.run("mail", "export", "erin@example.test", erin)
    hashes = sorted(h for _, h in maildir_files(erin)["."])
    check(hashes == sorted([sha(MSG1), sha(MSG2), sha(MSG3)]),
          "mbox export -> import keeps every message byte for byte "
          "(CRLF, no final newline, From lines)", hashes)
    mb2 = ctl.path("erin.mbox")
    ctl.run("mail", "export", "erin@example.test", mb2, "--format", "mbox")
    with open(mb2, "rb") as f:
        check(f.read() == mtext, "mbox re-export is identical", "")
    ctl.run("mail", "export", "bob@example.test", mb, "--format", "mbox",
            expect=1)
    ctl.run("mail", "export", "bob@example.test", ctl.path("x"),
            "--format", "zip", expect=2)
    ctl.run("mail", "export", "bob@example.test", ctl.path("y"),
            "--folder", "Nope", expect=1)
    out, _ = ctl.run("mail", "export", "bob@example.test", "-", "--format",
                     "mbox", "--folder", "Sent", binary_out=True)
    check(MSG4 in out, "mbox export to stdout", out[:200])

    # --- export: keyword letters are the store's, stable -------------------
    # "first" gets letter a when first used; expunging the only message
    # with it must not give "second" its letter (names would change).
    ctl.run("user", "add", "kw@example.test")
    for i, (name, kw) in enumerate((("first", "a"), ("second", "a"))):
        d = ctl.path("kw-md%d" % i)
        write(os.path.join(d, "cur", "170000000%d.M%d.h:2,S%s" % (i, i, kw)),
              MSG1 if i == 0 else MSG2)
        write(os.path.join(d, "dovecot-keywords"),
              ("0 %s\n" % name).encode())
        ctl.run("mail", "import", "kw@example.test", d)
    kwmsgs = ctl.json("mail", "list", "kw@example.test")
    check([m["flags"] for m in kwmsgs] ==
          [["\\Seen", "first"], ["\\Seen", "second"]],
          "two messages, one keyword each", kwmsgs)
    ctl.run("mail", "delete", "kw@example.test", str(kwmsgs[0]["uid"]))
    kwout = ctl.path("kw-export")
    ctl.run("mail", "export", "kw@example.test", kwout)
    with open(os.path.join(kwout, "dovecot-keywords")) as f:
        kwfile = f.read()
    check(kwfile == "0 first\n1 second\n",
          "dovecot-keywords is the folder's list, in first-use order, "
          "with a keyword no message has any more", kwfile)
    check(maildir_files(kwout)["."] == {("Sb", sha(MSG2))},
          "the remaining message keeps letter b", maildir_files(kwout))
    ctl.run("user", "del", "kw@example.test")

    # --- quotas --------------------------------------------------------------
    q = ctl.json("quota", "show", "bob@example.test")
    check(q["used_messages"] == 5 and q["quota_bytes"] == 500 << 20,
          "quota show --json: usage and limit", q)
    ctl.run("quota", "set", "bob@example.test", "100", "--messages", "3")
    q = ctl.json("quota", "show", "bob@example.test")
    check(q["quota_bytes"] == 100 and q["quota_messages"] == 3 and
          q["percent"] is not None and q["percent"] > 100,
          "quota set lowers the limits", q)
    check(q["over_quota_since"] is not None,
          "over the new limit: over quota since now", q)
    rep = {r["address"]: r for r in ctl.json("quota", "report")}
    check(rep["bob@example.test"]["days_left"] == 5,
          "days left before disablement, default grace 5",
          rep["bob@example.test"])
    rep = {r["address"]: r for r in ctl.json(
        "quota", "report", "--grace-days", "2")}
    check(rep["bob@example.test"]["days_left"] == 2, "--grace-days",
          rep["bob@example.test"])
    out, _ = ctl.run("-c", conf, "quota", "report", "--json", data=False)
    check('"days_left": 9' in out, "[quota] grace_days from the config",
          out)
    out, _ = ctl.run("quota", "report")
    check("bob@example.test" in out and "ADDRESS" in out,
          "quota report prints a table", out)
    ctl.run("quota", "set", "bob@example.test", "2G", "--messages", "0")
    q = ctl.json("quota", "show", "bob@example.test")
    check(q["over_quota_since"] is None and q["quota_bytes"] == 2 << 30,
          "raising the limit clears over quota", q)
    ctl.run("quota", "set", "bob@example.test", "lots", expect=2)
    ctl.run("quota", "set", "nobody@example.test", "1G", expect=1)
    ctl.run("quota", "report", "--grace-days", "x", expect=2)

    # --- mail delete and user enable over quota --------------------------
    # frank gets 3 messages (import ignores quotas) over limits of 1K and
    # 2 messages; every one is deleted again by the end of this part.
    ctl.run("user", "add", "frank@example.test", "--quota", "1K",
            "--quota-messages", "2")
    fdir = ctl.path("frank")
    fmsgs = [b"Subject: frank %d\n\n" % i + b"x" * 600 + b"\n"
             for i in range(3)]
    for i, m in enumerate(fmsgs):
        write(os.path.join(fdir, "%d.eml" % i), m)
    ctl.run("mail", "import", "frank@example.test", fdir)
    inbox = ctl.json("mail", "list", "frank@example.test")
    check([m["uid"] for m in inbox] == [1, 2, 3], "frank has UIDs 1-3",
          inbox)
    ctl.run("user", "disable", "frank@example.test", "--reason",
            "over quota for 5 days")
    u = ctl.json("user", "show", "frank@example.test")
    check(u["disabled"] and u["disabled_reason"] == "over quota for 5 days"
          and u["disabled_since"] is not None and
          u["over_quota_since"] is not None and u["over_limit"] is True,
          "user show --json: disabled, reason, since, over quota since", u)
    out, _ = ctl.run("user", "show", "frank@example.test")
    check("disabled since" in out and "over quota for 5 days" in out and
          "usage is over the limit" in out,
          "user show: state, reason and over quota", out)
    _, err = ctl.run("user", "enable", "frank@example.test", expect=1)
    check("still over quota" in err and "3 messages, quota 2 messages" in err
          and "quota 1K (1024 bytes)" in err,
          "user enable over quota refused with the numbers", err)
    check("vellumctl mail delete" in err and "vellumctl quota set" in err,
          "the refusal says what to do", err)
    check(ctl.json("user", "show", "frank@example.test")["disabled"],
          "a refused enable leaves the user disabled", "")

    _, err = ctl.run("mail", "delete", "frank@example.test", "1", "7", "99",
                     expect=1)
    check("UIDs 7, 99" in err and "nothing deleted" in err,
          "mail delete names the missing UIDs", err)
    check(len(ctl.json("mail", "list", "frank@example.test")) == 3,
          "a missing UID deletes nothing (all or none)", "")
    ctl.run("mail", "delete", "frank@example.test", expect=2)
    ctl.run("mail", "delete", "frank@example.test", "1", "--all", expect=2)
    ctl.run("mail", "delete", "frank@example.test", "one", expect=2)
    ctl.run("mail", "delete", "frank@example.test", "0", expect=2)
    ctl.run("mail", "delete", "frank@example.test", "--folder", "", "1",
            expect=2)
    ctl.run("mail", "delete", expect=2)
    _, err = ctl.run("mail", "delete", "frank@example.test", "--folder",
                     "Nope", "1", expect=1)
    check("no folder 'Nope'" in err, "unknown folder named", err)
    ctl.run("mail", "delete", "nobody@example.test", "1", expect=1)

    d = ctl.json("mail", "delete", "frank@example.test", "1")
    check(d["deleted"] == 1 and d["bytes"] == len(fmsgs[0]) and
          d["used_messages"] == 2 and
          d["used_bytes"] == len(fmsgs[1]) + len(fmsgs[2]) and
          d["folder"] == "INBOX",
          "mail delete --json: count, bytes, usage after", d)
    q = ctl.json("quota", "show", "frank@example.test")
    check(q["used_messages"] == 2, "usage is updated in the store", q)
    _, err = ctl.run("user", "enable", "frank@example.test", expect=1)
    check("quota 1K (1024 bytes)" in err and "messages" not in err,
          "still over the byte limit only: only bytes are named", err)
    out, _ = ctl.run("mail", "delete", "frank@example.test", "2", "2")
    check("1 message " in out and "usage now" in out,
          "a UID given twice is deleted once", out)
    out, _ = ctl.run("user", "enable", "frank@example.test")
    check("enabled" in out, "user enable works once under quota", out)
    u = ctl.json("user", "show", "frank@example.test")
    check(not u["disabled"] and u["disabled_since"] is None and
          u["disabled_reason"] == "" and u["over_quota_since"] is None,
          "enabled: no reason, no disabled since, over quota cleared", u)
    out, _ = ctl.run("user", "enable", "frank@example.test")
    check("not disabled" in out, "enabling an enabled user is a no-op", out)
    out, _ = ctl.run("mail", "delete", "frank@example.test", "--all",
                     "--folder", "inbox")
    check("1 message " in out and "usage now 0, 0 messages" in out,
          "--all deletes the rest", out)
    check(ctl.json("mail", "list", "frank@example.test") == [],
          "frank's INBOX is empty", "")
    out, _ = ctl.run("mail", "delete", "frank@example.test", "--all")
    check("0 messages" in out, "--all on an empty folder deletes nothing",
          out)
    ctl.run("user", "del", "frank@example.test")

    # --- the outbound queue ----------------------------------------------
    check(ctl.json("queue", "list") == [], "the queue starts empty", "")
    out, _ = ctl.run("queue", "list")
    check("the queue is empty" in out, "queue list says it is empty", out)
    ctl.run("queue", "list", "extra", expect=2)
    ctl.run("queue", "del", expect=2)
    ctl.run("queue", "del", "x1", expect=2)
    ctl.run("queue", "del", "12345678901234567", expect=2)
    ctl.run("queue", "del", "0", expect=2)
    _, err = ctl.run("queue", "del", "12345", expect=1)
    check("no queue entry 0000000000012345" in err, "queue del names a missing ID",
          err)
    if args:
        ids = []
        for rcpts in (["a@far.example", "b@far.example"], ["c@x.example"]):
            p = subprocess.run([args[0], ctl.data, "queue"] + rcpts,
                               capture_output=True, text=True, timeout=60)
            check(p.returncode == 0 and p.stdout.startswith("queued "),
                  "store-helper queues a message", (p.stdout, p.stderr))
            ids.append(p.stdout.split()[1])
        ql = ctl.json("queue", "list")
        check([e["id"] for e in ql] == ids, "queue list has both entries",
              ql)
        e = ql[0]
        check(e["sender"] == "helper@example.test" and
              [r["address"] for r in e["recipients"]] ==
              ["a@far.example", "b@far.example"] and
              e["size"] > 0 and e["attempts"] == 0 and
              re.match(r"\d{4}-\d\d-\d\dT", e["queued"]) and
              "next_try" in e,
              "queue list --json: sender, recipients, size, times", e)
        out, _ = ctl.run("queue", "list")
        check("-> a@far.example\n    -> b@far.example" in out and
              "<helper@example.test>" in out and out.startswith("ID "),
              "queue list prints a table", out)
        _, err = ctl.run("queue", "del", ids[0], "999", expect=1)
        check("999" in err and "nothing changed" in err,
              "queue del with a missing ID removes nothing", err)
        check(len(ctl.json("queue", "list")) == 2, "both still queued", "")
        out, _ = ctl.run("queue", "del", ids[0].lower())
        check("1 entry removed" in out, "queue del removes one", out)
        check([e["id"] for e in ctl.json("queue", "list")] == ids[1:],
              "the other entry stays", "")
        out, _ = ctl.run("store", "check")
        check(out.startswith("store check: ok"),
              "store check counts the queue's body references", out)
        ctl.run("queue", "del", ids[1], ids[1])
        check(ctl.json("queue", "list") == [], "the queue is empty again",
              "")

    # --- locks -----------------------------------------------------------
    check(ctl.json("lock", "list") == [], "no locks at first", "")
    out, _ = ctl.run("lock", "clear", "bob@example.test")
    check("no locks" in out, "clearing nothing says so", out)
    out, _ = ctl.run("lock", "clear", "--stale")
    check("0 stale locks cleared" in out, "lock clear --stale", out)
    ctl.run("lock", "clear", expect=2)
    ctl.run("lock", "clear", "bob@example.test", "--stale", expect=2)

    # --- store -----------------------------------------------------------
    st = ctl.json("store", "stats")
    check(st["messages"] == 18 and st["raw_bytes"] > 0 and
          st["blob_bytes"] > 0 and st["dedup_ratio"] >= 1.0,
          "store stats --json counts every message row", st)
    out, _ = ctl.run("store", "check")
    check(out.startswith("store check: ok, 18 messages"),
          "store check is clean", out)
    bk = ctl.path("backup")
    ctl.run("store", "backup", bk)
    out, _ = ctl.run("-d", bk, "store", "check", data=False)
    check("store check: ok, 18 messages" in out, "backup is a clean store",
          out)
    ctl.run("store", "backup", bk, expect=1)

    # --- deletions ---------------------------------------------------------
    ctl.run("domain", "del", "example.test", expect=1)
    ctl.run("user", "del", "dave@example.test")
    ctl.run("user", "del", "dave@example.test", expect=1)
    ctl.run("addr", "del", "sales@example.test")
    ctl.run("addr", "del", "sales@example.test", expect=1)
    out, _ = ctl.run("store", "check")
    check(out.startswith("store check: ok"), "store check after deletes",
          out)
    return 0


if __name__ == "__main__":
    main(test)
