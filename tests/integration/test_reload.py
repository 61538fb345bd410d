"""vellumd reloads on SIGHUP (issue 12) instead of stopping everything:

  1. with an SMTP session in the middle of DATA and an IMAP session in
     the middle of an APPEND literal, SIGHUP: vellumd starts new daemons,
     both sessions finish their command on the old ones (250 and OK),
     and both messages are in the mailbox; the old daemons end, the new
     ones serve.
  2. a client loop connecting to SMTP, IMAP and POP3 throughout three
     reloads (`vellumd reload`, `vellumctl reload`, SIGHUP) gets a
     greeting every time: no connection is refused or reset.
  3. a config with errors is refused: `vellumd reload` exits 1 naming
     FILE:LINE, the log says it, the same daemons keep serving.
  4. a section added on reload starts its daemon ([pop3] answers), a
     section removed stops it (its port closes, the process ends).
  5. a changed [tls] cert is the one served after the reload.
  6. sessions between commands at the reload keep going on the old
     daemons, which drain (vellumd.8 RELOAD): IMAP sessions in IDLE (on
     an imapd with two processes) get the EXISTS of a message delivered
     after the reload and LOGOUT normally, an SMTP session that had said
     MAIL FROM completes RCPT and DATA with 250, a POP3 session that had
     said STAT RETRs; the old daemons end with their last session.
  7. [limits] reload_drain bounds the drain: once over, an IDLE session
     left on the old imapd gets the shutdown BYE.
  8. vellumd's stop (SIGTERM) also stops a daemon still draining: its
     IDLE session gets BYE and vellumd exits 0.
Usage: test_reload.py BUILD_DIR"""
import json
import os
import poplib
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import Failure, check  # noqa: E402
import imaptest  # noqa: E402
import smtptest  # noqa: E402

USER, PASSWORD = "a@example.test", "secret-pw-1"
USER2 = "b@example.test"


def status(site):
    """The first line of data_dir/vellumd.status ("" when none)."""
    try:
        with open(os.path.join(site.data, "vellumd.status")) as f:
            return f.readline().strip()
    except OSError:
        return ""


def wait_status(site, vd, before, timeout=30):
    """Waits until the status line differs from before; its state."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        now = status(site)
        if now and now != before:
            return now.split()[2]
        if not vd.running():
            raise Failure("vellumd exited (%s) instead of reloading; "
                          "log:\n%s" % (vd.popen.returncode, vd.output()))
        time.sleep(0.05)
    raise Failure("vellumd said nothing in %d s (status %r); log:\n%s"
                  % (timeout, status(site), vd.output()))


def hup(site, vd):
    """kill -HUP vellumd; the reload's outcome."""
    before = status(site)
    os.kill(vd.pid, signal.SIGHUP)
    return wait_status(site, vd, before)


