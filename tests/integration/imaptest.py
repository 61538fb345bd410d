"""The IMAP test fixture: vellum-imapd on free loopback ports in a temp
dir, users and mail made with the real vellumctl, imaplib connections,
and a raw line client for what imaplib cannot send.

    from imaptest import ImapSite, Raw, run
    def test(site, args):
        site.start_imapd()                       # [imap] + [imaps]
        site.add_user("a@example.test", "pw")
        site.add_mail("a@example.test", b"Subject: x\\r\\n\\r\\nbody\\r\\n")
        m = site.login("a@example.test", "pw")   # imaplib.IMAP4, logged in
        m.select("INBOX")
        r = site.raw()                           # Raw: line level
        r.cmd("a1 CAPABILITY")                   # -> (tagged, untagged)
    run(test)                                    # main(): ok / FAIL / skip

Everything listens on 127.0.0.1 (and ::1 where a test asks), in the
test's own data dir; the daemon is stopped by its pid (daemon.py).
"""
import imaplib
import os
import socket
import ssl
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import SKIP, Failure, Site, check, main  # noqa: E402,F401

# Under AddressSanitizer (.ci/run's sanitizer stage) freed blocks wait in
# a quarantine of 256 MiB before reuse, which the memory bounds of the
# IMAP tests would count: a small quarantine keeps them about the
# server's own memory (as test_smtp_memory.py does).
if "ASAN_OPTIONS" in os.environ and "quarantine_size_mb" not in \
        os.environ["ASAN_OPTIONS"]:
    os.environ["ASAN_OPTIONS"] += ":quarantine_size_mb=1"

__all__ = ["ImapSite", "Raw", "Failure", "check", "run", "tls_context",
           "SKIP"]


def tls_context():
    """A client context that accepts the test's self-signed pair."""
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class ImapSite(Site):
    """A daemon.Site with vellum-imapd helpers."""

    imap_port = None
    imaps_port = None
    imapd = None

    def write_imap_conf(self, limits=None, auth=None, sections=None,
                        **kw):
        """Writes vellum.conf with [imap] and [imaps] on free ports.
        limits: keys of [limits]; auth: keys of [auth] (plaintext yes and
        a 10 ms fail_delay unless given); sections: more sections."""
        self.imap_port = self.port()
        self.imaps_port = self.port()
        secs = {"imap": {"listen": "127.0.0.1:%d" % self.imap_port},
                "imaps": {"listen": "127.0.0.1:%d" % self.imaps_port}}
        a = {"plaintext": "yes", "fail_delay": "10"}
        a.update(auth or {})
        secs["auth"] = a
        if limits:
            secs["limits"] = dict(limits)
        secs.update(sections or {})
        return self.write_conf(secs, **kw)

    def start_imapd(self, conf=True, **kw):
        """Writes the config (unless conf is False: already written),
        starts vellum-imapd and waits for both ports; returns the Proc.
        kw goes to write_imap_conf()."""
        if not self.have("imapd"):
            raise Failure("vellum-imapd was not built")
        if conf:
            self.write_imap_conf(**kw)
        proc = self.start("imapd")
        self.wait_port(self.imap_port, proc)
        self.wait_port(self.imaps_port, proc)
        self.imapd = proc
        return proc

    def start_another_imapd(self, port=None):
        """A second vellum-imapd process on the same data dir, on its own
        port (a config of its own next to the first): for tests of
        changes between processes.  Returns (proc, port)."""
        port = port or self.port()
        conf = self.path("vellum-2.conf")
        with open(self.conf) as f:
            text = f.read()
        out, skip = [], False
        for line in text.splitlines():
            if line.startswith("["):
                skip = line.strip() in ("[imap]", "[imaps]")
                if skip:
                    continue
            if not skip:
                out.append(line)
        out += ["", "[imap]", "listen = 127.0.0.1:%d" % port]
        with open(conf, "w") as f:
            f.write("\n".join(out) + "\n")
        proc = self.start("imapd", "-c", conf, conf=False)
        self.wait_port(port, proc)
        return proc, port

    def imap(self, port=None, tls=False):
        """An imaplib connection (not logged in)."""
        if tls:
            return imaplib.IMAP4_SSL("127.0.0.1", port or self.imaps_port,
                                     ssl_context=tls_context(), timeout=15)
        return imaplib.IMAP4("127.0.0.1", port or self.imap_port,
                             timeout=15)

    def login(self, user, password, port=None, tls=False):
        """An imaplib connection, logged in."""
        m = self.imap(port, tls)
        typ, data = m.login(user, password)
        check(typ == "OK", "LOGIN %s works" % user, data)
        return m

    def raw(self, port=None, tls=False, host="127.0.0.1"):
        """A Raw connection (greeting read)."""
        return Raw(port or (self.imaps_port if tls else self.imap_port),
                   tls=tls, host=host)


class Raw:
    """IMAP at the line level: what imaplib cannot send or check."""

    def __init__(self, port, tls=False, host="127.0.0.1", timeout=15):
        s = socket.create_connection((host, port), timeout=timeout)
        if tls:
            s = tls_context().wrap_socket(s)
        self.s = s
        self.buf = b""
        self.z_out = None      # COMPRESS=DEFLATE, when on
        self.z_in = None
        self.greeting = self.line()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        if self.z_out is not None:
            data = self.z_out.compress(data) + self.z_out.flush(
                zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def _recv(self):
        d = self.s.recv(65536)
        if not d:
            raise Failure("connection closed; had %r" % self.buf[-2000:])
        if self.z_in is not None:
            d = self.z_in.decompress(d)
        self.buf += d

    def line(self):
        """The next line (bytes, without CRLF)."""
        while b"\r\n" not in self.buf:
            self._recv()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def line_or_eof(self, timeout=None):
        """The next line, or None when the server closed first."""
        old = self.s.gettimeout()
        if timeout is not None:
            self.s.settimeout(timeout)
        try:
            return self.line()
        except Failure:
            return None
        except (ConnectionResetError, BrokenPipeError):
            return None
        finally:
            self.s.settimeout(old)

    def closed(self, timeout=10):
        """Whether the server closes the connection (reading what is
        left) within timeout s."""
        self.s.settimeout(timeout)
        try:
            while True:
                d = self.s.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except OSError:
            return True

    def until_tagged(self, tag):
        """Lines up to and including the one tagged tag: (tagged line,
        [untagged lines])."""
        if isinstance(tag, str):
            tag = tag.encode()
        untagged = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return line, untagged
            untagged.append(line)

    def cmd(self, text):
        """Sends "TAG rest" + CRLF; returns (tagged, untagged)."""
        if isinstance(text, str):
            text = text.encode()
        self.send(text + b"\r\n")
        return self.until_tagged(text.split(b" ", 1)[0])

    def compress(self):
        """Turns COMPRESS=DEFLATE on at this end (after the OK)."""
        self.z_out = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION,
                                      zlib.DEFLATED, -15)
        self.z_in = zlib.decompressobj(-15)
        # Bytes already read are plaintext; none should be there.
        if self.buf:
            raise Failure("data after the COMPRESS OK: %r" % self.buf)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def wait_for(fn, what, timeout=10.0, step=0.05):
    """Polls fn() until it returns something true; Failure after
    timeout s naming what."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise Failure("timed out waiting for %s" % what)


def run(fn):
    """main() with an ImapSite instead of a Site."""
    import daemon
    daemon.Site = ImapSite
    main(fn)
