"""vellum-imapd APPEND, COPY and MOVE: APPENDUID and the bytes read back
exactly, flags, keywords and internal date, MULTIAPPEND all or nothing,
APPENDLIMIT (NO [TOOBIG] before "+", a LITERAL+ literal read and
dropped), an empty message, TRYCREATE, a message large enough to be
spooled to a file, quota (NO [OVERQUOTA] for APPEND and COPY), COPYUID,
MOVE (untagged COPYUID before the EXPUNGE), MOVE into the mailbox
itself, and a message expunged elsewhere (NO [EXPUNGEISSUED]).

usage: test_imap_append.py BUILD_DIR
"""
import imaplib
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import SKIP, check, descendants_of, main  # noqa: E402
from test_imap_fetch import Raw, crlf, literals, flags_of  # noqa: E402

USER, PASS = "alice@example.test", "s3cret-pw"
SMALL, SMALL_PASS = "tiny@example.test", "tiny-pw"
LIMIT = 3000000         # [smtpd] max_message_size: the APPENDLIMIT


def login(port, user=USER, pw=PASS):
    r = Raw(port)
    r.ok("LOGIN %s %s" % (user, pw))
    return r


def append(r, mbox, msg, extra="", nonsync=False):
    """APPEND with a literal; returns (untagged, tagged, continued):
    continued is False when the server refused before '+'."""
    t = r.tag()
    r.send("%s APPEND %s%s {%d%s}\r\n" % (t, mbox, extra, len(msg),
                                         "+" if nonsync else ""))
    if not nonsync:
        ln = r.line()
        if not ln.startswith(b"+"):
            check(ln.startswith(t.encode() + b" "),
                  "a refused APPEND answers its tag", ln)
            return [], ln, False
    r.send(msg + b"\r\n")
    u, tl = r.until(t)
    return u, tl, True


def code(tagged, name):
    m = re.search(rb"\[" + name.encode() + rb" ([^\]]*)\]", tagged)
    return m.group(1).decode() if m else None


