#!/usr/bin/env python3
"""The admin commands people reach for (issue 12), with the real vellumctl
and vellum-imapd on loopback:

- addr resolve: the routing deliver/ applies (mailbox, alias with its
  targets, catch-all, alias domain, list, forward, transport of a remote
  domain, refusal with its SMTP reply, quota state, filter and vacation
  present), and it writes nothing;
- user list --domain;
- user rename: mail, quota and password kept, aliases follow, an existing
  NEW refused, refused while a POP3/delivery lock of the user is held;
- mailbox list: folders with counts, unseen and size;
- mail expunge --before (date and duration, --dry-run), quota usage
  updated, an IDLE session sees EXPUNGE;
- auth test: ok / unknown user / wrong password / disabled / locked, the
  password from stdin, exit 0/1, no failure counted;
- --json on every command parses as JSON (mail import and export too);
- vellumctl as a user who cannot open the store says permission denied,
  naming the path and its owner;
- store backup keeps the store's mode whatever the umask;
- store optimize (issue 13): 1,205 deliveries train no dictionary, store
  optimize does and the store checks clean, a second one has nothing to
  do; mail import of 1,100 messages ends with the dictionaries trained.

Usage: test_admin_cmds.py BUILD_DIR STORE_HELPER"""
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imaptest import Failure, check, run  # noqa: E402

OLD = 1000000000          # 2001-09-09: "saved" long ago
BOB, BOB_PW = "bob@a.test", "bob-secret"


def ctl(site, *args, expect=0, input=None, umask=None, user=None):
    """vellumctl on the site's data dir: (stdout, stderr)."""
    argv = [site.binary("vellumctl"), "-d", site.data] + [str(a)
                                                          for a in args]
    if user is not None:
        argv = ["setpriv", "--reuid=%d" % user.pw_uid,
                "--regid=%d" % user.pw_gid, "--clear-groups"] + argv
    p = subprocess.run(argv, input=input.encode() if input else None,
                       capture_output=True, timeout=120,
                       preexec_fn=(lambda: os.umask(umask))
                       if umask is not None else None)
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    if expect is not None and p.returncode != expect:
        raise Failure("vellumctl %s: exit %d, expected %d\nstdout: %s\n"
                      "stderr: %s" % (" ".join(map(str, args)),
                                      p.returncode, expect, out, err))
    return out, err


def jctl(site, *args, expect=0, input=None):
    out, _ = ctl(site, "--json", *args, expect=expect, input=input)
    try:
        return json.loads(out)
    except ValueError as e:
        raise Failure("vellumctl --json %s: not JSON (%s): %r" % (
            " ".join(map(str, args)), e, out[:2000]))


def maildir(site, name, msgs):
    """A Maildir with (time, flags, bytes) messages; its path."""
    d = site.path(name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i, (t, flags, data) in enumerate(msgs):
        sub = "cur" if flags is not None else "new"
        fn = "%d.M%dP1.host%s" % (t, i, (":2," + flags) if flags is not None
                                  else "")
        path = os.path.join(d, sub, fn)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (t, t))
    return d


