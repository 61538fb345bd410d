"""The outbound SMTP client (mta/client.c) against real and scripted
servers on 127.0.0.1 and ::1.

smtpclient-helper (tests/integration/smtpclient-helper.c) sends one
message through the client and prints every event and every recipient's
result.  python3-aiosmtpd is the receiving server for the normal path,
STARTTLS (a self-signed certificate made by openssl here) and AUTH; small
scripted socket servers (ScriptServer) play the rest: no PIPELINING,
per-recipient refusals, 5xx at MAIL, 4xx at the end of data, SIZE, no
SMTPUTF8, no STARTTLS, a hanging or trickling server, multiline replies
split across packets, connection reuse, over-long reply lines.

Usage: test_mta_client.py SMTPCLIENT_HELPER
"""
import logging
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

# aiosmtpd is a Debian package (python3-aiosmtpd): when `python3` on PATH
# is another interpreter (pyenv, a venv), run under the system one.
try:
    import aiosmtpd  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and \
            os.path.realpath(sys.executable) != "/usr/bin/python3" and \
            not os.environ.get("MTA_CLIENT_TEST_REEXEC"):
        os.environ["MTA_CLIENT_TEST_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("python3-aiosmtpd is not installed (make deps)", file=sys.stderr)
    sys.exit(1)
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

# aiosmtpd logs every session (and the refused handshakes the tests cause)
logging.getLogger("mail.log").setLevel(logging.CRITICAL)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check  # noqa: E402

HELPER = None
TMP = None
NAME = "mx.example.test"
MSG = (b"From: a@example.test\nTo: b@example.org\nSubject: hi\n\n"
       b"line one\n.starts with a dot\n..two dots\n.\nlast line without end")


def crlf_stuffed(msg):
    """The message as a server reads it back: CRLF lines, final CRLF."""
    out = msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


class Result:
    def __init__(self, proc):
        self.out = proc.stdout
        self.rc = proc.returncode
        self.lines = proc.stdout.splitlines()
        self.ready = [l for l in self.lines if l.startswith("READY")]
        self.done = [l for l in self.lines if l == "DONE"]
        self.closed = [l for l in self.lines if l.startswith("CLOSED")]
        self.rcpts = {}
        self.rcpt_lines = [l for l in self.lines if l.startswith("RCPT ")]
        for l in self.rcpt_lines:
            f = l.split(" ", 6)
            self.rcpts[f[1]] = {"code": int(f[2]), "enh": f[3],
                                "remote": f[4], "stage": f[5],
                                "text": f[6] if len(f) > 6 else ""}

    def flag(self, name):
        for w in self.closed[0].split():
            if w.startswith(name + "="):
                return w.split("=", 1)[1]
        return None


def run(host, port, rcpts, opts=(), msg=MSG, sender="s@example.test"):
    path = os.path.join(TMP, "msg")
    with open(path, "wb") as f:
        f.write(msg)
    args = [HELPER, "-n", NAME, "-m", path] + list(opts) + \
        [host, str(port), sender] + list(rcpts)
    p = subprocess.run(args, capture_output=True, text=True, timeout=120)
    r = Result(p)
    check(p.returncode == 0, "the helper saw events in a legal order",
          (p.returncode, p.stdout, p.stderr[-2000:]))
    check(len(r.closed) == 1, "exactly one CLOSED", p.stdout)
    return r


# --- a scripted server ------------------------------------------------------

class ScriptServer:
    """Accepts connections on host and answers like a small ESMTP server.

    ext: EHLO keywords; greeting: the first reply (None: say nothing);
    replies: {"MAIL": "...", "DATA": ..., "END": ..., "EHLO": ...} override
    the defaults; rcpt: {address: reply}; hold: answer nothing from MAIL on
    until DATA arrived (a client that does not pipeline then waits for
    ever); lockstep: after each command, note whether the next one came
    before our reply (a client that pipelines without PIPELINING); send:
    a function(sock, data) used to write (to split replies); hang: read
    and never answer after the greeting.  Everything read is in .lines,
    message bodies in .bodies."""

    def __init__(self, host="127.0.0.1", ext=("PIPELINING", "8BITMIME"),
                 greeting="220 %s ESMTP test" % NAME, replies=None,
                 rcpt=None, hold=False, lockstep=False, send=None,
                 hang=False, data354_always=False, tls=None, inject=b"",
                 stall_data=False):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.ext = list(ext)
        self.greeting = greeting
        self.replies = replies or {}
        self.rcpt = rcpt or {}
        self.hold = hold
        self.lockstep = lockstep
        self.sendfn = send
        self.hang = hang
        self.data354_always = data354_always
        self.tls = tls
        self.inject = inject
        self.stall_data = stall_data
        self.release = threading.Event()
        self.peers = []
        self.tls_done = False
        self.lines = []
        self.bodies = []
        self.violations = []
        self.conns = 0
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def close(self):
        self.stop = True
        self.release.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(10)

    def loop(self):
        while not self.stop:
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if not r:
                    continue
                c, peer = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            self.peers.append(peer[0])
            try:
                self.serve(c)
            except OSError:
                pass
            finally:
                c.close()

    def out(self, c, text):
        data = text.encode() if isinstance(text, str) else text
        if self.sendfn:
            self.sendfn(c, data)
        else:
            c.sendall(data)

    def readline(self, c, buf):
        while b"\n" not in buf[0]:
            d = c.recv(65536)
            if not d:
                raise OSError("closed")
            buf[0] += d
        line, buf[0] = buf[0].split(b"\n", 1)
        return line.rstrip(b"\r")

    def serve(self, c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.settimeout(30)
        buf = [b""]
        if self.greeting is None:
            while c.recv(4096):
                pass
            return
        self.out(c, self.greeting + "\r\n")
        if self.hang:
            while c.recv(4096):
                pass
            return
        held = []
        accepted = 0
        mail_ok = False
        while True:
            line = self.readline(c, buf)
            self.lines.append(line.decode("utf-8", "replace"))
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].upper().decode()
            if self.lockstep and verb in ("MAIL", "RCPT", "RSET"):
                time.sleep(0.2)
                r, _, _ = select.select([c], [], [], 0)
                if buf[0] or r:
                    self.violations.append(line.decode())
            if verb == "EHLO":
                rep = self.replies.get("EHLO")
                if rep is None:
                    ls = [NAME] + self.ext
                    rep = "".join("250%s%s\r\n" % (
                        " " if i == len(ls) - 1 else "-", l)
                        for i, l in enumerate(ls))
                self.out(c, rep)
                continue
            if verb == "HELO":
                self.out(c, "250 %s\r\n" % NAME)
                continue
            if verb == "QUIT":
                self.out(c, "221 2.0.0 bye\r\n")
                return
            if verb == "RSET":
                rep = "250 2.0.0 ok\r\n"
            elif verb == "MAIL":
                rep = self.replies.get("MAIL", "250 2.1.0 ok") + "\r\n"
                accepted = 0
                mail_ok = rep.startswith("2")
            elif verb in ("RCPT", "DATA") and not mail_ok:
                rep = "503 5.5.1 need MAIL first\r\n"
            elif verb == "RCPT":
                addr = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                rep = self.rcpt.get(addr, "250 2.1.5 ok") + "\r\n"
                if rep.startswith("2"):
                    accepted += 1
            elif verb == "DATA":
                if accepted or self.data354_always:
                    rep = self.replies.get("DATA", "354 go ahead") + "\r\n"
                else:
                    rep = "554 5.5.1 no valid recipients\r\n"
            elif verb == "STARTTLS" and self.tls:
                # the reply and, in the same write, injected plaintext
                c.sendall(b"220 2.0.0 go ahead\r\n" + self.inject)
                c = self.tls.wrap_socket(c, server_side=True)
                c.settimeout(30)
                self.tls_done = True
                buf = [b""]
                continue
            elif verb == "STARTTLS":
                rep = "454 4.7.0 TLS not available\r\n"
            else:
                rep = "502 5.5.2 unknown command\r\n"
            if self.hold and (held or verb == "MAIL") and verb != "DATA":
                held.append(rep)
                continue
            for h in held:
                self.out(c, h)
            held = []
            self.out(c, rep)
            if verb == "DATA" and rep.startswith("354") and \
                    self.stall_data:
                if self.stall_data == "early":
                    # a 250 while the data still comes: no answer to
                    # the whole message
                    self.out(c, "250 2.0.0 queued already\r\n")
                # read nothing more: the client's writes back up
                self.release.wait(60)
                return
            if verb == "DATA" and rep.startswith("354"):
                body = b""
                while True:
                    l = self.readline(c, buf)
                    if l == b".":
                        break
                    body += l + b"\r\n"
                self.bodies.append(body)
                self.out(c, self.replies.get("END", "250 2.0.0 queued")
                         + "\r\n")


# --- aiosmtpd ---------------------------------------------------------------

class Handler:
    def __init__(self):
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 <%s>: no such user" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append({
            "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "data": envelope.original_content,
            "tls": session.ssl is not None,
            "auth": session.authenticated})
        return "250 2.0.0 Ok: queued"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"user@example.test" and \
        auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


