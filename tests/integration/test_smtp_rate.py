"""Per-host rates on port 25 (issue 15; smtpd/rate.c, common/ratecount.c):

- off (the default): one host may connect and send as often as it likes;
- client_connection_rate = N: the N+1-th connection of a host in a minute
  gets "421 4.7.0 Too many connections from IP; try again after
  HH:MM:SS" (the next minute) and is closed, counted across both
  processes of [smtp] workers = 2; another host, [submission], and the
  same host in the next minute are served;
- client_message_rate = N: the N+1-th MAIL of a host in a minute, across
  its sessions in both processes, gets 450 4.7.0; the session stays open;
  the next minute MAIL is taken and the message delivered;
- unknown_recipient_limit = N: N RCPTs answered 550 5.1.1 (a relay
  refusal does not count) block the host: its next RCPT and its new
  connections get 554 5.7.1 "IP blocked until YYYY-MM-DD 00:00 after N
  unknown recipients" (at connect only QUIT then works), another host is
  served, LMTP from the same address too, and the next day the host is
  served again; a restart of the daemon does not lift the block;
- vellumctl rate list shows the hosts blocked today (not yesterday's),
  each with its count and "until DATE 00:00"; rate unblock IP lifts one
  block while the daemon runs: the host's next connection is greeted 220,
  its count starts again, and the list no longer shows it; unblocking it
  again, or a host never blocked, fails (exit 1) saying it is not
  blocked; rate unblock --all lifts the others;
- trusted_networks, a white ip entry and LMTP are never counted; a
  session that logged in (AUTH on port 25) was counted at connect, but
  its messages and unknown recipients are not;
- [limits] connections_per_ip is what limits the connections of a host
  open at once (no key of its own for port 25): counted across both
  processes, its 421 names the address;
- each refusal is a log line with the client's address.

The clock: libfaketime reads the time from a file this test rewrites
(FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE), frozen at each value, so a
minute or a day passes without waiting; the monotonic clock (the event
loop's timers) is left alone.  Clients are told apart by their source
address, 127.0.0.X.

usage: test_smtp_rate.py BUILD_DIR
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, faketime_env, main  # noqa: E402
from smtptest import (Raw, SmtpSite, auth_plain_token, count,  # noqa: E402
                      require_smtpd)

BOB = "bob@example.test"
CONN_RATE = 3
MSG_RATE = 2
UNKNOWN = 3
PER_IP = 2		# [limits] connections_per_ip, below CONN_RATE
DAY = "2026-12-03"
NEXT_DAY = "2026-12-04"


class Clock:
    """The daemon's wall clock: a libfaketime timestamp file."""

    def __init__(self, site):
        self.path = site.path("faketime")
        self.set(DAY + " 10:59:50")

    def set(self, when):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(when + "\n")
        os.rename(tmp, self.path)

    def env(self):
        e = faketime_env("+0")
        del e["FAKETIME"]
        e.update({"FAKETIME_TIMESTAMP_FILE": self.path,
                  "FAKETIME_NO_CACHE": "1",
                  "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                  # the local time of the replies, whatever the machine's
                  "TZ": "UTC"})
        return e


def text(r):
    """"CODE last line" of a Raw reply."""
    code, lines = r
    return "%d %s" % (code, lines[-1].decode() if lines else "")


def connect(srv, src, port="smtp"):
    return Raw(srv.ports[port], src="127.0.0.%d" % src)


def greets(srv, src, what, port="smtp"):
    """A connection from 127.0.0.src that must be greeted 220."""
    c = connect(srv, src, port)
    check(c.greeting[0] == 220, what + ": greeted 220", text(c.greeting))
    return c


def refused(srv, src, code, what, want=None):
    """A connection from 127.0.0.src that must be greeted code (and
    want, the whole reply, when given), then closed."""
    c = connect(srv, src)
    check(c.greeting[0] == code and (want is None or
                                     text(c.greeting) == want),
          "%s: greeted %s" % (what, want or code), text(c.greeting))
    return c


