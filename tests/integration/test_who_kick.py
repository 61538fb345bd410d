"""`vellumctl who` and `vellumctl kick` (issue 12, common/sessreg.h)
against vellum-imapd, vellum-pop3d and vellum-smtpd, and what a disabled
account is told at login.

1. who lists the logged-in IMAP (two imapd processes), POP3 and SMTP
   (AUTH) sessions with user,
   service, the client's ip:port (the port the client really has), the
   session ("conn N", the id of the daemon's log lines), since and pid;
   --json gives the same; a session that logged out is gone from it;
   `who ADDRESS` and --service filter.
2. kick ADDRESS --service imap closes only that user's IMAP sessions,
   each with "* BYE"; the other user's IMAP session and the user's POP3
   session stay; kick ADDRESS then closes the POP3 one with "-ERR" and
   the SMTP one with 421; an IMAP session in IDLE is closed at once.
   kick of someone without sessions fails (exit 1).
3. A registry file of a process that is gone is ignored (and a pid that
   names another process is never signalled).
4. A disabled user with the right password is told the account is
   disabled: IMAP NO [CONTACTADMIN], POP3 -ERR [AUTH] account disabled
   (USER/PASS and AUTH PLAIN), SMTP 525 5.7.13; with a wrong password
   nothing more than the usual failure.

usage: test_who_kick.py BUILD_DIR
"""
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, LineClient, check, main  # noqa: E402

ALICE, ALICE_PW = "alice@example.test", "alice-pw"
BOB, BOB_PW = "bob@example.test", "bob-pw"
CAROL, CAROL_PW = "carol@example.test", "carol-pw"


Line = LineClient


def who(site, *args):
    return json.loads(site.ctl("who", "--json", *args))


def wait_who(site, pred, what, timeout=10):
    end = time.time() + timeout
    w = None
    while time.time() < end:
        w = who(site)
        if pred(w):
            return w
        time.sleep(0.1)
    raise Failure("%s; who says %r" % (what, w))


def imap_login(port, user, pw):
    c = Line(port)
    tagged, _ = c.imap("a1", "LOGIN %s %s" % (user, pw))
    check(tagged.startswith(b"a1 OK"), "IMAP LOGIN %s" % user, tagged)
    return c


def pop3_login(port, user, pw):
    c = Line(port)
    check(c.cmd("USER " + user).startswith(b"+OK"), "POP3 USER", c.buf)
    r = c.cmd("PASS " + pw)
    check(r.startswith(b"+OK"), "POP3 PASS %s" % user, r)
    return c


def smtp_auth(port, user, pw):
    c = Line(port)
    c.send("EHLO client.test\r\n")
    while not c.line().startswith(b"250 "):
        pass
    tok = base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()
    return c, c.cmd("AUTH PLAIN " + tok)