def aio(host, **kw):
    h = Handler()
    from daemon import free_port
    ctl = Controller(h, hostname=host, port=free_port(host),
                     server_hostname=NAME, **kw)
    ctl.start()
    return ctl, h


def make_cert(name):
    key = os.path.join(TMP, name + ".key")
    crt = os.path.join(TMP, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=DNS:" + name],
                   check=True, capture_output=True)
    return crt, key


def tls_ctx(crt, key):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


# --- the tests --------------------------------------------------------------

def test_aiosmtpd_normal(host):
    ctl, h = aio(host)
    try:
        r = run(host, ctl.port, ["a@example.org", "nobody@example.org",
                                 "b@example.org"], ["-8"])
    finally:
        ctl.stop()
    check(len(r.ready) == 1 and "8bitmime=1" in r.ready[0] and
          "esmtp=1" in r.ready[0], "READY after EHLO to aiosmtpd", r.out)
    check(r.rcpts["a@example.org"]["code"] == 250 and
          r.rcpts["b@example.org"]["code"] == 250 and
          r.rcpts["a@example.org"]["stage"] == "stage=end-of-DATA",
          "accepted recipients get the final reply", r.out)
    check(r.rcpts["nobody@example.org"]["code"] == 550 and
          r.rcpts["nobody@example.org"]["enh"] == "5.1.1" and
          r.rcpts["nobody@example.org"]["stage"] == "stage=RCPT-TO",
          "a refused recipient keeps its RCPT reply", r.out)
    check(len(r.done) == 1 and r.closed[0].startswith("CLOSED code=0"),
          "DONE, then a clean close after QUIT", r.out)
    check(len(h.envelopes) == 1, "one message arrived", h.envelopes)
    e = h.envelopes[0]
    check(e["from"] == "s@example.test" and
          e["to"] == ["a@example.org", "b@example.org"],
          "the envelope arrived", e)
    check(e["data"] == crlf_stuffed(MSG) or
          e["data"] + b"\r\n" == crlf_stuffed(MSG),
          "the message arrived CRLF, dots intact", e["data"])
    check("BODY=8BITMIME" in e["mail_options"] and
          any(o.startswith("SIZE=") for o in e["mail_options"]),
          "BODY=8BITMIME and SIZE= on MAIL", e["mail_options"])


