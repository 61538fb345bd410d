"""Mail delivered over SMTP reaches IMAP sessions at once: an IDLE session
gets "* n EXISTS" after the 250, a selected session gets it with its next
command, and the bytes FETCH returns are those the SMTP client sent (with
the Received/Return-Path prefix the delivery adds on top).

usage: test_imap_smtp.py BUILD_DIR
"""
import os
import re
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imaptest import ImapSite, check, run  # noqa: E402

USER, PASS = "dora@example.test", "d0ra-pw"


def test(site, args):
    smtp = site.port()
    site.start_imapd(sections={"smtp": {"listen": "127.0.0.1:%d" % smtp}})
    site.add_user(USER, PASS)
    sp = site.start("smtpd")
    site.wait_port(smtp, sp)

    idler = site.raw()
    idler.cmd("a LOGIN %s %s" % (USER, PASS))
    tagged, untagged = idler.cmd("b SELECT INBOX")
    check(any(u == b"* 0 EXISTS" for u in untagged), "INBOX starts empty",
          untagged)
    other = site.login(USER, PASS)
    other.select("INBOX")

    idler.send(b"c IDLE\r\n")
    line = idler.line()
    check(line.startswith(b"+"), "IDLE is accepted", line)
    body = "Subject: over smtp\r\n\r\nline one\r\nline two\r\n"
    with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as c:
        c.sendmail("someone@remote.test", [USER], body)
    line = idler.line()
    check(line == b"* 1 EXISTS", "the idling session learns of the SMTP "
          "delivery with * 1 EXISTS", line)
    idler.send(b"DONE\r\n")
    tagged, _ = idler.until_tagged(b"c")
    check(tagged.startswith(b"c OK"), "IDLE ends with OK", tagged)

    before = list(other.untagged_responses.get("EXISTS", []))
    typ, data = other.noop()
    after = other.untagged_responses.get("EXISTS", [])
    check(after[len(before):] == [b"1"], "the other session gets * 1 "
          "EXISTS with its next command", (before, after))
    typ, data = other.fetch("1", "(BODY.PEEK[])")
    got = data[0][1]
    check(got.endswith(body.encode()), "FETCH returns the bytes sent over "
          "SMTP at the end of the stored message", got[-200:])
    check(re.match(rb"(Return-Path|Received|Delivered-To): ", got),
          "the delivery's own header lines come first", got[:200])
    other.logout()
    idler.cmd("d LOGOUT")


if __name__ == "__main__":
    run(test)
