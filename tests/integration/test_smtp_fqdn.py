"""The syntactic name policies of port 25 (issue 15, "Sender policy" and
"Advanced"): [smtpd] reject_non_fqdn_helo and reject_non_fqdn_sender.

- both off (the default): HELO localhost and MAIL FROM:<user@localhost>
  are accepted, MAIL without HELO too, <user> stays a 501 syntax error;
- on: HELO/EHLO localhost gets 504 5.5.2 "Helo command rejected", the
  session stays open and EHLO mx.example.test then gets 250; MAIL before a
  good HELO/EHLO gets 503; address literals ([127.0.0.1], [IPv6:::1]) are
  accepted; MAIL FROM <user>, <user@localhost>, <user@bad..test> get 504
  5.5.2 "Sender address rejected"; <user@example.test> and <> are
  accepted and their messages delivered; each refusal is logged with the
  client's address;
- a whitelisted client (vellumctl acl white ip) is checked all the same;
- [submission] (logged in) and a trusted_networks client are never
  checked.

usage: test_smtp_fqdn.py BUILD_DIR
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (Client25, SmtpSite, count, ctx, log_has,  # noqa
                      require_smtpd)

HOST = "127.0.0.1"
BOB = "bob@example.test"
HELO_504 = ("504 5.5.2 <%s>: Helo command rejected: need fully-qualified "
            "hostname")
MAIL_504 = ("504 5.5.2 <%s>: Sender address rejected: need "
            "fully-qualified address")


class Raw(Client25):
    """A plain SMTP connection from 127.0.0.SRC (smtptest.Client25) that
    can send a message to bob."""

    def message(self, subject, what):
        self.expect("RCPT TO:<%s>" % BOB, 250, what)
        self.expect("DATA", 354, what)
        self.expect("From: <x@remote.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
                    "\r\nhello\r\n." % (BOB, subject), 250, what)

def case_off(srv):
    """Both options off: nothing changes."""
    site = srv.site
    c = Raw(srv)
    check(c.greeting.startswith("220 "), "greeting", c.greeting)
    c.expect("MAIL FROM:<user@localhost>", 250, "off, no HELO")
    c.expect("RSET", 250, "off")
    c.expect("HELO localhost", 250, "off")
    c.expect("MAIL FROM:<user>", 501, "off: <user> is a syntax error")
    c0 = count(site, BOB)
    c.expect("MAIL FROM:<user@localhost>", 250, "off")
    c.message("off", "off")
    c.close()
    check(count(site, BOB) == c0 + 1, "off: the message is delivered", "")


def case_helo(srv):
    """reject_non_fqdn_helo: 504, the session stays, MAIL needs a good
    HELO first."""
    c = Raw(srv)
    c.expect("MAIL FROM:<user@example.test>", 503, "MAIL without HELO",
             "503 5.5.1 Error: send HELO/EHLO first")
    c.expect("HELO localhost", 504, "HELO", HELO_504 % "localhost")
    c.expect("MAIL FROM:<user@example.test>", 503, "MAIL after a refused "
             "HELO", "503 5.5.1 Error: send HELO/EHLO first")
    c.expect("EHLO bad..test", 504, "EHLO", HELO_504 % "bad..test")
    c.expect("EHLO -x.example.test", 504, "EHLO",
             HELO_504 % "-x.example.test")
    r = c.expect("EHLO mx.example.test", 250, "EHLO after the refusal")
    check("PIPELINING" in r, "the EHLO reply lists extensions", r)
    c.expect("MAIL FROM:<user@example.test>", 250, "MAIL after EHLO")
    c.close()
    log_has(srv, r"failed command from 127\.0\.0\.1: 504 5\.5\.2 "
            r"<localhost>: Helo command rejected", "the refusal is logged "
            "with the client's address")
    for name in ("[127.0.0.1]", "[IPv6:::1]"):
        c = Raw(srv)
        c.expect("EHLO " + name, 250, "an address literal")
        c.expect("MAIL FROM:<user@example.test>", 250, "after " + name)
        c.close()


def case_sender(srv):
    """reject_non_fqdn_sender: 504 for no domain or an unqualified one;
    qualified and <> pass and are delivered."""
    site = srv.site
    c = Raw(srv)
    c.expect("EHLO mx.example.test", 250, "sender")
    for addr in ("user", "user@localhost", "user@bad..test",
                 "user@-x.test"):
        c.expect("MAIL FROM:<%s>" % addr, 504, "sender", MAIL_504 % addr)
    c.expect("MAIL FROM:<user@[192.0.2.1]>", 250, "an address literal "
             "domain")
    c.expect("RSET", 250, "sender")
    c0 = count(site, BOB)
    c.expect("MAIL FROM:<user@example.test>", 250, "a qualified sender")
    c.message("qualified", "qualified sender")
    c.expect("MAIL FROM:<>", 250, "the null sender")
    c.message("bounce", "null sender")
    c.close()
    check(count(site, BOB) == c0 + 2, "both messages are delivered",
          count(site, BOB) - c0)
    log_has(srv, r"failed command from 127\.0\.0\.1: 504 5\.5\.2 "
            r"<user@localhost>: Sender address rejected", "the refusal is "
            "logged with the client's address")


def case_white(srv):
    """A whitelisted client: no ACL_SKIP_* bit covers these checks."""
    srv.site.ctl("acl", "add", "white", "ip", "127.0.0.5")
    c = Raw(srv, 5)
    c.expect("HELO localhost", 504, "white ip", HELO_504 % "localhost")
    c.expect("EHLO mx.example.test", 250, "white ip")
    c.expect("MAIL FROM:<user@localhost>", 504, "white ip",
             MAIL_504 % "user@localhost")
    c.close()


def case_submission(srv):
    """[submission] after AUTH: neither name is looked at."""
    site = srv.site
    s = smtplib.SMTP(HOST, srv.ports["submission"], timeout=30)
    code, m = s.ehlo("localhost")
    check(code == 250, "[submission]: EHLO localhost answers 250", (code, m))
    code, m = s.starttls(context=ctx())
    check(code == 220, "STARTTLS answers 220", (code, m))
    s.ehlo("localhost")
    code, m = s.login(BOB, "pw-bob")
    check(code == 235, "AUTH answers 235", (code, m))
    c0 = count(site, BOB)
    s.sendmail("bob@localhost", [BOB], b"Subject: sub\r\n\r\nhi\r\n")
    s.quit()
    check(count(site, BOB) == c0 + 1, "[submission]: a sender without an "
          "FQDN is delivered", "")


def case_trusted(srv):
    """A trusted_networks client on port 25 is never checked."""
    site = srv.site
    srv.reconfigure(smtpd={"trusted_networks": "127.0.0.2/32"})
    srv.restart(pop3=False)
    c0 = count(site, BOB)
    c = Raw(srv, 2)
    c.expect("MAIL FROM:<user@localhost>", 250, "trusted, no HELO")
    c.expect("RSET", 250, "trusted")
    c.expect("HELO localhost", 250, "trusted")
    c.expect("MAIL FROM:<user@localhost>", 250, "trusted")
    c.message("trusted", "trusted")
    c.close()
    check(count(site, BOB) == c0 + 1, "trusted: the message is delivered",
          "")
    # 127.0.0.1 is still not trusted
    c = Raw(srv)
    c.expect("HELO localhost", 504, "not trusted", HELO_504 % "localhost")
    c.close()


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site, lmtp=False)
    site.add_user(BOB, "pw-bob")
    srv.start(pop3=False)
    case_off(srv)
    srv.reconfigure(smtpd={"reject_non_fqdn_helo": "yes",
                           "reject_non_fqdn_sender": "yes"})
    srv.restart(pop3=False)
    case_helo(srv)
    case_sender(srv)
    case_white(srv)
    case_submission(srv)
    case_trusted(srv)
    srv.alive("the tests")
    check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0", "")
    return 0


if __name__ == "__main__":
    main(run)