def test_big_message():
    """A 3 MB message in CRLF and LF lines goes out whole, chunk by
    chunk, with dots stuffed where lines start with one."""
    ctl, h = aio("127.0.0.1", data_size_limit=0)
    lines = []
    for i in range(60000):
        lines.append(b".%05d dotted line ........................" % i
                     if i % 7 == 0 else b"line %05d of the big message" % i)
    msg = b"Subject: big\r\n\r\n" + b"\r\n".join(lines[:30000]) + b"\n" + \
        b"\n".join(lines[30000:]) + b"\n"
    try:
        r = run("127.0.0.1", ctl.port, ["a@example.org"], msg=msg)
    finally:
        ctl.stop()
    check(r.rcpts["a@example.org"]["code"] == 250, "the big message sent",
          r.out)
    got = h.envelopes[0]["data"]
    check(got == crlf_stuffed(msg) or got + b"\r\n" == crlf_stuffed(msg),
          "the big message arrived byte for byte (%d bytes)" % len(msg),
          (len(got), len(crlf_stuffed(msg))))


def test_starttls():
    crt, key = make_cert(NAME)
    ctx = tls_ctx(crt, key)
    ctl, h = aio("127.0.0.1", tls_context=ctx, require_starttls=True)
    try:
        # MAY: no certificate check
        r = run("127.0.0.1", ctl.port, ["a@example.org"], ["-t", "may"])
        check("tls=1" in r.ready[0] and
              r.rcpts["a@example.org"]["code"] == 250,
              "tls=may: STARTTLS, then the message", r.out)
        check(h.envelopes[-1]["tls"], "the server saw TLS", h.envelopes)
        # VERIFY with the right CA and name
        r = run("127.0.0.1", ctl.port, ["a@example.org"],
                ["-t", "verify", "-c", crt])
        check("tls=1" in r.ready[0] and
              r.rcpts["a@example.org"]["code"] == 250,
              "tls=verify with the CA file and the right name", r.out)
        n = len(h.envelopes)
        # VERIFY against the system CAs: the self-signed one fails
        r = run("127.0.0.1", ctl.port, ["a@example.org"], ["-t", "verify"])
        check(not r.ready and r.flag("tls_failed") == "1" and
              r.flag("enhanced") == "4.7.5" and
              "TLS is required" in r.closed[0] and
              "certificate verification failed: self-signed" in
              r.closed[0] and
              r.rcpts == {}, "tls=verify: an untrusted certificate "
              "closes with 4.7.5, nothing sent", r.out)
        # VERIFY with the CA but another name
        args = [HELPER, "-n", "wrong.example.test", "-t", "verify", "-c",
                crt, "-m", os.path.join(TMP, "msg"), "127.0.0.1",
                str(ctl.port), "s@example.test", "a@example.org"]
        p = subprocess.run(args, capture_output=True, text=True,
                           timeout=60)
        check("READY" not in p.stdout and "tls_failed=1" in p.stdout and
              "code=421" in p.stdout and "hostname mismatch" in p.stdout,
              "tls=verify: a name mismatch "
              "closes", p.stdout)
        check(len(h.envelopes) == n, "nothing delivered without "
              "verification", h.envelopes)
    finally:
        ctl.stop()


