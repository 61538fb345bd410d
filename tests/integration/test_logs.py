"""Logs that follow a message (issue 12): vellum-smtpd, vellum-mta,
vellum-pop3d and vellum-imapd on one site, the mta relaying to an
aiosmtpd sink on 127.0.0.5 (relayhost, no DNS).

1. One queue id: the id of "250 ... queued as ID" is the id of the
   Received header, of `vellumctl queue list` and of every log line of
   the message, in smtpd and in the mta.
2. Postfix-style lines under that id: client=..., from=<...>, size=N,
   nrcpt=N; one to=<...> line per recipient outcome: local delivery
   through an alias (orig_to=<alias>, relay=local, status=sent), the
   alias's forward (relay=queue, then in the mta orig_to= and
   relay=127.0.0.5[127.0.0.5]:PORT, status=sent), a relayed recipient
   (status=sent), one the sink refuses (status=bounced (...)) and the
   bounce notice delivered back (relay=local).
3. A dropped alias target (a disabled member) is logged with the reason.
4. Login failures name the user tried (SMTP AUTH PLAIN and LOGIN, POP3
   USER/PASS and AUTH PLAIN, IMAP LOGIN and AUTHENTICATE PLAIN, also a
   malformed PLAIN message, logged "user=?" before), and never the
   password.
5. Every stderr line starts with an ISO 8601 UTC time with milliseconds
   and "vellum-NAME[PID]: "; one session id per connection ("conn N" in
   conn.c's lines and the protocol's); "connect from 127.0.0.1 port P"
   names the client's port; no "(null)" after a TLS handshake cut by a
   reset.
6. close_notify: a Python ssl client's unwrap() after QUIT (POP3S,
   SMTPS) and LOGOUT (IMAPS) completes (the server sent close_notify).

usage: test_logs.py BUILD_DIR
"""
import base64
import os
import re
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, LineClient, check  # noqa: E402
from mtatest import MtaSite  # noqa: E402
import smtptest  # noqa: E402

ALICE, ALICE_PW = "alice@example.test", "alice-pw"
DAVE, DAVE_PW = "dave@example.test", "dave-pw"
ALIAS = "sales@example.test"
TEAM = "team@example.test"
FAR = "far@remote.test"
OUT = "x@remote.test"
BAD = "bad@remote.test"
WRONG = "Wr0ng-Passw0rd-zz"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
                   r"vellum-[a-z0-9]+\[\d+\]: ")


Line = LineClient


def wait_log(proc, pattern, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pattern, proc.output(), re.M)
        if m:
            return m
        time.sleep(0.1)
    raise Failure("%s: no line matching %r in the log of %s:\n%s" % (
        what, pattern, proc.name, proc.output()[-3000:]))


