"""vellum-imapd under bad input: literal sizes before and after login
(never allocated on announcement; LITERAL- before login), literals per
command, line length, nesting, bad commands in a row, commands before
login, a client that never reads, LOGINDISABLED without TLS, and the
autologout of an idling session ([limits] imap_idle_timeout).

usage: test_imap_limits.py BUILD_DIR
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imaptest import Failure, check, run, tls_context  # noqa: E402
from daemon import MEM_SLACK  # noqa: E402

USER, PASS = "alice@example.test", "alice-pw"
IDLER = "ivan@example.test"
IDLER2 = "ines@example.test"
CMD_MAX = 1024 * 1024        # IMAP_CMD_MAX
LINE_MAX = 64 * 1024         # IMAP_LINE_MAX
PREAUTH_LITERAL_MAX = 1024   # IMAP_LITERAL_PREAUTH_MAX


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def usable(r, tag):
    tagged, _ = r.cmd("%s NOOP" % tag)
    check(tagged == b"%s OK NOOP completed." % tag.encode(),
          "the connection is still usable", tagged)


def test_literals(site):
    r = site.raw()
    # Before login, a synchronising literal over the limit: BAD at once,
    # no "+" (the client never sends it).
    r.send("a1 LOGIN {%d}\r\n" % (PREAUTH_LITERAL_MAX + 1))
    line = r.line()
    check(line.startswith(b"a1 BAD [TOOBIG]"), "a large literal before "
          "login is refused without a continuation", line)
    usable(r, "a2")
    # A non-synchronising one up to 4096 (LITERAL-): read, dropped, BAD.
    r.send(b"a3 LOGIN {2000+}\r\n" + b"x" * 2000 + b" {3+}\r\npw\r\n")
    line = r.line()
    check(line.startswith(b"a3 BAD [TOOBIG]"), "a non-synchronising "
          "literal over the pre-login limit: BAD after skipping it", line)
    usable(r, "a4")
    # Over 4096 it cannot be skipped: BAD and BYE.
    r.send(b"a5 LOGIN {5000+}\r\n")
    line = r.line()
    check(line.startswith(b"a5 BAD"), "LITERAL- over 4096: BAD", line)
    line = r.line()
    check(line.startswith(b"* BYE"), "... and BYE", line)
    check(r.closed(), "... and the connection closes", r.buf)

    r = site.raw()
    r.cmd("b0 LOGIN %s %s" % (USER, PASS))
    # After login, LITERAL+ of a good size is taken.
    val = "v" * 5000
    r.send('b1 ID ("k" {%d+}\r\n%s)\r\n' % (len(val), val))
    tagged, _ = r.until_tagged("b1")
    check(tagged == b"b1 OK ID completed.", "a 5000-byte LITERAL+ after "
          "login", tagged)
    r.send('b2 ID ("k" {%d}\r\n' % len(val))
    check(r.line() == b"+ Ready for literal data", "synchronising literal",
          r.buf)
    r.send(val + ")\r\n")
    tagged, _ = r.until_tagged("b2")
    check(tagged == b"b2 OK ID completed.", "... completes", tagged)
    # Over IMAP_CMD_MAX: a synchronising one is refused before it comes,
    # announced as 4 GB (nothing is allocated for an announcement).
    r.send("b3 ID (\"k\" {4294967296}\r\n")
    line = r.line()
    check(line.startswith(b"b3 BAD [TOOBIG]"), "a 4 GB literal is "
          "refused at once", line)
    usable(r, "b4")
    # A non-synchronising one over the limit is skipped, then BAD.
    r.send(b'b5 ID ("k" {%d+}\r\n' % (CMD_MAX + 1) + b"z" * (CMD_MAX + 1) +
           b")\r\n")
    tagged, _ = r.until_tagged("b5")
    check(tagged.startswith(b"b5 BAD [TOOBIG]"), "LITERAL+ over the "
          "command limit: skipped, BAD", tagged)
    usable(r, "b6")
    # Lines that push the command over the limit: BAD, and a literal the
    # last line announces is skipped with it (not run as a command).
    lit = b"y" * 64000
    cmd = b'b9 ID ("k" (' + b" ".join(b"{64000+}\r\n" + lit
                                      for _ in range(16))
    cmd += b" " + b"q" * 60000 + b' {9+}\r\nb10 NOOP\r\n)\r\n'
    r.send(cmd)
    tagged, unt = r.until_tagged("b9")
    check(tagged.startswith(b"b9 BAD [TOOBIG]") and
          not any(x.startswith(b"b10") for x in unt),
          "a command over 1 MiB by its lines: BAD, its literal skipped",
          (tagged[:100], unt[:3]))
    tagged, unt = r.cmd("b11 NOOP")
    check(tagged == b"b11 OK NOOP completed." and
          not any(x.startswith(b"b10") for x in unt),
          "the skipped literal never ran as a command", (tagged, unt))
    # Too many literals in one command.
    r.send(b"b7 ID (" + b" ".join(b'{1+}\r\nk {1+}\r\nv'
                                  for _ in range(40)) + b")\r\n")
    tagged, _ = r.until_tagged("b7")
    check(tagged.startswith(b"b7 BAD [LIMIT]"), "over 64 literals: BAD "
          "[LIMIT]", tagged)
    usable(r, "b8")
    r.close()


def test_preauth_command(site):
    """Before login a whole command (lines and literals) is bounded by
    one line: connections that never log in cannot make the server hold
    IMAP_CMD_MAX each with many small literals and long lines between."""
    nconn = 20
    piece = b" " + b"y" * 60000 + b" {1000+}\r\n" + b"x" * 1000
    conns = []
    rss0 = rss_kb(site.imapd.pid)
    for i in range(nconn):
        s = socket.create_connection(("127.0.0.1", site.imap_port),
                                     timeout=15)
        s.recv(1000)
        s.sendall(b"p%d NOOP {1000+}\r\n" % i + b"x" * 1000 +
                  piece * 15)
        conns.append(s)
    time.sleep(1)
    grown = rss_kb(site.imapd.pid) - rss0
    check(grown < 8 * 1024 * MEM_SLACK, "%d unfinished commands of ~900 KB before "
          "login hold bounded memory" % nconn, "%d KiB more" % grown)
    for i, s in enumerate(conns):
        s.sendall(b"\r\n")
        f = s.makefile("rb")
        line = f.readline()
        check(line.startswith(b"p%d BAD [TOOBIG]" % i), "the command is "
              "refused as too long", line)
        s.sendall(b"q NOOP\r\n")
        line = f.readline()
        check(line == b"q OK NOOP completed.\r\n", "the connection "
              "goes on", line)
        s.close()


def test_lines(site):
    r = site.raw()
    r.send(b"c1 NOOP " + b"x" * (LINE_MAX + 10) + b"\r\n")
    line = r.line()
    check(line.startswith(b"c1 BAD [TOOBIG]") or
          line.startswith(b"* BAD [TOOBIG]"),
          "a line over 64 KiB: BAD [TOOBIG]", line[:200])
    usable(r, "c2")
    # Nesting and garbage: BAD, still usable.
    r.cmd("c3 LOGIN %s %s" % (USER, PASS))
    tagged, _ = r.cmd("c4 SELECT INBOX " + "(" * 100 + ")" * 100)
    check(tagged.startswith(b"c4 BAD"), "deep nesting is BAD", tagged)
    tagged, _ = r.cmd("c5 FROBNICATE")
    check(tagged == b"c5 BAD Error in IMAP command FROBNICATE: Unknown "
          b"command.", "unknown command", tagged)
    tagged, _ = r.cmd("c6 UID NOOP")
    check(tagged.startswith(b"c6 BAD"), "UID NOOP is not a command",
          tagged)
    r.send(b"\r\n")
    line = r.line()
    check(line.startswith(b"* BAD"), "an empty line: * BAD", line)
    usable(r, "c7")
    # Bad commands in a row end the session.
    for i in range(19):
        tagged, _ = r.cmd("d%d BOGUS" % i)
        check(tagged.startswith(b"d%d BAD" % i), "BAD %d" % i, tagged)
    r.send("d19 BOGUS\r\n")
    r.until_tagged("d19")
    line = r.line()
    check(line == b"* BYE Too many invalid IMAP commands.",
          "20 bad commands in a row: BYE", line)
    check(r.closed(), "and closed", r.buf)
    # Commands before login are counted.
    r = site.raw()
    for i in range(20):
        tagged, _ = r.cmd("e%d CAPABILITY" % i)
        check(tagged.startswith(b"e%d OK" % i), "command %d" % i, tagged)
    r.send("e20 CAPABILITY\r\n")
    tagged, _ = r.until_tagged("e20")
    line = r.line()
    check(tagged.startswith(b"e20 BAD") and line.startswith(b"* BYE"),
          "the 21st command before login: BAD and BYE", (tagged, line))
    check(r.closed(), "and closed", r.buf)


def test_unread(site):
    """A client that sends commands and never reads the replies: the
    server stops taking commands when its output is full."""
    s = socket.create_connection(("127.0.0.1", site.imap_port))
    s.recv(1000)
    s.sendall(("l LOGIN %s %s\r\n" % (USER, PASS)).encode())
    time.sleep(0.5)
    pid = site.imapd.pid
    rss0 = rss_kb(pid)
    s.setblocking(False)
    sent, t0 = 0, time.monotonic()
    cmd = b"".join(b"t%d CAPABILITY\r\n" % i for i in range(500))
    while time.monotonic() - t0 < 2:
        try:
            sent += s.send(cmd)
        except BlockingIOError:
            time.sleep(0.01)
    grown = rss_kb(pid) - rss0
    check(grown < 32 * 1024 * MEM_SLACK, "unread replies do not grow the server's "
          "memory (sent %d bytes of CAPABILITY)" % sent,
          "%d KiB more" % grown)
    s.close()


def test_idle_unread(site, starttls=False):
    """An idling client that never reads while another session changes
    flags on many messages: what it is told waits in the server only up
    to the output limit (never one reply per change, without bound), and
    once it reads it learns the final state while still idling (also
    under STARTTLS, where the level above the socket drains first)."""
    nmsg, rounds = 2000, 150
    user = IDLER if not starttls else IDLER2
    site.add_user(user, PASS)
    site.add_mail(user, *[b"Subject: i%d\r\n\r\nbody\r\n" % i
                          for i in range(nmsg)])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", site.imap_port))
    s.settimeout(30)
    f = s.makefile("rb")
    f.readline()
    if starttls:
        s.sendall(b"t STARTTLS\r\n")
        f.readline()
        s = tls_context().wrap_socket(s)
        f = s.makefile("rb")
    for tag, cmd in (("a", "LOGIN %s %s" % (user, PASS)),
                     ("b", "SELECT INBOX")):
        s.sendall(("%s %s\r\n" % (tag, cmd)).encode())
        while not f.readline().startswith(tag.encode() + b" "):
            pass
    s.sendall(b"c IDLE\r\n")
    check(f.readline() == b"+ idling\r\n", "IDLE", "")
    w = site.raw()
    w.cmd("w0 LOGIN %s %s" % (user, PASS))
    w.cmd("w1 SELECT INBOX")
    pid = site.imapd.pid
    rss0 = rss_kb(pid)
    for i in range(rounds):
        w.cmd("w%d STORE 1:* %sFLAGS.SILENT (\\Flagged)" % (
            i + 2, "-" if i % 2 else "+"))
    time.sleep(0.5)
    grown = rss_kb(pid) - rss0
    check(grown < 4 * 1024 * MEM_SLACK, "an idler that does not read holds bounded "
          "output (%d flag changes on %d messages)" % (rounds, nmsg),
          "%d KiB more" % grown)
    # The last change: \Flagged off (rounds is even) and $Final on
    # message 1.  The idler reads, still idling, until it is told.
    w.cmd("w9 STORE 1 +FLAGS.SILENT ($Final)")
    last = None
    while last is None or b"$Final" not in last:
        try:
            line = f.readline()
        except OSError as e:
            line = repr(e).encode()
        check(line.startswith(b"* "), "the idler is told the final state "
              "while idling", (line, last))
        if line.startswith(b"* 1 FETCH "):
            last = line
    check(b"\\Flagged" not in last, "the idler's last word on message 1 "
          "is the final state", last)
    s.sendall(b"DONE\r\n")
    while True:
        line = f.readline()
        check(line != b"", "DONE answered", line)
        if line.startswith(b"c "):
            break
    check(line == b"c OK Idle completed.\r\n", "DONE answered", line)
    s.sendall(b"d FETCH 1 FLAGS\r\n")
    line = f.readline()
    check(b"\\Flagged" not in line and b"$Final" in line,
          "and FETCH agrees", line)
    s.close()
    w.close()


def test_autologout(site):
    r = site.raw()
    r.cmd("f0 LOGIN %s %s" % (USER, PASS))
    r.cmd("f1 SELECT INBOX")
    r.send("f2 IDLE\r\n")
    check(r.line() == b"+ idling", "IDLE", r.buf)
    line = r.line_or_eof(timeout=30)
    check(line == b"* BYE Disconnected for inactivity.",
          "an IDLE without DONE ends after imap_idle_timeout", line)
    check(r.closed(), "and closes", r.buf)


def test_logindisabled(site):
    r = site.raw()
    caps = r.greeting
    check(b"LOGINDISABLED" in caps and b"AUTH=" not in caps and
          b"STARTTLS" in caps, "plaintext off: LOGINDISABLED, no AUTH= "
          "before STARTTLS", caps)
    tagged, _ = r.cmd("g1 LOGIN %s %s" % (USER, PASS))
    check(tagged.startswith(b"g1 NO [PRIVACYREQUIRED]"),
          "LOGIN without TLS refused", tagged)
    tagged, _ = r.cmd("g2 STARTTLS")
    r.s = tls_context().wrap_socket(r.s)
    tagged, unt = r.cmd("g3 CAPABILITY")
    check(b"LOGINDISABLED" not in unt[0] and b"AUTH=PLAIN" in unt[0],
          "after STARTTLS logins are offered", unt)
    tagged, _ = r.cmd("g4 LOGIN %s %s" % (USER, PASS))
    check(tagged.startswith(b"g4 OK"), "LOGIN over TLS", tagged)
    r.close()


def test(site, args):
    # One process: the memory checks read that process's RSS.
    site.workers = 1
    site.write_imap_conf(limits={"imap_idle_timeout": "2"})
    site.add_user(USER, PASS)
    site.add_mail(USER, b"Subject: x\r\n\r\nbody\r\n")
    site.start_imapd(conf=False)
    test_literals(site)
    test_lines(site)
    test_preauth_command(site)
    test_unread(site)
    test_autologout(site)
    site.stop(site.imapd)
    # The default autologout: an idler may go seconds without reading.
    site.write_imap_conf()
    site.start_imapd(conf=False)
    test_idle_unread(site)
    test_idle_unread(site, starttls=True)
    site.stop(site.imapd)
    site.write_imap_conf(auth={"plaintext": "no"})
    site.start_imapd(conf=False)
    test_logindisabled(site)


if __name__ == "__main__":
    run(test)