def expect(c, line, code, what, want=None):
    r = c.cmd(line)
    check(r[0] == code and (want is None or text(r) == want),
          "%s: %s answers %s" % (what, line.split("\r")[0], want or code),
          text(r))
    return r


def pids_serving(srv, ip):
    """The smtpd processes that logged a connect from ip."""
    return set(re.findall(r"vellum-smtpd\[(\d+)\]: conn \d+: connect from "
                          + re.escape(ip) + " ", srv.smtpd.output()))


def case_off(srv):
    """No rate keys: many connections and messages from one host."""
    for i in range(CONN_RATE + 2):
        c = greets(srv, 2, "rates off: connection %d" % (i + 1))
        expect(c, "EHLO client.example.test", 250, "rates off")
        for j in range(MSG_RATE + 2):
            expect(c, "MAIL FROM:<a@remote.test>", 250, "rates off")
            expect(c, "RSET", 250, "rates off")
        for j in range(UNKNOWN + 2):
            expect(c, "MAIL FROM:<a@remote.test>", 250, "rates off")
            expect(c, "RCPT TO:<nobody%d@example.test>" % j, 550,
                   "rates off")
            expect(c, "RSET", 250, "rates off")
        c.close()


def case_connections(srv, clock):
    """client_connection_rate, counted by both processes together."""
    clock.set(DAY + " 10:59:50")
    held = [greets(srv, 2, "connection %d of %d this minute" %
                   (i + 1, CONN_RATE)) for i in range(CONN_RATE)]
    want = ("421 4.7.0 Too many connections from 127.0.0.2; try again "
            "after 11:00:00")
    c = refused(srv, 2, 421, "connection %d in the minute" %
                (CONN_RATE + 1), want)
    check(c.closed(), "and the connection closes", "")
    c.close()
    check(len(pids_serving(srv, "127.0.0.2")) == 2, "the connections of "
          "127.0.0.2 were served by both processes (so the count is "
          "theirs together)", pids_serving(srv, "127.0.0.2"))
    srv.smtpd.wait_for(r"rate: client 127\.0\.0\.2 refused: connection %d "
                       r"this minute" % (CONN_RATE + 1))
    other = greets(srv, 3, "another host (127.0.0.3) in the same minute")
    sub = greets(srv, 2, "127.0.0.2 on [submission]", port="submission")
    for x in held + [other, sub]:
        x.close()
    refused(srv, 2, 421, "closing its sessions does not give 127.0.0.2 "
            "room in the same minute").close()
    clock.set(DAY + " 11:00:00")
    c = greets(srv, 2, "127.0.0.2 in the next minute")
    c.close()


def case_messages(srv, clock):
    """client_message_rate, across two sessions in two processes."""
    clock.set(DAY + " 11:00:10")
    a = greets(srv, 4, "message rate: session a")
    b = greets(srv, 4, "message rate: session b")
    for c in (a, b):
        expect(c, "EHLO client.example.test", 250, "message rate")
    n = 0
    for c in (a, b) * MSG_RATE:
        if n == MSG_RATE:
            break
        expect(c, "MAIL FROM:<a@remote.test>", 250, "message %d of %d" %
               (n + 1, MSG_RATE))
        expect(c, "RSET", 250, "message rate")
        n += 1
    want = ("450 4.7.0 Too many messages from 127.0.0.4; try again after "
            "11:01:00")
    for c in (a, b):
        expect(c, "MAIL FROM:<a@remote.test>", 450, "a message past the "
               "rate, in either session", want)
        expect(c, "NOOP", 250, "the session stays open after the 450")
    srv.smtpd.wait_for(r"rate: client 127\.0\.0\.4 refused: message %d "
                       r"this minute" % (MSG_RATE + 1))
    o = greets(srv, 5, "another host (127.0.0.5)")
    expect(o, "EHLO client.example.test", 250, "another host")
    expect(o, "MAIL FROM:<a@remote.test>", 250, "another host's MAIL")
    o.close()
    sub = greets(srv, 4, "127.0.0.4 on [submission]", port="submission")
    expect(sub, "EHLO client.example.test", 250, "[submission]")
    expect(sub, "AUTH PLAIN " + auth_plain_token(BOB, "pw-bob"), 235,
           "[submission]")
    for i in range(MSG_RATE + 1):
        expect(sub, "MAIL FROM:<%s>" % BOB, 250, "[submission] is not "
               "counted: message %d" % (i + 1))
        expect(sub, "RSET", 250, "[submission]")
    sub.close()
    clock.set(DAY + " 11:01:00")
    c0 = count(srv.site, BOB)
    expect(a, "MAIL FROM:<a@remote.test>", 250, "the next minute")
    expect(a, "RCPT TO:<%s>" % BOB, 250, "the next minute")
    expect(a, "DATA", 354, "the next minute")
    expect(a, "Subject: next minute\r\n\r\nhi\r\n.", 250, "the next "
           "minute")
    check(count(srv.site, BOB) == c0 + 1, "the message of the next minute "
          "is stored", count(srv.site, BOB) - c0)
    a.close()
    b.close()