def resolve_checks(site):
    ctl(site, "domain", "add", "a.test")
    ctl(site, "domain", "add", "b.test")
    ctl(site, "domain", "alias", "alias.test", "a.test")
    ctl(site, "user", "add", BOB, "--password-stdin", "--quota", "10M",
        input=BOB_PW + "\n")
    ctl(site, "user", "add", "carol@a.test", "--password-stdin",
        input="carol-pw\n")
    ctl(site, "user", "add", "dave@b.test")
    ctl(site, "addr", "add", "info@a.test", BOB, "carol@a.test",
        "ext@remote.test")
    ctl(site, "addr", "add", "@b.test", "dave@b.test")
    ctl(site, "list", "add", "team@a.test", "--name", "Team")
    ctl(site, "list", "member", "add", "team@a.test", BOB, "out@far.test")
    ctl(site, "transport", "set", "remote.test", "[relay.test]:587",
        "tls=encrypt")
    ctl(site, "vacation", "set", BOB, "--subject", "away", "--body", "x")
    f = site.path("bob.filter")
    with open(f, "w") as fp:
        fp.write("if (/^Subject: spam/)\n  to Spam\n")
    ctl(site, "filter", "set", BOB, f)

    # A mailbox: the route, quota state, filter and vacation present.
    r = jctl(site, "addr", "resolve", BOB)
    check(r["result"] == "local" and r["code"] == 250 and
          [t["address"] for t in r["targets"]] == [BOB],
          "a mailbox resolves to itself, 250", r)
    t = r["targets"][0]
    check(t["type"] == "mailbox" and t["quota_bytes"] == 10 * 1024 * 1024
          and t["used_bytes"] == 0 and t["filter"] is True and
          t["vacation"] is True and t["full"] is False,
          "quota state, filter and vacation of the mailbox", t)
    out, _ = ctl(site, "addr", "resolve", BOB)
    check("delivered here" in out and "filter: yes" in out and
          "vacation auto-reply: on" in out and "quota:" in out,
          "the text form says the same", out)

    # An alias with its targets: two mailboxes and a forward, whose
    # transport is the remote.test row.
    r = jctl(site, "addr", "resolve", "info@a.test")
    got = {(t["type"], t["address"]) for t in r["targets"]}
    check(got == {("mailbox", BOB), ("mailbox", "carol@a.test"),
                  ("forward", "ext@remote.test")},
          "alias expanded to its targets", r)
    fwd = [t for t in r["targets"] if t["type"] == "forward"][0]
    check(fwd["transport"]["row"] == "remote.test" and
          fwd["transport"]["nexthop"] == "[relay.test]:587" and
          fwd["transport"]["tls"] == "encrypt",
          "the forward's transport", fwd)
    check(any("alias " + BOB in s["text"] for s in r["steps"]),
          "the steps name the alias targets", r["steps"])

    # Catch-all, alias domain, +extension.
    r = jctl(site, "addr", "resolve", "anyone@b.test")
    check([t["address"] for t in r["targets"]] == ["dave@b.test"] and
          any("catch-all" in s["text"] for s in r["steps"]),
          "the catch-all of b.test takes anyone@b.test", r)
    r = jctl(site, "addr", "resolve", "bob@alias.test")
    check([t["address"] for t in r["targets"]] == [BOB] and
          any("alias domain" in s["text"] for s in r["steps"]),
          "alias.test is an alias domain of a.test", r)
    r = jctl(site, "addr", "resolve", "bob+tag@a.test")
    check([t["address"] for t in r["targets"]] == [BOB],
          "user+ext goes to user", r)

    # A list: its members, local and remote.
    r = jctl(site, "addr", "resolve", "team@a.test")
    check(r["list"] and r["list"]["name"] == "Team" and
          {t["address"] for t in r["targets"]} == {BOB, "out@far.test"},
          "a list resolves to its members", r)

    # A remote domain: the transport that applies (none: its MX).
    r = jctl(site, "addr", "resolve", "x@remote.test")
    check(r["result"] == "remote" and r["targets"][0]["transport"]["row"]
          == "remote.test", "a remote address with its transport", r)
    r = jctl(site, "addr", "resolve", "x@elsewhere.test")
    check(r["result"] == "remote" and r["targets"][0]["transport"]["via"]
          == "mx", "no transport row: the MX", r)

    # Refused, with the reply SMTP gives.
    r = jctl(site, "addr", "resolve", "nobody@a.test")
    check(r["result"] == "refused" and r["code"] == 550 and
          r["reply"].startswith("5.1.1 <nobody@a.test>: Recipient address "
                                "rejected: User unknown"),
          "an unknown address is refused 550 5.1.1", r)
    ctl(site, "user", "disable", "carol@a.test", "--reason", "left")
    r = jctl(site, "addr", "resolve", "carol@a.test")
    check(r["result"] == "refused" and r["code"] == 550 and
          any("disabled (left)" in s["text"] for s in r["steps"]),
          "a disabled user is refused and the step says why", r)
    r = jctl(site, "addr", "resolve", "info@a.test")
    check("carol@a.test" not in [t["address"] for t in r["targets"]],
          "the alias skips the disabled target", r)
    ctl(site, "user", "enable", "carol@a.test")
    r = jctl(site, "addr", "resolve", BOB, "--size", "20M")
    check(r["code"] == 452 and "Mailbox full" in r["reply"],
          "a message over the quota: 452 4.2.2", r)
    # ... and resolve wrote nothing (deliver_resolve() would start the
    # over-quota clock here).
    q = jctl(site, "quota", "show", BOB)
    check(q.get("over_quota_since") is None, "addr resolve writes nothing "
          "(no over-quota clock)", q)
    ctl(site, "addr", "resolve", expect=2)

    # A bare <postmaster>: smtpd takes it for any host (RFC 5321 4.5.1)
    # as the postmaster@ of the first local domain that has one (here
    # b.test's catch-all); resolve says the same, not 501.
    r = jctl(site, "addr", "resolve", "postmaster")
    check(r["result"] == "local" and r["code"] == 250 and
          r["address"] == "postmaster@b.test" and
          [t["address"] for t in r["targets"]] == ["dave@b.test"],
          "addr resolve postmaster answers as RCPT TO:<postmaster>", r)
    out, _ = ctl(site, "addr", "resolve", "Postmaster")
    check(out.startswith("<postmaster> (RFC 5321: taken for any host) is "
                         "postmaster@b.test\n"), "the text form says which "
          "postmaster", out)