def test_encrypt_not_offered():
    s = ScriptServer(ext=("PIPELINING",))
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-t", "encrypt"])
    finally:
        s.close()
    check(not r.ready and r.flag("code") == "454" and
          r.flag("enhanced") == "4.7.4" and
          "TLS is required, but was not offered by host %s[127.0.0.1]" %
          NAME in r.closed[0], "tls=encrypt without STARTTLS closes", r.out)
    check(not any(l.startswith("MAIL") for l in s.lines),
          "no MAIL in plaintext", s.lines)
    # MAY: goes on in plaintext
    s = ScriptServer(ext=("PIPELINING",))
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-t", "may"])
    finally:
        s.close()
    check("tls=0" in r.ready[0] and r.rcpts["a@example.org"]["code"] == 250,
          "tls=may without STARTTLS sends in plaintext", r.out)


def test_auth():
    crt, key = make_cert(NAME)
    ctx = tls_ctx(crt, key)
    ctl, h = aio("127.0.0.1", tls_context=ctx, require_starttls=True,
                 authenticator=authenticator, auth_required=True,
                 auth_require_tls=True)
    try:
        r = run("127.0.0.1", ctl.port, ["a@example.org"],
                ["-t", "encrypt", "-a", "user@example.test", "-p",
                 "s3cret"])
        check(r.ready and r.rcpts["a@example.org"]["code"] == 250,
              "AUTH PLAIN after STARTTLS", r.out)
        check(h.envelopes[-1]["auth"], "the session was authenticated",
              h.envelopes[-1])
        r = run("127.0.0.1", ctl.port, ["a@example.org"],
                ["-t", "encrypt", "-a", "user@example.test", "-p", "bad"])
        check(not r.ready and r.flag("auth_failed") == "1" and
              r.flag("enhanced") == "4.7.0" and
              "SASL authentication failed; server %s[127.0.0.1] said: 535"
              % NAME in r.closed[0], "a wrong password: 4.7.0", r.out)
    finally:
        ctl.stop()
    # LOGIN when PLAIN is not offered
    ctl, h = aio("127.0.0.1", tls_context=ctx, require_starttls=True,
                 authenticator=authenticator, auth_required=True,
                 auth_exclude_mechanism=["PLAIN"])
    try:
        r = run("127.0.0.1", ctl.port, ["a@example.org"],
                ["-t", "may", "-a", "user@example.test", "-p", "s3cret"])
        check(r.ready and r.rcpts["a@example.org"]["code"] == 250 and
              "auth=2" in r.ready[0], "AUTH LOGIN when only LOGIN is "
              "offered", r.out)
    finally:
        ctl.stop()
    # credentials, but no TLS: no AUTH in plaintext
    s = ScriptServer(ext=("PIPELINING", "AUTH PLAIN LOGIN"))
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"],
                ["-a", "user@example.test", "-p", "s3cret"])
    finally:
        s.close()
    check(not r.ready and r.flag("auth_failed") == "1" and
          not any(l.startswith("AUTH") for l in s.lines),
          "no credentials over plaintext", (r.out, s.lines))


