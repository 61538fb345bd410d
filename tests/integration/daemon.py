"""Helpers for daemon integration tests (stdlib only).

A Site is one temporary directory with a data dir, a vellum.conf and the
processes started on it:

    site = Site(build_dir)            # BUILD/admin/vellumctl etc.
    pop3 = site.port()                # a free loopback port
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % pop3}})
    site.add_user("a@example.test", "secret")
    site.add_mail("a@example.test", b"Subject: hi\\r\\n\\r\\nbody\\r\\n")
    proc = site.start("pop3d")        # or "vellumd", or a path
    site.wait_port(pop3)
    ...
    site.cleanup()                    # also run at exit, and by `with`

Everything listens on 127.0.0.1 or ::1 only.  Processes are stopped by
the pid this helper started (SIGTERM, then SIGKILL), never by name; what
they started themselves must be gone once they are (Site.stop() fails
the test otherwise, after stopping it: tests/reaper.c fails any test that
leaves a process behind).  A program runs under a fake clock with
site.start(..., faketime="+6d"): libfaketime is preloaded into the
program itself, so the pid stopped is the daemon's (the `faketime`
wrapper forks, and a SIGTERM to it orphaned the daemon under it).
"""
import atexit
import glob
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

SKIP = 77
LOOPBACK = ("127.0.0.1", "::1")
# Seconds the processes a stopped program had started get to end with it.
LEFTOVER_GRACE = 3.0

# Where each program lives in the build tree.
BINARIES = {
    "vellumctl": "admin/vellumctl",
    "vellumd": "admin/vellumd",
    "pop3d": "pop3d/vellum-pop3d",
    "smtpd": "smtpd/vellum-smtpd",
    "imapd": "imapd/vellum-imapd",
    "fs": "fs/vellum-fs",
    "mta": "mta/vellum-mta",
}


# Memory bounds in tests are multiplied by this: under AddressSanitizer
# (.ci/run's sanitizer stage sets ASAN_OPTIONS) every allocation carries
# redzones and the allocator keeps per-thread caches, so the same work
# shows a few times the resident memory.  The plain stage keeps the bounds
# as written.
MEM_SLACK = 4 if "ASAN_OPTIONS" in os.environ else 1


class Failure(Exception):
    pass


def check(cond, what, saw):
    """Raises Failure saying what was expected and what was seen."""
    if not cond:
        raise Failure("%s; saw: %r" % (what, saw))


_PORTS_GIVEN = set()


