"""Disclaimers (issue 14): `vellumctl disclaimer` and the text added to
what clients send through vellum-smtpd, as altermime or Synology MailPlus
would add it.

Rules are written with vellumctl; messages are submitted on 587 with AUTH
(and sent on port 25); the stored copies are read back with `vellumctl
mail export` and the remote ones taken from a loopback aiosmtpd behind the
outbound agent.  Each is compared byte by byte with the message the test
expects (the sent bytes with the disclaimer where mail/disclaim.c puts
it).  The remote copy is DKIM-signed by vellum-mta after the disclaimer
was added: python3-dkim verifies it.  A "not when all recipients are
local" rule leaves local-only mail alone; exceptions and signed messages
are left alone too.  vellum-sendmail's LF message gets LF lines; a
recipient rule applies on LMTP (an HTML part gets the text in <pre>) and
port 25 (an us-ascii message and non-ASCII text: wrapped in
multipart/mixed).
"""
import json
import os
import re
import subprocess
import sys
import time

from daemon import check, free_port, main
from mtatest import MtaSite
from smtptest import check_delivery, stored
from test_dkim import records, verify_all

ALICE, BOB, BOSS = ("alice@example.test", "bob@example.test",
                    "boss@example.test")
CARL, PARTNER = "carl@remote.test", "partner@remote.test"
PASSWORD = "secret-pw-1"
RECS = {"remote.test": [("MX", 10, "mx.remote.test")],
        "mx.remote.test": [("A", "127.0.0.3")]}
TEXT = "-- \nConfidential: for the addressee only.\n"
HTML = "<p>Confidential</p>"
CRLF_TEXT = TEXT.replace("\n", "\r\n").encode()


def msg(subject, sender=ALICE, to=CARL, body=b"hello\r\n", ctype=None):
    return (b"From: <" + sender.encode() + b">\r\nTo: <" + to.encode() +
            b">\r\nSubject: " + subject.encode() +
            b"\r\nDate: Thu, 03 Dec 2026 03:00:00 +0000\r\nMessage-ID: <" +
            subject.replace(" ", "-").encode() + b"@example.test>\r\n" +
            (b"MIME-Version: 1.0\r\nContent-Type: " + ctype + b"\r\n"
             if ctype else b"") + b"\r\n" + body)


def take(sink):
    """The one message the remote got; forgotten for the next one."""
    got = sink.wait(1)
    with sink.handler.lock:
        sink.handler.got.clear()
    check(len(got) == 1, "the remote got one message", got)
    return got[0]["data"]


def ctl_fails(s, args, code, says):
    p = subprocess.run([s.binary("vellumctl"), "-d", s.data,
                        "disclaimer"] + list(args), capture_output=True,
                       text=True)
    check(p.returncode == code and says in p.stderr,
          "disclaimer %s fails (exit %d) saying %r" % (" ".join(args), code,
                                                       says),
          (p.returncode, p.stderr))


def case_ctl(ms):
    """add/list/show/del and their errors; store check."""
    s = ms.site
    tf, hf = os.path.join(s.tmp, "d.txt"), os.path.join(s.tmp, "d.html")
    with open(tf, "w") as f:
        f.write(TEXT)
    with open(hf, "w") as f:
        f.write(HTML)
    bad = os.path.join(s.tmp, "bad.txt")
    with open(bad, "wb") as f:
        f.write(b"caf\xe9\n")
    nul = os.path.join(s.tmp, "nul.txt")
    with open(nul, "wb") as f:
        f.write(b"a\nb\0c\n")
    out = s.ctl("disclaimer", "add", "10-out", "--sender", "@Example.TEST",
                "--except-sender", BOSS, "--except-recipient", PARTNER,
                "--not-all-local", "--text", tf, "--html", hf)
    check("mail from @example.test to anyone (not when all recipients are "
          "local)" in out, "add says what it does (normalised)", out)
    s.ctl("disclaimer", "add", "20-other", "--recipient", "x@y.test",
          "--text", tf)
    lst = json.loads(s.ctl("disclaimer", "list", "--json"))
    check(lst == [
        {"name": "10-out", "sender": "@example.test", "recipient": "*",
         "except_sender": [BOSS], "except_recipient": [PARTNER],
         "not_all_local": True, "text": TEXT, "html": HTML},
        {"name": "20-other", "sender": "*", "recipient": "x@y.test",
         "except_sender": [], "except_recipient": [],
         "not_all_local": False, "text": TEXT, "html": None}],
        "list --json", lst)
    show = s.ctl("disclaimer", "show", "10-out")
    check("except recipient: " + PARTNER in show and TEXT in show and
          HTML in show, "show prints the rule and its texts", show)
    for args, code, says in [
            (("add", "10-out", "--text", tf), 1, "exists"),
            (("add", "30", "--text", bad), 1, "bad.txt: the disclaimer "
             "text is not UTF-8"),
            (("add", "30", "--text", nul), 1, "NUL byte (line 2)"),
            (("add", "30", "--text", tf + ".none"), 1,
             "cannot read the text file " + tf + ".none"),
            (("add", "30", "--text", tf, "--html", hf + ".none"), 1,
             "cannot read the HTML file"),
            (("add", "30", "--sender", "nodomain", "--text", tf), 1,
             "'nodomain' is not an address, @domain or *"),
            (("add", "30"), 2, "--text FILE is needed"),
            (("add", "a/b", "--text", tf), 1, "only letters"),
            (("del", "nope"), 1, "no disclaimer rule 'nope'"),
            (("show", "nope"), 1, "no disclaimer rule 'nope'"),
    ]:
        ctl_fails(s, args, code, says)
    s.ctl("disclaimer", "del", "20-other")
    check([r["name"] for r in json.loads(s.ctl("disclaimer", "list",
                                               "--json"))] == ["10-out"],
          "del removed the rule", "")
    check("ok" in s.ctl("store", "check"), "store check passes", "")