def test_lockstep():
    """Without PIPELINING one command at a time; per-recipient results."""
    s = ScriptServer(ext=("8BITMIME",), lockstep=True,
                     rcpt={"x@example.org": "550 unknown",
                           "y@example.org": "452 4.2.2 full"})
    try:
        r = run("127.0.0.1", s.port, ["a@example.org", "x@example.org",
                                      "y@example.org"])
    finally:
        s.close()
    check(s.violations == [], "no command before the previous reply",
          s.violations)
    check(r.rcpts["a@example.org"]["code"] == 250 and
          r.rcpts["x@example.org"]["code"] == 550 and
          r.rcpts["x@example.org"]["enh"] == "5.0.0" and
          r.rcpts["y@example.org"]["code"] == 452 and
          r.rcpts["y@example.org"]["enh"] == "4.2.2",
          "per-recipient results", r.out)
    check(s.lines[1:6] == ["MAIL FROM:<s@example.test>",
                           "RCPT TO:<a@example.org>",
                           "RCPT TO:<x@example.org>",
                           "RCPT TO:<y@example.org>", "DATA"],
          "MAIL without SIZE=/BODY= when not needed, then RCPTs, DATA",
          s.lines)


def test_pipelining():
    """With PIPELINING, MAIL, every RCPT and DATA go before any reply:
    the server answers nothing until DATA has arrived."""
    s = ScriptServer(ext=("PIPELINING",), hold=True)
    try:
        r = run("127.0.0.1", s.port, ["a@example.org", "b@example.org"],
                ["-T", "10"])
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 250 and len(s.bodies) == 1,
          "the pipelined transaction went through", (r.out, s.lines))


def test_mail_refused():
    s = ScriptServer(replies={"MAIL": "553 5.1.8 sender refused"})
    try:
        r = run("127.0.0.1", s.port, ["a@example.org", "b@example.org"])
    finally:
        s.close()
    check(all(x["code"] == 553 and x["stage"] == "stage=MAIL-FROM" and
              x["remote"] == "remote=1" for x in r.rcpts.values()) and
          len(r.rcpts) == 2, "5xx at MAIL goes to every recipient", r.out)
    check(s.bodies == [], "no message", s.bodies)


def test_no_recipient_accepted():
    """Pipelined, every RCPT refused, and a server that still says 354
    to DATA: the client ends the data at once with a lone "."."""
    s = ScriptServer(rcpt={"a@example.org": "550 5.1.1 no"},
                     data354_always=True)
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"])
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 550 and len(r.done) == 1,
          "the recipient keeps its refusal", r.out)
    check(s.bodies == [b""], "an empty message, not the real one",
          s.bodies)


