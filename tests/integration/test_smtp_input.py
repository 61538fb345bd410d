"""vellum-smtpd and hostile or unusual input: pipelined commands answered
in order, a 10,000-character line, SMTP smuggling (bare LF / bare CR
around a dot inside DATA) that never splits a message or delivers a
second one, STARTTLS with pipelined plaintext (discarded), a client
killed in the middle of DATA (nothing stored), the size limit (552
5.3.4, nothing stored), the hop limit (554 5.4.6), the recipient limit,
BDAT/CHUNKING, the bad-command limit.

usage: test_smtp_input.py BUILD_DIR
"""
import base64
import os
import smtplib
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main  # noqa: E402
from smtptest import (UNKNOWN, SmtpSite, Raw, check_delivery, count,  # noqa
                      ctx, listing, message, require_smtpd, sent_ok, stored,
                      user_info)

ALICE, ALICE_PW = "alice@example.test", "alice-pw"
BOB, BOB_PW = "bob@example.test", "bob-pw"
SENDER = "sender@remote.test"
MAX_SIZE = 1000000
MAX_RCPTS = 5
MEMORY_LIMIT = 200000


def session(srv, port="smtp"):
    r = Raw(srv.ports[port])
    check(r.greeting[0] == 220, "greeting 220", r.greeting)
    return r, r.ehlo()


def enhanced(reply):
    """Whether the reply text starts with an RFC 3463 code x.y.z."""
    code, lines = reply
    t = lines[0].split(b" ", 1)[0] if lines else b""
    parts = t.split(b".")
    return (len(parts) == 3 and all(p.isdigit() for p in parts) and
            parts[0] == str(code)[0].encode())


def test_pipelining(srv):
    site = srv.site
    r, caps = session(srv)
    check("PIPELINING" in caps, "EHLO announces PIPELINING", caps)
    a0, b0 = count(site, ALICE), count(site, BOB)
    r.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<nobody@example.test>"
           "\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER, ALICE, BOB))
    got = [r.reply() for _ in range(5)]
    codes = [c for c, _ in got]
    check(codes == [250, 250, 550, 250, 354], "MAIL/RCPT/RCPT/RCPT/DATA in "
          "one write: replies 250 250 550 250 354 in order", got)
    want = (UNKNOWN % "nobody@example.test").encode()
    check(got[2][1] == [want], "the unknown recipient's reply is the exact "
          "550 text", got[2])
    for reply in got[:4]:
        check(enhanced(reply), "every reply carries an enhanced status "
              "code", reply)
    m1 = message("pipelined one")
    m2 = message("pipelined two")
    # the end of one message and the next transaction in one write
    r.send(m1 + b".\r\nMAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" +
           ALICE.encode() + b">\r\nDATA\r\n")
    got = [r.reply() for _ in range(4)]
    check([c for c, _ in got] == [250, 250, 250, 354], "end of data + "
          "MAIL/RCPT/DATA in one write: 250 250 250 354", got)
    r.send(m2 + b".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    got = [r.reply() for _ in range(4)]
    check([c for c, _ in got] == [250, 250, 250, 221], "end of data + "
          "RSET/NOOP/QUIT in one write: 250 250 250 221", got)
    r.close()
    check(count(site, ALICE) == a0 + 2 and count(site, BOB) == b0 + 1,
          "alice got both pipelined messages, bob the first",
          (a0, count(site, ALICE), b0, count(site, BOB)))
    st = stored(site, ALICE)
    check_delivery(st[-2], m1, SENDER, [ALICE], "pipelined 1")
    check_delivery(st[-1], m2, SENDER, [ALICE], "pipelined 2")


def test_long_lines(srv):
    site = srv.site
    r, _ = session(srv)
    reply = r.cmd("NOOP " + "x" * 10000)
    check(500 <= reply[0] < 600, "a 10,000-character command line gets a "
          "5xx reply (500 5.5.2)", reply)
    check(r.cmd("NOOP")[0] == 250, "the session goes on after the long "
          "line", "")
    reply = r.cmd("MAIL FROM:<" + "a" * 10000 + "@remote.test>")
    check(500 <= reply[0] < 600, "a 10,000-character MAIL FROM gets 5xx",
          reply)
    check(r.cmd("RSET")[0] == 250, "RSET after it", "")
    # a 10,000-character line inside DATA: kept whole or refused whole
    a0 = count(site, ALICE)
    check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
    check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "RCPT", "")
    check(r.cmd("DATA")[0] == 354, "DATA", "")
    m = message("long body line", b"z" * 10000 + b"\r\nend\r\n")
    reply = r.cmd(m + b".\r\n")
    n = count(site, ALICE)
    if reply[0] == 250:
        check(n == a0 + 1, "250 for the long DATA line: stored", n)
        check_delivery(stored(site, ALICE)[-1], m, SENDER, [ALICE],
                       "10,000-character body line")
    else:
        check(500 <= reply[0] < 600 and n == a0, "a refused long DATA "
              "line is 5xx and nothing is stored", (reply, n))
    check(r.cmd("NOOP")[0] == 250, "the session goes on after DATA with "
          "a long line", "")
    r.cmd("QUIT")
    r.close()


