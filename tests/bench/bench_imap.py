#!/usr/bin/env python3
"""IMAP benchmark (prints figures; never asserts).

    tests/bench/bench_imap.py BUILD_DIR [CORPUS_DIR] [--clients N]
        [--users U] [--messages M] [--seconds S] [--login-clients L]

Starts vellum-imapd on a free loopback port with a temporary store in
which each of U users (default: N) holds the first M messages of the
corpus (default ../shared/corpus/spamassassin-public) in INBOX.  Then:

1. Mixed load: N clients (asyncio), each with one kept session (LOGIN,
   SELECT INBOX once), repeating for S seconds a round of
   FETCH n (FLAGS ENVELOPE BODY.PEEK[] BODYSTRUCTURE) x 4,
   STORE n +FLAGS/-FLAGS (\\Flagged) x 2, APPEND of a corpus message, and
   an EXPUNGE of that message (UID STORE \\Deleted, EXPUNGE): operations
   per second of each kind, in all, and server CPU seconds per operation
   (from /proc/<pid>/stat, with the workers when imapd has any).
2. Logins: L clients repeating LOGIN -> SELECT INBOX -> LOGOUT on new
   connections for S seconds: logins per second, server CPU per login.
3. With --big B (default 37000; 0 skips it): one user's INBOX is filled
   with B small messages (MULTIAPPEND, 1,000 per command), then SELECT
   INBOX, FETCH 1:* (FLAGS), UID FETCH 1:* (FLAGS), FETCH 1:* (ENVELOPE)
   and STORE 1:* +FLAGS.SILENT are timed from the command sent to its
   tagged reply read (a fast reader that does not parse the responses).

When Dovecot (/usr/sbin/dovecot, Debian's dovecot-imapd) is installed,
the same phases run against a private Dovecot 2.3 instance started here
(its own config, Maildir store and passwd-file in a temporary directory,
listening on a free loopback port, as an unprivileged mail user), after
Vellum, and both sets of figures are printed side by side.  --dovecot-fast
adds Dovecot's documented performance settings (imap-login
service_count = 0, i.e. high-performance login mode).  Server CPU counts
every process of the server (the Dovecot master, its live children and
the children it has reaped).
"""
import argparse
import asyncio
import glob
import os
import random
import re
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site, descendants_of  # noqa: E402


def cpu_s(pid):
    """User + system CPU seconds of pid, its live descendants (workers,
    Dovecot's imap and login processes) and the children it reaped."""
    total = 0.0
    for p in [pid] + [c for c, _ in descendants_of(pid)]:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])
            if p == pid:
                ticks += int(fields[13]) + int(fields[14])
            total += ticks / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


class Client:
    def __init__(self, r, w):
        self.r, self.w, self.n = r, w, 0

    @classmethod
    async def connect(cls, port):
        r, w = await asyncio.open_connection("127.0.0.1", port,
                                             limit=1 << 24)
        c = cls(r, w)
        await r.readline()
        return c

    async def response(self):
        out = b""
        while True:
            line = await self.r.readline()
            if not line:
                raise RuntimeError("connection closed")
            out += line
            m = re.search(rb"\{(\d+)\}\r\n$", line)
            if not m:
                return out
            out += await self.r.readexactly(int(m.group(1)))

    async def cmd(self, text, literal=None):
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.w.write(tag + b" " + text + b"\r\n")
        else:
            self.w.write(tag + b" " + text + b" {%d+}\r\n" % len(literal)
                         + literal + b"\r\n")
        untagged = []
        while True:
            resp = await self.response()
            if resp.startswith(tag + b" "):
                if not resp.startswith(tag + b" OK"):
                    raise RuntimeError("%r: %r" % (text[:40], resp[:200]))
                return untagged, resp
            untagged.append(resp)

    def close(self):
        self.w.close()


async def worker(port, user, pw, msgs, stats, until):
    c = await Client.connect(port)
    await c.cmd(b"LOGIN %s %s" % (user.encode(), pw.encode()))
    u, _ = await c.cmd(b"SELECT INBOX")
    exists = 0
    for x in u:
        m = re.match(rb"\* (\d+) EXISTS", x)
        if m:
            exists = int(m.group(1))
    rnd = random.Random(user)
    while time.monotonic() < until:
        for _ in range(4):
            n = rnd.randint(1, max(exists, 1))
            await c.cmd(b"FETCH %d (FLAGS ENVELOPE BODY.PEEK[] "
                        b"BODYSTRUCTURE)" % n)
            stats["fetch"] += 1
        n = rnd.randint(1, max(exists, 1))
        await c.cmd(b"STORE %d +FLAGS (\\Flagged)" % n)
        await c.cmd(b"STORE %d -FLAGS (\\Flagged)" % n)
        stats["store"] += 2
        _, t = await c.cmd(b"APPEND INBOX", rnd.choice(msgs))
        stats["append"] += 1
        m = re.search(rb"APPENDUID \d+ (\d+)", t)
        if m:
            await c.cmd(b"UID STORE %s +FLAGS.SILENT (\\Deleted)" %
                        m.group(1))
            await c.cmd(b"EXPUNGE")
            stats["expunge"] += 1
    await c.cmd(b"LOGOUT")
    c.close()