def ctl(srv, clock, *args, expect=0):
    """vellumctl on the site's data dir, on the daemon's clock: (stdout,
    stderr), the exit status checked."""
    env = dict(os.environ)
    env.update(clock.env())
    p = subprocess.run([srv.site.binary("vellumctl"), "-d", srv.site.data] +
                       list(args), env=env, capture_output=True, timeout=60)
    out, err = p.stdout.decode(), p.stderr.decode()
    check(p.returncode == expect, "vellumctl %s: exit %d" % (
        " ".join(args), expect), (p.returncode, out, err))
    return out, err


def block(srv, src, what):
    """UNKNOWN unknown recipients from 127.0.0.src: the host is blocked
    (the RCPT after them is refused, so the store has the block)."""
    c = greets(srv, src, what)
    expect(c, "EHLO client.example.test", 250, what)
    expect(c, "MAIL FROM:<a@remote.test>", 250, what)
    for i in range(UNKNOWN):
        expect(c, "RCPT TO:<nobody%d@example.test>" % i, 550, what)
    expect(c, "RCPT TO:<%s>" % BOB, 554, what + ": blocked")
    c.close()


def listed(srv, clock):
    """rate list --json: {host: count} of the blocks, each checked to
    end at the next midnight."""
    out, _ = ctl(srv, clock, "--json", "rate", "list")
    blocks = json.loads(out)
    for b in blocks:
        check(b["until"] == "2026-12-05 00:00", "rate list: %s is blocked "
              "until the next midnight" % b["host"], b)
    return {b["host"]: b["count"] for b in blocks}


def case_unblock(srv, clock):
    """vellumctl rate list and unblock, on the running daemon."""
    clock.set(NEXT_DAY + " 09:00:00")
    pid = srv.smtpd.popen.pid
    out, err = ctl(srv, clock, "rate", "list")
    check(out == "" and "no hosts blocked today" in err, "rate list: "
          "yesterday's block of 127.0.0.6 is not listed", (out, err))
    for src in (15, 16, 17):
        block(srv, src, "blocking 127.0.0.%d" % src)
    out, _ = ctl(srv, clock, "rate", "list")
    for src in (15, 16, 17):
        check(re.search(r"^127\.0\.0\.%d +%d unknown recipients, until "
                        r"2026-12-05 00:00$" % (src, UNKNOWN), out, re.M),
              "rate list shows 127.0.0.%d, its count and until when" % src,
              out)
    check(listed(srv, clock) == {"127.0.0.15": UNKNOWN, "127.0.0.16": UNKNOWN,
                                 "127.0.0.17": UNKNOWN},
          "rate list --json: the three blocks", listed(srv, clock))
    refused(srv, 15, 554, "127.0.0.15 before the unblock").close()
    out, _ = ctl(srv, clock, "rate", "unblock", "127.0.0.15")
    check("lifted" in out, "rate unblock says the block is lifted", out)
    c = greets(srv, 15, "127.0.0.15 after rate unblock, no restart")
    srv.smtpd.wait_for(r"rate: client 127\.0\.0\.15 let on: the block of "
                       r"127\.0\.0\.15 was lifted")
    expect(c, "EHLO client.example.test", 250, "after the unblock")
    expect(c, "MAIL FROM:<a@remote.test>", 250, "after the unblock")
    expect(c, "RCPT TO:<nobody@example.test>", 550, "after the unblock")
    expect(c, "RCPT TO:<%s>" % BOB, 250, "after the unblock, its count "
           "started again")
    c.close()
    check(srv.smtpd.running() and srv.smtpd.popen.pid == pid, "the daemon "
          "was not restarted", pid)
    check(listed(srv, clock) == {"127.0.0.16": UNKNOWN,
                                 "127.0.0.17": UNKNOWN},
          "rate list no longer shows 127.0.0.15", listed(srv, clock))
    _, err = ctl(srv, clock, "rate", "unblock", "127.0.0.15", expect=1)
    check("127.0.0.15: not blocked today" in err, "unblocking it again "
          "says it is not blocked", err)
    _, err = ctl(srv, clock, "rate", "unblock", "127.0.0.99", expect=1)
    check("127.0.0.99: not blocked today" in err, "unblocking a host "
          "never blocked says so", err)
    ctl(srv, clock, "rate", "unblock", "not-an-ip", expect=2)
    refused(srv, 16, 554, "127.0.0.16 before --all").close()
    out, _ = ctl(srv, clock, "rate", "unblock", "--all")
    check(out.strip() == "2 blocks lifted", "rate unblock --all lifts the "
          "two others", out)
    for src in (16, 17):
        greets(srv, src, "127.0.0.%d after rate unblock --all" %
               src).close()
    check(listed(srv, clock) == {}, "rate list is empty after --all",
          listed(srv, clock))