SMUGGLE = [b"\n.\n", b"\r.\r\n", b"\n.\r\n", b"\r\n.\n", b"\r\n.\r",
           b"\r.\n", b"\n.\r"]


def test_smuggling(srv):
    site = srv.site
    for n, sep in enumerate(SMUGGLE):
        a0, b0 = count(site, ALICE), count(site, BOB)
        r, _ = session(srv)
        check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
        check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "RCPT", "")
        check(r.cmd("DATA")[0] == 354, "DATA", "")
        data = (b"Subject: smuggle %d\r\n\r\nfirst part" % n + sep +
                b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<" +
                BOB.encode() + b">\r\nDATA\r\nSubject: smuggled\r\n\r\n"
                b"evil body\r\n.\r\n")
        r.send(data + b"QUIT\r\n")
        first = r.reply()
        second = r.reply()
        what = "smuggling with %r" % sep
        check(first[0] in (250, 550, 554) or 500 <= first[0] < 600,
              "%s: one reply for the whole DATA" % what, first)
        check(second[0] == 221, "%s: the next reply is QUIT's 221 (no "
              "smuggled MAIL/RCPT/DATA ran)" % what, (first, second,
                                                      r.pending()))
        r.close()
        time.sleep(0.1)
        check(count(site, BOB) == b0, "%s: the smuggled recipient got "
              "nothing" % what, count(site, BOB))
        na = count(site, ALICE)
        if first[0] == 250:
            check(na == a0 + 1, "%s: 250 stored exactly one message" %
                  what, (a0, na))
            last = stored(site, ALICE)[-1]
            check(b"first part" in last and b"evil body" in last and
                  b"RCPT TO:<" + BOB.encode() in last, "%s: the one "
                  "message holds all of the data (not split)" % what,
                  last[-400:])
        else:
            check(na == a0, "%s: refused, nothing stored" % what, na)
    srv.alive("the smuggling attempts")


def test_starttls_injection(srv):
    for port in ("submission", "smtp"):
        r, caps = session(srv, port)
        check("STARTTLS" in caps, "[%s] offers STARTTLS" % port, caps)
        r.send("STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n")
        reply = r.reply()
        check(reply[0] == 220, "STARTTLS with pipelined plaintext: 220 "
              "(then the plaintext is discarded)", reply)
        check(r.buf == b"", "nothing but the 220 before the handshake",
              r.buf)
        r.s = ctx().wrap_socket(r.s)
        reply = r.cmd("EHLO client.example.test")
        check(reply[0] == 250, "[%s]: the first reply under TLS is EHLO's "
              "250, not one for the injected MAIL FROM" % port, reply)
        more = r.pending(0.5)
        check(more == b"", "[%s]: no further reply for the injected "
              "command" % port, more)
        if port == "submission":	# require_auth: MAIL needs AUTH
            tok = base64.b64encode(("\0%s\0%s" % (ALICE, ALICE_PW))
                                   .encode()).decode()
            reply = r.cmd("AUTH PLAIN " + tok)
            check(reply[0] == 235, "[submission]: AUTH under TLS", reply)
        reply = r.cmd("MAIL FROM:<%s>" % SENDER)
        check(reply[0] == 250, "[%s]: MAIL FROM under TLS is the first "
              "transaction (250, not 503 nested MAIL)" % port, reply)
        r.cmd("QUIT")
        r.close()


