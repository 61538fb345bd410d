#!/usr/bin/env python3
"""Inbound antivirus (issue 15): vellum-smtpd sends what untrusted port 25
clients send through a REAL clamd (Debian clamav-daemon), started here on
a unix socket and a loopback TCP port of a temporary directory with a
one-line signature database of our own (the EICAR test string as an .ndb
body signature: no virus database is downloaded, freshclam never runs).

- EICAR in the body, or base64 in an attachment: 554 5.7.1 naming the
  virus, nothing stored for any recipient, one log line with the client
  address, the sender and the virus; over TCP as over the unix socket;
- clean mail is delivered with X-Virus-Status: Clean on top (after
  Return-Path and Delivered-To, counted in the stored size);
- a white ip or sender skips the scan, a white net does not;
- submission (logged in) and LMTP are not scanned;
- a message over max_size is accepted unscanned, with a header and a log
  line;
- a message over clamd's StreamMaxLength: 451 (clamd's ERROR);
- clamd stopped: 451 4.7.1 by default (nothing stored, a log line);
  on_error = accept delivers with X-Virus-Status: Unchecked.

Skipped (77) only when clamd is not installed.

usage: test_antivirus.py BUILD_DIR
"""
import base64
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import SKIP, Failure, check, main  # noqa: E402
from smtptest import (SmtpSite, count, listing, require_smtpd,  # noqa: E402
                      stored)
from test_acl import client, log_has  # noqa: E402
from clamdtest import CLAMD, EICAR, SIG, Clamd, have_clamd  # noqa: E402

HOST = "127.0.0.1"
BOB, CAROL = "bob@example.test", "carol@example.test"
PW = "pw-antivirus"


def message(subject, body=b"hello\r\n", extra=b""):
    return (b"From: <x@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
            b"Message-ID: <%s@remote.test>\r\n%s\r\n" %
            (BOB.encode(), subject.encode(),
             subject.replace(" ", "-").encode(), extra)) + body


def eicar_body(subject):
    return message(subject, b"the test file:\r\n" + EICAR + b"\r\n")


def eicar_attached(subject):
    b64 = base64.encodebytes(EICAR).replace(b"\n", b"\r\n")
    return message(subject, b"--XX\r\nContent-Type: text/plain\r\n\r\n"
                   b"see the attachment\r\n--XX\r\n"
                   b"Content-Type: application/octet-stream; "
                   b"name=\"eicar.com\"\r\n"
                   b"Content-Transfer-Encoding: base64\r\n"
                   b"Content-Disposition: attachment; "
                   b"filename=\"eicar.com\"\r\n\r\n" + b64 + b"--XX--\r\n",
                   b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
                   b"boundary=\"XX\"\r\n")


def send(srv, src, data, sender="x@remote.test", rcpts=(BOB,)):
    """One message from 127.0.0.SRC on port 25: the DATA reply."""
    s = client(srv, src)
    try:
        code, m = s.mail(sender)
        check(code == 250, "MAIL from 127.0.0.%d answers 250" % src,
              (code, m))
        for r in rcpts:
            code, m = s.rcpt(r)
            check(code == 250, "RCPT %s answers 250" % r, (code, m))
        try:
            return s.data(data)
        except smtplib.SMTPResponseException as e:
            return e.smtp_code, e.smtp_error
    finally:
        try:
            s.quit()
        except smtplib.SMTPServerDisconnected:
            pass


def counts(site):
    return (count(site, BOB), count(site, CAROL))


def refused_virus(srv, src, data, what, rcpts=(BOB,), sender="x@remote.test"):
    site = srv.site
    before = counts(site)
    code, text = send(srv, src, data, sender=sender, rcpts=rcpts)
    text = text.decode(errors="replace")
    check(code == 554 and text.startswith("5.7.1 Message refused: virus "
                                          "found (" + SIG),
          "%s: 554 5.7.1 naming the virus" % what, (code, text))
    check(counts(site) == before, "%s: nothing stored for any recipient"
          % what, (before, counts(site)))
    log_has(srv, r"antivirus: virus %s\S* found in message from <%s> "
            r"client \[127\.0\.0\.%d\]: refused \(554\)" %
            (SIG, re.escape(sender), src), "%s: the log line names the "
            "virus, the sender and the client" % what)


