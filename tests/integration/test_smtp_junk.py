"""Early talkers and junk commands on port 25 (issue 15, "Advanced"):

- reject_early_talkers = no (the default): a client that sends HELO and
  MAIL in one write is served as before;
- reject_early_talkers = yes: a command followed by more input before
  its reply, while PIPELINING is not allowed (before EHLO was answered,
  or after HELO), gets 554 5.5.0 and the connection closes, with a log
  line naming the client; pipelining after EHLO is served; [submission]
  and trusted_networks are never checked;
- junk_command_limit = N: NOOP, VRFY, RSET, HELP (and ETRN) outside a
  transaction are counted; from the 10th on each reply waits count / 10
  seconds; past N, 421 4.7.0 and the connection closes; an accepted
  message starts the count again; 0 turns it off.

usage: test_smtp_junk.py BUILD_DIR
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import check, main  # noqa: E402
from smtptest import SmtpSite, count, log_has, require_smtpd  # noqa

HOST = "127.0.0.1"
BOB = "bob@example.test"
# Small, so that the delays stay short: replies 10 to LIMIT wait 1 s each.
LIMIT = 12


class Client:
    """A plain socket that writes raw bytes and reads whole replies."""

    def __init__(self, port):
        self.s = socket.create_connection((HOST, port), timeout=30)
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.s.sendall(data.encode())

    def reply(self):
        """One whole reply (its lines joined), or "" at EOF."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                d = self.s.recv(4096)
                if not d:
                    return "\n".join(lines)
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self):
        """True when the server closed the connection (EOF)."""
        try:
            return self.buf == b"" and self.s.recv(4096) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def case_off(srv):
    """Both options off: pipelining after HELO and many NOOPs are fine."""
    c = Client(srv.ports["smtp"])
    c.send("HELO x.test\r\nMAIL FROM:<a@b.test>\r\n")
    r1, r2 = c.reply(), c.reply()
    check(r1.startswith("250") and r2.startswith("250"),
          "option off: pipelined HELO + MAIL are both answered 250",
          (r1, r2))
    c.cmd("RSET")
    t0 = time.monotonic()
    for i in range(LIMIT + 5):
        r = c.cmd("NOOP")
        check(r.startswith("250"), "junk_command_limit = 0: NOOP %d is "
              "answered 250" % (i + 1), r)
    check(time.monotonic() - t0 < 5, "junk_command_limit = 0: no NOOP "
          "is delayed", time.monotonic() - t0)
    check(c.cmd("QUIT").startswith("221"), "QUIT answers 221", "")
    c.close()


def case_early(srv):
    """reject_early_talkers = yes."""
    c = Client(srv.ports["smtp"])
    c.send("HELO x.test\r\nMAIL FROM:<a@b.test>\r\n")
    r = c.reply()
    check(r.startswith("554 5.5.0"), "HELO followed by MAIL in one write "
          "gets 554 5.5.0", r)
    check(c.closed(), "the early talker is disconnected after the 554",
          c.buf)
    c.close()
    log_has(srv, r"early talker 127\.0\.0\.1", "the early talker is "
            "logged with its address")

    c = Client(srv.ports["smtp"])
    c.send("EHLO x.test\r\nMAIL FROM:<a@b.test>\r\n")
    r = c.reply()
    check(r.startswith("554 5.5.0"), "EHLO followed by MAIL before its "
          "reply gets 554 5.5.0", r)
    check(c.closed(), "and is disconnected", c.buf)
    c.close()

    c = Client(srv.ports["smtp"])
    c.cmd("HELO x.test")
    c.send("NOOP\r\nNOOP\r\n")
    r = c.reply()
    check(r.startswith("554 5.5.0"), "after HELO, two commands in one "
          "write get 554 5.5.0 (HELO allows no pipelining)", r)
    c.close()

    c = Client(srv.ports["smtp"])
    r = c.cmd("EHLO x.test")
    check("PIPELINING" in r, "EHLO advertises PIPELINING", r)
    c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % BOB)
    rs = [c.reply() for _ in range(3)]
    check(rs[0].startswith("250") and rs[1].startswith("250") and
          rs[2].startswith("354"), "pipelining after EHLO is served", rs)
    c0 = count(srv.site, BOB)
    c.send("Subject: piped\r\n\r\nhello\r\n.\r\nQUIT\r\n")
    r1, r2 = c.reply(), c.reply()
    check(r1.startswith("250") and r2.startswith("221"),
          "the pipelined message is accepted", (r1, r2))
    check(count(srv.site, BOB) == c0 + 1, "and stored", "")
    c.close()

    c = Client(srv.ports["submission"])
    c.send("HELO x.test\r\nNOOP\r\n")
    r1, r2 = c.reply(), c.reply()
    check(r1.startswith("250") and r2.startswith("250"),
          "[submission] is never checked for early talkers", (r1, r2))
    c.close()