def remote_and_local(ms, sink, recs):
    """Submitted to a local and a remote recipient: both copies carry the
    disclaimer, byte for byte; the remote one is DKIM-signed over it."""
    s = ms.site
    m = msg("plain out", to=CARL)
    want = m + b"\r\n" + CRLF_TEXT
    ms.submit(ALICE, PASSWORD, [BOB, CARL], m)
    data = take(sink)
    check(data.endswith(want), "the remote copy is the message with the "
          "disclaimer, byte for byte", data[-400:])
    check(verify_all(data, recs) == [True], "dkimpy verifies the "
          "signature made over the disclaimer", verify_all(data, recs))
    check_delivery(stored(s, BOB)[-1], want, ALICE, [BOB], "local copy")
    ms.wait_queue_empty()

    # multipart/alternative: the plain and the HTML variants
    body = (b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
            b"--b1\r\nContent-Type: text/html\r\n\r\n"
            b"<html><body>hi</body></html>\r\n--b1--\r\n")
    wbody = (b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n\r\n" +
             CRLF_TEXT[:-2] + b"\r\n--b1\r\nContent-Type: text/html\r\n"
             b"\r\n<html><body>hi\r\n" + HTML.encode() +
             b"\r\n</body></html>\r\n--b1--\r\n")
    ct = b'multipart/alternative; boundary="b1"'
    m = msg("alternative out", body=body, ctype=ct)
    want = msg("alternative out", body=wbody, ctype=ct)
    ms.submit(ALICE, PASSWORD, [CARL, BOB], m)
    data = take(sink)
    check(data.endswith(want), "alternative: both variants got their "
          "form, byte for byte", data[-600:])
    check(verify_all(data, recs) == [True], "dkimpy verifies it",
          verify_all(data, recs))
    check_delivery(stored(s, BOB)[-1], want, ALICE, [BOB], "local copy")
    ms.wait_queue_empty()
    log = ms.procs["smtpd"].output()
    check("disclaimer 10-out added" in log, "the log says it was added",
          log[-1500:])


def sendmail_lf(ms, sink, recs):
    """vellum-sendmail's message with LF line ends: the disclaimer's lines
    end in LF too in the stored copy; the remote copy is signed."""
    s = ms.site
    m = msg("sendmail lf", to=CARL).replace(b"\r\n", b"\n")
    argv = [os.path.join(ms.build, "admin", "vellum-sendmail"), "-C",
            s.conf, "-f", ALICE, BOB, CARL]
    p = subprocess.run(argv, input=m, capture_output=True, timeout=120)
    check(p.returncode == 0, "vellum-sendmail accepts the message",
          (p.returncode, p.stdout, p.stderr))
    body = m.split(b"\n\n", 1)[1] + b"\n" + TEXT.encode()
    got = stored(s, BOB)[-1]
    check(got.endswith(b"\n\n" + body) and b"\r" not in got,
          "the stored copy has the disclaimer with LF line ends",
          got[-300:])
    data = take(sink)
    check(b"Confidential: for the addressee only." in data and
          verify_all(data, recs) == [True],
          "the remote copy has it and verifies", data[-300:])
    ms.wait_queue_empty()