def case_unknown(srv, clock):
    """unknown_recipient_limit: a block until the next day."""
    clock.set(DAY + " 23:59:00")
    want = ("554 5.7.1 127.0.0.6 blocked until %s 00:00 after %d unknown "
            "recipients" % (NEXT_DAY, UNKNOWN))
    c = greets(srv, 6, "unknown recipients")
    expect(c, "EHLO client.example.test", 250, "unknown recipients")
    expect(c, "MAIL FROM:<a@remote.test>", 250, "unknown recipients")
    expect(c, "RCPT TO:<x@remote.test>", 554, "a relay refusal (not "
           "counted)")
    for i in range(UNKNOWN):
        r = expect(c, "RCPT TO:<nobody%d@example.test>" % i, 550,
                   "unknown recipient %d of %d" % (i + 1, UNKNOWN))
        check(text(r).startswith("550 5.1.1"), "it is a 550 5.1.1",
              text(r))
    expect(c, "RCPT TO:<%s>" % BOB, 554, "a good recipient after the "
           "block", want)
    c.close()
    srv.smtpd.wait_for(r"rate: client 127\.0\.0\.6 blocked until %s 00:00"
                       % NEXT_DAY)
    c = refused(srv, 6, 554, "a new connection of the blocked host", want)
    expect(c, "EHLO client.example.test", 503, "the blocked host")
    expect(c, "QUIT", 221, "the blocked host")
    c.close()
    o = greets(srv, 7, "another host (127.0.0.7)")
    expect(o, "EHLO client.example.test", 250, "another host")
    expect(o, "MAIL FROM:<a@remote.test>", 250, "another host")
    expect(o, "RCPT TO:<%s>" % BOB, 250, "another host")
    o.close()
    lm = greets(srv, 6, "LMTP from the blocked address", port="lmtp")
    expect(lm, "LHLO client.example.test", 250, "LMTP")
    expect(lm, "MAIL FROM:<a@remote.test>", 250, "LMTP")
    expect(lm, "RCPT TO:<%s>" % BOB, 250, "LMTP is never blocked")
    lm.close()
    # A restart forgets the counts, not the block (the volatile store).
    srv.restart(env=clock.env())
    srv.smtpd.wait_for(r"2 worker processes")
    clock.set(DAY + " 23:59:59")
    refused(srv, 6, 554, "after a restart, one second before midnight, "
            "the block holds", want).close()
    clock.set(NEXT_DAY + " 00:00:01")
    c = greets(srv, 6, "the blocked host the next day")
    expect(c, "EHLO client.example.test", 250, "the next day")
    expect(c, "MAIL FROM:<a@remote.test>", 250, "the next day")
    expect(c, "RCPT TO:<%s>" % BOB, 250, "the next day")
    c.close()