def test_killed_client(srv):
    site = srv.site
    a0 = count(site, ALICE)
    used0 = user_info(site, ALICE)["used_bytes"]
    for n, (tail, rst) in enumerate([(b"half a li", True),
                                     (b"line\r\n", False),
                                     (b"line\r\n.", True),
                                     (b"line\r\n.\r", False)]):
        r, _ = session(srv)
        check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
        check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "RCPT", "")
        check(r.cmd("DATA")[0] == 354, "DATA", "")
        r.send(message("killed %d" % n, size=50000) + tail)
        time.sleep(0.1)
        if rst:		# RST, as from a killed process with data unread
            r.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                           struct.pack("ii", 1, 0))
        r.close()
    time.sleep(0.5)
    check(count(site, ALICE) == a0, "clients gone in the middle of DATA "
          "left nothing stored", listing(site, ALICE)[-3:])
    check(user_info(site, ALICE)["used_bytes"] == used0, "usage is "
          "unchanged", user_info(site, ALICE))
    srv.alive("clients died in DATA")
    # and the recipient is not left locked
    s = srv.smtp()
    t0 = time.monotonic()
    sent_ok(s, SENDER, [ALICE], message("after killed clients"),
            "delivery after killed clients")
    check(time.monotonic() - t0 < 5, "delivery after killed clients is "
          "not held up by a lock", time.monotonic() - t0)
    s.quit()


def test_size(srv):
    site = srv.site
    s = srv.smtp()
    caps = {k.upper(): v for k, v in s.esmtp_features.items()}
    check(caps.get("SIZE", "").strip() == str(MAX_SIZE), "SIZE announces "
          "max_message_size", caps)
    a0 = count(site, ALICE)
    used0 = user_info(site, ALICE)["used_bytes"]
    code, resp = s.mail(SENDER, ["SIZE=%d" % (MAX_SIZE + 1)])
    check(code == 552 and resp.startswith(b"5.3.4"), "MAIL FROM with "
          "SIZE= over the limit: 552 5.3.4", (code, resp))
    s.rset()
    big = message("too big", size=MAX_SIZE + 50000)
    code, resp = s.mail(SENDER)
    check(code == 250, "MAIL without SIZE", (code, resp))
    check(s.rcpt(ALICE)[0] == 250, "RCPT", "")
    try:
        code, resp = s.data(big)
    except (smtplib.SMTPServerDisconnected, ConnectionError) as e:
        raise Failure("DATA over the size limit: the server closed "
                      "instead of answering 552: %r" % (e,))
    check(code == 552 and resp.startswith(b"5.3.4"), "DATA over "
          "max_message_size: 552 5.3.4", (code, resp))
    check(count(site, ALICE) == a0 and
          user_info(site, ALICE)["used_bytes"] == used0,
          "nothing stored for an oversized message", count(site, ALICE))
    check(s.noop()[0] == 250, "the session goes on after 552", "")
    ok = message("just under", size=MAX_SIZE - 10000)
    sent_ok(s, SENDER, [ALICE], ok, "a message just under the limit",
            mail_options=["SIZE=%d" % len(ok)])
    check_delivery(stored(site, ALICE)[-1], ok, SENDER, [ALICE],
                   "just under the size limit")
    s.quit()


def test_hops(srv):
    site = srv.site
    s = srv.smtp()
    a0 = count(site, ALICE)
    hops = b"".join(b"Received: from h%d.remote.test by h%d.remote.test;"
                    b" Mon, 1 Jan 2024 00:00:%02d +0000\r\n"
                    % (i, i + 1, i % 60) for i in range(51))
    m = hops + message("too many hops")
    s.mail(SENDER)
    s.rcpt(ALICE)
    code, resp = s.data(m)
    check(code == 554 and resp.startswith(b"5.4.6"), "51 Received "
          "headers (max_hops 50): 554 5.4.6", (code, resp))
    check(count(site, ALICE) == a0, "nothing stored for a looping "
          "message", count(site, ALICE))
    m = hops[:hops.index(b"Received: from h40.")] + message("40 hops")
    sent_ok(s, SENDER, [ALICE], m, "40 Received headers")
    check_delivery(stored(site, ALICE)[-1], m, SENDER, [ALICE], "40 hops")
    s.quit()


def test_recipient_limit(srv):
    site = srv.site
    users = ["r%d@example.test" % i for i in range(MAX_RCPTS + 1)]
    s = srv.smtp()
    check(s.mail(SENDER)[0] == 250, "MAIL", "")
    got = [s.rcpt(u) for u in users]
    check(all(c == 250 for c, _ in got[:MAX_RCPTS]), "max_recipients (%d) "
          "RCPTs are accepted" % MAX_RCPTS, got)
    check(got[-1][0] in (452, 552) and got[-1][1][:5] in (b"4.5.3",
                                                         b"5.5.3"),
          "one more RCPT: 452 4.5.3 too many recipients", got[-1])
    code, resp = s.data(message("at the recipient limit"))
    check(code == 250, "DATA for the accepted recipients", (code, resp))
    counts = [count(site, u) for u in users]
    check(counts == [1] * MAX_RCPTS + [0], "each accepted recipient got "
          "one copy, the refused one none", counts)
    s.quit()