def case_message(ms, sink):
    site = ms.site
    smtpd = ms.procs["smtpd"]
    qid = ms.submit(ALICE, ALICE_PW, [ALIAS, OUT, BAD],
                    smtptest.message("follow me"))
    check(re.match(r"^[0-9A-F]{16}$", qid) is not None,
          "the queue id of 'queued as' is 16 hex digits", qid)
    q = ms.queue()
    check(len(q) == 1 and q[0]["id"] == qid, "queue list --json shows the "
          "id of 'queued as'", (qid, q))
    text = site.ctl("queue", "list")
    check(qid in text, "queue list shows the id", text)
    got = smtptest.stored(site, ALICE)
    check(len(got) == 1 and re.search(rb"\bid " + qid.encode() + rb";",
          got[0]) is not None, "the Received header names the same id",
          got[:1])

    log = smtpd.output()
    q = re.escape(qid)
    for pat, what in (
            (r"%s: client=unknown\[127\.0\.0\.1\]:\d+" % q, "client="),
            (r"%s: from=<%s>, size=\d+, nrcpt=3$" % (q, re.escape(ALICE)),
             "from=, size=, nrcpt="),
            (r"%s: to=<%s>, orig_to=<%s>, relay=local, delay=\d+, "
             r"status=sent \(250 " % (q, re.escape(ALICE), re.escape(ALIAS)),
             "local delivery through the alias"),
            (r"%s: to=<%s>, orig_to=<%s>, relay=queue, delay=\d+, "
             r"status=sent \(forwarded as %s\)" % (q, re.escape(FAR),
                                                  re.escape(ALIAS), q),
             "the alias's forward")):
        check(re.search(pat, log, re.M), "smtpd logs %s: %s" % (what, pat),
              log[-3000:])

    ms.start_mta()
    sink.wait(1)
    ms.wait_queue_empty()
    mta = ms.procs["mta"]
    relay = r"127\.0\.0\.5\[127\.0\.0\.5\]:%d" % ms.mx_port
    wait_log(mta, r"%s: to=<%s>, orig_to=<%s>, relay=%s, delay=\d+, .*"
             r"status=sent \(" % (q, re.escape(FAR), re.escape(ALIAS), relay),
             "the mta logs the forward with orig_to")
    wait_log(mta, r"%s: to=<%s>, relay=%s, delay=\d+, .*status=sent \(" % (
             q, re.escape(OUT), relay), "the mta logs the relayed rcpt")
    wait_log(mta, r"%s: to=<%s>, relay=%s, delay=\d+, .*code=550, "
             r"status=bounced \(5\.1\.1 " % (q, re.escape(BAD), relay),
             "the mta logs the refused rcpt as bounced")
    m = wait_log(mta, r"^.*: ([0-9A-F]{16}): to=<%s>, relay=local, "
                 r"delay=\d+, status=sent \(250 " % re.escape(ALICE),
                 "the bounce notice's local delivery is logged")
    notice = m.group(1)
    wait_log(mta, r"%s: from=<>, size=\d+, nrcpt=1$" % notice,
             "the notice's from=<> line under its own id")
    check(len(smtptest.stored(site, ALICE)) == 2, "the notice reached "
          "alice", "")
    print("queue id %s the same in reply, Received, queue list and the "
          "logs; to= lines for local, forward, relay, bounce" % qid)


def case_dropped(ms):
    smtpd = ms.procs["smtpd"]
    ms.smtp("someone@outside.test", [TEAM],
            smtptest.message("to the team"))
    wait_log(smtpd, r"resolve <%s>: target <%s> dropped: left the "
             r"company" % (re.escape(TEAM), re.escape(DAVE)),
             "a disabled member of an alias is logged as dropped")
    print("dropped alias target logged with the reason")


def sasl_plain(user, pw):
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


def malformed(user):
    """A PLAIN message with one NUL ("user NUL password", the authzid
    left out): libsasl2 refuses it before it reads a name."""
    return base64.b64encode(("%s@example.test\0%s" % (user, WRONG)).encode()
                            ).decode()