def user_checks(site, helper):
    # user list --domain
    users = jctl(site, "user", "list", "--domain", "a.test")
    check(sorted(u["address"] for u in users) == [BOB, "carol@a.test"],
          "user list --domain a.test", users)
    users = jctl(site, "user", "list", "--domain", "alias.test")
    check(sorted(u["address"] for u in users) == [BOB, "carol@a.test"],
          "an alias domain lists its real domain's users", users)
    out, _ = ctl(site, "user", "list", "--domain", "b.test")
    check(out.split()[0] == "dave@b.test" and "bob" not in out,
          "user list --domain b.test (text)", out)
    _, err = ctl(site, "user", "list", "--domain", "none.test", expect=1)
    check("no domain none.test" in err, "an unknown domain is an error",
          err)

    # user rename: mail, quota, password kept; aliases follow.
    ctl(site, "mail", "import", "carol@a.test", maildir(site, "carolmd", [
        (OLD, "S", b"Subject: one\n\nx\n"),
        (OLD, None, b"Subject: two\n\nyy\n")]))
    ctl(site, "quota", "set", "carol@a.test", "7M")
    before = jctl(site, "mailbox", "list", "carol@a.test")
    _, err = ctl(site, "user", "rename", "carol@a.test", BOB, expect=1)
    check("already exists" in err, "rename onto a user is refused", err)
    _, err = ctl(site, "user", "rename", "carol@a.test", "info@a.test",
                 expect=1)
    check("already an address route" in err, "rename onto a route is "
          "refused", err)
    ctl(site, "user", "rename", "carol@a.test", "carol@none.test",
        expect=1)
    # A POP3 session's lock on the user: refused, nothing changed.
    holder = subprocess.Popen([helper, site.data, "lock",
                               "pop3:carol@a.test", "600", "hold"],
                              stdout=subprocess.PIPE)
    try:
        check(holder.stdout.readline().strip() == b"locked",
              "store-helper took the POP3 lock", "")
        _, err = ctl(site, "user", "rename", "carol@a.test",
                     "caroline@b.test", expect=1)
        check("pop3:carol@a.test" in err or "in use" in err.lower() or
              "using it" in err, "rename refused while POP3 holds the "
              "lock", err)
    finally:
        holder.kill()
        holder.wait()
    ctl(site, "lock", "clear", "carol@a.test")
    r = jctl(site, "user", "rename", "carol@a.test", "Caroline@B.test")
    check(r["ok"] and "caroline@b.test" in r["message"],
          "rename to another domain", r)
    check(jctl(site, "mailbox", "list", "caroline@b.test") == before,
          "the mail moved with the user", before)
    q = jctl(site, "quota", "show", "caroline@b.test")
    check(q["quota_bytes"] == 7 * 1024 * 1024, "the quota is kept", q)
    r = jctl(site, "auth", "test", "caroline@b.test", "carol-pw")
    check(r["ok"], "the password is kept: the new login works", r)
    r = jctl(site, "auth", "test", "carol@a.test", "carol-pw", expect=1)
    check(r["result"] == "unknown user", "the old login is gone", r)
    routes = {x["address"]: x for x in jctl(site, "addr", "list")}
    check("carol@a.test" not in routes and "caroline@b.test" in routes,
          "the user's route moved", routes)
    tg = [x["target"] for x in routes["info@a.test"]["targets"]]
    check("caroline@b.test" in tg and "carol@a.test" not in tg,
          "the alias pointing to it follows", routes["info@a.test"])
    r = jctl(site, "addr", "resolve", "info@a.test")
    check("caroline@b.test" in [t["address"] for t in r["targets"]],
          "mail to the alias reaches the renamed user", r)
    out, _ = ctl(site, "store", "check")
    check("ok" in out, "store check after the rename", out)


