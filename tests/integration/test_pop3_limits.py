"""vellum-pop3d plumbing limits: plaintext logins refused without TLS,
per-IP lockout after failed logins, per-IP connection limit, idle
timeout, TLS 1.2 as the floor, an IPv6 listener, the self-signed pair
made on first start, AUTH LOGIN, and SIGTERM letting a command finish.

usage: test_pop3_limits.py BUILD_DIR
"""
import base64
import os
import warnings
import poplib
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main  # noqa: E402

USER, PASS = "carol@example.test", "carol-pw"
warnings.filterwarnings("ignore", category=DeprecationWarning)


def ctx(maxver=None):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    if maxver is not None:
        c.set_ciphers("DEFAULT:@SECLEVEL=0")	# let the client try
        c.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        c.maximum_version = maxver
    return c


class Raw:
    def __init__(self, port, host="127.0.0.1", family=socket.AF_INET):
        self.s = socket.socket(family, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect((host, port))
        self.buf = b""
        self.greeting = self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.line()

    def closed(self, timeout):
        """True when the server closes within timeout seconds."""
        self.s.settimeout(timeout)
        try:
            while True:
                self.line()
        except EOFError:
            return True
        except socket.timeout:
            return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(site, args):
    # One process: the memory checks read that process's RSS.
    site.workers = 1
    if not site.have("pop3d"):
        raise Failure("vellum-pop3d was not built")
    pop3, pop3s, pop3v6 = site.port(), site.port(), site.port("::1")
    site.write_conf({
        "pop3": {"listen": "127.0.0.1:%d, [::1]:%d" % (pop3, pop3v6)},
        "pop3s": {"listen": "127.0.0.1:%d" % pop3s},
        "auth": {"plaintext": "no", "fail_delay": "10", "fail_max": "3",
                 "fail_window": "600", "lockout": "600"},
        "limits": {"connections_per_ip": "6", "idle_timeout": "2",
                   "shutdown_grace": "10"}}, tls="self")
    site.add_user(USER, PASS)
    site.add_mail(USER, b"Subject: x\n\nbody\n")
    proc = site.start("pop3d")
    site.wait_port(pop3, proc)
    check(os.path.exists(os.path.join(site.data, "tls", "cert.pem")),
          "a self-signed pair was made in data_dir on first start",
          os.listdir(site.data))

    # Without TLS and plaintext = no: no SASL/USER offered, USER refused.
    r = Raw(pop3)
    r.s.sendall(b"CAPA\r\n")
    caps = []
    line = r.line()
    while line != b".":
        caps.append(line)
        line = r.line()
    check(b"STLS" in caps and not any(c.startswith(b"SASL") or c == b"USER"
                                      for c in caps),
          "plaintext CAPA offers STLS, not USER or SASL", caps)
    resp = r.cmd("USER " + USER)
    check(resp.startswith(b"-ERR"), "USER without TLS is refused", resp)
    r.cmd("QUIT")

    # AUTH LOGIN over implicit TLS.
    s = ctx().wrap_socket(socket.create_connection(("127.0.0.1", pop3s)))
    f = s.makefile("rwb")
    f.readline()

    def say(text):
        f.write(text.encode() + b"\r\n")
        f.flush()
        return f.readline().rstrip(b"\r\n")
    resp = say("AUTH LOGIN")
    check(resp.startswith(b"+ ") and base64.b64decode(resp[2:]).lower()
          .startswith(b"username"), "AUTH LOGIN asks for the user", resp)
    resp = say(base64.b64encode(USER.encode()).decode())
    check(resp.startswith(b"+ "), "then for the password", resp)
    resp = say(base64.b64encode(PASS.encode()).decode())
    check(resp.startswith(b"+OK"), "AUTH LOGIN succeeds over TLS", resp)
    say("QUIT")
    s.close()

    # TLS below 1.2 is refused.
    try:
        t = ctx(ssl.TLSVersion.TLSv1_1).wrap_socket(
            socket.create_connection(("127.0.0.1", pop3s), timeout=10))
        t.close()
        raise Failure("a TLS 1.1 handshake succeeded")
    except ssl.SSLError as e:
        check("VERSION" in str(e).upper(), "TLS 1.1 is refused for its "
              "version", str(e))

    # IPv6 listener.
    r = Raw(pop3v6, "::1", socket.AF_INET6)
    check(r.greeting.startswith(b"+OK"), "greeting on [::1]", r.greeting)
    r.cmd("QUIT")

    # Idle timeout: the server says so and closes.
    r = Raw(pop3)
    t0 = time.monotonic()
    closed = r.closed(10)
    check(closed and time.monotonic() - t0 < 8, "idle connection closed "
          "after the idle timeout", time.monotonic() - t0)

    # Per-IP connection limit: the 7th connection is refused.
    conns = [Raw(pop3) for _ in range(6)]
    s = socket.create_connection(("127.0.0.1", pop3), timeout=10)
    data = s.recv(1000)
    check(not data.startswith(b"+OK"), "connection over the per-IP limit "
          "is refused", data)
    s.close()
    for c in conns:
        c.s.close()
    time.sleep(0.3)

    # A client that pipelines commands without reading the replies: the
    # server stops taking commands until they drain, so its memory stays
    # bounded (each LIST reply here is ~20 KB: unbounded, 2 s of this
    # would be gigabytes).
    site.add_mail(USER, *[b"Subject: %d\n\nbody\n" % i
                          for i in range(2000)])
    s = ctx().wrap_socket(socket.create_connection(("127.0.0.1", pop3s)))
    s.recv(1000)
    s.sendall(("USER %s\r\nPASS %s\r\n" % (USER, PASS)).encode())
    time.sleep(0.5)
    rss0 = rss_kb(proc.pid)
    s.setblocking(False)
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 2:
        try:
            sent += s.send(b"LIST\r\n" * 1000)
        except (BlockingIOError, ssl.SSLWantWriteError):
            time.sleep(0.01)
    grown = rss_kb(proc.pid) - rss0
    check(grown < 32 * 1024, "unread pipelined replies do not grow the "
          "server's memory (sent %d bytes of LIST)" % sent,
          "%d KiB more" % grown)
    s.close()

    # Lockout after fail_max failed logins, even with the right password.
    p = poplib.POP3_SSL("127.0.0.1", pop3s, context=ctx(), timeout=10)
    for i in range(3):
        p.user(USER)
        try:
            p.pass_("wrong")
            raise Failure("a wrong password was accepted")
        except poplib.error_proto:
            pass
    try:
        p.user(USER)		# refused here or at PASS
        p.pass_(PASS)
        raise Failure("login succeeded during a lockout")
    except poplib.error_proto as e:
        check(b"too many failed logins" in e.args[0],
              "locked-out address gets a clear message", e.args[0])
    p.close()

    # SIGTERM: the server stops accepting; a connected session is told.
    r = Raw(pop3s and pop3)
    rc = site.stop(proc)
    check(rc == 0, "SIGTERM: exit status 0", rc)
    try:
        last = r.line()
    except EOFError:
        last = b""
    check(last == b"" or last.startswith(b"-ERR"), "an idle session is "
          "told the server is shutting down", last)
    return 0


if __name__ == "__main__":
    main(run)