def case_login_failures(ms, ports):
    smtpd, pop3d, imapd = (ms.procs[k] for k in ("smtpd", "pop3d",
                                                 "imapd"))
    # SMTP AUTH PLAIN and AUTH LOGIN
    c = Line(ms.sub_port)
    c.cmd("EHLO client.test")
    c.until(b"250 ")
    r = c.cmd("AUTH PLAIN " + sasl_plain("smtp-plain@example.test", WRONG))
    check(r.startswith(b"535"), "SMTP AUTH PLAIN with a wrong password", r)
    r = c.cmd("AUTH LOGIN")
    check(r.startswith(b"334"), "AUTH LOGIN asks for the user", r)
    c.cmd(base64.b64encode(b"smtp-login@example.test").decode())
    r = c.cmd(base64.b64encode(WRONG.encode()).decode())
    check(r.startswith(b"535"), "SMTP AUTH LOGIN with a wrong password", r)
    r = c.cmd("AUTH PLAIN " + malformed("smtp-bad"))
    check(r.startswith(b"535"), "SMTP AUTH PLAIN malformed", r)
    c.s.close()
    # POP3 USER/PASS and AUTH PLAIN
    c = Line(ports["pop3"])
    c.cmd("USER pop-user@example.test")
    r = c.cmd("PASS " + WRONG)
    check(r.startswith(b"-ERR"), "POP3 PASS wrong", r)
    r = c.cmd("AUTH PLAIN " + sasl_plain("pop-sasl@example.test", WRONG))
    check(r.startswith(b"-ERR"), "POP3 AUTH PLAIN wrong", r)
    r = c.cmd("AUTH PLAIN " + malformed("pop-bad"))
    check(r.startswith(b"-ERR"), "POP3 AUTH PLAIN malformed", r)
    c.s.close()
    # IMAP LOGIN and AUTHENTICATE PLAIN
    c = Line(ports["imap"])
    r = c.cmd("a1 LOGIN imap-login@example.test " + WRONG)
    check(r.startswith(b"a1 NO"), "IMAP LOGIN wrong", r)
    r = c.cmd("a2 AUTHENTICATE PLAIN")
    check(r.startswith(b"+"), "AUTHENTICATE PLAIN asks", r)
    r = c.cmd(sasl_plain("imap-sasl@example.test", WRONG))
    check(r.startswith(b"a2 NO"), "IMAP AUTHENTICATE PLAIN wrong", r)
    r = c.cmd("a3 AUTHENTICATE PLAIN")
    r = c.cmd(malformed("imap-bad"))
    check(r.startswith(b"a3 NO"), "IMAP AUTHENTICATE PLAIN malformed", r)
    c.s.close()
    for proc, users in ((smtpd, ("smtp-plain", "smtp-login", "smtp-bad")),
                        (pop3d, ("pop-user", "pop-sasl", "pop-bad")),
                        (imapd, ("imap-login", "imap-sasl", "imap-bad"))):
        for u in users:
            wait_log(proc, r"conn \d+: (auth|login) failed user=%s"
                     r"@example\.test from 127\.0\.0\.1" % u,
                     "the failed login of %s names the user" % u)
    for proc in (smtpd, pop3d, imapd):
        check(WRONG not in proc.output() and
              base64.b64encode(WRONG.encode()).decode() not in
              proc.output(), "%s never logs the password" % proc.name,
              proc.output()[-2000:])
        check("user=?" not in proc.output(), "%s: no user=?" % proc.name,
              proc.output()[-2000:])
    print("login failures name the user, never the password")