def test_data_end_temp():
    s = ScriptServer(rcpt={"x@example.org": "550 5.1.1 unknown"},
                     replies={"END": "451 4.3.0 try later"})
    try:
        r = run("127.0.0.1", s.port, ["a@example.org", "x@example.org"])
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 451 and
          r.rcpts["a@example.org"]["stage"] == "stage=end-of-DATA" and
          r.rcpts["x@example.org"]["code"] == 550,
          "4xx at the end of data for the accepted recipient only", r.out)


def test_size():
    s = ScriptServer(ext=("PIPELINING", "SIZE 100"))
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], msg=b"x" * 500)
        check(r.rcpts["a@example.org"]["code"] == 552 and
              r.rcpts["a@example.org"]["enh"] == "5.3.4" and
              len(r.done) == 1, "too big for SIZE: 552 5.3.4", r.out)
        check(not any(l.startswith("MAIL") for l in s.lines),
              "nothing sent", s.lines)
        r = run("127.0.0.1", s.port, ["a@example.org"], msg=b"x\n" * 10)
        check(r.rcpts["a@example.org"]["code"] == 250, "small enough",
              r.out)
        check("MAIL FROM:<s@example.test> SIZE=30" in s.lines,
              "SIZE= counts CRLF line ends", s.lines)
    finally:
        s.close()


def test_smtputf8():
    s = ScriptServer(ext=("PIPELINING", "8BITMIME"))
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-U", "-8"])
        check(r.rcpts["a@example.org"]["code"] == 553 and
              r.rcpts["a@example.org"]["enh"] == "5.6.7" and
              "SMTPUTF8 is required, but was not offered by host" in
              r.rcpts["a@example.org"]["text"], "no SMTPUTF8: 553 5.6.7",
              r.out)
        check(not any(l.startswith("MAIL") for l in s.lines),
              "nothing sent", s.lines)
    finally:
        s.close()
    s = ScriptServer(ext=("PIPELINING", "SMTPUTF8"))
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-U", "-8"])
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 250 and
          "MAIL FROM:<s@example.test> SMTPUTF8" in s.lines,
          "SMTPUTF8 on MAIL; no BODY= without 8BITMIME", s.lines)


def test_dsn():
    for ext, want_mail, want_rcpt in (
            (("DSN",), "MAIL FROM:<s@example.test> RET=HDRS ENVID=ab+2Bc",
             "RCPT TO:<a@example.org> NOTIFY=SUCCESS,FAILURE "
             "ORCPT=rfc822;a@example.org"),
            ((), "MAIL FROM:<s@example.test>", "RCPT TO:<a@example.org>")):
        s = ScriptServer(ext=ext)
        try:
            run("127.0.0.1", s.port, ["a@example.org"],
                ["-r", "hdrs", "-e", "ab+2Bc", "-N", "6", "-o",
                 "rfc822;a@example.org"])
        finally:
            s.close()
        check(want_mail in s.lines and want_rcpt in s.lines,
              "DSN parameters only when offered (%s)" % (ext,), s.lines)


def test_helo_fallback():
    s = ScriptServer(replies={"EHLO": "502 5.5.2 what\r\n"})
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"])
    finally:
        s.close()
    check("esmtp=0" in r.ready[0] and "HELO client.example.test" in s.lines
          and r.rcpts["a@example.org"]["code"] == 250,
          "HELO after a 5xx to EHLO", (r.out, s.lines))


def test_greeting_refused():
    s = ScriptServer(greeting="554 5.7.1 go away")
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-k", "0"])
    finally:
        s.close()
    check(not r.ready and r.flag("code") == "554" and
          r.flag("greeting") == "1" and r.flag("remote") == "1",
          "a 554 greeting closes with its code", r.out)


