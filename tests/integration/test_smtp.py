"""vellum-smtpd against real clients: python3 smtplib on [smtp] (plain),
[submission] (STARTTLS, AUTH PLAIN), [smtps] (implicit TLS, AUTH LOGIN),
SMTPUTF8, swaks, and LMTP with one reply per recipient; dedup across
recipients; AUTH only after TLS with [auth] plaintext = no.  Every delivered
message is read back through the store (vellumctl mail export) and
through vellum-pop3d: Return-Path and Delivered-To for its recipient,
the server's Received header, then the sent bytes unchanged.

usage: test_smtp.py BUILD_DIR
"""
import base64
import json
import os
import shutil
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (HOST, UNKNOWN, RELAY_DENIED, SmtpSite, Raw,  # noqa
                      auth_plain_token, check_delivery, count, message,
                      queue, readback, require_smtpd, send, sent_ok, stored)

ALICE, ALICE_PW = "alice@example.test", "alice-pw"
BOB, BOB_PW = "bob@example.test", "bob-pw"
DAVE, DAVE_PW = "dave@example.test", "dave-pw"	# a small quota
SENDER = "sender@remote.test"


def caps_of(s):
    return {k.upper(): v for k, v in s.esmtp_features.items()}


def test_plain(srv):
    site = srv.site
    g = Raw(srv.ports["smtp"])
    check(g.greeting[0] == 220 and b"Vellum test ESMTP" in
          b" ".join(g.greeting[1]), "the greeting is 220 with the "
          "configured banner", g.greeting)
    g.cmd("QUIT")
    g.close()

    s = srv.smtp()
    caps = caps_of(s)
    for c in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
              "STARTTLS", "SMTPUTF8", "CHUNKING"):
        check(c in caps, "EHLO on [smtp] announces %s" % c, caps)
    check(caps["SIZE"].strip() == "20480000", "SIZE announces the "
          "default max_message_size 20480000", caps["SIZE"])

    m = message("plain smtplib", b"Hello Alice.\r\n\r\n-- \r\nS.\r\n")
    sent_ok(s, SENDER, [ALICE], m, "plain smtplib")
    readback(srv, ALICE, ALICE_PW, m, SENDER, [ALICE], "plain smtplib")

    # 8-bit body, dot-stuffed lines, CRLF only inside a long body
    m = message("eight bit", b"caf\xc3\xa9 \xe2\x82\xac\r\n.hidden\r\n"
                b"..two dots\r\n.\r\n\r\nend\r\n")
    sent_ok(s, SENDER, [ALICE], m, "8BITMIME with dot lines",
            mail_options=["BODY=8BITMIME"])
    readback(srv, ALICE, ALICE_PW, m, SENDER, [ALICE],
             "8-bit body with lines starting with dots")

    # the null reverse-path (a bounce)
    m = message("bounce", b"delivery status\r\n")
    sent_ok(s, "", [BOB], m, "MAIL FROM:<>")
    readback(srv, BOB, BOB_PW, m, "", [BOB], "null sender")

    # one message, two recipients in one transaction: one copy each
    m = message("two rcpts")
    a0, b0 = count(site, ALICE), count(site, BOB)
    sent_ok(s, SENDER, [ALICE, BOB], m, "two recipients")
    check(count(site, ALICE) == a0 + 1 and count(site, BOB) == b0 + 1,
          "each of two recipients got one copy",
          (a0, count(site, ALICE), b0, count(site, BOB)))
    readback(srv, ALICE, ALICE_PW, m, SENDER, [ALICE], "2 rcpts, alice")
    readback(srv, BOB, BOB_PW, m, SENDER, [BOB], "2 rcpts, bob")

    # a case-folded recipient reaches the same mailbox
    m = message("upper case rcpt")
    sent_ok(s, SENDER, ["ALICE@Example.TEST"], m, "upper-case RCPT")
    readback(srv, ALICE, ALICE_PW, m, SENDER,
             [ALICE, "ALICE@Example.TEST"], "upper-case RCPT")

    # no AUTH on port 25: no relaying; the exact reply
    r = s.rcpt("someone@external.test") if s.mail(SENDER)[0] == 250 \
        else (None, b"MAIL refused")
    want = (RELAY_DENIED % "someone@external.test").encode()
    check(r == (554, want), "RCPT to a foreign domain without AUTH: 554 "
          "%s" % want.decode(), r)
    s.rset()
    s.quit()


