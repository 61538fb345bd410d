#!/usr/bin/env python3
"""Delivery benchmark with Postfix's smtp-source (prints figures; not a test).

    tests/bench/bench_delivery.py BUILD_DIR [--scale 1.0] [--sessions 20]
                                  [--loads A,B,C,L] [--workers N]
                                  [--rounds N]

The loads of issue 13, 4 KB messages (smtp-source -l 4096), sessions kept
open between messages (smtp-source -d), against vellum-smtpd and its LMTP
listener on free loopback ports with a temporary store at durable
defaults:

  A. 10,000 messages x 1 recipient over 100 mailboxes: 100 smtp-source
     runs of 100 messages, one per mailbox, 20 at a time (20 sessions);
  B. 2,000 messages x 10 recipients (smtp-source -r 10);
  C. 2,000 messages all to one recipient, 20 sessions;
  L. load C again into the LMTP listener (smtp-source -L).

For each: messages/s, deliveries/s (messages x recipients), the server's
CPU time per message, and a check that every message arrived (the
mailboxes' message counts).  --scale multiplies the counts.

smtp-source comes with the Debian package postfix (tests/bench/README.md).
When Postfix and Dovecot's LMTP server (dovecot-lmtpd) are installed and
this runs as root, the same loads also go to a private pair made for the
run in a temporary directory (nothing of the system's config is read or
changed): Postfix (its own config_directory, queue and data dirs, an smtpd
on a free loopback port, virtual_transport to LMTP) -> Dovecot LMTP (its
own base_dir, a static userdb, maildir), both at their durable defaults;
load L goes straight into Dovecot's LMTP.  Their rate counts until every
message is in its maildir; each load prints the ratio.  --no-pair skips
them; otherwise a line says why they were skipped.

--rounds N runs all the loads N times (Vellum, then the pair, load after
load, into the same stores) and ends with each load's median rates and
median ratio: one run of 2,000 messages lasts half a second here, and its
ratio swings with start-up and the machine's other work.
"""
import statistics
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from daemon import Site, children_of, port_open  # noqa: E402

SENDER = "bench@remote.test"
SIZE = 4096


def cpu_s(pid):
    """User + system CPU seconds the process and its worker processes
    have used (workers = N: children_of() the first process)."""
    total = 0.0
    for p in [pid] + children_of(pid):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / \
            os.sysconf("SC_CLK_TCK")
    return total


def smtp_source_path():
    exe = shutil.which("smtp-source")
    if exe is None and os.access("/usr/sbin/smtp-source", os.X_OK):
        exe = "/usr/sbin/smtp-source"
    return exe


def source(exe, port, sessions, count, rcpt, nrcpt=1, lmtp=False):
    """One smtp-source run; raises on a failed exit or error output."""
    argv = [exe, "-d", "-s", str(sessions), "-m", str(count), "-l",
            str(SIZE), "-f", SENDER, "-t", rcpt, "-M", "bench.remote.test"]
    if nrcpt > 1:
        argv += ["-r", str(nrcpt)]
    if lmtp:
        argv.append("-L")
    argv.append("127.0.0.1:%d" % port)
    p = subprocess.run(argv, capture_output=True, timeout=900)
    err = p.stderr.decode("utf-8", "replace").strip()
    if p.returncode != 0 or err:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv),
                                                  p.returncode, err[-400:]))


def messages_of(site, address):
    return int(json.loads(site.ctl("--json", "user", "show",
                                   address))["used_messages"])