def delivered(srv, src, data, what, sender="x@remote.test"):
    """Sends to bob, which must answer 250; bob's new message."""
    site = srv.site
    n = count(site, BOB)
    code, text = send(srv, src, data, sender=sender)
    check(code == 250, "%s: accepted (250)" % what, (code, text))
    got = stored(site, BOB)
    check(len(got) == n + 1, "%s: bob has it" % what, (n, len(got)))
    return got[-1]


def top(m):
    """The header lines above our Received: (after Return-Path and
    Delivered-To)."""
    head = m.split(b"\r\nReceived: ", 1)[0]
    return head.split(b"\r\n")[2:]


def case_scan(srv):
    m = delivered(srv, 2, message("clean one"), "clean mail")
    log_has(srv, r"antivirus: message from <x@remote\.test> client "
            r"\[127\.0\.0\.2\] scanned: clean", "clean mail: the verdict "
            "is logged too")
    check(top(m)[1:] == [b"X-Virus-Status: Clean"] and
          top(m)[0].startswith(b"X-Virus-Scanned: ClamAV at "),
          "clean mail: X-Virus-Scanned and X-Virus-Status: Clean on top",
          top(m))
    size = listing(srv.site, BOB)[-1]["size"]
    check(size == len(m), "the stored size counts the added headers",
          (size, len(m)))
    # a sender's own verdict goes: only ours is left
    m = delivered(srv, 2, message("forged", extra=b"X-Virus-Status: Clean"
                                  b"\r\nX-Virus-Scanned: by a friend\r\n"),
                  "forged X-Virus fields")
    head = m.split(b"\r\n\r\n", 1)[0]
    check(head.count(b"\r\nX-Virus-Status:") == 1 and
          head.count(b"\r\nX-Virus-Scanned:") == 1 and
          b"by a friend" not in head and
          top(m)[1:] == [b"X-Virus-Status: Clean"],
          "incoming X-Virus fields are removed, ours stay on top", head)
    refused_virus(srv, 2, eicar_body("eicar body"), "EICAR in the body")
    refused_virus(srv, 3, eicar_attached("eicar attached"),
                  "EICAR base64 in an attachment", rcpts=(BOB, CAROL))
    # BDAT ends the same way (the same end-of-message path)
    s = client(srv, 4)
    s.mail("x@remote.test")
    s.rcpt(BOB)
    data = eicar_body("eicar bdat")
    s.send(b"BDAT %d LAST\r\n" % len(data) + data)
    code, text = s.getreply()
    s.close()
    check(code == 554 and b"virus found" in text, "BDAT: 554 too",
          (code, text))


def case_acl(srv):
    site = srv.site
    site.ctl("acl", "add", "white", "ip", "127.0.0.5")
    m = delivered(srv, 5, eicar_body("white ip"), "EICAR from a white ip")
    check(EICAR in m and not any(ln.startswith(b"X-Virus") for ln in top(m)),
          "a white ip skips the scan (no X-Virus header)", top(m))
    log_has(srv, r"client 127\.0\.0\.5 whitelisted by ip 127\.0\.0\.5: "
            r"skips .*AV", "the white ip's skips include AV")
    site.ctl("acl", "add", "white", "net", "127.0.0.8/30")
    refused_virus(srv, 9, eicar_body("white net"), "EICAR from a white net")
    site.ctl("acl", "add", "white", "sender", "friend@remote.test")
    m = delivered(srv, 6, eicar_body("white sender"),
                  "EICAR from a white sender", sender="friend@remote.test")
    check(EICAR in m, "a white sender skips the scan", "")


def case_exempt(srv):
    site = srv.site
    n = count(site, CAROL)
    s = srv.submission(BOB, PW)
    code, m = s.mail(BOB)
    s.rcpt(CAROL)
    code, m = s.data(eicar_body("submitted"))
    s.quit()
    check(code == 250 and count(site, CAROL) == n + 1,
          "submission (logged in) is not scanned", (code, m))
    lm = smtplib.LMTP(HOST, srv.ports["lmtp"], timeout=30)
    lm.ehlo("lmtp.test")
    lm.sendmail("x@remote.test", [CAROL], eicar_body("lmtp"))
    lm.quit()
    check(count(site, CAROL) == n + 2, "LMTP is not scanned", "")


