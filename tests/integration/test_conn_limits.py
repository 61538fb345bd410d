"""Connection plumbing under attack (common/conn.c), on vellum-pop3d and
vellum-smtpd:

1. descriptors: under `prlimit --nofile=256` with 300 connections held,
   the daemon warns at start naming [limits] connections and the
   descriptor limit, does not flood its log (no accept() spin), serves a
   client from another address meanwhile, and serves 127.0.0.1 again
   once the held connections close, without a restart;
2. 100 connections trickling one byte every 0.5 s on each daemon are all
   closed by the deadlines (with the protocol's goodbye) long before the
   idle timeout, while a normal client from 127.0.0.2 is served;
3. a connection that sends commands but never logs in is closed after
   login_timeout; one that logged in (POP3) or started a transaction
   (SMTP MAIL) is not;
4. a slow DATA, a slow BDAT and a RETR read slowly are cut by the
   minimum transfer rate; nothing is stored from the cut messages.

The deadlines in the config are short; idle_timeout is long, so that a
connection closed here was closed by the new deadlines.  Bounds on waits
are generous: nothing asserts how fast the server is.

usage: test_conn_limits.py BUILD_DIR [fd|trickle|login|rate ...]
(the parts to run; all by default)
"""
import os
import re
import shutil
import smtplib
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import Failure, check, main  # noqa: E402
from smtptest import count, message, require_smtpd  # noqa: E402

USER, PASS = "alice@example.test", "alice-pw"
OTHER = "127.0.0.2"		# "another address" (loopback)
IDLE = 120			# far beyond every wait below
TRICKLERS = 100