class Pair:
    """A private Postfix -> Dovecot LMTP pair on free loopback ports:
    Postfix takes mail for the virtual domain `domain`; `main_extra` is
    appended to its main.cf (e.g. smtpd_milters)."""

    def __init__(self, site, domain="bench.test", main_extra=""):
        self.dir = tempfile.mkdtemp(prefix="vellum-bench-pair-")
        os.chmod(self.dir, 0o755)
        self.sport, self.lport = site.port(), site.port()
        d = self.dir
        for sub in ("run", "state", "mail", "pfconf", "pfqueue", "pfdata"):
            os.mkdir(os.path.join(d, sub))
        shutil.chown(os.path.join(d, "mail"), "dovecot", "dovecot")
        shutil.chown(os.path.join(d, "pfdata"), "postfix")
        self.dconf = os.path.join(d, "dovecot.conf")
        with open(self.dconf, "w") as f:
            f.write(DOVECOT_CONF % {"d": d, "port": self.lport})
        self.pconf = os.path.join(d, "pfconf")
        with open(os.path.join(self.pconf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN % {"d": d, "lport": self.lport,
                                    "domain": domain})
            f.write(main_extra)
        with open(os.path.join(self.pconf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER % {"sport": self.sport})
        self.started = []

    def start(self):
        # Both go to the background: their output goes to files (a pipe
        # would stay open in the daemons).
        self.started.append("dovecot")
        with open(os.path.join(self.dir, "start.log"), "ab") as log:
            subprocess.run(["/usr/sbin/dovecot", "-c", self.dconf],
                           check=True, stdin=subprocess.DEVNULL,
                           stdout=log, stderr=log, timeout=60)
            self.started.append("postfix")
            p = subprocess.run(["/usr/sbin/postfix", "-c", self.pconf,
                                "start"], stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("postfix start failed (see %s/postfix.log)"
                               % self.dir)
        t0 = time.monotonic()
        while not (port_open(self.sport) and port_open(self.lport)):
            if time.monotonic() - t0 > 30:
                raise RuntimeError("the pair's ports do not answer")
            time.sleep(0.1)

    def stop(self):
        if "postfix" in self.started:
            subprocess.run(["/usr/sbin/postfix", "-c", self.pconf, "stop"],
                           stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
        if "dovecot" in self.started:
            try:
                with open(os.path.join(self.dir, "run", "master.pid")) as f:
                    os.kill(int(f.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        self.started = []
        time.sleep(1)
        shutil.rmtree(self.dir, ignore_errors=True)

    def delivered(self, addrs):
        n = 0
        for a in addrs:
            local, dom = a.split("@")
            new = os.path.join(self.dir, "mail", dom, local, "Maildir", "new")
            try:
                n += len(os.listdir(new))
            except FileNotFoundError:
                pass
        return n

    def wait(self, addrs, want, t0, limit=900):
        """Seconds from t0 until want messages are in addrs' maildirs."""
        while self.delivered(addrs) < want:
            if time.monotonic() - t0 > limit:
                raise RuntimeError("pair: %d of %d delivered" %
                                   (self.delivered(addrs), want))
            time.sleep(0.05)
        return time.monotonic() - t0


DOVECOT_CONF = """base_dir = %(d)s/run
state_dir = %(d)s/state
instance_name = vellum-bench-pair
log_path = %(d)s/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:~/Maildir
first_valid_uid = 1
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=%(d)s/mail/%%d/%%n
}
passdb {
  driver = static
  args = nopassword=y
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(port)d
  }
  unix_listener lmtp {
    mode = 0600
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
"""

POSTFIX_MAIN = """compatibility_level = 3.6
config_directory = %(d)s/pfconf
queue_directory = %(d)s/pfqueue
data_directory = %(d)s/pfdata
mail_owner = postfix
setgid_group = postdrop
myhostname = pair.bench.local
mydomain = bench.local
myorigin = pair.bench.local
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = %(domain)s
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:%(lport)d
smtpd_reject_unlisted_recipient = no
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file_prefixes = %(d)s
maillog_file = %(d)s/postfix.log
smtputf8_enable = no
alias_maps =
alias_database =
local_recipient_maps =
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 100
biff = no
"""

POSTFIX_MASTER = """127.0.0.1:%(sport)d inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def pair_missing():
    """Why the Postfix -> Dovecot pair cannot run here, or None."""
    missing = [n for n, p in (("postfix", "/usr/sbin/postfix"),
                              ("dovecot-lmtpd", "/usr/lib/dovecot/lmtp"))
               if not os.access(p, os.X_OK)]
    if missing:
        return "not installed: " + ", ".join(missing)
    if os.geteuid() != 0:
        return "not root (Postfix and Dovecot start as root)"
    return None


def pair_load(name, pair, rate, fn, addrs, want, unit):
    """Runs fn() against the pair; prints its rate to delivery and the
    ratio of Vellum's rate (rate) to it."""
    before = pair.delivered(addrs)
    t0 = time.monotonic()
    fn()
    dt = pair.wait(addrs, before + want, t0)
    prate = want / dt
    print("  %s: %d %s in %.2f s, %.0f %s/s; Vellum / pair = %.1fx"
          % (name, want, unit, dt, prate, unit, rate / prate))
    sys.stdout.flush()
    return prate


def report(name, proc, t0, cpu0, msgs, deliveries):
    dt = time.monotonic() - t0
    cpu = cpu_s(proc.pid) - cpu0
    print("%s: %d messages, %d deliveries in %.2f s" % (name, msgs,
                                                         deliveries, dt))
    print("  msgs/s %.0f  deliveries/s %.0f  server CPU %.3f ms/msg "
          "(%.0f%% of one core)" % (msgs / dt, deliveries / dt,
                                      1000 * cpu / msgs, 100 * cpu / dt))
    sys.stdout.flush()
    return msgs / dt, deliveries / dt


def run_loads(a, exe, site, proc, port, lport, pair, loads, boxes, ten,
              one, lone, rnd, got_rates):
    """One round of the loads (rnd: how many ran before, whose messages
    are in the mailboxes too); appends (Vellum's rate, the pair's or
    None) to got_rates[load]."""
    S = a.sessions
    k = rnd + 1
    n_a = int(10000 * a.scale)
    n_b = int(2000 * a.scale)
    n_c = int(2000 * a.scale)
    if "A" in loads:
        per = max(1, n_a // len(boxes))

        def load_a(p):
            with concurrent.futures.ThreadPoolExecutor(S) as pool:
                for f in [pool.submit(source, exe, p, 1, per, b)
                          for b in boxes]:
                    f.result()
        t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
        load_a(port)
        rate, _ = report("A: %d x 1 recipient over %d mailboxes" %
                         (per * len(boxes), len(boxes)), proc, t0, cpu0,
                         per * len(boxes), per * len(boxes))
        got = sum(messages_of(site, b) for b in boxes)
        if got != k * per * len(boxes):
            raise RuntimeError("A: %d messages stored, not %d" %
                               (got, k * per * len(boxes)))
        prate = None
        if pair is not None:
            prate = pair_load("Postfix -> Dovecot", pair, rate,
                              lambda: load_a(pair.sport), boxes,
                              per * len(boxes), "msgs")
        got_rates.setdefault("A", []).append((rate, prate))
    if "B" in loads:
        t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
        source(exe, port, S, n_b, "ten@bench.test", nrcpt=10)
        _, rate = report("B: %d x 10 recipients" % n_b, proc, t0, cpu0,
                         n_b, 10 * n_b)
        got = sum(messages_of(site, u) for u in ten)
        if got != k * 10 * n_b:
            raise RuntimeError("B: %d deliveries stored, not %d" %
                               (got, k * 10 * n_b))
        prate = None
        if pair is not None:
            prate = pair_load("Postfix -> Dovecot", pair, rate,
                              lambda: source(exe, pair.sport, S, n_b,
                                             "ten@bench.test", nrcpt=10),
                              ten, 10 * n_b, "deliveries")
        got_rates.setdefault("B", []).append((rate, prate))
    if "C" in loads:
        t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
        source(exe, port, S, n_c, one)
        rate, _ = report("C: %d all to one recipient" % n_c, proc, t0,
                         cpu0, n_c, n_c)
        if messages_of(site, one) != k * n_c:
            raise RuntimeError("C: %d messages stored, not %d" %
                               (messages_of(site, one), k * n_c))
        prate = None
        if pair is not None:
            prate = pair_load("Postfix -> Dovecot", pair, rate,
                              lambda: source(exe, pair.sport, S, n_c, one),
                              [one], n_c, "msgs")
        got_rates.setdefault("C", []).append((rate, prate))
    if "L" in loads:
        t0, cpu0 = time.monotonic(), cpu_s(proc.pid)
        source(exe, lport, S, n_c, lone, lmtp=True)
        rate, _ = report("L: %d all to one recipient over LMTP" % n_c, proc,
                         t0, cpu0, n_c, n_c)
        if messages_of(site, lone) != k * n_c:
            raise RuntimeError("L: %d messages stored, not %d" %
                               (messages_of(site, lone), k * n_c))
        prate = None
        if pair is not None:
            prate = pair_load("Dovecot LMTP", pair, rate,
                              lambda: source(exe, pair.lport, S, n_c, lone,
                                             lmtp=True),
                              [lone], n_c, "msgs")
        got_rates.setdefault("L", []).append((rate, prate))


def print_medians(got_rates):
    """Each load's median rates and median ratio over the rounds."""
    for load in "ABCL":
        runs = got_rates.get(load)
        if not runs:
            continue
        rates = [r for r, _ in runs]
        line = "median of %d: %s Vellum %.0f/s" % (
            len(runs), load, statistics.median(rates))
        if all(p is not None for _, p in runs):
            ratios = [r / p for r, p in runs]
            line += ", pair %.0f/s, Vellum / pair %.1fx (runs: %s)" % (
                statistics.median(p for _, p in runs),
                statistics.median(ratios),
                " ".join("%.1f" % x for x in ratios))
        print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--loads", default="A,B,C,L")
    ap.add_argument("--workers", type=int, default=0,
                    help="vellum-smtpd processes (0: one per core)")
    ap.add_argument("--no-pair", action="store_true",
                    help="do not run Postfix -> Dovecot beside it")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run the loads N times; print medians")
    ap.add_argument("--bcc", choices=("none", "rules", "copy"),
                    default="none",
                    help="automatic BCC: rules = 1,000 rules that match "
                    "nothing (the lookups' cost), copy = an all rule: "
                    "every message also goes to arch@bench.test")
    a = ap.parse_args()
    exe = smtp_source_path()
    if exe is None:
        print("smtp-source not installed (apt-get install postfix): "
              "nothing to measure")
        return 1
    loads = set(a.loads.split(","))
    S = a.sessions

    with Site(a.build, prefix="vellum-bench-delivery-") as site:
        site.workers = a.workers
        port, lport = site.port(), site.port()
        site.write_conf({"smtp": {"listen": "127.0.0.1:%d" % port},
                         "lmtp": {"listen": "127.0.0.1:%d" % lport},
                         "smtpd": {"max_recipients": "1000"},
                         "limits": {"connections_per_ip": "1000",
                                    "connections": "2000"}})
        boxes = ["u%d@bench.test" % i for i in range(100)]
        # smtp-source -r 10 -t ten@... writes to 10 of ten@, 1ten@ ...
        # 10ten@ (which, depends on its version): all exist.
        ten = ["ten@bench.test"] + ["%dten@bench.test" % i
                                    for i in range(1, 11)]
        one, lone = "one@bench.test", "lone@bench.test"
        site.ctl("domain", "add", "bench.test")
        for u in boxes + ten + [one, lone]:
            site.ctl("user", "add", u, "--password-stdin", input="pw\n")
        if a.bcc == "rules":
            rules = "".join("r%d@elsewhere.test arch@bench.test\n" % i
                            for i in range(1000))
            site.ctl("bcc", "import", "--recipient", "-", input=rules)
            site.ctl("bcc", "add", "--sender", "@elsewhere.test",
                     "arch@bench.test")
        if a.bcc != "none":
            site.ctl("user", "add", "arch@bench.test", "--password-stdin",
                     input="pw\n")
        if a.bcc == "copy":
            site.ctl("bcc", "add", "--all", "arch@bench.test")
        proc = site.start("smtpd")
        site.wait_port(port, proc)
        site.wait_port(lport, proc)
        print("vellum-smtpd pid %d (workers = %d); smtp-source %s; %d "
              "sessions; %d-byte messages; bcc %s" % (proc.pid, a.workers,
                                                      exe, S, SIZE, a.bcc))

        why = "--no-pair" if a.no_pair else pair_missing()
        pair = None
        if why is None:
            pair = Pair(site)
            try:
                pair.start()
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                why = "could not start: %s" % e
                pair.stop()
                pair = None
        if pair is not None:
            print("Postfix -> Dovecot LMTP pair: smtpd 127.0.0.1:%d, LMTP "
                  "127.0.0.1:%d (%s)" % (pair.sport, pair.lport, pair.dir))
        got_rates = {}
        try:
            for rnd in range(max(1, a.rounds)):
                if a.rounds > 1:
                    print("round %d of %d" % (rnd + 1, a.rounds))
                run_loads(a, exe, site, proc, port, lport, pair, loads,
                          boxes, ten, one, lone, rnd, got_rates)
            if a.rounds > 1:
                print_medians(got_rates)
            if a.bcc == "copy":
                print("bcc: arch@bench.test holds %d copies" %
                      messages_of(site, "arch@bench.test"))
        finally:
            if pair is not None:
                pair.stop()
        site.stop(proc)
    if why is not None:
        print("Postfix -> Dovecot side by side: skipped (%s)" % why)
    return 0


if __name__ == "__main__":
    sys.exit(main())
