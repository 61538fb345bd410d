"""vellum-pop3d against real clients: python3 poplib (plain, STLS,
implicit TLS, AUTH PLAIN), curl pop3/pop3s, fetchmail; the maildrop lock,
DELE semantics, bad input, STARTTLS injection, damaged messages,
POP-before-SMTP.

usage: test_pop3.py BUILD_DIR STORE_HELPER
"""
import base64
import json
import os
import poplib
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, half_close, main  # noqa: E402

USER, PASS = "alice@example.test", "s3cret-pw"
OTHER, OTHER_PASS = "bob@example.test", "bob-pw"

# The messages as stored (bare LF, a dot line, no final newline) ...
MSGS = [
    b"From: a@example.test\nSubject: one\n\nfirst line\n.starts with dot\n"
    b"last\n",
    b"From: b@example.test\r\nSubject: two\r\n\r\nCRLF body\r\n",
    b"From: c@example.test\nSubject: three\n\nno final newline",
]


def crlf(m):
    """What RETR sends for m (before dot-stuffing): CRLF line ends, a
    final CRLF when missing."""
    out = m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class Raw:
    """A line-level POP3 client on a plain socket."""

    def __init__(self, port, tls=False):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            s = ctx().wrap_socket(s)
        self.s = s
        self.buf = b""
        self.greeting = self.line()

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise Failure("connection closed; had %r" % self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.send(text.encode() + b"\r\n" if isinstance(text, str) else
                  text)
        return self.line()

    def multi(self):
        lines = []
        while True:
            line = self.line()
            if line == b".":
                return lines
            lines.append(line)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def login(port, user=USER, password=PASS, tls=False):
    p = (poplib.POP3_SSL("127.0.0.1", port, context=ctx(), timeout=10)
         if tls else poplib.POP3("127.0.0.1", port, timeout=10))
    p.user(user)
    p.pass_(password)
    return p


def retr(p, n):
    resp, lines, octets = p.retr(n)
    return b"".join(line + b"\r\n" for line in lines)


def run(site, args):
    helper = os.path.abspath(args[0])
    if not site.have("pop3d"):
        raise Failure("vellum-pop3d was not built")
    pop3, pop3s = site.port(), site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3},
                     "pop3s": {"listen": "127.0.0.1:%d" % pop3s},
                     "auth": {"plaintext": "yes", "fail_delay": "10",
                              "fail_max": "50", "pop_before_smtp": "5"}})
    site.add_user(USER, PASS, quota="10M")
    site.add_user(OTHER, OTHER_PASS)
    site.add_mail(USER, *MSGS)
    site.add_mail(OTHER, b"Subject: for bob\n\nhello bob\n")
    proc = site.start("pop3d")
    site.wait_port(pop3, proc)
    site.wait_port(pop3s, proc)

    # --- poplib, plain USER/PASS: STAT, LIST, UIDL, RETR, TOP --------
    p = login(pop3)
    count, size = p.stat()
    check(count == 3, "STAT counts 3 messages", count)
    want = [crlf(m) for m in MSGS]
    check(size == sum(len(w) for w in want), "STAT size is the sum of "
          "what RETR sends", (size, [len(w) for w in want]))
    _, listing, _ = p.list()
    sizes = [int(x.split()[1]) for x in listing]
    for i, w in enumerate(want):
        got = retr(p, i + 1)
        check(got == w, "RETR %d sends the message with CRLF line ends"
              % (i + 1), got)
        check(sizes[i] == len(got), "LIST %d is the exact octet count "
              "of RETR" % (i + 1), (sizes[i], len(got)))
    _, uidl1, _ = p.uidl()
    _, top, _ = p.top(1, 1)
    check(top[-2:] == [b"", b"first line"], "TOP 1 1: header, blank line, "
          "one body line", top)
    p.quit()
    p = login(pop3)
    _, uidl2, _ = p.uidl()
    check(uidl1 == uidl2, "UIDLs are stable across sessions",
          (uidl1, uidl2))
    p.quit()

    # --- a client that shuts down its side after its commands ("nc -N")
    # still gets every reply: the EOF is not a hang-up.
    got = half_close(pop3, ("USER %s\r\nPASS %s\r\nRETR 2\r\nQUIT\r\n" %
                            (USER, PASS)).encode())
    check(want[1] in got and b"\r\n.\r\n+OK Vellum POP3 server signing "
          b"off" in got and got.endswith(b"\r\n"),
          "commands sent before the client's EOF are all answered "
          "(RETR 2, QUIT), then the server closes", got[-200:])

    # --- logins: any case, user#domain; STLS; implicit TLS; AUTH PLAIN --
    p = login(pop3, user="ALICE#Example.Test")
    check(p.stat()[0] == 3, "user#domain in any case logs in", "")
    p.quit()
    p = poplib.POP3("127.0.0.1", pop3, timeout=10)
    caps = p.capa()
    check("STLS" in caps, "CAPA offers STLS before TLS", caps)
    p.stls(context=ctx())
    check("STLS" not in p.capa(), "no STLS once TLS is on", "")
    p.user(USER)
    p.pass_(PASS)
    check(p.stat()[0] == 3, "login over STLS", "")
    p.quit()
    p = login(pop3s, tls=True)
    check(retr(p, 2) == want[1], "RETR over implicit TLS", "")
    p.quit()
    r = Raw(pop3)
    tok = base64.b64encode(b"\0" + USER.encode() + b"\0" +
                           PASS.encode()).decode()
    resp = r.cmd("AUTH PLAIN " + tok)
    check(resp.startswith(b"+OK"), "AUTH PLAIN with initial response",
          resp)
    check(r.cmd("STAT").startswith(b"+OK 3 "), "STAT after AUTH", "")
    r.cmd("QUIT")
    r.close()
    r = Raw(pop3)
    resp = r.cmd("AUTH PLAIN")
    check(resp.startswith(b"+ "), "AUTH PLAIN without initial response "
          "asks for it", resp)
    resp = r.cmd(tok)
    check(resp.startswith(b"+OK"), "AUTH PLAIN after the challenge", resp)
    r.cmd("QUIT")
    r.close()
    # An exchange cancelled with "*", and a response that is not base64:
    # -ERR each, and the session goes on to a normal login.
    r = Raw(pop3)
    check(r.cmd("AUTH PLAIN").startswith(b"+ "), "AUTH PLAIN challenge", "")
    resp = r.cmd("*")
    check(resp.startswith(b"-ERR") and b"cancel" in resp.lower(),
          "\"*\" cancels the exchange", resp)
    check(r.cmd("AUTH PLAIN").startswith(b"+ "), "AUTH PLAIN again", "")
    resp = r.cmd("!!not base64!!")
    check(resp.startswith(b"-ERR") and b"invalid" in resp.lower(),
          "a response that is not base64 is invalid", resp)
    check(r.cmd("AUTH PLAIN " + tok).startswith(b"+OK"), "then a login "
          "works", "")
    r.cmd("QUIT")
    r.close()

    # --- curl and fetchmail -------------------------------------------
    url = "pop3://127.0.0.1:%d/1" % pop3
    c = subprocess.run(["curl", "-s", "--user", "%s:%s" % (USER, PASS),
                        url], capture_output=True, timeout=60)
    check(c.returncode == 0 and c.stdout == want[0], "curl pop3 RETR 1",
          (c.returncode, c.stdout[:200], c.stderr[:200]))
    c = subprocess.run(["curl", "-s", "-k", "--user", "%s:%s" % (USER, PASS),
                        "pop3s://127.0.0.1:%d/3" % pop3s],
                       capture_output=True, timeout=60)
    check(c.returncode == 0 and c.stdout == want[2], "curl pop3s RETR 3",
          (c.returncode, c.stdout[:200], c.stderr[:200]))
    if shutil.which("fetchmail"):
        out = site.path("fetched.mbox")
        rc = site.path("fetchmailrc")
        with open(rc, "w") as f:
            f.write("set no bouncemail\n"
                    "poll 127.0.0.1 service %d protocol pop3 auth password\n"
                    "  user '%s' there password '%s' is 'tester' here\n"
                    "  keep fetchall sslproto '' mda \"/bin/sh -c 'cat >> "
                    "%s'\"\n" % (pop3, OTHER, OTHER_PASS, out))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=site.tmp)
        f = subprocess.run(["fetchmail", "-f", rc, "--nodetach",
                            "--nosyslog", "-i", site.path("fm.ids")],
                           capture_output=True, timeout=120, env=env)
        got = open(out, "rb").read() if os.path.exists(out) else b""
        check(f.returncode == 0 and b"hello bob" in got,
              "fetchmail fetched bob's message into a local file",
              (f.returncode, f.stdout[-400:], f.stderr[-400:], got[:200]))
    else:
        raise Failure("fetchmail is not installed (make test installs it)")

    # --- maildrop lock --------------------------------------------------
    a = login(pop3)
    b = poplib.POP3("127.0.0.1", pop3, timeout=10)
    b.user(USER)
    try:
        b.pass_(PASS)
        raise Failure("a second session got the locked maildrop")
    except poplib.error_proto as e:
        check(b"[IN-USE]" in e.args[0], "second session: -ERR [IN-USE]",
              e.args[0])
    b.close()
    a.sock.shutdown(socket.SHUT_RDWR)	# the first client vanishes
    a.close()
    time.sleep(0.3)
    b = login(pop3)
    check(b.stat()[0] == 3, "after the first client died a new session "
          "gets the maildrop", "")
    # The daemon itself killed while holding the lock: stale, reclaimed.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    b.close()
    proc = site.start("pop3d")
    site.wait_port(pop3, proc)
    t0 = time.monotonic()
    b = login(pop3)
    check(time.monotonic() - t0 < 5, "the lock of a killed daemon is "
          "reclaimed at once", time.monotonic() - t0)
    b.quit()

    # --- DELE + dropped connection keeps everything -------------------
    r = Raw(pop3)
    r.cmd("USER " + USER)
    r.cmd("PASS " + PASS)
    check(r.cmd("DELE 1").startswith(b"+OK"), "DELE 1", "")
    check(r.cmd("RETR 1").startswith(b"-ERR"), "RETR of a deleted message",
          "")
    r.close()			# no QUIT
    time.sleep(0.3)
    p = login(pop3)
    check(p.stat()[0] == 3, "a dropped connection deletes nothing", "")
    p.quit()

    # --- DELE + QUIT removes and updates quota ------------------------
    before = site.ctl("quota", "show", USER, "--json")
    p = login(pop3)
    p.dele(1)
    p.quit()
    p = login(pop3)
    check(p.stat()[0] == 2, "DELE + QUIT removed one message", "")
    check(retr(p, 1) == want[1], "the others moved up", "")
    p.quit()
    after = site.ctl("quota", "show", USER, "--json")
    ub, ua = json.loads(before), json.loads(after)
    used_b = ub.get("used_bytes", ub.get("used"))
    used_a = ua.get("used_bytes", ua.get("used"))
    check(used_a == used_b - len(MSGS[0]), "quota usage went down by the "
          "deleted message's size", (ub, ua))

    # --- bad input ------------------------------------------------------
    r = Raw(pop3)
    resp = r.cmd("NOOP " + "x" * 8192)
    check(resp.startswith(b"-ERR"), "an 8 KB line gets -ERR", resp)
    check(r.cmd("CAPA").startswith(b"+OK"), "the session goes on after "
          "a long line", "")
    r.multi()
    check(r.cmd(b"US\0ER x\r\n").startswith(b"-ERR"), "a NUL byte: -ERR",
          "")
    check(r.cmd("FROB").startswith(b"-ERR"), "unknown command: -ERR", "")
    check(r.cmd("STAT").startswith(b"-ERR"), "STAT before login: -ERR", "")
    for i in range(5):
        r.cmd("USER " + USER)
        resp = r.cmd("PASS wrong")
        check(resp.startswith(b"-ERR"), "bad password %d: -ERR" % i, resp)
    q = login(pop3, user=OTHER, password=OTHER_PASS)
    check(q.stat()[0] == 1, "the server keeps serving others", "")
    q.quit()
    r.close()

    # --- STARTTLS injection: CAPA pipelined after STLS never runs -------
    s = socket.create_connection(("127.0.0.1", pop3), timeout=10)
    s.recv(1000)
    s.sendall(b"STLS\r\nCAPA\r\n")
    resp = b""
    while not resp.endswith(b"\r\n"):
        resp += s.recv(1)
    check(resp.startswith(b"+OK"), "STLS accepted", resp)
    t = ctx().wrap_socket(s)
    t.sendall(b"NOOP\r\n")
    first = b""
    while not first.endswith(b"\r\n"):
        first += t.recv(1)
    check(first.startswith(b"+OK") and b"Capa" not in first and
          b"CAPA" not in first, "the first reply under TLS is NOOP's, "
          "not the injected CAPA's", first)
    t.sendall(b"QUIT\r\n")
    t.close()

    # --- a damaged message: -ERR for it, the others still work ----------
    d = subprocess.run([helper, site.data, "damage", USER, "2"],
                       capture_output=True)
    check(d.returncode == 0, "damaged message uid 2", d.stderr)
    out = site.ctl("store", "check", expect=1)
    check("blob" in out or "segment" in out, "store check names the "
          "damaged segment", out)
    p = login(pop3)
    try:
        p.retr(1)
        raise Failure("RETR of a damaged message answered +OK")
    except poplib.error_proto as e:
        check(e.args[0].startswith(b"-ERR"), "damaged message: -ERR",
              e.args[0])
    check(retr(p, 2) == want[2], "the next message still reads", "")
    p.dele(1)
    p.quit()
    p = login(pop3)
    check(p.stat()[0] == 1, "a damaged message can be deleted", "")
    p.quit()
    site.ctl("store", "check")	# clean again once it is gone

    # --- POP-before-SMTP: the login recorded this address --------------
    a = subprocess.run([helper, site.data, "access", "127.0.0.1"],
                       capture_output=True)
    check(a.stdout.strip() == b"1", "POP-before-SMTP recorded 127.0.0.1",
          a.stdout + a.stderr)
    a = subprocess.run([helper, site.data, "access", "192.0.2.7"],
                       capture_output=True)
    check(a.stdout.strip() == b"0", "another address is not trusted",
          a.stdout)

    # --- graceful stop ----------------------------------------------------
    r = Raw(pop3)
    rc = site.stop(proc)
    check(rc == 0, "SIGTERM stops pop3d with status 0", rc)
    r.close()
    return 0


if __name__ == "__main__":
    main(run, usage="BUILD_DIR STORE_HELPER")
