"""Where vellum-smtpd wants AUTH (issue 8): [submission] and [smtps]
refuse MAIL before AUTH with 530 5.7.0 (require_auth = yes, the default;
no exception for trusted_networks), port 25 offers no AUTH and answers
it with 503 5.5.1 (auth = no, the default); auth = yes and
require_auth = no bring the old behaviour back.

usage: test_smtp_auth_rules.py BUILD_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import (SmtpSite, Raw, auth_plain_token, count, ctx,  # noqa
                      require_smtpd)

ALICE, ALICE_PW = "alice@example.test", "alice-pw"
BOB = "bob@example.test"
AUTH_REQUIRED = (530, [b"5.7.0 Authentication required"])
AUTH_OFF = (503, [b"5.5.1 Error: authentication not enabled"])


def tls_session(srv, port):
    """A Raw client on [submission] after STARTTLS, or on [smtps]; EHLO
    done; returns (client, capabilities)."""
    if port == "smtps":
        r = Raw(srv.ports["smtps"], tls=True)
    else:
        r = Raw(srv.ports[port])
        r.ehlo()
        check(r.cmd("STARTTLS")[0] == 220, "STARTTLS on [%s]" % port, "")
        r.s = ctx().wrap_socket(r.s)
    return r, r.ehlo()


def login(r, what):
    reply = r.cmd("AUTH PLAIN " + auth_plain_token(ALICE, ALICE_PW))
    check(reply[0] == 235, "%s: AUTH PLAIN answers 235" % what, reply)


def one_message(r, what):
    check(r.cmd("MAIL FROM:<%s>" % ALICE)[0] == 250, "%s: MAIL 250" % what,
          "")
    check(r.cmd("RCPT TO:<%s>" % BOB)[0] == 250, "%s: RCPT 250" % what, "")
    check(r.cmd("DATA")[0] == 354, "%s: DATA 354" % what, "")
    reply = r.cmd("Subject: %s\r\n\r\nhi\r\n." % what)
    check(reply[0] == 250, "%s: the message is accepted" % what, reply)


def test_submission_requires_auth(srv):
    site = srv.site
    for port in ("submission", "smtps"):
        r, caps = tls_session(srv, port)
        check(any(c.startswith("AUTH ") for c in caps), "[%s] offers AUTH"
              % port, caps)
        b0 = count(site, BOB)
        reply = r.cmd("MAIL FROM:<%s>" % ALICE)
        check(reply == AUTH_REQUIRED, "[%s]: MAIL before AUTH gets 530 "
              "5.7.0 Authentication required" % port, reply)
        reply = r.cmd("RCPT TO:<%s>" % BOB)
        check(reply[0] == 503, "[%s]: no transaction was started" % port,
              reply)
        login(r, port)
        one_message(r, "%s after AUTH" % port)
        check(count(site, BOB) == b0 + 1, "[%s]: only the message sent "
              "after AUTH was delivered" % port, count(site, BOB))
        r.cmd("QUIT")
        r.close()
    # Local mail on [submission] without AUTH is refused too (it is not
    # only about relaying).
    r = Raw(srv.ports["submission"])
    r.ehlo()
    reply = r.cmd("MAIL FROM:<x@remote.test>")
    check(reply == AUTH_REQUIRED, "[submission] in plaintext: MAIL "
          "before AUTH gets 530 as well", reply)
    r.close()


def test_port25_no_auth(srv):
    r = Raw(srv.ports["smtp"])
    caps = r.ehlo()
    check(not any(c.startswith("AUTH") for c in caps), "[smtp] does not "
          "offer AUTH by default", caps)
    reply = r.cmd("AUTH PLAIN " + auth_plain_token(ALICE, ALICE_PW))
    check(reply == AUTH_OFF, "[smtp] AUTH: 503 5.5.1 Error: "
          "authentication not enabled", reply)
    # Mail to a local user still works without AUTH on port 25.
    one_message(r, "port 25 local")
    r.cmd("QUIT")
    r.close()


def test_trusted_no_exception(srv):
    # Loopback trusted for relaying: still no MAIL before AUTH on
    # [submission] (Postfix's submission: permit_sasl_authenticated,
    # reject).
    srv.reconfigure(smtpd={"trusted_networks": "127.0.0.0/8, ::1"})
    srv.restart()
    r, _ = tls_session(srv, "submission")
    reply = r.cmd("MAIL FROM:<%s>" % ALICE)
    check(reply == AUTH_REQUIRED, "[submission] from a trusted network: "
          "MAIL before AUTH is still 530", reply)
    r.close()
    srv.reconfigure(smtpd={"trusted_networks": "192.0.2.0/24"})


def test_switches(srv):
    site = srv.site
    srv.sections["smtp"]["auth"] = "yes"
    srv.sections["submission"]["require_auth"] = "no"
    site.write_conf(srv.sections)
    srv.restart()
    r = Raw(srv.ports["smtp"])
    caps = r.ehlo()
    check(any(c.startswith("AUTH ") for c in caps), "[smtp] auth = yes "
          "offers AUTH", caps)
    login(r, "[smtp] auth = yes")
    r.close()
    r, _ = tls_session(srv, "submission")
    one_message(r, "require_auth = no")
    r.close()
    r, _ = tls_session(srv, "smtps")
    reply = r.cmd("MAIL FROM:<%s>" % ALICE)
    check(reply == AUTH_REQUIRED, "[smtps] keeps its own require_auth",
          reply)
    r.close()
    del srv.sections["smtp"]["auth"]
    del srv.sections["submission"]["require_auth"]
    site.write_conf(srv.sections)


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    site.add_user(ALICE, ALICE_PW)
    site.add_user(BOB, "bob-pw")
    srv.start()
    test_submission_requires_auth(srv)
    test_port25_no_auth(srv)
    test_trusted_no_exception(srv)
    test_switches(srv)
    srv.alive("the tests")
    check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0", "")
    return 0


if __name__ == "__main__":
    main(run)
