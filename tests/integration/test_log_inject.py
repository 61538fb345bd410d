"""Log injection (issue 12 review): what a client sends never starts a
log line of its own nor puts control characters in one.

A user name with LF, CR and ESC (SMTP AUTH PLAIN and LOGIN, POP3 USER
and AUTH PLAIN, IMAP LOGIN with a literal and AUTHENTICATE PLAIN) and a
HELO with control characters are refused as before; every stderr line
of vellum-smtpd, vellum-pop3d and vellum-imapd still starts with the
time stamp and "vellum-NAME[PID]: ", holds no byte below 0x20 nor DEL,
and the failure lines name the user with '?' for each control byte.

The reason an admin gave `user disable` (a control panel may pass a
customer's text) with CR/LF in it stays inside the one reply line that
tells a disabled account so (POP3 -ERR [AUTH], SMTP 525, IMAP NO).

usage: test_log_inject.py BUILD_DIR
"""
import base64
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import LineClient, check, main  # noqa: E402

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                   r"vellum-[a-z0-9]+\[\d+\]: ")
CTRL = re.compile(r"[\x00-\x1f\x7f]")
FAKE = "evil\r\nFORGED vellum-smtpd[1]: conn 1: auth ok user=root\x1b[2J"
SHOWN = "evil??FORGED vellum-smtpd[1]: conn 1: auth ok user=root?[2J"


Line = LineClient


def plain(user, pw):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


def run(site, args):
    ports = {k: site.port() for k in ("imap", "pop3", "submission")}
    site.write_conf({
        "imap": {"listen": "127.0.0.1:%d" % ports["imap"]},
        "pop3": {"listen": "127.0.0.1:%d" % ports["pop3"]},
        "submission": {"listen": "127.0.0.1:%d" % ports["submission"]},
    }, fail_delay=0)
    site.add_user("alice@example.test", "alice-pw")
    site.add_user("carol@example.test", "carol-pw")
    site.ctl("user", "disable", "carol@example.test", "--reason",
             "unpaid\r\n+OK forged\r\n250 forged")
    procs = {}
    for name, port in (("imapd", "imap"), ("pop3d", "pop3"),
                       ("smtpd", "submission")):
        procs[name] = site.start(name)
        site.wait_port(ports[port], procs[name])

    c = Line(ports["submission"])
    r = c.cmd("EHLO a\x01b\x1bc\r\n")
    while r.startswith(b"250-"):
        r = c.line()
    r = c.cmd("AUTH PLAIN %s\r\n" % plain(FAKE, "pw"))
    check(r.startswith(b"535"), "SMTP AUTH PLAIN of the odd name fails", r)
    check(c.cmd("AUTH LOGIN\r\n").startswith(b"334"), "AUTH LOGIN", c.buf)
    check(c.cmd(base64.b64encode(FAKE.encode()) + b"\r\n").startswith(
          b"334"), "AUTH LOGIN user name", c.buf)
    r = c.cmd(base64.b64encode(b"pw") + b"\r\n")
    check(r.startswith(b"535"), "SMTP AUTH LOGIN of the odd name fails", r)
    c.cmd("QUIT\r\n")
    c.s.close()

    c = Line(ports["pop3"])
    c.cmd("USER ev\x1b[2Jil\x08\x7f\r\n")
    r = c.cmd("PASS x\r\n")
    check(r.startswith(b"-ERR"), "POP3 USER/PASS fails", r)
    r = c.cmd("AUTH PLAIN %s\r\n" % plain(FAKE, "pw"))
    check(r.startswith(b"-ERR"), "POP3 AUTH PLAIN fails", r)
    c.s.close()

    c = Line(ports["imap"])
    u = FAKE.encode()
    check(c.cmd(b"a1 LOGIN {%d}\r\n" % len(u)).startswith(b"+"),
          "IMAP literal", c.buf)
    r = c.cmd(u + b" pw\r\n")
    check(r.startswith(b"a1 NO"), "IMAP LOGIN fails", r)
    r = c.cmd("a2 AUTHENTICATE PLAIN %s\r\n" % plain(FAKE, "pw"))
    check(r.startswith(b"a2 NO"), "IMAP AUTHENTICATE fails", r)
    c.s.close()

    # the disable reason: one reply line, then the session goes on
    c = Line(ports["pop3"])
    c.cmd("USER carol@example.test\r\n")
    r = c.cmd("PASS carol-pw\r\n")
    check(r.startswith(b"-ERR [AUTH] account disabled: unpaid") and
          b"forged" in r, "POP3: the disabled reply", r)
    r = c.cmd("NOOP\r\n")
    check(r[:1] in (b"+", b"-") and b"forged" not in r, "POP3: the reason "
          "was one line (the next reply is NOOP's)", r)
    c.s.close()
    c = Line(ports["submission"])
    r = c.cmd("EHLO client.test\r\n")
    while r.startswith(b"250-"):
        r = c.line()
    r = c.cmd("AUTH PLAIN %s\r\n" % plain("carol@example.test", "carol-pw"))
    check(r.startswith(b"525 5.7.13 Account disabled: unpaid") and
          b"forged" in r, "SMTP: the disabled reply", r)
    r = c.cmd("NOOP\r\n")
    check(r.startswith(b"250 2.0.0"), "SMTP: the reason was one line "
          "(the next reply is NOOP's)", r)
    c.s.close()
    c = Line(ports["imap"])
    r = c.cmd("d1 LOGIN carol@example.test carol-pw\r\n")
    check(r.startswith(b"d1 NO [CONTACTADMIN]") and b"forged" in r,
          "IMAP: the disabled reply", r)
    r = c.cmd("d2 NOOP\r\n")
    check(r.startswith(b"d2 OK"), "IMAP: the reason was one line", r)
    c.s.close()

    for name, proc in procs.items():
        check(site.stop(proc) == 0, "%s stops" % name,
              proc.output()[-2000:])
        out = proc.output()
        bad = [ln for ln in out.split("\n") if ln and
               (not STAMP.match(ln) or CTRL.search(ln))]
        check(bad == [], "vellum-%s: every line is its own, without "
              "control characters" % name, bad)
        check("user=" + SHOWN + " " in out, "vellum-%s names the user "
              "tried, '?' for its control characters" % name, out[-3000:])
    check("user=ev?[2Jil?? " in procs["pop3d"].output(), "POP3 USER's "
          "ESC, BS and DEL are logged as '?'", procs["pop3d"].output())
    return 0


if __name__ == "__main__":
    main(run)