def test_bdat(srv):
    site = srv.site
    r, caps = session(srv)
    check("CHUNKING" in caps, "EHLO announces CHUNKING", caps)
    a0 = count(site, ALICE)
    c1 = message("bdat", b"first chunk\r\n.\r\n..two dots stay\r\n")
    c2 = b".no unstuffing in BDAT\r\nlast line\r\n"
    check(r.cmd("MAIL FROM:<%s> BODY=8BITMIME" % SENDER)[0] == 250,
          "MAIL", "")
    check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "RCPT", "")
    reply = r.cmd(b"BDAT %d\r\n" % len(c1) + c1)
    check(reply[0] == 250, "BDAT chunk 1: 250", reply)
    reply = r.cmd(b"BDAT %d LAST\r\n" % len(c2) + c2)
    check(reply[0] == 250, "BDAT LAST: 250", reply)
    check(count(site, ALICE) == a0 + 1, "BDAT stored one message",
          count(site, ALICE))
    check_delivery(stored(site, ALICE)[-1], c1 + c2, SENDER, [ALICE],
                   "BDAT (a CRLF.CRLF inside a chunk is data)")
    # all pipelined in one write, chunk bytes included
    c = message("bdat pipelined")
    r.send(b"MAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" +
           ALICE.encode() + b">\r\nBDAT %d LAST\r\n" % len(c) + c +
           b"NOOP\r\n")
    got = [r.reply() for _ in range(4)]
    check([x for x, _ in got] == [250, 250, 250, 250], "MAIL/RCPT/BDAT "
          "LAST/NOOP in one write: four 250s", got)
    check_delivery(stored(site, ALICE)[-1], c, SENDER, [ALICE],
                   "pipelined BDAT")
    # DATA after BDAT in one transaction, BDAT without MAIL
    check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
    check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "RCPT", "")
    check(r.cmd(b"BDAT 5\r\nabcde")[0] == 250, "BDAT 5", "")
    reply = r.cmd("DATA")
    check(reply[0] == 503, "DATA after BDAT: 503", reply)
    check(r.cmd("RSET")[0] == 250, "RSET", "")
    reply = r.cmd(b"BDAT 3 LAST\r\nxyz")
    check(reply[0] == 503, "BDAT without MAIL: 503", reply)
    check(count(site, ALICE) == a0 + 2, "nothing stored from the aborted "
          "transactions", count(site, ALICE))
    # over the size limit in chunks: 552, nothing stored
    check(r.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "MAIL", "")
    check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "RCPT", "")
    chunk = b"x" * 78 + b"\r\n"
    chunk = chunk * (400000 // len(chunk))
    replies = []
    try:
        for i in range(3):
            r.send(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if i == 2
                                       else b"") + chunk)
            replies.append(r.reply())
    except (EOFError, OSError) as e:
        replies.append(("closed", e))
    check(any(isinstance(x, tuple) and x[0] == 552 for x in replies),
          "BDAT chunks past max_message_size: 552 5.3.4", replies)
    r.close()
    check(count(site, ALICE) == a0 + 2, "nothing stored from the "
          "oversized BDAT transaction", count(site, ALICE))


def test_bad_commands(srv):
    r, _ = session(srv)
    check(r.cmd("RCPT TO:<%s>" % ALICE)[0] == 503, "RCPT before MAIL: "
          "503", "")
    check(r.cmd("DATA")[0] in (503, 554), "DATA before RCPT: 503", "")
    reply = r.cmd("MAIL FROM:<%s> FROBNICATE=1" % SENDER)
    check(reply[0] in (501, 555), "MAIL FROM with an unknown parameter: "
          "555 5.5.4", reply)
    reply = r.cmd(b"NO\0OP\r\n")
    check(500 <= reply[0] < 600, "a NUL byte in a command: 5xx", reply)
    check(r.cmd("NOOP")[0] == 250, "the session goes on", "")
    r.close()
    # AUTH cancelled with "*", and a response that is not base64: 501
    # each (AUTH is offered on [submission]: [auth] plaintext = yes;
    # port 25 has no AUTH unless [smtp] auth = yes).
    r, _ = session(srv, "submission")
    check(r.cmd("AUTH PLAIN")[0] == 334, "AUTH PLAIN: 334", "")
    reply = r.cmd("*")
    check(reply[0] == 501 and b"cancel" in reply[1][0].lower(),
          "\"*\" cancels AUTH: 501", reply)
    check(r.cmd("AUTH LOGIN")[0] == 334, "AUTH LOGIN: 334", "")
    reply = r.cmd("!!not base64!!")
    check(reply[0] == 501 and b"invalid" in reply[1][0].lower(),
          "a response that is not base64: 501", reply)
    check(r.cmd("NOOP")[0] == 250, "the session goes on after AUTH "
          "errors", "")
    r.close()

    r, _ = session(srv)
    replies = []
    closed = False
    for i in range(40):
        try:
            replies.append(r.cmd("FROB%d" % i))
        except (EOFError, OSError):
            closed = True
            break
    check(closed and len(replies) <= 22, "the server closes the session "
          "after about max_bad_commands (20) unknown commands",
          (len(replies), replies[-2:]))
    check(all(500 <= c < 600 for c, _ in replies[:-1]) and
          replies[-1][0] in (421, 500, 502, 503), "unknown commands get "
          "5xx, the last maybe 421", replies[-3:])
    r.close()


