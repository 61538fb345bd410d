"""vellum-sendmail against a temporary store made with vellumctl: local
delivery, external recipients queued, -t (Bcc removed, Resent-*), -f for
trusted and untrusted callers, -i and the "." line, -bs, exit codes
(EX_NOUSER, EX_DATAERR, EX_USAGE, EX_NOPERM), mailq/newaliases by
argv[0], -q.  Every delivery is read back from the store (vellumctl mail
export)."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main  # noqa: E402
from smtptest import HOSTNAME, stored  # noqa: E402

EX_OK, EX_USAGE, EX_DATAERR, EX_NOUSER = 0, 64, 65, 67
EX_TEMPFAIL, EX_NOPERM = 75, 77
ALICE, BOB, CAROL = ("alice@example.test", "bob@example.test",
                     "carol@example.test")
DAVE = "dave@example.test"	# a 2K quota
MAX_SIZE = 20000
NOBODY = 65534


class Sendmail:
    def __init__(self, site):
        self.site = site
        self.binary = os.path.join(site.build, "admin", "vellum-sendmail")
        if not os.access(self.binary, os.X_OK):
            raise Failure("vellum-sendmail was not built (%s)" %
                          self.binary)

    def run(self, *args, input=b"", expect=EX_OK, argv0=None, conf=True,
            user=None):
        """Runs vellum-sendmail (-C the site's vellum.conf), as another
        uid with setpriv when user is given; returns (stdout, stderr)."""
        prog = argv0 or self.binary
        argv = [prog] + (["-C", self.site.conf] if conf else []) + \
            [str(a) for a in args]
        if user is not None:
            argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user,
                    "--clear-groups", "--"] + argv
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run(argv, input=input, capture_output=True,
                           timeout=120, cwd=self.site.tmp)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if expect is not None and p.returncode != expect:
            raise Failure("sendmail %s: exit %d, expected %d\nstdout: %s\n"
                          "stderr: %s" % (" ".join(argv[1:]), p.returncode,
                                          expect, out[-1500:], err[-1500:]))
        return out, err


def header_of(msg):
    """The header block of a stored message (bytes), up to the empty
    line, and the body after it."""
    head, _, body = msg.partition(b"\n\n")
    return head + b"\n", body


def fields(head):
    """[(name lowercased, value)] of a header block (unfolded)."""
    out = []
    for line in head.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        if line[0] in " \t" and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
            continue
        name, _, value = line.partition(":")
        out.append((name.lower(), value.strip()))
    return out


def newest(site, address):
    msgs = stored(site, address)
    check(msgs, "%s has mail" % address, msgs)
    return msgs[-1]


def queue(site):
    return json.loads(site.ctl("queue", "list", "--json"))


def addrs(e):
    """The recipient addresses of a queue entry (queue list --json)."""
    return [r["address"] for r in e["recipients"]]


def test_local(site, sm):
    n0 = len(stored(site, ALICE))
    m = b"Subject: local one\nX-Test: 1\n\nfirst line\nsecond line\n"
    out, err = sm.run(ALICE, input=m)
    check(out == "" and err == "", "a good submission prints nothing "
          "(cron mails any output)", (out, err))
    msgs = stored(site, ALICE)
    check(len(msgs) == n0 + 1, "the message is in alice's INBOX", msgs)
    msg = msgs[-1]
    check(b"\r" not in msg, "stored with LF line ends", msg[:400])
    head, body = header_of(msg)
    check(body == b"first line\nsecond line\n", "the body is kept as "
          "given", body)
    f = fields(head)
    names = [n for n, _ in f]
    check(names[:3] == ["return-path", "delivered-to", "received"],
          "Return-Path, Delivered-To, then our Received first", names)
    d = dict(f)
    uid = os.getuid()
    rec = d["received"]
    check(re.match(r"^by %s \(Vellum sendmail, from userid %d\) id "
                   r"[0-9A-F]{16}; \w{3}, \d\d \w{3} \d{4} "
                   r"\d\d:\d\d:\d\d [+-]\d{4}$" % (re.escape(HOSTNAME),
                                                    uid), rec),
          "Received: by HOST (Vellum sendmail, from userid UID) id QID; "
          "DATE", rec)
    qid = re.search(r"id ([0-9A-F]{16});", rec).group(1)
    for name in ("date", "message-id", "from"):
        check(names.count(name) == 1, "one %s: header field was added" %
              name, names)
    check(d["message-id"].endswith(".%s@%s>" % (qid, HOSTNAME)),
          "Message-ID names the queue id and the host", d["message-id"])
    login = __import__("pwd").getpwuid(uid).pw_name
    own = "%s@example.test" % login
    check(d["return-path"] == "<%s>" % own, "the sender is the caller's "
          "login @ [sendmail] domain", d["return-path"])
    check(own in d["from"], "From: names the sender", d["from"])
    check(d["subject"] == "local one" and d["x-test"] == "1",
          "the given fields are kept", f)

    # Given Date/Message-ID/From are kept, not doubled; -F names From
    # only when the message has none.
    m = (b"From: Someone <someone@example.test>\nDate: Mon, 1 Jan 2024 "
         b"00:00:00 +0000\nMessage-ID: <given@x>\nSubject: kept\n\nhi\n")
    sm.run("-F", "Ignored Name", ALICE, input=m)
    f = fields(header_of(newest(site, ALICE))[0])
    names = [n for n, _ in f]
    check(names.count("date") == 1 and names.count("message-id") == 1 and
          names.count("from") == 1 and dict(f)["message-id"] ==
          "<given@x>" and dict(f)["from"] ==
          "Someone <someone@example.test>", "given Date, Message-ID and "
          "From are kept as they are", f)
    sm.run("-F", 'Web "Site"', ALICE, input=b"Subject: f\n\nhi\n")
    d = dict(fields(header_of(newest(site, ALICE))[0]))
    check(d["from"] == '"Web \\"Site\\"" <%s>' % own, "-F gives the "
          "quoted full name of the added From:", d["from"])

    # No header at all: the input is the body, after an empty line.
    sm.run(ALICE, input=b"just a line of text\nand more\n")
    head, body = header_of(newest(site, ALICE))
    check(body == b"just a line of text\nand more\n", "input without a "
          "header is kept as the body", (head, body))
    # A leading mbox "From " line is the envelope, not the message.
    sm.run(ALICE, input=b"From someone@remote.test Mon Jan  1 00:00:00 "
           b"2024\nSubject: mbox line\n\nbody\n")
    msg = newest(site, ALICE)
    check(b"Subject: mbox line" in msg and b"From someone" not in msg,
          "a leading 'From ' line is dropped", msg[:500])
    # CRLF input is stored with LF.
    sm.run(ALICE, input=b"Subject: crlf\r\n\r\nline\r\n")
    check(newest(site, ALICE).endswith(b"Subject: crlf\n\nline\n") or
          header_of(newest(site, ALICE))[1] == b"line\n",
          "CRLF input is stored with LF", newest(site, ALICE)[-200:])
    check(b"\r" not in newest(site, ALICE), "no CR is stored",
          newest(site, ALICE)[-200:])
    # An unqualified recipient takes [sendmail] domain.
    sm.run("bob", input=b"Subject: unqualified\n\nhi\n")
    check(b"Subject: unqualified" in newest(site, BOB), "'bob' reaches "
          "bob@example.test ([sendmail] domain)", newest(site, BOB)[:300])


def test_external(site, sm):
    before = {e["id"] for e in queue(site)}
    n0 = len(stored(site, ALICE))
    sm.run("someone@remote.test", ALICE,
           input=b"Subject: to the world\n\nhi\n")
    new = [e for e in queue(site) if e["id"] not in before]
    check(len(new) == 1 and addrs(new[0]) ==
          ["someone@remote.test"], "the external recipient is queued "
          "for vellum-mta", new)
    first = new[0]["id"]
    # DSN requests go into the queue entry; its id is the Received id.
    before = {e["id"] for e in queue(site)}
    sm.run("-N", "success,delay", "-R", "hdrs", "-V", "env-42",
           "far@remote.test", input=b"Subject: dsn\n\nhi\n")
    new = [e for e in queue(site) if e["id"] not in before]
    check(len(new) == 1 and new[0]["envid"] == "env-42" and
          new[0]["ret"] == "hdrs" and
          sorted(new[0]["recipients"][0]["notify"]) == ["delay", "success"],
          "-N/-R/-V are kept with the queued message", new)
    raw = site.ctl("queue", "show", new[0]["id"])
    check("id " + new[0]["id"] in raw, "the Received header names the "
          "queue entry's id %s" % new[0]["id"], raw[:800])
    for bad in (["-N", "sometimes"], ["-N", "never,success"],
                ["-R", "most"], ["-V", "a b"]):
        _, err = sm.run(*bad, "far@remote.test", input=b"x\n",
                        expect=EX_USAGE)
        check(bad[0] in err, "%s %s: EX_USAGE naming it" % tuple(bad), err)
    check(len(stored(site, ALICE)) == n0 + 1, "and the local one "
          "delivered at once", n0)
    # -q: every entry to be tried now.
    out, _ = sm.run("-q")
    check("to be tried now" in out, "-q says the entries will be tried",
          out)
    check(all(e["next_try"] is None for e in queue(site)), "-q: next try "
          "of every entry is now", queue(site))
    return first


def test_extract(site, sm):
    a0, b0, c0 = (len(stored(site, x)) for x in (ALICE, BOB, CAROL))
    m = (b"To: Alice <alice@example.test>\n"
         b"Cc: \"Bob, the builder\" <bob@example.test> (a comment)\n"
         b"Bcc: secret@remote.test\n"
         b"Subject: extracted\n\nhi all\n")
    before = {e["id"] for e in queue(site)}
    sm.run("-t", CAROL, input=m)
    check((len(stored(site, ALICE)), len(stored(site, BOB)),
           len(stored(site, CAROL))) == (a0 + 1, b0 + 1, c0 + 1),
          "-t: To and Cc recipients and the command-line one get it", "")
    new = [e for e in queue(site) if e["id"] not in before]
    check(len(new) == 1 and addrs(new[0]) ==
          ["secret@remote.test"], "-t: the Bcc recipient is queued", new)
    for who in (ALICE, BOB, CAROL):
        msg = newest(site, who)
        check(b"Subject: extracted" in msg and b"\nBcc:" not in msg and
              b"secret@remote.test" not in msg, "-t: the Bcc field is "
              "removed from the message (%s)" % who, msg[:600])
    # Resent-* present: only those are the recipients.
    a0, b0 = len(stored(site, ALICE)), len(stored(site, BOB))
    m = (b"To: alice@example.test\nResent-To: bob@example.test\n"
         b"Subject: resent\n\nagain\n")
    sm.run("-t", input=m)
    check((len(stored(site, ALICE)), len(stored(site, BOB))) ==
          (a0, b0 + 1), "-t with Resent-To: only the Resent-* "
          "recipients", "")
    # A group and no recipients at all.
    m = b"To: friends: alice@example.test, bob@example.test;\n\nx\n"
    a0, b0 = len(stored(site, ALICE)), len(stored(site, BOB))
    sm.run("-t", input=m)
    check((len(stored(site, ALICE)), len(stored(site, BOB))) ==
          (a0 + 1, b0 + 1), "-t reads the addresses of a group", "")
    _, err = sm.run("-t", input=b"Subject: nobody\n\nx\n", expect=EX_USAGE)
    check("no recipient" in err, "-t without recipients: EX_USAGE and "
          "says so", err)


def test_dot(site, sm):
    m = b"Subject: dots\n\nline one\n.\nafter the dot\n"
    sm.run(ALICE, input=m)
    body = header_of(newest(site, ALICE))[1]
    check(body == b"line one\n", "without -i a lone '.' ends the "
          "message", body)
    for opt in ("-i", "-oi", "-vi"):
        sm.run(opt, ALICE, input=m)
        body = header_of(newest(site, ALICE))[1]
        check(body == b"line one\n.\nafter the dot\n", "with %s a lone "
              "'.' is message text" % opt, body)
    sm.run(ALICE, input=b"Subject: dd\n\n..two dots\n.x\n")
    body = header_of(newest(site, ALICE))[1]
    check(body == b"..two dots\n.x\n", "lines starting with '.' are "
          "not unstuffed in -bm", body)


def test_from(site, sm):
    # root is in [sendmail] trusted (the default): any -f.
    if os.getuid() == 0:
        sm.run("-f", "boss@remote.test", ALICE, input=b"Subject: f1\n\nx\n")
        d = dict(fields(header_of(newest(site, ALICE))[0]))
        check(d["return-path"] == "<boss@remote.test>", "-f from a "
              "trusted user sets the envelope sender", d)
        sm.run("-fother@remote.test", ALICE, input=b"Subject: f2\n\nx\n")
        d = dict(fields(header_of(newest(site, ALICE))[0]))
        check(d["return-path"] == "<other@remote.test>", "-fADDR works "
              "too", d)
        sm.run("-r", "third@remote.test", ALICE, input=b"Subject: f3\n\nx\n")
        d = dict(fields(header_of(newest(site, ALICE))[0]))
        check(d["return-path"] == "<third@remote.test>", "-r as -f", d)
    else:
        print("SKIP: -f as a trusted user needs root (trusted = root)")
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        print("SKIP: -f and users for an untrusted user need root and "
              "setpriv")
        return
    # Let nobody read the config and use the store (what setgid to the
    # store's group gives in real life).
    os.chmod(site.tmp, 0o755)
    os.chmod(site.conf, 0o644)
    for root, dirs, files in os.walk(site.data):
        os.chmod(root, 0o777)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666)
    import pwd
    nobody = pwd.getpwuid(NOBODY).pw_name
    _, err = sm.run("-f", "boss@remote.test", ALICE, input=b"x\n",
                    user=NOBODY, expect=EX_NOPERM)
    check("may not send as <boss@remote.test>" in err, "-f another "
          "address from an untrusted user: EX_NOPERM and a message", err)
    n0 = len(stored(site, ALICE))
    sm.run("-f", nobody, ALICE, input=b"Subject: own\n\nx\n", user=NOBODY)
    d = dict(fields(header_of(newest(site, ALICE))[0]))
    check(len(stored(site, ALICE)) == n0 + 1 and d["return-path"] ==
          "<%s@example.test>" % nobody, "-f with one's own address is "
          "allowed", d)
    check("from userid %d)" % NOBODY in d["received"], "Received names "
          "the caller's uid", d["received"])
    # -bs: MAIL FROM another address is refused for them too.
    out, _ = sm.run("-bs", user=NOBODY, input=b"EHLO x\r\nMAIL FROM:<boss@"
                    b"remote.test>\r\nQUIT\r\n")
    check("553 5.7.1 <boss@remote.test>: Sender address rejected" in out,
          "-bs MAIL FROM another address from an untrusted user: 553",
          out)
    # [sendmail] users = root: nobody may not submit at all.
    text = open(site.conf).read()
    with open(site.conf, "w") as f:
        f.write(text.replace("[sendmail]\n", "[sendmail]\nusers = root, "
                             "@no-such-group-here\n"))
    _, err = sm.run(ALICE, input=b"x\n", user=NOBODY, expect=EX_NOPERM)
    check("may not submit" in err and nobody in err, "a user not in "
          "[sendmail] users: EX_NOPERM naming them", err)
    sm.run(ALICE, input=b"Subject: root still\n\nx\n")
    with open(site.conf, "w") as f:
        f.write(text)
    # Installed setgid, -C from anyone but root is refused: another file
    # could make its caller trusted.
    if os.statvfs(site.tmp).f_flag & os.ST_NOSUID:
        print("SKIP: %s is mounted nosuid: no setgid copy" % site.tmp)
        return
    with open(sm.binary, "rb") as f:
        if b"__asan_init" in f.read():
            # LeakSanitizer cannot run in a set-group-id process (and the
            # runtime ignores ASAN_OPTIONS there): the sanitizer build
            # cannot test the setgid install.
            print("SKIP: set-gid copy of a sanitizer build")
            return
    copy = site.path("sendmail-setgid")
    shutil.copy(sm.binary, copy)
    os.chown(copy, 0, 0)
    os.chmod(copy, 0o2755)
    _, err = sm.run(ALICE, input=b"x\n", user=NOBODY, argv0=copy,
                    expect=EX_NOPERM)
    check("only root may give another configuration" in err, "set-gid: "
          "-C from a user is refused with EX_NOPERM", err)
    test_setgid_install(site, sm, copy)


def test_setgid_install(site, sm, copy):
    """The installation of the man page: the program setgid to the
    store's group (root's group 0 here), the store group-writable only:
    another user can submit through it, not without it.  Without -C it
    uses the embedded default: the store in ./var."""
    if os.path.exists("/etc/vellum/vellum.conf"):
        print("SKIP: /etc/vellum/vellum.conf exists: the embedded default "
              "is not used")
        return
    store = site.path("var")
    ctl = [site.binary("vellumctl"), "-d", store]
    for args in (["domain", "add", "example.test"],
                 ["user", "add", ALICE, "--password-stdin"]):
        p = subprocess.run(ctl + args, input=b"pw\n", capture_output=True,
                           timeout=60)
        check(p.returncode == 0, "vellumctl %s" % args, p.stderr)
    for root, dirs, files in os.walk(store):
        os.chown(root, 0, 0)
        os.chmod(root, 0o770)
        for f in files:
            os.chown(os.path.join(root, f), 0, 0)
            os.chmod(os.path.join(root, f), 0o660)
    _, err = sm.run(ALICE, input=b"Subject: no group\n\nx\n", conf=False,
                    user=NOBODY, expect=EX_NOPERM)
    check("cannot open the store" in err and "setgid" in err, "without "
          "the group: EX_NOPERM, cannot open the store, install setgid",
          err)
    sm.run(ALICE, input=b"Subject: via setgid\n\nx\n", conf=False,
           user=NOBODY, argv0=copy)
    p = subprocess.run(ctl + ["mail", "list", ALICE, "--json"],
                       capture_output=True, timeout=60)
    subjects = [m.get("subject") for m in json.loads(p.stdout)]
    check(subjects == ["via setgid"], "setgid to the store's group: "
          "another user's message is delivered", subjects)


def test_bs(site, sm):
    n0 = len(stored(site, ALICE))
    dialogue = (b"EHLO client.example.test\r\n"
                b"NOOP\r\n"
                b"MAIL FROM:<bs@remote.test>\r\n"
                b"RCPT TO:<alice@example.test>\r\n"
                b"RCPT TO:<nosuch@example.test>\r\n"
                b"DATA\r\n"
                b"Subject: via -bs\r\n\r\n..stuffed\r\nplain\r\n.\r\n"
                b"MAIL FROM:<bs@remote.test>\r\n"
                b"RSET\r\n"
                b"DATA\r\n"
                b"BOGUS\r\n"
                b"QUIT\r\n")
    out, _ = sm.run("-bs", input=dialogue)
    codes = [line[:4] for line in out.split("\r\n") if line]
    want = ["220 ", "250-", "250-", "250-", "250-", "250 ", "250 ", "250 ",
            "250 ", "550 ", "354 ", "250 ", "250 ", "250 ", "503 ", "502 ",
            "221 "]
    check(codes == want, "-bs replies in order (EHLO, NOOP, MAIL, RCPT, "
          "RCPT unknown, DATA, end, MAIL, RSET, DATA without MAIL, unknown, "
          "QUIT)", out)
    check(re.search(r"250 2\.0\.0 Ok: queued as [0-9A-F]{16}\r\n", out),
          "the end of DATA: 250 queued as ID", out)
    check("5.1.1 <nosuch@example.test>" in out, "unknown recipient: the "
          "pipeline's 550 5.1.1", out)
    msgs = stored(site, ALICE)
    check(len(msgs) == n0 + 1, "-bs delivered one message", len(msgs))
    head, body = header_of(msgs[-1])
    d = dict(fields(head))
    check(body == b".stuffed\nplain\n", "-bs: dot-unstuffed, LF line "
          "ends", body)
    check(d["return-path"] == "<bs@remote.test>" and
          "Vellum sendmail" in d["received"], "-bs: MAIL FROM is the "
          "sender (root is trusted), our Received", d)
    # LF-only lines and an end of input in the middle of DATA.
    out, _ = sm.run("-bs", input=b"HELO x\nMAIL FROM:<>\nRCPT TO:<alice@"
                    b"example.test>\nDATA\nSubject: lf\n\nno end\n")
    check(out.endswith("354 End data with <CR><LF>.<CR><LF>\r\n"),
          "-bs: input ending inside DATA delivers nothing", out)
    check(len(stored(site, ALICE)) == n0 + 1, "nothing more stored", "")


def test_errors(site, sm):
    a0 = len(stored(site, ALICE))
    _, err = sm.run(ALICE, "nosuch@example.test", input=b"Subject: x\n\nx\n",
                    expect=EX_NOUSER)
    check("nosuch@example.test" in err and "nothing was sent" in err,
          "an unknown recipient: EX_NOUSER naming it", err)
    check(len(stored(site, ALICE)) == a0, "nothing delivered to the other "
          "recipients either", a0)
    big = b"Subject: big\n\n" + (b"x" * 99 + b"\n") * (MAX_SIZE // 100 + 1)
    _, err = sm.run(ALICE, input=big, expect=EX_DATAERR)
    check("larger than %d bytes" % MAX_SIZE in err, "over max_message_size:"
          " EX_DATAERR and a message", err)
    check(len(stored(site, ALICE)) == a0, "nothing stored for a message "
          "too big", a0)
    # A full mailbox: EX_TEMPFAIL, the pipeline's 452 4.2.2.
    _, err = sm.run(ALICE, DAVE, input=b"Subject: full\n\n" + b"y" * 3000 +
                    b"\n", expect=EX_TEMPFAIL)
    check("4.2.2" in err and DAVE in err, "over quota: EX_TEMPFAIL, "
          "Mailbox full", err)
    check(len(stored(site, ALICE)) == a0, "nothing delivered to the "
          "others when one mailbox is full", a0)
    for bad in (["-x", ALICE], ["-bz", ALICE],
                ["-tx", ALICE]):
        _, err = sm.run(*bad, input=b"x\n", expect=EX_USAGE)
        check(bad[0] in err, "bad option %s: EX_USAGE naming it" % bad[0],
              err)
    _, err = sm.run(input=b"x\n", expect=EX_USAGE)
    check("no recipients" in err, "no recipients: EX_USAGE", err)
    _, err = sm.run("-f", input=b"x\n", expect=EX_USAGE)
    check("-f needs a value" in err, "-f without a value: EX_USAGE", err)
    # A configuration with errors: EX_CONFIG (78), its lines printed.
    bad = site.path("bad.conf")
    with open(bad, "w") as f:
        f.write("data_dir = %s\n[sendmail]\nusers = a b\n" % site.data)
    p = subprocess.run([sm.binary, "-C", bad, ALICE], input=b"x\n",
                       capture_output=True, timeout=60)
    check(p.returncode == 78 and b"users" in p.stderr, "a bad [sendmail] "
          "users value: EX_CONFIG with the line", (p.returncode, p.stderr))


def test_names(site, sm, qid):
    link = site.path("mailq")
    os.symlink(sm.binary, link)
    out, _ = sm.run(argv0=link)
    check(qid in out and "someone@remote.test" in out, "mailq (argv[0]) "
          "lists the queue as vellumctl queue list", out)
    out2, _ = sm.run("-bp")
    check(out2 == out, "-bp is mailq", (out, out2))
    link = site.path("newaliases")
    os.symlink(sm.binary, link)
    out, _ = sm.run(argv0=link)
    check("vellumctl addr" in out, "newaliases (argv[0]) says vellumctl "
          "addr manages aliases", out)
    out, _ = sm.run("-bi")
    check("vellumctl addr" in out, "-bi is newaliases", out)


def run(site, args):
    sm = Sendmail(site)
    site.write_conf({"smtpd": {"max_message_size": str(MAX_SIZE)},
                     "sendmail": {"domain": "example.test"}}, tls="self")
    for who in (ALICE, BOB, CAROL):
        site.add_user(who, "pw-" + who)
    site.add_user(DAVE, "pw-dave", quota="2K")
    test_local(site, sm)
    qid = test_external(site, sm)
    test_extract(site, sm)
    test_dot(site, sm)
    test_bs(site, sm)
    test_errors(site, sm)
    test_names(site, sm, qid)
    test_from(site, sm)
    return 0


if __name__ == "__main__":
    main(run)
