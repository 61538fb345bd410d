"""vellum-smtpd recipient routing through the delivery pipeline: the exact
address, user+ext -> user, an explicit user+ext route, the catch-all,
an alias domain, an alias expanding to several users, an alias loop
(refused, no endless expansion), a forward to an external address
(queued), info@a and info@b kept apart, unknown users (550 exact text),
a disabled account (the same 550), foreign domains (554 relaying
denied), the per-domain sender-login-match option (553 5.7.1), the
per-domain auto-forward switch (550 5.7.1 for external-only routes), and
relaying without AUTH after a POP3 login (POP-before-SMTP) or from
trusted_networks.
Each delivered copy is read back through the store and through POP3.

usage: test_smtp_routing.py BUILD_DIR
"""
import itertools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, Site, check, main  # noqa: E402
from smtptest import (UNKNOWN, RELAY_DENIED, SmtpSite, count,  # noqa: E402
                      message, pop3_all, queue, readback, require_smtpd,
                      send, sent_ok)

SENDER = "sender@remote.test"
ALICE = "alice@example.test"
BOB = "bob@example.test"
INFO_A = "info@example.test"
INFO_B = "info@other.test"
CAROL = "carol@other.test"
USERS = [ALICE, BOB, INFO_A, INFO_B, CAROL]
RELAY_N = itertools.count()


def pw(user):
    return "pw-" + user.split("@")[0]


def counts(site):
    return {u: count(site, u) for u in USERS}


def route(srv, s, rcpt, targets, via, delivered_to=None):
    """Sends one message to rcpt; exactly the users in targets get one
    copy each, everyone else none; each copy reads back right."""
    site = srv.site
    before = counts(site)
    m = message("route %s" % rcpt)
    sent_ok(s, SENDER, [rcpt], m, via)
    after = counts(site)
    want = {u: before[u] + (1 if u in targets else 0) for u in USERS}
    check(after == want, "%s: RCPT %s reaches exactly %r" %
          (via, rcpt, sorted(targets)), {u: after[u] - before[u]
                                         for u in USERS})
    for u in targets:
        names = [rcpt, u] + list(delivered_to or [])
        readback(srv, u, pw(u), m, SENDER, names, "%s (%s)" % (via, u))


def refused(s, rcpt, code, text, via):
    check(s.mail(SENDER)[0] == 250, "MAIL", "")
    r = s.rcpt(rcpt)
    check(r == (code, text.encode()), "%s: RCPT %s answers %d %s" %
          (via, rcpt, code, text), r)
    s.rset()


def test_routes(srv):
    site = srv.site
    s = srv.smtp()
    route(srv, s, ALICE, [ALICE], "exact address")
    route(srv, s, "alice+news@example.test", [ALICE], "user+ext -> user")
    route(srv, s, "alice+special@example.test", [BOB], "an explicit "
          "user+ext route wins over user")
    route(srv, s, INFO_A, [INFO_A], "info@example.test")
    route(srv, s, INFO_B, [INFO_B], "info@other.test (exact address "
          "before the catch-all)")
    route(srv, s, "random@other.test", [CAROL], "catch-all @other.test")
    route(srv, s, "random+tag@other.test", [CAROL], "user+ext on a "
          "catch-all domain")
    route(srv, s, "carol+x@other.test", [CAROL], "user+ext of a mailbox "
          "on a catch-all domain")
    route(srv, s, "alice@alias.test", [ALICE], "alias domain",
          delivered_to=["alice@example.test"])
    route(srv, s, "ALICE+X@Alias.Test", [ALICE], "alias domain, "
          "user+ext, upper case", delivered_to=["alice+x@alias.test"])
    route(srv, s, "team@example.test", [ALICE, BOB, INFO_B], "alias "
          "expanding to three users")
    route(srv, s, "chain@example.test", [ALICE], "alias of an alias",
          delivered_to=["link@example.test"])

    # unknown users; foreign domains
    refused(s, "nobody@example.test", 550, UNKNOWN % "nobody@example.test",
            "unknown user")
    refused(s, "nobody@alias.test", 550, UNKNOWN % "nobody@alias.test",
            "unknown user on an alias domain")
    refused(s, "info+x@elsewhere.test", 554,
            RELAY_DENIED % "info+x@elsewhere.test", "foreign domain")

    # an alias loop: an error, promptly, and the session goes on
    before = counts(site)
    check(s.mail(SENDER)[0] == 250, "MAIL", "")
    t0 = time.monotonic()
    r = s.rcpt("loop1@example.test")
    took = time.monotonic() - t0
    check(400 <= r[0] < 600, "an alias loop (loop1 -> loop2 -> loop1) "
          "gets an error reply", r)
    check(took < 5, "the loop is detected at once", took)
    s.rset()
    check(s.noop()[0] == 250, "the session goes on after the loop", "")
    check(counts(site) == before, "the loop delivered nothing",
          counts(site))
    srv.alive("an alias loop")

    # a forward to an external address: queued, no AUTH needed
    before = counts(site)
    sent_ok(s, SENDER, ["fw@example.test"], message("forwarded"),
            "forward to an external address")
    check("someone@external.test" in queue(site), "the forward is in the "
          "queue (vellumctl queue list)", queue(site))
    check(counts(site) == before, "a pure forward stores no local copy",
          counts(site))
    route(srv, s, "mixed@example.test", [ALICE], "alias to a user and an "
          "external address")
    check("mixed.ext@external.test" in queue(site), "the external half of "
          "mixed@ is queued", queue(site))

    # a disabled account answers like an unknown one
    site.ctl("user", "disable", BOB, "--reason", "routing test")
    refused(s, BOB, 550, UNKNOWN % BOB, "disabled account")
    refused(s, "bob+x@example.test", 550, UNKNOWN % "bob+x@example.test",
            "user+ext of a disabled account")
    site.ctl("user", "enable", BOB)
    route(srv, s, BOB, [BOB], "re-enabled account")
    s.quit()