def case_max_size(srv):
    srv.reconfigure(more={"antivirus": {"max_size": "2000"}})
    srv.restart(pop3=False)
    big = eicar_body("too big") + b"padding padding padding\r\n" * 100
    m = delivered(srv, 2, big, "EICAR over max_size")
    check(top(m) == [b"X-Virus-Status: Unchecked (too large to scan)"],
          "over max_size: X-Virus-Status: Unchecked on top", top(m))
    log_has(srv, r"antivirus: message from <x@remote\.test> client "
            r"\[127\.0\.0\.2\] not scanned: \d+ bytes, over max_size "
            r"\(2000\)", "the log says it was too large to scan")
    # within it, scanned again
    refused_virus(srv, 2, eicar_body("small"), "EICAR under max_size")
    srv.reconfigure(more={"antivirus": {"max_size": "25M"}})


def case_tcp(srv, cd):
    srv.reconfigure(more={"antivirus": {"clamd": "127.0.0.1:%d" % cd.port}})
    srv.restart(pop3=False)
    refused_virus(srv, 2, eicar_body("over tcp"), "EICAR, clamd over TCP")
    delivered(srv, 2, message("clean over tcp"), "clean mail over TCP")


def case_stream_limit(srv, site):
    """A clamd whose StreamMaxLength is under the message: it answers
    ERROR and closes while the message is still being sent; that is a
    scan not made (451), never a pass."""
    small = Clamd(port=site.port(), stream_max="1K")
    try:
        small.start()
        srv.reconfigure(more={"antivirus": {"clamd": small.sock}})
        srv.restart(pop3=False)
        before = counts(site)
        big = eicar_body("over StreamMaxLength") + b"x" * 76 * 4000
        code, text = send(srv, 2, big)
        check(code == 451 and b"Virus scan not available" in text,
              "over clamd's StreamMaxLength: 451", (code, text))
        check(counts(site) == before, "... and nothing stored", "")
        log_has(srv, r"not scanned \(clamd \S+: clamd error: \"INSTREAM "
                r"size limit exceeded", "the log gives clamd's own refusal")
    finally:
        small.cleanup()


def case_down(srv, cd):
    site = srv.site
    cd.stop()
    before = counts(site)
    code, text = send(srv, 2, message("clamd down"))
    check(code == 451 and text == b"4.7.1 Virus scan not available; try "
          b"again later", "clamd down: 451 4.7.1 by default", (code, text))
    check(counts(site) == before, "clamd down: nothing stored", counts(site))
    log_has(srv, r"antivirus: message from <x@remote\.test> client "
            r"\[127\.0\.0\.2\] not scanned \(clamd .*\): 451",
            "the log says why it was not scanned")
    srv.reconfigure(more={"antivirus": {"on_error": "accept"}})
    srv.restart(pop3=False)
    m = delivered(srv, 2, eicar_body("clamd down accept"),
                  "clamd down, on_error = accept")
    check(top(m) == [b"X-Virus-Status: Unchecked (virus scanner not "
                     b"available)"],
          "on_error = accept: X-Virus-Status: Unchecked on top", top(m))
    log_has(srv, r"not scanned \(clamd .*\): accepted with X-Virus-Status",
            "the log says it was accepted unscanned")


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    if not have_clamd():
        print("SKIP: %s is not installed (Debian clamav-daemon)" % CLAMD)
        return SKIP
    cd = Clamd(port=site.port())
    try:
        cd.start()
        srv = SmtpSite(site, more={"antivirus": {"clamd": cd.sock,
                                                 "timeout": "60"}})
        for u in (BOB, CAROL):
            site.add_user(u, PW)
        srv.start(pop3=False)
        case_scan(srv)
        case_acl(srv)
        case_exempt(srv)
        case_max_size(srv)
        case_tcp(srv, cd)
        case_stream_limit(srv, site)
        srv.reconfigure(more={"antivirus": {"clamd": cd.sock}})
        srv.restart(pop3=False)
        case_down(srv, cd)
        srv.alive("the tests")
        check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0",
              "")
        check("ok" in site.ctl("store", "check"), "store check passes", "")
    finally:
        cd.cleanup()
    return 0


if __name__ == "__main__":
    main(run)
