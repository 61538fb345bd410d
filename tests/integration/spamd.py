"""A real spamd (Debian's spamassassin package) for the integration tests.

    with Spamd() as sd:
        subprocess.run(["spamc", "-d", sd.host, "-p", str(sd.port)], ...)

Spamd() starts /usr/sbin/spamd in the foreground on 127.0.0.1 and a free
port, with a temporary directory of its own holding everything it reads
or writes besides its rules:
  - the rules: the ones the package ships, /usr/share/spamassassin (-C,
    read only; sa-update cannot run without a network, and a rules
    directory it may have left in /var/lib/spamassassin is not used, so
    every run scores alike);
  - the site config (--siteconfigpath): the package's *.pre files (which
    load the plugins, Check among them) copied from /etc/spamassassin
    (but sa-compile.pre: no compiled rules from /var/lib),
    and a local.cf of ours: no DNS at all (dns_available no,
    skip_rbl_checks, no URIBL/DCC/Pyzor/Razor, -L too), no Bayes and no
    auto-learning or reputation databases (nothing written);
  - no user configs (-x), HOME (-H) in the temporary directory;
  - the pid file and spamd's log (stderr) there too.
As root spamd runs as nobody (-u nobody): the temporary directory is then
readable by others.  It is ready when `spamc -K` answers (a PING).
stop() ends it by its pid (SIGTERM, then SIGKILL of its process group,
which it leads) and removes the directory.

start_seconds is how long the start took (up to the first PONG).
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon import free_port, pid_alive  # noqa: E402

SPAMD = "/usr/sbin/spamd"
SPAMC = "/usr/bin/spamc"
RULES = "/usr/share/spamassassin"
SITE_PRE = "/etc/spamassassin"

LOCAL_CF = """\
# Written by tests/integration/spamd.py: local rules only, no DNS.
dns_available no
skip_rbl_checks 1
use_bayes 0
bayes_auto_learn 0
use_razor2 0
use_pyzor 0
score URIBL_BLOCKED 0
report_safe 0
lock_method flock
"""


class SpamdError(Exception):
    pass


class Spamd:
    def __init__(self, host="127.0.0.1", start_timeout=180.0):
        self.host = host
        self.port = None
        self.proc = None
        self.start_timeout = start_timeout
        self.start_seconds = None
        self.tmp = tempfile.mkdtemp(prefix="vellum-spamd-")
        self.site = os.path.join(self.tmp, "site")
        self.home = os.path.join(self.tmp, "home")
        self.log_path = os.path.join(self.tmp, "spamd.log")
        self.pidfile = os.path.join(self.tmp, "spamd.pid")

    @staticmethod
    def available():
        """Whether spamd, spamc and the shipped rules are installed."""
        return (os.access(SPAMD, os.X_OK) and os.access(SPAMC, os.X_OK) and
                os.path.isdir(RULES) and
                bool(glob.glob(os.path.join(SITE_PRE, "*.pre"))))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return "(no log)"

    def _setup(self):
        os.makedirs(self.site)
        os.makedirs(self.home)
        for pre in sorted(glob.glob(os.path.join(SITE_PRE, "*.pre"))):
            # sa-compile.pre would read rules compiled from another rule
            # set in /var/lib/spamassassin: leave it out.
            if os.path.basename(pre) != "sa-compile.pre":
                shutil.copy(pre, self.site)
        with open(os.path.join(self.site, "local.cf"), "w") as f:
            f.write(LOCAL_CF)
        if os.geteuid() == 0:
            # spamd drops to nobody: it must read the site config and
            # write in its home.
            os.chmod(self.tmp, 0o755)
            os.chmod(self.site, 0o755)
            for name in os.listdir(self.site):
                os.chmod(os.path.join(self.site, name), 0o644)
            os.chmod(self.home, 0o777)

    def argv(self):
        a = [SPAMD, "-L", "-x", "-C", RULES,
             "--siteconfigpath=" + self.site,
             "-H", self.home,
             "-i", "%s:%d" % (self.host, self.port),
             "-A", self.host,
             "-m", "2", "--min-children=1", "--min-spare=1",
             "--max-spare=1",
             "-r", self.pidfile,
             "-s", "stderr"]
        if os.geteuid() == 0:
            a += ["-u", "nobody"]
        return a

    def ping(self):
        """Whether spamd answers a PING (spamc -K) now."""
        try:
            p = subprocess.run([SPAMC, "-d", self.host, "-p", str(self.port),
                                "-K", "-t", "5"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=10)
        except subprocess.TimeoutExpired:
            return False
        return p.returncode == 0

    def start(self):
        self._setup()
        self.port = free_port(self.host)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.home,
               "LANG": "C"}
        t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env,
                                         cwd=self.tmp,
                                         start_new_session=True)
        while True:
            if self.proc.poll() is not None:
                raise SpamdError("spamd exited with %d before answering; "
                                 "its log:\n%s" % (self.proc.returncode,
                                                   self.log()[-4000:]))
            if self.ping():
                break
            if time.monotonic() - t0 > self.start_timeout:
                self.stop(keep=True)
                raise SpamdError("spamd did not answer a PING within %d s; "
                                 "its log:\n%s" % (self.start_timeout,
                                                   self.log()[-4000:]))
            time.sleep(0.2)
        self.start_seconds = time.monotonic() - t0
        return self

    def spamc(self, message, *args, timeout=60):
        """Runs spamc against this spamd: (exit status, stdout bytes)."""
        p = subprocess.run([SPAMC, "-d", self.host, "-p", str(self.port)] +
                           list(args), input=message,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout

    def stop(self, keep=False):
        """Ends spamd by its pid; removes the directory unless keep."""
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            # Its children, should any outlive it: spamd leads the group.
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            if p.poll() is None:
                p.wait()
        elif p is not None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        if p is not None:
            for _ in range(100):
                if not any(pid_alive(int(d)) and _pgid(int(d)) == p.pid
                           for d in os.listdir("/proc") if d.isdigit()):
                    break
                time.sleep(0.1)
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def _pgid(pid):
    try:
        return os.getpgid(pid)
    except OSError:
        return None