def test_sender_login(srv):
    site = srv.site
    site.ctl("domain", "set", "example.test", "sender-login-match", "yes")
    s = srv.submission(ALICE, pw(ALICE))
    b0 = count(site, BOB)
    mr, rr, dr = send(s, BOB, [CAROL], message("forged sender"))
    codes = [mr] + list(rr.values())
    check(any(c == 553 and t.startswith(b"5.7.1") for c, t in codes) and
          dr is None, "sender-login-match: logged in as alice, MAIL FROM "
          "bob: 553 5.7.1 (at MAIL or RCPT), no DATA", (mr, rr, dr))
    check(count(site, BOB) == b0, "nothing delivered", "")
    sent_ok(s, ALICE, [CAROL], message("own sender"),
            "sender-login-match: alice as herself")
    s.quit()
    site.ctl("domain", "set", "example.test", "sender-login-match", "no")
    s = srv.submission(ALICE, pw(ALICE))
    sent_ok(s, BOB, [CAROL], message("other sender allowed"),
            "sender-login-match off: alice may send as bob")
    s.quit()


def relayed(srv, what):
    """Whether a message from 127.0.0.1 on [smtp] without AUTH to an
    external address is accepted (and then queued) or refused 554."""
    site = srv.site
    ext = "far%d@external.test" % next(RELAY_N)
    s = srv.smtp()
    mr, rr, dr = send(s, SENDER, [ext], message("relay: " + what))
    s.quit()
    if rr.get(ext, (0,))[0] == 250:
        check(dr is not None and dr[0] == 250, "%s: DATA of a relayed "
              "message answers 250" % what, dr)
        check(ext in queue(site), "%s: the relayed recipient is queued" %
              what, queue(site))
        return True
    want = (RELAY_DENIED % ext).encode()
    check(rr.get(ext) == (554, want), "%s: refused with 554 %s" % (
        what, want.decode()), (mr, rr))
    return False


def test_relay_rules(build):
    """POP-before-SMTP and trusted_networks, on a site of their own (the
    POP3 logins of the routing tests must not count)."""
    site = Site(build)
    try:
        pbs = {"plaintext": "yes", "fail_delay": "10",
               "pop_before_smtp": "5"}
        srv = SmtpSite(site, auth=pbs, lmtp=False)
        site.add_user(ALICE, pw(ALICE))
        srv.start()
        check(not relayed(srv, "no POP3 login yet"), "loopback is not "
              "trusted: no relaying before a POP3 login", "")
        n = len(pop3_all(srv.ports["pop3"], ALICE, pw(ALICE)))
        check(n == 0, "POP3 login as alice", n)
        check(relayed(srv, "after a POP3 login (pop_before_smtp = 5)"),
              "POP-before-SMTP: a POP3 login from 127.0.0.1 lets it relay "
              "for 5 minutes", "")
        srv.reconfigure(auth=None)	# pop_before_smtp off again
        srv.restart(pop3=True)
        check(not relayed(srv, "pop_before_smtp off"), "with "
              "pop_before_smtp off the earlier POP3 login does not count",
              "")
        srv.reconfigure(smtpd={"trusted_networks": "192.0.2.0/24, "
                               "127.0.0.0/8"})
        srv.restart()
        check(relayed(srv, "trusted_networks 127.0.0.0/8"), "a client in "
              "trusted_networks may relay without AUTH", "")
        out = site.ctl("store", "check")
        check("ok" in out, "store check passes", out)
    except Failure:
        site.keep = True
        raise
    finally:
        site.cleanup()