def mailbox_expunge_checks(site, helper):
    now = int(time.time())
    ctl(site, "mail", "import", BOB, maildir(site, "bobmd", [
        (OLD, "S", b"Subject: old seen\n\n" + b"a" * 100 + b"\n"),
        (OLD + 60, None, b"Subject: old unseen\n\n" + b"b" * 200 + b"\n"),
        (now - 3600, None, b"Subject: new\n\nc\n")]))
    ctl(site, "mail", "import", BOB, maildir(site, "bobarch", [
        (OLD, "S", b"Subject: archived\n\nd\n")]), "--folder", "Archive")
    boxes = {b["folder"]: b for b in jctl(site, "mailbox", "list", BOB)}
    check(set(boxes) >= {"INBOX", "Archive", "Sent", "Trash"},
          "mailbox list names every folder", boxes)
    inbox = boxes["INBOX"]
    check(inbox["messages"] == 3 and inbox["unseen"] == 2 and
          inbox["bytes"] > 300, "INBOX: 3 messages, 2 unseen, bytes",
          inbox)
    check(boxes["Archive"]["messages"] == 1 and boxes["Sent"]["messages"]
          == 0, "Archive 1, Sent 0", boxes)
    out, _ = ctl(site, "mailbox", "list", BOB)
    check(re.search(r"^INBOX\s+3\s+2\s", out, re.M) and "(total)" in out,
          "the text table", out)
    ctl(site, "mailbox", "list", "nobody@a.test", expect=1)

    # An IMAP session idles in INBOX.
    site.start_imapd(conf=False)
    r = site.raw()
    r.cmd("a LOGIN %s %s" % (BOB, BOB_PW))
    r.cmd("b SELECT INBOX")
    r.send("c IDLE\r\n")
    check(r.line() == b"+ idling", "IDLE", r.buf)

    used = jctl(site, "quota", "show", BOB)["used_bytes"]
    d = jctl(site, "mail", "expunge", BOB, "--folder", "INBOX", "--before",
             "2010-01-01", "--dry-run")
    check(d["dry_run"] and d["messages"] == 2, "--dry-run counts the two "
          "old ones", d)
    boxes = {b["folder"]: b for b in jctl(site, "mailbox", "list", BOB)}
    check(boxes["INBOX"]["messages"] == 3, "--dry-run expunges nothing",
          boxes)
    out, _ = ctl(site, "mail", "expunge", BOB, "--folder", "INBOX",
                 "--before", "30d", "--dry-run")
    check("2 messages" in out and "dry run" in out, "dry run text with "
          "a duration", out)
    d = jctl(site, "mail", "expunge", BOB, "--folder", "INBOX",
             "--before", "30d")
    check(d["messages"] == 2 and not d["dry_run"] and
          d["used_bytes"] == used - d["bytes"] and d["bytes"] > 300,
          "two old messages expunged, usage down by their size", d)
    # The idling session sees both EXPUNGEs.
    got = []
    r.s.settimeout(10)
    try:
        while sum(1 for x in got if x.endswith(b" EXPUNGE")) < 2:
            got.append(r.line())
    except OSError:
        raise Failure("IDLE saw no EXPUNGE after mail expunge: %r" % got)
    exp = [x for x in got if x.endswith(b" EXPUNGE")]
    check(sorted(exp) in ([b"* 1 EXPUNGE"] * 2,
                          [b"* 1 EXPUNGE", b"* 2 EXPUNGE"]),
          "EXPUNGEs of messages 1 and 2", got)
    r.send("DONE\r\n")
    r.until_tagged("c")
    r.cmd("d LOGOUT")
    boxes = {b["folder"]: b for b in jctl(site, "mailbox", "list", BOB)}
    check(boxes["INBOX"]["messages"] == 1 and boxes["Archive"]["messages"]
          == 1, "the new message and the other folder are kept", boxes)
    q = jctl(site, "quota", "show", BOB)
    check(q["used_bytes"] == d["used_bytes"] and q["used_messages"] == 2,
          "quota usage updated", q)
    ctl(site, "mail", "expunge", BOB, "--folder", "INBOX", "--before",
        "yesterday", expect=2)
    ctl(site, "mail", "expunge", BOB, "--before", "30d", expect=2)
    ctl(site, "mail", "expunge", BOB, "--folder", "Nope", "--before",
        "30d", expect=1)
    # More than one batch (1000 a transaction): every one goes.
    ctl(site, "user", "add", "big@a.test")
    p = subprocess.run([helper, site.data, "append", "big@a.test", "1205"],
                       capture_output=True, timeout=300)
    check(p.returncode == 0 and p.stdout.count(b"appended") == 1205,
          "store-helper appended 1205 messages", p.stderr)
    # Delivery never trains the zstd dictionaries: store optimize does.
    st = jctl(site, "store", "stats")
    check(st["messages"] >= 1205 and st["dicts"] == 0,
          "no dictionary after 1205 deliveries", st)
    o = jctl(site, "store", "optimize")
    check(o["trained"] >= 1 and o["header_dict"] > 0 and
          o["recompressed"] > 0 and o["transactions"] > 1,
          "store optimize trains and compresses again in small "
          "transactions", o)
    check(jctl(site, "store", "stats")["dicts"] == o["trained"],
          "store stats counts the dictionaries", o)
    out, _ = ctl(site, "store", "check")
    check("ok" in out, "store check after store optimize", out)
    o = jctl(site, "store", "optimize")
    check(o["trained"] == 0 and o["recompressed"] == 0,
          "a second store optimize has nothing to do", o)
    out, _ = ctl(site, "store", "optimize")
    check(out.startswith("store optimize: 0 new dictionaries"),
          "store optimize text output", out)
    d = jctl(site, "mail", "expunge", "big@a.test", "--folder", "INBOX",
             "--before", "2100-01-01")
    check(d["messages"] == 1205 and d["used_messages"] == 0 and
          d["used_bytes"] == 0, "1205 messages expunged in batches", d)
    out, _ = ctl(site, "store", "check")
    check("ok" in out, "store check after the expunge", out)


