"""Helpers shared by the SMTP/LMTP integration tests (stdlib only).

    srv = SmtpSite(site, smtpd={"max_message_size": "1000000"})
    srv.start()                       # vellum-smtpd (+ vellum-pop3d)
    s = srv.smtp()                    # smtplib.SMTP on [smtp], EHLO done
    r = Raw(srv.ports["smtp"])        # a line-level client
    msgs = stored(site, "a@example.test")     # exact bytes, uid order
    check_delivery(msgs[-1], original, sender, ("a@example.test",))

What a delivered copy must look like (DESIGN.md, issue 4): Return-Path:
and Delivered-To: for that recipient, then the Received: header the
server added, then the bytes the client sent (dot-unstuffed), unchanged.
"""
import base64
import json
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import struct
import tempfile
import time

from daemon import SKIP, Failure, check

HOST = "127.0.0.1"
HOSTNAME = "mail.example.test"		# daemon.py writes this hostname
SRCDIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                      "..")
UNKNOWN = ("5.1.1 <%s>: Recipient address rejected: User unknown in "
           "virtual mailbox table")
RELAY_DENIED = "5.7.1 <%s>: Relaying denied"


def require_smtpd(site):
    """Failure when vellum-smtpd is not built although smtpd/ is in the
    tree; SKIP (77) only while there is no smtpd/ at all."""
    if site.have("smtpd"):
        return 0
    if os.path.isdir(os.path.join(SRCDIR, "smtpd")):
        raise Failure("vellum-smtpd was not built (%s)" %
                      site.binary("smtpd"))
    return SKIP


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class SmtpSite:
    """One vellum.conf with [smtp], [submission], [smtps], [lmtp] and
    [pop3] on free loopback ports, and the daemons started on it."""

    def __init__(self, site, smtpd=None, quota=None, auth=None, pop3=True,
                 lmtp=True, more=None):
        self.site = site
        self.ports = {"smtp": site.port(), "submission": site.port(),
                      "smtps": site.port()}
        if lmtp:
            self.ports["lmtp"] = site.port()
        if pop3:
            self.ports["pop3"] = site.port()
        sections = {k: {"listen": "%s:%d" % (HOST, p)}
                    for k, p in self.ports.items()}
        # Loopback must not be trusted by default in these tests: a
        # TEST-NET range stands for "some other network".
        sd = {"banner": "Vellum test ESMTP",
              "trusted_networks": "192.0.2.0/24"}
        sd.update(smtpd or {})
        sections["smtpd"] = sd
        sections["quota"] = {"grace_days": "5"}
        sections["quota"].update(quota or {})
        if auth is not None:
            sections["auth"] = auth
        # More sections as given ({"filter": {...}, "imap": {...}}).
        for name, keys in (more or {}).items():
            sections[name] = dict(keys)
        self.sections = sections
        site.write_conf(sections)
        self.smtpd = None
        self.pop3d = None

    def reconfigure(self, smtpd=None, auth=None, more=None):
        """Rewrites vellum.conf with the same ports; [smtpd] keys given
        replace those of the same name; auth replaces [auth] (None: the
        harness default); more: {section: keys} updates those sections.
        Restart the daemons to use it."""
        self.sections["smtpd"].update(smtpd or {})
        for name, keys in (more or {}).items():
            self.sections.setdefault(name, {}).update(keys)
        self.sections.pop("auth", None)
        if auth is not None:
            self.sections["auth"] = auth
        self.site.write_conf(self.sections)

    def restart(self, pop3=False, faketime=None, env=None):
        """Stops and starts vellum-smtpd (and vellum-pop3d if pop3), its
        clock moved by faketime when given (start())."""
        self.site.stop(self.smtpd)
        if pop3 and self.pop3d is not None:
            self.site.stop(self.pop3d)
            self.pop3d = None
        return self.start(pop3=pop3, faketime=faketime, env=env)

    def start(self, faketime=None, pop3=True, env=None):
        """Starts vellum-smtpd (its clock moved by OFFSET, as `faketime -f
        OFFSET` would, when faketime is given; env: more environment)
        and vellum-pop3d; waits for every port."""
        site = self.site
        # libfaketime preloaded into vellum-smtpd itself: stopping the
        # pid started stops the daemon (the `faketime` wrapper forks, and
        # stopping it left the daemon running after the test).
        self.smtpd = site.start("smtpd", faketime=faketime, env=env)
        for k in ("smtp", "submission", "smtps", "lmtp"):
            if k in self.ports:
                site.wait_port(self.ports[k], self.smtpd)
        if pop3 and "pop3" in self.ports and self.pop3d is None:
            if not site.have("pop3d"):
                raise Failure("vellum-pop3d was not built")
            self.pop3d = site.start("pop3d")
            site.wait_port(self.ports["pop3"], self.pop3d)
        return self.smtpd

    def stop(self):
        rc = self.site.stop(self.smtpd)
        return rc

    def alive(self, what):
        check(self.smtpd.running(), "vellum-smtpd is still running after "
              + what, self.smtpd.output()[-3000:])

    def smtp(self, port="smtp", ehlo=True):
        s = smtplib.SMTP(HOST, self.ports[port], timeout=30)
        if ehlo:
            code, _ = s.ehlo("client.example.test")
            check(code == 250, "EHLO on [%s] answers 250" % port, code)
        return s

    def submission(self, user, password, mech="PLAIN"):
        """smtplib on [submission] after STARTTLS and AUTH mech."""
        s = self.smtp("submission")
        code, _ = s.starttls(context=ctx())
        check(code == 220, "STARTTLS answers 220", code)
        s.ehlo("client.example.test")
        s.user, s.password = user, password
        code, resp = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                            initial_response_ok=True)
        check(code == 235, "AUTH %s as %s answers 235" % (mech, user),
              (code, resp))
        return s

    def smtps(self):
        s = smtplib.SMTP_SSL(HOST, self.ports["smtps"], timeout=30,
                             context=ctx())
        s.ehlo("client.example.test")
        return s