def test_timeouts():
    """A server that hangs after its greeting, one that never greets and
    one that trickles its EHLO reply a byte at a time: each is a 4xx
    "timed out while ..." with short timeouts."""
    s = ScriptServer(hang=True)
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-T", "1"])
    finally:
        s.close()
    check(r.flag("timed_out") == "1" and r.flag("code") == "421" and
          "timed out while performing the EHLO handshake" in r.closed[0],
          "a hang after the greeting times out", r.out)
    s = ScriptServer(greeting=None)
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-T", "1"])
    finally:
        s.close()
    check(r.flag("greeting") == "0" and
          "timed out while receiving the initial server greeting" in
          r.closed[0], "no greeting times out", r.out)

    def trickle(c, data):
        for i in range(len(data)):
            c.sendall(data[i:i + 1])
            time.sleep(0.3)
    s = ScriptServer(send=trickle, greeting="220 x")
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-T", "2"])
    finally:
        s.close()
    check(r.flag("timed_out") == "1" and not r.ready,
          "a trickling server times out", r.out)


def test_split_replies():
    """Multiline replies cut into pieces of a few bytes."""
    def pieces(c, data):
        for i in range(0, len(data), 3):
            c.sendall(data[i:i + 3])
            time.sleep(0.002)
    s = ScriptServer(send=pieces, ext=("PIPELINING", "SIZE 1000000", "DSN"),
                     rcpt={"x@example.org": "550-5.1.1 first line\r\n"
                           "550 5.1.1 second line"})
    try:
        r = run("127.0.0.1", s.port, ["a@example.org", "x@example.org"])
    finally:
        s.close()
    check("size=1000000" in r.ready[0] and "dsn=1" in r.ready[0],
          "the EHLO keywords read from split packets", r.out)
    check(r.rcpts["x@example.org"]["text"] == "first line | second line"
          and r.rcpts["a@example.org"]["code"] == 250,
          "a split multiline RCPT reply", r.out)


def test_reuse():
    """Two transactions over one connection: no RSET after a delivered
    one, RSET after one whose recipients were all refused."""
    s = ScriptServer()
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-k", "2"])
    finally:
        s.close()
    check(len(r.done) == 2 and len(s.bodies) == 2 and s.conns == 1,
          "two messages over one connection", (r.out, s.lines))
    check("RSET" not in s.lines, "no RSET needed", s.lines)
    s = ScriptServer(rcpt={"x@example.org": "550 5.1.1 no"})
    try:
        r = run("127.0.0.1", s.port, ["x@example.org"], ["-k", "2"])
    finally:
        s.close()
    mails = [i for i, l in enumerate(s.lines) if l.startswith("MAIL")]
    check(len(r.done) == 2 and len(mails) == 2 and
          s.lines[mails[1] - 1] == "RSET", "RSET before the second MAIL",
          s.lines)


def test_long_reply_line():
    s = ScriptServer(replies={"EHLO": "250-" + "x" * 3000 + "\r\n250 ok\r\n"})
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"])
    finally:
        s.close()
    check(not r.ready and r.flag("code") == "421" and
          r.flag("enhanced") == "4.5.0" and "malformed" in r.closed[0],
          "a reply line over the limit is a protocol error", r.out)


def test_connect_refused():
    for host in ("127.0.0.1", "::1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(fam, socket.SOCK_STREAM) as t:
            t.bind((host, 0))
            port = t.getsockname()[1]
        r = run(host, port, ["a@example.org"])
        check(r.flag("code") == "421" and
              "connect to %s[%s]:%d: Connection refused" % (NAME, host, port)
              in r.closed[0], "a refused connection names host, address, "
              "port", r.out)


def test_starttls_injection():
    """Plaintext the server (or a man in the middle) sends after the 220
    to STARTTLS is dropped, not fed to TLS nor read as a reply."""
    crt, key = make_cert(NAME)
    s = ScriptServer(ext=("PIPELINING", "STARTTLS"), tls=tls_ctx(crt, key),
                     inject=b"250-injected\r\n250 more\r\n")
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-t", "encrypt"])
    finally:
        s.close()
    check(s.tls_done and r.ready and "tls=1" in r.ready[0] and
          r.rcpts["a@example.org"]["code"] == 250 and
          s.lines.count("EHLO client.example.test") == 2,
          "TLS, EHLO again, then the message", (r.out, s.lines))


def test_source_address():
    s = ScriptServer()
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-S", "127.0.0.2"])
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 250 and
          s.peers == ["127.0.0.2"], "the connection came from the source "
          "address", (r.out, s.peers))