def run(site, *args):
    p = subprocess.run([str(a) for a in args], capture_output=True,
                       timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def child_pids(vd):
    return sorted(daemon.children_of(vd.pid))


def write(site, ports, pop3=False, cert=None, extra="", drain=None):
    sections = {
        "smtp": {"listen": "127.0.0.1:%d" % ports["smtp"]},
        # Two processes: the drain signal must reach the worker too.
        "imap": {"listen": "127.0.0.1:%d" % ports["imap"],
                 "workers": "2"},
        "imaps": {"listen": "127.0.0.1:%d" % ports["imaps"]},
        "limits": {"shutdown_grace": "30s"},
    }
    if drain is not None:
        sections["limits"]["reload_drain"] = drain
    if pop3:
        sections["pop3"] = {"listen": "127.0.0.1:%d" % ports["pop3"]}
    site.write_conf(sections, tls=cert or "openssl", extra=extra)


def wait_ready(site, vd, ports):
    for p in ports:
        site.wait_port(p, vd)
    t0 = time.monotonic()
    while status(site).split()[2:3] != ["ready"]:
        if time.monotonic() - t0 > 30:
            raise Failure("vellumd never said ready; log:\n%s" %
                          vd.output())
        if not vd.running():
            raise Failure("vellumd exited; log:\n%s" % vd.output())
        time.sleep(0.05)


def sessions_finish(site, vd, ports):
    """1: commands in progress at the HUP finish on the old daemons."""
    before = child_pids(vd)
    # SMTP: in the middle of DATA.
    sm = smtptest.Raw(ports["smtp"])
    check(sm.greeting[0] == 220, "SMTP greets", sm.greeting)
    sm.ehlo()
    check(sm.cmd("MAIL FROM:<x@sender.test>")[0] == 250, "MAIL", "")
    check(sm.cmd("RCPT TO:<%s>" % USER)[0] == 250, "RCPT", "")
    check(sm.cmd("DATA")[0] == 354, "DATA", "")
    sm.send("Subject: during reload smtp\r\n\r\nfirst half\r\n")
    # IMAP: in the middle of an APPEND literal.
    im = imaptest.Raw(ports["imap"])
    tag, _ = im.cmd('a LOGIN %s "%s"' % (USER, PASSWORD))
    check(tag.startswith(b"a OK"), "IMAP LOGIN", tag)
    body = b"Subject: during reload imap\r\n\r\n" + b"x" * 2000 + b"\r\n"
    im.send(b"b APPEND INBOX {%d}\r\n" % len(body))
    cont = im.line()
    check(cont.startswith(b"+"), "APPEND asks for the literal", cont)
    im.send(body[:1000])
    time.sleep(0.2)

    check(hup(site, vd) == "reloaded", "SIGHUP reloads", status(site))
    after = child_pids(vd)
    new = [p for p in after if p not in before]
    check(len(new) >= 2, "new smtpd and imapd run after the reload "
          "(before %r, after %r)" % (before, after), vd.output())

    # The old ones still finish what was under way.
    sm.send(".\r\n")
    code, text = sm.reply()
    check(code == 250, "the DATA begun before the reload is accepted",
          (code, text, vd.output()))
    im.send(body[1000:] + b"\r\n")
    tagged, _ = im.until_tagged(b"b")
    check(tagged.startswith(b"b OK"), "the APPEND begun before the "
          "reload completes", (tagged, vd.output()))
    sm.close()
    im.close()
    # The old daemons end; the new ones serve the mailbox with both.
    t0 = time.monotonic()
    while any(p in daemon.children_of(vd.pid) for p in before):
        if time.monotonic() - t0 > 40:
            raise Failure("old daemons %r still run; log:\n%s" % (
                before, vd.output()))
        time.sleep(0.1)
    subjects = [m.get("subject") for m in smtptest.listing(site, USER)]
    check("during reload smtp" in subjects and
          "during reload imap" in subjects, "both messages are stored",
          subjects)
    check("finished its sessions" in vd.output(), "vellumd reaps the old "
          "daemons and says so", vd.output())


class Prober(threading.Thread):
    """Connects to each port in turn until stopped; notes every failure
    (refused, reset, no greeting, a greeting that is not OK)."""

    def __init__(self, ports):
        super().__init__(daemon=True)
        self.ports = ports
        self.stop = threading.Event()
        self.ok = 0
        self.bad = []

    def run(self):
        i = 0
        while not self.stop.is_set():
            port, want = self.ports[i % len(self.ports)]
            i += 1
            try:
                line = daemon.greeting(port, timeout=10)
                if line.startswith(want):
                    self.ok += 1
                else:
                    self.bad.append((port, line))
            except OSError as e:
                self.bad.append((port, repr(e)))
            time.sleep(0.002)


def no_refusal(site, vd, ports):
    """2: a client loop sees a greeting on every connection."""
    probe = Prober([(ports["smtp"], "220"), (ports["imap"], "* OK"),
                    (ports["pop3"], "+OK")])
    probe.start()
    time.sleep(0.3)
    vellumd = site.binary("vellumd")
    rc, out, err = run(site, vellumd, "-c", site.conf, "reload")
    check(rc == 0 and "reloaded" in out, "vellumd reload exits 0 and says "
          "it reloaded", (rc, out, err, vd.output()))
    time.sleep(0.3)
    rc, out, err = run(site, site.binary("vellumctl"), "-c", site.conf,
                       "--json", "reload")
    check(rc == 0 and "reloaded" in json.loads(out).get("message", ""),
          "vellumctl --json reload exits 0 with one JSON object",
          (rc, out, err, vd.output()))
    time.sleep(0.3)
    check(hup(site, vd) == "reloaded", "SIGHUP reloads", status(site))
    time.sleep(0.3)
    probe.stop.set()
    probe.join(30)
    check(not probe.bad, "no connection refused during 3 reloads (%d "
          "answered)" % probe.ok, (probe.bad, vd.output()[-3000:]))
    check(probe.ok >= 10, "the loop connected throughout", probe.ok)
    print("reloads under a client loop: %d connections answered" % probe.ok)


def broken_refused(site, vd, ports):
    """3: errors are refused, the running daemons stay."""
    before = child_pids(vd)
    write(site, ports, pop3=True, extra="[srs]\nbogus_key = 1\n")
    rc, out, err = run(site, site.binary("vellumd"), "-c", site.conf,
                       "reload")
    lines = open(site.conf).read().split("\n")
    line = lines.index("bogus_key = 1") + 1
    check(rc == 1, "vellumd reload exits 1 on a broken config",
          (rc, out, err))
    check("%s:%d:" % (site.conf, line) in err and "refused" in err,
          "the refusal names FILE:LINE", err)
    check("reload refused: %s:%d:" % (site.conf, line) in vd.output(),
          "the log has the error", vd.output()[-2000:])
    time.sleep(0.5)
    check(child_pids(vd) == before, "the daemons were left alone",
          (before, child_pids(vd)))
    check(daemon.greeting(ports["smtp"]).startswith("220") and
          daemon.greeting(ports["pop3"]).startswith("+OK"),
          "the old config still serves", "")
    write(site, ports, pop3=True)


def sections_come_and_go(site, vd, ports):
    """4: [pop3] removed stops vellum-pop3d; added starts it."""
    pop3_pids = [p for p in child_pids(vd)
                 if "vellum-pop3d" in daemon.cmdline_of(p)]
    check(len(pop3_pids) == 1, "one vellum-pop3d runs", pop3_pids)
    write(site, ports, pop3=False)
    check(hup(site, vd) == "reloaded", "reload without [pop3]", "")
    t0 = time.monotonic()
    while daemon.port_open(ports["pop3"]) or \
            daemon.pid_alive(pop3_pids[0]):
        if time.monotonic() - t0 > 40:
            raise Failure("[pop3] removed but port %d still answers or "
                          "pid %d runs; log:\n%s" % (
                              ports["pop3"], pop3_pids[0], vd.output()))
        time.sleep(0.1)
    check(not [p for p in child_pids(vd)
               if "vellum-pop3d" in daemon.cmdline_of(p)],
          "no vellum-pop3d is left", child_pids(vd))
    write(site, ports, pop3=True)
    check(hup(site, vd) == "reloaded", "reload with [pop3]", "")
    site.wait_port(ports["pop3"], vd)
    check(daemon.greeting(ports["pop3"]).startswith("+OK"),
          "[pop3] added: vellum-pop3d answers", vd.output()[-2000:])


def served_cert(port):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with c.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def cert_changes(site, vd, ports):
    """5: a new [tls] cert is served after the reload."""
    cert1 = site.make_cert()
    der1 = ssl.PEM_cert_to_DER_cert(open(cert1[0]).read())
    check(served_cert(ports["imaps"]) == der1, "imaps serves the first "
          "cert", "")
    cert2 = (site.path("cert2.pem"), site.path("key2.pem"))
    p = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
         "/CN=renewed.example.test", "-keyout", cert2[1], "-out",
         cert2[0]], capture_output=True, timeout=60)
    check(p.returncode == 0, "openssl made a second cert", p.stderr)
    der2 = ssl.PEM_cert_to_DER_cert(open(cert2[0]).read())
    write(site, ports, pop3=True, cert=cert2)
    check(hup(site, vd) == "reloaded", "reload with the new cert", "")
    # "reloaded": the new daemons listen and the old ones got SIGTERM,
    # which closes their listeners as soon as they handle it.
    t0 = time.monotonic()
    while served_cert(ports["imaps"]) != der2:
        if time.monotonic() - t0 > 10:
            raise Failure("imaps still serves the old cert 10 s after the "
                          "reload; log:\n%s" % vd.output()[-2000:])
        time.sleep(0.05)