def flood(srv, src, what, port="smtp", login=False):
    """More connections, MAILs and unknown RCPTs than any limit allows:
    all must be served as usual.  A session that will log in is counted
    at connect like any (it has not logged in yet): CONN_RATE of them."""
    for i in range(CONN_RATE if login else CONN_RATE + 2):
        c = greets(srv, src, "%s: connection %d" % (what, i + 1), port)
        expect(c, ("LHLO" if port == "lmtp" else "EHLO") +
               " client.example.test", 250, what)
        if login:
            expect(c, "AUTH PLAIN " + auth_plain_token(BOB, "pw-bob"), 235,
                   what)
        sender = BOB if login else "a@remote.test"
        for j in range(MSG_RATE + 1):
            expect(c, "MAIL FROM:<%s>" % sender, 250, "%s: message %d" %
                   (what, j + 1))
            if port != "lmtp" or j == 0:
                for k in range(UNKNOWN + 1):
                    expect(c, "RCPT TO:<nobody%d@example.test>" % k, 550,
                           "%s: unknown recipient %d" % (what, k + 1))
            expect(c, "RSET", 250, what)
        c.close()


def case_exempt(srv, clock):
    """Trusted, whitelisted, logged in, LMTP: never counted; an ordinary
    host on the same daemon still is."""
    clock.set(DAY + " 12:00:00")
    flood(srv, 8, "trusted_networks 127.0.0.8")
    flood(srv, 9, "white ip 127.0.0.9")
    flood(srv, 10, "logged in on port 25", login=True)
    flood(srv, 11, "LMTP", port="lmtp")
    for i in range(CONN_RATE):
        greets(srv, 12, "an ordinary host").close()
    refused(srv, 12, 421, "an ordinary host is still limited").close()


def case_concurrent(srv, clock):
    """[limits] connections_per_ip is the limit of connections open at
    once: the first process counts those of both, and the refusal names
    the address."""
    clock.set(DAY + " 13:00:00")
    held = [greets(srv, 13, "open connection %d of %d" % (i + 1, PER_IP))
            for i in range(PER_IP)]
    check(len(pids_serving(srv, "127.0.0.13")) == 2, "the open connections "
          "of 127.0.0.13 are in both processes",
          pids_serving(srv, "127.0.0.13"))
    want = ("421 4.7.0 Too many connections from 127.0.0.13, try again "
            "later")
    refused(srv, 13, 421, "connection %d open at once" % (PER_IP + 1),
            want).close()
    greets(srv, 14, "another host meanwhile").close()
    for x in held:
        x.close()


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    clock = Clock(site)
    srv = SmtpSite(site, pop3=False)
    site.add_user(BOB, "pw-bob")
    srv.start(pop3=False, env=clock.env())
    case_off(srv)
    srv.reconfigure(smtpd={"client_connection_rate": str(CONN_RATE),
                           "client_message_rate": str(MSG_RATE),
                           "unknown_recipient_limit": str(UNKNOWN)},
                    more={"smtp": {"workers": "2"}})
    srv.restart(env=clock.env())
    srv.smtpd.wait_for(r"2 worker processes")
    case_connections(srv, clock)
    case_messages(srv, clock)
    case_unknown(srv, clock)
    case_unblock(srv, clock)
    srv.reconfigure(smtpd={"trusted_networks": "127.0.0.8/32"},
                    more={"smtp": {"auth": "yes"}})
    site.ctl("acl", "add", "white", "ip", "127.0.0.9")
    srv.restart(env=clock.env())
    case_exempt(srv, clock)
    srv.reconfigure(more={"limits": {"connections_per_ip": str(PER_IP)}})
    srv.restart(env=clock.env())
    case_concurrent(srv, clock)
    srv.alive("the tests")
    check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0", "")
    return 0


if __name__ == "__main__":
    main(run)