def import_optimize_checks(site):
    """mail import runs store optimize between its batches (a store of
    its own: the shared one has dictionaries already)."""
    data = site.path("impdata")
    os.makedirs(data)

    def vc(*args):
        p = subprocess.run([site.binary("vellumctl"), "-d", data, "--json"]
                           + list(args), capture_output=True, timeout=300)
        if p.returncode != 0:
            raise Failure("vellumctl %s: exit %d: %s" % (
                " ".join(args), p.returncode, p.stderr.decode()))
        return json.loads(p.stdout)

    words = ("mail store server list reply patch build release thanks "
             "meeting the of and to in is for").split()
    msgs = []
    for i in range(1100):
        body = " ".join(words[(i * 7 + k * 3 + k * k) % len(words)]
                        for k in range(40 + i % 60))
        msgs.append((OLD + i, "S", (
            "From: sender%d@example.org\nTo: imp@a.test\nSubject: "
            "topic %d of the list\nMessage-ID: <%d.imp@example.org>\n"
            "Content-Type: text/plain; charset=us-ascii\n\n%d %s\n-- \n"
            "list footer: https://lists.example.org/list\n"
            % (i % 97, i, i, i, body)).encode()))
    d = maildir(site, "impdict", msgs)
    vc("domain", "add", "a.test")
    vc("user", "add", "imp@a.test")
    r = vc("mail", "import", "imp@a.test", d)
    check(r["imported"] == 1100, "1100 messages imported", r)
    st = vc("store", "stats")
    check(st["dicts"] == 3, "mail import trained the three dictionaries "
          "(headers, bodies, IMAP records)", st)
    o = vc("store", "optimize")
    check(o["trained"] == 0 and o["recompressed"] == 0 and
          o["imap_records"] == 0 and o["header_dict"] > 0 and
          o["body_dict"] > 0 and o["imap_dict"] > 0,
          "mail import left nothing for store optimize to do", o)
    o = vc("store", "optimize", "--retrain")
    check(o["trained"] == 3 and o["recompressed"] > 0 and
          o["imap_records"] == 1100 and o["dicts_deleted"] == 3,
          "store optimize --retrain: new dictionaries, the old ones "
          "deleted", o)
    c = vc("store", "check")
    check(c["ok"], "store check after the import and a retrain", c)