def unchanged(ms, sink, recs):
    """Local-only mail (not-all-local), an excepted sender or recipient,
    another sender's domain on port 25, and a signed message: all as
    sent."""
    s = ms.site
    m = msg("local only", to=BOB)
    ms.submit(ALICE, PASSWORD, [BOB], m)
    check_delivery(stored(s, BOB)[-1], m, ALICE, [BOB],
                   "local-only mail is not changed")

    m = msg("from the boss", sender=BOSS)
    ms.submit(BOSS, PASSWORD, [CARL], m)
    data = take(sink)
    check(data.endswith(m) and CRLF_TEXT not in data,
          "an excepted sender's mail is as sent", data[-300:])
    ms.wait_queue_empty()

    m = msg("to the partner", to=PARTNER)
    ms.submit(ALICE, PASSWORD, [PARTNER], m)
    data = take(sink)
    check(data.endswith(m), "mail to an excepted recipient is as sent",
          data[-300:])
    ms.wait_queue_empty()

    # The partner and bob: bob matches, and the partner is not local,
    # so the rule applies (one message for all: the partner gets it too).
    m = msg("partner and bob", to=PARTNER)
    ms.submit(ALICE, PASSWORD, [PARTNER, BOB], m)
    data = take(sink)
    check(data.endswith(m + b"\r\n" + CRLF_TEXT), "an excepted recipient "
          "does not stop the rule another recipient matches", data[-300:])
    ms.wait_queue_empty()

    m = msg("from outside", sender="x@remote.test", to=BOB)
    ms.smtp("x@remote.test", [BOB], m)
    check_delivery(stored(s, BOB)[-1], m, "x@remote.test", [BOB],
                   "mail from another domain (port 25) is not changed")

    ct = (b'multipart/signed; boundary="s"; '
          b'protocol="application/pgp-signature"; micalg=pgp-sha256')
    body = (b"--s\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--s\r\n"
            b"Content-Type: application/pgp-signature\r\n\r\nSIG\r\n"
            b"--s--\r\n")
    m = msg("signed", ctype=ct, body=body)
    ms.submit(ALICE, PASSWORD, [CARL], m)
    data = take(sink)
    check(data.endswith(m), "a signed message is as sent", data[-300:])
    check(verify_all(data, recs) == [True], "and DKIM-signed all the same",
          verify_all(data, recs))
    ms.wait_queue_empty()
    time.sleep(0.3)
    log = ms.procs["smtpd"].output()
    check("disclaimer 10-out not added: signed or encrypted "
          "(multipart/signed)" in log, "the log says why not", log[-1500:])


def lmtp_recipient_rule(ms, sink, recs):
    """A recipient rule on mail from outside, through LMTP and port 25:
    the HTML part of an 8bit UTF-8 message gets the HTML form of the
    plain text (escaped, in <pre>) since the rule has no HTML file."""
    import smtplib
    s = ms.site
    tf = os.path.join(s.tmp, "in.txt")
    with open(tf, "wb") as f:
        f.write("Gepr\u00fcft <scan>\n".encode())
    s.ctl("disclaimer", "add", "20-in", "--recipient", BOB, "--text", tf)
    ct = b"text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
    m = msg("lmtp in", sender="x@remote.test", to=BOB, ctype=ct,
            body=b"<html><body>Gr\xc3\xbc\xc3\x9fe</body></html>\r\n")
    want = msg("lmtp in", sender="x@remote.test", to=BOB, ctype=ct,
               body=b"<html><body>Gr\xc3\xbc\xc3\x9fe\r\n<pre>Gepr"
               b"\xc3\xbcft &lt;scan&gt;</pre>\r\n</body></html>\r\n")
    c = smtplib.LMTP("127.0.0.1", ms.lmtp_port, timeout=30)
    try:
        c.ehlo("lmtp.test")
        refused = c.sendmail("x@remote.test", [BOB], m)
    finally:
        c.quit()
    check(refused == {}, "LMTP accepts it", refused)
    check_delivery(stored(s, BOB)[-1], want, "x@remote.test", [BOB],
                   "LMTP: the recipient rule's text, as HTML")
    # A message without MIME fields is us-ascii: non-ASCII text cannot
    # go into it, so it becomes multipart/mixed with a second part.
    m = msg("port 25 in", sender="x@remote.test", to=BOB)
    ms.smtp("x@remote.test", [BOB], m)
    got = stored(s, BOB)[-1]
    mb = re.search(rb'boundary="(vellum-disclaimer-[0-9a-f]{16})"', got)
    check(mb is not None, "port 25: the message was wrapped", got[-600:])
    b = mb.group(1)
    head, body = m.split(b"\r\n\r\n", 1)
    want = (head + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/"
            b'mixed; boundary="' + b + b'"\r\n\r\n--' + b + b"\r\n\r\n" +
            body + b"\r\n--" + b + b"\r\nContent-Type: text/plain; "
            b"charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
            b"\r\nContent-Disposition: inline\r\n\r\nGepr=C3=BCft <scan>"
            b"\r\n--" + b + b"--\r\n")
    check_delivery(got, want, "x@remote.test", [BOB], "port 25: an "
                   "us-ascii message wrapped, the text a new part")
    s.ctl("disclaimer", "del", "20-in")


def run(site, args):
    ms = MtaSite(site.build)
    ms.lmtp_port = free_port()
    ms.extra = {"lmtp": {"listen": "127.0.0.1:%d" % ms.lmtp_port}}
    with ms:
        ms.dns(RECS)
        sink = ms.sink("127.0.0.3")
        for u in (ALICE, BOB, BOSS):
            ms.site.add_user(u, PASSWORD)
        ms.site.ctl("dkim", "keygen", "example.test", "rsa1")
        recs = records(ms.site, [("example.test", "rsa1")])
        t0 = time.time()
        case_ctl(ms)
        print("ok case_ctl (%.1f s)" % (time.time() - t0))
        ms.start()
        ms.site.wait_port(ms.lmtp_port, ms.procs["smtpd"])
        for c in (remote_and_local, sendmail_lf, unchanged,
                  lmtp_recipient_rule):
            t0 = time.time()
            c(ms, sink, recs)
            print("ok %s (%.1f s)" % (c.__name__, time.time() - t0))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    main(run)