def test_submission(srv):
    site = srv.site
    s = srv.smtp("submission")
    check("STARTTLS" in caps_of(s), "[submission] offers STARTTLS",
          caps_of(s))
    s.quit()

    s = srv.submission(ALICE, ALICE_PW, "PLAIN")
    caps = caps_of(s)
    check("STARTTLS" not in caps, "no STARTTLS once TLS is on", caps)
    auth = caps.get("AUTH", "").upper().split()
    check("PLAIN" in auth and "LOGIN" in auth, "AUTH PLAIN LOGIN offered "
          "after STARTTLS", caps)
    m = message("submission STARTTLS AUTH PLAIN")
    sent_ok(s, ALICE, [BOB], m, "submission")
    readback(srv, BOB, BOB_PW, m, ALICE, [BOB], "submission")

    # authenticated: an external recipient is accepted and queued
    ext = "far.away@external.test"
    m = message("relayed with auth")
    a0 = count(site, ALICE)
    sent_ok(s, ALICE, [ext, ALICE], m, "relay with AUTH")
    check(ext in queue(site), "vellumctl queue list shows the relayed "
          "recipient %s" % ext, queue(site))
    check(count(site, ALICE) == a0 + 1, "the local recipient of the same "
          "message got it", count(site, ALICE))
    s.quit()

    # SMTPS and AUTH LOGIN
    s = srv.smtps()
    s.user, s.password = BOB, BOB_PW
    code, resp = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    check(code == 235, "AUTH LOGIN on [smtps] answers 235", (code, resp))
    m = message("smtps auth login")
    sent_ok(s, BOB, [ALICE], m, "smtps")
    readback(srv, ALICE, ALICE_PW, m, BOB, [ALICE], "smtps")
    s.quit()

    # a wrong password
    s = srv.smtps()
    s.user, s.password = BOB, "wrong"
    try:
        code, resp = s.auth("PLAIN", s.auth_plain)
    except smtplib.SMTPAuthenticationError as e:
        code, resp = e.smtp_code, e.smtp_error
    check(code == 535 and resp.startswith(b"5.7.8"), "a wrong password: "
          "535 5.7.8", (code, resp))
    mr, rr, dr = send(s, BOB, ["x@external.test"], b"Subject: x\r\n\r\nx\r\n")
    check(mr[0] >= 500 or all(c >= 500 for c, _ in rr.values()),
          "after a failed AUTH there is no relaying", (mr, rr))
    s.quit()


