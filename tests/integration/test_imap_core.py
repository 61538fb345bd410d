"""vellum-imapd, the core: capabilities by state, LOGIN/AUTHENTICATE
(good, bad, disabled account, lockout), SELECT/EXAMINE responses, EXPUNGE
and CLOSE, updates between sessions (expunges held back after FETCH and
SEARCH by sequence number, RFC 3501 7.4.1), IDLE woken by vellumctl,
POP3 and another vellum-imapd process on the same store, COMPRESS=DEFLATE
by hand with zlib, STARTTLS discarding pipelined plaintext, shutdown.

usage: test_imap_core.py BUILD_DIR
"""
import base64
import imaplib
import os
import poplib
import re
import signal
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imaptest import Failure, Raw, check, run, tls_context  # noqa: E402
import imaptest  # noqa: E402

USER, PASS = "alice@example.test", "alice-pw"
BOB, BOB_PASS = "bob@example.test", "bob-pw"
CAROL, CAROL_PASS = "carol@example.test", "carol-pw"
DAVE, DAVE_PASS = "dave@example.test", "dave-pw"
ERIN, ERIN_PASS = "erin@example.test", "erin-pw"
FRANK, FRANK_PASS = "frank@example.test", "frank-pw"


def maildir(site, name, msgs):
    """A Maildir with (info, bytes) messages, info like "S" or "T"."""
    d = site.path(name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for i, (info, body) in enumerate(msgs):
        with open(os.path.join(d, "cur", "%d.%d.test:2,%s" % (
                1700000000 + i, i, info)), "wb") as f:
            f.write(body)
    return d


def caps(line):
    """The capability words of a CAPABILITY line or [CAPABILITY] code."""
    m = re.search(rb"CAPABILITY ([^\]]*)", line)
    return set(m.group(1).decode().split()) if m else set()


def untagged_with(lines, word):
    return [x for x in lines if word in x]


def test_capabilities(site):
    r = site.raw()
    c = caps(r.greeting)
    check({"IMAP4rev1", "STARTTLS", "AUTH=PLAIN", "LITERAL-", "SASL-IR",
           "ID", "IDLE", "ENABLE"} <= c and "LITERAL+" not in c and
          "LOGINDISABLED" not in c,
          "greeting on the plain port names the pre-login capabilities "
          "with STARTTLS and LITERAL-", r.greeting)
    tagged, unt = r.cmd("c1 CAPABILITY")
    check(tagged == b"c1 OK Capability completed." and
          caps(unt[0]) == c, "CAPABILITY before login = the greeting's",
          (tagged, unt))
    tagged, _ = r.cmd("c2 STARTTLS")
    check(tagged.startswith(b"c2 OK"), "STARTTLS accepted", tagged)
    r.s = tls_context().wrap_socket(r.s)
    tagged, unt = r.cmd("c3 CAPABILITY")
    c = caps(unt[0])
    check("STARTTLS" not in c and "AUTH=PLAIN" in c,
          "after STARTTLS: no STARTTLS, AUTH still", unt)
    tagged, _ = r.cmd("c4 STARTTLS")
    check(tagged.startswith(b"c4 BAD"), "second STARTTLS refused", tagged)
    tagged, _ = r.cmd("c5 LOGIN %s %s" % (USER, PASS))
    c = caps(tagged)
    check(tagged.startswith(b"c5 OK") and {"LITERAL+", "IDLE", "UIDPLUS",
                                           "MOVE", "CONDSTORE", "QRESYNC",
                                           "COMPRESS=DEFLATE", "ENABLE",
                                           "NAMESPACE"} <= c and
          "AUTH=PLAIN" not in c and "STARTTLS" not in c and
          "LITERAL-" not in c,
          "LOGIN OK carries the capabilities after login", tagged)
    tagged, unt = r.cmd("c6 CAPABILITY")
    check(caps(unt[0]) == c, "CAPABILITY after login = LOGIN's", unt)
    # IMAP4rev2 (RFC 9051) includes BINARY: advertised only with it.
    r.cmd("c6a EXAMINE INBOX")
    tagged, unt = r.cmd("c6b FETCH 1 (BINARY.PEEK[] BINARY.SIZE[])")
    check("IMAP4rev2" not in c or tagged.startswith(b"c6b OK"),
          "IMAP4rev2 is advertised only where FETCH BINARY works",
          (sorted(c), tagged))
    r.cmd("c6c UNSELECT")
    tagged, _ = r.cmd("c7 LOGIN %s %s" % (USER, PASS))
    check(tagged.startswith(b"c7 BAD"), "LOGIN after login is BAD",
          tagged)
    r.cmd("c8 LOGOUT")
    # Implicit TLS: no STARTTLS offered.
    r = site.raw(tls=True)
    c = caps(r.greeting)
    check("STARTTLS" not in c and "AUTH=PLAIN" in c,
          "greeting on the TLS port offers no STARTTLS", r.greeting)
    r.close()


def test_logins(site):
    # imaplib LOGIN, and AUTHENTICATE PLAIN through continuation.
    m = site.login(USER, PASS)
    m.logout()
    m = site.imap()
    cred = ("\0%s\0%s" % (USER, PASS)).encode()
    typ, _ = m.authenticate("PLAIN", lambda _: cred)
    check(typ == "OK", "AUTHENTICATE PLAIN with continuation", typ)
    m.logout()
    r = site.raw()
    # SASL-IR
    ir = base64.b64encode(cred).decode()
    tagged, _ = r.cmd("a1 AUTHENTICATE PLAIN %s" % ir)
    check(tagged.startswith(b"a1 OK"), "AUTHENTICATE PLAIN with SASL-IR",
          tagged)
    r.cmd("a2 LOGOUT")
    # AUTHENTICATE LOGIN step by step; "*" cancels.
    r = site.raw()
    r.send("b1 AUTHENTICATE LOGIN\r\n")
    check(r.line().startswith(b"+ "), "AUTHENTICATE LOGIN asks", r.buf)
    r.send(base64.b64encode(USER.encode()) + b"\r\n")
    check(r.line().startswith(b"+ "), "then asks for the password", r.buf)
    r.send(base64.b64encode(PASS.encode()) + b"\r\n")
    tagged, _ = r.until_tagged("b1")
    check(tagged.startswith(b"b1 OK"), "AUTHENTICATE LOGIN works", tagged)
    r.close()
    r = site.raw()
    r.send("b2 AUTHENTICATE PLAIN\r\n")
    r.line()
    r.send("*\r\n")
    tagged, _ = r.until_tagged("b2")
    check(tagged.startswith(b"b2 BAD"), "\"*\" cancels AUTHENTICATE",
          tagged)
    # Wrong password.
    tagged, _ = r.cmd("b3 LOGIN %s wrong" % USER)
    check(tagged == b"b3 NO [AUTHENTICATIONFAILED] Authentication failed.",
          "a wrong password: NO [AUTHENTICATIONFAILED]", tagged)
    tagged, _ = r.cmd("b4 LOGIN nobody@example.test wrong")
    check(tagged == b"b4 NO [AUTHENTICATIONFAILED] Authentication failed.",
          "an unknown user: the same answer", tagged)
    tagged, _ = r.cmd('b5 LOGIN "%s" "%s"' % (USER, PASS))
    check(tagged.startswith(b"b5 OK"), "quoted LOGIN arguments", tagged)
    r.close()
    # Literal arguments before login (small ones are fine).
    r = site.raw()
    r.send("b6 LOGIN {%d}\r\n" % len(USER))
    check(r.line().startswith(b"+ "), "a synchronising literal gets +",
          r.buf)
    r.send(USER + " {%d+}\r\n%s\r\n" % (len(PASS), PASS))
    tagged, _ = r.until_tagged("b6")
    check(tagged.startswith(b"b6 OK"), "LOGIN with literals (LITERAL-)",
          tagged)
    r.close()

    # A disabled account says why, after the right password only.
    site.ctl("user", "disable", CAROL, "--reason", "unpaid invoice")
    r = site.raw()
    tagged, _ = r.cmd("d1 LOGIN %s %s" % (CAROL, CAROL_PASS))
    check(tagged.startswith(b"d1 NO [CONTACTADMIN]") and
          b"unpaid invoice" in tagged and b"disabled" in tagged,
          "a disabled account: NO [CONTACTADMIN] with the reason", tagged)
    tagged, _ = r.cmd("d2 LOGIN %s wrong" % CAROL)
    check(tagged.startswith(b"d2 NO [AUTHENTICATIONFAILED]") and
          b"unpaid" not in tagged,
          "a disabled account with a wrong password says nothing more",
          tagged)
    r.close()

    # Lockout: fail_max (3) failures lock the user out from here, even
    # with the right password; other users are not affected.
    r = site.raw()
    for i in range(3):
        tagged, _ = r.cmd("l%d LOGIN %s wrong%d" % (i, DAVE, i))
        check(b"AUTHENTICATIONFAILED" in tagged, "failure %d" % i, tagged)
    tagged, _ = r.cmd("l9 LOGIN %s %s" % (DAVE, DAVE_PASS))
    check(tagged.startswith(b"l9 NO [UNAVAILABLE]") and
          b"Too many failed logins" in tagged,
          "locked out after fail_max failures, right password or not",
          tagged)
    tagged, _ = r.cmd("l10 LOGIN %s %s" % (BOB, BOB_PASS))
    check(tagged.startswith(b"l10 OK"), "another user is not locked out",
          tagged)
    r.close()


def test_select(site):
    site.ctl("mail", "import", BOB, maildir(site, "bobmail", [
        ("S", b"Subject: one\r\n\r\nseen\r\n"),
        ("", b"Subject: two\r\n\r\nunseen\r\n"),
        ("T", b"Subject: three\r\n\r\ndeleted\r\n"),
        ("ST", b"Subject: four\r\n\r\nseen deleted\r\n"),
    ]))
    r = site.raw()
    r.cmd("s0 LOGIN %s %s" % (BOB, BOB_PASS))
    tagged, _ = r.cmd("s1 CLOSE")
    check(tagged == b"s1 BAD No mailbox selected.",
          "CLOSE without a mailbox is BAD", tagged)
    tagged, unt = r.cmd("s2 SELECT INBOX")
    check(tagged == b"s2 OK [READ-WRITE] Select completed.",
          "SELECT INBOX ok, read-write", tagged)
    want = [b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen "
            b"\\Draft \\*)] Flags permitted.",
            b"* 4 EXISTS", b"* 4 RECENT", b"* OK [UNSEEN 2] First unseen."]
    check(unt[:5] == want, "SELECT responses in Dovecot's order", unt)
    uv = [x for x in unt if x.startswith(b"* OK [UIDVALIDITY ")]
    check(len(uv) == 1 and b"* OK [UIDNEXT 5] Predicted next UID" in unt
          and any(x.startswith(b"* OK [HIGHESTMODSEQ ") for x in unt),
          "UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ", unt)
    # A second session: the messages are no longer \Recent for it.
    r2 = site.raw()
    r2.cmd("t0 LOGIN %s %s" % (BOB, BOB_PASS))
    tagged, unt = r2.cmd("t1 EXAMINE inbox")
    check(tagged == b"t1 OK [READ-ONLY] Examine completed." and
          b"* 0 RECENT" in unt and
          b"* OK [PERMANENTFLAGS ()] Read-only mailbox." in unt,
          "EXAMINE (any case of INBOX): read-only, nothing recent left",
          (tagged, unt))
    tagged, _ = r2.cmd("t2 EXPUNGE")
    check(tagged.startswith(b"t2 NO"), "EXPUNGE in EXAMINE is refused",
          tagged)
    tagged, unt = r2.cmd("t3 SELECT Nonexistent")
    check(tagged.startswith(b"t3 NO [NONEXISTENT]") and
          b"* OK [CLOSED] Previous mailbox closed." in unt,
          "SELECT of a missing mailbox: CLOSED, then NO [NONEXISTENT]",
          (tagged, unt))
    tagged, _ = r2.cmd("t4 CHECK")
    check(tagged.startswith(b"t4 BAD"), "after a failed SELECT nothing "
          "is selected", tagged)
    tagged, _ = r2.cmd("t5 SELECT ../x")
    check(tagged.startswith(b"t5 NO"), "a name with .. is NO", tagged)
    tagged, _ = r2.cmd("t6 SELECT &Jjo")
    check(tagged.startswith(b"t6 NO"), "invalid modified UTF-7 is NO",
          tagged)
    tagged, unt = r2.cmd("t7 SELECT Trash")
    check(tagged.startswith(b"t7 OK") and b"* 0 EXISTS" in unt,
          "the default folder Trash exists and is empty", (tagged, unt))
    # UID EXPUNGE takes only the given \Deleted messages.
    tagged, unt = r.cmd("s3 UID EXPUNGE 1:3")
    check(tagged == b"s3 OK Expunge completed." and
          unt == [b"* 3 EXPUNGE"],
          "UID EXPUNGE 1:3 removes message 3 (uid 3) only", (tagged, unt))
    # CLOSE expunges silently.
    tagged, unt = r.cmd("s4 CLOSE")
    check(tagged == b"s4 OK Close completed." and unt == [],
          "CLOSE answers no EXPUNGE", (tagged, unt))
    tagged, unt = r.cmd("s5 SELECT INBOX")
    check(b"* 2 EXISTS" in unt and b"* 0 RECENT" in unt,
          "CLOSE removed the other \\Deleted message", unt)
    # ENABLE and rev2: no RECENT, no UNSEEN.
    tagged, unt = r.cmd("s6 ENABLE IMAP4rev2 CONDSTORE FOO")
    check(unt == [b"* ENABLED IMAP4rev2 CONDSTORE"] and
          tagged == b"s6 OK Enabled.", "ENABLE lists what it turned on",
          (tagged, unt))
    tagged, unt = r.cmd("s7 SELECT INBOX")
    check(not untagged_with(unt, b"RECENT") and
          not untagged_with(unt, b"UNSEEN") and
          unt[0] == b"* OK [CLOSED] Previous mailbox closed." and
          b'* LIST (\\HasNoChildren) "/" INBOX' in unt,
          "IMAP4rev2 SELECT: CLOSED first, no RECENT or UNSEEN, a LIST",
          unt)
    tagged, unt = r.cmd("s7b EXAMINE Sent")
    check(b'* LIST (\\Sent \\HasNoChildren) "/" Sent' in unt,
          "IMAP4rev2 EXAMINE Sent: LIST with its special use", unt)
    tagged, unt = r.cmd("s8 UNSELECT")
    check(tagged == b"s8 OK Unselect completed.", "UNSELECT", tagged)
    tagged, unt = r.cmd('s9 ID ("name" "test")')
    check(tagged == b"s9 OK ID completed." and
          unt == [b'* ID ("name" "Vellum")'], "ID", (tagged, unt))
    r.cmd("s10 LOGOUT")
    r2.close()


def test_updates(site):
    """Changes made elsewhere show as untagged replies at the right
    moments; expunges wait for a command that may announce them."""
    a = site.raw()
    a.cmd("u0 LOGIN %s %s" % (USER, PASS))
    _, unt = a.cmd("u1 SELECT INBOX")
    n = int([x for x in unt if x.endswith(b" EXISTS")][0].split()[1])
    check(n == 3, "alice starts with 3 messages", unt)
    out = site.ctl("--json", "mail", "list", USER)
    uids = [int(u) for u in re.findall(r'"uid":\s*(\d+)', out)]
    check(len(uids) == 3, "vellumctl lists 3 uids", out)
    site.ctl("mail", "delete", USER, uids[0])
    # FETCH / STORE / SEARCH by sequence number: no EXPUNGE.
    for tag, cmd in (("u2", "FETCH 1 (FLAGS)"), ("u3", "SEARCH ALL"),
                     ("u4", "STORE 1 +FLAGS (\\Seen)")):
        tagged, unt = a.cmd("%s %s" % (tag, cmd))
        check(not untagged_with(unt, b"EXPUNGE"),
              "no EXPUNGE after %s (RFC 3501 7.4.1)" % cmd, (tagged, unt))
    tagged, unt = a.cmd("u5 NOOP")
    check(unt == [b"* 1 EXPUNGE"] and tagged == b"u5 OK NOOP completed.",
          "NOOP announces the expunge", (tagged, unt))
    # UID FETCH may announce it: a second delete.
    site.ctl("mail", "delete", USER, uids[2])
    tagged, unt = a.cmd("u6 UID FETCH 1:* (FLAGS)")
    tagged, unt2 = a.cmd("u7 NOOP")
    check(untagged_with(unt + unt2, b"EXPUNGE") == [b"* 2 EXPUNGE"],
          "the second expunge is announced once, by UID FETCH or NOOP",
          (unt, unt2))
    # New mail: EXISTS and RECENT.
    site.add_mail(USER, b"Subject: new\r\n\r\nnew\r\n")
    tagged, unt = a.cmd("u8 NOOP")
    # The one left of the three is still \Recent for this session.
    check(b"* 2 EXISTS" in unt and b"* 2 RECENT" in unt,
          "new mail: EXISTS and RECENT at the next command", unt)
    a.cmd("u9 LOGOUT")


def test_recent_kept(site):
    """\\Recent stays on a session's messages when another session
    takes the \\Recent of mail in between (RFC 3501 2.3.2): A claims
    1-3, B claims 4, A claims 5; A still has 1-3 and 5 as \\Recent."""
    site.add_mail(FRANK, *[b"Subject: r%d\r\n\r\nx\r\n" % i
                           for i in range(3)])
    a, b = site.raw(), site.raw()
    a.cmd("r0 LOGIN %s %s" % (FRANK, FRANK_PASS))
    _, unt = a.cmd("r1 SELECT INBOX")
    check(b"* 3 RECENT" in unt, "A has 3 recent", unt)
    b.cmd("r0 LOGIN %s %s" % (FRANK, FRANK_PASS))
    b.cmd("r1 SELECT INBOX")
    site.add_mail(FRANK, b"Subject: r3\r\n\r\nx\r\n")
    _, unt = b.cmd("r2 NOOP")
    check(b"* 1 RECENT" in unt, "B takes the 4th", unt)
    site.add_mail(FRANK, b"Subject: r4\r\n\r\nx\r\n")
    _, unt = a.cmd("r3 NOOP")
    check(b"* 5 EXISTS" in unt and b"* 4 RECENT" in unt,
          "A counts 1-3 and 5 as recent", unt)
    _, unt = a.cmd("r4 FETCH 1:* (FLAGS)")
    recent = [int(x.split()[1]) for x in unt if b"\\Recent" in x]
    check(recent == [1, 2, 3, 5], "A's FETCH FLAGS: \\Recent on 1-3, 5",
          unt)
    _, unt = a.cmd("r5 SEARCH RECENT")
    check(unt == [b"* SEARCH 1 2 3 5"], "SEARCH RECENT agrees", unt)
    _, unt = a.cmd("r6 STATUS INBOX (RECENT)")
    check(unt == [b"* STATUS INBOX (RECENT 4)"], "STATUS RECENT agrees",
          unt)
    a.cmd("r7 LOGOUT")
    b.cmd("r3 LOGOUT")


def test_flag_updates(site):
    """A flag change made by one session reaches the other as FETCH at
    its next command (with MODSEQ under CONDSTORE, UID under QRESYNC);
    the session that made it is not told twice."""
    a = site.raw()
    a.cmd("f0 LOGIN %s %s" % (USER, PASS))
    a.cmd("f1 SELECT INBOX")
    b = site.raw()
    b.cmd("g0 LOGIN %s %s" % (USER, PASS))
    b.cmd("g1 ENABLE QRESYNC")
    b.cmd("g2 SELECT INBOX")
    tagged, unt = a.cmd("f2 STORE 1 +FLAGS (\\Flagged)")
    check(tagged.startswith(b"f2 OK") and len(unt) == 1 and
          b"\\Flagged" in unt[0], "STORE answers its one FETCH",
          (tagged, unt))
    tagged, unt = a.cmd("f3 NOOP")
    check(unt == [], "the session that stored is not told again", unt)
    tagged, unt = b.cmd("g3 NOOP")
    check(len(unt) == 1 and re.match(
        rb"\* 1 FETCH \(UID \d+ FLAGS \(\\Flagged( \\Recent)?\) "
        rb"MODSEQ \(\d+\)\)$", unt[0]),
        "the other session gets FETCH (UID FLAGS MODSEQ)", unt)
    # Keywords in use appear in FLAGS of a later SELECT.
    a.cmd("f4 STORE 1 +FLAGS ($Important)")
    tagged, unt = b.cmd("g4 SELECT INBOX")
    check(any(x.startswith(b"* FLAGS (") and b"$Important" in x
              for x in unt) and
          any(b"PERMANENTFLAGS" in x and b"$Important" in x for x in unt),
          "FLAGS and PERMANENTFLAGS list the keywords in use", unt)
    a.cmd("f5 STORE 1 -FLAGS (\\Flagged $Important)")
    a.cmd("f6 LOGOUT")
    b.cmd("g5 LOGOUT")


def test_qresync(site):
    """SELECT with QRESYNC after changes: VANISHED (EARLIER) for the uids
    gone since the client's modseq, FETCH for the flags changed."""
    a = site.raw()
    a.cmd("q0 LOGIN %s %s" % (ERIN, ERIN_PASS))
    a.cmd("q1 ENABLE QRESYNC")
    _, unt = a.cmd("q2 SELECT INBOX (CONDSTORE)")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(unt)).group(1))
    ms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(unt)).group(1))
    _, unt = a.cmd("q3 UID FETCH 1:* (FLAGS)")
    uids = [int(re.search(rb"UID (\d+)", x).group(1)) for x in unt]
    check(len(uids) >= 5, "erin has messages", unt)
    a.cmd("q4 UID STORE %d,%d +FLAGS.SILENT (\\Deleted)" % (uids[1],
                                                               uids[2]))
    a.cmd("q5 UID EXPUNGE %d,%d" % (uids[1], uids[2]))
    a.cmd("q6 UID STORE %d +FLAGS.SILENT (\\Answered)" % uids[3])
    a.cmd("q7 UNSELECT")
    tagged, unt = a.cmd("q8 SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
    check(tagged.startswith(b"q8 OK"), "SELECT with QRESYNC", tagged)
    van = [x for x in unt if x.startswith(b"* VANISHED (EARLIER) ")]
    check(van == [b"* VANISHED (EARLIER) %d:%d" % (uids[1], uids[2])],
          "VANISHED (EARLIER) names the two expunged uids", unt)
    f = [x for x in unt if b" FETCH " in x]
    check(len(f) == 1 and b"UID %d " % uids[3] in f[0] and
          b"\\Answered" in f[0] and b"MODSEQ (" in f[0],
          "one FETCH (UID FLAGS MODSEQ) for the changed message", unt)
    # A stale UIDVALIDITY: nothing but the usual responses.
    tagged, unt = a.cmd("q9 SELECT INBOX (QRESYNC (%d %d))" % (uv + 1, ms))
    check(not [x for x in unt if b"VANISHED" in x or b"FETCH" in x],
          "QRESYNC with another UIDVALIDITY sends no changes", unt)
    # QRESYNC without ENABLE is BAD.
    b = site.raw()
    b.cmd("r0 LOGIN %s %s" % (ERIN, ERIN_PASS))
    tagged, _ = b.cmd("r1 SELECT INBOX (QRESYNC (%d %d))" % (uv, ms))
    check(tagged.startswith(b"r1 BAD"), "QRESYNC without ENABLE is BAD",
          tagged)
    a.cmd("q10 LOGOUT")
    b.close()


def test_big_fetch(site):
    """A FETCH larger than the output bound goes out whole through
    imap_yield(): plain, over TLS, and compressed."""
    site.add_mail(ERIN, *[b"Subject: big %d\r\n\r\n" % i +
                          (b"%06d " % i) * 4000 + b"\r\n"
                          for i in range(120)])
    for mode in ("plain", "tls", "deflate"):
        r = site.raw(tls=mode == "tls")
        r.cmd("h0 LOGIN %s %s" % (ERIN, ERIN_PASS))
        if mode == "deflate":
            r.send("h1 COMPRESS DEFLATE\r\n")
            r.line()
            r.compress()
        r.cmd("h2 SELECT INBOX")
        r.send("h3 FETCH 1:* (BODY.PEEK[TEXT])\r\nh4 NOOP\r\n")
        seen = 0
        while True:
            line = r.line()
            m = re.match(rb"\* (\d+) FETCH .*\{(\d+)\}$", line)
            if m:
                n = int(m.group(2))
                while len(r.buf) < n:
                    r._recv()
                body, r.buf = r.buf[:n], r.buf[n:]
                i = int(m.group(1)) - 1
                check(body == (b"%06d " % i) * 4000 + b"\r\n",
                      "%s: message %d whole" % (mode, i + 1), body[:60])
                seen += 1
                continue
            if line.startswith(b"h3 "):
                break
        check(line == b"h3 OK Fetch completed." or
              line.startswith(b"h3 OK"), "%s: FETCH ends OK" % mode, line)
        check(seen == 120, "%s: all 120 messages (%d KB) came" % (
            mode, 120 * 28), seen)
        tagged, _ = r.until_tagged("h4")
        check(tagged.startswith(b"h4 OK"), "%s: the pipelined NOOP ran "
              "after the FETCH" % mode, tagged)
        r.close()


def idle_until(r, pred, what, timeout=10):
    """Reads lines while idling until pred(line); the lines read."""
    got = []
    r.s.settimeout(timeout)
    try:
        while True:
            line = r.line()
            got.append(line)
            if pred(line):
                return got
    except OSError:
        raise Failure("%s: no such line within %d s; got %r" % (
            what, timeout, got))


def test_idle(site, pop3_port):
    a = site.raw()
    a.cmd("i0 LOGIN %s %s" % (BOB, BOB_PASS))
    _, unt = a.cmd("i1 SELECT INBOX")
    count = int([x for x in unt if x.endswith(b" EXISTS")][0].split()[1])
    a.send("i2 IDLE\r\n")
    check(a.line() == b"+ idling", "IDLE answers + idling", a.buf)
    # vellumctl imports: EXISTS while idling.
    site.add_mail(BOB, b"Subject: idle 1\r\n\r\nx\r\n")
    got = idle_until(a, lambda x: x.endswith(b" EXISTS"),
                     "EXISTS after vellumctl mail import")
    check(got[-1] == b"* %d EXISTS" % (count + 1), "EXISTS counts it",
          got)
    count += 1
    # Another session of this process sets a flag: FETCH while idling.
    o = site.raw()
    o.cmd("o0 LOGIN %s %s" % (BOB, BOB_PASS))
    o.cmd("o1 SELECT INBOX")
    o.cmd("o2 STORE 1 +FLAGS.SILENT (\\Flagged)")
    got = idle_until(a, lambda x: b" FETCH " in x,
                     "FETCH after another session's STORE")
    check(re.match(rb"\* 1 FETCH \(FLAGS \(.*\\Flagged.*\)\)$", got[-1]),
          "the flag change of message 1", got)
    o.cmd("o3 LOGOUT")
    # POP3 deletes the first message: EXPUNGE while idling.
    p = poplib.POP3("127.0.0.1", pop3_port, timeout=10)
    p.user(BOB)
    p.pass_(BOB_PASS)
    p.dele(1)
    p.quit()
    got = idle_until(a, lambda x: x.endswith(b" EXPUNGE"),
                     "EXPUNGE after POP3 DELE")
    check(got[-1] == b"* 1 EXPUNGE", "POP3's expunge of message 1", got)
    count -= 1
    # Another vellum-imapd process on the same store: its session expunges
    # a \Deleted message (imported with flag T), A sees it.
    site.ctl("mail", "import", BOB, maildir(site, "bobmore", [
        ("T", b"Subject: to go\r\n\r\nx\r\n")]))
    got = idle_until(a, lambda x: x.endswith(b" EXISTS"),
                     "EXISTS of the \\Deleted one")
    count += 1
    check(got[-1] == b"* %d EXISTS" % count, "EXISTS", got)
    proc2, port2 = site.start_another_imapd()
    b = site.raw(port=port2)
    b.cmd("j0 LOGIN %s %s" % (BOB, BOB_PASS))
    _, unt = b.cmd("j1 SELECT INBOX")
    check(b"* %d EXISTS" % count in unt, "process 2 sees the same mailbox",
          unt)
    tagged, unt = b.cmd("j2 EXPUNGE")
    check(unt == [b"* %d EXPUNGE" % count], "process 2 expunges it",
          (tagged, unt))
    got = idle_until(a, lambda x: x.endswith(b" EXPUNGE"),
                     "EXPUNGE from the other process")
    check(got[-1] == b"* %d EXPUNGE" % count, "the right number", got)
    count -= 1
    a.send("DONE\r\n")
    tagged, unt = a.until_tagged("i2")
    check(tagged == b"i2 OK Idle completed.", "DONE ends IDLE", tagged)
    # The sequence numbers A was told match a fresh look.
    _, unt = b.cmd("j3 EXAMINE INBOX")
    check(b"* %d EXISTS" % count in unt, "A's count (%d) is the store's"
          % count, unt)
    b.cmd("j4 LOGOUT")
    site.stop(proc2)
    # IDLE, then something that is not DONE: BAD.
    a.send("i3 IDLE\r\n")
    a.line()
    a.send("NOPE\r\n")
    tagged, _ = a.until_tagged("i3")
    check(tagged.startswith(b"i3 BAD"), "IDLE ended by a non-DONE line is "
          "BAD", tagged)
    # Shutdown while idling: * BYE.  An APPEND halfway through its
    # message is finished first, then told BYE (it was stored).
    before = len(re.findall(r'"uid"', site.ctl("--json", "mail", "list",
                                                  FRANK)))
    p = site.raw()
    tagged, _ = p.cmd("p0 LOGIN %s %s" % (FRANK, FRANK_PASS))
    check(tagged.startswith(b"p0 OK"), "LOGIN", tagged)
    msg = b"Subject: in flight\r\n\r\n" + b"z" * 50000 + b"\r\n"
    p.send(b"p1 APPEND INBOX {%d+}\r\n" % len(msg) + msg[:20000])
    a.send("i4 IDLE\r\n")
    a.line()
    os.kill(site.imapd.pid, signal.SIGTERM)
    got = idle_until(a, lambda x: x.startswith(b"* BYE"), "BYE at shutdown")
    check(got[-1] == b"* BYE Server shutting down.", "BYE at shutdown", got)
    p.send(msg[20000:] + b"\r\n")
    line = p.line_or_eof(10)
    check(line is not None and line.startswith(b"p1 OK [APPENDUID"),
          "an APPEND under way at shutdown completes", line)
    check(p.line_or_eof(10) == b"* BYE Server shutting down.",
          "then BYE", p.buf)
    check(site.imapd.wait(15) == 0, "imapd stops cleanly", None)
    after = len(re.findall(r'"uid"', site.ctl("--json", "mail", "list",
                                                 FRANK)))
    check(after == before + 1, "the APPEND under way was stored",
          (before, after))


class DeflateIMAP4(imaplib.IMAP4):
    """imaplib with COMPRESS=DEFLATE done by hand (zlib, raw deflate)."""

    z_out = None

    def compress(self):
        imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        check(typ == "OK", "imaplib: COMPRESS DEFLATE", data)
        self.z_out = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION,
                                      zlib.DEFLATED, -15)
        self.z_in = zlib.decompressobj(-15)
        self.z_buf = b""

    def send(self, data):
        if self.z_out is not None:
            data = self.z_out.compress(data) + self.z_out.flush(
                zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise imaplib.IMAP4.abort("closed")
        self.z_buf += self.z_in.decompress(d)

    def read(self, size):
        if self.z_out is None:
            return super().read(size)
        while len(self.z_buf) < size:
            self._fill()
        out, self.z_buf = self.z_buf[:size], self.z_buf[size:]
        return out

    def readline(self):
        if self.z_out is None:
            return super().readline()
        while b"\n" not in self.z_buf:
            self._fill()
        i = self.z_buf.index(b"\n") + 1
        out, self.z_buf = self.z_buf[:i], self.z_buf[i:]
        return out


def test_compress(site):
    m = DeflateIMAP4("127.0.0.1", site.imap_port, timeout=15)
    m.login(ERIN, ERIN_PASS)
    m.compress()
    typ, data = m.select("INBOX")
    check(typ == "OK" and int(data[0]) >= 100, "imaplib SELECT over "
          "COMPRESS", data)
    typ, data = m.fetch("1:30", "(BODY.PEEK[])")
    bodies = [x[1] for x in data if isinstance(x, tuple)]
    check(typ == "OK" and len(bodies) == 30 and
          bodies[7].endswith((b"%06d " % 7) * 4000 + b"\r\n"),
          "imaplib FETCH of 30 messages (840 KB) over COMPRESS",
          (typ, len(bodies)))
    m.logout()
    r = site.raw()
    r.cmd("z0 LOGIN %s %s" % (USER, PASS))
    r.send("z1 COMPRESS DEFLATE\r\n")
    tagged = r.line()
    check(tagged == b"z1 OK Begin compression.", "COMPRESS accepted",
          tagged)
    r.compress()
    tagged, unt = r.cmd("z2 CAPABILITY")
    check(tagged == b"z2 OK Capability completed." and
          "COMPRESS=DEFLATE" not in caps(unt[0]),
          "commands work compressed; COMPRESS no longer offered", unt)
    tagged, unt = r.cmd("z3 SELECT INBOX")
    check(tagged.startswith(b"z3 OK") and untagged_with(unt, b"EXISTS"),
          "SELECT over COMPRESS", (tagged, unt))
    tagged, _ = r.cmd("z4 COMPRESS DEFLATE")
    check(tagged.startswith(b"z4 NO [COMPRESSIONACTIVE]"),
          "a second COMPRESS: NO [COMPRESSIONACTIVE]", tagged)
    # A long reply goes through the compressor whole.
    tagged, unt = r.cmd("z5 ID (" + " ".join('"k%d" "%s"' % (
        i, "v" * 200) for i in range(20)) + ")")
    check(tagged == b"z5 OK ID completed.", "a long command compressed",
          tagged)
    r.cmd("z6 LOGOUT")
    # Over TLS too (compression above TLS).
    r = site.raw(tls=True)
    r.cmd("z7 LOGIN %s %s" % (USER, PASS))
    r.send("z8 COMPRESS DEFLATE\r\n")
    check(r.line().startswith(b"z8 OK"), "COMPRESS over TLS", r.buf)
    r.compress()
    tagged, _ = r.cmd("z9 NOOP")
    check(tagged == b"z9 OK NOOP completed.", "NOOP over TLS+DEFLATE",
          tagged)
    r.close()


def test_starttls_injection(site):
    r = site.raw()
    # Everything after STARTTLS in the same packet is plaintext an
    # attacker may have put there: it must never run.
    r.send("x1 STARTTLS\r\nx2 LOGIN %s %s\r\nx3 SELECT INBOX\r\n" % (
        USER, PASS))
    tagged = r.line()
    check(tagged.startswith(b"x1 OK"), "STARTTLS", tagged)
    check(r.buf == b"", "nothing after the STARTTLS OK", r.buf)
    r.s = tls_context().wrap_socket(r.s)
    tagged, unt = r.cmd("x4 CAPABILITY")
    check(not any(x.startswith((b"x2", b"x3")) for x in unt) and
          "AUTH=PLAIN" in caps(unt[-1]),
          "the pipelined LOGIN was discarded: still not logged in",
          (tagged, unt))
    r.close()


def test(site, args):
    pop3 = site.port()
    site.write_imap_conf(auth={"fail_max": "3"},
                         sections={"pop3": {"listen": "127.0.0.1:%d" %
                                            pop3}})
    for u, p in ((USER, PASS), (BOB, BOB_PASS), (CAROL, CAROL_PASS),
                 (DAVE, DAVE_PASS), (ERIN, ERIN_PASS),
                 (FRANK, FRANK_PASS)):
        site.add_user(u, p)
    site.add_mail(USER, *[b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i)
                          for i in range(3)])
    site.start_imapd(conf=False)
    if not site.have("pop3d"):
        raise Failure("vellum-pop3d was not built")
    pproc = site.start("pop3d")
    site.wait_port(pop3, pproc)
    test_capabilities(site)
    test_logins(site)
    test_select(site)
    test_updates(site)
    test_recent_kept(site)
    test_flag_updates(site)
    test_big_fetch(site)
    test_compress(site)
    test_qresync(site)
    test_starttls_injection(site)
    test_idle(site, pop3)


if __name__ == "__main__":
    run(test)