def rst_during_handshake(port):
    """A ClientHello cut short, then a reset."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x16\x03\x01\x00\xff\x01\x00")
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))
    s.close()


def reset_after_handshake(port):
    t = Line(port, tls=True)
    t.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                   struct.pack("ii", 1, 0))
    t.s.close()


def case_sessions_tls(ms, ports):
    pop3d, imapd, smtpd = (ms.procs[k] for k in ("pop3d", "imapd",
                                                 "smtpd"))
    # close_notify after QUIT / LOGOUT, and the session id of each
    c = Line(ports["pop3s"], tls=True)
    pop_port = c.port()
    check(c.cmd("USER " + ALICE).startswith(b"+OK"), "POP3S USER", c.buf)
    check(c.cmd("PASS " + ALICE_PW).startswith(b"+OK"), "POP3S PASS", "")
    check(c.cmd("QUIT").startswith(b"+OK"), "POP3S QUIT", "")
    try:
        c.s.unwrap().close()
    except (ssl.SSLError, OSError) as e:
        raise Failure("POP3S: no close_notify after QUIT (unwrap: %r)" % e)
    c = Line(ports["imaps"], tls=True)
    r = c.cmd("a LOGIN %s %s" % (ALICE, ALICE_PW))
    check(r.startswith(b"a OK"), "IMAPS LOGIN", r)
    c.s.sendall(b"b LOGOUT\r\n")
    check(c.until(b"b ").startswith(b"b OK"), "IMAPS LOGOUT", "")
    try:
        c.s.unwrap().close()
    except (ssl.SSLError, OSError) as e:
        raise Failure("IMAPS: no close_notify after LOGOUT (unwrap: %r)" %
                      e)
    c = Line(ports["smtps"], tls=True)
    c.cmd("EHLO client.test")
    c.until(b"250 ")
    check(c.cmd("QUIT").startswith(b"221"), "SMTPS QUIT", "")
    try:
        c.s.unwrap().close()
    except (ssl.SSLError, OSError) as e:
        raise Failure("SMTPS: no close_notify after QUIT (unwrap: %r)" % e)
    print("close_notify after QUIT/LOGOUT (POP3S, IMAPS, SMTPS)")

    # one session id per connection, the client's port
    m = wait_log(pop3d, r"conn (\d+): connect from 127\.0\.0\.1 port "
                 r"%d\b" % pop_port, "POP3S: 'connect from 127.0.0.1 port "
                 "P' names the client's port %d" % pop_port)
    n = m.group(1)
    for pat, what in ((r"conn %s: 127\.0\.0\.1 TLS TLSv1\.[23] " % n,
                       "conn.c's TLS line"),
                      (r"conn %s: login ok user=%s" % (n, re.escape(ALICE)),
                       "the login line"),
                      (r"conn %s: disconnect from 127\.0\.0\.1" % n,
                       "the disconnect line")):
        wait_log(pop3d, pat, "POP3S: %s under the same 'conn %s'" % (what,
                 n))
    for proc in (pop3d, imapd, smtpd):
        for old in ("pop3 #", "imap #", "smtp #"):
            check(old not in proc.output(), "%s: no '%s' session ids" % (
                  proc.name, old), proc.output()[-1500:])

    # no "(null)" for a handshake cut by a reset
    rst_during_handshake(ports["pop3s"])
    reset_after_handshake(ports["imaps"])
    rst_during_handshake(ports["smtps"])
    wait_log(pop3d, r"TLS error: \S", "POP3S: the reset is logged")
    wait_log(imapd, r"TLS error: \S", "IMAPS: the reset is logged")
    time.sleep(0.5)
    for proc in (pop3d, imapd, smtpd):
        check("(null)" not in proc.output(), "%s: no '(null)' in the log" %
              proc.name, proc.output()[-1500:])
    print("one 'conn N' per connection, the client's port, no (null)")


def case_stamps(ms):
    for name, proc in ms.procs.items():
        lines = [ln for ln in proc.output().splitlines() if ln]
        check(lines, "%s logged something" % name, "")
        bad = [ln for ln in lines if not STAMP.match(ln)]
        check(not bad, "every line of %s starts with an ISO 8601 UTC "
              "time with ms and NAME[PID]" % name, bad[:3])
    print("time stamps on every daemon line")


def run(build):
    with MtaSite(build) as ms:
        site = ms.site
        ports = {k: site.port() for k in ("pop3", "pop3s", "imap",
                                          "imaps", "smtps")}
        ms.extra = {k: {"listen": "127.0.0.1:%d" % p}
                    for k, p in ports.items()}
        ms.mta_keys.update({"relayhost": "[127.0.0.5]:%d" % ms.mx_port})
        sink = ms.sink("127.0.0.5")
        sink.handler.rcpt[BAD] = ["550 5.1.1 <%s>: no such user" % BAD]
        site.add_user(ALICE, ALICE_PW)
        site.add_user(DAVE, DAVE_PW)
        site.ctl("addr", "add", ALIAS, ALICE, FAR, "--force")
        site.ctl("addr", "add", TEAM, ALICE, DAVE)
        site.ctl("user", "disable", DAVE, "--reason", "left the company")
        ms.start(mta=False)
        for name, port in (("pop3d", "pop3"), ("imapd", "imap")):
            ms.procs[name] = site.start(name)
            site.wait_port(ports[port], ms.procs[name])
        site.wait_port(ports["smtps"], ms.procs["smtpd"])
        # each case on its own: a failure names every point that fails
        failed = []
        for name, fn in (("message", lambda: case_message(ms, sink)),
                         ("dropped", lambda: case_dropped(ms)),
                         ("logins", lambda: case_login_failures(ms, ports)),
                         ("sessions/tls",
                          lambda: case_sessions_tls(ms, ports)),
                         ("stamps", lambda: case_stamps(ms))):
            try:
                fn()
            except Failure as e:
                print("FAIL [%s]: %s" % (name, str(e)[:600]),
                      file=sys.stderr)
                failed.append(name)
        if failed:
            site.keep = True
            raise Failure("cases failed: %s" % ", ".join(failed))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: test_logs.py BUILD_DIR", file=sys.stderr)
        sys.exit(2)
    try:
        rc = run(sys.argv[1])
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    print("ok")
    sys.exit(rc)