def case_who(site, ports):
    a_imap = imap_login(ports["imap"], ALICE, ALICE_PW)
    b_imap = imap_login(ports["imap"], BOB, BOB_PW)
    a_pop = pop3_login(ports["pop3"], ALICE, ALICE_PW)
    a_smtp, r = smtp_auth(ports["submission"], ALICE, ALICE_PW)
    check(r.startswith(b"235"), "SMTP AUTH as alice", r)
    w = wait_who(site, lambda w: len(w) == 4, "who lists 4 sessions")
    mine = {(s["user"], s["service"], s["port"]) for s in w}
    want = {(ALICE, "imap", a_imap.port()), (BOB, "imap", b_imap.port()),
            (ALICE, "pop3", a_pop.port()), (ALICE, "smtp", a_smtp.port())}
    check(mine == want, "who: user, service and the client's own port of "
          "each session", (mine, want))
    for s in w:
        check(s["ip"] == "127.0.0.1" and s["pid"] > 0 and
              s["session"] == "conn %d" % s["conn"] and
              s["since"].endswith("Z"), "who: ip, pid, session, since", s)
    # the session id is the one of the daemon's log lines
    imap_log = site.procs_by_name["vellum-imapd"].output()
    s = [x for x in w if x["user"] == BOB][0]
    check("vellum-imapd[%d]: conn %d: login ok user=%s" % (
          s["pid"], s["conn"], BOB) in imap_log,
          "who's pid and session name bob's login line", imap_log[-1500:])
    print("who: the 2 IMAP sessions are in %d imapd process(es)" % len(
          {x["pid"] for x in w if x["service"] == "imap"}))
    text = site.ctl("who")
    check(text.startswith("USER") and "-- 4 sessions" in text and
          "127.0.0.1:%d" % a_pop.port() in text, "who as text", text)
    check(len(who(site, ALICE)) == 3, "who ADDRESS: alice's 3", who(site))
    check([x["user"] for x in who(site, "--service", "imap")].count(
          ALICE) == 1 and len(who(site, "--service", "imap")) == 2,
          "who --service imap", who(site, "--service", "imap"))

    # kick alice's IMAP sessions only
    out = site.ctl("kick", ALICE, "--service", "imap")
    check("1 session closed" in out, "kick --service imap says 1", out)
    bye = a_imap.rest()
    check(bye.startswith(b"* BYE") and b"administrator" in bye,
          "kicked IMAP session gets * BYE", bye)
    w = who(site)
    check({(s["user"], s["service"]) for s in w} == {
          (BOB, "imap"), (ALICE, "pop3"), (ALICE, "smtp")},
          "after kick --service imap, the others stay", w)
    tagged, _ = b_imap.imap("b2", "NOOP")
    check(tagged.startswith(b"b2 OK"), "bob's IMAP session still works",
          tagged)

    # bob in IDLE is closed at once
    b_imap.send("b3 IDLE\r\n")
    check(b_imap.line().startswith(b"+ "), "IDLE starts", b_imap.buf)
    out = site.ctl("kick", BOB)
    bye = b_imap.rest()
    check(bye.startswith(b"* BYE"), "a session in IDLE gets * BYE", bye)

    # alice's POP3 and SMTP sessions
    out = site.ctl("kick", ALICE)
    check("2 sessions closed" in out, "kick closes alice's other two", out)
    got = a_pop.rest()
    check(got.startswith(b"-ERR") and b"administrator" in got,
          "kicked POP3 session gets -ERR", got)
    got = a_smtp.rest()
    check(got.startswith(b"421 "), "kicked SMTP session gets 421", got)
    check(who(site) == [], "nobody is left", who(site))
    for c in (a_imap, b_imap, a_pop, a_smtp):
        c.close()

    out = site.ctl("kick", ALICE, expect=1)
    check(out == "", "kick of nobody fails", out)
    site.ctl("who", "--service", "nntp", expect=2)

    # a session that logs out leaves the list
    c = imap_login(ports["imap"], ALICE, ALICE_PW)
    wait_who(site, lambda w: len(w) == 1, "the new login is listed")
    c.imap("z", "LOGOUT")
    c.close()
    wait_who(site, lambda w: w == [], "a logged-out session is gone")


def case_stale(site):
    """A registry file of a dead process (pid 2**22 + 7: beyond pid_max
    on most systems, or not a vellum process) is skipped and not
    signalled."""
    d = os.path.join(site.data, "run", "sessions")
    os.makedirs(d, exist_ok=True)
    # our own pid with a start time that is not ours: a reused pid
    with open(os.path.join(d, "%d.sess" % os.getpid()), "w") as f:
        f.write("vellum-sessions 1 %d 1\nghost@example.test\timap\t"
                "127.0.0.1\t1\t1\t0\n" % os.getpid())
    with open(os.path.join(d, "4194311.sess"), "w") as f:
        f.write("vellum-sessions 1 4194311 1\nghost@example.test\tpop3\t"
                "127.0.0.1\t2\t2\t0\n")
    check(who(site) == [], "stale registry files are ignored", who(site))
    site.ctl("kick", "ghost@example.test", expect=1)