def send(s, sender, rcpts, data, mail_options=(), rcpt_options=()):
    """MAIL, RCPT each, DATA with smtplib; returns (mail reply,
    {rcpt: reply}, data reply or None); never raises on 4xx/5xx."""
    mr = s.mail(sender, list(mail_options))
    rr = {}
    if mr[0] != 250:
        s.rset()
        return mr, rr, None
    for r in rcpts:
        rr[r] = s.rcpt(r, list(rcpt_options))
    if not any(c == 250 for c, _ in rr.values()):
        s.rset()
        return mr, rr, None
    dr = s.data(data)
    return mr, rr, dr


def sent_ok(s, sender, rcpts, data, what, **kw):
    mr, rr, dr = send(s, sender, rcpts, data, **kw)
    check(mr[0] == 250 and all(c == 250 for c, _ in rr.values()) and
          dr and dr[0] == 250, what + ": MAIL, RCPT, DATA answer 250",
          (mr, rr, dr))
    return dr


def message(subject, body=b"hello\r\n", extra=b"", size=None):
    """A CRLF message; padded with body lines to about size bytes."""
    if isinstance(subject, str):
        subject = subject.encode()
    head = (b"From: Sender <sender@remote.test>\r\n"
            b"To: someone@example.test\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Message-ID: <" + re.sub(rb"[^A-Za-z0-9.-]", b"-", subject) +
            b"@remote.test>\r\n" + extra + b"\r\n")
    m = head + body
    if size is not None:
        line = b"x" * 76 + b"\r\n"
        while len(m) + len(line) <= size:
            m += line
        m += b"y" * max(0, size - len(m) - 2) + b"\r\n"
    return m