async def mixed(port, users, msgs, seconds, nclients):
    stats = {"fetch": 0, "store": 0, "append": 0, "expunge": 0}
    t0 = time.monotonic()
    await asyncio.gather(*(worker(port, users[i % len(users)][0],
                                  users[i % len(users)][1], msgs, stats,
                                  t0 + seconds)
                           for i in range(nclients)))
    return stats, time.monotonic() - t0


async def login_loop(port, user, pw, until, stats):
    while time.monotonic() < until:
        c = await Client.connect(port)
        await c.cmd(b"LOGIN %s %s" % (user.encode(), pw.encode()))
        await c.cmd(b"SELECT INBOX")
        await c.cmd(b"LOGOUT")
        c.close()
        stats["logins"] += 1


async def logins(port, users, seconds, n):
    stats = {"logins": 0}
    t0 = time.monotonic()
    await asyncio.gather(*(login_loop(port, users[i % len(users)][0],
                                      users[i % len(users)][1],
                                      t0 + seconds, stats)
                           for i in range(n)))
    return stats["logins"], time.monotonic() - t0


def timed(sock, tag, text):
    """Sends one command; seconds until its tagged reply, bytes read."""
    t0 = time.monotonic()
    sock.sendall(b"%s %s\r\n" % (tag, text))
    data, mark = b"", tag + b" "
    while True:
        d = sock.recv(1 << 20)
        if not d:
            raise RuntimeError("connection closed")
        data += d
        i = data.rfind(b"\r\n" + mark, max(0, len(data) - len(d) - 64))
        if data.startswith(mark) or i >= 0:
            if data.endswith(b"\r\n"):
                return time.monotonic() - t0, len(data)


def big_mailbox(name, port, user, pw, n):
    sock = socket.create_connection(("127.0.0.1", port), timeout=600)
    sock.recv(4096)
    timed(sock, b"l", b"LOGIN %s %s" % (user.encode(), pw.encode()))
    t0 = time.monotonic()
    for k in range(0, n, 1000):
        parts = []
        for i in range(k, min(n, k + 1000)):
            m = (b"From: sender%d@example.test\r\nTo: big@bench.test\r\n"
                 b"Subject: message %d\r\nDate: Mon, 1 Dec 2025 10:%02d:00 "
                 b"+0000\r\nMessage-ID: <%d@example.test>\r\n\r\n"
                 b"body of message %d, word%d\r\n" % (
                     i % 97, i, i % 60, i, i, i % 50))
            parts.append(b" {%d+}\r\n%s" % (len(m), m))
        timed(sock, b"a%d" % k, b"APPEND INBOX" + b"".join(parts))
    fill = time.monotonic() - t0
    print("%s: %d-message INBOX (filled in %.1f s by MULTIAPPEND):" % (
        name, n, fill))
    for i, cmd in enumerate([b"SELECT INBOX", b"FETCH 1:* (FLAGS)",
                             b"UID FETCH 1:* (FLAGS)",
                             b"FETCH 1:* (ENVELOPE)",
                             b"STORE 1:* +FLAGS.SILENT (\\Seen)",
                             b"FETCH 1:* (FLAGS)"]):
        dt, nbytes = timed(sock, b"c%d" % i, cmd)
        print("  %-36s %8.1f ms  (%d bytes)" % (cmd.decode(), dt * 1000,
                                                nbytes))
    sock.close()


class Vellum:
    name = "vellum-imapd"

    def __init__(self, a, site, users, msgs):
        self.site = site
        self.port = site.port()
        site.write_conf({"imap": {"listen": "127.0.0.1:%d" % self.port},
                         "limits": {"connections_per_ip": "1000",
                                    "connections": "2000"}})
        for u, p in users + [BIG]:
            site.add_user(u, p)
        for u, p in users:
            site.add_mail(u, *msgs)
        self.proc = site.start("imapd")
        site.wait_port(self.port, self.proc)
        self.pid = self.proc.pid

    def stop(self):
        self.site.stop(self.proc)