def deliver(port, rcpt, subject):
    """One message to rcpt over a fresh SMTP session."""
    sm = smtptest.Raw(port)
    sm.ehlo()
    check(sm.cmd("MAIL FROM:<x@sender.test>")[0] == 250, "MAIL", "")
    check(sm.cmd("RCPT TO:<%s>" % rcpt)[0] == 250, "RCPT", "")
    check(sm.cmd("DATA")[0] == 354, "DATA", "")
    sm.send("Subject: %s\r\n\r\nbody\r\n.\r\n" % subject)
    code, text = sm.reply()
    check(code == 250, "a message to %s is accepted" % rcpt, (code, text))
    sm.cmd("QUIT")
    sm.close()


def idle_imap(port):
    """An IMAP session logged in, INBOX selected, in IDLE; (session,
    messages in INBOX)."""
    im = imaptest.Raw(port, timeout=60)
    tag, _ = im.cmd('a LOGIN %s "%s"' % (USER, PASSWORD))
    check(tag.startswith(b"a OK"), "IMAP LOGIN", tag)
    tag, untagged = im.cmd("s SELECT INBOX")
    check(tag.startswith(b"s OK"), "SELECT INBOX", tag)
    exists = [int(x.split()[1]) for x in untagged if x.endswith(b" EXISTS")]
    check(exists, "SELECT says EXISTS", untagged)
    im.send(b"i IDLE\r\n")
    cont = im.line()
    check(cont.startswith(b"+"), "IDLE is accepted", cont)
    return im, exists[-1]