def stored(site, address, folder=None):
    """The exact bytes of every message in the user's folder (INBOX by
    default), in UID order, read with `vellumctl mail export` (Maildir)."""
    d = tempfile.mkdtemp(dir=site.tmp, prefix="export-")
    dest = os.path.join(d, "md")
    args = ["mail", "export", address, dest]
    site.ctl(*args)
    sub = dest if folder in (None, "INBOX") else os.path.join(
        dest, "." + folder)
    out = []
    for part in ("new", "cur"):
        p = os.path.join(sub, part)
        if not os.path.isdir(p):
            continue
        for name in os.listdir(p):
            m = re.match(r"^\d+\.(\d+)\.", name)
            check(m is not None, "exported Maildir names read "
                  "<date>.<uid>.<host>,S=<size>", name)
            with open(os.path.join(p, name), "rb") as f:
                out.append((int(m.group(1)), f.read()))
    shutil.rmtree(d, ignore_errors=True)
    return [b for _, b in sorted(out)]


def listing(site, address, folder=None):
    """`vellumctl mail list --json`: [{uid, size, subject, ...}]."""
    args = ["mail", "list", address, "--json"]
    if folder:
        args += ["--folder", folder]
    return json.loads(site.ctl(*args))


def count(site, address):
    return len(listing(site, address))


def user_info(site, address):
    return json.loads(site.ctl("user", "show", address, "--json"))


def queue(site):
    """`vellumctl queue list --json` as text (every address in it)."""
    out = site.ctl("queue", "list", "--json")
    try:
        return json.dumps(json.loads(out))
    except ValueError:
        raise Failure("vellumctl queue list --json is not JSON: %r" %
                      out[:500])


def pop3_all(port, user, password):
    """Every message of the user's maildrop through vellum-pop3d, as the
    bytes RETR sends (dot-unstuffed by poplib), in order."""
    p = poplib.POP3(HOST, port, timeout=30)
    try:
        p.user(user)
        p.pass_(password)
        n = p.stat()[0]
        out = []
        for i in range(1, n + 1):
            _, lines, _ = p.retr(i)
            out.append(b"".join(line + b"\r\n" for line in lines))
        return out
    finally:
        try:
            p.quit()
        except (poplib.error_proto, OSError):
            pass


def readback(srv, user, password, original, sender, rcpt_addrs, via):
    """The newest message of user, through the store and through POP3,
    is the original with the added fields; both views agree."""
    site = srv.site
    st = stored(site, user)
    check(st, "%s: %s has mail in the store" % (via, user), st)
    check_delivery(st[-1], original, sender, rcpt_addrs, via + " (store)")
    pop = pop3_all(srv.ports["pop3"], user, password)
    check(len(pop) == len(st), "%s: POP3 sees as many messages as the "
          "store" % via, (len(pop), len(st)))
    check(pop[-1] == st[-1], "%s: RETR gives the stored bytes" % via,
          (pop[-1][:300], st[-1][:300]))
    check_delivery(pop[-1], original, sender, rcpt_addrs, via + " (POP3)")


def split_prefix(copy, original):
    """The header fields the server put before the original bytes, as
    [(name lowercased, whole field bytes)], or a Failure."""
    check(copy.endswith(original) and len(copy) > len(original),
          "the stored copy ends with the exact bytes the client sent "
          "(%d bytes) after added header fields" % len(original),
          copy[:1500])
    prefix = copy[:-len(original)]
    check(prefix.endswith(b"\r\n"), "the added header fields end with "
          "CRLF", prefix[-200:])
    fields = []
    for line in prefix[:-2].split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            check(fields, "a folded line continues an added field", prefix)
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
            continue
        name = line.split(b":", 1)[0]
        check(b":" in line and re.match(rb"^[!-9;-~]+$", name),
              "each added line is a header field", line)
        fields.append((name.lower().decode(), line))
    return fields