def free_port(host="127.0.0.1"):
    """A TCP port nobody listens on now (bind to port 0, read, close),
    never one this process was given before: the kernel may hand out a
    closed port again at once, and two services of one config on one
    port is a config error (seen as a rare failure of the smtp test)."""
    if host not in LOOPBACK:
        raise ValueError("tests use loopback addresses only, not %s" % host)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        with socket.socket(fam, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def free_shared_port():
    """A TCP port for servers on several loopback addresses at once (the
    remote MXes of one test share the [mta] port).  free_port() gives an
    ephemeral port, free on one address: a client socket of a parallel
    test from 127.0.0.x (tests use those as client addresses) may be
    given the same port and hold 127.0.0.x:port when a server binds it
    (seen: EADDRINUSE in the batv test).  This one is below the
    ephemeral range (net.ipv4.ip_local_port_range), which the kernel
    never hands to a client (only this function picks ports there, at
    random), and free on 127.0.0.1 now."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    while True:
        port = rng.randrange(10000, max(low, 10001))
        if port in _PORTS_GIVEN:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port


def port_open(port, host="127.0.0.1", timeout=1.0):
    """Whether host:port accepts a TCP connection now."""
    if host not in LOOPBACK:
        raise ValueError("tests use loopback addresses only, not %s" % host)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def greeting(port, host="127.0.0.1", timeout=5.0):
    """The first line the server at host:port sends, as str ("" if none)."""
    if host not in LOOPBACK:
        raise ValueError("tests use loopback addresses only, not %s" % host)
    with socket.create_connection((host, port), timeout=timeout) as s:
        data = b""
        while b"\n" not in data:
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")


def half_close(port, data, host="127.0.0.1", timeout=30.0):
    """Sends data to host:port, shuts down the sending side (as "nc -N"
    does at the end of its input) and returns all the server sends
    until it closes."""
    if host not in LOOPBACK:
        raise ValueError("tests use loopback addresses only, not %s" % host)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


def pid_alive(pid):
    """Whether pid is a live process (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def proc_start(pid):
    """The start time of pid (clock ticks since boot), None when gone:
    with the pid it names one process even when pids are reused."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def cmdline_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().rstrip(b"\0").replace(b"\0", b" ").decode(
                "utf-8", "replace")
    except OSError:
        return "(gone)"


def descendants_of(pid):
    """[(pid, start time)] of every live process below pid."""
    out, todo = [], [pid]
    while todo:
        for kid in children_of(todo.pop()):
            out.append((kid, proc_start(kid)))
            todo.append(kid)
    return out


FAKETIME_LIBS = ("/usr/lib/*/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1",
                 "/usr/local/lib/faketime/libfaketime.so.1")


def faketime_env(offset):
    """The environment that runs a program with its clock moved by
    offset (libfaketime's FAKETIME syntax, e.g. "+6d"), as `faketime -f
    offset` would, but without a wrapper process in between."""
    for pattern in FAKETIME_LIBS:
        libs = sorted(glob.glob(pattern))
        if libs:
            pre = os.environ.get("LD_PRELOAD")
            return {"LD_PRELOAD": libs[0] + (" " + pre if pre else ""),
                    "FAKETIME": offset}
    raise Failure("libfaketime is not installed (make test installs the "
                  "faketime package)")


def workers_of(pid, want=1, timeout=10.0):
    """The worker processes of a daemon's first process: its children but
    the spawner (common/prefork.c), which only forks replacements.  Waits
    (up to timeout) until there are want of them and the spawner has
    named itself (just after its fork)."""
    t0 = time.monotonic()
    while True:
        kids, spawner = [], False
        for k in children_of(pid):
            try:
                with open("/proc/%d/comm" % k) as f:
                    if f.read().strip() == "spawner":
                        spawner = True
                        continue
            except OSError:
                continue
            kids.append(k)
        if (spawner and len(kids) >= want) or \
                time.monotonic() - t0 > timeout:
            return kids
        time.sleep(0.05)


def children_of(pid):
    """The pids of the live processes whose parent is pid."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            kids.append(int(name))
    return sorted(kids)


def tls_client_context():
    """A TLS client context that takes the test's self-signed certificate."""
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


class LineClient:
    """A line-level client of SMTP, POP3 or IMAP, plain or TLS (implicit).

    It reads the greeting on connect.  cmd() sends a line and returns the
    first line of the answer: a str or bytes that does not end in a newline
    gets CRLF added, one that does goes as it is (bytes that a test wants to
    send byte for byte).
    """

    def __init__(self, port, tls=False, host="127.0.0.1"):
        s = socket.create_connection((host, port), timeout=15)
        self.s = tls_client_context().wrap_socket(s) if tls else s
        self.buf = b""
        self.greeting = self.line()

    def port(self):
        """The client's own port (what the server logs as ours)."""
        return self.s.getsockname()[1]

    def line(self):
        """The next line with its newline; b"" (or the rest) at EOF."""
        while b"\n" not in self.buf:
            d = self.s.recv(4096)
            if not d:
                out, self.buf = self.buf, b""
                return out
            self.buf += d
        out, self.buf = self.buf.split(b"\n", 1)
        return out + b"\n"

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def cmd(self, data):
        crlf = "\r\n" if isinstance(data, str) else b"\r\n"
        if not data.endswith(crlf[-1:]):
            data += crlf
        self.send(data)
        return self.line()

    def until(self, prefix):
        """Lines up to the first that starts with prefix (b"" at EOF)."""
        while True:
            ln = self.line()
            if not ln or ln.startswith(prefix):
                return ln

    def imap(self, tag, data):
        """Sends a tagged IMAP command; returns (tagged, untagged)."""
        self.send("%s %s\r\n" % (tag, data))
        untagged = []
        while True:
            ln = self.line()
            if not ln:
                raise Failure("IMAP %s: connection closed after %r" %
                              (data.split()[0], untagged))
            if ln.startswith(tag.encode() + b" "):
                return ln, untagged
            untagged.append(ln)

    def rest(self, timeout=15):
        """Everything until the server closes."""
        self.s.settimeout(timeout)
        out = self.buf
        self.buf = b""
        while True:
            try:
                d = self.s.recv(4096)
            except socket.timeout:
                raise Failure("the server did not close; got %r" % out)
            if not d:
                return out
            out += d

    def close(self):
        self.s.close()


class Proc:
    """A process started by Site.start(); its output goes to a log file."""

    def __init__(self, popen, name, log):
        self.popen = popen
        self.pid = popen.pid
        self.name = name
        self.log = log

    def output(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def running(self):
        return self.popen.poll() is None

    def wait_for(self, pattern, timeout=15.0):
        """Waits until the output matches the regex pattern; Failure on
        timeout or if the process ended first."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if re.search(pattern, self.output()):
                return
            if not self.running():
                raise Failure("%s exited with %s before printing /%s/; "
                              "output:\n%s" % (self.name,
                                               self.popen.returncode,
                                               pattern, self.output()))
            time.sleep(0.05)
        raise Failure("%s printed no /%s/ in %.0f s; output:\n%s" % (
            self.name, pattern, timeout, self.output()))

    def wait(self, timeout):
        """The exit status, or None if still running after timeout s."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None


class Site:
    def __init__(self, build, prefix="vellum-daemon-test-"):
        self.build = os.path.abspath(build)
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.data = os.path.join(self.tmp, "data")
        self.conf = os.path.join(self.tmp, "vellum.conf")
        self.procs = []
        self.keep = False
        self.kept = False
        self.workers = None	# write_conf()
        atexit.register(self.cleanup)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def binary(self, name):
        """The path of a program: a BINARIES key or a path as given."""
        rel = BINARIES.get(name)
        return os.path.join(self.build, rel) if rel else os.path.abspath(
            name)

    def have(self, name):
        return os.access(self.binary(name), os.X_OK)

    def port(self, host="127.0.0.1"):
        return free_port(host)

    def make_cert(self, cn="localhost"):
        """A self-signed cert/key pair made with the openssl CLI."""
        cert, key = self.path("cert.pem"), self.path("key.pem")
        if not os.path.exists(cert):
            p = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", "/CN=" + cn, "-keyout", key, "-out", cert],
                capture_output=True, timeout=60)
            if p.returncode != 0:
                raise Failure("openssl req failed: %s" %
                              p.stderr.decode("utf-8", "replace"))
        return cert, key

    def write_conf(self, sections, tls="openssl", plaintext=True,
                   fail_delay=10, top=None, extra=""):
        """Writes vellum.conf and returns its path.

        sections: {"pop3": {"listen": "127.0.0.1:1234"}, "limits": {...}}
        (a section with an empty dict is written as a bare header).
        tls: "openssl" for a pair made here, "self" for no [tls] section
        (the daemon makes its own pair in data_dir), or (cert, key).
        The [auth] section gets plaintext and fail_delay (ms) unless the
        caller gives its own "auth" section.  top: more top-level keys.
        extra: text appended verbatim (for tests of bad configs).
        self.workers, when set, is written as `workers` into every
        listening section that has none (tests that read one process's
        memory set it to 1).
        """
        lines = ["# written by tests/integration/daemon.py",
                 "data_dir = %s" % self.data,
                 "hostname = mail.example.test"]
        for k, v in (top or {}).items():
            lines.append("%s = %s" % (k, v))
        sections = dict(sections)
        if "auth" not in sections:
            sections["auth"] = {"plaintext": "yes" if plaintext else "no",
                                "fail_delay": str(fail_delay)}
        if "tls" not in sections:
            if tls == "openssl":
                cert, key = self.make_cert()
                sections["tls"] = {"cert": cert, "key": key}
            elif isinstance(tls, (tuple, list)):
                sections["tls"] = {"cert": tls[0], "key": tls[1]}
            elif tls != "self":
                raise ValueError("tls: 'openssl', 'self' or (cert, key)")
        for name, keys in sections.items():
            lines.append("")
            lines.append("[%s]" % name)
            if self.workers is not None and "listen" in keys and \
                    "workers" not in keys:
                keys = dict(keys, workers=str(self.workers))
            for k, v in keys.items():
                if k == "listen":
                    self._check_listen(v)
                lines.append("%s = %s" % (k, v))
        text = "\n".join(lines) + "\n" + extra
        with open(self.conf, "w") as f:
            f.write(text)
        return self.conf

    @staticmethod
    def _check_listen(value):
        for addr in value.split(","):
            host = addr.strip().rsplit(":", 1)[0].strip("[]")
            if host not in LOOPBACK:
                raise ValueError("listen on loopback only, not %r" % addr)

    def ctl(self, *args, input=None, expect=0):
        """Runs the real vellumctl on the data dir; returns stdout."""
        argv = [self.binary("vellumctl"), "-d", self.data] + \
            [str(a) for a in args]
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run(argv, input=input, capture_output=True,
                           timeout=300)
        if expect is not None and p.returncode != expect:
            raise Failure("vellumctl %s: exit %d, expected %d: %s%s" % (
                " ".join(argv[3:]), p.returncode, expect,
                p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace")))
        return p.stdout.decode("utf-8", "replace")

    def add_user(self, address, password, quota=None):
        """Adds the user (and its domain if missing)."""
        domain = address.rsplit("@", 1)[1]
        # Before the first domain there is no store: list fails then.
        if domain not in self.ctl("domain", "list", expect=None).split():
            self.ctl("domain", "add", domain)
        args = ["user", "add", address, "--password-stdin"]
        if quota is not None:
            args += ["--quota", quota]
        self.ctl(*args, input=password + "\n")

    def add_mail(self, address, *messages, folder=None):
        """Imports each message (bytes or str) into the user's INBOX."""
        d = tempfile.mkdtemp(dir=self.tmp, prefix="mail-")
        for i, m in enumerate(messages):
            with open(os.path.join(d, "%04d.eml" % i), "wb") as f:
                f.write(m.encode() if isinstance(m, str) else m)
        args = ["mail", "import", address, d]
        if folder is not None:
            args += ["--folder", folder]
        self.ctl(*args)
        shutil.rmtree(d, ignore_errors=True)

    def start(self, name, *args, conf=True, env=None, log=None,
              faketime=None):
        """Starts a program with -c vellum.conf; returns a Proc.

        Its stdout and stderr go to a log file in the temp dir
        (Proc.output()).  It is stopped by cleanup() unless it ended.
        faketime: a clock offset such as "+6d" (faketime_env()).
        """
        argv = [self.binary(name)]
        if conf:
            argv += ["-c", self.conf]
        argv += [str(a) for a in args]
        log = log or self.path("%s.%d.log" % (os.path.basename(argv[0]),
                                              len(self.procs)))
        e = dict(os.environ)
        if faketime:
            e.update(faketime_env(faketime))
        e.update(env or {})
        with open(log, "ab") as out:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=subprocess.STDOUT,
                                     cwd=self.tmp, env=e)
        proc = Proc(popen, os.path.basename(argv[0]), log)
        self.procs.append(proc)
        return proc

    def wait_port(self, port, proc=None, host="127.0.0.1", timeout=10.0):
        """Waits until host:port accepts connections; Failure on timeout
        or if proc ended first.  Returns the seconds it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if port_open(port, host, timeout=0.5):
                return time.monotonic() - t0
            if proc is not None and not proc.running():
                raise Failure("%s exited with %s before %s:%d answered; "
                              "output:\n%s" % (proc.name, proc.popen.returncode,
                                               host, port, proc.output()))
            time.sleep(0.05)
        raise Failure("nothing answers on %s:%d after %.0f s%s" % (
            host, port, timeout, "; output of %s:\n%s" % (
                proc.name, proc.output()) if proc else ""))

    def stop(self, proc, timeout=10.0, strict=True):
        """SIGTERM, wait up to timeout s, then SIGKILL; returns the exit
        status (negative: the signal that ended it).

        What proc had started itself (vellumd's children, say) must end
        with it: what is still running then is stopped too, and with
        strict it is a Failure that names it."""
        if not proc.running():
            return proc.popen.returncode
        tree = descendants_of(proc.pid)
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        rc = proc.wait(timeout)
        if rc is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = proc.wait(30)
        left = self._stop_leftovers(tree, LEFTOVER_GRACE)
        if left:
            msg = ("stopping %s (pid %d) left %s running; they were "
                   "stopped now" % (proc.name, proc.pid, "; ".join(
                       "pid %d: %s" % p for p in left)))
            if strict:
                raise Failure(msg)
            print("daemon.py: %s" % msg, file=sys.stderr)
        return rc

    @staticmethod
    def _stop_leftovers(tree, grace):
        """Stops the processes of tree [(pid, start)] still alive after
        grace s (SIGTERM, then SIGKILL); [(pid, cmdline)] of them."""
        def alive():
            return [(p, t) for p, t in tree
                    if t is not None and proc_start(p) == t and
                    pid_alive(p)]
        t0 = time.monotonic()
        while alive() and time.monotonic() - t0 < grace:
            time.sleep(0.05)
        left = [(p, cmdline_of(p)) for p, _ in alive()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p, _ in alive():
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            t0 = time.monotonic()
            while alive() and time.monotonic() - t0 < grace:
                time.sleep(0.05)
        return left

    def cleanup(self):
        """Stops everything this Site started and removes the temp dir
        (kept, and said so, when self.keep is set)."""
        for proc in self.procs:
            if proc.running():
                self.stop(proc, timeout=10.0, strict=False)
        self.procs = []
        if not os.path.isdir(self.tmp):
            return
        if self.keep:
            if not self.kept:
                print("(test files left in %s)" % self.tmp,
                      file=sys.stderr)
            self.kept = True
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main(fn, usage="BUILD_DIR"):
    """Runs fn(site, args) with a Site on sys.argv[1]: prints ok or FAIL,
    exits 0, 1 or 77 (fn returned SKIP)."""
    if len(sys.argv) < 2:
        print("usage: %s %s" % (sys.argv[0], usage), file=sys.stderr)
        sys.exit(2)
    site = Site(sys.argv[1])
    try:
        rc = fn(site, sys.argv[2:])
    except Failure as e:
        print("FAIL: %s" % e, file=sys.stderr)
        site.keep = True
        site.cleanup()
        sys.exit(1)
    site.cleanup()
    if rc == SKIP:
        sys.exit(SKIP)
    print("ok")
    sys.exit(0)