def serving_pid(vd, im):
    """The pid of the imapd process that serves session im (its log line
    "connect from ... port P" names our port), or None."""
    pat = re.compile(r"vellum-imapd\[(\d+)\]: conn \d+: connect from "
                     r"127\.0\.0\.1 port %d " % im.s.getsockname()[1])
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:
        m = pat.search(vd.output())
        if m:
            return int(m.group(1))
        time.sleep(0.05)
    return None


def wait_signalled(vd, before, n):
    """Waits (at most 20 s) until n more daemon processes logged that
    they drain or shut down than in the log text before."""
    pat = re.compile(r"signal \d+: (draining|shutting down)")
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        if len(pat.findall(vd.output())) >= len(pat.findall(before)) + n:
            return
        time.sleep(0.05)


def wait_gone(vd, pids, what):
    t0 = time.monotonic()
    while any(daemon.pid_alive(p) for p in pids):
        if time.monotonic() - t0 > 40:
            raise Failure("%s: old daemons %r still run; log:\n%s" % (
                what, pids, vd.output()[-3000:]))
        time.sleep(0.1)


def idle_then_logout(vd, im, n):
    """An IDLE session sees a message beyond the n it had, ends IDLE and
    logs out."""
    while True:
        line = im.line_or_eof(timeout=30)
        check(line is not None and not line.startswith(b"* BYE"),
              "an IDLE session begun before the reload stays open after "
              "it", (line, vd.output()[-3000:]))
        if line.endswith(b" EXISTS") and int(line.split()[1]) > n:
            break
    im.send(b"DONE\r\n")
    tag, _ = im.until_tagged(b"i")
    check(tag.startswith(b"i OK"), "IDLE ends with OK", tag)
    tag, untagged = im.cmd("z LOGOUT")
    check(tag.startswith(b"z OK") and
          any(x.startswith(b"* BYE") for x in untagged),
          "LOGOUT after the reload", (tag, untagged))
    im.close()