def case_disabled(site, ports):
    site.ctl("user", "disable", CAROL, "--reason", "unpaid invoice")
    # IMAP (the reply existed before; the same, now from the flag)
    c = Line(ports["imap"])
    tagged, _ = c.imap("d1", "LOGIN %s %s" % (CAROL, CAROL_PW))
    check(tagged.startswith(b"d1 NO [CONTACTADMIN]") and b"disabled" in
          tagged, "IMAP: a disabled account is told so", tagged)
    tagged, _ = c.imap("d2", "LOGIN %s wrong" % CAROL)
    check(tagged.startswith(b"d2 NO [AUTHENTICATIONFAILED]") and
          b"disabled" not in tagged, "IMAP: wrong password says nothing "
          "more", tagged)
    c.close()
    # POP3 USER/PASS and AUTH PLAIN
    c = Line(ports["pop3"])
    c.cmd("USER " + CAROL)
    r = c.cmd("PASS " + CAROL_PW)
    check(r.startswith(b"-ERR [AUTH] account disabled") and
          b"unpaid invoice" in r, "POP3 PASS: -ERR [AUTH] account "
          "disabled", r)
    c.cmd("USER " + CAROL)
    r = c.cmd("PASS wrong")
    check(r.startswith(b"-ERR [AUTH]") and b"disabled" not in r,
          "POP3: wrong password says nothing more", r)
    tok = base64.b64encode(("\0%s\0%s" % (CAROL, CAROL_PW)).encode())
    r = c.cmd("AUTH PLAIN " + tok.decode())
    check(r.startswith(b"-ERR [AUTH] account disabled"),
          "POP3 AUTH PLAIN: account disabled", r)
    c.close()
    # SMTP
    c, r = smtp_auth(ports["submission"], CAROL, CAROL_PW)
    check(r.startswith(b"525 5.7.13") and b"disabled" in r.lower(),
          "SMTP AUTH: 525 5.7.13 account disabled", r)
    c.close()
    c, r = smtp_auth(ports["submission"], CAROL, "wrong")
    check(r.startswith(b"535 5.7.8") and b"disabled" not in r.lower(),
          "SMTP: wrong password: 535 as before", r)
    c.close()
    site.ctl("user", "enable", CAROL)


def run(site, args):
    for p in ("imapd", "pop3d", "smtpd"):
        if not site.have(p):
            raise Failure("vellum-%s was not built" % p)
    ports = {k: site.port() for k in ("imap", "pop3", "submission")}
    site.write_conf({
        # two processes: a session may be in the forked worker
        "imap": {"listen": "127.0.0.1:%d" % ports["imap"], "workers": "2"},
        "pop3": {"listen": "127.0.0.1:%d" % ports["pop3"]},
        "submission": {"listen": "127.0.0.1:%d" % ports["submission"]},
        "smtpd": {"trusted_networks": "192.0.2.0/24"},
    }, fail_delay=0)
    for u, p in ((ALICE, ALICE_PW), (BOB, BOB_PW), (CAROL, CAROL_PW)):
        site.add_user(u, p)
    site.procs_by_name = {}
    for name, port in (("imapd", "imap"), ("pop3d", "pop3"),
                       ("smtpd", "submission")):
        proc = site.start(name)
        site.wait_port(ports[port], proc)
        site.procs_by_name["vellum-" + name] = proc
    # each case on its own: a failure names every point that fails
    failed = []
    for name, fn, done in (
            ("who/kick", lambda: case_who(site, ports), "who/kick: "
             "sessions listed, kicked with the protocol's bye"),
            ("stale", lambda: case_stale(site), "who/kick: stale registry "
             "files ignored"),
            ("disabled", lambda: case_disabled(site, ports), "disabled "
             "account: told so after the right password only")):
        try:
            fn()
            print(done)
        except Failure as e:
            print("FAIL [%s]: %s" % (name, str(e)[:600]), file=sys.stderr)
            failed.append(name)
    if failed:
        raise Failure("cases failed: %s" % ", ".join(failed))
    for proc in site.procs_by_name.values():
        check(site.stop(proc) == 0, "%s stops cleanly" % proc.name,
              proc.output()[-2000:])
    left = os.listdir(os.path.join(site.data, "run", "sessions"))
    check(left == [], "the daemons removed their registry files", left)
    return 0


if __name__ == "__main__":
    main(run)
