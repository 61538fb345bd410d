"""Helpers of the outbound delivery tests: remote SMTP servers on
loopback (python3-aiosmtpd), a test DNS server (dnsserver.py), and a
Vellum site with vellum-smtpd and vellum-mta pointed at both.

    with MtaSite(build) as ms:
        sink = ms.sink("127.0.0.3")            # a remote server, port ms.mx_port
        ms.dns({"remote.test": [("MX", 10, "mx.remote.test")],
                "mx.remote.test": [("A", "127.0.0.3")]})
        ms.start()                             # smtpd + mta
        ms.submit("a@example.test", ["x@remote.test"], msg)
        got = sink.wait(1)                     # the envelopes received

Every remote listens on the same port (ms.mx_port: the [mta] port), each
on its own 127.0.0.x address, so MX records can tell them apart.
"""
import os
import socket
import ssl
import sys
import threading
import time

from daemon import Failure, Site, check, free_port, free_shared_port

# Debian's python3-aiosmtpd and python3-dnslib are pure Python: reachable
# from a python3 that is not Debian's (pyenv) through dist-packages.
for _p in ("/usr/lib/python3/dist-packages",):
    if os.path.isdir(_p) and _p not in sys.path:
        sys.path.append(_p)

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

from dnsserver import DNSServer  # noqa: E402
import smtptest  # noqa: E402

HOSTNAME = "mail.example.test"


class Handler:
    """Records envelopes; replies as told.  rcpt[addr] and data are
    lists of replies used in turn (None: accept); delay holds the reply
    to the end of data that many seconds."""

    def __init__(self):
        self.got = []
        self.rcpt = {}
        self.data = []
        self.mail = []
        self.delay = 0
        self.in_data = 0	# ends of DATA seen (before the reply)
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address,
                          options):
        with self.lock:
            r = self.mail.pop(0) if self.mail else None
        if r:
            return r
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address,
                          options):
        with self.lock:
            todo = self.rcpt.get(address.lower())
            r = todo.pop(0) if todo else None
        if r:
            return r
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        with self.lock:
            r = self.data.pop(0) if self.data else None
            self.in_data += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if r:
            return r
        with self.lock:
            self.got.append({
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "rcpt_options": list(envelope.rcpt_options),
                "data": envelope.original_content,
                "tls": session.ssl is not None,
                "peer": session.peer[0] if session.peer else None,
                "auth": (session.auth_data.login.decode()
                         if session.authenticated and session.auth_data
                         else None),
            })
        return "250 2.0.0 Ok: queued"


class Sink:
    """An aiosmtpd server on host:port (a thread)."""

    def __init__(self, host, port, tls=None, auth=None, ehlo_extra=None,
                 **kw):
        self.handler = Handler()
        self.host = host
        self.port = port
        kwargs = dict(kw)
        if tls is not None:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            c.load_cert_chain(tls[0], tls[1])
            kwargs["tls_context"] = c
        if auth is not None:
            user, password = auth

            def authenticator(server, session, envelope, mechanism, data):
                ok = (isinstance(data, LoginPassword) and
                      data.login.decode() == user and
                      data.password.decode() == password)
                return AuthResult(success=ok, auth_data=data if ok else None)
            kwargs["authenticator"] = authenticator
            kwargs["auth_require_tls"] = True
            kwargs["auth_required"] = True
        self.ctl = Controller(self.handler, hostname=host, port=port,
                              server_hostname="mx-" + host,
                              ready_timeout=10, **kwargs)
        self.ctl.start()

    def stop(self):
        if self.ctl is not None:
            self.ctl.stop()
            self.ctl = None

    def wait(self, n, timeout=20.0):
        """The first n envelopes received, waiting up to timeout."""
        end = time.time() + timeout
        while time.time() < end:
            with self.handler.lock:
                if len(self.handler.got) >= n:
                    return list(self.handler.got)
            time.sleep(0.05)
        raise Failure("%s:%d received %d of %d messages in %.0f s" %
                      (self.host, self.port, len(self.handler.got), n,
                       timeout))

    @property
    def got(self):
        with self.handler.lock:
            return list(self.handler.got)