def sessions_keep_going(site, vd, ports):
    """6: idle sessions go on on the drained daemons."""
    deliver(ports["smtp"], USER2, "for pop3")
    before = child_pids(vd)
    # IDLE sessions on both imapd processes (the kernel picks which one
    # accepts: open more until both have one, or give up after 12).
    master = [p for p in before if "vellum-imapd" in daemon.cmdline_of(p)]
    idlers = []
    for _ in range(12):
        im, n = idle_imap(ports["imap"])
        idlers.append((im, n, serving_pid(vd, im)))
        if len(idlers) >= 2 and len(set(x[2] for x in idlers)) >= 2:
            break
    # The first process's sessions end first: the drained imapd must
    # then still wait for its worker's.
    idlers.sort(key=lambda x: x[2] not in master)
    print("IDLE sessions on imapd pids %r (first process %r)" % (
        [x[2] for x in idlers], master))
    sm = smtptest.Raw(ports["smtp"])
    sm.ehlo()
    check(sm.cmd("MAIL FROM:<y@sender.test>")[0] == 250, "MAIL", "")
    pop = poplib.POP3("127.0.0.1", ports["pop3"], timeout=60)
    pop.user(USER2)
    pop.pass_(PASSWORD)
    npop = pop.stat()[0]
    check(npop >= 1, "POP3 STAT sees the message", npop)

    log = vd.output()
    check(hup(site, vd) == "reloaded", "SIGHUP reloads", status(site))
    # smtpd, pop3d and both imapd processes got their signal.
    wait_signalled(vd, log, 4)

    # A message delivered after the reload (by the new smtpd) ...
    deliver(ports["smtp"], USER, "after the reload")
    # ... wakes every IDLE session on the old imapd.
    for im, n, pid in idlers:
        try:
            idle_then_logout(vd, im, n)
        except OSError as e:
            raise Failure("IMAP session on imapd pid %r begun before the "
                          "reload: %r; log:\n%s" % (pid, e,
                                                    vd.output()[-3000:]))
    # The SMTP transaction begun before goes on.
    try:
        code, text = sm.cmd("RCPT TO:<%s>" % USER)
        check(code == 250, "RCPT after the reload, in a transaction "
              "begun before", (code, text, vd.output()[-3000:]))
        check(sm.cmd("DATA")[0] == 354, "DATA after the reload", "")
        sm.send("Subject: begun before the reload\r\n\r\nx\r\n.\r\n")
        code, text = sm.reply()
    except EOFError as e:
        raise Failure("the SMTP session begun before the reload was "
                      "closed: %r; log:\n%s" % (e, vd.output()[-3000:]))
    check(code == 250, "the message of a transaction begun before the "
          "reload is accepted", (code, text))
    check(sm.cmd("QUIT")[0] == 221, "QUIT", "")
    sm.close()
    # The POP3 session goes on.
    try:
        _, lines, _ = pop.retr(npop)
        pop.quit()
    except (poplib.error_proto, OSError) as e:
        raise Failure("RETR after the reload in a POP3 session begun "
                      "before: %r; log:\n%s" % (e, vd.output()[-3000:]))
    check(b"Subject: for pop3" in lines, "RETR sends the message", lines)
    subjects = [m.get("subject") for m in smtptest.listing(site, USER)]
    check("begun before the reload" in subjects, "the message is stored",
          subjects)
    # Their last session gone, the old daemons end.
    wait_gone(vd, before, "sessions over")


def drain_bounded(site, vd, ports):
    """7: after reload_drain the old imapd says BYE to its IDLE."""
    write(site, ports, pop3=True, drain="1s")
    old = child_pids(vd)
    check(hup(site, vd) == "reloaded", "reload with reload_drain = 1s", "")
    # The daemons of the old config (without sessions) are gone first.
    wait_gone(vd, old, "no sessions")
    before = child_pids(vd)
    im, _ = idle_imap(ports["imap"])
    check(hup(site, vd) == "reloaded", "a second reload", "")
    line = im.line_or_eof(timeout=60)
    check(line is not None and line.startswith(b"* BYE"), "the IDLE "
          "session on the old imapd gets BYE once reload_drain is over",
          (line, vd.output()[-3000:]))
    im.close()
    check("reload_drain (1 s) is over" in vd.output(), "the old imapd "
          "says why", vd.output()[-3000:])
    wait_gone(vd, before, "reload_drain over")
    write(site, ports, pop3=True)


def main(site, args):
    for name in ("vellumd", "smtpd", "imapd", "pop3d"):
        if not site.have(name):
            raise Failure("%s is not built" % name)
    ports = {k: site.port() for k in ("smtp", "imap", "imaps", "pop3")}
    write(site, ports, pop3=True)
    site.add_user(USER, PASSWORD)
    site.add_user(USER2, PASSWORD)
    vd = site.start("vellumd")
    wait_ready(site, vd, [ports["smtp"], ports["imap"], ports["pop3"]])
    sessions_finish(site, vd, ports)
    sessions_keep_going(site, vd, ports)
    drain_bounded(site, vd, ports)
    no_refusal(site, vd, ports)
    broken_refused(site, vd, ports)
    sections_come_and_go(site, vd, ports)
    cert_changes(site, vd, ports)
    # 8: a drain under way ends with vellumd's stop.
    im, _ = idle_imap(ports["imap"])
    log = vd.output()
    check(hup(site, vd) == "reloaded", "a reload before the stop", "")
    wait_signalled(vd, log, 4)
    check(site.stop(vd, timeout=60) == 0, "vellumd exits 0 on SIGTERM",
          vd.output()[-2000:])
    line = im.line_or_eof(timeout=10)
    check(line is not None and line.startswith(b"* BYE"), "vellumd's stop "
          "ends a drain: the IDLE session gets BYE", (line,
                                                      vd.output()[-2000:]))
    im.close()
    return 0


if __name__ == "__main__":
    daemon.main(main)