def check_delivery(copy, original, sender, rcpt_addrs, via=""):
    """copy = Return-Path + Delivered-To (either order) + Received (the
    first header of the message as relayed) + original, byte for byte.
    rcpt_addrs: the addresses Delivered-To may name (the RCPT address or
    the mailbox it reached)."""
    fields = split_prefix(copy, original)
    names = [n for n, _ in fields]
    check(sorted(names[:2]) == ["delivered-to", "return-path"] and
          names[2:] == ["received"],
          "%s: the copy starts with Return-Path and Delivered-To, then "
          "one Received added by the server right before the sent bytes"
          % via, names)
    f = dict(fields)
    rp = f["return-path"].split(b":", 1)[1].strip()
    check(rp == b"<" + sender.encode() + b">", "%s: Return-Path: <%s>"
          % (via, sender), f["return-path"])
    dt = f["delivered-to"].split(b":", 1)[1].strip().decode().lower()
    check(dt in [a.lower() for a in rcpt_addrs], "%s: Delivered-To names "
          "one of %r" % (via, rcpt_addrs), f["delivered-to"])
    rec = f["received"]
    check(HOSTNAME.encode() in rec and b";" in rec, "%s: Received: names "
          "%s and ends with a date after ';'" % (via, HOSTNAME), rec)
    return f


class Raw:
    """A line-level SMTP client on a plain (or TLS) socket."""

    def __init__(self, port, tls=False, timeout=30, src=None):
        """src: the client's own address (127.0.0.x: another host)."""
        s = socket.create_connection((HOST, port), timeout=timeout,
                                     source_address=(src, 0) if src else
                                     None)
        if tls:
            s = ctx().wrap_socket(s)
        self.s = s
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """(code, [text lines]) of one (multi-line) reply."""
        lines = []
        while True:
            line = self.line()
            check(len(line) >= 3 and line[:3].isdigit(), "a reply line "
                  "starts with a 3-digit code", line)
            lines.append(line[4:])
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, text):
        self.send(text + "\r\n" if isinstance(text, str) else text)
        return self.reply()

    def ehlo(self, name="client.example.test"):
        code, lines = self.cmd("EHLO " + name)
        check(code == 250, "EHLO answers 250", (code, lines))
        return [x.decode().upper() for x in lines[1:]]

    def pending(self, wait=0.5):
        """Whatever the server sends within wait s (b"" if nothing)."""
        self.s.settimeout(wait)
        data = self.buf
        self.buf = b""
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    break
                data += d
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        self.s.settimeout(30)
        return data

    def closed(self, timeout=5):
        """True when the server closes the connection within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
        except (socket.timeout, OSError):
            return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def auth_plain_token(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" +
                            password.encode()).decode()



class Client25:
    """A plain SMTP connection to [smtp] (or port) from 127.0.0.SRC, so
    that tests can play different clients: cmd() sends a line and returns
    the whole reply (its lines joined), "(closed)" after EOF.  greet=False
    leaves the greeting unread; host "::1" (src None) connects over IPv6
    to a listener there."""

    def __init__(self, srv, src=1, port=None, greet=True, host=HOST):
        v6 = ":" in host
        self.s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET,
                               socket.SOCK_STREAM)
        self.s.settimeout(30)
        if src is not None:
            self.s.bind(("127.0.0.%d" % src, 0))
        self.s.connect((host, port or srv.ports["smtp"]))
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.s.recv(4096)
                if not data:
                    return "\n".join(lines + ["(closed)"])
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if len(line) < 4 or line[3:4] != b"-":
                return "\n".join(lines)

    def send(self, text):
        self.s.sendall(text.encode())

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def expect(self, line, code, what, text=None):
        r = self.cmd(line)
        last = r.splitlines()[-1] if r else r
        check(last.startswith("%d " % code) and
              (text is None or last == text),
              "%s: %s answers %s" % (what, line, text or code), r)
        return r

    def abort(self):
        """Closes with a reset (SO_LINGER 0): the client is gone."""
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                          struct.pack("ii", 1, 0))
        self.s.close()

    def close(self):
        try:
            self.cmd("QUIT")
        except OSError:
            pass
        finally:
            self.s.close()


def log_has(srv, pattern, what):
    """The daemon's log gets a line matching pattern (it is written as the
    reply goes out: wait for it a little)."""
    for _ in range(50):
        out = srv.smtpd.output()
        if re.search(pattern, out):
            return out
        time.sleep(0.1)
    check(False, what, srv.smtpd.output()[-3000:])