def uids_of(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out += list(range(int(a), int(b or a) + 1))
    return out


def count(r, mbox):
    u = r.ok("STATUS %s (MESSAGES)" % mbox)
    m = re.search(rb"MESSAGES (\d+)", b"".join(u))
    return int(m.group(1))


def run(site, args):
    if not site.have("imapd"):
        print("vellum-imapd is not built: skipped")
        return SKIP
    port = site.port()
    site.write_conf({"imap": {"listen": "127.0.0.1:%d" % port},
                     "smtpd": {"max_message_size": str(LIMIT)}})
    site.add_user(USER, PASS)
    site.add_user(SMALL, SMALL_PASS, quota="20K")
    proc = site.start("imapd")
    site.wait_port(port, proc)

    r = login(port)
    r.ok("CREATE Work")
    # --- a plain APPEND: APPENDUID, bytes, flags, date ----------------
    m1 = b"From: a@example.test\nSubject: appended\n\nbody\nline two\n"
    u, t, _ = append(r, "Work", m1,
                     ' (\\Seen $Label1) "17-Jul-1996 02:44:25 -0700"')
    c = code(t, "APPENDUID")
    check(b" OK " in t and c, "APPEND answers OK [APPENDUID ...]", t)
    uidv, uid1 = c.split()
    r.ok("SELECT Work")
    u = r.ok("UID FETCH %s (FLAGS INTERNALDATE BODY.PEEK[] RFC822.SIZE)" %
             uid1)
    lit = literals(u[0])
    check(lit.get("BODY[]") == crlf(m1), "the appended bytes read back",
          lit)
    check(sorted(f for f in flags_of(u[0]) if f != "\\Recent") ==
          ["$Label1", "\\Seen"],
          "flags and keywords of APPEND are kept", u)
    check(b'INTERNALDATE "17-Jul-1996 09:44:25 +0000"' in u[0],
          "the internal date is the given one, in UTC", u)
    check(b"RFC822.SIZE %d" % len(crlf(m1)) in u[0],
          "RFC822.SIZE counts CRLF", u)
    u = r.ok("SELECT Work")
    check(any(b"[UIDVALIDITY %s]" % uidv.encode() in x for x in u),
          "APPENDUID names the mailbox's UIDVALIDITY", (uidv, u))

    # --- the selected mailbox sees its APPEND at once -------------------
    u, t, _ = append(r, "Work", b"Subject: second\r\n\r\nx\r\n")
    check(any(re.match(rb"\* 2 EXISTS", x) for x in u),
          "APPEND to the selected mailbox announces EXISTS", (u, t))

    # --- refusals ----------------------------------------------------------
    u, t, cont = append(r, "Nowhere", b"Subject: x\r\n\r\nx\r\n")
    check(not cont and b"NO [TRYCREATE]" in t,
          "APPEND to a missing mailbox is NO [TRYCREATE] before '+'", t)
    u, t, cont = append(r, "Work", b"x" * (LIMIT + 1))
    check(not cont and b"NO [TOOBIG]" in t,
          "a literal over APPENDLIMIT is NO [TOOBIG] before '+'", t)
    u, t, cont = append(r, "Work", b"x" * (LIMIT + 1), nonsync=True)
    check(b"NO [TOOBIG]" in t, "a LITERAL+ literal over APPENDLIMIT is "
          "read and refused", t)
    r.ok("NOOP")
    u, t, cont = append(r, "Work", b"")
    check(t.split()[1] == b"NO", "an empty message is NO", t)
    check(count(r, "Work") == 2, "no refused APPEND added a message",
          count(r, "Work"))

    # --- a BAD APPEND with a LITERAL+ literal: the literal is read -------
    # (a message whose lines look like commands must not run as such)
    evil = (b"Subject: evil\r\n\r\nx1 CREATE Injected1\r\n"
            b"x2 DELETE Work\r\n")
    n = count(r, "Work")
    bads = [(' (\\*)', "a flag list the server refuses"),
            (' "31-Feb-2000 00:00:00 +0000"', "an impossible date"),
            (' (\\Seen) "1-Jan-2000 00:00:00 +0000" BOGUS',
             "a word before the literal")]
    for extra, what in bads:
        t = r.tag()
        r.send(b"%s APPEND Work%s {%d+}\r\n%s\r\n" % (
            t.encode(), extra.encode(), len(evil), evil))
        u, tl = r.until(t)
        check(tl.split()[1] == b"BAD" and not u,
              "APPEND with %s and LITERAL+ is one BAD, the literal read "
              "and dropped" % what, (u, tl))
    # MULTIAPPEND whose second message head is bad
    t = r.tag()
    r.send(b"%s APPEND Work {%d+}\r\n%s (\\*) {%d+}\r\n%s {%d+}\r\n%s"
           b"\r\n" % (t.encode(), len(evil), evil, len(evil), evil,
                       len(evil), evil))
    u, tl = r.until(t)
    check(tl.split()[1] == b"BAD" and not u,
          "a MULTIAPPEND with a bad second head is one BAD, every "
          "literal read", (u, tl))
    u = r.ok("LIST \"\" \"Injected*\"")
    check(not u, "no line of a dropped literal ran as a command", u)
    check(count(r, "Work") == n, "no bad APPEND added a message",
          (count(r, "Work"), n))

    # --- UTF8=ACCEPT: APPEND ... UTF8 (~{N}\r\n...) (RFC 6855 4) ------
    u8 = "Subject: Grüße\r\nFrom: jörg@example.test\r\n\r\nbody\r\n".encode()
    r.ok("ENABLE UTF8=ACCEPT")
    t = r.tag()
    r.send(b"%s APPEND Work UTF8 (~{%d}\r\n" % (t.encode(), len(u8)))
    ln = r.line()
    check(ln.startswith(b"+"), "APPEND UTF8 (~{N}) is continued", ln)
    r.send(u8 + b")\r\n")
    u, tl = r.until(t)
    c = code(tl, "APPENDUID")
    check(c, "APPEND UTF8 (~{N}...) is OK [APPENDUID]", (u, tl))
    t = r.tag()
    r.send(b"%s APPEND Work UTF8 (~{%d+}\r\n%s) (\\Seen) {%d+}\r\n%s"
           b"\r\n" % (t.encode(), len(u8), u8, len(m1), m1))
    u, tl = r.until(t)
    c2 = code(tl, "APPENDUID")
    check(c2 and len(uids_of(c2.split()[1])) == 2,
          "a MULTIAPPEND of a UTF8 message then a plain one is OK", tl)
    r.ok("SELECT Work")
    u = r.ok("UID FETCH %s,%s (BODY.PEEK[])" % (c.split()[1],
                                               c2.split()[1]))
    got = [literals(x).get("BODY[]") for x in u if b"FETCH" in x]
    check(got == [u8, u8, crlf(m1)], "the UTF8 messages read back", got)

    # --- MULTIAPPEND -----------------------------------------------------
    a, b = b"Subject: m1\r\n\r\none\r\n", b"Subject: m2\n\ntwo\n"
    t = r.tag()
    r.send(b"%s APPEND Work (\\Flagged) {%d+}\r\n%s {%d+}\r\n%s\r\n" % (
        t.encode(), len(a), a, len(b), b))
    u, tl = r.until(t)
    c = code(tl, "APPENDUID")
    check(c and len(uids_of(c.split()[1])) == 2,
          "MULTIAPPEND answers two uids", tl)
    u = r.ok("UID FETCH %s (BODY.PEEK[])" % c.split()[1])
    got = [literals(x).get("BODY[]") for x in u if b"FETCH" in x]
    check(got == [a, crlf(b)], "MULTIAPPEND stored both messages", got)
    n = count(r, "Work")
    t = r.tag()
    r.send(b"%s APPEND Work {%d+}\r\n%s {%d+}\r\n%s\r\n" % (
        t.encode(), len(a), a, LIMIT + 5, b"y" * (LIMIT + 5)))
    u, tl = r.until(t)
    check(b"NO [TOOBIG]" in tl, "a MULTIAPPEND with one message too big "
          "is NO [TOOBIG]", tl)
    check(count(r, "Work") == n, "... and appends none of them",
          count(r, "Work"))

    # --- a message spooled to a file (past 1 MiB in memory) -------------
    big = b"Subject: spooled\n\n" + b"".join(
        b"line %06d of a message that goes to the spool file\n" % i
        for i in range(50000))
    big = big[:LIMIT - 10]
    check(len(big) > 2 * 1024 * 1024, "the spooled message is over 2 MiB",
          len(big))
    u, t, _ = append(r, "Work", big)
    c = code(t, "APPENDUID")
    check(c, "the large APPEND is OK", t)
    u = r.ok("UID FETCH %s (BODY.PEEK[])" % c.split()[1])
    check(literals(u[0]).get("BODY[]") == crlf(big),
          "the large appended message reads back", len(u[0]))

    # --- COPY / MOVE ------------------------------------------------------
    r.ok("SELECT Work")
    n_work = count(r, "Work")
    u, t = r.cmd("COPY 1:2 INBOX")
    c = code(t, "COPYUID")
    check(c and len(uids_of(c.split()[1])) == 2 and
          len(uids_of(c.split()[2])) == 2, "COPY answers COPYUID", t)
    check(count(r, "INBOX") == 2, "COPY added two messages", t)
    u, t = r.cmd("COPY 1 Nowhere")
    check(b"NO [TRYCREATE]" in t, "COPY to a missing mailbox is TRYCREATE",
          t)
    u, t = r.cmd("UID COPY 999999 INBOX")
    check(b" OK " in t and b"COPYUID" not in t,
          "UID COPY of no message is OK without COPYUID", t)
    u, t = r.cmd("MOVE 1 Work")
    check(t.split()[1] == b"NO", "MOVE into the mailbox itself is NO", t)
    u, t = r.cmd("MOVE 1 Archive")
    check(b" OK " in t, "MOVE is OK", (u, t))
    kinds = [x.split()[1] + (b" " + x.split()[2] if len(x.split()) > 2
                             else b"") for x in u]
    i_copy = next((i for i, x in enumerate(u)
                   if x.startswith(b"* OK [COPYUID ")), None)
    i_exp = next((i for i, x in enumerate(u)
                  if re.match(rb"\* 1 EXPUNGE", x)), None)
    check(i_copy is not None and i_exp is not None and i_copy < i_exp,
          "MOVE sends * OK [COPYUID] then * 1 EXPUNGE", (kinds, u))
    check(count(r, "Work") == n_work - 1 and count(r, "Archive") == 1,
          "MOVE moved one message", (count(r, "Work"),
                                     count(r, "Archive")))
    # with QRESYNC the expunge is a VANISHED, after the COPYUID
    qr = login(port)
    qr.ok("ENABLE QRESYNC")
    qr.ok("SELECT Work")
    u = qr.ok("UID FETCH 1:* (UID)")
    uid = int(re.search(rb"UID (\d+)", u[0]).group(1))
    u, t = qr.cmd("UID MOVE %d Archive" % uid)
    i_copy = next((i for i, x in enumerate(u)
                   if x.startswith(b"* OK [COPYUID ")), None)
    i_van = next((i for i, x in enumerate(u)
                  if x.startswith(b"* VANISHED %d\r" % uid)), None)
    check(b" OK " in t and i_copy is not None and i_van is not None and
          i_copy < i_van, "UID MOVE with QRESYNC sends COPYUID, then "
          "VANISHED", (u, t))
    qr.close()
    u = r.ok("EXAMINE Work")
    u, t = r.cmd("MOVE 1 INBOX")
    check(t.split()[1] == b"NO", "MOVE from a read-only mailbox is NO", t)

    # message expunged by another session
    r.ok("SELECT Work")
    r2 = login(port)
    r2.ok("SELECT Work")
    n_inbox = count(r2, "INBOX")
    r2.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r2.ok("EXPUNGE")
    # (r must send nothing else before the COPY: any command but FETCH,
    # STORE and SEARCH would announce the expunge first)
    u, t = r.cmd("COPY 1:2 INBOX")
    check(b"NO [EXPUNGEISSUED]" in t,
          "COPY of a message expunged elsewhere is NO [EXPUNGEISSUED]",
          (u, t))
    check(count(r2, "INBOX") == n_inbox, "... and copies nothing",
          count(r2, "INBOX"))
    r2.close()
    r.close()

    # --- quota ------------------------------------------------------------
    q = login(port, SMALL, SMALL_PASS)
    q.ok("SELECT INBOX")
    fill = b"Subject: fill\r\n\r\n" + b"z" * 12000 + b"\r\n"
    u, t, _ = append(q, "INBOX", fill)
    check(b" OK " in t, "the first message fits the quota", t)
    u, t, _ = append(q, "INBOX", fill)
    check(b"NO [OVERQUOTA]" in t, "APPEND over quota is NO [OVERQUOTA]",
          t)
    u, t = q.cmd("COPY 1 Trash")
    check(b"NO [OVERQUOTA]" in t, "COPY over quota is NO [OVERQUOTA]", t)
    check(count(q, "INBOX") == 1 and count(q, "Trash") == 0,
          "nothing was added over quota", t)
    q.close()

    # --- imaplib, as a client uses it ---------------------------------------
    im = imaplib.IMAP4("127.0.0.1", port)
    im.login(USER, PASS)
    typ, data = im.append("INBOX", "(\\Draft)", None,
                          b"Subject: via imaplib\r\n\r\nhi\r\n")
    check(typ == "OK" and b"APPENDUID" in data[0], "imaplib APPEND",
          (typ, data))
    im.logout()

    durable(site, port, proc)
    return 0


def kill9(proc):
    """SIGKILL the daemon and every process it started."""
    pids = [proc.pid] + [c for c, _ in descendants_of(proc.pid)]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


def durable(site, port, proc):
    """APPEND is durable before OK: the daemon killed with SIGKILL right
    after the tagged OK keeps the message; one killed in the middle of a
    MULTIAPPEND keeps none of it."""
    r = login(port)
    r.ok("CREATE Durable")
    one = b"Subject: durable one\n\nkept\n"
    two = b"Subject: durable two\r\n\r\nkept too\r\n"
    t = r.tag()
    r.send(b"%s APPEND Durable (\\Flagged) {%d+}\r\n%s {%d+}\r\n%s\r\n" % (
        t.encode(), len(one), one, len(two), two))
    _, tl = r.until(t)
    kill9(proc)
    c = code(tl, "APPENDUID")
    check(c and len(uids_of(c.split()[1])) == 2, "the MULTIAPPEND before "
          "the kill was OK", tl)
    r.close()
    proc = site.start("imapd")
    site.wait_port(port, proc)
    r = login(port)
    r.ok("SELECT Durable")
    u = r.ok("UID FETCH %s (FLAGS BODY.PEEK[])" % c.split()[1])
    got = [literals(x).get("BODY[]") for x in u if b"FETCH" in x]
    check(got == [crlf(one), two] and
          "\\Flagged" in (flags_of(u[0]) or []),
          "both messages answered OK survive kill -9", (got, u))
    # killed while the second message of a MULTIAPPEND is on its way
    t = r.tag()
    r.send(b"%s APPEND Durable {%d+}\r\n%s {%d+}\r\n%s" % (
        t.encode(), len(one), one, 1000, b"x" * 500))
    time.sleep(0.3)
    kill9(proc)
    r.close()
    proc = site.start("imapd")
    site.wait_port(port, proc)
    r = login(port)
    check(count(r, "Durable") == 2, "a MULTIAPPEND cut by kill -9 adds "
          "nothing", count(r, "Durable"))
    r.close()


if __name__ == "__main__":
    main(run)