def connect(port, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_line(s, buf=b""):
    """(line, rest) from socket s; EOFError at end of stream."""
    while b"\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            raise EOFError(buf)
        buf += d
    line, rest = buf.split(b"\r\n", 1)
    return line, rest


def wait_closed(s, timeout):
    """(closed, everything received) within timeout seconds."""
    end = time.monotonic() + timeout
    data = b""
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            return True, data
        if not d:
            return True, data
        data += d
    return False, data


def pop3_session(port, src):
    """A normal POP3 login, STAT, QUIT from src; the replies."""
    s = connect(port, src)
    try:
        out = []
        line, buf = read_line(s)
        out.append(line)
        for cmd in ("USER " + USER, "PASS " + PASS, "STAT", "QUIT"):
            s.sendall(cmd.encode() + b"\r\n")
            line, buf = read_line(s, buf)
            out.append(line)
        return out
    finally:
        s.close()


def check_pop3_served(port, src, what):
    try:
        out = pop3_session(port, src)
    except (OSError, EOFError) as e:
        raise Failure("%s: a POP3 client from %s is served; saw: %r" %
                      (what, src, e))
    check(all(x.startswith(b"+OK") for x in out), "%s: a POP3 client "
          "from %s logs in and gets STAT" % (what, src), out)


def check_smtp_served(port, src, what, deliver=True):
    try:
        s = smtplib.SMTP("127.0.0.1", port, timeout=10,
                         source_address=(src, 0))
        code, _ = s.ehlo("client.example.test")
        check(code == 250, "%s: EHLO from %s answers 250" % (what, src),
              code)
        if deliver:
            s.sendmail("sender@remote.test", [USER],
                       message("served " + what))
        s.quit()
    except (OSError, smtplib.SMTPException) as e:
        raise Failure("%s: an SMTP client from %s is served; saw: %r" %
                      (what, src, e))


def step(text):
    print("-- " + text, flush=True)


def log_lines(proc, start=0):
    return proc.output()[start:].splitlines()


# 1. Descriptors ----------------------------------------------------------

def fd_limit(site, name, port, served):
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        raise Failure("prlimit (util-linux) is not installed")
    proc = site.start(prlimit, "--nofile=256:256", site.binary(name),
                      "-c", site.conf, conf=False)
    site.wait_port(port, proc)
    time.sleep(0.3)
    start_log = proc.output()
    mark = len(start_log)

    held = []
    for _ in range(300):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        held.append(s)
    time.sleep(3)
    lines = log_lines(proc, mark)
    # At most a line per connection (connect), a few for the refusals
    # and accept() errors: not one per loop turn.
    noisy = [x for x in lines if "accept" in x or "refused" in x]
    check(len(noisy) <= 10 and len(lines) <= 300, "%s: 300 connections "
          "over the descriptor limit for 3 s log a few lines, not a flood "
          "(accept errors and refusals: %d, lines: %d)" % (
              name, len(noisy), len(lines)), lines[:8])
    check(proc.running(), "%s still runs" % name, proc.output()[-2000:])
    # Another address gets a slot while 127.0.0.1 holds its share.
    served(port, OTHER, "%s while 300 connections are held" % name)
    check(re.search(r"connections = 5000\b.*\b256\b", start_log),
          "%s under RLIMIT_NOFILE 256 warns at start naming [limits] "
          "connections (5000) and the limit (256)" % name, start_log)
    for s in held:
        s.close()
    time.sleep(0.5)
    served(port, "127.0.0.1", "%s after the held connections closed" %
           name)
    lines = log_lines(proc, mark)
    check(len(lines) <= 400, "%s: the log stays small (%d lines)" %
          (name, len(lines)), lines[-5:])
    rc = site.stop(proc)
    check(rc == 0, "%s stops cleanly" % name, (rc, proc.output()[-2000:]))


# 2. Trickling clients -----------------------------------------------------

def trickle(site, ports, procs):
    """TRICKLERS connections per port, each sending one byte of an
    endless command line every 0.5 s."""
    lines = {"pop3": b"USER " + b"a" * 4000, "smtp": b"EHLO " + b"b" * 4000}
    socks = []		# [kind, socket, offset, received, closed]
    for kind in ("pop3", "smtp"):
        for _ in range(TRICKLERS):
            s = connect(ports[kind])
            socks.append([kind, s, 0, b"", False])
    for t in socks:
        t[1].setblocking(False)
    t0 = time.monotonic()
    served = False
    while time.monotonic() - t0 < 40:
        open_ = 0
        for t in socks:
            if t[4]:
                continue
            try:
                while True:
                    d = t[1].recv(4096)
                    if not d:
                        t[4] = True
                        break
                    t[3] += d
            except BlockingIOError:
                pass
            except OSError:
                t[4] = True
            if t[4]:
                continue
            try:
                t[1].send(lines[t[0]][t[2]:t[2] + 1])
                t[2] += 1
            except BlockingIOError:
                pass
            except OSError:
                t[4] = True
            open_ += not t[4]
        if not served and time.monotonic() - t0 > 1:
            # Another address is served while they trickle.
            check_pop3_served(ports["pop3"], OTHER, "POP3 while %d "
                              "clients trickle" % TRICKLERS)
            check_smtp_served(ports["smtp"], OTHER, "SMTP while %d "
                              "clients trickle" % TRICKLERS)
            served = True
        if open_ == 0:
            break
        time.sleep(0.5)
    still = [t for t in socks if not t[4]]
    for t in socks:
        t[1].close()
    check(served, "the client from another address was tried", served)
    check(not still, "all %d trickling connections are closed by the "
          "deadlines within 40 s (idle_timeout is %d s)" % (len(socks),
                                                           IDLE),
          "%d still open, e.g. %s after %d bytes" % (
              len(still), still[0][0] if still else "", still[0][2]
              if still else 0))
    bye = {"pop3": b"-ERR [SYS/TEMP]", "smtp": b"421 4.4.2"}
    for t in socks:
        check(bye[t[0]] in t[3], "a trickling %s client is told why it is "
              "closed" % t[0], t[3][-200:])
    for name, p in procs.items():
        check(p.running(), "%s still runs" % name, p.output()[-2000:])


# 3. Login deadline --------------------------------------------------------

def commands_until_closed(s, cmd, timeout, buf=b""):
    """Sends cmd every second, reading replies; (closed, data)."""
    end = time.monotonic() + timeout
    data = buf
    while time.monotonic() < end:
        try:
            s.sendall(cmd)
        except OSError:
            return True, data
        closed, d = wait_closed(s, 1.0)
        data += d
        if closed:
            return True, data
    return False, data


def login_deadline(ports):
    # POP3: CAPA every second, never a login.
    s = connect(ports["pop3"])
    closed, data = commands_until_closed(s, b"CAPA\r\n", 30)
    s.close()
    check(closed and b"-ERR [SYS/TEMP] login timeout" in data,
          "POP3: a client that never logs in is closed after "
          "login_timeout with -ERR [SYS/TEMP] login timeout",
          data[-300:])
    # SMTP: NOOP every second, never a MAIL or AUTH.
    s = connect(ports["smtp"])
    s.sendall(b"EHLO client.example.test\r\n")
    closed, data = commands_until_closed(s, b"NOOP\r\n", 30)
    s.close()
    check(closed and b"421 4.4.2" in data, "SMTP: a client that never "
          "starts a transaction is closed after login_timeout with 421",
          data[-300:])

    # Logged in / in a transaction: well past login_timeout, still open.
    p = connect(ports["pop3"])
    p.sendall(("USER %s\r\nPASS %s\r\n" % (USER, PASS)).encode())
    m = connect(ports["smtp"])
    m.sendall(b"EHLO client.example.test\r\nMAIL FROM:<x@remote.test>\r\n")
    time.sleep(0.5)
    t0 = time.monotonic()
    pd = md = b""
    while time.monotonic() - t0 < 10:
        for sock, cmd in ((p, b"NOOP\r\n"), (m, b"NOOP\r\n")):
            sock.sendall(cmd)
        cp, d = wait_closed(p, 0.5)
        pd += d
        cm, d = wait_closed(m, 0.5)
        md += d
        check(not cp, "POP3: a logged-in client is not cut by "
              "login_timeout", pd[-300:])
        check(not cm, "SMTP: a client past MAIL is not cut by "
              "login_timeout", md[-300:])
    check(pd.count(b"+OK") >= 5, "POP3: the logged-in client's NOOPs are "
          "answered", pd[-300:])
    p.close()
    m.close()


# 4. Minimum transfer rate -------------------------------------------------

def slow_input(port, what, start, proc):
    s = connect(port)
    buf = b""
    line, buf = read_line(s, buf)
    for cmd in ("EHLO client.example.test", "MAIL FROM:<x@remote.test>",
                "RCPT TO:<%s>" % USER):
        s.sendall(cmd.encode() + b"\r\n")
        while True:
            line, buf = read_line(s, buf)
            if line[3:4] != b"-":
                break
        check(line.startswith(b"250"), "%s: %s answers 250" % (what, cmd),
              line)
    if start == "DATA":
        s.sendall(b"DATA\r\n")
        line, buf = read_line(s, buf)
        check(line.startswith(b"354"), "%s: DATA answers 354" % what, line)
        body = message("slow " + what, size=100000)
    else:
        body = message("slow " + what, size=100000)
        s.sendall(b"BDAT %d LAST\r\n" % len(body))
    s.setblocking(False)
    t0 = time.monotonic()
    sent = 0
    data = buf
    closed = False
    while time.monotonic() - t0 < 40 and not closed:
        try:
            s.send(body[sent:sent + 1])
            sent += 1
        except BlockingIOError:
            pass
        except OSError:
            closed = True
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    closed = True
                    break
                data += d
        except BlockingIOError:
            pass
        except OSError:
            closed = True
        time.sleep(0.2)
    s.close()
    check(closed and b"421 4.4.2" in data, "%s sent one byte every 0.2 s "
          "is cut by the minimum transfer rate with 421 4.4.2" % what,
          (sent, data[-300:]))
    check(re.search(r"transfer timeout: \d+ bytes sent", proc.output()),
          "%s: the log says a transfer timed out" % what,
          proc.output()[-1500:])


def slow_retr(port, proc, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    buf = b""
    line, buf = read_line(s, buf)
    for cmd in ("USER " + USER, "PASS " + PASS):
        s.sendall(cmd.encode() + b"\r\n")
        line, buf = read_line(s, buf)
        check(line.startswith(b"+OK"), "RETR test: %s" % cmd.split()[0],
              line)
    s.sendall(b"STAT\r\n")
    line, buf = read_line(s, buf)
    n = int(line.split()[1])
    s.sendall(b"RETR %d\r\n" % n)
    got = len(buf)
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < 60:
        try:
            d = s.recv(512)
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
        if not d:
            closed = True
            break
        got += len(d)
        time.sleep(0.2)
    s.close()
    check(closed and got < size, "a RETR of %d bytes read 512 bytes every "
          "0.2 s is cut by the minimum transfer rate" % size,
          (closed, got))
    check(re.search(r"transfer timeout: \d+ bytes read", proc.output()),
          "RETR: the log says a transfer timed out", proc.output()[-1500:])


PARTS = ("fd", "trickle", "login", "rate")


def run(site, args):
    parts = args or PARTS
    check(all(p in PARTS for p in parts), "parts are among %r" % (PARTS,),
          parts)
    rc = require_smtpd(site)
    if rc:
        return rc
    if not site.have("pop3d"):
        raise Failure("vellum-pop3d was not built")
    ports = {"pop3": site.port(), "smtp": site.port()}
    sections = {k: {"listen": "127.0.0.1:%d" % p} for k, p in ports.items()}
    site.add_user(USER, PASS)
    site.add_mail(USER, b"Subject: first\r\n\r\nhello\r\n")

    # 1. The default connections (5000) against 256 descriptors.
    site.write_conf(dict(sections, limits={"connections_per_ip": "1000",
                                           "idle_timeout": str(IDLE)}))
    if "fd" in parts:
        step("1. pop3d under prlimit --nofile=256")
        fd_limit(site, "pop3d", ports["pop3"], check_pop3_served)
        step("1. smtpd under prlimit --nofile=256")
        fd_limit(site, "smtpd", ports["smtp"], check_smtp_served)

    # 2-4 with short deadlines.
    site.write_conf(dict(sections, limits={
        "connections": "250", "connections_per_ip": "110",
        "idle_timeout": str(IDLE), "command_timeout": "3",
        "login_timeout": "6", "transfer_rate": "1000000",
        "transfer_grace": "2"}))
    procs = {"pop3d": site.start("pop3d"), "smtpd": site.start("smtpd")}
    site.wait_port(ports["pop3"], procs["pop3d"])
    site.wait_port(ports["smtp"], procs["smtpd"])
    if "trickle" in parts:
        step("2. %d trickling clients on each daemon" % TRICKLERS)
        trickle(site, ports, procs)
    if "login" in parts:
        step("3. login deadline")
        login_deadline(ports)
    if "rate" in parts:
        step("4. minimum transfer rate")
        rate(site, ports, procs)
    # Still serving normally afterwards.
    check_pop3_served(ports["pop3"], "127.0.0.1", "POP3 at the end")
    check_smtp_served(ports["smtp"], "127.0.0.1", "SMTP at the end")
    for name, p in procs.items():
        rc = site.stop(p)
        check(rc == 0, "%s stops cleanly" % name, (rc,
                                                    p.output()[-2000:]))
    return 0


def rate(site, ports, procs):
    before = count(site, USER)
    slow_input(ports["smtp"], "DATA", "DATA", procs["smtpd"])
    slow_input(ports["smtp"], "BDAT", "BDAT", procs["smtpd"])
    check(count(site, USER) == before, "nothing is stored from the cut "
          "DATA and BDAT", (before, count(site, USER)))
    size = 8 * 1024 * 1024
    site.add_mail(USER, message("big") + (b"y" * 78 + b"\r\n") *
                  (size // 80))
    slow_retr(ports["pop3"], procs["pop3d"], size)


if __name__ == "__main__":
    main(run, "BUILD_DIR [fd|trickle|login|rate ...]")
