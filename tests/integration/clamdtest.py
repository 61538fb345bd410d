"""A real clamd for the tests and benchmarks that scan (Debian
clamav-daemon): in the foreground, on a unix socket in a temporary dir
(and a TCP port of 127.0.0.1 when given), its database one signature of
our own, the EICAR test string, so no database is downloaded; stopped by
its pid.

    cd = Clamd(port=None, stream_max="25M", tmpdir=None)
    cd.start()          # waits for PING; Failure when clamd cannot start
    ... cd.sock, cd.port, cd.proc.pid ...
    cd.stop()           # SIGTERM (SIGKILL after 30 s); start() again
    cd.cleanup()        # stop() and remove the dir
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from daemon import Failure

CLAMD = "/usr/sbin/clamd"
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-"
         b"FILE!$H+H*")
SIG = "Eicar-Test-Signature"


def have_clamd():
    return os.access(CLAMD, os.X_OK)


def tails(paths):
    """The last 2,000 characters of each file that exists (for errors)."""
    text = ""
    for p in paths:
        try:
            with open(p) as f:
                text += f.read()[-2000:]
        except OSError:
            pass
    return text


def stop_proc(proc):
    """SIGTERM to a daemon we started (SIGKILL after 30 s); waits."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Clamd:
    def __init__(self, port=None, stream_max="25M", tmpdir=None):
        # short: a unix socket path has at most 107 bytes
        self.dir = tempfile.mkdtemp(prefix="vav-")
        self.sock = os.path.join(self.dir, "clamd.sock")
        self.port = port
        self.proc = None
        self.out = None
        db = os.path.join(self.dir, "db")
        os.mkdir(db)
        with open(os.path.join(db, "vellum-test.ndb"), "w") as f:
            f.write("%s:0:*:%s\n" % (SIG, EICAR.hex()))
        self.conf = os.path.join(self.dir, "clamd.conf")
        with open(self.conf, "w") as f:
            f.write("Foreground yes\nLocalSocket %s\nDatabaseDirectory %s\n"
                    "LogFile %s\nPidFile %s\nStreamMaxLength %s\n" %
                    (self.sock, db, os.path.join(self.dir, "log"),
                     os.path.join(self.dir, "pid"), stream_max))
            if port is not None:
                f.write("TCPSocket %d\nTCPAddr 127.0.0.1\n" % port)
            if tmpdir is not None:
                # where clamd writes each stream and its parts
                f.write("TemporaryDirectory %s\n" % tmpdir)

    def start(self):
        self.out = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen([CLAMD, "-c", self.conf],
                                     stdout=self.out, stderr=self.out)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise Failure("clamd exited with %d: %s" %
                              (self.proc.returncode, self.log()))
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                s.sendall(b"zPING\0")
                r = s.recv(100)
                s.close()
                if r == b"PONG\0":
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise Failure("clamd did not answer PING in 120 s: %s" % self.log())

    def log(self):
        return tails(os.path.join(self.dir, n) for n in ("stderr", "log"))

    def stop(self):
        stop_proc(self.proc)
        self.proc = None
        if self.out is not None:
            self.out.close()
            self.out = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