class Silent:
    """A server that accepts connections and then says nothing (or only
    trickles a greeting one byte at a time when trickle is set)."""

    def __init__(self, host, port, trickle=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.trickle = trickle
        self.conns = []
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(c)
            if self.trickle is not None:
                threading.Thread(target=self._trickle, args=(c,),
                                 daemon=True).start()

    def _trickle(self, c):
        for ch in b"220 slow.example ESMTP\r\n":
            if self.stopped:
                return
            try:
                c.send(bytes([ch]))
            except OSError:
                return
            time.sleep(self.trickle)

    def stop(self):
        self.stopped = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


class MtaSite:
    """A Vellum site (smtpd + mta) delivering to loopback remotes."""

    def __init__(self, build, mta=None, queue=None, extra_sections=None):
        self.site = Site(build)
        self.build = build
        self.mx_port = free_shared_port()
        self.sinks = []
        self.dnssrv = None
        self.smtp_port = free_port()
        self.sub_port = free_port()
        self.mta_keys = {"port": str(self.mx_port),
                         "connect_timeout": "5", "greeting_timeout": "5",
                         "command_timeout": "5", "data_timeout": "10",
                         "reuse_time": "1"}
        self.mta_keys.update(mta or {})
        self.queue_keys = {"retry_min": "1s", "retry_max": "2s"}
        self.queue_keys.update(queue or {})
        self.extra = extra_sections or {}
        self.procs = {}

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is not None:
            self.site.keep = True
            print("(this case's files are left in %s)" % self.site.tmp,
                  file=sys.stderr)
        self.cleanup()

    def cleanup(self):
        for p in list(self.procs.values()):
            try:
                self.site.stop(p, strict=False)
            except Exception:
                pass
        for s in self.sinks:
            s.stop()
        if self.dnssrv is not None:
            self.dnssrv.stop()
        self.site.cleanup()

    def sink(self, host="127.0.0.1", **kw):
        s = Sink(host, self.mx_port, **kw)
        self.sinks.append(s)
        return s

    def dns(self, records):
        self.dnssrv = DNSServer(records, host="127.0.0.1")
        return self.dnssrv

    def write_conf(self):
        sections = {
            "smtp": {"listen": "127.0.0.1:%d" % self.smtp_port},
            "submission": {"listen": "127.0.0.1:%d" % self.sub_port},
            "mta": dict(self.mta_keys),
            "queue": dict(self.queue_keys),
        }
        if self.dnssrv is not None:
            sections["dns"] = {"resolver": "127.0.0.1:%d" %
                               self.dnssrv.port, "timeout": "3"}
        sections.update(self.extra)
        self.site.write_conf(sections)

    def start(self, mta=True, faketime=None):
        self.write_conf()
        if "smtpd" not in self.procs:
            self.procs["smtpd"] = self.site.start("smtpd")
            self.site.wait_port(self.smtp_port, self.procs["smtpd"])
        if mta:
            self.start_mta(faketime=faketime)

    def start_mta(self, faketime=None, env=None):
        kw = {"faketime": faketime} if faketime else {}
        self.procs["mta"] = self.site.start(
            "mta", env=env, **kw)
        time.sleep(0.2)
        check(self.procs["mta"].running(), "vellum-mta keeps running",
              self.procs["mta"].output())

    def stop_mta(self, kill=False):
        p = self.procs.pop("mta")
        if kill:
            os.kill(p.popen.pid, 9)
            p.popen.wait(10)
        else:
            self.site.stop(p)
        return p

    def submit(self, user, password, rcpts, data, sender=None,
               mail_options=(), rcpt_options=()):
        """Sends through [submission] with AUTH; returns the queue id."""
        import smtplib
        s = smtplib.SMTP("127.0.0.1", self.sub_port, timeout=30)
        try:
            s.ehlo("client.test")
            if s.has_extn("starttls"):
                s.starttls(context=smtptest.ctx())
                s.ehlo("client.test")
            s.login(user, password)
            s.mail(sender or user, list(mail_options))
            for r in rcpts:
                code, text = s.rcpt(r, list(rcpt_options))
                check(code == 250, "RCPT %s accepted" % r, (code, text))
            code, text = s.data(data)
            check(code == 250, "message accepted", (code, text))
            return text.decode().rsplit(" ", 1)[-1]
        finally:
            s.quit()

    def smtp(self, sender, rcpts, data):
        """Sends on [smtp] without AUTH (inbound mail)."""
        import smtplib
        s = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30)
        try:
            s.ehlo("remote.test")
            return s.sendmail(sender, rcpts, data)
        finally:
            s.quit()

    def queue(self):
        import json
        return json.loads(self.site.ctl("queue", "list", "--json"))

    def wait_queue_empty(self, timeout=30.0):
        end = time.time() + timeout
        q = None
        while time.time() < end:
            q = self.queue()
            if not q:
                return
            time.sleep(0.1)
        raise Failure("the queue did not empty in %.0f s: %r" %
                      (timeout, q))

    def wait_queue(self, pred, what, timeout=30.0):
        end = time.time() + timeout
        q = None
        while time.time() < end:
            q = self.queue()
            if pred(q):
                return q
            time.sleep(0.1)
        raise Failure("%s within %.0f s; queue: %r" % (what, timeout, q))

    def mta_log(self):
        p = self.procs.get("mta")
        return p.output() if p is not None else ""


def run_cases(build, cases, only_var):
    """Runs each case(build) in turn, printing how long it took; the
    environment variable only_var, when set, picks the cases whose name
    holds it.  Returns 0 (a case raises Failure when it fails)."""
    only = os.environ.get(only_var)
    for c in cases:
        if only and only not in c.__name__:
            continue
        t0 = time.time()
        c(build)
        print("ok %s (%.1f s)" % (c.__name__, time.time() - t0))
        sys.stdout.flush()
    return 0