def junk_burst(c, n, start, what):
    """n junk commands (NOOP, VRFY, RSET, HELP in turn) answered 2xx;
    returns the seconds each took."""
    verbs = ("NOOP", "VRFY bob", "RSET", "HELP")
    took = []
    for i in range(n):
        t0 = time.monotonic()
        r = c.cmd(verbs[i % len(verbs)])
        took.append(time.monotonic() - t0)
        check(r[:1] == "2", "%s: junk command %d (%s) is answered" %
              (what, start + i, verbs[i % len(verbs)]), r)
    return took


def case_junk(srv):
    """junk_command_limit = LIMIT."""
    c = Client(srv.ports["smtp"])
    c.cmd("EHLO x.test")
    junk_burst(c, 9, 1, "before the delay")
    took = junk_burst(c, LIMIT - 9, 10, "delayed")
    check(took[0] >= 0.9, "the reply to the 10th junk command waits about "
          "1 s", took)
    check(all(t >= 0.9 for t in took), "so does every one up to the "
          "limit", took)
    r = c.cmd("NOOP")
    check(r.startswith("421 4.7.0"), "past %d junk commands: 421 4.7.0" %
          LIMIT, r)
    check(c.closed(), "and the connection closes", c.buf)
    c.close()
    log_has(srv, r"%d junk commands from 127\.0\.0\.1" % (LIMIT + 1),
            "the junk limit is logged with the client's address")

    # An accepted message starts the count again: LIMIT before it and
    # LIMIT after it are all served.
    c = Client(srv.ports["smtp"])
    c.cmd("EHLO x.test")
    junk_burst(c, LIMIT, 1, "before a message")
    for line, code in (("MAIL FROM:<a@b.test>", "250"),
                       ("RCPT TO:<%s>" % BOB, "250"), ("DATA", "354"),
                       ("Subject: reset\r\n\r\nhi\r\n.", "250")):
        r = c.cmd(line)
        check(r.startswith(code), "the message after junk: %s answers %s"
              % (line.split("\r")[0], code), r)
    junk_burst(c, LIMIT, 1, "after an accepted message")
    check(c.cmd("QUIT").startswith("221"), "QUIT answers 221", "")
    c.close()

    # Inside a transaction NOOP and RSET are not junk.
    c = Client(srv.ports["smtp"])
    c.cmd("EHLO x.test")
    c.cmd("MAIL FROM:<a@b.test>")
    for i in range(LIMIT + 2):
        check(c.cmd("NOOP").startswith("250"), "NOOP %d inside a "
              "transaction is not junk" % (i + 1), "")
    check(c.cmd("QUIT").startswith("221"), "QUIT answers 221", "")
    c.close()

    # [submission] counts nothing.
    c = Client(srv.ports["submission"])
    c.cmd("EHLO x.test")
    for i in range(LIMIT + 2):
        check(c.cmd("NOOP").startswith("250"), "[submission]: NOOP %d is "
              "not counted" % (i + 1), "")
    c.close()


def case_trusted(srv):
    """A client of trusted_networks is never checked."""
    c = Client(srv.ports["smtp"])
    c.send("HELO x.test\r\nMAIL FROM:<a@b.test>\r\n")
    r1, r2 = c.reply(), c.reply()
    check(r1.startswith("250") and r2.startswith("250"),
          "a trusted_networks client may talk early", (r1, r2))
    c.cmd("RSET")
    for i in range(LIMIT + 2):
        check(c.cmd("NOOP").startswith("250"), "a trusted_networks "
              "client: NOOP %d is not counted" % (i + 1), "")
    check(c.cmd("QUIT").startswith("221"), "QUIT answers 221", "")
    c.close()


def run(site, args):
    rc = require_smtpd(site)
    if rc:
        return rc
    srv = SmtpSite(site, smtpd={"junk_command_limit": "0"}, pop3=False,
                   lmtp=False)
    site.add_user(BOB, "pw-bob")
    srv.start(pop3=False)
    case_off(srv)
    srv.reconfigure(smtpd={"reject_early_talkers": "yes",
                           "junk_command_limit": str(LIMIT)})
    srv.restart()
    case_early(srv)
    case_junk(srv)
    srv.reconfigure(smtpd={"trusted_networks": "127.0.0.0/8"})
    srv.restart()
    case_trusted(srv)
    srv.alive("the tests")
    check(srv.stop() == 0, "SIGTERM stops vellum-smtpd with status 0", "")
    return 0


if __name__ == "__main__":
    main(run)