def auth_checks(site):
    r = jctl(site, "auth", "test", BOB, BOB_PW)
    check(r["ok"] and r["result"] == "ok", "auth test: ok", r)
    out, _ = ctl(site, "auth", "test", BOB, input=BOB_PW + "\n")
    check("ok" in out, "the password read from stdin", out)
    r = jctl(site, "auth", "test", BOB, "wrong", expect=1)
    check(r["result"] == "wrong password", "wrong password, exit 1", r)
    r = jctl(site, "auth", "test", "ghost@a.test", "x", expect=1)
    check(r["result"] == "unknown user", "unknown user, exit 1", r)
    ctl(site, "user", "disable", "dave@b.test", "--reason", "unpaid")
    ctl(site, "user", "passwd", "dave@b.test", input="dave-pw\n")
    r = jctl(site, "auth", "test", "dave@b.test", "dave-pw", expect=1)
    check(r["result"] == "disabled" and "unpaid" in r["reason"],
          "disabled, with its reason", r)
    check(jctl(site, "auth", "list") == [], "auth test counts no "
          "failure", "")
    # Failed IMAP logins lock bob out (fail_max 2): auth test says so.
    for i in range(3):
        r = site.raw()
        r.cmd("x%d LOGIN %s nope" % (i, BOB))
        r.close()
    recs = jctl(site, "auth", "list")
    check(any(x["user"] == BOB and x["locked_until"] for x in recs),
          "imapd locked bob out after failed logins", recs)
    r = jctl(site, "auth", "test", BOB, BOB_PW, expect=1)
    check(r["result"] == "locked" and r["locked_from"] == 1,
          "a right password on a locked user: locked", r)
    out, _ = ctl(site, "auth", "test", BOB, BOB_PW, expect=1)
    check("127.0.0.1" in out and "unban" in out, "locked: from where and "
          "how to lift it", out)
    check(jctl(site, "auth", "list") == recs, "auth test changed no "
          "failure record", recs)
    ctl(site, "auth", "unban", "--all")


def json_checks(site, helper):
    """Every command prints one JSON value with --json."""
    f = site.path("f2.filter")
    with open(f, "w") as fp:
        fp.write("to Spam\n")
    users = site.path("users.txt")
    with open(users, "w") as fp:
        fp.write("erin@a.test pw\n")
    virt = site.path("virtual")
    with open(virt, "w") as fp:
        fp.write("sales@a.test bob@a.test\n")
    cmds = [
        ("domain", "add", "j.test"), ("domain", "list"),
        ("domain", "alias", "jj.test", "j.test"),
        ("domain", "set", "j.test", "sender-login-match", "yes"),
        ("user", "add", "u@j.test"), ("user", "list"),
        ("user", "show", "u@j.test"),
        ("user", "passwd", "u@j.test", "--hash", "{PLAIN}x"),
        ("user", "disable", "u@j.test", "--reason", "r"),
        ("user", "enable", "u@j.test"),
        ("user", "set", "u@j.test", "unix-user", "-"),
        ("user", "import", users), ("user", "rename", "u@j.test", "v@j.test"),
        ("addr", "add", "w@j.test", "v@j.test"), ("addr", "list"),
        ("addr", "del", "w@j.test"), ("addr", "import", virt),
        ("addr", "export"), ("addr", "export", site.path("exp.map")),
        ("addr", "resolve", "v@j.test"),
        ("mailbox", "list", "v@j.test"),
        ("mail", "list", BOB), ("mail", "delete", BOB, "--folder",
                                "Archive", "--all"),
        ("mail", "expunge", BOB, "--folder", "INBOX", "--before", "1d"),
        ("mail", "export", BOB, site.path("jexport")),
        ("mail", "export", BOB, site.path("jexport.mbox"), "--format",
         "mbox"),
        ("mail", "import", BOB, site.path("jexport.mbox"), "--folder",
         "Again"),
        ("quota", "show", BOB), ("quota", "set", BOB, "20M"),
        ("quota", "report"), ("queue", "list"), ("queue", "flush"),
        ("transport", "set", "t.test", "[h.test]:25"), ("transport", "list"),
        ("transport", "del", "t.test"),
        ("transport", "source", "set", "*", "127.0.0.1"),
        ("transport", "source", "list"), ("transport", "source", "del", "*"),
        ("lock", "list"), ("lock", "clear", "--stale"),
        ("lock", "clear", BOB),
        ("auth", "list"), ("auth", "unban", "--all"),
        ("auth", "test", BOB, BOB_PW),
        ("rate", "list"), ("rate", "unblock", "--all"),
        ("store", "stats"), ("store", "check"), ("store", "optimize"),
        ("store", "backup", site.path("jbackup")),
        ("vacation", "set", BOB, "--subject", "s", "--body", "b"),
        ("vacation", "get", BOB), ("vacation", "off", BOB),
        ("vacation", "del", BOB),
        ("list", "add", "l@j.test"), ("list", "set", "l@j.test", "--name",
                                      "L"),
        ("list", "member", "add", "l@j.test", "v@j.test"),
        ("list", "members", "l@j.test"), ("list", "show", "l@j.test"),
        ("list", "ls"), ("list", "del", "l@j.test"),
        ("filter", "set", BOB, f), ("filter", "get", BOB),
        ("filter", "check", BOB), ("filter", "del", BOB),
        ("user", "del", "v@j.test"),
    ]
    p = subprocess.run([helper, site.data, "queue", "x@remote.test"],
                       capture_output=True, timeout=60)
    qid = p.stdout.decode().split()[-1]
    cmds += [("queue", "show", qid), ("queue", "hold", qid),
             ("queue", "release", qid), ("queue", "del", qid)]
    for c in cmds:
        v = jctl(site, *c)
        check(isinstance(v, (dict, list)), "%s --json: an object or a "
              "list" % " ".join(c), v)
    # flags as a JSON list
    msgs = jctl(site, "mail", "list", BOB)
    check(all(isinstance(m["flags"], list) for m in msgs),
          "mail list: flags are a JSON list", msgs)
    # Errors stay on stderr with exit 1, stdout empty.
    out, err = ctl(site, "--json", "user", "show", "ghost@a.test", expect=1)
    check(out == "" and err.startswith("vellumctl: "), "a --json error "
          "goes to stderr", (out, err))