class Dovecot:
    """A private Dovecot 2.3: config, passwd-file and Maildirs in a
    temporary directory, nothing of the system's used."""
    name = "dovecot"

    def __init__(self, a, site, users, msgs):
        self.dir = tempfile.mkdtemp(prefix="vellum-bench-dovecot-")
        os.chmod(self.dir, 0o755)
        self.port = site.port()
        mailer = pwd.getpwnam("nobody")
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u, p in users + [BIG]:
                f.write("%s:{PLAIN}%s\n" % (u, p))
        for u, _ in users:
            cur = os.path.join(self.dir, "mail", u, "cur")
            os.makedirs(cur)
            for i, m in enumerate(msgs):
                with open(os.path.join(cur, "%d.M%dP1.bench:2," % (
                        1764600000 + i, i)), "wb") as f:
                    f.write(m)
        os.makedirs(os.path.join(self.dir, "mail", BIG[0]), exist_ok=True)
        for root, dirs, files in os.walk(os.path.join(self.dir, "mail")):
            for x in dirs + files:
                os.chown(os.path.join(root, x), mailer.pw_uid,
                         mailer.pw_gid)
        os.chown(os.path.join(self.dir, "mail"), mailer.pw_uid,
                 mailer.pw_gid)
        conf = os.path.join(self.dir, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""protocols = imap
listen = 127.0.0.1
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:%(d)s/mail/%%u
first_valid_uid = 1
mail_max_userip_connections = 1000
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(d)s/passwd
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(gid)d home=%(d)s/mail/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(port)d
  }
  inet_listener imaps {
    port = 0
  }
%(fast)s}
service anvil {
  client_limit = 4000
}
""" % {"d": self.dir, "uid": mailer.pw_uid, "gid": mailer.pw_gid,
       "port": self.port,
       "fast": "  service_count = 0\n" if a.dovecot_fast else ""})
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", conf],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        site.wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


BIG = ("big@bench.test", "big-pw")


def run_server(kind, a, site, users, msgs):
    srv = kind(a, site, users, msgs)
    try:
        port, name = srv.port, srv.name
        cpu0 = cpu_s(srv.pid)
        stats, dt = asyncio.run(mixed(port, users, msgs, a.seconds,
                                      a.clients))
        cpu = cpu_s(srv.pid) - cpu0
        ops = sum(stats.values())
        print("%s: mixed load, %d clients, %d users x %d messages "
              "(%.1f MB each), sessions kept, %.1f s" % (
                  name, a.clients, len(users), len(msgs),
                  sum(len(m) for m in msgs) / 1e6, dt))
        for k in ("fetch", "store", "append", "expunge"):
            print("  %-8s %8.0f ops/s" % (k.upper(), stats[k] / dt))
        print("  all      %8.0f ops/s" % (ops / dt))
        print("  server CPU: %.2f s (%.0f%% of one core), %.1f us per "
              "op, %.0f ops per CPU-second" % (
                  cpu, 100 * cpu / dt, 1e6 * cpu / max(ops, 1),
                  ops / cpu if cpu > 0 else float("inf")))

        cpu0 = cpu_s(srv.pid)
        n, dt = asyncio.run(logins(port, users, a.seconds,
                                   a.login_clients))
        cpu = cpu_s(srv.pid) - cpu0
        print("%s: logins, %d clients, LOGIN -> SELECT INBOX -> LOGOUT, "
              "%.1f s" % (name, a.login_clients, dt))
        print("  logins/s: %.0f, server CPU %.0f us per login" % (
            n / dt, 1e6 * cpu / max(n, 1)))
        if a.big > 0:
            big_mailbox(name, port, BIG[0], BIG[1], a.big)
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("corpus", nargs="?",
                    default="../shared/corpus/spamassassin-public")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--users", type=int, default=0)
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--login-clients", type=int, default=10)
    ap.add_argument("--big", type=int, default=37000)
    ap.add_argument("--no-dovecot", action="store_true")
    ap.add_argument("--dovecot-fast", action="store_true")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.corpus, "**", "*.eml"),
                             recursive=True))
    if not files:
        sys.exit("no *.eml files under %s" % a.corpus)
    msgs = []
    for f in files[:a.messages]:
        with open(f, "rb") as fh:
            data = fh.read()
        if data.startswith(b"From "):
            data = data[data.index(b"\n") + 1:]
        msgs.append(data)
    nusers = a.users or a.clients
    users = [("u%d@bench.test" % i, "pw%d" % i) for i in range(nusers)]
    kinds = [Vellum]
    if not a.no_dovecot and shutil.which("dovecot"):
        kinds.append(Dovecot)
    else:
        print("(Dovecot is not installed or --no-dovecot: Vellum only)")
    for kind in kinds:
        with Site(a.build, prefix="vellum-bench-imap-") as site:
            run_server(kind, a, site, users, msgs)


if __name__ == "__main__":
    main()