def test_smtputf8(srv):
    site = srv.site
    s = srv.smtp()
    check("SMTPUTF8" in caps_of(s), "EHLO announces SMTPUTF8", caps_of(s))
    sender = "j\u00f6rg@remote.test"
    m = ("From: J\u00f6rg <j\u00f6rg@remote.test>\r\nTo: alice@example."
         "test\r\nSubject: gr\u00fc\u00dfe \u2014 utf-8\r\n\r\n"
         "Gr\u00fc\u00dfe\r\n").encode()
    sent_ok(s, sender, [ALICE], m, "SMTPUTF8 sender",
            mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    readback(srv, ALICE, ALICE_PW, m, sender, [ALICE], "SMTPUTF8 sender")

    # a UTF-8 local part on our side, if the store accepts one
    zoe = "zo\u00eb@example.test"
    p = subprocess.run([site.binary("vellumctl"), "-d", site.data, "user",
                        "add", zoe, "--password-stdin"], input=b"zoe-pw\n",
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        print("note: vellumctl does not take the UTF-8 address %s: %s" %
              (zoe, (p.stdout + p.stderr).decode("utf-8", "replace")))
    else:
        m = message("to a utf-8 mailbox")
        sent_ok(s, sender, [zoe], m, "SMTPUTF8 recipient",
                mail_options=["SMTPUTF8"])
        st = stored(site, zoe)
        check(len(st) == 1, "the UTF-8 mailbox got the message", len(st))
        check_delivery(st[0], m, sender, [zoe], "UTF-8 recipient")
    s.quit()


def swaks(*args):
    p = subprocess.run(["swaks", "--timeout", "30"] + list(args),
                       capture_output=True, timeout=120)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def test_swaks(srv):
    if not shutil.which("swaks"):
        print("note: swaks is not installed (make test installs it); "
              "skipping the swaks part")
        return
    site = srv.site
    cases = [
        ("swaks plain on [smtp]", ALICE, ALICE_PW,
         ["--server", "%s:%d" % (HOST, srv.ports["smtp"]),
          "--from", SENDER]),
        ("swaks pipelined", ALICE, ALICE_PW,
         ["--server", "%s:%d" % (HOST, srv.ports["smtp"]),
          "--from", SENDER, "--pipeline"]),
        ("swaks STARTTLS + AUTH PLAIN on [submission]", BOB, BOB_PW,
         ["--server", "%s:%d" % (HOST, srv.ports["submission"]),
          "--from", ALICE, "--tls", "--auth", "PLAIN", "--auth-user",
          ALICE, "--auth-password", ALICE_PW]),
        ("swaks TLS-on-connect + AUTH LOGIN on [smtps]", BOB, BOB_PW,
         ["--server", "%s:%d" % (HOST, srv.ports["smtps"]),
          "--from", BOB, "--tlsc", "--auth", "LOGIN", "--auth-user",
          BOB, "--auth-password", BOB_PW]),
    ]
    for n, (what, rcpt, pw, args) in enumerate(cases):
        m = message("swaks %d" % n, b"sent by swaks\r\n")
        path = site.path("swaks-%d.eml" % n)
        with open(path, "wb") as f:
            f.write(m[:-2])	# swaks ends the data with CRLF itself
        before = count(site, rcpt)
        rc, out = swaks("--to", rcpt, "--data", path, *args)
        check(rc == 0, "%s: swaks exits 0" % what, out[-2000:])
        check(count(site, rcpt) == before + 1, "%s: one more message for "
              "%s" % (what, rcpt), out[-1500:])
        sender = args[args.index("--from") + 1]
        readback(srv, rcpt, pw, m, sender, [rcpt], what)

    # swaks sees the relay refusal too
    rc, out = swaks("--server", "%s:%d" % (HOST, srv.ports["smtp"]),
                    "--from", SENDER, "--to", "x@external.test")
    check(rc != 0 and "554 5.7.1" in out, "swaks to a foreign domain "
          "without AUTH: 554 5.7.1", out[-1500:])


def test_lmtp(srv):
    site = srv.site
    lm = smtplib.LMTP(HOST, srv.ports["lmtp"], timeout=30)
    code, resp = lm.ehlo("client.example.test")
    check(code == 250, "LHLO answers 250", (code, resp))
    m = message("lmtp three recipients", size=4000)
    code, resp = lm.mail(SENDER)
    check(code == 250, "LMTP MAIL FROM", (code, resp))
    rr = [lm.rcpt(r) for r in (ALICE, DAVE, "nobody@example.test")]
    check(rr[0][0] == 250 and rr[1][0] == 250, "LMTP RCPT of two local "
          "users: 250 each", rr)
    want = (UNKNOWN % "nobody@example.test").encode()
    check(rr[2] == (550, want), "LMTP RCPT of an unknown user: 550 %s" %
          want.decode(), rr[2])
    a0, d0 = count(site, ALICE), count(site, DAVE)
    code, resp = lm.docmd("DATA")
    check(code == 354, "LMTP DATA: 354", (code, resp))
    lm.send(m + b".\r\n")	# m ends with CRLF; no line starts with "."
    replies = [lm.getreply() for _ in range(2)]
    check(replies[0][0] == 250, "LMTP: the first reply after DATA (alice) "
          "is 250", replies)
    check(replies[1][0] == 452 and replies[1][1].startswith(b"4.2.2"),
          "LMTP: the second reply after DATA (dave, over quota) is 452 "
          "4.2.2", replies)
    check(count(site, ALICE) == a0 + 1 and count(site, DAVE) == d0,
          "LMTP stored the message for alice only",
          (a0, count(site, ALICE), d0, count(site, DAVE)))
    readback(srv, ALICE, ALICE_PW, m, SENDER, [ALICE], "LMTP")
    code, resp = lm.noop()
    check(code == 250, "the LMTP session goes on after DATA", (code, resp))
    lm.quit()


def stats(site):
    return json.loads(site.ctl("store", "stats", "--json"))


def test_dedup(srv):
    """Per-recipient Return-Path/Delivered-To do not break dedup: the
    same 300 KB to two users, twice, stores its body once."""
    site = srv.site
    body = b"".join(base64.b64encode(os.urandom(57)) + b"\r\n"
                    for _ in range(4000))
    m = message("dedup", body)
    before = stats(site)
    s = srv.smtp()
    sent_ok(s, SENDER, [ALICE, BOB], m, "300 KB to two users")
    sent_ok(s, SENDER, [ALICE, BOB], m, "the same 300 KB again")
    s.quit()
    after = stats(site)
    raw = after["raw_bytes"] - before["raw_bytes"]
    blob = after["blob_bytes"] - before["blob_bytes"]
    check(raw >= 4 * len(m), "four copies counted in raw bytes", raw)
    check(blob < 1.2 * len(m), "the body is stored once: distinct "
          "segment bytes grew by about one message (%d), not four" %
          len(m), (blob, before, after))
    readback(srv, BOB, BOB_PW, m, SENDER, [BOB], "300 KB deduplicated")


def test_auth_needs_tls(srv):
    """With [auth] plaintext = no: no AUTH before STARTTLS; after it,
    AUTH works."""
    srv.reconfigure(auth={"plaintext": "no", "fail_delay": "10"})
    srv.restart()
    r = Raw(srv.ports["submission"])
    caps = r.ehlo()
    check(not any(c.startswith("AUTH") for c in caps), "plaintext = no: "
          "no AUTH offered before STARTTLS", caps)
    reply = r.cmd("AUTH PLAIN " + auth_plain_token(ALICE, ALICE_PW))
    check(reply[0] in (530, 538, 503) and reply[1][0][:1] == b"5",
          "AUTH before STARTTLS with plaintext = no: 538 5.7.11 (or "
          "530/503)", reply)
    r.cmd("QUIT")
    r.close()
    s = srv.submission(ALICE, ALICE_PW, "LOGIN")	# checks 235 itself
    m = message("auth after tls only")
    sent_ok(s, ALICE, [BOB], m, "AUTH LOGIN after STARTTLS")
    s.quit()
    readback(srv, BOB, BOB_PW, m, ALICE, [BOB], "plaintext = no")


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    site.add_user(ALICE, ALICE_PW)
    site.add_user(BOB, BOB_PW)
    site.add_user(DAVE, DAVE_PW, quota="3K")
    srv.start()
    test_plain(srv)
    test_submission(srv)
    test_smtputf8(srv)
    test_swaks(srv)
    test_lmtp(srv)
    test_dedup(srv)
    test_auth_needs_tls(srv)
    srv.alive("the tests")
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes", out)
    rc = srv.stop()
    check(rc == 0, "SIGTERM stops vellum-smtpd with status 0",
          (rc, srv.smtpd.output()[-2000:]))
    return 0


if __name__ == "__main__":
    main(run)