def perm_and_backup_checks(site):
    # The backup keeps the live store's mode whatever the umask.
    live = os.stat(os.path.join(site.data, "store", "data.mdb")).st_mode
    dest = site.path("backup-umask0")
    ctl(site, "store", "backup", dest, umask=0)
    got = os.stat(os.path.join(dest, "store", "data.mdb")).st_mode
    check(stat.S_IMODE(got) == stat.S_IMODE(live) == 0o600,
          "backup data.mdb keeps the store's 0600 under umask 0",
          (oct(got), oct(live)))
    p = subprocess.run([site.binary("vellumctl"), "-d", dest, "store",
                        "check"], capture_output=True, timeout=120)
    check(p.returncode == 0 and b"ok" in p.stdout, "the backup opens and "
          "checks", p.stdout + p.stderr)

    # Someone who may not open the store is told so.
    if os.geteuid() != 0:
        return
    nobody = pwd.getpwnam("nobody")
    os.chmod(site.tmp, 0o755)
    os.chmod(site.data, 0o755)
    os.chmod(os.path.join(site.data, "store"), 0o700)
    _, err = ctl(site, "user", "list", expect=1, user=nobody)
    check("permission denied" in err.lower() and
          os.path.join(site.data, "store") in err and "root" in err and
          "create one" not in err,
          "permission denied, naming the path and its owner", err)


def test(site, args):
    if not args:
        raise Failure("usage: test_admin_cmds.py BUILD_DIR STORE_HELPER")
    helper = os.path.abspath(args[0])
    site.write_imap_conf(auth={"fail_max": "2"})
    out, _ = ctl(site, "--help")
    for c in ("addr resolve", "user rename", "mailbox list",
              "mail expunge", "auth test", "user list [--domain"):
        check(c in out, "--help lists '%s'" % c, out)
    out, _ = ctl(site, "mailbox", "--help")
    check("mailbox list" in out, "vellumctl mailbox --help", out)
    resolve_checks(site)
    user_checks(site, helper)
    mailbox_expunge_checks(site, helper)
    import_optimize_checks(site)
    auth_checks(site)
    json_checks(site, helper)
    perm_and_backup_checks(site)


run(test)
