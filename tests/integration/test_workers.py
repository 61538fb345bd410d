"""Worker processes ([pop3] and [smtp] workers = 2, conn_workers()): the first
process accepts and hands connections to the process with the fewest
open, so both serve; [limits] connections_per_ip holds for the daemon as
a whole, not per process; a worker killed with kill -9 has its
connections counted out at once, and the spawner makes a new one in its
place that serves; neither the workers nor the spawner hold the listening
socket; SIGTERM to the first process ends them all.  Then vellum-smtpd
with workers = 2: sessions held at once go to both processes and every
message is stored.

usage: test_workers.py BUILD_DIR
"""
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon  # noqa: E402
from daemon import Failure, check, main  # noqa: E402

PASS = "wally-pw"
USERS = ["w%d@example.test" % i for i in range(8)]
PER_IP = 4


def session(port, user):
    """A logged-in POP3 session of user: (socket, file), or (None,
    greeting) when the connection is refused."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rwb")
    g = f.readline()
    if not g.startswith(b"+OK"):
        s.close()
        return None, g
    for cmd in ("USER " + user, "PASS " + PASS):
        f.write(cmd.encode() + b"\r\n")
        f.flush()
        r = f.readline()
        if not r.startswith(b"+OK"):
            raise Failure("%s: %r" % (cmd.split()[0], r))
    return s, f


def listening_inodes(pid):
    """Socket inodes of pid that are in LISTEN state on TCP."""
    listen = set()
    for name in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            with open(name) as f:
                for line in f.readlines()[1:]:
                    parts = line.split()
                    if parts[3] == "0A":
                        listen.add(parts[9])
        except OSError:
            pass
    mine = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", t)
        if m and m.group(1) in listen:
            mine.add(m.group(1))
    return mine


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def served_by(proc, port, user, pid, tries=8):
    """Opens sessions until one is served by pid (the first process hands
    each to the process with the fewest open): whether one was."""
    for _ in range(tries):
        s, f = session(port, user)
        if s is None:
            return False
        f.write(b"QUIT\r\n")
        f.flush()
        f.readline()
        s.close()
        time.sleep(0.2)
        if re.search(r"vellum-pop3d\[%d\]: conn \d+: connect from" % pid,
                     proc.output()):
            return True
    return False


def run(site, args):
    if not site.have("pop3d"):
        raise Failure("vellum-pop3d was not built")
    port = site.port()
    site.write_conf({"pop3": {"listen": "127.0.0.1:%d" % port,
                              "workers": "2"},
                     "auth": {"plaintext": "yes"},
                     "limits": {"connections_per_ip": str(PER_IP),
                                "shutdown_grace": "3"}})
    for u in USERS:
        site.add_user(u, PASS)
        site.add_mail(u, b"Subject: w\n\nbody\n")
    proc = site.start("pop3d", "-v")
    site.wait_port(port, proc)
    proc.wait_for(r"2 worker processes")
    proc.wait_for(r"worker 1 \(pid \d+\) started")
    worker = int(re.search(r"worker 1 \(pid (\d+)\) started",
                           proc.output()).group(1))
    kids = daemon.children_of(proc.pid)
    spawner = [k for k in kids if k != worker]
    t0 = time.monotonic()
    while (len(spawner) == 1 and comm(spawner[0]) != "spawner" and
           time.monotonic() - t0 < 5):
        time.sleep(0.05)    # it names itself just after its fork
    check(worker in kids and len(spawner) == 1 and
          comm(spawner[0]) == "spawner", "the first process forked one "
          "worker and the spawner", (kids, worker))
    spawner = spawner[0]
    check(listening_inodes(proc.pid) and not listening_inodes(worker) and
          not listening_inodes(spawner), "the first process listens, the "
          "worker and the spawner hold no listener",
          (listening_inodes(proc.pid), listening_inodes(worker),
           listening_inodes(spawner)))

    # Both processes serve: sessions go to the one with the fewest.
    held = []
    for i in range(PER_IP):
        s, f = session(port, USERS[i])
        check(s is not None, "a session within the limit is served", f)
        held.append((s, f))
    time.sleep(0.3)
    out = proc.output()
    pids = set(re.findall(r"vellum-pop3d\[(\d+)\]: conn \d+: connect from",
                          out))
    check(pids == {str(proc.pid), str(worker)},
          "connections were served by both processes", (pids, out[-2000:]))

    # The per-address limit counts all the processes together.
    s, g = session(port, USERS[PER_IP])
    check(s is None and g.startswith(b"-ERR"),
          "connection %d from one address is refused, though each "
          "process has only half" % (PER_IP + 1), g)

    # kill -9 of the worker: its sessions are counted out at once.
    os.kill(worker, signal.SIGKILL)
    t0 = time.monotonic()
    got = None
    while time.monotonic() - t0 < 10:
        got, g = session(port, USERS[PER_IP + 1])
        if got is not None:
            break
        time.sleep(0.1)
    check(got is not None, "after the worker died, its connections no "
          "longer count against the limit", proc.output()[-2000:])
    check("killed by signal 9" in proc.output(),
          "the first process logs how the worker ended", proc.output())
    got.close()
    for s, f in held:
        s.close()

    # The spawner makes a new worker in its place, which serves.
    proc.wait_for(r"worker 1 \(pid \d+\) replaces the one that ended")
    new = int(re.search(r"worker 1 \(pid (\d+)\) replaces",
                        proc.output()).group(1))
    check(new != worker and daemon.pid_alive(new) and
          new in daemon.children_of(spawner) and not listening_inodes(new),
          "the new worker is the spawner's, runs and holds no listener",
          (new, daemon.children_of(spawner)))
    check(served_by(proc, port, USERS[PER_IP + 2], new), "the new worker serves "
          "connections", proc.output()[-2000:])

    # SIGTERM to the first process: every process ends.
    os.kill(proc.pid, signal.SIGTERM)
    rc = proc.wait(15)
    check(rc == 0, "vellum-pop3d exits 0 on SIGTERM", (rc, proc.output()))
    check(not daemon.pid_alive(worker) and not daemon.pid_alive(new) and
          not daemon.pid_alive(spawner), "no worker and no spawner is left",
          (worker, new, spawner))
    print("workers: both processes served, the limit held across them, "
          "a killed worker's connections were counted out")
    smtp_workers(site)
    return 0


def smtp_workers(site):
    """[smtp] workers = 2: sessions held open at once go to both
    processes, and every message they take is stored."""
    import json
    import smtplib
    if not site.have("smtpd"):
        raise Failure("vellum-smtpd was not built")
    port = site.port()
    site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port,
                              "workers": "2"},
                     "limits": {"shutdown_grace": "3"}})
    proc = site.start("smtpd", "-v")
    site.wait_port(port, proc)
    proc.wait_for(r"2 worker processes")
    before = {}
    for u in USERS:
        out = site.ctl("mailbox", "list", u, "--json")
        before[u] = sum(f["messages"] for f in json.loads(out))
    sessions = [smtplib.SMTP("127.0.0.1", port, timeout=30)
                for _ in range(4)]
    for i, c in enumerate(sessions):
        c.ehlo("client.example.test")
        c.sendmail("sender@example.org", [USERS[i]],
                   b"Subject: via worker %d\r\n\r\nbody\r\n" % i)
    for c in sessions:
        c.quit()
    out = proc.output()
    pids = set(re.findall(r"vellum-smtpd\[(\d+)\]: conn \d+: connect "
                          r"from", out))
    check(len(pids) == 2, "SMTP sessions were served by both processes",
          (pids, out[-2000:]))
    for i in range(4):
        out = site.ctl("mailbox", "list", USERS[i], "--json")
        n = sum(f["messages"] for f in json.loads(out))
        check(n == before[USERS[i]] + 1, "the message to %s is stored"
              % USERS[i], out)
    site.stop(proc)
    print("smtp workers: 4 sessions over 2 processes, 4 messages stored")


if __name__ == "__main__":
    main(run)