NOFWD = ("5.7.1 <%s>: Recipient address rejected: forwarding to external "
         "addresses is disabled for its domain")


def test_no_auto_forward(srv):
    """`domain set D auto-forward no`: routes of D's addresses (and of
    its alias domain's) no longer send mail outside; a route with only
    external targets is refused 550 5.7.1, a mixed one keeps its local
    copies; local aliases still work; `yes` turns forwarding back on."""
    site = srv.site
    out = site.ctl("domain", "set", "example.test", "auto-forward", "no")
    check("auto-forward no" in out, "domain set says what it set", out)
    doms = site.ctl("domain", "list")
    check("example.test\tno-auto-forward" in doms, "domain list shows "
          "no-auto-forward", doms)
    js = site.ctl("--json", "domain", "list")
    check('"auto_forward": false' in js and '"auto_forward": true' in js,
          "domain list --json has auto_forward per domain", js)
    s = srv.smtp()
    refused(s, "fw2@example.test", 550, NOFWD % "fw2@example.test",
            "an external-only forward with auto-forward off")
    refused(s, "fw2@alias.test", 550, NOFWD % "fw2@alias.test",
            "the same through the alias domain")
    route(srv, s, "mixed2@example.test", [ALICE], "a mixed route with "
          "auto-forward off: the local copy only")
    route(srv, s, "team@example.test", [ALICE, BOB, INFO_B], "local "
          "aliases are not forwards")
    q = queue(site)
    check("fw2.ext@external.test" not in q and
          "mixed2.ext@external.test" not in q, "nothing went to the queue "
          "with auto-forward off", q)
    site.ctl("domain", "set", "example.test", "auto-forward", "yes")
    check("no-auto-forward" not in site.ctl("domain", "list"),
          "auto-forward yes clears it", "")
    sent_ok(s, SENDER, ["fw2@example.test"], message("forwarded again"),
            "auto-forward yes: the forward is accepted again")
    check("fw2.ext@external.test" in queue(site), "and queued", queue(site))
    s.quit()
    r = site.ctl("domain", "set", "example.test", "auto-forward", "maybe",
                 expect=2)
    r = site.ctl("domain", "set", "alias.test", "auto-forward", "no",
                 expect=1)


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site)
    for u in USERS:
        site.add_user(u, pw(u))
    site.ctl("domain", "alias", "alias.test", "example.test")
    site.ctl("addr", "add", "alice+special@example.test", BOB)
    site.ctl("addr", "add", "@other.test", CAROL)
    site.ctl("addr", "add", "team@example.test", ALICE, BOB, INFO_B)
    site.ctl("addr", "add", "link@example.test", ALICE)
    site.ctl("addr", "add", "chain@example.test", "link@example.test")
    # loop2 does not exist yet: addr add refuses it without --force.
    site.ctl("addr", "add", "loop1@example.test", "loop2@example.test",
             "--force")
    site.ctl("addr", "add", "loop2@example.test", "loop1@example.test")
    site.ctl("addr", "add", "fw@example.test", "someone@external.test")
    site.ctl("addr", "add", "mixed@example.test", ALICE,
             "mixed.ext@external.test")
    site.ctl("addr", "add", "fw2@example.test", "fw2.ext@external.test")
    site.ctl("addr", "add", "mixed2@example.test", ALICE,
             "mixed2.ext@external.test")
    srv.start()
    test_routes(srv)
    test_sender_login(srv)
    test_no_auto_forward(srv)
    srv.alive("the routing tests")
    out = site.ctl("store", "check")
    check("ok" in out, "store check passes", out)
    test_relay_rules(site.build)
    return 0


if __name__ == "__main__":
    main(run)