def test_data_stall():
    """A server that stops reading during the data: the client gives up
    after the data block timeout, the recipient gets a 4xx."""
    s = ScriptServer(stall_data=True)
    msg = b"Subject: big\n\n" + (b"x" * 998 + b"\n") * 32000
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-T", "2"],
                msg=msg)
    finally:
        s.close()
    check(r.flag("timed_out") == "1" and
          r.rcpts["a@example.org"]["code"] == 421 and
          "timed out while sending message body" in
          r.rcpts["a@example.org"]["text"], "a stalled data transfer times "
          "out", r.out)


def test_early_end_reply():
    """A 250 that comes before the end of the data is no delivery: the
    accepted recipient gets a 4xx, never the 250."""
    s = ScriptServer(stall_data="early")
    msg = b"Subject: big\n\n" + (b"x" * 998 + b"\n") * 32000
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"], ["-T", "3"],
                msg=msg)
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 421 and
          "before the end of the data" in r.rcpts["a@example.org"]["text"],
          "a reply before the end of data: 421 for the recipient", r.out)


def test_free_in_callback():
    """The scheduler may free a client inside its DONE callback: no
    further callback, no crash, the connection just goes away."""
    s = ScriptServer()
    path = os.path.join(TMP, "msg")
    with open(path, "wb") as f:
        f.write(MSG)
    try:
        p = subprocess.run([HELPER, "-F", "-m", path, "127.0.0.1",
                            str(s.port), "s@example.test", "a@example.org"],
                           capture_output=True, text=True, timeout=60)
    finally:
        s.close()
    check(p.returncode == 0 and p.stdout.endswith("DONE\nFREED\n") and
          "CLOSED" not in p.stdout, "freed inside DONE, nothing after",
          (p.returncode, p.stdout, p.stderr[-2000:]))


def test_lost_connection():
    """The server closes after DATA's 354: the accepted recipient gets a
    4xx "lost connection"."""
    class Closer(ScriptServer):
        def out(self, c, text):
            super().out(c, text)
            if text.startswith("354"):
                c.shutdown(socket.SHUT_RDWR)
                raise OSError("closed on purpose")
    s = Closer()
    try:
        r = run("127.0.0.1", s.port, ["a@example.org"])
    finally:
        s.close()
    check(r.rcpts["a@example.org"]["code"] == 421 and
          "lost connection with" in r.rcpts["a@example.org"]["text"],
          "a lost connection fails the recipient temporarily", r.out)


def main():
    global HELPER, TMP
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    HELPER = sys.argv[1]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="mta-client-") as TMP:
        tests = [
            ("aiosmtpd IPv4", lambda: test_aiosmtpd_normal("127.0.0.1")),
            ("aiosmtpd IPv6", lambda: test_aiosmtpd_normal("::1")),
            ("big message", test_big_message),
            ("starttls", test_starttls),
            ("encrypt not offered", test_encrypt_not_offered),
            ("auth", test_auth),
            ("lockstep", test_lockstep),
            ("pipelining", test_pipelining),
            ("mail refused", test_mail_refused),
            ("no recipient accepted", test_no_recipient_accepted),
            ("data end 4xx", test_data_end_temp),
            ("reply before the end of data", test_early_end_reply),
            ("size", test_size),
            ("smtputf8", test_smtputf8),
            ("dsn", test_dsn),
            ("helo fallback", test_helo_fallback),
            ("greeting refused", test_greeting_refused),
            ("timeouts", test_timeouts),
            ("split replies", test_split_replies),
            ("reuse", test_reuse),
            ("long reply line", test_long_reply_line),
            ("connect refused", test_connect_refused),
            ("lost connection", test_lost_connection),
            ("starttls injection", test_starttls_injection),
            ("source address", test_source_address),
            ("data stall", test_data_stall),
            ("free in callback", test_free_in_callback),
        ]
        only = os.environ.get("MTA_CLIENT_ONLY")
        for name, fn in tests:
            if only and only not in name:
                continue
            try:
                fn()
                print("ok   %s" % name)
            except (Failure, AssertionError, KeyError, IndexError,
                    AttributeError, TypeError, ValueError,
                    subprocess.TimeoutExpired) as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
