"""Durability as the daemons promise it, watched through their syncs
(tests/syncshim.c preloaded: it logs every fsync/fdatasync/msync and can
hold them back while a gate file exists).

  smtp: with every sync held back, a finished message gets no 250 (nor
        an LMTP 250) until the syncs may run again; with only the syncs of
        the daemon's other threads held back, the same, and meanwhile the
        event loop still serves another session (the group commit's sync
        does not stop the loop).
  pop3: a session that only reads (USER/PASS, STAT, LIST, UIDL, RETR,
        QUIT) makes no sync at all (its maildrop lock needs none); one
        that deletes does.

usage: test_durable_reply.py BUILD_DIR SHIM smtp|pop3
"""
import json
import os
import poplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main  # noqa: E402

USER = "dur@example.test"
MSG = (b"From: s@remote.test\r\nTo: dur@example.test\r\n"
       b"Subject: durable %d\r\n\r\nbody\r\n")


class Line:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def reply(self, timeout=10.0):
        """The next reply's last line, or None after timeout seconds."""
        self.s.settimeout(timeout)
        while True:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                if line[3:4] != b"-":
                    return line.decode()
            try:
                data = self.s.recv(4096)
            except socket.timeout:
                return None
            if not data:
                raise Failure("the server closed the connection")
            self.buf += data

    def cmd(self, text, want):
        self.s.sendall(text.encode() + b"\r\n")
        r = self.reply()
        check(r is not None and r.startswith(want), "reply to %r" % text,
              r)
        return r

    def close(self):
        self.s.close()


def syncs(log):
    try:
        with open(log) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def send_held(site, port, gate, log, n, lmtp=False, loop_check=False):
    """Sends message n with the gate closed: no 250 while it is; then
    opens it and wants the 250."""
    c = Line(port)
    check(c.reply().startswith("220"), "banner", "")
    c.cmd(("LHLO" if lmtp else "EHLO") + " client.test", "250")
    c.cmd("MAIL FROM:<s@remote.test>", "250")
    c.cmd("RCPT TO:<%s>" % USER, "250")
    c.cmd("DATA", "354")
    with open(gate, "w"):
        pass
    before = len(syncs(log))
    c.s.sendall(MSG % n + b".\r\n")
    r = c.reply(timeout=1.5)
    check(r is None, "no reply to the end of data while syncs are held "
          "back (message %d)" % n, r)
    if loop_check:
        # The loop is not waiting for the sync: a new session is served.
        t0 = time.monotonic()
        o = Line(port)
        got = o.reply(timeout=3)
        check(got is not None and got.startswith("220"),
              "banner while a group's sync is held", got)
        o.cmd(("LHLO" if lmtp else "EHLO") + " other.test", "250")
        o.cmd("NOOP", "250")
        o.cmd("QUIT", "221")
        o.close()
        check(time.monotonic() - t0 < 3, "another session served at once",
              "%.1f s" % (time.monotonic() - t0))
        r = c.reply(timeout=0.5)
        check(r is None, "still no reply while the sync is held", r)
    os.unlink(gate)
    r = c.reply(timeout=10)
    check(r is not None and r.startswith("250"), "250 once syncs run", r)
    check(len(syncs(log)) > before, "a sync ran before the 250",
          syncs(log)[before:])
    c.cmd("QUIT", "221")
    c.close()


def smtp(site, shim):
    port, lport = site.port(), site.port()
    site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port},
                     "lmtp": {"listen": "127.0.0.1:%d" % lport}})
    site.add_user(USER, "pw")
    log, gate = site.path("syncs.log"), site.path("gate")
    for threads in ("0", "1"):
        env = {"LD_PRELOAD": shim, "VELLUM_SYNC_LOG": log,
               "VELLUM_SYNC_GATE": gate,
               "VELLUM_SYNC_GATE_THREADS": threads}
        proc = site.start("smtpd", env=env)
        site.wait_port(port, proc)
        site.wait_port(lport, proc)
        # The shim is there: a delivery syncs.
        before = len(syncs(log))
        c = Line(port)
        c.reply()
        c.cmd("EHLO client.test", "250")
        c.cmd("MAIL FROM:<s@remote.test>", "250")
        c.cmd("RCPT TO:<%s>" % USER, "250")
        c.cmd("DATA", "354")
        c.s.sendall(MSG % 0 + b".\r\n")
        r = c.reply()
        check(r is not None and r.startswith("250"), "plain delivery", r)
        c.close()
        check(len(syncs(log)) > before, "the shim logs the syncs",
              syncs(log))
        send_held(site, port, gate, log, 1, loop_check=threads == "1")
        send_held(site, lport, gate, log, 2, lmtp=True,
                  loop_check=threads == "1")
        site.stop(proc)
    got = json.loads(site.ctl("--json", "user", "show", USER))
    check(got["used_messages"] == 6, "every acknowledged message stored",
          got["used_messages"])


def pop3(site, shim):
    port = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % port}})
    site.add_user(USER, "pw")
    site.add_mail(USER, *[MSG % i for i in range(3)])
    log = site.path("syncs.log")
    proc = site.start("pop3d", env={"LD_PRELOAD": shim,
                                    "VELLUM_SYNC_LOG": log})
    site.wait_port(port, proc)
    time.sleep(0.3)
    before = syncs(log)
    for _ in range(3):
        p = poplib.POP3("127.0.0.1", port, timeout=10)
        p.user(USER)
        p.pass_("pw")
        check(p.stat()[0] == 3, "STAT", p.stat())
        p.list()
        p.uidl()
        p.retr(1)
        p.quit()
    after = syncs(log)
    check(after == before, "no sync in read-only POP3 sessions",
          after[len(before):])
    p = poplib.POP3("127.0.0.1", port, timeout=10)
    p.user(USER)
    p.pass_("pw")
    p.dele(1)
    p.quit()
    check(len(syncs(log)) > len(after), "a session that deletes syncs",
          syncs(log)[len(after):])
    site.stop(proc)


def run(site, args):
    if len(args) != 2 or args[1] not in ("smtp", "pop3"):
        raise Failure("usage: BUILD_DIR SHIM smtp|pop3")
    shim = os.path.abspath(args[0])
    check(os.path.exists(shim), "the sync shim is built", shim)
    (smtp if args[1] == "smtp" else pop3)(site, shim)


if __name__ == "__main__":
    main(run, usage="BUILD_DIR SHIM smtp|pop3")