def test_duplicate_rcpt(srv):
    # The same recipient given twice (in any case) is delivered once.
    site = srv.site
    a0 = count(site, ALICE)
    s = srv.smtp()
    refused = s.sendmail(SENDER, [ALICE, ALICE.upper()],
                         message("twice"))
    s.quit()
    check(refused == {}, "both RCPTs accepted", refused)
    check(count(site, ALICE) == a0 + 1, "one copy for a recipient given "
          "twice", count(site, ALICE) - a0)


def test_memory_limit(srv):
    # [smtpd] memory_limit = MEMORY_LIMIT: a session whose unfinished
    # DATA would hold more than that goes on in an unlinked spool file,
    # so another session's DATA is still accepted meanwhile; both
    # messages are stored whole.
    site = srv.site
    a0, b0 = count(site, ALICE), count(site, BOB)
    a, _ = session(srv)
    check(a.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "A: MAIL", "")
    check(a.cmd("RCPT TO:<%s>" % ALICE)[0] == 250, "A: RCPT", "")
    check(a.cmd("DATA")[0] == 354, "A: DATA", "")
    body = (b"y" * 998 + b"\r\n") * (MEMORY_LIMIT // 1000 + 20)
    a.send(b"Subject: big\r\n\r\n" + body)
    time.sleep(0.5)
    left = [f for f in os.listdir(site.data) if "spool" in f]
    check(left == [], "the spool file has no name in data_dir", left)
    b, _ = session(srv)
    check(b.cmd("MAIL FROM:<%s>" % SENDER)[0] == 250, "B: MAIL", "")
    check(b.cmd("RCPT TO:<%s>" % BOB)[0] == 250, "B: RCPT", "")
    r = b.cmd("DATA")
    check(r[0] == 354, "B: DATA accepted while A's message (over "
          "memory_limit) is spooled", r)
    b.send(b"Subject: small\r\n\r\nhi\r\n.\r\n")
    check(b.reply()[0] == 250, "B: small message accepted", "")
    a.send(b".\r\n")
    r = a.reply()
    check(r[0] == 250, "A: the large message is accepted", r)
    check(count(site, BOB) == b0 + 1, "B's message stored", "")
    check(count(site, ALICE) == a0 + 1, "A's message stored", "")
    got = stored(site, ALICE)[-1]
    check(got.endswith(b"Subject: big\r\n\r\n" + body), "A's spooled "
          "message stored byte for byte", len(got))
    a.cmd("QUIT")
    b.cmd("QUIT")


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site, smtpd={"max_message_size": str(MAX_SIZE),
                                "max_recipients": str(MAX_RCPTS),
                                "max_hops": "50",
                                "max_bad_commands": "20",
                                "memory_limit": str(MEMORY_LIMIT)})
    site.add_user(ALICE, ALICE_PW)
    site.add_user(BOB, BOB_PW)
    for i in range(MAX_RCPTS + 1):
        site.add_user("r%d@example.test" % i, "r-pw")
    srv.start()
    test_pipelining(srv)
    test_long_lines(srv)
    test_smuggling(srv)
    test_starttls_injection(srv)
    test_killed_client(srv)
    test_size(srv)
    test_hops(srv)
    test_recipient_limit(srv)
    test_bdat(srv)
    test_bad_commands(srv)
    test_memory_limit(srv)
    test_duplicate_rcpt(srv)
    srv.alive("all the bad input")
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes", out)
    return 0


if __name__ == "__main__":
    main(run)
